//! NumPy `.npy` and `.npz` files: the inputs users give and the outputs keqv writes.
//!
//! Reads little- and big-endian float16/32/64 (converted to f32) in C or Fortran order;
//! anything else is refused with a message naming the dtype. Every size in a header is checked
//! against the bytes actually present before anything is allocated.

mod header;
mod read;
mod write;

pub use header::npy_len;
pub use read::*;
pub use write::*;

#[cfg(test)]
mod tests {
    use super::header::MAGIC;
    use super::*;
    use crate::tensor::Tensor;
    use ndarray::IxDyn;
    use std::io::Write;

    #[test]
    fn round_trips_through_npy() {
        let t = Tensor::from_shape_fn(IxDyn(&[2, 3, 5]), |i| {
            (i[0] * 100 + i[1] * 10 + i[2]) as f32 - 7.5
        });
        let back = parse_npy(&to_npy(&t), "t").unwrap();
        assert_eq!(back, t);
        let bytes = to_npy(&t);
        let header_end = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!(header_end % 64, 0, "data is 64-byte aligned like NumPy's");
    }

    /// Records the largest single write: what a writer held before handing it on.
    #[derive(Default)]
    struct Sink {
        bytes: Vec<u8>,
        largest_write: usize,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.largest_write = self.largest_write.max(buf.len());
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_streamed_npy_equals_the_whole_one_and_holds_one_buffer() {
        // One chunk of 1 MiB of values, another of one row: the writer never holds either.
        let t = Tensor::from_shape_fn(IxDyn(&[4097, 64]), |i| (i[0] * 64 + i[1]) as f32);
        let mut writer = NpyWriter::new(Sink::default(), t.shape()).unwrap();
        writer
            .write_chunk(&t.slice_axis(ndarray::Axis(0), (0..4096).into()).to_owned())
            .unwrap();
        writer
            .write_chunk(
                &t.slice_axis(ndarray::Axis(0), (4096..4097).into())
                    .to_owned(),
            )
            .unwrap();
        let sink = writer.finish().unwrap();
        assert_eq!(sink.bytes, to_npy(&t));
        assert!(sink.largest_write <= WRITE_BUFFER, "{}", sink.largest_write);
        assert_eq!(npy_len(t.shape()), Some(sink.bytes.len() as u64));
    }

    #[test]
    fn a_streamed_npy_takes_exactly_the_rows_its_header_states() {
        let rows = |n: usize| Tensor::zeros(IxDyn(&[n, 3]));
        let mut writer = NpyWriter::new(Vec::new(), &[4, 3]).unwrap();
        writer.write_chunk(&rows(3)).unwrap();
        assert!(writer.write_chunk(&rows(2)).is_err(), "a fifth row");
        assert!(writer.write_chunk(&Tensor::zeros(IxDyn(&[1, 2]))).is_err());
        assert!(writer.finish().is_err(), "three rows of four");
    }

    #[test]
    fn reads_fortran_order_and_f64() {
        let mut bytes = Vec::new();
        let header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }\n";
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        // Column-major [[0, 1, 2], [3, 4, 5]].
        for v in [0.0f64, 3.0, 1.0, 4.0, 2.0, 5.0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let t = parse_npy(&bytes, "t").unwrap();
        assert_eq!(t.as_slice().unwrap(), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn refuses_short_data_and_integer_dtypes() {
        let t = Tensor::zeros(IxDyn(&[4, 4]));
        let bytes = to_npy(&t);
        let err = parse_npy(&bytes[..bytes.len() - 1], "x.npy").unwrap_err();
        assert!(
            err.contains("needs 64 bytes of data, the file has 63"),
            "{err}"
        );
        // Same length, so the header length stays right; the magic bytes are not UTF-8.
        let mut ints = bytes.clone();
        let at = ints.windows(3).position(|w| w == b"<f4").unwrap();
        ints[at..at + 3].copy_from_slice(b"<i4");
        let err = parse_npy(&ints, "x.npy").unwrap_err();
        assert!(err.contains("dtype '<i4' is not a float"), "{err}");
    }
}

//! NumPy `.npy` and `.npz` files: the inputs users give and the outputs keqv writes.
//!
//! Reads little- and big-endian float16/32/64, int8/16/32/64, uint8/16/32/64 and bool, in C or
//! Fortran order, converted to f32: floats rounded to nearest, integers exactly (a file holding
//! an integer beyond ±2^24, which f32 cannot hold, is refused naming the value), bools as zero
//! and one. Anything else is refused with a message naming the dtype. Every size in a header is
//! checked against the bytes actually present before anything is allocated.

mod header;
mod read;
mod write;

pub use header::{npy_len, MAX_EXACT_INTEGER};
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
    fn refuses_short_data_and_dtypes_that_are_not_numbers() {
        let t = Tensor::zeros(IxDyn(&[4, 4]));
        let bytes = to_npy(&t);
        let err = parse_npy(&bytes[..bytes.len() - 1], "x.npy").unwrap_err();
        assert!(
            err.contains("needs 64 bytes of data, the file has 63"),
            "{err}"
        );
        // Same length, so the header length stays right; the magic bytes are not UTF-8.
        for (descr, short) in [("<c8", "c8"), ("<U1", "U1"), ("|O", "O")] {
            let mut other = bytes.clone();
            let at = other.windows(3).position(|w| w == b"<f4").unwrap();
            let padded = format!("{descr:<3}");
            other[at..at + 3].copy_from_slice(padded.as_bytes());
            let err = parse_npy(&other, "x.npy").unwrap_err();
            assert!(
                err.starts_with("x.npy: not a valid .npy array: dtype ")
                    && err.contains(&format!("is not a float, integer or bool ({short}")),
                "{err}"
            );
            assert!(err.contains("x.astype('float32')"), "{err}");
        }
    }

    /// A version 1.0 `.npy` image with header `descr`, `shape` and order, and data `data`.
    fn npy(descr: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| format!("{d},")).collect();
        let order = if fortran { "True" } else { "False" };
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': {order}, 'shape': ({}), }}\n",
            dims.join(" ")
        );
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    /// The values `parse_npy` reads from a one-dimensional array of `descr` holding `data`.
    fn read_1d(descr: &str, data: &[u8], len: usize) -> Vec<f32> {
        let t = parse_npy(&npy(descr, &[len], false, data), "t.npy").unwrap();
        assert_eq!(t.shape(), &[len]);
        t.as_slice().unwrap().to_vec()
    }

    /// Writes `values` with `to_bytes` (little- or big-endian) and reads them back as `descr`.
    fn round_trip<T: Copy, const N: usize>(
        descr: &str,
        values: &[T],
        to_bytes: fn(T) -> [u8; N],
    ) -> Vec<f32> {
        let data: Vec<u8> = values.iter().flat_map(|&v| to_bytes(v)).collect();
        read_1d(descr, &data, values.len())
    }

    const LIMIT: i64 = MAX_EXACT_INTEGER as i64;

    #[test]
    fn reads_signed_integers_exactly_in_both_byte_orders() {
        let i8s = [i8::MIN, -1, 0, 1, i8::MAX];
        let want: Vec<f32> = i8s.iter().map(|&v| v as f32).collect();
        assert_eq!(round_trip("|i1", &i8s, i8::to_le_bytes), want);
        let i16s = [i16::MIN, -300, -1, 0, 1, 300, i16::MAX];
        let want: Vec<f32> = i16s.iter().map(|&v| v as f32).collect();
        assert_eq!(round_trip("<i2", &i16s, i16::to_le_bytes), want);
        assert_eq!(round_trip(">i2", &i16s, i16::to_be_bytes), want);
        let i32s = [-(LIMIT as i32), -123_456, -1, 0, 1, 123_456, LIMIT as i32];
        let want = [
            -16_777_216.0,
            -123_456.0,
            -1.0,
            0.0,
            1.0,
            123_456.0,
            16_777_216.0,
        ];
        assert_eq!(round_trip("<i4", &i32s, i32::to_le_bytes), want);
        assert_eq!(round_trip(">i4", &i32s, i32::to_be_bytes), want);
        let i64s = [-LIMIT, -123_456, -1, 0, 1, 123_456, LIMIT];
        assert_eq!(round_trip("<i8", &i64s, i64::to_le_bytes), want);
        assert_eq!(round_trip(">i8", &i64s, i64::to_be_bytes), want);
    }

    #[test]
    fn reads_unsigned_integers_exactly_in_both_byte_orders() {
        let u8s = [0u8, 1, 200, u8::MAX];
        assert_eq!(
            round_trip("|u1", &u8s, u8::to_le_bytes),
            [0.0, 1.0, 200.0, 255.0]
        );
        let u16s = [0u16, 1, 40_000, u16::MAX];
        let want = [0.0, 1.0, 40_000.0, 65_535.0];
        assert_eq!(round_trip("<u2", &u16s, u16::to_le_bytes), want);
        assert_eq!(round_trip(">u2", &u16s, u16::to_be_bytes), want);
        let u32s = [0u32, 1, 9_999_999, LIMIT as u32];
        let want = [0.0, 1.0, 9_999_999.0, 16_777_216.0];
        assert_eq!(round_trip("<u4", &u32s, u32::to_le_bytes), want);
        assert_eq!(round_trip(">u4", &u32s, u32::to_be_bytes), want);
        let u64s = [0u64, 1, 9_999_999, LIMIT as u64];
        assert_eq!(round_trip("<u8", &u64s, u64::to_le_bytes), want);
        assert_eq!(round_trip(">u8", &u64s, u64::to_be_bytes), want);
    }

    #[test]
    fn reads_floats_in_both_byte_orders() {
        let want = [1.5f32, -2.25, 0.0, 65504.0];
        let f16s: Vec<half::f16> = want.iter().map(|&v| half::f16::from_f32(v)).collect();
        assert_eq!(round_trip("<f2", &f16s, half::f16::to_le_bytes), want);
        assert_eq!(round_trip(">f2", &f16s, half::f16::to_be_bytes), want);
        assert_eq!(round_trip("<f4", &want, f32::to_le_bytes), want);
        assert_eq!(round_trip(">f4", &want, f32::to_be_bytes), want);
        let f64s: Vec<f64> = want.iter().map(|&v| v as f64).collect();
        assert_eq!(round_trip("<f8", &f64s, f64::to_le_bytes), want);
        assert_eq!(round_trip(">f8", &f64s, f64::to_be_bytes), want);
    }

    #[test]
    fn reads_bools_as_zero_and_one() {
        // NumPy takes any nonzero byte as True.
        assert_eq!(
            read_1d("|b1", &[0, 1, 1, 0, 2], 5),
            [0.0, 1.0, 1.0, 0.0, 1.0]
        );
    }

    #[test]
    fn reads_fortran_order_integers() {
        // Column-major [[0, -1, 2], [-3, 4, -5]] as big-endian int16.
        let data: Vec<u8> = [0i16, -3, -1, 4, 2, -5]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let t = parse_npy(&npy(">i2", &[2, 3], true, &data), "t").unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.as_slice().unwrap(), &[0.0, -1.0, 2.0, -3.0, 4.0, -5.0]);
    }

    #[test]
    fn refuses_integers_float32_cannot_hold() {
        let refused = |bytes: Vec<u8>| parse_npy(&bytes, "ids.npy").unwrap_err();
        let i64s =
            |values: &[i64]| -> Vec<u8> { values.iter().flat_map(|v| v.to_le_bytes()).collect() };
        // 2^24 + 1 at [1, 2] of a (2, 3) int64 array.
        let err = refused(npy(
            "<i8",
            &[2, 3],
            false,
            &i64s(&[0, 1, 2, 3, LIMIT, LIMIT + 1]),
        ));
        assert_eq!(
            err,
            "ids.npy: int64 value 16777217 at index [1, 2] cannot be represented exactly in float32, \
             which keqv computes in: integers beyond ±16777216 (2^24) lose digits; renumber token \
             ids below 16777216, or, if the values are not ids and rounding them is acceptable, \
             save the array as float32 (x.astype('float32'))"
        );
        // The same position in Fortran order is another index.
        let err = refused(npy(
            "<i8",
            &[2, 3],
            true,
            &i64s(&[0, 1, 2, 3, 4, LIMIT + 1]),
        ));
        assert!(err.contains("value 16777217 at index [1, 2]"), "{err}");
        let err = refused(npy(
            "<i8",
            &[2, 3],
            true,
            &i64s(&[0, 1, 2, 3, LIMIT + 1, 5]),
        ));
        assert!(err.contains("value 16777217 at index [0, 2]"), "{err}");
        // Negative, big-endian, unsigned: the first one is named, with its type.
        let data: Vec<u8> = [-LIMIT, -LIMIT - 1, i64::MIN]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let err = refused(npy(">i8", &[3], false, &data));
        assert!(
            err.starts_with("ids.npy: int64 value -16777217 at index [1] cannot be represented"),
            "{err}"
        );
        let data: Vec<u8> = [i64::MIN].iter().flat_map(|v| v.to_le_bytes()).collect();
        let err = refused(npy("<i8", &[1], false, &data));
        assert!(
            err.contains("int64 value -9223372036854775808 at index [0]"),
            "{err}"
        );
        let data: Vec<u8> = [u64::MAX].iter().flat_map(|v| v.to_le_bytes()).collect();
        let err = refused(npy("<u8", &[1], false, &data));
        assert!(
            err.contains("uint64 value 18446744073709551615 at index [0]"),
            "{err}"
        );
        let data: Vec<u8> = [7, u32::MAX].iter().flat_map(|v| v.to_be_bytes()).collect();
        let err = refused(npy(">u4", &[2], false, &data));
        assert!(
            err.contains("uint32 value 4294967295 at index [1]"),
            "{err}"
        );
        let data: Vec<u8> = [-(LIMIT as i32) - 1]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let err = refused(npy("<i4", &[1], false, &data));
        assert!(err.contains("int32 value -16777217 at index [0]"), "{err}");
    }

    #[test]
    fn names_dtypes_as_numpy_does() {
        let cases = [
            ("<f2", "float16", 2),
            ("<f4", "float32", 4),
            (">f8", "float64", 8),
            ("|i1", "int8", 1),
            ("<i2", "int16", 2),
            (">i4", "int32", 4),
            ("<i8", "int64", 8),
            ("|u1", "uint8", 1),
            (">u2", "uint16", 2),
            ("<u4", "uint32", 4),
            ("<u8", "uint64", 8),
            ("|b1", "bool", 1),
        ];
        for (descr, name, size) in cases {
            let bytes = npy(descr, &[0], false, &[]);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.npy");
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(read_npy_dtype(&path).unwrap(), name, "{descr}");
            let t = parse_npy(&npy(descr, &[3], false, &vec![0; 3 * size]), "t").unwrap();
            assert_eq!(t.as_slice().unwrap(), &[0.0; 3], "{descr}");
            assert!(parse_npy(&npy(descr, &[3], false, &vec![0; 3 * size - 1]), "t").is_err());
        }
    }
}

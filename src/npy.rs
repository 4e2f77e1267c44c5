//! NumPy `.npy` and `.npz` files: the inputs users give and the outputs keqv writes.
//!
//! Reads little- and big-endian float16/32/64 (converted to f32) in C or Fortran order;
//! anything else is refused with a message naming the dtype. Every size in a header is checked
//! against the bytes actually present before anything is allocated.

use std::io::{Read, Seek, Write};
use std::path::Path;

use ndarray::IxDyn;

use crate::error::{Error, Result};
use crate::tensor::{checked_len, Tensor};

const MAGIC: &[u8] = b"\x93NUMPY";

/// "WHAT: not a valid .npy array: DETAIL", with what to do unless the detail says it.
fn invalid(what: &str, detail: String) -> String {
    if detail.contains("; ") {
        format!("{what}: not a valid .npy array: {detail}")
    } else {
        format!("{what}: not a valid .npy array: {detail}; write it with numpy.save(FILE, x.astype('float32'))")
    }
}

/// The header of the `.npy` image `bytes` starts with, and where its data begins.
fn read_header(bytes: &[u8]) -> std::result::Result<(Header, usize), String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("missing the \\x93NUMPY signature".into());
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported format version {v}")),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| "header longer than the file".to_string())?;
    let header =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text".to_string())?;
    Ok((Header::parse(header)?, end))
}

/// Longest `.npy` header read when only the shape is wanted (NumPy writes a few hundred bytes).
const MAX_HEADER: usize = 1 << 20;

/// The shape of the `.npy` image `reader` starts with, from its header alone: the data is not
/// read. `what` names it in errors.
fn read_shape(reader: &mut impl Read, what: &str) -> std::result::Result<Vec<usize>, String> {
    read_header_only(reader, what).map(|h| h.shape)
}

/// The header of the `.npy` image `reader` starts with; the data is not read.
fn read_header_only(reader: &mut impl Read, what: &str) -> std::result::Result<Header, String> {
    let unreadable = |e: std::io::Error| format!("{what} cannot be read ({e})");
    let mut prefix = Vec::new();
    reader
        .take(12)
        .read_to_end(&mut prefix)
        .map_err(unreadable)?;
    let header_len = match prefix.get(6) {
        Some(1) if prefix.len() >= 10 => u16::from_le_bytes([prefix[8], prefix[9]]) as usize,
        Some(2 | 3) if prefix.len() >= 12 => {
            u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]) as usize
        }
        _ => 0,
    };
    if header_len > MAX_HEADER {
        return Err(invalid(
            what,
            format!("its header claims {header_len} bytes"),
        ));
    }
    reader
        .take(header_len as u64)
        .read_to_end(&mut prefix)
        .map_err(unreadable)?;
    read_header(&prefix)
        .map(|(header, _)| header)
        .map_err(|detail| invalid(what, detail))
}

/// The dtype of the array in a `.npy` file, from its header: `float16`, `float32`, `float64`.
pub fn read_npy_dtype(path: &Path) -> Result<&'static str> {
    let mut file = std::fs::File::open(path).map_err(|e| crate::keras::read_error(path, e))?;
    read_header_only(&mut file, &path.display().to_string())
        .map(|h| h.dtype.name())
        .map_err(Error::Input)
}

/// The dtype of every array of a `.npz` file, keyed by name, in archive order.
pub fn read_npz_dtypes(path: &Path) -> Result<Vec<(String, &'static str)>> {
    let mut dtypes = Vec::new();
    for_each_member(path, |key, member, what, _| {
        let header = read_header_only(member, what).map_err(Error::Input)?;
        dtypes.push((key, header.dtype.name()));
        Ok(())
    })?;
    Ok(dtypes)
}

/// The shape of the array in a `.npy` file, from its header.
pub fn read_npy_shape(path: &Path) -> Result<Vec<usize>> {
    let mut file = std::fs::File::open(path).map_err(|e| crate::keras::read_error(path, e))?;
    read_shape(&mut file, &path.display().to_string()).map_err(Error::Input)
}

/// The shape of every array of a `.npz` file, keyed by name, in archive order, from the
/// members' headers.
pub fn read_npz_shapes(path: &Path) -> Result<Vec<(String, Vec<usize>)>> {
    let mut shapes = Vec::new();
    for_each_member(path, |key, member, what, _| {
        shapes.push((key, read_shape(member, what).map_err(Error::Input)?));
        Ok(())
    })?;
    Ok(shapes)
}

/// Parses one `.npy` image. `what` names it in errors (a path, or `file.npz:member`).
pub fn parse_npy(bytes: &[u8], what: &str) -> std::result::Result<Tensor, String> {
    let bad = |detail: String| invalid(what, detail);
    let (header, end) = read_header(bytes).map_err(bad)?;
    let overflows = || {
        bad(format!(
            "shape {:?} is too large for any file",
            header.shape
        ))
    };
    let count = checked_len(&header.shape).ok_or_else(overflows)?;
    let data = &bytes[end..];
    let needed = count
        .checked_mul(header.dtype.size())
        .ok_or_else(overflows)?;
    if data.len() < needed {
        return Err(bad(format!(
            "shape {:?} needs {needed} bytes of data, the file has {}",
            header.shape,
            data.len()
        )));
    }
    let values = header.dtype.decode(&data[..needed]);
    let array = if header.fortran_order {
        let reversed: Vec<usize> = header.shape.iter().rev().copied().collect();
        Tensor::from_shape_vec(IxDyn(&reversed), values)
            .map_err(|e| bad(e.to_string()))?
            .reversed_axes()
            .as_standard_layout()
            .into_owned()
    } else {
        Tensor::from_shape_vec(IxDyn(&header.shape), values).map_err(|e| bad(e.to_string()))?
    };
    Ok(array)
}

/// The header of a version 1.0 little-endian float32 `.npy` of `shape`, padded so that the
/// data starts on a 64-byte boundary, as NumPy does.
fn header_bytes(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let dims = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// Bytes of a float32 `.npy` of `shape`, header included; None when no file could hold it.
pub fn npy_len(shape: &[usize]) -> Option<u64> {
    let values = checked_len(shape)? as u64;
    values
        .checked_mul(4)?
        .checked_add(header_bytes(shape).len() as u64)
}

/// Serialises a tensor as a version 1.0 little-endian float32 `.npy` image.
pub fn to_npy(tensor: &Tensor) -> Vec<u8> {
    let mut out = header_bytes(tensor.shape());
    out.reserve(tensor.len() * 4);
    for v in tensor.iter() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Bytes a [`NpyWriter`] gathers before it writes them out: all it ever holds.
pub const WRITE_BUFFER: usize = 64 << 10;

/// Writes a float32 `.npy` chunk by chunk along axis 0. The header states the final shape up
/// front; each chunk's values go straight out through a buffer of [`WRITE_BUFFER`] bytes, so
/// the writer holds no chunk, whatever the batch.
pub struct NpyWriter<W: Write> {
    out: W,
    /// The shape after axis 0.
    row: Vec<usize>,
    rows: usize,
    written: usize,
    buffer: Vec<u8>,
}

impl<W: Write> NpyWriter<W> {
    /// Writes the header of an array of `shape` (axis 0 the rows the chunks will bring).
    pub fn new(mut out: W, shape: &[usize]) -> std::io::Result<Self> {
        let (&rows, row) = shape.split_first().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a streamed .npy needs at least one axis",
            )
        })?;
        out.write_all(&header_bytes(shape))?;
        Ok(NpyWriter {
            out,
            row: row.to_vec(),
            rows,
            written: 0,
            buffer: Vec::with_capacity(WRITE_BUFFER),
        })
    }

    /// Appends the rows of `chunk`, whose shape after axis 0 must be the array's.
    pub fn write_chunk(&mut self, chunk: &Tensor) -> std::io::Result<()> {
        let rows = chunk.shape().first().copied().unwrap_or(0);
        if chunk.ndim() == 0
            || chunk.shape()[1..] != self.row[..]
            || rows > self.rows - self.written
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "a chunk of shape {:?} does not continue an array of {} rows of {:?} with {} written",
                    chunk.shape(),
                    self.rows,
                    self.row,
                    self.written
                ),
            ));
        }
        for v in chunk.iter() {
            if self.buffer.len() + 4 > WRITE_BUFFER {
                self.out.write_all(&self.buffer)?;
                self.buffer.clear();
            }
            self.buffer.extend_from_slice(&v.to_le_bytes());
        }
        self.written += rows;
        Ok(())
    }

    /// Writes what is buffered and returns the output; every row must have been written.
    pub fn finish(mut self) -> std::io::Result<W> {
        if self.written != self.rows {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{} of the array's {} rows were written",
                    self.written, self.rows
                ),
            ));
        }
        self.out.write_all(&self.buffer)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| crate::keras::read_error(path, e))?;
    parse_npy(&bytes, &path.display().to_string()).map_err(Error::Input)
}

/// Reads every array of a `.npz` file, keyed by name (the member name without `.npy`), in
/// archive order.
pub fn read_npz(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let mut arrays = Vec::new();
    for_each_member(path, |key, member, what, file_len| {
        let bytes = read_member(member, file_len, what)
            .map_err(|e| Error::Input(format!("{e}; write the file again with numpy.savez")))?;
        arrays.push((key, parse_npy(&bytes, what).map_err(Error::Input)?));
        Ok(())
    })?;
    Ok(arrays)
}

/// Calls `each(key, member, what, file_len)` for every `.npy` member of a `.npz`, in archive
/// order: `key` the member name without `.npy`, `what` its name for messages, `file_len` the
/// archive's size.
fn for_each_member(
    path: &Path,
    mut each: impl FnMut(String, &mut zip::read::ZipFile<'_, std::fs::File>, &str, u64) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| crate::keras::read_error(path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| crate::keras::read_error(path, e))?
        .len();
    let mut archive = zip::ZipArchive::new(file).map_err(|e| {
        Error::Input(format!(
            "{}: not a valid .npz (zip) file ({e}); write it with numpy.savez",
            path.display()
        ))
    })?;
    // Members may overlap in the file, so each one's limit alone does not bound the total.
    let total_limit = file_len.saturating_mul(MAX_RATIO);
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(|e| {
            Error::Input(format!(
                "{}: unreadable member {i} ({e}); write the file again with numpy.savez",
                path.display()
            ))
        })?;
        let name = member
            .name()
            .map_err(|e| {
                Error::Input(format!(
                    "{}: member {i} has an unreadable name ({e}); write the file again with numpy.savez",
                    path.display()
                ))
            })?
            .to_string();
        let Some(key) = name.strip_suffix(".npy") else {
            continue;
        };
        let what = format!("{}:{name}", path.display());
        total = total.saturating_add(member.size());
        if total > total_limit {
            return Err(Error::Input(format!(
                "{}: its members declare more than {total_limit} bytes in all, uncompressed, in a {file_len}-byte file; refusing it (corrupt, or a zip bomb): write the file again with numpy.savez",
                path.display()
            )));
        }
        each(key.to_string(), &mut member, &what, file_len)?;
    }
    Ok(())
}

/// Largest uncompressed/compressed size ratio believed of a zip member (deflate tops out near
/// 1032:1).
const MAX_RATIO: u64 = 1000;

/// Reads one zip member, refusing declared sizes that a file of `file_len` bytes could not hold
/// at any sane compression ratio (a zip bomb). `what` names the member in messages.
pub fn read_member<R: Read>(
    member: &mut zip::read::ZipFile<'_, R>,
    file_len: u64,
    what: &str,
) -> std::result::Result<Vec<u8>, String> {
    /// Memory reserved up front; the rest grows only as bytes really arrive.
    const MAX_RESERVE: u64 = 64 << 20;
    let size = member.size();
    let limit = if member.compression() == zip::CompressionMethod::Stored {
        file_len
    } else {
        file_len.saturating_mul(MAX_RATIO)
    };
    if size > limit {
        return Err(format!(
            "{what} declares {size} bytes uncompressed in a {file_len}-byte archive; refusing it (corrupt, or a zip bomb)"
        ));
    }
    let mut bytes = Vec::with_capacity(size.min(MAX_RESERVE) as usize);
    // One byte past the declared size: the zip reader checks the member's CRC only when it is
    // read to its end, and a member longer than declared is caught too.
    member
        .take(size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| {
            if e.to_string().to_lowercase().contains("checksum") {
                format!(
                    "{what} fails its CRC-32 check: its bytes were damaged after it was written"
                )
            } else {
                format!("{what} cannot be read ({e})")
            }
        })?;
    if bytes.len() as u64 > size {
        return Err(format!(
            "{what} holds more bytes than the {size} its header declares"
        ));
    }
    if bytes.len() as u64 != size {
        return Err(format!(
            "{what} is truncated: {} of its {size} bytes are present",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// Writes tensors as a `.npz` (stored, uncompressed, as `np.savez` does).
pub fn write_npz(path: &Path, arrays: &[(String, &Tensor)]) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| write_error(path, e))?;
    let mut zip = NpzArchive::new(file);
    for (name, tensor) in arrays {
        zip.add(name, &mut to_npy(tensor).as_slice())
            .map_err(|e| write_error(path, e))?;
    }
    zip.finish().map_err(|e| write_error(path, e))?;
    Ok(())
}

/// A `.npz` being written member after member, each copied from a reader in pieces.
pub struct NpzArchive<W: Write + Seek> {
    zip: zip::ZipWriter<W>,
}

impl<W: Write + Seek> NpzArchive<W> {
    pub fn new(out: W) -> Self {
        NpzArchive {
            zip: zip::ZipWriter::new(out),
        }
    }

    /// Adds the `.npy` image `npy` reads as member `NAME.npy`.
    pub fn add(&mut self, name: &str, npy: &mut impl Read) -> zip::result::ZipResult<()> {
        // Stored like numpy.savez, ZIP64 where it must be, and a fixed time stamp: the same
        // arrays always give the same bytes.
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default())
            .large_file(true);
        self.zip.start_file(format!("{name}.npy"), options)?;
        std::io::copy(npy, &mut self.zip)?;
        Ok(())
    }

    pub fn finish(self) -> zip::result::ZipResult<W> {
        self.zip.finish()
    }
}

pub fn write_npy(path: &Path, tensor: &Tensor) -> Result<()> {
    std::fs::write(path, to_npy(tensor)).map_err(|e| write_error(path, e))
}

/// An I/O error while writing `path`, with what to do about it: a full disk says so.
pub(crate) fn io_write_error(path: &Path, err: std::io::Error) -> Error {
    use std::io::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded
    ) {
        return Error::io(
            path,
            format!(
                "cannot write it ({err}); free some room on that disk, or write somewhere else"
            ),
        );
    }
    write_error(path, err)
}

pub(crate) fn write_error(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::io(
        path,
        format!("cannot write it ({err}); check that the folder exists and is writable"),
    )
}

#[derive(Clone, Copy, Debug)]
enum Dtype {
    F16 { big: bool },
    F32 { big: bool },
    F64 { big: bool },
}

impl Dtype {
    fn parse(descr: &str) -> std::result::Result<Self, String> {
        let big = descr.starts_with('>');
        match descr.trim_start_matches(['<', '>', '=', '|']) {
            "f2" => Ok(Dtype::F16 { big }),
            "f4" => Ok(Dtype::F32 { big }),
            "f8" => Ok(Dtype::F64 { big }),
            other => Err(format!(
                "dtype '{descr}' is not a float ({other}); save the array as float32 (x.astype('float32'))"
            )),
        }
    }

    /// NumPy's name of the type.
    fn name(self) -> &'static str {
        match self {
            Dtype::F16 { .. } => "float16",
            Dtype::F32 { .. } => "float32",
            Dtype::F64 { .. } => "float64",
        }
    }

    fn size(self) -> usize {
        match self {
            Dtype::F16 { .. } => 2,
            Dtype::F32 { .. } => 4,
            Dtype::F64 { .. } => 8,
        }
    }

    fn decode(self, data: &[u8]) -> Vec<f32> {
        match self {
            Dtype::F16 { big } => data
                .chunks_exact(2)
                .map(|c| {
                    let b = [c[0], c[1]];
                    let bits = if big {
                        u16::from_be_bytes(b)
                    } else {
                        u16::from_le_bytes(b)
                    };
                    half::f16::from_bits(bits).to_f32()
                })
                .collect(),
            Dtype::F32 { big } => data
                .chunks_exact(4)
                .map(|c| {
                    let b = [c[0], c[1], c[2], c[3]];
                    if big {
                        f32::from_be_bytes(b)
                    } else {
                        f32::from_le_bytes(b)
                    }
                })
                .collect(),
            Dtype::F64 { big } => data
                .chunks_exact(8)
                .map(|c| {
                    let b: [u8; 8] = c.try_into().expect("chunks of 8");
                    (if big {
                        f64::from_be_bytes(b)
                    } else {
                        f64::from_le_bytes(b)
                    }) as f32
                })
                .collect(),
        }
    }
}

struct Header {
    dtype: Dtype,
    fortran_order: bool,
    shape: Vec<usize>,
}

impl Header {
    /// Parses the Python dict literal NumPy writes, e.g.
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (8, 784), }`.
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let descr = Self::field(text, "descr")?;
        let descr = descr.trim().trim_matches(['\'', '"']);
        let fortran = Self::field(text, "fortran_order")?;
        let fortran_order = match fortran.trim() {
            "True" => true,
            "False" => false,
            other => return Err(format!("fortran_order is '{other}'")),
        };
        let shape_text = Self::field(text, "shape")?;
        let inner = shape_text
            .trim()
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| format!("shape '{shape_text}' is not a tuple"))?;
        let shape = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| format!("shape entry '{s}' is not a size"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Header {
            dtype: Dtype::parse(descr)?,
            fortran_order,
            shape,
        })
    }

    /// The text of one value in the dict: up to the next top-level comma (tuples kept whole).
    fn field<'a>(text: &'a str, key: &str) -> std::result::Result<&'a str, String> {
        let pattern_single = format!("'{key}':");
        let pattern_double = format!("\"{key}\":");
        let at = text
            .find(&pattern_single)
            .map(|i| i + pattern_single.len())
            .or_else(|| text.find(&pattern_double).map(|i| i + pattern_double.len()))
            .ok_or_else(|| format!("header has no '{key}'"))?;
        let rest = &text[at..];
        let mut depth = 0i32;
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' | '}' if depth == 0 => return Ok(&rest[..i]),
                _ => {}
            }
        }
        Err(format!("header value of '{key}' is not terminated"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! Reading `.npy` and `.npz` files: whole arrays, or only their headers (shapes, dtypes).

use std::io::Read;
use std::path::Path;

use ndarray::IxDyn;

use super::header::{invalid, read_header, Header, MAX_EXACT_INTEGER, MAX_HEADER};
use crate::error::{Error, Result};
use crate::tensor::{checked_len, Tensor};

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

/// The dtype of the array in a `.npy` file, from its header, as NumPy names it: `float16`,
/// `float32`, `float64`, `int8` … `int64`, `uint8` … `uint64` or `bool`.
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
    let values = header.dtype.decode(&data[..needed]).map_err(|inexact| {
        format!(
            "{what}: {} value {} at index {:?} cannot be represented exactly in float32, which keqv computes in: integers beyond ±{MAX_EXACT_INTEGER} (2^24) lose digits; renumber token ids below {MAX_EXACT_INTEGER}, or, if the values are not ids and rounding them is acceptable, save the array as float32 (x.astype('float32'))",
            header.dtype.name(),
            inexact.value,
            index_of(inexact.position, &header.shape, header.fortran_order)
        )
    })?;
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

/// The index of the element at `position` in the data of an array of `shape`, in C or Fortran
/// order.
fn index_of(mut position: usize, shape: &[usize], fortran_order: bool) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    let axes: Vec<usize> = if fortran_order {
        (0..shape.len()).collect()
    } else {
        (0..shape.len()).rev().collect()
    };
    for axis in axes {
        let dim = shape[axis].max(1);
        index[axis] = position % dim;
        position /= dim;
    }
    index
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

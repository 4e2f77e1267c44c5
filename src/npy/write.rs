//! Writing float32 `.npy` and `.npz` files: whole, or chunk by chunk along the batch.

use std::io::{Read, Seek, Write};
use std::path::Path;

use super::header::header_bytes;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

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

//! Opening an HDF5 file, from disk or from bytes in memory: a check of its signature and
//! length first, so that a wrong or truncated file gets a plain message instead of the HDF5
//! library's, and no file locking.

use std::ops::Deref;
use std::path::Path;

use super::h5_image::{ImageBytes, ImageFile};
use super::HDF5_SIGNATURE;
use crate::error::{Error, Result};

/// An HDF5 file open for reading.
pub(super) enum H5File {
    Disk { file: hdf5::File, len: u64 },
    Image(ImageFile),
}

impl H5File {
    /// The file's length in bytes: no dataset can hold more.
    pub(super) fn len(&self) -> u64 {
        match self {
            H5File::Disk { len, .. } => *len,
            H5File::Image(image) => image.bytes().len() as u64,
        }
    }

    /// Called after each bulk read: see [`ImageBytes::release_pages`].
    pub(super) fn release_pages(&self) {
        if let H5File::Image(image) = self {
            image.bytes().release_pages();
        }
    }
}

impl Deref for H5File {
    type Target = hdf5::File;

    fn deref(&self) -> &hdf5::File {
        match self {
            H5File::Disk { file, .. } => file,
            H5File::Image(image) => image,
        }
    }
}

pub(super) fn open(path: &Path) -> Result<H5File> {
    let len = check_hdf5_file(path)?;
    disable_file_locking();
    let file = hdf5::File::open(path).map_err(|e| open_error(path, &e))?;
    Ok(H5File::Disk { file, len })
}

/// Opens `bytes` in place; `shown` names them in messages (an archive member: `x.keras/member`).
pub(super) fn open_image(bytes: ImageBytes, shown: &Path) -> Result<H5File> {
    check_hdf5_header(&bytes[..bytes.len().min(64)], bytes.len() as u64, shown)?;
    // An image takes no lock, but this may be the library's first call: see below.
    disable_file_locking();
    let name = shown.to_string_lossy();
    let image = ImageFile::open(bytes, &name).map_err(|e| open_error(shown, &e))?;
    Ok(H5File::Image(image))
}

/// keqv only reads model files, and HDF5's advisory lock only makes an open fail while any
/// other handle (in this process too, e.g. a file just written by `convert`) is still
/// closing; turn it off unless the user chose otherwise. Recent HDF5 libraries read the variable
/// once, when they start, so every way into HDF5 calls this before its first call.
pub(crate) fn disable_file_locking() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("HDF5_USE_FILE_LOCKING").is_none() {
            std::env::set_var("HDF5_USE_FILE_LOCKING", "FALSE");
        }
    });
}

fn open_error(shown: &Path, e: &hdf5::Error) -> Error {
    let text = e.to_string();
    let detail = if text.contains("unable to lock file") {
        "the file is locked by another process, which may still be writing it; wait until it is closed (or set HDF5_USE_FILE_LOCKING=FALSE)".to_string()
    } else {
        format!(
            "the HDF5 library cannot open it ({}); the file is corrupt: copy it again or re-save the model",
            first_line(&text)
        )
    };
    Error::format(shown, detail)
}

/// Checks the header of the HDF5 file at `path`; its length.
fn check_hdf5_file(path: &Path) -> Result<u64> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| super::read_error(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| super::read_error(path, e))?
        .len();
    let mut head = Vec::with_capacity(64);
    file.take(64)
        .read_to_end(&mut head)
        .map_err(|e| super::read_error(path, e))?;
    check_hdf5_header(&head, len, path)?;
    Ok(len)
}

/// Checks the HDF5 signature in `head` (the first 64 bytes, or all there are) and, from the
/// superblock, that the file is as long as it says (`len`), so that truncated files get a plain
/// message instead of the HDF5 library's.
fn check_hdf5_header(head: &[u8], len: u64, shown: &Path) -> Result<()> {
    if head.is_empty() {
        return Err(Error::format(
            shown,
            "the file is empty (0 bytes); expected an HDF5 file written by Keras: check the path",
        ));
    }
    if !head.starts_with(HDF5_SIGNATURE) {
        let hint = if head.starts_with(b"PK") {
            "it is a zip archive (a .keras model?); give a .h5 file here"
        } else {
            "give a file written by Keras (model.save or save_weights)"
        };
        return Err(Error::format(
            shown,
            format!("not an HDF5 file (no HDF5 signature); {hint}"),
        ));
    }
    let truncated = |needed: u64| {
        Error::format(
            shown,
            format!(
                "the HDF5 file is truncated: it has {len} of its {needed} bytes; copy or download it again"
            ),
        )
    };
    match superblock_end(head) {
        Some(end) if end > len => Err(truncated(end)),
        Some(_) => Ok(()),
        None if (head.len() as u64) < 64 && len < 64 => Err(Error::format(
            shown,
            format!(
                "the HDF5 file is truncated: it has only {len} bytes, less than its header; copy or download it again"
            ),
        )),
        None => Ok(()),
    }
}

/// The end of the file according to its superblock (base address + end-of-file address), for
/// superblock versions 0 to 3; None when the header is too short or not understood.
fn superblock_end(head: &[u8]) -> Option<u64> {
    let version = *head.get(8)?;
    let (offset_size, base_at) = match version {
        0 => (*head.get(13)? as usize, 24),
        1 => (*head.get(13)? as usize, 28),
        2 | 3 => (*head.get(9)? as usize, 12),
        _ => return None,
    };
    let read = |at: usize| -> Option<u64> {
        let bytes = head.get(at..at + offset_size)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        )
    };
    if !matches!(offset_size, 2 | 4 | 8) {
        return None;
    }
    let base = read(base_at)?;
    // v0/v1: base, free-space, end-of-file; v2/v3: base, superblock extension, end-of-file.
    let eof = read(base_at + 2 * offset_size)?;
    base.checked_add(eof)
}

pub(super) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

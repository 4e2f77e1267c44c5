//! One error type for the whole tool, grouped by the stage that failed.
//!
//! Every message is one line that says what went wrong, where, and (where there is
//! something to do) what to do about it. The CLI prints it and exits with code 2.

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read at all.
    #[error("{path}: {detail}")]
    Io { path: PathBuf, detail: String },

    /// The file is readable but is not what it claims to be (not HDF5, bad JSON, missing member).
    #[error("{path}: {detail}")]
    Format { path: PathBuf, detail: String },

    /// One layer of the model is wrong or unsupported.
    #[error("{path}: layer '{layer}' ({class}): {detail}")]
    Layer {
        path: PathBuf,
        layer: String,
        class: String,
        detail: String,
    },

    /// Inputs given by the user (.npy/.npz, shapes) do not fit the model.
    #[error("{0}")]
    Input(String),

    /// No usable device, or the device failed while running.
    #[error("{0}")]
    Device(String),

    /// Command-line arguments that make no sense together.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn io(path: &Path, err: impl std::fmt::Display) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            detail: err.to_string(),
        }
    }

    pub fn format(path: &Path, detail: impl Into<String>) -> Self {
        Error::Format {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }

    pub fn layer(path: &Path, layer: &str, class: &str, detail: impl Into<String>) -> Self {
        Error::Layer {
            path: path.to_path_buf(),
            layer: layer.to_string(),
            class: class.to_string(),
            detail: detail.into(),
        }
    }
}

/// `bytes` in binary units, for messages about memory.
pub(crate) fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

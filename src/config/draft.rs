//! One comparison's settings as written, by flags or by a manifest case, before any is checked:
//! what both sources hand to the one validator ([`super::validate`]).

use std::path::PathBuf;

use super::names::Origin;

/// A `verify`'s settings as given.
#[derive(Clone, Debug)]
pub struct Draft {
    /// Where they were written, which names them in errors.
    pub origin: Origin,
    pub original: ModelDraft,
    pub converted: ModelDraft,
    /// Custom mappings `NAME=BUILTIN` for both models.
    pub custom: Vec<String>,
    /// Files of custom mappings for both models.
    pub custom_files: Vec<PathBuf>,
    /// Open input dimensions `NAME=D1,D2` of either model.
    pub input_shapes: Vec<String>,
    pub inputs: InputsDraft,
    pub devices: DevicesDraft,
    pub atol: Vec<ToleranceDraft>,
    pub rtol: Vec<ToleranceDraft>,
    pub chunk: usize,
    pub per_layer: bool,
}

/// One side's own files and mappings.
#[derive(Clone, Debug)]
pub struct ModelDraft {
    pub model: PathBuf,
    pub weights: Option<PathBuf>,
    /// Mappings `NAME=BUILTIN` for this model alone.
    pub custom: Vec<String>,
}

/// An inputs file, or what the random inputs are made of; a random setting is None where it
/// was not given, so that one given beside a file is noticed.
#[derive(Clone, Debug, Default)]
pub struct InputsDraft {
    pub file: Option<PathBuf>,
    pub seed: Option<u64>,
    pub batch: Option<usize>,
    pub distribution: Option<String>,
}

/// The devices of the two sides, by name, and the GPU adapter.
#[derive(Clone, Debug)]
pub struct DevicesDraft {
    pub device: String,
    /// The converted model's device, where it differs.
    pub converted: Option<String>,
    pub adapter: Option<String>,
}

/// One tolerance: for every output (no `output`) or for one.
#[derive(Clone, Debug)]
pub struct ToleranceDraft {
    pub output: Option<String>,
    /// NaN where the text was no number.
    pub value: f64,
    /// As the user wrote it, for the error message.
    pub written: String,
}

//! The settings commands run on, checked once before any work starts: a comparison's
//! ([`VerifyConfig`], from `verify`'s flags or from a suite manifest's case, through one
//! validator) and each model's ([`ModelConfig`]). The library runs on these, never on the
//! command line's structs, so that a setting means the same and is refused in the same words
//! wherever it was written.
//!
//! `draft.rs` holds settings as written; `validate.rs` turns them into a config through the
//! rules of `rules.rs`; `names.rs` names a setting as its origin spells it; `flags.rs` drafts
//! them from the command line (`suite::manifest` drafts a case's).

mod draft;
pub mod flags;
mod model;
mod names;
mod rules;
mod validate;

use std::path::PathBuf;

pub use draft::{DevicesDraft, Draft, InputsDraft, ModelDraft, ToleranceDraft};
pub use model::ModelConfig;
pub use names::{Origin, Setting};
pub use validate::validate;

use crate::cli::OutputFormat;
use crate::exec::DeviceChoice;
use crate::graph::open_inputs::InputsFlag;
use crate::inputs::InputSource;
use crate::verify::{Tolerances, VerifyOptions, GPU_METRICS_FROM};

/// Samples run at once where nothing says otherwise.
pub const DEFAULT_CHUNK: usize = 1024;

/// One comparison, validated: the two models, and how to run and measure them (inputs,
/// tolerances, chunk, per-layer comparison, each side's device).
#[derive(Clone, Debug)]
pub struct VerifyConfig {
    pub original: ModelConfig,
    pub converted: ModelConfig,
    pub options: VerifyOptions,
}

impl VerifyConfig {
    /// Checks a model just written by `convert` against its source, on `device`, with default
    /// settings: the written file takes the source's mappings and input shapes.
    pub fn after_convert(
        original: ModelConfig,
        written: PathBuf,
        device: DeviceChoice,
    ) -> VerifyConfig {
        let converted = ModelConfig {
            model: written,
            weights: None,
            ..original.clone()
        };
        VerifyConfig {
            original,
            converted,
            options: VerifyOptions {
                tolerances: Tolerances::default(),
                inputs: InputSource::Random(Default::default()),
                chunk: DEFAULT_CHUNK,
                per_layer: false,
                device_original: device.clone(),
                device_converted: device,
                gpu_metrics_from: GPU_METRICS_FROM,
            },
        }
    }

    /// What the inputs can settle of the dimensions the models leave open.
    pub fn inputs_flag(&self) -> InputsFlag<'_> {
        inputs_flag(&self.options.inputs)
    }
}

/// An inputs file settles open input dimensions; random inputs need them settled.
pub fn inputs_flag(source: &InputSource) -> InputsFlag<'_> {
    match source {
        InputSource::File(path) => InputsFlag::Given(path),
        InputSource::Random(_) => InputsFlag::NotGiven,
    }
}

/// The reports `keqv verify` writes besides its exit code.
#[derive(Clone, Debug)]
pub struct Reports {
    pub format: OutputFormat,
    pub junit: Option<PathBuf>,
    pub html: Option<PathBuf>,
}

/// `keqv verify`'s command line, validated.
#[derive(Clone, Debug)]
pub struct VerifyCommand {
    pub verify: VerifyConfig,
    pub reports: Reports,
}

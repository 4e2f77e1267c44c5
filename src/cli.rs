//! Command-line definitions, and their conversion into validated library settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{Error, Result};
use crate::exec::gpu::Backend;
use crate::exec::DeviceChoice;
use crate::graph::build::BuildOptions;
use crate::graph::open_inputs::{settle, InputsFlag};
use crate::inputs::{Distribution, RandomInputs};
use crate::keras::custom::CustomMap;
use crate::keras::KerasModel;
use crate::verify::Tolerances;

#[derive(Parser, Debug)]
#[command(
    name = "keqv",
    version,
    about = "Prove or disprove that a converted Keras model computes the same function as its original"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Show a model's format, inputs, outputs and layers, and whether it is a plain chain.
    Inspect {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Run a model and write its outputs (.npy for one output, .npz keyed by output name).
    Run {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        inputs: InputArgs,
        #[command(flatten)]
        device: DeviceArgs,
        /// Where to write the outputs; without it, a summary of each output is printed.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Samples run at once; the batch streams through in chunks of this size.
        #[arg(long, default_value_t = 1024)]
        chunk: usize,
    },
    /// Run the original and the converted model on the same inputs; exit 0 when equivalent,
    /// 1 when not.
    Verify(VerifyArgs),
    /// Run a conversion regression suite (a TOML manifest of verify cases, each with the
    /// result it must give); exit 0 only when every case meets its expectation.
    Suite(SuiteArgs),
    /// Write a model whose graph is a chain as a Sequential model (.keras or .h5) and verify
    /// it; a model that is not a chain is explained, node by node (exit 1).
    Convert {
        #[command(flatten)]
        model: ModelArgs,
        /// Where to write: OUT.keras (Keras archive) or OUT.h5 (legacy HDF5).
        #[arg(long, short)]
        output: PathBuf,
        /// The Keras the written file is for: keras3 (Keras 3) or tf-keras (tf-keras 2.x).
        #[arg(long, value_enum, default_value_t = crate::convert::TargetDialect::Keras3)]
        dialect: crate::convert::TargetDialect,
        /// Do not verify the written model against the original.
        #[arg(long)]
        no_verify: bool,
        /// Replace OUT if it exists (never the model being converted).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Time a model on one or more devices (--device cpu,gpu).
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        inputs: InputArgs,
        #[command(flatten)]
        device: DeviceArgs,
        /// Timed runs per device.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Untimed runs first.
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// List the GPU adapters wgpu can see.
    Adapters {
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// The original model (.keras or .h5).
    pub original: PathBuf,
    /// The converted model (.keras or .h5).
    pub converted: PathBuf,
    /// Weights file for the original model.
    #[arg(long, value_name = "FILE")]
    pub original_weights: Option<PathBuf>,
    /// Weights file for the converted model.
    #[arg(long, value_name = "FILE")]
    pub converted_weights: Option<PathBuf>,
    /// Map a custom layer to a built-in op in both models: NAME=BUILTIN.
    #[arg(long, value_name = "NAME=BUILTIN")]
    pub custom: Vec<String>,
    /// Custom mappings for the original model only.
    #[arg(long, value_name = "NAME=BUILTIN")]
    pub original_custom: Vec<String>,
    /// Custom mappings for the converted model only.
    #[arg(long, value_name = "NAME=BUILTIN")]
    pub converted_custom: Vec<String>,
    /// Read custom mappings (for both models) from a file.
    #[arg(long, value_name = "FILE")]
    pub custom_file: Vec<PathBuf>,
    /// The per-sample shape of an input the models leave open: NAME=D1,D2,… (else taken from
    /// the --inputs file, where one is given).
    #[arg(long, value_name = "NAME=D1,D2")]
    pub input_shape: Vec<String>,
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Run the converted model on another device (same values as --device).
    #[arg(long, value_name = "DEVICE")]
    pub converted_device: Option<String>,
    /// Absolute tolerance: VALUE for every output, or OUTPUT:VALUE for one (repeatable).
    #[arg(long, value_name = "[OUTPUT:]VALUE")]
    pub atol: Vec<String>,
    /// Relative tolerance: VALUE for every output, or OUTPUT:VALUE for one (repeatable).
    #[arg(long, value_name = "[OUTPUT:]VALUE")]
    pub rtol: Vec<String>,
    /// Compare every layer and name the first one where the models diverge.
    #[arg(long)]
    pub per_layer: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Also write a JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Samples run at once; larger batches stream through in chunks of this size.
    #[arg(long, default_value_t = 1024)]
    pub chunk: usize,
    /// Also write a self-contained HTML report (metrics, error histograms, per-layer plot) to
    /// this file; implies --per-layer.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct SuiteArgs {
    /// The suite manifest (TOML); paths in it are relative to its folder.
    pub manifest: PathBuf,
    /// The device of cases whose manifest entry names none.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Cases run at once on the CPU executor (cases on a GPU run one at a time).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Run only slice I of N (1-based), for parallel CI jobs: --shard 2/4.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Run only the cases whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// List the cases (of the shard) without running them.
    #[arg(long)]
    pub list: bool,
    /// Write a JUnit XML report (one test case per case) to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

impl VerifyArgs {
    /// The model arguments of one side: shared options plus that side's own.
    pub fn side(&self, converted: bool) -> ModelArgs {
        let (model, weights, own) = if converted {
            (
                &self.converted,
                &self.converted_weights,
                &self.converted_custom,
            )
        } else {
            (
                &self.original,
                &self.original_weights,
                &self.original_custom,
            )
        };
        ModelArgs {
            model: model.clone(),
            weights: weights.clone(),
            custom: self.custom.clone(),
            own_custom: own.clone(),
            custom_file: self.custom_file.clone(),
            input_shape: self.input_shape.clone(),
        }
    }

    pub fn tolerances(&self) -> Result<Tolerances> {
        let mut t = Tolerances::default();
        for (flags, name) in [(&self.atol, "--atol"), (&self.rtol, "--rtol")] {
            for flag in flags {
                let (output, value) = match flag.rsplit_once(':') {
                    Some((o, _)) if o.trim().is_empty() => {
                        return Err(Error::Usage(format!(
                            "{name} '{flag}' names no output: write {name} OUTPUT:VALUE, or {name} VALUE for every output"
                        )))
                    }
                    Some((o, v)) => (Some(o.trim().to_string()), v),
                    None => (None, flag.as_str()),
                };
                let value: f64 = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|v: &f64| is_tolerance(*v))
                    .ok_or_else(|| {
                        Error::Usage(format!(
                            "{name} '{flag}' is not [OUTPUT:]VALUE with VALUE ≥ 0"
                        ))
                    })?;
                let (default, per_output) = if name == "--atol" {
                    (&mut t.default.atol, &mut t.atol)
                } else {
                    (&mut t.default.rtol, &mut t.rtol)
                };
                match output {
                    Some(o) => per_output.push((o, value)),
                    None => *default = value,
                }
            }
        }
        Ok(t)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// A model file and what the user adds to it.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// The model: a .keras archive or a legacy .h5 file.
    pub model: PathBuf,
    /// Load the weights from this file instead (.weights.h5, or a legacy weights-only .h5).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Map a custom layer (class, package>Class or layer name) to a built-in op: NAME=BUILTIN.
    #[arg(long, value_name = "NAME=BUILTIN")]
    pub custom: Vec<String>,
    /// Mappings for this model alone when it is one side of a comparison
    /// (`verify --original-custom`, a manifest's `original_custom`).
    #[arg(skip)]
    pub own_custom: Vec<String>,
    /// Read custom mappings from a file (NAME=BUILTIN lines, or a JSON object).
    #[arg(long, value_name = "FILE")]
    pub custom_file: Vec<PathBuf>,
    /// The per-sample shape of an input whose dimensions the model leaves open: NAME=D1,D2,…
    /// (else taken from the --inputs file, where one is given).
    #[arg(long, value_name = "NAME=D1,D2")]
    pub input_shape: Vec<String>,
}

impl ModelArgs {
    /// The custom-layer mappings of `--custom-file` and `--custom`.
    pub fn custom_map(&self) -> Result<CustomMap> {
        let mut custom = CustomMap::default();
        for path in &self.custom_file {
            custom.add_file(path)?;
        }
        for flag in &self.custom {
            custom.add_flag(flag)?;
        }
        for flag in &self.own_custom {
            custom.add_own_flag(flag)?;
        }
        Ok(custom)
    }

    /// How to build `model`: the custom mappings, and the dimensions its inputs leave open,
    /// settled by `--input-shape` or by `inputs` (see [`settle`]).
    pub fn build_options(&self, model: &KerasModel, inputs: InputsFlag) -> Result<BuildOptions> {
        let custom = self.custom_map()?;
        let mut shapes = settle(&[model], &self.input_shape, inputs)?;
        Ok(BuildOptions {
            custom,
            input_shapes: shapes.remove(0),
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Inputs: a .npy for a single-input model, or a .npz keyed by input name.
    #[arg(long, value_name = "FILE")]
    pub inputs: Option<PathBuf>,
    /// Seed of the random inputs used when --inputs is not given.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Batch size of the random inputs.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Distribution of the random inputs: normal, or uniform:LOW,HIGH.
    #[arg(long, default_value = "normal", value_name = "normal|uniform:LOW,HIGH")]
    pub distribution: String,
}

impl InputArgs {
    /// The `--inputs` file, as what can settle open input dimensions.
    pub fn file(&self) -> InputsFlag<'_> {
        match &self.inputs {
            Some(path) => InputsFlag::Given(path),
            None => InputsFlag::NotGiven,
        }
    }

    pub fn random(&self) -> Result<RandomInputs> {
        if self.batch == 0 {
            return Err(Error::Usage("--batch must be at least 1".into()));
        }
        Ok(RandomInputs {
            seed: self.seed,
            batch: self.batch,
            distribution: parse_distribution(&self.distribution)?,
        })
    }
}

/// The samples run at once (`--chunk`, a manifest's `chunk`): at least 1.
pub fn checked_chunk(chunk: usize) -> Result<usize> {
    if chunk == 0 {
        return Err(Error::Usage("--chunk must be at least 1".into()));
    }
    Ok(chunk)
}

/// Whether `value` can be a tolerance (`--atol`, `--rtol`, a manifest's `atol`, `rtol`).
pub fn is_tolerance(value: f64) -> bool {
    value.is_finite() && value >= 0.0
}

fn parse_distribution(text: &str) -> Result<Distribution> {
    if text == "normal" {
        return Ok(Distribution::Normal);
    }
    let bad = || {
        Error::Usage(format!(
            "--distribution '{text}' is not 'normal' or 'uniform:LOW,HIGH'"
        ))
    };
    let range = text.strip_prefix("uniform:").ok_or_else(bad)?;
    let (low, high) = range.split_once(',').ok_or_else(bad)?;
    let low: f32 = low.trim().parse().map_err(|_| bad())?;
    let high: f32 = high.trim().parse().map_err(|_| bad())?;
    if low >= high || !low.is_finite() || !high.is_finite() {
        return Err(bad());
    }
    Ok(Distribution::Uniform { low, high })
}

#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Where to run: auto (a hardware GPU if there is one, else the CPU), cpu, cpu64 (float64
    /// reference), gpu (any adapter, software included), vulkan, metal, dx12, gl.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Use the GPU adapter whose name contains this text.
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
}

impl DeviceArgs {
    pub fn choice(&self) -> Result<DeviceChoice> {
        let gpu = |backend| DeviceChoice::Gpu {
            backend,
            adapter: self.adapter.clone(),
        };
        let choice = match self.device.as_str() {
            "auto" if self.adapter.is_some() => gpu(None),
            "auto" => DeviceChoice::Auto,
            "cpu" => DeviceChoice::Cpu,
            "cpu64" => DeviceChoice::CpuF64,
            "gpu" => gpu(None),
            "vulkan" => gpu(Some(Backend::Vulkan)),
            "metal" => gpu(Some(Backend::Metal)),
            "dx12" => gpu(Some(Backend::Dx12)),
            "gl" => gpu(Some(Backend::Gl)),
            other => {
                return Err(Error::Usage(format!(
                "--device '{other}' is not one of auto, cpu, cpu64, gpu, vulkan, metal, dx12, gl"
            )))
            }
        };
        if self.adapter.is_some() && matches!(choice, DeviceChoice::Cpu | DeviceChoice::CpuF64) {
            return Err(Error::Usage(
                "--adapter picks a GPU adapter; it cannot be used with --device cpu".into(),
            ));
        }
        Ok(choice)
    }
}

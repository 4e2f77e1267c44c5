//! Command-line definitions. `config::flags` turns them into the validated settings the
//! commands run on.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::DEFAULT_CHUNK;

#[derive(Parser, Debug)]
#[command(
    name = "keqv",
    version,
    about = "Prove or disprove that a converted Keras model computes the same function as its original"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// CPU threads of the CPU executor (default: RAYON_NUM_THREADS where set, else one per core).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
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
        #[arg(long, default_value_t = DEFAULT_CHUNK)]
        chunk: usize,
    },
    /// Run the original and the converted model on the same inputs; exit 0 when equivalent,
    /// 1 when not.
    Verify(VerifyArgs),
    /// Run a conversion regression suite (a TOML manifest of verify cases, each with the
    /// result it must give); exit 0 only when every case meets its expectation.
    Suite(SuiteArgs),
    /// Write a model whose graph is a chain as a Sequential model (.keras or .h5) and verify
    /// it; a model that is not a chain is explained, node by node (exit 1). With --blocks, a
    /// model with skip connections or branches becomes a Sequential model of layers and blocks.
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
        /// Write a model with skip connections or branches too: a Sequential model of layers
        /// and blocks, each block a nested Functional model around a part of the graph that
        /// branches, cut where every path from the input to the output passes. The model
        /// needs one input and one output.
        #[arg(long)]
        blocks: bool,
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
    #[arg(long, default_value_t = DEFAULT_CHUNK)]
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
    /// Read custom mappings from a file (NAME=BUILTIN lines, or a JSON object).
    #[arg(long, value_name = "FILE")]
    pub custom_file: Vec<PathBuf>,
    /// The per-sample shape of an input whose dimensions the model leaves open: NAME=D1,D2,…
    /// (else taken from the --inputs file, where one is given).
    #[arg(long, value_name = "NAME=D1,D2")]
    pub input_shape: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Inputs: a .npy for a single-input model, or a .npz keyed by input name.
    #[arg(long, value_name = "FILE")]
    pub inputs: Option<PathBuf>,
    /// Seed of the random inputs, which --inputs excludes [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Batch size of the random inputs [default: 8].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Distribution of the random inputs: normal, or uniform:LOW,HIGH [default: normal].
    #[arg(long, value_name = "normal|uniform:LOW,HIGH")]
    pub distribution: Option<String>,
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

//! `keqv convert`: a model whose graph is a chain, written as a Sequential model; with
//! `--blocks`, any model with one input and one output, written as a Sequential model of
//! layers and blocks (nested Functional models around the parts that branch).
//!
//! [`plan`] decides whether the model is a chain (and if not, why) and lists its layers with
//! nested models flattened; [`block_plan`] cuts any model with one input and one output at its
//! cut points ([`blocks`]) into layers and blocks; [`config`] writes the Sequential config in
//! the target dialect, [`functional`] a block's nested Functional config in Keras's own layer
//! order ([`keras_order`]) ([`dialect`] translates layer configs across dialects, [`json`]
//! prints them the way Python does); [`h5`] writes the weights, [`archive`] the `.keras` zip.
//! Layer names, configs (within a dialect) and weights are copied bit for bit.

pub mod archive;
pub mod block_plan;
pub mod blocks;
pub mod config;
pub mod dialect;
pub mod functional;
pub mod h5;
pub mod json;
pub mod keras_order;
pub mod plan;

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use self::block_plan::{analyze_blocks, BlockAnalysis, BlockPlan, Entry};
use self::functional::{layout, BlockWriter};
use self::h5::{LayerWeights, Versions};
use self::plan::{Analysis, Plan};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::keras::weights::places;
use crate::keras::{Dialect, Format, KerasModel, LayerConfig};

/// The Keras versions whose files keqv's writers reproduce (keras-formats.md).
pub const KERAS3_VERSION: &str = "3.15.1";
pub const TF_KERAS_VERSION: &str = "2.21.0";

/// `--dialect`: which Keras the written file is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetDialect {
    /// Keras 3 (`import keras`, 3.x).
    #[value(name = "keras3")]
    Keras3,
    /// tf-keras 2.x (`import tf_keras`, or `tf.keras` before TensorFlow 2.16).
    #[value(name = "tf-keras")]
    TfKeras,
}

impl From<TargetDialect> for Dialect {
    fn from(d: TargetDialect) -> Self {
        match d {
            TargetDialect::Keras3 => Dialect::Keras3,
            TargetDialect::TfKeras => Dialect::TfKeras2,
        }
    }
}

/// What to write: the file format and the JSON dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub format: Format,
    pub dialect: Dialect,
}

impl Target {
    /// The format named by the output's extension: `.keras` or `.h5`.
    pub fn for_path(path: &Path, dialect: Dialect) -> Result<Target> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let format = if name.ends_with(".weights.h5") {
            return Err(Error::Usage(format!(
                "{}: a .weights.h5 file holds weights only; name the output .keras or .h5",
                path.display()
            )));
        } else if name.ends_with(".keras") {
            Format::Keras
        } else if name.ends_with(".h5") || name.ends_with(".hdf5") {
            Format::H5
        } else {
            return Err(Error::Usage(format!(
                "{}: name the output .keras (Keras archive) or .h5 (legacy HDF5)",
                path.display()
            )));
        };
        Ok(Target { format, dialect })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let format = match self.format {
            Format::Keras => ".keras archive",
            Format::H5 => "legacy .h5",
        };
        write!(f, "{format}, {} dialect", self.dialect)
    }
}

/// What `convert` did.
#[derive(Debug)]
pub enum Converted {
    /// The Sequential model was written; it has this many layers after its InputLayer.
    Written { layers: usize },
    /// The model is not a chain, for these reasons; nothing was written.
    NotChain(Vec<String>),
}

/// Analyses `model` and, when it is a chain, writes it to `out` as a Sequential model.
/// `graph` (the model built by keqv, when it can be) supplies layer input shapes for
/// `build_config` entries the source file does not have.
pub fn convert(
    model: &KerasModel,
    graph: Option<&Graph>,
    target: Target,
    out: &Path,
) -> Result<Converted> {
    let plan = match plan::analyze(model)? {
        Analysis::NotChain(problems) => return Ok(Converted::NotChain(problems)),
        Analysis::Chain(plan) => plan,
    };
    let shapes = input_shapes(&plan, graph);
    write(model, &plan, target, &shapes, out)?;
    Ok(Converted::Written {
        layers: plan.steps.len(),
    })
}

/// The input shape of one sample of each step, from the built graph.
pub fn input_shapes(plan: &Plan, graph: Option<&Graph>) -> Vec<Option<Vec<usize>>> {
    plan.steps
        .iter()
        .map(|step| {
            let graph = graph?;
            let node = graph.node(graph.find(&step.node)?);
            let mut input = graph.node(*node.inputs.first()?);
            // A wrapper's node takes its inner nodes' outputs (a Bidirectional's two
            // directions); the layer's input is theirs.
            while input.is_inner_of(node) {
                input = graph.node(*input.inputs.first()?);
            }
            Some(input.shape.clone())
        })
        .collect()
}

/// Writes the plan to `out` (through a temporary file next to it, so a failed write leaves
/// no half-written model behind).
pub fn write(
    model: &KerasModel,
    plan: &Plan,
    target: Target,
    input_shapes: &[Option<Vec<usize>>],
    out: &Path,
) -> Result<()> {
    let config = json::dumps(&config::sequential(model, plan, target, input_shapes)?);
    let layers: Vec<LayerWeights> = plan
        .steps
        .iter()
        .map(|s| layer_weights(s.layer, target.dialect))
        .collect();
    write_files(model, &config, &layers, target, out)
}

/// What `convert --blocks` did.
#[derive(Debug)]
pub enum ConvertedBlocks {
    /// The Sequential model was written: this many entries after its input, this many of
    /// them blocks.
    Written { entries: usize, blocks: usize },
    /// The model cannot be a Sequential model even of blocks, for these reasons.
    Refused(Vec<String>),
}

/// Analyses `model` and, when it has one input and one output, writes it to `out` as a
/// Sequential model of layers and blocks. `graph` (the model built by keqv, when it can be)
/// supplies the shapes of the tensors the blocks take where the source file does not say them.
pub fn convert_blocks(
    model: &KerasModel,
    graph: Option<&Graph>,
    target: Target,
    out: &Path,
) -> Result<ConvertedBlocks> {
    let plan = match analyze_blocks(model, graph, target.dialect)? {
        BlockAnalysis::Refused(reasons) => return Ok(ConvertedBlocks::Refused(reasons)),
        BlockAnalysis::Blocks(plan) => plan,
    };
    write_blocks(model, &plan, graph, target, out)?;
    Ok(ConvertedBlocks::Written {
        entries: plan.entries.len(),
        blocks: plan.blocks().count(),
    })
}

/// Writes a plan of layers and blocks to `out`, as [`write`] does a chain.
pub fn write_blocks(
    model: &KerasModel,
    plan: &BlockPlan,
    graph: Option<&Graph>,
    target: Target,
    out: &Path,
) -> Result<()> {
    let tensors = functional::tensors(plan, graph);
    let writer = BlockWriter {
        model,
        plan,
        target,
        tensors: &tensors,
    };
    let mut entries = Vec::new();
    let mut layers = Vec::new();
    for entry in &plan.entries {
        match entry {
            Entry::Layer(n) => {
                let layer = plan.layer(*n);
                let call = &plan.flow.calls[*n];
                let shape = call
                    .args
                    .first()
                    .and_then(|o| tensors.known.get(o))
                    .map(|(s, _)| s.clone());
                entries.push(config::layer_entry(model, layer, target, shape)?);
                layers.push(layer_weights(layer, target.dialect));
            }
            Entry::Block(block) => {
                let layout = layout(plan, block, target.dialect);
                entries.push(writer.entry(block, &layout)?);
                let mut inner = vec![LayerWeights::layer(
                    &block.input_name,
                    "InputLayer",
                    Vec::new(),
                )];
                inner.extend(layout.layers.iter().map(|(layer, _)| {
                    let mut w = layer_weights(layer, target.dialect);
                    w.trainable = trainable(layer);
                    w.tracked = layer.op_layer().is_none();
                    w
                }));
                layers.push(LayerWeights {
                    name: &block.name,
                    class_name: "Functional",
                    vars: Vec::new(),
                    trainable: Vec::new(),
                    layers: Some(inner),
                    tracked: true,
                });
            }
        }
    }
    let config = json::dumps(&config::root(
        model,
        plan.layer(plan.input),
        entries,
        target,
    )?);
    write_files(model, &config, &layers, target, out)
}

/// A layer's variables, where they go in the target dialect.
fn layer_weights(layer: &LayerConfig, dialect: Dialect) -> LayerWeights<'_> {
    LayerWeights::layer(
        &layer.name,
        &layer.class_name,
        places(layer, dialect)
            .into_iter()
            .zip(layer.weights.iter().map(|w| &*w.value))
            .collect(),
    )
}

/// Whether each of a layer's variables is trainable: none of a frozen layer's, nor the
/// statistics batch normalization and normalization layers keep.
fn trainable(layer: &LayerConfig) -> Vec<bool> {
    let frozen = layer.config.get("trainable") == Some(&Value::Bool(false));
    layer
        .weights
        .iter()
        .map(|w| {
            let role = w.name.rsplit('/').next().unwrap_or(&w.name);
            !frozen
                && layer.class_name != "Normalization"
                && !matches!(role, "moving_mean" | "moving_variance")
        })
        .collect()
}

/// Writes the model file: the config and the weights, through a temporary file next to `out`.
fn write_files(
    model: &KerasModel,
    config: &str,
    layers: &[LayerWeights],
    target: Target,
    out: &Path,
) -> Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".keqv-convert-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(out, format!("cannot create a file next to it: {e}")))?;
    let version = keras_version(model, target.dialect);
    match target.format {
        Format::H5 => {
            let backend = match target.dialect {
                Dialect::Keras3 => model.backend.as_deref().unwrap_or("tensorflow"),
                Dialect::TfKeras2 => "tensorflow",
            };
            let versions = Versions {
                keras_version: &version,
                backend,
            };
            let name = &model.model.name;
            h5::write_legacy(tmp.path(), config, name, layers, target.dialect, &versions)
                .map_err(|e| retarget(e, tmp.path(), out))?;
        }
        Format::Keras => {
            let weights = tempfile::NamedTempFile::new()
                .map_err(|e| Error::io(out, format!("cannot create a temporary file: {e}")))?;
            h5::write_v3_weights(weights.path(), &model.model.name, layers, target.dialect)
                .map_err(|e| retarget(e, weights.path(), out))?;
            let bytes = std::fs::read(weights.path()).map_err(|e| Error::io(out, e))?;
            let mut meta = serde_json::Map::new();
            meta.insert("keras_version".into(), json!(version));
            meta.insert("date_saved".into(), json!(archive::date_saved()));
            let metadata = json::dumps(&Value::Object(meta));
            let mut file = tmp.as_file();
            archive::write(&mut file, &metadata, config, &bytes)
                .map_err(|e| Error::io(out, format!("cannot write the archive: {e}")))?;
            file.flush().map_err(|e| Error::io(out, e))?;
        }
    }
    tmp.persist(out)
        .map_err(|e| Error::io(out, format!("cannot write: {}", e.error)))?;
    Ok(())
}

/// Errors from writing the temporary file name the real output instead.
fn retarget(err: Error, tmp: &Path, out: &Path) -> Error {
    match err {
        Error::Io { path, detail } if path == tmp => Error::Io {
            path: out.to_path_buf(),
            detail,
        },
        Error::Format { path, detail } if path == tmp => Error::Format {
            path: out.to_path_buf(),
            detail,
        },
        other => other,
    }
}

/// The `keras_version` written: the source's within a dialect, else the version whose files
/// keqv's writers reproduce.
fn keras_version(model: &KerasModel, to: Dialect) -> String {
    let default = match to {
        Dialect::Keras3 => KERAS3_VERSION,
        Dialect::TfKeras2 => TF_KERAS_VERSION,
    };
    model
        .keras_version
        .clone()
        .filter(|_| model.dialect == to)
        .unwrap_or_else(|| default.to_string())
}

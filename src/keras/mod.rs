//! Reading Keras model files: the legacy `.h5`, the `.keras` archive, and weights-only files,
//! in both the tf-keras 2.x and the Keras 3 dialects (see keras-formats.md for what is on disk).
//!
//! The result is a [`KerasModel`]: the model's layers with their configs as Keras wrote them,
//! their calls (inbound nodes) in one dialect-free form, and their weights.

pub mod archive;
mod assets;
pub mod calls;
pub mod config;
pub mod custom;
pub(crate) mod guard;
mod h5_attrs;
mod h5_image;
mod h5_open;
pub mod weights;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// How the model was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `model.save('x.keras')`: a zip with config.json and model.weights.h5.
    Keras,
    /// `model.save('x.h5')`: one HDF5 file with `model_config` and `model_weights`.
    H5,
}

/// Which Keras wrote the JSON. The file extension does not tell: Keras 3 writes `.h5` too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Dialect {
    #[serde(rename = "tf-keras 2")]
    TfKeras2,
    #[serde(rename = "keras 3")]
    Keras3,
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dialect::TfKeras2 => "tf-keras 2",
            Dialect::Keras3 => "keras 3",
        })
    }
}

/// A reference to one output tensor of one call of a layer: Keras's `keras_history`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct TensorRef {
    pub layer: String,
    pub node: usize,
    pub tensor: usize,
}

/// One call of a layer (one inbound node), in one form for both dialects.
///
/// The split between positional and keyword tensors is the file's: Keras 3 keeps it as the call
/// was written, tf-keras writes every argument after the first as a keyword, so `mha(q, v)`
/// reads as `value=v` there and as a second positional tensor in Keras 3.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Call {
    /// The tensors of the positional arguments in order (a merge layer's list flattened).
    pub args: Vec<TensorRef>,
    /// The tensors passed by keyword (`value=` of MultiHeadAttention, `mask=` of Softmax). A
    /// keyword holding several tensors (`mask=[q_mask, v_mask]`) appears once per tensor.
    pub keywords: Vec<KeywordTensor>,
    /// The call's other keyword arguments (`training`, `mask: null`), as written.
    pub kwargs: serde_json::Map<String, Value>,
    /// Keras 3's positional arguments as written, constants and tensors alike (an op layer's
    /// `x + 3.0` is `[x, 3.0]`); for tf-keras, which writes later arguments as keywords, a
    /// constant first argument (`tf.math.subtract(2.0, x)`).
    pub raw_args: Vec<Value>,
}

/// A tensor passed to a call as a keyword argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeywordTensor {
    pub name: String,
    pub tensor: TensorRef,
}

impl Call {
    /// A call on positional tensors only (Sequential models' synthesized chain).
    pub fn positional(args: Vec<TensorRef>) -> Self {
        Call {
            args,
            ..Call::default()
        }
    }

    /// Every tensor the call takes: the positional ones, then the keyword ones.
    pub fn tensors(&self) -> impl Iterator<Item = &TensorRef> {
        self.args
            .iter()
            .chain(self.keywords.iter().map(|k| &k.tensor))
    }

    pub fn tensors_mut(&mut self) -> impl Iterator<Item = &mut TensorRef> {
        let keywords = self.keywords.iter_mut().map(|k| &mut k.tensor);
        self.args.iter_mut().chain(keywords)
    }
}

/// A model (the root, or one nested inside another as a layer).
#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub name: String,
    /// `Sequential`, `Functional` or `Model`.
    pub class_name: String,
    pub layers: Vec<LayerConfig>,
    pub inputs: Vec<TensorRef>,
    pub outputs: Vec<TensorRef>,
}

impl ModelConfig {
    pub fn is_sequential(&self) -> bool {
        self.class_name == "Sequential"
    }

    pub fn layer(&self, name: &str) -> Option<&LayerConfig> {
        self.layers.iter().find(|l| l.name == name)
    }
}

/// One layer entry of a model config.
#[derive(Clone, Debug)]
pub struct LayerConfig {
    pub name: String,
    /// The Python class name (`Dense`, `FeatureNormalization`).
    pub class_name: String,
    /// `package>Name` for classes registered with `register_keras_serializable`.
    pub registered_name: Option<String>,
    /// The layer's `config` object, exactly as written.
    pub config: Value,
    /// One entry per call of the layer (a shared layer has several), each holding the tensors
    /// it was called on. Sequential models get synthesized chain calls.
    pub calls: Vec<Call>,
    /// Set when the layer is itself a model.
    pub nested: Option<Box<ModelConfig>>,
    /// The layer's variables in Keras's order, once weights are loaded.
    pub weights: Vec<NamedTensor>,
    /// The whole layer entry, exactly as written (for `convert`).
    pub raw: Value,
}

impl LayerConfig {
    /// The name to show and to match custom mappings against: registered if there is one.
    pub fn display_class(&self) -> &str {
        self.registered_name.as_deref().unwrap_or(&self.class_name)
    }

    /// Whether the class is Keras's own rather than a user's (see `registry::is_keras_class`).
    pub fn is_keras_class(&self) -> bool {
        crate::ops::registry::is_keras_class(
            self.registered_name.as_deref(),
            self.raw.get("module").and_then(Value::as_str),
        )
    }

    /// For an op layer, the op it computes: a Keras 3 symbolic-op layer's class (module
    /// `keras.src.ops.*`; legacy `.h5` drops the module) or a tf-keras TFOpLambda /
    /// SlicingOpLambda's function (`math.multiply`). None for every other layer.
    pub fn op_layer(&self) -> Option<&str> {
        if matches!(self.class_name.as_str(), "TFOpLambda" | "SlicingOpLambda") {
            return self.config.get("function").and_then(Value::as_str);
        }
        let module = self.raw.get("module").and_then(Value::as_str);
        let op = match module {
            Some(m) => m.starts_with("keras.src.ops"),
            // Legacy .h5: a known op class whose config, unlike every layer's with that class
            // name, has no `trainable`.
            None => {
                self.registered_name.is_none()
                    && self.config.get("trainable").is_none()
                    && crate::ops::op_layers::is_op_class(&self.class_name)
            }
        };
        op.then_some(self.class_name.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct NamedTensor {
    pub name: String,
    /// Shared with the graph built from the model, so that a model's weights are held once.
    pub value: Arc<Tensor>,
}

/// A model file, read.
#[derive(Clone, Debug)]
pub struct KerasModel {
    pub path: PathBuf,
    pub format: Format,
    pub dialect: Dialect,
    pub keras_version: Option<String>,
    pub backend: Option<String>,
    pub model: ModelConfig,
    /// The root config JSON exactly as written.
    pub raw_config: Value,
    /// Things the user should know that did not stop the load (upcast weights, …).
    pub warnings: Vec<String>,
    /// The file the weights were loaded from instead of the model's own (`--weights`).
    pub weights_file: Option<PathBuf>,
}

impl KerasModel {
    /// Reads a model file (`.keras` or legacy `.h5`, told apart by content, not extension).
    /// With `weights`, the model's variables are then replaced by that file's.
    pub fn load(path: &Path, weights: Option<&Path>) -> Result<KerasModel> {
        let mut model = match sniff(path)? {
            Format::Keras => archive::read(path)?,
            Format::H5 => weights::read_legacy_model(path)?,
        };
        if let Some(weights_path) = weights {
            match sniff(weights_path)? {
                Format::Keras => archive::read_weights_into(&mut model, weights_path)?,
                Format::H5 => weights::load_weights_file(&mut model, weights_path)?,
            }
            model.weights_file = Some(weights_path.to_path_buf());
        }
        Ok(model)
    }

    /// A model from its root config, before its weights are read: in the dialect its Keras
    /// version names, or else the one its config shows.
    pub(crate) fn from_config(
        path: &Path,
        format: Format,
        keras_version: Option<String>,
        backend: Option<String>,
        raw_config: Value,
    ) -> Result<KerasModel> {
        let dialect = keras_version
            .as_deref()
            .and_then(dialect_of_version)
            .unwrap_or_else(|| config::sniff_dialect(&raw_config));
        Ok(KerasModel {
            path: path.to_path_buf(),
            format,
            dialect,
            keras_version,
            backend,
            model: config::parse_model(&raw_config, dialect, path)?,
            raw_config,
            warnings: Vec::new(),
            weights_file: None,
        })
    }
}

pub(crate) const HDF5_SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";

/// A file that cannot be opened or read at all (missing, a folder, no permission).
pub(crate) fn read_error(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::io(
        path,
        format!("cannot read it ({err}); check the path and the file's permissions"),
    )
}

/// Tells a `.keras` zip from an HDF5 file by their first bytes.
pub fn sniff(path: &Path) -> Result<Format> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    let mut head = Vec::with_capacity(8);
    file.take(8)
        .read_to_end(&mut head)
        .map_err(|e| read_error(path, e))?;
    if head.is_empty() {
        return Err(Error::format(
            path,
            "the file is empty (0 bytes); expected a Keras .keras or .h5 file: check the path, or save the model again",
        ));
    }
    if head.starts_with(b"PK") {
        Ok(Format::Keras)
    } else if head == HDF5_SIGNATURE {
        Ok(Format::H5)
    } else if HDF5_SIGNATURE.starts_with(&head) {
        Err(Error::format(
            path,
            format!(
                "the HDF5 file is truncated: it has only {} bytes; copy or download it again",
                head.len()
            ),
        ))
    } else {
        Err(Error::format(
            path,
            "not a Keras model: neither a .keras (zip) archive nor an HDF5 file; give a file written by Keras's model.save()",
        ))
    }
}

/// The dialect named by a `keras_version` string, when there is one.
pub fn dialect_of_version(version: &str) -> Option<Dialect> {
    match version.split('.').next()?.trim() {
        "2" => Some(Dialect::TfKeras2),
        "3" => Some(Dialect::Keras3),
        _ => None,
    }
}

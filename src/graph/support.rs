//! Which layers keqv can run, and what to say about those it cannot: a Keras built-in keqv does
//! not support yet (a gap in keqv), a user's own class (which `--custom` can map to a
//! built-in), or a Lambda (Python code, never run). The graph build collects every such layer
//! instead of stopping at the first, so one message names them all; [`survey`] builds what it
//! can of a model that cannot run, for `keqv inspect`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::build::{build_parts, BuildOptions};
use super::keras_layers::is_keras_layer_class;
use super::Graph;
use crate::error::{Error, Result};
use crate::keras::custom::CustomMap;
use crate::keras::{Dialect, KerasModel, LayerConfig};
use crate::ops::activation::parse_activation;
use crate::ops::registry::{is_layer_class, layer_classes, EXTRA_BUILTINS};

/// Whether keqv runs a layer, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// keqv runs it, on the CPU and on the GPU.
    Runs,
    /// A `--custom` mapping turned it into this built-in.
    Mapped(String),
    /// A Keras built-in layer class keqv does not run yet.
    Unsupported,
    /// A user's own layer class that no `--custom` mapping names.
    Custom,
    /// A Lambda layer: Python code, which keqv never runs.
    Lambda,
    /// A layer keqv runs, called with a tensor as this keyword argument, which its op does not
    /// take.
    KeywordTensor(String),
}

impl Status {
    pub fn runs(&self) -> bool {
        matches!(self, Status::Runs | Status::Mapped(_))
    }

    /// The status column of `keqv inspect`.
    pub fn label(&self) -> String {
        match self {
            Status::Runs => "cpu+gpu".into(),
            Status::Mapped(builtin) => format!("mapped → {builtin}"),
            Status::Unsupported => "unsupported".into(),
            Status::Custom => "custom: map it".into(),
            Status::Lambda => "Lambda: refused".into(),
            Status::KeywordTensor(keyword) => format!("keyword '{keyword}': unsupported"),
        }
    }
}

/// Whether keqv runs layers of `class` (a Keras class, or a name `--custom` maps to).
pub fn runs_class(class: &str) -> bool {
    class != "InputLayer"
        && (is_layer_class(class)
            || EXTRA_BUILTINS.contains(&class)
            || parse_activation(class, Dialect::Keras3).is_some())
}

/// Whether keqv runs `layer`: as the built-in a `--custom` mapping names (with the mapping's
/// index), or as its own class. Err: the mapping names no built-in (what to say about it).
pub fn classify(
    layer: &LayerConfig,
    custom: &CustomMap,
) -> std::result::Result<(Status, Option<usize>), String> {
    if let Some((i, mapping)) = custom.lookup(layer) {
        if !runs_class(&mapping.builtin) {
            return Err(format!(
                "is mapped to '{}', which is not a built-in; fix the --custom mapping: built-ins are {}, every activation name, and {}",
                mapping.builtin,
                EXTRA_BUILTINS.join(", "),
                layer_classes().collect::<Vec<_>>().join(", ")
            ));
        }
        return Ok((Status::Mapped(mapping.builtin.clone()), Some(i)));
    }
    if let Some(op) = layer.op_layer() {
        let runs = crate::ops::op_layers::canonical(op).is_some();
        return Ok((
            if runs {
                Status::Runs
            } else {
                Status::Unsupported
            },
            None,
        ));
    }
    if layer.is_keras_class() && runs_class(&layer.class_name) {
        Ok((Status::Runs, None))
    } else {
        Ok((unrunnable_status(layer), None))
    }
}

/// What keqv makes of a layer of a class it does not run, no mapping applying.
fn unrunnable_status(layer: &LayerConfig) -> Status {
    if layer.class_name == "Lambda" && layer.registered_name.is_none() {
        Status::Lambda
    } else if layer.registered_name.is_none() && is_keras_layer_class(&layer.class_name) {
        Status::Unsupported
    } else {
        Status::Custom
    }
}

/// A layer keqv cannot run.
#[derive(Clone, Debug)]
pub struct Unrunnable {
    /// The node name of its first call (`inner/conv` inside a nested model).
    pub name: String,
    /// Its class as the file names it (`Conv2D`, `mypkg>FeatureNormalization`).
    pub class: String,
    pub status: Status,
    /// What `--custom NAME=BUILTIN` would take as NAME: the class without its package, or the
    /// layer's name for a Lambda.
    pub map_name: String,
}

impl Unrunnable {
    pub fn new(name: String, layer: &LayerConfig, status: Status) -> Self {
        let map_name = match status {
            Status::Lambda => layer.name.clone(),
            _ => layer
                .registered_name
                .as_deref()
                .and_then(|r| r.split('>').next_back())
                .unwrap_or(&layer.class_name)
                .to_string(),
        };
        Unrunnable {
            name,
            class: layer.display_class().to_string(),
            status,
            map_name,
        }
    }
}

/// What a build learnt besides the graph: the layers that cannot run, each node's status, and
/// the nodes whose shape nothing settles (downstream of a layer that cannot run, or of an
/// input whose open dimensions no flag settled).
#[derive(Debug, Default)]
pub struct Findings {
    pub unrunnable: Vec<Unrunnable>,
    /// The status of every node built from a layer call (inputs have none: they run).
    pub status: HashMap<String, Status>,
    /// Nodes that stand in for a layer whose op or shape is unknown.
    pub unknown: HashSet<String>,
    /// Inputs whose open dimensions nothing settled: name, declared dimensions, and what to pass.
    pub open_inputs: Vec<OpenInput>,
    /// Layers already in `unrunnable` (a shared layer is named once).
    reported: HashSet<*const LayerConfig>,
}

impl Findings {
    /// Records a layer keqv cannot run, under the node name of its first call.
    pub fn report(&mut self, name: &str, layer: &LayerConfig, status: &Status) {
        if self.reported.insert(layer) {
            self.unrunnable
                .push(Unrunnable::new(name.to_string(), layer, status.clone()));
        }
    }
}

/// An input whose dimensions the model leaves open and nothing settled.
#[derive(Clone, Debug)]
pub struct OpenInput {
    pub name: String,
    pub dims: Vec<Option<usize>>,
    /// What the input leaves open and which flag settles it.
    pub advice: String,
}

/// A model's graph as far as keqv can build it, for inspection only: nodes named in
/// `findings.unknown` are placeholders (no op, no shape), so it must never be run.
pub struct Survey {
    pub graph: Graph,
    pub findings: Findings,
}

impl Survey {
    pub fn status(&self, node: &str) -> Status {
        self.findings
            .status
            .get(node)
            .cloned()
            .unwrap_or(Status::Runs)
    }

    pub fn known(&self, node: &str) -> bool {
        !self.findings.unknown.contains(node)
    }

    pub fn runnable(&self) -> bool {
        self.findings.unrunnable.is_empty()
    }
}

/// Builds what can be built of `model`: layers that cannot run, and inputs whose open
/// dimensions nothing settles, become placeholders instead of errors. Anything else wrong with
/// the file (a malformed config, weights that do not fit) is still an error.
pub fn survey(model: &KerasModel, options: &BuildOptions) -> Result<Survey> {
    let (graph, findings) = build_parts(model, options, None, true)?;
    Ok(Survey { graph, findings })
}

/// What to say about layers that work on strings, after "works" or "work".
const STRINGS: &str = "on strings, which keqv has no tensors for (it runs numbers only); give keqv the model from the layer's integer output on";

/// Whether a layer class works on string tensors (StringLookup, TextVectorization).
fn on_strings(class: &str) -> bool {
    crate::ops::categorical::STRING_CLASSES.contains(&class)
}

/// Most layers of one kind a message names before it says how many more there are.
const NAMED: usize = 8;

/// The one-line error for a model with layers keqv cannot run.
pub fn cannot_run(path: &Path, layers: &[Unrunnable]) -> Error {
    if let [one] = layers {
        let detail = match &one.status {
            Status::Lambda => format!(
                "Lambda layers hold Python code, which keqv never runs; if it computes a built-in op, map it with --custom {}=BUILTIN (for example l2_normalize, identity, relu)",
                one.map_name
            ),
            Status::Custom => format!(
                "is a custom layer class keqv does not know; map it to a built-in with --custom {}=BUILTIN (for example l2_normalize, identity, relu, or a Keras layer class such as Dense)",
                one.map_name
            ),
            Status::KeywordTensor(keyword) => format!(
                "is called with a tensor as keyword argument '{keyword}', which keqv does not support for {} yet",
                one.class
            ),
            _ if on_strings(&one.class) => format!("works {STRINGS}"),
            _ => "is a Keras built-in layer that keqv does not support yet (supported: see README 'Supported layers')".into(),
        };
        return Error::layer(path, &one.name, &one.class, detail);
    }
    let group = |status: Status| -> Vec<&Unrunnable> {
        layers.iter().filter(|l| l.status == status).collect()
    };
    let mut parts = Vec::new();
    let (strings, builtins): (Vec<&Unrunnable>, Vec<&Unrunnable>) = group(Status::Unsupported)
        .into_iter()
        .partition(|l| on_strings(&l.class));
    if !strings.is_empty() {
        let verb = if strings.len() == 1 { "works" } else { "work" };
        parts.push(format!("{} {verb} {STRINGS}", names(&strings)));
    }
    if !builtins.is_empty() {
        parts.push(format!(
            "{} {} (supported: see README 'Supported layers')",
            names(&builtins),
            if builtins.len() == 1 {
                "is a Keras built-in keqv does not support yet"
            } else {
                "are Keras built-ins keqv does not support yet"
            }
        ));
    }
    let custom = group(Status::Custom);
    if !custom.is_empty() {
        parts.push(format!(
            "{} {}: map {} with {}",
            names(&custom),
            if custom.len() == 1 {
                "is a custom layer"
            } else {
                "are custom layers"
            },
            if custom.len() == 1 { "it" } else { "them" },
            flags(&custom)
        ));
    }
    let lambdas = group(Status::Lambda);
    if !lambdas.is_empty() {
        let one = lambdas.len() == 1;
        parts.push(format!(
            "{} {} Python code, which keqv never runs: if {} a built-in op, map {} with {}",
            names(&lambdas),
            if one { "holds" } else { "hold" },
            if one { "it computes" } else { "they compute" },
            if one { "it" } else { "them" },
            flags(&lambdas)
        ));
    }
    let keywords: Vec<&Unrunnable> = layers
        .iter()
        .filter(|l| matches!(l.status, Status::KeywordTensor(_)))
        .collect();
    if !keywords.is_empty() {
        parts.push(format!(
            "{} {} with keyword tensors keqv does not support yet",
            with_keywords(&keywords),
            if keywords.len() == 1 {
                "is called"
            } else {
                "are called"
            }
        ));
    }
    Error::format(
        path,
        format!(
            "{} layers keqv cannot run: {}",
            layers.len(),
            parts.join("; ")
        ),
    )
}

/// `'conv1' (Conv2D), 'pool' (MaxPooling2D)`, at most [`NAMED`] of them.
fn names(layers: &[&Unrunnable]) -> String {
    let shown: Vec<String> = layers
        .iter()
        .take(NAMED)
        .map(|l| format!("'{}' ({})", l.name, l.class))
        .collect();
    with_more(shown, layers.len())
}

/// `'sm' (Softmax, keyword 'mask')`, at most [`NAMED`] of them.
fn with_keywords(layers: &[&Unrunnable]) -> String {
    let shown: Vec<String> = layers
        .iter()
        .take(NAMED)
        .map(|l| match &l.status {
            Status::KeywordTensor(k) => format!("'{}' ({}, keyword '{k}')", l.name, l.class),
            _ => format!("'{}' ({})", l.name, l.class),
        })
        .collect();
    with_more(shown, layers.len())
}

/// `--custom A=BUILTIN, --custom B=BUILTIN`, one per distinct name.
fn flags(layers: &[&Unrunnable]) -> String {
    let mut seen = HashSet::new();
    let distinct: Vec<String> = layers
        .iter()
        .filter(|l| seen.insert(l.map_name.as_str()))
        .map(|l| format!("--custom {}=BUILTIN", l.map_name))
        .collect();
    let count = distinct.len();
    with_more(distinct.into_iter().take(NAMED).collect(), count)
}

fn with_more(shown: Vec<String>, total: usize) -> String {
    let more = total - shown.len();
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::registry::translate;
    use serde_json::json;

    #[test]
    fn every_class_keqv_runs_translates() {
        // InputLayer is read as the graph's input, never run as a layer or mapped to.
        // Wrappers are expanded from the layers they wrap, never translated as one op.
        let classes = layer_classes()
            .filter(|&c| c != "InputLayer" && !crate::ops::registry::EXPANDED_CLASSES.contains(&c));
        for class in classes.chain(EXTRA_BUILTINS.iter().copied()) {
            let config = if class.contains("Pooling") || class.contains("Conv") {
                json!({"pool_size": 1, "filters": 2, "kernel_size": 1})
            } else if class == "CustomScaleLayer" {
                json!({"scale": 0.5})
            } else if class == "Embedding" {
                json!({"input_dim": 5, "output_dim": 2})
            } else if class == "RNN" {
                json!({"cell": {"class_name": "GRUCell", "config": {"units": 2}}})
            } else if matches!(
                class,
                "Dot" | "CategoryEncoding" | "Discretization" | "IntegerLookup"
            ) {
                json!({"axes": 1, "num_tokens": 3, "bin_boundaries": [0.0],
                       "vocabulary": [4, 2]})
            } else {
                json!({"units": 2, "target_shape": [4], "dims": [1], "padding": 1, "cropping": 1,
                       "n": 2, "height": 2, "width": 2, "groups": 1})
            };
            let dims = class.trim_end_matches("Transpose");
            let input: &[usize] = if dims.ends_with("3D") {
                &[4, 4, 4, 2]
            } else if dims.ends_with("2D") || matches!(class, "Resizing" | "CenterCrop") {
                &[4, 4, 2]
            } else if dims.ends_with("1D") || crate::ops::recurrent::CLASSES.contains(&class) {
                &[4, 2]
            } else {
                &[4]
            };
            // A ConvLSTM's sample is a sequence of such images.
            let steps: Vec<usize> = std::iter::once(3).chain(input.iter().copied()).collect();
            let input = if class.starts_with("ConvLSTM") {
                &steps
            } else {
                input
            };
            let translated = translate(class, &config, input, Dialect::Keras3);
            let known = matches!(translated, Ok(Some(_)));
            assert_eq!(known, runs_class(class), "{class}");
        }
        assert!(!runs_class("SpectralNormalization"));
        assert!(!runs_class("InputLayer"));
        assert!(runs_class("gelu"));
    }

    fn unrunnable(name: &str, class: &str, status: Status) -> Unrunnable {
        Unrunnable {
            name: name.into(),
            class: class.into(),
            status,
            map_name: class.rsplit('>').next().unwrap().into(),
        }
    }

    #[test]
    fn one_line_names_every_layer_by_kind() {
        let layers = [
            unrunnable("conv1", "SpectralNormalization", Status::Unsupported),
            unrunnable("norm", "mypkg>FeatureNormalization", Status::Custom),
            unrunnable("pool", "RandomCrop", Status::Unsupported),
        ];
        let message = cannot_run(Path::new("models/x.h5"), &layers).to_string();
        assert_eq!(
            message,
            "models/x.h5: 3 layers keqv cannot run: 'conv1' (SpectralNormalization), 'pool' (RandomCrop) are Keras built-ins keqv does not support yet (supported: see README 'Supported layers'); 'norm' (mypkg>FeatureNormalization) is a custom layer: map it with --custom FeatureNormalization=BUILTIN"
        );
    }

    #[test]
    fn layers_on_strings_are_named_as_such() {
        let one = [unrunnable("lookup", "StringLookup", Status::Unsupported)];
        let message = cannot_run(Path::new("m.keras"), &one).to_string();
        assert!(message.contains("works on strings"), "{message}");
        let two = [
            unrunnable("text", "TextVectorization", Status::Unsupported),
            unrunnable("conv1", "SpectralNormalization", Status::Unsupported),
        ];
        let message = cannot_run(Path::new("m.keras"), &two).to_string();
        assert!(
            message.contains("'text' (TextVectorization) works on strings"),
            "{message}"
        );
        assert!(
            message.contains("'conv1' (SpectralNormalization) is a Keras built-in"),
            "{message}"
        );
    }

    #[test]
    fn a_long_list_is_cut_short() {
        let layers: Vec<Unrunnable> = (0..12)
            .map(|i| {
                unrunnable(
                    &format!("c{i}"),
                    "SpectralNormalization",
                    Status::Unsupported,
                )
            })
            .collect();
        let message = cannot_run(Path::new("m.keras"), &layers).to_string();
        assert!(
            message.contains("'c7' (SpectralNormalization) and 4 more are"),
            "{message}"
        );
        assert!(!message.contains("'c8'"), "{message}");
    }
}

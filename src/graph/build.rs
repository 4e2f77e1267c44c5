//! [`KerasModel`] → [`Graph`]: resolves every layer call to a node, inlines nested models,
//! infers shapes, checks weights, and orders nodes so that inputs come first.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::layers::{prelu_alpha_shape, translate, Translation, EXTRA_BUILTINS, LAYER_CLASSES};
use super::shape::{expected_weights, infer};
use super::{Graph, Node, NodeId, Op, Weight};
use crate::error::{Error, Result};
use crate::keras::custom::CustomMap;
use crate::keras::{Dialect, KerasModel, LayerConfig, ModelConfig, TensorRef};
use crate::tensor::checked_len;

/// What the user adds to what the file says.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    pub custom: CustomMap,
    /// Per-sample shapes for inputs whose dimensions the model leaves open, by input name.
    pub input_shapes: HashMap<String, Vec<usize>>,
}

/// Largest tensor (in elements per sample) or weight a model may declare.
const MAX_ELEMENTS: usize = 1 << 32;

/// What to do about a config that breaks Keras's own rules.
const MALFORMED: &str = "the model config is malformed: re-save the model with Keras";

/// What to do when the weights do not fit the config.
const WEIGHTS_MISMATCH: &str =
    "the weights do not match the model config: re-save the model, or pass the weights saved from this model with --weights";

/// `bytes` in binary units, for messages about memory.
fn human_bytes(bytes: f64) -> String {
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

/// The memory a float32 tensor of `shape` takes, computed without overflow.
fn float32_bytes(shape: &[usize]) -> f64 {
    shape.iter().map(|&d| d as f64).product::<f64>() * 4.0
}

pub fn build(model: &KerasModel, options: &BuildOptions) -> Result<Graph> {
    let mut builder = Builder {
        path: &model.path,
        dialect: model.dialect,
        options,
        nodes: Vec::new(),
    };
    let inputs_before = builder.nodes.len();
    let outputs = builder.model(&model.model, "", None)?;
    let inputs = (inputs_before..builder.nodes.len())
        .filter(|&i| builder.nodes[i].op == Op::Input)
        .map(NodeId)
        .collect();
    let graph = Graph {
        name: model.model.name.clone(),
        nodes: builder.nodes,
        inputs,
        outputs,
    };
    Ok(prune(graph))
}

struct Builder<'a> {
    path: &'a Path,
    dialect: Dialect,
    options: &'a BuildOptions,
    nodes: Vec<Node>,
}

/// The output tensors of one call of one layer.
type CallOutputs = HashMap<(String, usize), Vec<NodeId>>;

impl Builder<'_> {
    /// Builds one (possibly nested) model. `bound` gives the tensors its inputs are bound to
    /// when it is called from an enclosing model; returns its output nodes.
    fn model(
        &mut self,
        cfg: &ModelConfig,
        prefix: &str,
        bound: Option<&[NodeId]>,
    ) -> Result<Vec<NodeId>> {
        self.check_unique_names(cfg)?;
        if cfg.outputs.is_empty() {
            return Err(self.malformed(format!("model '{}' has no outputs", cfg.name)));
        }
        if cfg.inputs.is_empty() {
            return Err(self.malformed(format!("model '{}' has no inputs", cfg.name)));
        }
        if let Some(ids) = bound {
            if ids.len() != cfg.inputs.len() {
                return Err(self.malformed(format!(
                    "nested model '{}' is called with {} tensor(s) but has {} input(s)",
                    cfg.name,
                    ids.len(),
                    cfg.inputs.len()
                )));
            }
        }
        let mut done: CallOutputs = HashMap::new();
        for (i, input) in cfg.inputs.iter().enumerate() {
            let layer = cfg
                .layer(&input.layer)
                .filter(|l| l.class_name == "InputLayer" && input.node == 0 && input.tensor == 0)
                .ok_or_else(|| {
                    self.malformed(format!(
                        "model '{}' lists input {}, which is not an InputLayer of the model",
                        cfg.name,
                        describe(input)
                    ))
                })?;
            let id = match bound {
                Some(ids) => ids[i],
                None => self.input_node(layer, prefix)?,
            };
            done.insert((layer.name.clone(), 0), vec![id]);
        }
        // Every call of every layer, ordered by Kahn's algorithm, taking the earliest ready call
        // in config order: Keras writes layers in topological order, so that order is kept.
        let calls: Vec<(&LayerConfig, usize)> = cfg
            .layers
            .iter()
            .filter(|l| l.class_name != "InputLayer")
            .flat_map(|l| (0..l.calls.len()).map(move |c| (l, c)))
            .collect();
        let index: HashMap<(&str, usize), usize> = calls
            .iter()
            .enumerate()
            .map(|(i, (l, c))| ((l.name.as_str(), *c), i))
            .collect();
        let mut waiting_on = vec![0usize; calls.len()];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); calls.len()];
        for (i, (layer, call)) in calls.iter().enumerate() {
            for r in &layer.calls[*call] {
                if done.contains_key(&(r.layer.clone(), r.node)) {
                    continue;
                }
                match index.get(&(r.layer.as_str(), r.node)) {
                    Some(&producer) => {
                        waiting_on[i] += 1;
                        dependents[producer].push(i);
                    }
                    None => return Err(self.bad_reference(cfg, layer, r)),
                }
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> = (0..calls.len())
            .filter(|&i| waiting_on[i] == 0)
            .map(Reverse)
            .collect();
        let mut built = 0;
        while let Some(Reverse(i)) = ready.pop() {
            let (layer, call) = calls[i];
            let inputs = layer.calls[call]
                .iter()
                .map(|r| resolve(&done, r).ok_or_else(|| self.bad_tensor(layer, r, &done)))
                .collect::<Result<Vec<_>>>()?;
            let outputs = self.call(layer, call, &inputs, prefix)?;
            done.insert((layer.name.clone(), call), outputs);
            built += 1;
            for &j in &dependents[i] {
                waiting_on[j] -= 1;
                if waiting_on[j] == 0 {
                    ready.push(Reverse(j));
                }
            }
        }
        if built < calls.len() {
            let stuck: Vec<&str> = (0..calls.len())
                .filter(|&i| waiting_on[i] > 0)
                .map(|i| calls[i].0.name.as_str())
                .collect();
            let more = stuck.len().saturating_sub(8);
            return Err(self.malformed(format!(
                "the layers {}{} form a cycle: each waits for another's output",
                stuck[..stuck.len().min(8)].join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )));
        }
        cfg.outputs
            .iter()
            .map(|r| {
                resolve(&done, r).ok_or_else(|| {
                    self.malformed(format!(
                        "model '{}' output {} refers to a tensor no layer produces",
                        cfg.name,
                        describe(r)
                    ))
                })
            })
            .collect()
    }

    /// A format error about the config, with what to do about it.
    fn malformed(&self, detail: String) -> Error {
        Error::format(self.path, format!("{detail}; {MALFORMED}"))
    }

    fn check_unique_names(&self, cfg: &ModelConfig) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        match cfg.layers.iter().find(|l| !seen.insert(l.name.as_str())) {
            Some(dup) => Err(self.malformed(format!(
                "model '{}' has two layers named '{}'",
                cfg.name, dup.name
            ))),
            None => Ok(()),
        }
    }

    /// A call that takes a tensor from a layer, or a call of it, that does not exist.
    fn bad_reference(&self, cfg: &ModelConfig, layer: &LayerConfig, r: &TensorRef) -> Error {
        let detail = match cfg.layer(&r.layer) {
            None => format!(
                "takes input from layer '{}', which is not in the model",
                r.layer
            ),
            Some(src) if src.class_name == "InputLayer" => {
                if cfg.inputs.iter().any(|i| i.layer == r.layer) {
                    format!(
                        "takes input from call {} of InputLayer '{}', which has only call 0",
                        r.node, r.layer
                    )
                } else {
                    format!(
                        "takes input from InputLayer '{}', which is not one of the model's inputs",
                        r.layer
                    )
                }
            }
            Some(src) => format!(
                "takes input from call {} of layer '{}', which is called only {} time(s)",
                r.node,
                r.layer,
                src.calls.len()
            ),
        };
        Error::layer(
            self.path,
            &layer.name,
            layer.display_class(),
            format!("{detail}; {MALFORMED}"),
        )
    }

    /// A call that takes an output index its producer does not have.
    fn bad_tensor(&self, layer: &LayerConfig, r: &TensorRef, done: &CallOutputs) -> Error {
        let outputs = done
            .get(&(r.layer.clone(), r.node))
            .map_or(0, |outs| outs.len());
        Error::layer(
            self.path,
            &layer.name,
            layer.display_class(),
            format!(
                "takes output {} of layer '{}', which has {outputs} output(s); {MALFORMED}",
                r.tensor, r.layer
            ),
        )
    }

    fn input_node(&mut self, layer: &LayerConfig, prefix: &str) -> Result<NodeId> {
        let shape = self.input_shape(layer)?;
        Ok(self.push(Node {
            name: format!("{prefix}{}", layer.name),
            layer: layer.name.clone(),
            class: layer.class_name.clone(),
            op: Op::Input,
            inputs: Vec::new(),
            weights: Vec::new(),
            shape,
        }))
    }

    /// One sample's shape from `batch_shape` / `batch_input_shape` / `shape`, open dimensions
    /// filled from `--input-shape`.
    fn input_shape(&self, layer: &LayerConfig) -> Result<Vec<usize>> {
        let bad = |detail: String| {
            let detail = if detail.contains("; ") {
                detail
            } else {
                format!("{detail}; {MALFORMED}")
            };
            Error::layer(self.path, &layer.name, "InputLayer", detail)
        };
        let (dims, skip) = if let Some(s) = layer
            .config
            .get("batch_shape")
            .or(layer.config.get("batch_input_shape"))
        {
            (s, 1)
        } else if let Some(s) = layer.config.get("shape") {
            (s, 0)
        } else {
            return Err(bad(
                "config has no batch_shape, batch_input_shape or shape".into()
            ));
        };
        let dims = dims
            .as_array()
            .ok_or_else(|| bad(format!("input shape {dims} is not a list")))?;
        let declared: Vec<Option<usize>> = dims
            .iter()
            .skip(skip)
            .map(|d| match d {
                Value::Null => Ok(None),
                v => v
                    .as_u64()
                    .map(|n| Some(n as usize))
                    .ok_or_else(|| bad(format!("input dimension {v} is not a size"))),
            })
            .collect::<Result<_>>()?;
        let shape = match self.options.input_shapes.get(&layer.name) {
            Some(given) => {
                let fits = given.len() == declared.len()
                    && declared
                        .iter()
                        .zip(given)
                        .all(|(d, g)| d.is_none_or(|d| d == *g));
                if !fits {
                    return Err(Error::Input(format!(
                        "--input-shape {}={:?} does not fit the declared shape {}",
                        layer.name,
                        given,
                        describe_dims(&declared)
                    )));
                }
                given.clone()
            }
            None => declared
                .iter()
                .copied()
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    bad(format!(
                    "input shape {} has open dimensions; give them with --input-shape {}=D1,D2,…",
                    describe_dims(&declared),
                    layer.name
                ))
                })?,
        };
        if shape.contains(&0) {
            return Err(bad(format!(
                "input shape {} has a zero-sized dimension; {MALFORMED}",
                describe_dims(&shape.iter().map(|&d| Some(d)).collect::<Vec<_>>())
            )));
        }
        if checked_len(&shape).is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(bad(format!(
                "input shape {} would need {} per sample; refusing to allocate it: {MALFORMED}",
                describe_dims(&shape.iter().map(|&d| Some(d)).collect::<Vec<_>>()),
                human_bytes(float32_bytes(&shape))
            )));
        }
        Ok(shape)
    }

    /// One call of a layer: a node, or (nested model) its inlined subgraph.
    fn call(
        &mut self,
        layer: &LayerConfig,
        call: usize,
        inputs: &[NodeId],
        prefix: &str,
    ) -> Result<Vec<NodeId>> {
        let suffix = if call == 0 {
            String::new()
        } else {
            format!("#{call}")
        };
        if let Some(nested) = &layer.nested {
            let inner_prefix = format!("{prefix}{}{suffix}/", layer.name);
            return self.model(nested, &inner_prefix, Some(inputs));
        }
        let bad =
            |detail: String| Error::layer(self.path, &layer.name, layer.display_class(), detail);
        if inputs.is_empty() {
            return Err(bad(format!("is called on no tensor; {MALFORMED}")));
        }
        let input_shapes: Vec<&[usize]> = inputs
            .iter()
            .map(|id| self.nodes[id.0].shape.as_slice())
            .collect();
        let (op, fixed_shape) = self.translate(layer, input_shapes[0])?;
        let single_input = !matches!(op, Op::Merge(_) | Op::Concatenate { .. });
        if single_input && inputs.len() != 1 {
            return Err(bad(format!(
                "takes one tensor but is called on {}; {MALFORMED}",
                inputs.len()
            )));
        }
        let shape = match fixed_shape {
            Some(shape) => shape,
            None => infer(&op, &input_shapes).map_err(|e| bad(format!("{e}; {MALFORMED}")))?,
        };
        if shape.contains(&0) {
            return Err(bad(format!(
                "output shape {} has a zero-sized dimension; {MALFORMED}",
                describe_dims(&shape.iter().map(|&d| Some(d)).collect::<Vec<_>>())
            )));
        }
        let weights = self.weights(layer, &op, input_shapes[0])?;
        if checked_len(&shape).is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(bad(format!(
                "output shape {} would need {} per sample; refusing to allocate it: {MALFORMED}",
                describe_dims(&shape.iter().map(|&d| Some(d)).collect::<Vec<_>>()),
                human_bytes(float32_bytes(&shape))
            )));
        }
        let id = self.push(Node {
            name: format!("{prefix}{}{suffix}", layer.name),
            layer: layer.name.clone(),
            class: layer.display_class().to_string(),
            op,
            inputs: inputs.to_vec(),
            weights,
            shape,
        });
        Ok(vec![id])
    }

    /// The op for a layer: a custom mapping wins, then the layer's own class.
    fn translate(&self, layer: &LayerConfig, input: &[usize]) -> Result<(Op, Option<Vec<usize>>)> {
        let bad =
            |detail: String| Error::layer(self.path, &layer.name, layer.display_class(), detail);
        let class = self
            .options
            .custom
            .lookup(layer)
            .unwrap_or(&layer.class_name);
        let translated = translate(class, &layer.config, input, self.dialect).map_err(|e| {
            if e.contains("; ") {
                bad(e)
            } else {
                bad(format!("{e}; {MALFORMED}"))
            }
        })?;
        match translated {
            Translation::Op(op, shape) => Ok((op, shape)),
            Translation::Unknown if class != layer.class_name => Err(bad(format!(
                "is mapped to '{class}', which is not a built-in; fix the --custom mapping: built-ins are {}, every activation name, and {}",
                EXTRA_BUILTINS.join(", "),
                LAYER_CLASSES.join(", ")
            ))),
            Translation::Unknown if layer.class_name == "Lambda" => Err(bad(format!(
                "Lambda layers hold Python code, which keqv never runs; if it computes a built-in op, map it with --custom {}=BUILTIN (for example l2_normalize, identity, relu)",
                layer.name
            ))),
            Translation::Unknown => Err(bad(format!(
                "unknown layer class; map it to a built-in with --custom {}=BUILTIN (for example l2_normalize, identity, relu, or a Keras layer class such as Dense)",
                layer.registered_name.as_deref().map_or(layer.class_name.as_str(), |r| r.split('>').next_back().unwrap_or(r))
            ))),
        }
    }

    /// The layer's weights, checked against what the op needs.
    fn weights(&self, layer: &LayerConfig, op: &Op, input: &[usize]) -> Result<Vec<Weight>> {
        let bad =
            |detail: String| Error::layer(self.path, &layer.name, layer.display_class(), detail);
        let expected: Vec<(&str, Vec<usize>)> = match op {
            Op::PRelu => vec![(
                "alpha",
                prelu_alpha_shape(&layer.config, input)
                    .map_err(|e| bad(format!("{e}; {MALFORMED}")))?,
            )],
            _ => expected_weights(op, input),
        };
        for (name, shape) in &expected {
            if checked_len(shape).is_none_or(|n| n > MAX_ELEMENTS) {
                return Err(bad(format!(
                    "weight '{name}' would have shape {shape:?}, which needs {} of memory; refusing to allocate it: {MALFORMED}",
                    human_bytes(float32_bytes(shape))
                )));
            }
        }
        if layer.weights.len() != expected.len() {
            let names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
            let detail = if layer.weights.is_empty() {
                format!(
                    "the file has no weights for this layer, which needs {}; {WEIGHTS_MISMATCH}",
                    names.join(", ")
                )
            } else {
                format!(
                    "the file has {} weight(s) for this layer, the config needs {} ({}); {WEIGHTS_MISMATCH}",
                    layer.weights.len(),
                    expected.len(),
                    names.join(", ")
                )
            };
            return Err(bad(detail));
        }
        layer
            .weights
            .iter()
            .zip(&expected)
            .map(|(w, (name, shape))| {
                if w.value.shape() != shape.as_slice() {
                    return Err(bad(format!(
                        "weight '{name}' has shape {:?} in the file, the config needs {:?}; {WEIGHTS_MISMATCH}",
                        w.value.shape(),
                        shape
                    )));
                }
                Ok(Weight {
                    name: name.to_string(),
                    value: Arc::new(w.value.clone()),
                })
            })
            .collect()
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        NodeId(self.nodes.len() - 1)
    }
}

/// Shares one `Arc` per layer across the calls of a shared layer.
fn share_weights(graph: &mut Graph) {
    let mut by_layer: HashMap<String, Vec<Weight>> = HashMap::new();
    for node in &mut graph.nodes {
        if node.weights.is_empty() {
            continue;
        }
        let key = node
            .name
            .split('#')
            .next()
            .unwrap_or(&node.name)
            .to_string();
        match by_layer.get(&key) {
            Some(first) => node.weights = first.clone(),
            None => {
                by_layer.insert(key, node.weights.clone());
            }
        }
    }
}

fn resolve(done: &CallOutputs, r: &TensorRef) -> Option<NodeId> {
    done.get(&(r.layer.clone(), r.node))
        .and_then(|outs| outs.get(r.tensor))
        .copied()
}

fn describe(r: &TensorRef) -> String {
    format!("['{}', {}, {}]", r.layer, r.node, r.tensor)
}

fn describe_dims(dims: &[Option<usize>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or("None".into(), |d| d.to_string()))
        .collect();
    format!("(None, {})", parts.join(", "))
}

/// Drops nodes no output depends on and renumbers the rest, keeping their order.
fn prune(mut graph: Graph) -> Graph {
    share_weights(&mut graph);
    let mut live = vec![false; graph.nodes.len()];
    for id in &graph.outputs {
        live[id.0] = true;
    }
    for i in (0..graph.nodes.len()).rev() {
        if live[i] {
            for input in &graph.nodes[i].inputs {
                live[input.0] = true;
            }
        }
    }
    // Model inputs stay even if unused: callers still pass them.
    for id in &graph.inputs {
        live[id.0] = true;
    }
    let mut new_id = vec![usize::MAX; graph.nodes.len()];
    let mut nodes = Vec::new();
    for (i, mut node) in graph.nodes.into_iter().enumerate() {
        if live[i] {
            node.inputs
                .iter_mut()
                .for_each(|id| *id = NodeId(new_id[id.0]));
            new_id[i] = nodes.len();
            nodes.push(node);
        }
    }
    let remap = |ids: &[NodeId]| ids.iter().map(|id| NodeId(new_id[id.0])).collect();
    Graph {
        name: graph.name,
        inputs: remap(&graph.inputs),
        outputs: remap(&graph.outputs),
        nodes,
    }
}

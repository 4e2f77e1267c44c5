//! [`KerasModel`] → [`Graph`]: resolves every layer call to a node, inlines nested models,
//! infers shapes, checks weights, and orders nodes so that inputs come first.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use ndarray::IxDyn;
use serde_json::Value;

use super::layers::{prelu_alpha_shape, translate, Translation};
use super::open_inputs::{join_dims, DeclaredInput};
use super::shape::{expected_weights, infer};
use super::support::{cannot_run, classify, Findings, OpenInput, Status};
use super::{Graph, MappingUse, Node, NodeId, Op, Weight};
use crate::error::{human_bytes, Error, Result};
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

/// Most layer calls a graph may expand to, nested models inlined (every call of a nested model
/// counts too, even one that adds no node): far beyond any real Keras model, and small enough
/// that a few kilobytes of config nesting models that call each other many times cannot make
/// the build run for minutes or take gigabytes.
const MAX_CALLS: usize = 1 << 16;

/// Most bytes all node names may take together (each holds the names of its enclosing models).
const MAX_NAME_BYTES: usize = 64 << 20;

/// What to do about a config that breaks Keras's own rules.
const MALFORMED: &str = "the model config is malformed: re-save the model with Keras";

/// What to do when the weights do not fit the config.
const WEIGHTS_MISMATCH: &str =
    "the weights do not match the model config: re-save the model, or pass the weights saved from this model with --weights";

/// The name of call `call` of a layer inside `prefix` (nested models' names and a slash):
/// `outer/dense`, and `dense#1` for a shared layer's second call. A nested model's own layers
/// take this name and a slash as their prefix.
pub(crate) fn call_name(prefix: &str, layer: &str, call: usize) -> String {
    if call == 0 {
        format!("{prefix}{layer}")
    } else {
        format!("{prefix}{layer}#{call}")
    }
}

/// The memory a float32 tensor of `shape` takes, computed without overflow.
fn float32_bytes(shape: &[usize]) -> f64 {
    shape.iter().map(|&d| d as f64).product::<f64>() * 4.0
}

pub fn build(model: &KerasModel, options: &BuildOptions) -> Result<Graph> {
    build_inner(model, options, None)
}

/// A graph only when every layer runs; else one error naming every layer that cannot.
fn build_inner(
    model: &KerasModel,
    options: &BuildOptions,
    placeholder_budget: Option<usize>,
) -> Result<Graph> {
    let (graph, findings) = build_parts(model, options, placeholder_budget, false)?;
    if !findings.unrunnable.is_empty() {
        return Err(cannot_run(&model.path, &findings.unrunnable));
    }
    Ok(graph)
}

/// [`build`] for a model whose layers may lack weights (a bare config, a fuzz input): each
/// layer the file gives no weights gets zero-filled ones of the shapes its config needs,
/// `max_elements` in all at most (beyond that, an error). Layers that do have weights are
/// checked as [`build`] checks them.
pub fn build_with_placeholder_weights(
    model: &KerasModel,
    options: &BuildOptions,
    max_elements: usize,
) -> Result<Graph> {
    build_inner(model, options, Some(max_elements))
}

/// The graph and what the build learnt. Layers that cannot run become placeholder nodes
/// (listed in the findings, as is everything downstream of them), so every one of them is
/// found; with `survey`, so do inputs whose open dimensions nothing settles. A graph with
/// placeholders must never be run.
pub(crate) fn build_parts(
    model: &KerasModel,
    options: &BuildOptions,
    placeholder_budget: Option<usize>,
    survey: bool,
) -> Result<(Graph, Findings)> {
    let mut builder = Builder {
        path: &model.path,
        dialect: model.dialect,
        options,
        nodes: Vec::new(),
        placeholder_budget: Cell::new(placeholder_budget),
        names: HashSet::new(),
        name_bytes: 0,
        calls: 0,
        shared: RefCell::new(HashMap::new()),
        mapped: vec![Vec::new(); options.custom.entries().len()],
        survey,
        findings: Findings::default(),
    };
    let inputs_before = builder.nodes.len();
    let outputs = builder.model(&model.model, "", None)?;
    let inputs = (inputs_before..builder.nodes.len())
        .filter(|&i| builder.nodes[i].op == Op::Input)
        .map(NodeId)
        .collect();
    let mappings = options
        .custom
        .entries()
        .iter()
        .zip(builder.mapped)
        .map(|(mapping, layers)| MappingUse {
            mapping: mapping.clone(),
            layers,
        })
        .collect();
    let graph = Graph {
        name: model.model.name.clone(),
        nodes: builder.nodes,
        inputs,
        outputs,
        mappings,
    };
    Ok((prune(graph), builder.findings))
}

struct Builder<'a> {
    path: &'a Path,
    dialect: Dialect,
    options: &'a BuildOptions,
    nodes: Vec<Node>,
    /// Elements of zero-filled weights still allowed for layers the file gives none
    /// ([`build_with_placeholder_weights`]); None: missing weights are an error.
    placeholder_budget: Cell<Option<usize>>,
    /// Node names so far, which must be unique.
    names: HashSet<String>,
    /// Bytes of node names so far.
    name_bytes: usize,
    /// Layer calls so far, nested models' included ([`MAX_CALLS`]).
    calls: usize,
    /// The weights of each layer already called, by the layer's address in the model: every
    /// call of a shared layer (or of a layer inside a model called several times) gets the same
    /// `Arc`s.
    shared: RefCell<HashMap<*const LayerConfig, Vec<Weight>>>,
    /// For each custom mapping, the nodes it turned into a built-in.
    mapped: Vec<Vec<String>>,
    /// Whether inputs whose open dimensions nothing settles become placeholders ([`build_parts`]).
    survey: bool,
    findings: Findings,
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
        let mut listed = HashSet::new();
        if let Some((i, input)) = cfg
            .inputs
            .iter()
            .enumerate()
            .find(|(_, r)| !listed.insert(*r))
        {
            return Err(self.malformed(format!(
                "model '{}' lists input {} twice (inputs {} and {})",
                cfg.name,
                describe(input),
                cfg.inputs.iter().position(|r| r == input).unwrap_or(0),
                i
            )));
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
        let name = format!("{prefix}{}", layer.name);
        let shape = match self.input_shape(layer)? {
            Ok(shape) => shape,
            Err(open) => {
                self.findings.unknown.insert(name.clone());
                self.findings.open_inputs.push(open);
                Vec::new()
            }
        };
        self.push(Node {
            name,
            layer: layer.name.clone(),
            class: layer.class_name.clone(),
            op: Op::Input,
            inputs: Vec::new(),
            weights: Vec::new(),
            shape,
        })
    }

    /// One sample's shape from `batch_shape` / `batch_input_shape` / `shape`, open dimensions
    /// filled from `--input-shape` (or what settled them: see [`super::open_inputs`]). In a
    /// survey, an input whose open dimensions nothing settled is `Ok(Err(_))`.
    fn input_shape(
        &self,
        layer: &LayerConfig,
    ) -> Result<std::result::Result<Vec<usize>, OpenInput>> {
        let bad = |detail: String| {
            let detail = if detail.contains("; ") {
                detail
            } else {
                format!("{detail}; {MALFORMED}")
            };
            Error::layer(self.path, &layer.name, "InputLayer", detail)
        };
        let declared = DeclaredInput {
            name: layer.name.clone(),
            dims: declared_dims(layer).map_err(bad)?,
        };
        let shape = match self.options.input_shapes.get(&layer.name) {
            Some(given) => {
                if !declared.fits(given) {
                    return Err(Error::Usage(format!(
                        "--input-shape {}={}: {}",
                        layer.name,
                        join_dims(given),
                        declared.needs()
                    )));
                }
                given.clone()
            }
            None => match declared.dims.iter().copied().collect::<Option<Vec<_>>>() {
                Some(shape) => shape,
                None => {
                    let advice = format!(
                        "{}; pass --input-shape {}",
                        declared.leaves_open(),
                        declared.template()
                    );
                    if !self.survey {
                        return Err(bad(advice));
                    }
                    return Ok(Err(OpenInput {
                        name: layer.name.clone(),
                        dims: declared.dims,
                        advice,
                    }));
                }
            },
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
        Ok(Ok(shape))
    }

    /// One call of a layer: a node, or (nested model) its inlined subgraph.
    fn call(
        &mut self,
        layer: &LayerConfig,
        call: usize,
        inputs: &[NodeId],
        prefix: &str,
    ) -> Result<Vec<NodeId>> {
        let name = call_name(prefix, &layer.name, call);
        if let Some(nested) = &layer.nested {
            self.count_call()?;
            return self.model(nested, &format!("{name}/"), Some(inputs));
        }
        let bad =
            |detail: String| Error::layer(self.path, &layer.name, layer.display_class(), detail);
        if inputs.is_empty() {
            return Err(bad(format!("is called on no tensor; {MALFORMED}")));
        }
        let status = self.support(layer, &name)?;
        if !status.runs() || inputs.iter().any(|id| self.is_unknown(*id)) {
            return self.placeholder(layer, name, inputs, status);
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
        self.findings.status.insert(name.clone(), status);
        let id = self.push(Node {
            name,
            layer: layer.name.clone(),
            class: layer.display_class().to_string(),
            op,
            inputs: inputs.to_vec(),
            weights,
            shape,
        })?;
        Ok(vec![id])
    }

    /// Whether keqv runs a layer (mapped or as it is), recording the mapping used and a layer
    /// it cannot run; a mapping to a name that is not a built-in is an error.
    fn support(&mut self, layer: &LayerConfig, name: &str) -> Result<Status> {
        let (status, mapping) = classify(layer, &self.options.custom).map_err(|detail| {
            Error::layer(self.path, &layer.name, layer.display_class(), detail)
        })?;
        if let Some(i) = mapping {
            self.mapped[i].push(name.to_string());
        }
        if !status.runs() {
            self.findings.report(name, layer, &status);
        }
        Ok(status)
    }

    fn is_unknown(&self, id: NodeId) -> bool {
        self.findings.unknown.contains(&self.nodes[id.0].name)
    }

    /// A node standing in for a layer keqv cannot run, or one whose inputs' shapes are unknown:
    /// no op, no shape, and the file's weights as they are. Its graph must never be run.
    fn placeholder(
        &mut self,
        layer: &LayerConfig,
        name: String,
        inputs: &[NodeId],
        status: Status,
    ) -> Result<Vec<NodeId>> {
        self.findings.unknown.insert(name.clone());
        self.findings.status.insert(name.clone(), status);
        let weights = layer
            .weights
            .iter()
            .map(|w| Weight {
                name: w.name.clone(),
                value: w.value.clone(),
            })
            .collect();
        let id = self.push(Node {
            name,
            layer: layer.name.clone(),
            class: layer.display_class().to_string(),
            op: Op::Identity,
            inputs: inputs.to_vec(),
            weights,
            shape: Vec::new(),
        })?;
        Ok(vec![id])
    }

    /// The op for a layer keqv runs: its mapping's built-in, else its own class.
    fn translate(&self, layer: &LayerConfig, input: &[usize]) -> Result<(Op, Option<Vec<usize>>)> {
        let bad =
            |detail: String| Error::layer(self.path, &layer.name, layer.display_class(), detail);
        let class = self
            .options
            .custom
            .lookup(layer)
            .map_or(layer.class_name.as_str(), |(_, m)| m.builtin.as_str());
        let translated = translate(class, &layer.config, input, self.dialect).map_err(|e| {
            if e.contains("; ") {
                bad(e)
            } else {
                bad(format!("{e}; {MALFORMED}"))
            }
        })?;
        match translated {
            Translation::Op(op, shape) => Ok((op, shape)),
            Translation::Unknown => Err(bad(format!(
                "class '{class}' has no op in keqv; {MALFORMED}"
            ))),
        }
    }

    /// The layer's weights, checked against what the op needs.
    fn weights(&self, layer: &LayerConfig, op: &Op, input: &[usize]) -> Result<Vec<Weight>> {
        let path = self.path;
        let bad = |detail: String| Error::layer(path, &layer.name, layer.display_class(), detail);
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
        // Another call of a layer already built: the same variables, which must fit this call.
        let key: *const LayerConfig = layer;
        if let Some(shared) = self.shared.borrow().get(&key) {
            for (w, (name, shape)) in shared.iter().zip(&expected) {
                if w.value.shape() != shape.as_slice() {
                    return Err(bad(format!(
                        "weight '{name}' has shape {:?}, but this call of the layer needs {shape:?} (a shared layer called on inputs of different shapes); {MALFORMED}",
                        w.value.shape()
                    )));
                }
            }
            return Ok(shared.clone());
        }
        let weights = self.first_weights(layer, expected, &bad)?;
        self.shared.borrow_mut().insert(key, weights.clone());
        Ok(weights)
    }

    /// The weights of a layer's first call: the file's, checked, or placeholders.
    fn first_weights(
        &self,
        layer: &LayerConfig,
        expected: Vec<(&str, Vec<usize>)>,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<Vec<Weight>> {
        if layer.weights.is_empty() && !expected.is_empty() {
            if let Some(budget) = self.placeholder_budget.get() {
                let needed = expected
                    .iter()
                    .map(|(_, shape)| checked_len(shape).unwrap_or(usize::MAX))
                    .fold(0usize, usize::saturating_add);
                if needed > budget {
                    return Err(bad(format!(
                        "placeholder weights would need {needed} more values, over the limit; {MALFORMED}"
                    )));
                }
                self.placeholder_budget.set(Some(budget - needed));
                return Ok(expected
                    .into_iter()
                    .map(|(name, shape)| Weight {
                        name: name.to_string(),
                        value: Arc::new(crate::tensor::Tensor::zeros(IxDyn(&shape))),
                    })
                    .collect());
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
                    value: w.value.clone(),
                })
            })
            .collect()
    }

    /// Counts one layer call (a node, or a call of a nested model) against [`MAX_CALLS`].
    fn count_call(&mut self) -> Result<()> {
        self.calls += 1;
        if self.calls > MAX_CALLS {
            return Err(self.malformed(format!(
                "the model expands to more than {MAX_CALLS} layer calls (nested models called many times each)"
            )));
        }
        Ok(())
    }

    /// Adds a node, refusing a second node of the same name (a layer named `a#1` next to a
    /// shared layer `a`, or `outer/x` next to a nested model `outer`) and graphs that nested
    /// models called many times each would blow up beyond any real model.
    fn push(&mut self, node: Node) -> Result<NodeId> {
        self.count_call()?;
        self.name_bytes = self.name_bytes.saturating_add(node.name.len());
        if self.name_bytes > MAX_NAME_BYTES {
            return Err(self.malformed(format!(
                "the names of the model's layer calls take more than {} (long names nested many times)",
                human_bytes(MAX_NAME_BYTES as f64)
            )));
        }
        if !self.names.insert(node.name.clone()) {
            return Err(Error::layer(
                self.path,
                &node.layer,
                &node.class,
                format!(
                    "is called '{}' in the graph, as is another layer call (a '/' or '#' in a layer name clashes with keqv's names for nested and repeated calls); rename the layer and re-save the model",
                    node.name
                ),
            ));
        }
        self.nodes.push(node);
        Ok(NodeId(self.nodes.len() - 1))
    }
}

fn resolve(done: &CallOutputs, r: &TensorRef) -> Option<NodeId> {
    done.get(&(r.layer.clone(), r.node))
        .and_then(|outs| outs.get(r.tensor))
        .copied()
}

/// The per-sample dimensions an InputLayer declares (`batch_shape` / `batch_input_shape`
/// without the batch, or `shape`), None where it leaves one open.
pub(crate) fn declared_dims(
    layer: &LayerConfig,
) -> std::result::Result<Vec<Option<usize>>, String> {
    let (dims, skip) = if let Some(s) = layer
        .config
        .get("batch_shape")
        .or(layer.config.get("batch_input_shape"))
    {
        (s, 1)
    } else if let Some(s) = layer.config.get("shape") {
        (s, 0)
    } else {
        return Err("config has no batch_shape, batch_input_shape or shape".into());
    };
    let dims = dims
        .as_array()
        .ok_or_else(|| format!("input shape {dims} is not a list"))?;
    dims.iter()
        .skip(skip)
        .map(|d| match d {
            Value::Null => Ok(None),
            v => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| format!("input dimension {v} is not a size")),
        })
        .collect()
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
fn prune(graph: Graph) -> Graph {
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
        mappings: graph.mappings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keras::config::parse_model;
    use crate::keras::{Format, NamedTensor};
    use crate::tensor::Tensor;
    use serde_json::json;

    fn tensor_ref(layer: &str, node: usize) -> Value {
        json!({"class_name": "__keras_tensor__", "config": {"keras_history": [layer, node, 0]}})
    }

    fn dense(name: &str, from: &str, node: usize) -> Value {
        json!({"class_name": "Dense", "name": name,
               "config": {"name": name, "units": 4, "use_bias": false},
               "inbound_nodes": [{"args": [tensor_ref(from, node)], "kwargs": {}}]})
    }

    fn input(name: &str) -> Value {
        json!({"class_name": "InputLayer", "name": name,
               "config": {"name": name, "batch_shape": [null, 4]}, "inbound_nodes": []})
    }

    fn keras_model(config: &Value) -> KerasModel {
        let path = Path::new("test.keras");
        KerasModel {
            path: path.to_path_buf(),
            format: Format::Keras,
            dialect: Dialect::Keras3,
            keras_version: None,
            backend: None,
            model: parse_model(config, Dialect::Keras3, path).unwrap(),
            raw_config: Value::Null,
            warnings: Vec::new(),
            weights_file: None,
        }
    }

    /// A nested model with two weighted layers, called twice: each call of each inner layer
    /// gets that layer's own weights.
    #[test]
    fn calls_of_a_nested_model_keep_each_layers_weights() {
        let inner = json!({"class_name": "Functional", "name": "inner", "config": {
            "name": "inner",
            "layers": [input("x"), dense("d1", "x", 0), dense("d2", "d1", 0)],
            "input_layers": [["x", 0, 0]], "output_layers": [["d2", 0, 0]]},
            "inbound_nodes": [
                {"args": [tensor_ref("a", 0)], "kwargs": {}},
                {"args": [tensor_ref("inner", 0)], "kwargs": {}}]});
        let config = json!({"class_name": "Functional", "config": {
            "name": "outer", "layers": [input("a"), inner],
            "input_layers": [["a", 0, 0]], "output_layers": [["inner", 1, 0]]}});
        let mut model = keras_model(&config);
        let nested = model.model.layers[1].nested.as_mut().unwrap();
        for (i, layer) in nested.layers.iter_mut().skip(1).enumerate() {
            layer.weights = vec![NamedTensor {
                name: "kernel".into(),
                value: Arc::new(Tensor::from_elem(IxDyn(&[4, 4]), i as f32 + 1.0)),
            }];
        }
        let graph = build(&model, &BuildOptions::default()).unwrap();
        for (node, value) in [
            ("inner/d1", 1.0),
            ("inner/d2", 2.0),
            ("inner#1/d1", 1.0),
            ("inner#1/d2", 2.0),
        ] {
            let id = graph.find(node).unwrap_or_else(|| panic!("no node {node}"));
            assert_eq!(graph.node(id).weight(0)[[0, 0]], value, "{node}");
        }
        let d2 = graph.node(graph.find("inner/d2").unwrap());
        let d2_again = graph.node(graph.find("inner#1/d2").unwrap());
        assert!(Arc::ptr_eq(
            &d2.weights[0].value,
            &d2_again.weights[0].value
        ));
    }

    /// A layer literally named `d#1` next to a shared layer `d` would give two nodes one name.
    #[test]
    fn refuses_node_names_that_clash() {
        let shared = json!({"class_name": "Dense", "name": "d",
            "config": {"name": "d", "units": 4, "use_bias": false},
            "inbound_nodes": [
                {"args": [tensor_ref("a", 0)], "kwargs": {}},
                {"args": [tensor_ref("d", 0)], "kwargs": {}}]});
        let config = json!({"class_name": "Functional", "config": {
            "name": "m", "layers": [input("a"), shared, dense("d#1", "d", 1)],
            "input_layers": [["a", 0, 0]], "output_layers": [["d#1", 0, 0]]}});
        let model = keras_model(&config);
        let err = build_with_placeholder_weights(&model, &BuildOptions::default(), 1 << 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is called 'd#1' in the graph"), "{err}");
    }
}

//! [`KerasModel`] → [`Graph`]: resolves every layer call to a node, inlines nested models,
//! infers shapes, checks weights, and orders nodes so that inputs come first.
//!
//! `inputs.rs` builds input nodes and their shapes, `layer.rs` one call of one layer (op,
//! weights, the layers keqv cannot run), `prune.rs` drops what no output needs.

mod inputs;
mod layer;
mod prune;
#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use ndarray::IxDyn;
use serde_json::Value;

use super::open_inputs::{join_dims, DeclaredInput};
use super::support::{cannot_run, classify, Findings, OpenInput, Status};
use super::{Graph, MappingUse, Node, NodeId, Op, Weight};
use crate::error::{human_bytes, Error, Result};
use crate::keras::custom::CustomMap;
use crate::keras::{Dialect, KerasModel, LayerConfig, ModelConfig, TensorRef};
use crate::ops::registry::translate;
use crate::ops::WeightSpec;
use crate::tensor::{checked_len, describe_sample_shape};

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
}

fn resolve(done: &CallOutputs, r: &TensorRef) -> Option<NodeId> {
    done.get(&(r.layer.clone(), r.node))
        .and_then(|outs| outs.get(r.tensor))
        .copied()
}

fn describe(r: &TensorRef) -> String {
    format!("['{}', {}, {}]", r.layer, r.node, r.tensor)
}

pub(crate) use inputs::declared_dims;
use prune::prune;

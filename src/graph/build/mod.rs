//! [`KerasModel`] → [`Graph`]: resolves every layer call to a node, inlines nested models,
//! infers shapes, checks weights, and orders nodes so that inputs come first.
//!
//! The calls are walked by [`crate::keras::calls`]; `inputs.rs` builds input nodes and their
//! shapes, `layer.rs` one call of one layer (op, weights, the layers keqv cannot run),
//! `keywords.rs` a call that takes keyword tensors, `prune.rs` drops what no output needs.

mod attention;
mod einsum;
mod inputs;
mod keywords;
mod layer;
mod masks;
mod prune;
mod recurrent;
#[cfg(test)]
mod tests;
mod wrappers;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use ndarray::IxDyn;
use serde_json::Value;

use super::open_inputs::{join_dims, DeclaredInput};
use super::support::{cannot_run, classify, Findings, OpenInput, Status};
use super::{Graph, MappingUse, Node, NodeId, Op, Weight};
use crate::error::{human_bytes, Error, Result};
use crate::keras::calls::{walk, CallArgs, Visitor, MALFORMED};
use crate::keras::custom::CustomMap;
use crate::keras::{Dialect, KerasModel, LayerConfig, ModelConfig};
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
        masks: HashMap::new(),
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
    /// The mask node of each node whose output carries a Keras mask (`masks.rs`).
    masks: HashMap<NodeId, NodeId>,
}

impl Builder<'_> {
    /// Builds one (possibly nested) model. `bound` gives the tensors its inputs are bound to
    /// when it is called from an enclosing model; returns its output nodes.
    fn model(
        &mut self,
        cfg: &ModelConfig,
        prefix: &str,
        bound: Option<&[NodeId]>,
    ) -> Result<Vec<NodeId>> {
        let path = self.path;
        walk(path, cfg, prefix, bound, self)
    }

    /// A format error about the config, with what to do about it.
    fn malformed(&self, detail: String) -> Error {
        Error::format(self.path, format!("{detail}; {MALFORMED}"))
    }
}

impl<'m> Visitor<'m> for Builder<'_> {
    type Value = NodeId;

    fn input(&mut self, layer: &'m LayerConfig, prefix: &str) -> Result<NodeId> {
        self.input_node(layer, prefix)
    }

    fn layer_call(
        &mut self,
        layer: &'m LayerConfig,
        call: usize,
        args: CallArgs<'m, NodeId>,
        prefix: &str,
    ) -> Result<Vec<NodeId>> {
        if attention::is_attention(layer) && layer.nested.is_none() {
            self.attention_call(layer, call, &args, prefix)
        } else if args.keywords.is_empty() {
            self.call(layer, call, &args.args, prefix)
        } else {
            self.keyword_call(layer, call, &args, prefix)
        }
    }
}

pub(crate) use inputs::declared_dims;
use masks::MaskArg;
use prune::prune;

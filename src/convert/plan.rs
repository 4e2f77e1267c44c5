//! From a model config to a Sequential plan: resolves every layer call into a node (inlining
//! nested models, whose nodes are named `outer/inner` as in the graph), asks
//! [`crate::graph::linear::problems`] whether the result is a chain, and if it is, lists its
//! layers in order.
//!
//! This works on the config alone, without ops or shapes, so models that keqv cannot run (a
//! Lambda layer, an unmapped custom layer) can still be analysed and converted.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::graph::build::call_name;
use crate::graph::linear::{problems, TopoNode, Topology};
use crate::keras::{KerasModel, LayerConfig, ModelConfig, TensorRef};

/// A chain, ready to be written as a Sequential model.
#[derive(Debug)]
pub struct Plan<'m> {
    /// The InputLayer of the outermost model.
    pub input: &'m LayerConfig,
    /// The layers after the input, in order, nested models flattened.
    pub steps: Vec<Step<'m>>,
}

#[derive(Debug)]
pub struct Step<'m> {
    /// The node's name in the graph (`inner/inner_d1` for a layer of a nested model).
    pub node: String,
    pub layer: &'m LayerConfig,
}

/// What the analysis concluded.
#[derive(Debug)]
pub enum Analysis<'m> {
    Chain(Plan<'m>),
    /// Every reason the model cannot be a Sequential model, in plain words.
    NotChain(Vec<String>),
}

/// Analyses a model; a model whose calls cannot be resolved at all is an error.
pub fn analyze(model: &KerasModel) -> Result<Analysis<'_>> {
    let mut walker = Walker {
        path: &model.path,
        topo: Topology::default(),
        layers: Vec::new(),
    };
    let outputs = walker.model(&model.model, "", None)?;
    walker.topo.outputs = outputs;
    walker.topo.inputs = (0..walker.topo.nodes.len())
        .filter(|&i| walker.topo.nodes[i].is_input)
        .collect();
    let Walker { topo, layers, .. } = walker;
    let mut found = problems(&topo);
    if found.is_empty() {
        found.extend(duplicate_names(&topo, &layers));
    }
    if !found.is_empty() {
        return Ok(Analysis::NotChain(found));
    }
    let input = topo.inputs[0];
    let steps = topo
        .nodes
        .iter()
        .zip(&layers)
        .enumerate()
        .filter(|(i, _)| *i != input)
        .map(|(_, (node, layer))| Step {
            node: node.name.clone(),
            layer,
        })
        .collect();
    Ok(Analysis::Chain(Plan {
        input: layers[input],
        steps,
    }))
}

/// Flattening puts the layers of nested models next to the outer ones; a Sequential model
/// needs their names to differ.
fn duplicate_names(topo: &Topology, layers: &[&LayerConfig]) -> Vec<String> {
    let mut by_name: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut order = Vec::new();
    for (node, layer) in topo.nodes.iter().zip(layers) {
        let nodes = by_name.entry(layer.name.as_str()).or_default();
        if nodes.is_empty() {
            order.push(layer.name.as_str());
        }
        nodes.push(node.name.as_str());
    }
    order
        .into_iter()
        .filter(|name| by_name[name].len() > 1)
        .map(|name| {
            format!(
                "{} are all named '{name}' once nested models are flattened; a Sequential model needs unique layer names",
                by_name[name].join(", ")
            )
        })
        .collect()
}

struct Walker<'m> {
    path: &'m Path,
    topo: Topology,
    /// The layer behind each node.
    layers: Vec<&'m LayerConfig>,
}

/// The output nodes of one call of one layer.
type CallOutputs = HashMap<(String, usize), Vec<usize>>;

impl<'m> Walker<'m> {
    /// One (possibly nested) model; `bound` are the nodes its inputs are bound to when it is
    /// called from an enclosing model. Returns its output nodes.
    fn model(
        &mut self,
        cfg: &'m ModelConfig,
        prefix: &str,
        bound: Option<&[usize]>,
    ) -> Result<Vec<usize>> {
        let mut done: CallOutputs = HashMap::new();
        for (i, input) in cfg.inputs.iter().enumerate() {
            let layer = cfg
                .layer(&input.layer)
                .filter(|l| l.class_name == "InputLayer")
                .ok_or_else(|| {
                    self.bad(format!(
                        "model '{}' lists input '{}', which is not an InputLayer of the model",
                        cfg.name, input.layer
                    ))
                })?;
            let id = match bound {
                Some(ids) => *ids.get(i).ok_or_else(|| {
                    self.bad(format!(
                        "nested model '{}' is called with {} tensors but has {} inputs",
                        cfg.name,
                        ids.len(),
                        cfg.inputs.len()
                    ))
                })?,
                None => self.push(format!("{prefix}{}", layer.name), Vec::new(), layer),
            };
            done.insert((layer.name.clone(), 0), vec![id]);
        }
        let mut pending: Vec<(&'m LayerConfig, usize)> = cfg
            .layers
            .iter()
            .filter(|l| l.class_name != "InputLayer")
            .flat_map(|l| (0..l.calls.len()).map(move |c| (l, c)))
            .collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut waiting = Vec::new();
            for (layer, call) in pending {
                let inputs = layer.calls[call]
                    .iter()
                    .map(|r| resolve(&done, r))
                    .collect::<Option<Vec<_>>>();
                match inputs {
                    Some(inputs) => {
                        let outputs = self.call(layer, call, inputs, prefix)?;
                        done.insert((layer.name.clone(), call), outputs);
                    }
                    None => waiting.push((layer, call)),
                }
            }
            if waiting.len() == before {
                let names: Vec<&str> = waiting.iter().map(|(l, _)| l.name.as_str()).collect();
                return Err(self.bad(format!(
                    "in model '{}', the calls of {} take tensors that no layer produces (a bad reference or a cycle)",
                    cfg.name,
                    names.join(", ")
                )));
            }
            pending = waiting;
        }
        cfg.outputs
            .iter()
            .map(|r| {
                resolve(&done, r).ok_or_else(|| {
                    self.bad(format!(
                        "model '{}' output ['{}', {}, {}] refers to a tensor no layer produces",
                        cfg.name, r.layer, r.node, r.tensor
                    ))
                })
            })
            .collect()
    }

    fn call(
        &mut self,
        layer: &'m LayerConfig,
        call: usize,
        inputs: Vec<usize>,
        prefix: &str,
    ) -> Result<Vec<usize>> {
        let name = call_name(prefix, &layer.name, call);
        match &layer.nested {
            Some(nested) => self.model(nested, &format!("{name}/"), Some(&inputs)),
            None => Ok(vec![self.push(name, inputs, layer)]),
        }
    }

    fn push(&mut self, name: String, inputs: Vec<usize>, layer: &'m LayerConfig) -> usize {
        let is_input = inputs.is_empty() && layer.class_name == "InputLayer";
        self.topo.nodes.push(TopoNode {
            name,
            inputs,
            is_input,
        });
        self.layers.push(layer);
        self.topo.nodes.len() - 1
    }

    fn bad(&self, detail: String) -> Error {
        Error::format(self.path, detail)
    }
}

fn resolve(done: &CallOutputs, r: &TensorRef) -> Option<usize> {
    done.get(&(r.layer.clone(), r.node))
        .and_then(|outs| outs.get(r.tensor))
        .copied()
}

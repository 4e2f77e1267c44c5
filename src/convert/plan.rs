//! From a model config to a Sequential plan: turns every layer call into a node through
//! [`crate::keras::calls`], the walk the graph builder takes too (inlining nested models, whose
//! nodes are named `outer/inner` as in the graph; a keyword tensor is one more input), asks
//! [`crate::graph::linear::problems`] whether the result is a chain, and if it is, lists its
//! layers in order.
//!
//! This works on the config alone, without ops or shapes, so models that keqv cannot run (a
//! Lambda layer, an unmapped custom layer) can still be analysed and converted.

use std::collections::HashMap;
use std::path::Path;

pub use super::blocks::Outlet;
use crate::error::Result;
use crate::graph::build::call_name;
use crate::graph::linear::{problems, TopoNode, Topology};
use crate::keras::calls::{walk, CallArgs, Visitor};
use crate::keras::{KerasModel, LayerConfig, ModelConfig};

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

/// The model's calls as one dataflow, nested models inlined: what both a chain and a
/// Sequential model of blocks are made from.
#[derive(Debug)]
pub struct Dataflow<'m> {
    pub topo: Topology,
    /// The call behind each node of `topo`.
    pub calls: Vec<CallNode<'m>>,
    /// The model's outputs.
    pub outputs: Vec<Outlet>,
}

/// One call of a layer (or an input of the model), its tensors resolved to the nodes making
/// them.
#[derive(Debug)]
pub struct CallNode<'m> {
    pub layer: &'m LayerConfig,
    /// Which of the layer's calls (inbound nodes) in its own model this is.
    pub call: usize,
    /// The tensors of its positional arguments.
    pub args: Vec<Outlet>,
    /// Its keyword tensors in the file's order; None for a mask Keras 3 recorded (from its mask
    /// ops), which is no edge of the dataflow: Keras propagates masks by itself.
    pub keywords: Vec<(&'m str, Option<Outlet>)>,
    /// How many tensors it returns.
    pub outputs: usize,
}

impl CallNode<'_> {
    /// Every tensor of the call in the file's order (positional, then keyword), None where a
    /// recorded mask was.
    pub fn tensors(&self) -> Vec<Option<Outlet>> {
        let keywords = self.keywords.iter().map(|(_, t)| *t);
        self.args
            .iter()
            .copied()
            .map(Some)
            .chain(keywords)
            .collect()
    }
}

/// Walks the model into one dataflow; a model whose calls cannot be resolved is an error.
pub fn dataflow(model: &KerasModel) -> Result<Dataflow<'_>> {
    let mut walker = Walker {
        path: &model.path,
        topo: Topology::default(),
        records: Vec::new(),
    };
    let outputs = walker.model(&model.model, "", None)?;
    walker.topo.outputs = outputs.iter().map(|o| o.node).collect();
    walker.topo.inputs = (0..walker.topo.nodes.len())
        .filter(|&i| walker.topo.nodes[i].is_input)
        .collect();
    let masks: Vec<bool> = (0..walker.records.len())
        .map(|t| walker.is_recorded_mask(t))
        .collect();
    let kept = walker.topo.drop_unconsumed(&masks);
    let mut index = vec![None; walker.records.len()];
    for (k, &i) in kept.iter().enumerate() {
        index[i] = Some(k);
    }
    let moved = |o: Outlet| {
        index[o.node].map(|node| Outlet {
            node,
            tensor: o.tensor,
        })
    };
    let Walker { topo, records, .. } = walker;
    let calls = kept
        .iter()
        .map(|&i| {
            let r = &records[i];
            CallNode {
                layer: r.layer,
                call: r.call,
                args: r.args.iter().filter_map(|&o| moved(o)).collect(),
                keywords: r
                    .keywords
                    .iter()
                    .map(|&(name, o, edge)| (name, moved(o).filter(|_| edge)))
                    .collect(),
                outputs: r.outputs,
            }
        })
        .collect();
    Ok(Dataflow {
        topo,
        calls,
        outputs: outputs.into_iter().filter_map(moved).collect(),
    })
}

/// Analyses a model; a model whose calls cannot be resolved at all is an error.
pub fn analyze(model: &KerasModel) -> Result<Analysis<'_>> {
    let Dataflow { topo, calls, .. } = dataflow(model)?;
    let layers: Vec<&LayerConfig> = calls.iter().map(|c| c.layer).collect();
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

/// Turns each call into a topology node, through the walk the graph builder uses too.
struct Walker<'m> {
    path: &'m Path,
    topo: Topology,
    /// The call behind each node.
    records: Vec<Record<'m>>,
}

/// A call as walked, its tensors named by the nodes before any is dropped.
struct Record<'m> {
    layer: &'m LayerConfig,
    call: usize,
    args: Vec<Outlet>,
    /// Name, tensor, and whether it is an edge of the dataflow.
    keywords: Vec<(&'m str, Outlet, bool)>,
    outputs: usize,
}

impl<'m> Walker<'m> {
    fn model(
        &mut self,
        cfg: &'m ModelConfig,
        prefix: &str,
        bound: Option<&[Outlet]>,
    ) -> Result<Vec<Outlet>> {
        let path = self.path;
        walk(path, cfg, prefix, bound, self)
    }

    fn push(&mut self, name: String, inputs: Vec<usize>, record: Record<'m>) -> usize {
        let layer = record.layer;
        let is_input = inputs.is_empty() && layer.class_name == "InputLayer";
        self.topo.nodes.push(TopoNode {
            name,
            inputs,
            is_input,
            op_layer: layer.op_layer().is_some(),
        });
        self.records.push(record);
        self.topo.nodes.len() - 1
    }
}

impl Walker<'_> {
    /// Whether node `t` is one of the ops Keras 3 records a propagated mask with.
    fn is_recorded_mask(&self, t: usize) -> bool {
        let layer = self.records[t].layer;
        layer.op_layer().is_some()
            && matches!(
                layer.class_name.as_str(),
                "NotEqual" | "Any" | "LogicalOr" | "LogicalAnd"
            )
    }
}

impl<'m> Visitor<'m> for Walker<'m> {
    type Value = Outlet;

    fn input(&mut self, layer: &'m LayerConfig, prefix: &str) -> Result<Outlet> {
        let record = Record {
            layer,
            call: 0,
            args: Vec::new(),
            keywords: Vec::new(),
            outputs: 1,
        };
        let node = self.push(format!("{prefix}{}", layer.name), Vec::new(), record);
        Ok(Outlet { node, tensor: 0 })
    }

    /// A keyword tensor is one more input of the node, so a layer fed by one is no chain link;
    /// except a mask Keras 3 recorded (`mask=` from its mask ops), which a Sequential model
    /// propagates by itself.
    fn layer_call(
        &mut self,
        layer: &'m LayerConfig,
        call: usize,
        args: CallArgs<'m, Outlet>,
        prefix: &str,
    ) -> Result<Vec<Outlet>> {
        let name = call_name(prefix, &layer.name, call);
        match &layer.nested {
            Some(nested) => self.model(nested, &format!("{name}/"), Some(&args.args)),
            None => {
                let keywords: Vec<(&'m str, Outlet, bool)> = args
                    .keywords
                    .iter()
                    .map(|&(k, t)| (k, t, !(k == "mask" && self.is_recorded_mask(t.node))))
                    .collect();
                let inputs = args
                    .args
                    .iter()
                    .chain(keywords.iter().filter(|k| k.2).map(|(_, t, _)| t))
                    .map(|o| o.node)
                    .collect();
                // Every tensor a layer returns is the layer's node in the dataflow.
                let kwargs = layer
                    .calls
                    .get(call)
                    .map(|c| serde_json::Value::Object(c.kwargs.clone()))
                    .unwrap_or_default();
                let count =
                    crate::ops::registry::output_count(&layer.class_name, &layer.config, &kwargs);
                let record = Record {
                    layer,
                    call,
                    args: args.args.clone(),
                    keywords,
                    outputs: count,
                };
                let node = self.push(name, inputs, record);
                Ok((0..count).map(|tensor| Outlet { node, tensor }).collect())
            }
        }
    }
}

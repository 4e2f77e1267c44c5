//! From a model with one input and one output to a Sequential model of layers and blocks.
//!
//! The model's dataflow (nested models inlined, [`super::plan::dataflow`]) is cut at its cut
//! points ([`super::blocks`]); a segment of one layer that takes one tensor and returns one
//! stays that layer, any other segment becomes a block: a nested Functional model around it,
//! named after where it sits and what it ends with (`block_2_add`), or after the nested model
//! of the original it is exactly. Each block carries the reasons its layers are no chain, in
//! the words `keqv convert` uses for a model that is not one.
//!
//! A nested model in Keras 3 neither takes in a mask nor passes one on (a Functional model
//! computes no masks; checked on files Keras wrote), where tf-keras does both: for Keras 3, a
//! model whose mask (from an Embedding with `mask_zero`, a Masking layer) goes into or through
//! a block is refused, with the layers that make and read it.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::blocks::{segments, Flow, Outlet, Segment};
use super::plan::{dataflow, Dataflow};
use crate::error::Result;
use crate::graph::linear::{problems, TopoNode, Topology};
use crate::graph::{Graph, Op};
use crate::keras::{Dialect, KerasModel, LayerConfig};

/// A Sequential model of layers and blocks, ready to be written.
#[derive(Debug)]
pub struct BlockPlan<'m> {
    pub flow: Dataflow<'m>,
    /// The model's input node.
    pub input: usize,
    /// What follows the input, in order.
    pub entries: Vec<Entry>,
}

#[derive(Debug)]
pub enum Entry {
    /// One layer, as it is: its node.
    Layer(usize),
    Block(Block),
}

/// A nested Functional model around a segment of the dataflow.
#[derive(Debug)]
pub struct Block {
    pub name: String,
    /// The name of its InputLayer.
    pub input_name: String,
    /// Its nodes, consecutive in the dataflow.
    pub nodes: Range<usize>,
    /// The tensor it takes and the one it gives.
    pub input: Outlet,
    pub output: Outlet,
    /// Why its layers cannot be flattened, one sentence each.
    pub reasons: Vec<String>,
}

/// What the analysis concluded.
#[derive(Debug)]
pub enum BlockAnalysis<'m> {
    Blocks(BlockPlan<'m>),
    /// Why the model cannot be a Sequential model even of blocks.
    Refused(Vec<String>),
}

impl BlockPlan<'_> {
    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Block(b) => Some(b),
            Entry::Layer(_) => None,
        })
    }

    /// The layer behind node `n`.
    pub fn layer(&self, n: usize) -> &LayerConfig {
        self.flow.calls[n].layer
    }
}

/// A mask made by one node of the dataflow and read by a later one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskSpan {
    /// The node making it (or, for a mask op Keras 3 recorded, the latest node it reads).
    pub from: usize,
    /// The node reading it.
    pub to: usize,
}

/// Cuts a model into layers and blocks for the `to` dialect; `graph`, keqv's build of the
/// model, tells where its masks go (without it, none are known). A model whose calls cannot
/// be resolved is an error.
pub fn analyze_blocks<'m>(
    model: &'m KerasModel,
    graph: Option<&Graph>,
    to: Dialect,
) -> Result<BlockAnalysis<'m>> {
    let flow = dataflow(model)?;
    let refusals = refusals(&flow);
    if !refusals.is_empty() {
        return Ok(BlockAnalysis::Refused(refusals));
    }
    let masks = match (graph, to) {
        (Some(graph), Dialect::Keras3) => mask_spans(graph, &flow.topo),
        _ => Vec::new(),
    };
    let ids = layer_ids(&flow);
    let inputs: Vec<Vec<Outlet>> = (0..flow.calls.len())
        .map(|n| flow.calls[n].tensors().into_iter().flatten().collect())
        .collect();
    let input = flow.topo.inputs[0];
    let cut = Flow {
        inputs: &inputs,
        layer: &ids,
        source: input,
        output: flow.outputs[0],
    };
    let segs = segments(&cut);
    let lost = lost_masks(&flow, &masks, &segs, |seg| is_plain(&flow, &inputs, seg));
    if !lost.is_empty() {
        return Ok(BlockAnalysis::Refused(lost));
    }
    let mut taken: HashSet<String> = flow.calls.iter().map(|c| c.layer.name.clone()).collect();
    let mut entries = Vec::new();
    for (k, seg) in segs.into_iter().enumerate() {
        if is_plain(&flow, &inputs, &seg) {
            entries.push(Entry::Layer(seg.nodes.start));
            continue;
        }
        let name = unique(block_name(&flow, &seg, k + 1), &mut taken);
        let input_name = unique(format!("{name}_input"), &mut taken);
        let reasons = reasons(&flow, &inputs, &seg);
        entries.push(Entry::Block(Block {
            name,
            input_name,
            nodes: seg.nodes,
            input: seg.input,
            output: seg.output,
            reasons,
        }));
    }
    let plan = BlockPlan {
        flow,
        input,
        entries,
    };
    let clashes = name_clashes(&plan);
    if !clashes.is_empty() {
        return Ok(BlockAnalysis::Refused(clashes));
    }
    Ok(BlockAnalysis::Blocks(plan))
}

/// The masks a Keras 3 block would lose: those read in or after a block that they enter
/// from before it.
fn lost_masks(
    flow: &Dataflow,
    masks: &[MaskSpan],
    segs: &[Segment],
    plain: impl Fn(&Segment) -> bool,
) -> Vec<String> {
    let nodes = &flow.topo.nodes;
    let mut found = Vec::new();
    for m in masks {
        let block = segs.iter().find(|seg| {
            let (first, last) = (seg.nodes.start, seg.nodes.end - 1);
            let made_inside = seg.nodes.contains(&m.from);
            let read_inside_or_after = m.to >= first;
            let made_before_end = m.from <= last;
            !plain(seg) && made_before_end && read_inside_or_after && !(made_inside && m.to <= last)
        });
        if block.is_some() {
            found.push(format!(
                "{} reads the mask made at {}, which would pass a nested model, and a Keras 3 nested model neither takes in nor passes on a mask: convert with --dialect tf-keras",
                nodes[m.to].name, nodes[m.from].name
            ));
        }
    }
    found.dedup();
    found
}

/// Whether a segment is written as the one layer it holds: a layer taking one tensor and
/// returning one, and no op layer (whose operands live in its call).
fn is_plain(flow: &Dataflow, inputs: &[Vec<Outlet>], seg: &Segment) -> bool {
    let n = seg.nodes.start;
    let call = &flow.calls[n];
    seg.nodes.len() == 1
        && call.outputs == 1
        && inputs[n].len() == 1
        && call.layer.op_layer().is_none()
}

/// Where the masks of keqv's build of the model are made and read, as nodes of the dataflow.
pub fn mask_spans(graph: &Graph, topo: &Topology) -> Vec<MaskSpan> {
    let position: HashMap<&str, usize> = topo
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let owners = graph.owners();
    // The dataflow node a graph node belongs to: its own, or the layer node it is built in.
    let node_of = |mut id: usize| loop {
        if let Some(&p) = position.get(graph.nodes[id].name.as_str()) {
            return Some(p);
        }
        id = owners[id]?.0;
    };
    let n = graph.nodes.len();
    let mut is_mask = vec![false; n];
    let mut made_at: Vec<Option<usize>> = vec![None; n];
    for (i, node) in graph.nodes.iter().enumerate() {
        let inputs = || node.inputs.iter().map(|id| id.0);
        match node.op {
            Op::MakeMask(_) => {
                is_mask[i] = true;
                // `tokens/mask` is made by `tokens`; a recorded mask op, from what it reads.
                made_at[i] = node
                    .name
                    .strip_suffix("/mask")
                    .and_then(|layer| position.get(layer).copied())
                    .or_else(|| inputs().filter_map(node_of).max());
            }
            Op::Merge(_) if !node.inputs.is_empty() && inputs().all(|j| is_mask[j]) => {
                is_mask[i] = true;
                made_at[i] = inputs().filter_map(|j| made_at[j]).min();
            }
            _ => {}
        }
    }
    let mut spans = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        if is_mask[i] {
            continue;
        }
        let Some(to) = node_of(i) else { continue };
        for m in node.inputs.iter().map(|id| id.0).filter(|&j| is_mask[j]) {
            if let Some(from) = made_at[m] {
                let span = MaskSpan { from, to };
                if from < to && !spans.contains(&span) {
                    spans.push(span);
                }
            }
        }
    }
    spans
}

/// What no Sequential model can hold: several inputs or outputs, layers whose output leads to
/// no output.
fn refusals(flow: &Dataflow) -> Vec<String> {
    let topo = &flow.topo;
    let names = |ids: &[usize]| {
        ids.iter()
            .map(|&i| topo.nodes[i].name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut found = Vec::new();
    if topo.inputs.len() != 1 {
        found.push(format!(
            "the model has {} inputs ({}); a Sequential model has one",
            topo.inputs.len(),
            names(&topo.inputs)
        ));
    }
    if flow.outputs.len() != 1 {
        found.push(format!(
            "the model has {} outputs ({}); a Sequential model has one",
            flow.outputs.len(),
            names(&topo.outputs)
        ));
    }
    if !found.is_empty() {
        return found;
    }
    // Every node must lead to the output (and so come from the one input).
    let mut leads = vec![false; topo.nodes.len()];
    leads[flow.outputs[0].node] = true;
    for n in (0..topo.nodes.len()).rev() {
        if leads[n] {
            topo.nodes[n].inputs.iter().for_each(|&i| leads[i] = true);
        }
    }
    for (n, node) in topo.nodes.iter().enumerate() {
        if !leads[n] {
            found.push(format!(
                "{} does not lead to the model's output, which a Sequential model cannot hold",
                node.name
            ));
        }
    }
    found
}

/// A number per layer: the nodes of a shared layer get the same one.
fn layer_ids(flow: &Dataflow) -> Vec<usize> {
    let mut ids: HashMap<*const LayerConfig, usize> = HashMap::new();
    flow.calls
        .iter()
        .map(|c| {
            let n = ids.len();
            *ids.entry(c.layer as *const LayerConfig).or_insert(n)
        })
        .collect()
}

/// `block_<position>_<last layer>`, or the name of the nested model of the original whose
/// nodes the block holds, all of them and only them.
fn block_name(flow: &Dataflow, seg: &Segment, position: usize) -> String {
    let nodes = &flow.topo.nodes;
    let first = &nodes[seg.nodes.start].name;
    let mut prefix = first.as_str();
    while let Some((outer, _)) = prefix.rsplit_once('/') {
        prefix = outer;
        let under = |name: &str| {
            name.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
        };
        let inside = seg.nodes.clone().all(|n| under(&nodes[n].name));
        if !inside {
            continue;
        }
        if nodes.iter().filter(|n| under(&n.name)).count() == seg.nodes.len() {
            let model = prefix.rsplit('/').next().unwrap_or(prefix);
            return model.split('#').next().unwrap_or(model).to_string();
        }
        break;
    }
    // tf-keras lets a layer name hold `/` (`conv1/relu`); a block's name does not, as Keras 3
    // refuses it and a nested layer's path uses it.
    let last = flow.calls[seg.nodes.end - 1].layer.name.replace('/', "_");
    format!("block_{position}_{last}")
}

/// `name`, or `name_1`, `name_2`… when it is taken.
fn unique(name: String, taken: &mut HashSet<String>) -> String {
    let mut candidate = name.clone();
    let mut k = 1;
    while taken.contains(&candidate) {
        candidate = format!("{name}_{k}");
        k += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

/// Why a block's layers are no chain: what `keqv convert` says of a model made of the block
/// alone, fed by the node before it.
fn reasons(flow: &Dataflow, inputs: &[Vec<Outlet>], seg: &Segment) -> Vec<String> {
    let first = seg.nodes.start;
    let local = |n: usize| if n < first { 0 } else { n - first + 1 };
    let mut nodes = vec![TopoNode {
        name: flow.topo.nodes[seg.input.node].name.clone(),
        inputs: Vec::new(),
        is_input: true,
        op_layer: false,
    }];
    for n in seg.nodes.clone() {
        let node = &flow.topo.nodes[n];
        nodes.push(TopoNode {
            name: node.name.clone(),
            inputs: inputs[n].iter().map(|o| local(o.node)).collect(),
            is_input: false,
            op_layer: node.op_layer,
        });
    }
    let sub = Topology {
        nodes,
        inputs: vec![0],
        outputs: vec![local(seg.output.node)],
    };
    let mut found = problems(&sub);
    for n in seg.nodes.clone() {
        let call = &flow.calls[n];
        if call.outputs > 1 {
            found.push(format!(
                "{} returns {} tensors; a Sequential model passes one from layer to layer",
                flow.topo.nodes[n].name, call.outputs
            ));
        }
    }
    found
}

/// Names a Sequential model or a block would hold twice: the layers of nested models of the
/// original are flattened next to each other.
fn name_clashes(plan: &BlockPlan) -> Vec<String> {
    let nodes = &plan.flow.topo.nodes;
    let mut found = Vec::new();
    let mut check = |within: &str, members: Vec<(&str, &LayerConfig, &str)>| {
        let mut by_name: HashMap<&str, Vec<(&LayerConfig, &str)>> = HashMap::new();
        let mut order = Vec::new();
        for (name, layer, node) in members {
            let seen = by_name.entry(name).or_default();
            if seen.is_empty() {
                order.push(name);
            }
            if !seen.iter().any(|(l, _)| std::ptr::eq(*l, layer)) {
                seen.push((layer, node));
            }
        }
        for name in order {
            let same = &by_name[name];
            if same.len() > 1 {
                let where_: Vec<&str> = same.iter().map(|(_, n)| *n).collect();
                found.push(format!(
                    "{} are all named '{name}' once nested models are flattened; {within} needs unique layer names",
                    where_.join(", ")
                ));
            }
        }
    };
    let input = plan.layer(plan.input);
    let mut top = vec![(input.name.as_str(), input, nodes[plan.input].name.as_str())];
    for entry in &plan.entries {
        match entry {
            Entry::Layer(n) => {
                let layer = plan.layer(*n);
                top.push((layer.name.as_str(), layer, nodes[*n].name.as_str()));
            }
            // A block is a layer of its own: it clashes with nothing of the original.
            Entry::Block(_) => {}
        }
    }
    check("a Sequential model", top);
    for block in plan.blocks() {
        let members = block
            .nodes
            .clone()
            .map(|n| {
                let layer = plan.layer(n);
                (layer.name.as_str(), layer, nodes[n].name.as_str())
            })
            .collect();
        check(&format!("block {}", block.name), members);
    }
    found
}

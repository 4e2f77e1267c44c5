//! Whether a model is a plain chain, and so can be a Sequential model; if not, every node that
//! prevents it, in plain words.
//!
//! A chain has one input and one output, every node takes exactly one tensor (a tensor passed
//! by keyword counts: `softmax(x, mask=m)` merges two), every node's output feeds exactly one
//! node (the output feeds none), and no layer is applied twice.
//! Nested models are inlined (their nodes are named `outer/inner`), so nested chains flatten
//! naturally.
//!
//! The analysis runs on a [`Topology`]: nodes, their inputs, and the model's inputs and outputs.
//! `keqv inspect` makes one from a built [`Graph`]; `keqv convert` makes one straight from the
//! model config (`crate::convert::plan`), so that models keqv cannot run (Lambda layers,
//! unmapped custom layers) can still be analysed and converted. Both name nodes the same way,
//! so both explain a model in the same words.

use std::collections::BTreeMap;

use super::{Graph, NodeId, Op};

/// The shape of a model's dataflow, without ops or weights.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub nodes: Vec<TopoNode>,
    /// Indices of the model's input nodes.
    pub inputs: Vec<usize>,
    /// Indices of the model's output nodes.
    pub outputs: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct TopoNode {
    /// The layer path (`inner/dense`), plus `#k` for the k-th call of a shared layer after the
    /// first: the same names as [`Graph`] nodes.
    pub name: String,
    /// Indices of the nodes whose outputs this node takes, in call order.
    pub inputs: Vec<usize>,
    /// A model input (an InputLayer of the outermost model).
    pub is_input: bool,
    /// An op layer, whose numbers and settings live in its call, which a Sequential model
    /// does not keep.
    pub op_layer: bool,
}

impl From<&Graph> for Topology {
    /// The graph's dataflow as the model file has it: without the mask nodes keqv adds where
    /// Keras propagates a mask implicitly, and with a wrapper layer's inner nodes (a
    /// Bidirectional's two directions) folded into the wrapper's node.
    fn from(graph: &Graph) -> Self {
        let n = graph.nodes.len();
        // The layer node each node is built inside, however deep (`bi/forward_lstm` and
        // `bi/forward_lstm/state_h` inside `bi`, `lstm/state_h` inside `lstm`): a reference to
        // it is one to its layer.
        let nearest: Vec<Option<usize>> = graph.owners().iter().map(|o| o.map(|j| j.0)).collect();
        let owner: Vec<Option<usize>> = (0..n)
            .map(|i| {
                let mut top = nearest[i]?;
                while let Some(up) = nearest[top] {
                    top = up;
                }
                Some(top)
            })
            .collect();
        // Mask values (a Keras 3 file's recorded mask ops included) feed their consumers as
        // Keras's `mask=`, which a Sequential model propagates by itself: not a dataflow edge.
        let mut is_mask = vec![false; n];
        for (i, node) in graph.nodes.iter().enumerate() {
            is_mask[i] = match node.op {
                Op::MakeMask(_) => true,
                Op::Merge(_) => node.inputs.iter().all(|id| is_mask[id.0]),
                _ => false,
            };
        }
        let skip = |i: usize| graph.nodes[i].is_propagated_mask() || owner[i].is_some();
        let kept: Vec<usize> = (0..n).filter(|&i| !skip(i)).collect();
        let mut index = vec![usize::MAX; n];
        for (k, &i) in kept.iter().enumerate() {
            index[i] = k;
        }
        let inputs_of = |i: usize| -> Vec<usize> {
            graph
                .call_inputs(NodeId(i))
                .into_iter()
                .filter(|id| !is_mask[id.0] || is_mask[i])
                .map(|id| index[owner[id.0].unwrap_or(id.0)])
                .filter(|&k| k != usize::MAX)
                .collect()
        };
        let remap = |ids: &[super::NodeId]| -> Vec<usize> {
            ids.iter()
                .map(|id| index[owner[id.0].unwrap_or(id.0)])
                .filter(|&k| k != usize::MAX)
                .collect()
        };
        let mut topo = Topology {
            nodes: kept
                .iter()
                .map(|&i| {
                    let node = &graph.nodes[i];
                    TopoNode {
                        name: node.name.clone(),
                        inputs: inputs_of(i),
                        is_input: node.op == Op::Input,
                        op_layer: node.op_layer,
                    }
                })
                .collect(),
            inputs: remap(&graph.inputs),
            outputs: remap(&graph.outputs),
        };
        let mask_nodes: Vec<bool> = kept.iter().map(|&i| is_mask[i]).collect();
        topo.drop_unconsumed(&mask_nodes);
        topo
    }
}

impl Topology {
    /// Removes the `removable` nodes whose output nothing consumes (and that are no output),
    /// until none is left: a Keras 3 file's recorded mask ops, once their `mask=` edges are
    /// dropped, since a Sequential model computes the same masks by itself. Returns the
    /// indices, before the removal, of the nodes kept.
    pub fn drop_unconsumed(&mut self, removable: &[bool]) -> Vec<usize> {
        let mut keep = vec![true; self.nodes.len()];
        loop {
            let mut consumed = vec![false; self.nodes.len()];
            for (i, node) in self.nodes.iter().enumerate() {
                if keep[i] {
                    node.inputs.iter().for_each(|&j| consumed[j] = true);
                }
            }
            let dropped: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| keep[i] && removable[i] && !consumed[i] && !self.outputs.contains(&i))
                .collect();
            if dropped.is_empty() {
                break;
            }
            dropped.iter().for_each(|&i| keep[i] = false);
        }
        let kept: Vec<usize> = (0..self.nodes.len()).filter(|&i| keep[i]).collect();
        let mut index = vec![usize::MAX; self.nodes.len()];
        for (k, &i) in kept.iter().enumerate() {
            index[i] = k;
        }
        let remap = |ids: &[usize]| ids.iter().map(|&i| index[i]).collect::<Vec<_>>();
        let nodes = std::mem::take(&mut self.nodes);
        self.nodes = nodes
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep[*i])
            .map(|(_, mut node)| {
                node.inputs = remap(&node.inputs);
                node
            })
            .collect();
        self.inputs = remap(&self.inputs);
        self.outputs = remap(&self.outputs);
        kept
    }

    /// For each node, the nodes that consume its output (in node order, repeats kept).
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            for &input in &node.inputs {
                out[input].push(i);
            }
        }
        out
    }
}

/// The reasons a graph is not a chain; empty when it is one.
pub fn chain_problems(graph: &Graph) -> Vec<String> {
    problems(&Topology::from(graph))
}

pub fn is_chain(graph: &Graph) -> bool {
    chain_problems(graph).is_empty()
}

/// The reasons a model is not a chain, one sentence per node that prevents it, in node order;
/// empty when it is one.
pub fn problems(topo: &Topology) -> Vec<String> {
    let mut problems = Vec::new();
    let names = |ids: &[usize]| {
        ids.iter()
            .map(|&id| topo.nodes[id].name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if topo.inputs.len() != 1 {
        problems.push(format!(
            "the model has {} inputs{}",
            topo.inputs.len(),
            listed(&names(&topo.inputs))
        ));
    }
    if topo.outputs.len() != 1 {
        problems.push(format!(
            "the model has {} outputs{}",
            topo.outputs.len(),
            listed(&names(&topo.outputs))
        ));
    }
    let consumers = topo.consumers();
    for (i, node) in topo.nodes.iter().enumerate() {
        if node.inputs.len() > 1 {
            problems.push(format!(
                "{} merges {} tensors ({})",
                node.name,
                node.inputs.len(),
                names(&node.inputs)
            ));
        }
        let feeds = &consumers[i];
        let is_output = topo.outputs.contains(&i);
        if feeds.len() > 1 {
            let skip = is_skip(topo, &consumers, feeds);
            let kind = if skip {
                "a skip connection"
            } else {
                "a branch"
            };
            problems.push(format!(
                "{} feeds {} layers ({}): {kind}",
                node.name,
                feeds.len(),
                names(feeds)
            ));
        } else if is_output && !feeds.is_empty() {
            problems.push(format!(
                "{} is an output and also feeds {}",
                node.name,
                names(feeds)
            ));
        } else if feeds.is_empty() && !is_output && !node.is_input {
            problems.push(format!("{} feeds no layer and is not an output", node.name));
        }
        if node.op_layer {
            problems.push(format!(
                "{} is an op layer, whose operands a Sequential model cannot hold",
                node.name
            ));
        }
    }
    let mut calls: BTreeMap<&str, usize> = BTreeMap::new();
    for node in &topo.nodes {
        let layer = node.name.split('#').next().unwrap_or(&node.name);
        *calls.entry(layer).or_default() += 1;
    }
    for (layer, n) in calls {
        if n > 1 {
            problems.push(format!("{layer} is applied {} (a shared layer)", times(n)));
        }
    }
    problems
}

/// A skip connection: the node feeds a merge directly and also through another of its
/// consumers (`x → f(x) → add(x, f(x))`); otherwise its outputs part ways (a branch).
fn is_skip(topo: &Topology, consumers: &[Vec<usize>], feeds: &[usize]) -> bool {
    feeds.iter().any(|&merge| {
        topo.nodes[merge].inputs.len() > 1
            && feeds
                .iter()
                .any(|&other| other != merge && reaches(consumers, other, merge))
    })
}

/// Whether `to` depends on `from`'s output.
fn reaches(consumers: &[Vec<usize>], from: usize, to: usize) -> bool {
    let mut seen = vec![false; consumers.len()];
    let mut stack = vec![from];
    while let Some(n) = stack.pop() {
        if n == to {
            return true;
        }
        if !std::mem::replace(&mut seen[n], true) {
            stack.extend(&consumers[n]);
        }
    }
    false
}

fn listed(names: &str) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" ({names})")
    }
}

fn times(n: usize) -> String {
    match n {
        2 => "twice".to_string(),
        n => format!("{n} times"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, inputs: &[usize]) -> TopoNode {
        TopoNode {
            name: name.into(),
            inputs: inputs.to_vec(),
            is_input: inputs.is_empty(),
            op_layer: false,
        }
    }

    #[test]
    fn a_chain_has_no_problems() {
        let topo = Topology {
            nodes: vec![node("x", &[]), node("d1", &[0]), node("d2", &[1])],
            inputs: vec![0],
            outputs: vec![2],
        };
        assert!(problems(&topo).is_empty());
    }

    #[test]
    fn skip_connection_and_merge_are_named() {
        let topo = Topology {
            nodes: vec![
                node("input", &[]),
                node("dense_x", &[0]),
                node("dense_y", &[1]),
                node("add", &[1, 2]),
                node("out", &[3]),
            ],
            inputs: vec![0],
            outputs: vec![4],
        };
        assert_eq!(
            problems(&topo),
            [
                "dense_x feeds 2 layers (dense_y, add): a skip connection",
                "add merges 2 tensors (dense_x, dense_y)",
            ]
        );
    }

    #[test]
    fn parallel_paths_are_a_branch() {
        let topo = Topology {
            nodes: vec![
                node("x", &[]),
                node("a", &[0]),
                node("b", &[0]),
                node("cat", &[1, 2]),
            ],
            inputs: vec![0],
            outputs: vec![3],
        };
        assert_eq!(
            problems(&topo),
            [
                "x feeds 2 layers (a, b): a branch",
                "cat merges 2 tensors (a, b)"
            ]
        );
    }

    #[test]
    fn shared_layers_and_inputs_are_counted() {
        let topo = Topology {
            nodes: vec![
                node("a", &[]),
                node("b", &[]),
                node("shared", &[0]),
                node("shared#1", &[1]),
                node("add", &[2, 3]),
            ],
            inputs: vec![0, 1],
            outputs: vec![4],
        };
        assert_eq!(
            problems(&topo),
            [
                "the model has 2 inputs (a, b)",
                "add merges 2 tensors (shared, shared#1)",
                "shared is applied twice (a shared layer)",
            ]
        );
    }
}

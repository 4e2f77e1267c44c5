//! Whether a graph is a plain chain, and so can be a Sequential model; if not, every node that
//! prevents it, in plain words.
//!
//! A chain has one input and one output, every node takes exactly one tensor, every node's
//! output feeds exactly one node (the output feeds none), and no layer is applied twice.
//! Nested models are already inlined in the graph, so nested chains flatten naturally.

use std::collections::BTreeMap;

use super::{Graph, Op};

/// The reasons a graph is not a chain; empty when it is one.
pub fn chain_problems(graph: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    let names = |ids: &[super::NodeId]| {
        ids.iter()
            .map(|id| graph.node(*id).name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if graph.inputs.len() != 1 {
        problems.push(format!(
            "the model has {} inputs ({})",
            graph.inputs.len(),
            names(&graph.inputs)
        ));
    }
    if graph.outputs.len() != 1 {
        problems.push(format!(
            "the model has {} outputs ({})",
            graph.outputs.len(),
            names(&graph.outputs)
        ));
    }
    let consumers = graph.consumers();
    for (i, node) in graph.nodes.iter().enumerate() {
        if node.inputs.len() > 1 {
            problems.push(format!(
                "{} merges {} tensors ({})",
                node.name,
                node.inputs.len(),
                names(&node.inputs)
            ));
        }
        let feeds = &consumers[i];
        let is_output = graph.outputs.iter().any(|o| o.0 == i);
        if feeds.len() > 1 {
            let skip = feeds.iter().any(|c| graph.node(*c).inputs.len() > 1);
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
        } else if feeds.is_empty() && !is_output && node.op != Op::Input {
            problems.push(format!("{} feeds no layer and is not an output", node.name));
        }
    }
    let mut calls: BTreeMap<&str, usize> = BTreeMap::new();
    for node in &graph.nodes {
        let layer = node.name.split('#').next().unwrap_or(&node.name);
        *calls.entry(layer).or_default() += 1;
    }
    for (layer, n) in calls {
        if n > 1 {
            problems.push(format!("{layer} is applied {n} times (a shared layer)"));
        }
    }
    problems
}

pub fn is_chain(graph: &Graph) -> bool {
    chain_problems(graph).is_empty()
}

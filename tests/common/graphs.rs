//! Graphs built by hand, node by node, for the kernel tests.

use std::sync::Arc;

use keqv::graph::{Graph, Node, NodeId, Op, Weight};
use keqv::tensor::Tensor;

/// Appends node `name` (its own layer, of class "Test") with weights `w0, w1, …`; returns its id.
pub fn push_node(
    graph: &mut Graph,
    name: String,
    op: Op,
    inputs: Vec<NodeId>,
    weights: Vec<Tensor>,
    shape: Vec<usize>,
) -> NodeId {
    let id = NodeId(graph.nodes.len());
    graph.nodes.push(Node {
        layer: name.clone(),
        class: "Test".into(),
        name,
        op,
        inputs,
        weights: weights
            .into_iter()
            .enumerate()
            .map(|(i, v)| Weight::new(format!("w{i}"), Arc::new(v)))
            .collect(),
        shape,
        op_layer: false,
    });
    id
}

//! Dropping the nodes no output depends on.

use super::*;

/// Drops nodes no output depends on and renumbers the rest, keeping their order. A node built
/// inside a layer's node (a returned state `lstm/state_h`, `mha/scores`) keeps that node, so
/// that the layer stays one layer in `inspect` and `convert` even where only its state is used.
pub(super) fn prune(graph: Graph) -> Graph {
    let mut live = vec![false; graph.nodes.len()];
    for id in &graph.outputs {
        live[id.0] = true;
    }
    let owners = graph.owners();
    for i in (0..graph.nodes.len()).rev() {
        if live[i] {
            for input in &graph.nodes[i].inputs {
                live[input.0] = true;
            }
            if let Some(j) = owners[i] {
                live[j.0] = true;
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

//! Which node of the converted model corresponds to which node of the original: by name, then
//! by bit-identical weights, then by position when both are chains.

use std::collections::HashMap;

use serde::Serialize;

use crate::graph::linear::is_chain;
use crate::graph::{Graph, NodeId, Op};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    Name,
    Weights,
    Position,
    /// Same kind of op on the counterparts of the same inputs.
    Inputs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightState {
    /// Neither node has weights.
    None,
    Identical,
    Different,
}

#[derive(Clone, Debug)]
pub struct Pair {
    pub original: NodeId,
    pub converted: NodeId,
    pub matched_by: MatchedBy,
    pub weights: WeightState,
}

/// Pairs in the converted model's node order.
pub fn pair_nodes(original: &Graph, converted: &Graph) -> Vec<Pair> {
    let mut taken_o = vec![false; original.nodes.len()];
    let mut found: Vec<Option<(NodeId, MatchedBy)>> = vec![None; converted.nodes.len()];

    // 0. Model inputs, as verify feeds them: by name, else by position.
    let same_names = converted
        .inputs
        .iter()
        .all(|c| original.find(&converted.node(*c).name).is_some());
    for (k, c) in converted.inputs.iter().enumerate() {
        let o = if same_names {
            original.find(&converted.node(*c).name)
        } else {
            original.inputs.get(k).copied()
        };
        if let Some(o) = o.filter(|o| original.node(*o).op == Op::Input) {
            taken_o[o.0] = true;
            found[c.0] = Some((
                o,
                if same_names {
                    MatchedBy::Name
                } else {
                    MatchedBy::Position
                },
            ));
        }
    }

    // 1. Same node name (nested paths included), then same layer name when unique on both sides.
    let by_name: HashMap<&str, usize> = original
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let (layers_o, layers_c) = (layer_counts(original), layer_counts(converted));
    for (c, node) in converted.nodes.iter().enumerate() {
        if found[c].is_some() {
            continue;
        }
        let hit = by_name.get(node.name.as_str()).copied().or_else(|| {
            (layers_c[node.layer.as_str()] == 1 && layers_o.get(node.layer.as_str()) == Some(&1))
                .then(|| original.nodes.iter().position(|o| o.layer == node.layer))
                .flatten()
        });
        if let Some(o) = hit.filter(|&o| !taken_o[o] && same_kind(&original.nodes[o].op, &node.op))
        {
            taken_o[o] = true;
            found[c] = Some((NodeId(o), MatchedBy::Name));
        }
    }

    // 2. Bit-identical weights.
    for (c, node) in converted.nodes.iter().enumerate() {
        if found[c].is_some() || node.weights.is_empty() {
            continue;
        }
        let hit = original
            .nodes
            .iter()
            .enumerate()
            .find(|(o, on)| !taken_o[*o] && weights_identical(on, node));
        if let Some((o, _)) = hit {
            taken_o[o] = true;
            found[c] = Some((NodeId(o), MatchedBy::Weights));
        }
    }

    // 3. Position, when both models are chains: the k-th unpaired node of each, same kind.
    if is_chain(original) && is_chain(converted) {
        let rest_o: Vec<usize> = (0..original.nodes.len()).filter(|&o| !taken_o[o]).collect();
        let rest_c: Vec<usize> = (0..converted.nodes.len())
            .filter(|&c| found[c].is_none())
            .collect();
        if rest_o.len() == rest_c.len() {
            for (&o, &c) in rest_o.iter().zip(&rest_c) {
                if same_kind(&original.nodes[o].op, &converted.nodes[c].op) {
                    taken_o[o] = true;
                    found[c] = Some((NodeId(o), MatchedBy::Position));
                }
            }
        }
    }

    // 4. Same kind of op fed by the counterparts of the same inputs (merges, activations, …).
    for (c, node) in converted.nodes.iter().enumerate() {
        if found[c].is_some() || node.inputs.is_empty() {
            continue;
        }
        let Some(mut want) = node
            .inputs
            .iter()
            .map(|i| found[i.0].map(|(o, _)| o))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        want.sort();
        let hit = (0..original.nodes.len()).find(|&o| {
            let on = &original.nodes[o];
            let mut have = on.inputs.clone();
            have.sort();
            !taken_o[o] && same_kind(&on.op, &node.op) && have == want
        });
        if let Some(o) = hit {
            taken_o[o] = true;
            found[c] = Some((NodeId(o), MatchedBy::Inputs));
        }
    }

    found
        .into_iter()
        .enumerate()
        .filter_map(|(c, hit)| {
            let (o, matched_by) = hit?;
            let (on, cn) = (original.node(o), converted.node(NodeId(c)));
            let weights = match (
                on.weights.is_empty() && cn.weights.is_empty(),
                weights_identical(on, cn),
            ) {
                (true, _) => WeightState::None,
                (false, true) => WeightState::Identical,
                (false, false) => WeightState::Different,
            };
            Some(Pair {
                original: o,
                converted: NodeId(c),
                matched_by,
                weights,
            })
        })
        .collect()
}

/// How many nodes each layer name has (a shared layer has several).
fn layer_counts(g: &Graph) -> HashMap<&str, usize> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    g.nodes
        .iter()
        .for_each(|n| *count.entry(n.layer.as_str()).or_default() += 1);
    count
}

/// Same kind of op (inputs with inputs, dense with dense, …), parameters aside.
fn same_kind(a: &Op, b: &Op) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
        || matches!(
            (a, b),
            (Op::Activation(_), Op::Softmax { .. }) | (Op::Softmax { .. }, Op::Activation(_))
        )
}

fn weights_identical(a: &crate::graph::Node, b: &crate::graph::Node) -> bool {
    a.weights.len() == b.weights.len()
        && a.weights.iter().zip(&b.weights).all(|(x, y)| {
            x.value.shape() == y.value.shape()
                && x.value
                    .iter()
                    .zip(y.value.iter())
                    .all(|(p, q)| p.to_bits() == q.to_bits())
        })
}

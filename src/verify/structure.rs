//! How the two models line up: their inputs, their outputs, and the layers paired between
//! them.

use super::warnings::op_difference;
use super::*;

/// For each converted input, the index of the original input that feeds it: by name, else by
/// position. Different counts or shapes cannot be fed the same data: an error.
pub(super) fn match_inputs(og: &Graph, cg: &Graph) -> Result<Vec<usize>> {
    let names = |g: &Graph| {
        g.inputs
            .iter()
            .map(|id| g.node(*id).layer.clone())
            .collect::<Vec<_>>()
    };
    let (no, nc) = (names(og), names(cg));
    if no.len() != nc.len() {
        return Err(Error::Input(format!(
            "the models cannot be fed the same inputs: the original takes {} input(s) ({}), the converted {} ({})",
            no.len(),
            no.join(", "),
            nc.len(),
            nc.join(", ")
        )));
    }
    let by_name: Option<Vec<usize>> = nc.iter().map(|n| no.iter().position(|o| o == n)).collect();
    let map = by_name.unwrap_or_else(|| (0..nc.len()).collect());
    for (c, &o) in map.iter().enumerate() {
        let (so, sc) = (&og.node(og.inputs[o]).shape, &cg.node(cg.inputs[c]).shape);
        if so != sc {
            return Err(Error::Input(format!(
                "the models cannot be fed the same inputs: original input '{}' is {}, converted input '{}' is {}",
                no[o],
                crate::tensor::describe_sample_shape(so),
                nc[c],
                crate::tensor::describe_sample_shape(sc)
            )));
        }
    }
    Ok(map)
}

/// Outputs pair by position; a different count or shape is a finding (not equivalent).
pub(super) fn match_outputs(
    og: &Graph,
    cg: &Graph,
    tolerances: &Tolerances,
) -> (Vec<(NodeId, NodeId, Tolerance)>, Vec<String>) {
    let mut findings = Vec::new();
    if og.outputs.len() != cg.outputs.len() {
        findings.push(format!(
            "the original has {} output(s), the converted {}",
            og.outputs.len(),
            cg.outputs.len()
        ));
    }
    let mut pairs = Vec::new();
    for (&o, &c) in og.outputs.iter().zip(&cg.outputs) {
        let (on, cn) = (og.node(o), cg.node(c));
        if on.shape != cn.shape {
            findings.push(format!(
                "output '{}' is {} in the original but '{}' is {} in the converted model",
                on.layer,
                crate::tensor::describe_sample_shape(&on.shape),
                cn.layer,
                crate::tensor::describe_sample_shape(&cn.shape)
            ));
            continue;
        }
        pairs.push((o, c, tolerances.for_output(&on.layer)));
    }
    (pairs, findings)
}

pub(super) fn side_info(side: &Side) -> SideInfo {
    SideInfo {
        path: side.model.path.display().to_string(),
        format: side.model.format,
        dialect: side.model.dialect.to_string(),
        keras_version: side.model.keras_version.clone(),
        layers: side.graph.nodes.len(),
        chain: is_chain(&side.graph),
    }
}

pub(super) fn describe_structure(
    original: &Side,
    converted: &Side,
    pairs: &[pairing::Pair],
) -> Structure {
    let (og, cg) = (&original.graph, &converted.graph);
    let paired_o: Vec<NodeId> = pairs.iter().map(|p| p.original).collect();
    let paired_c: Vec<NodeId> = pairs.iter().map(|p| p.converted).collect();
    let unpaired = |g: &Graph, paired: &[NodeId]| {
        (0..g.nodes.len())
            .map(NodeId)
            .filter(|id| !paired.contains(id))
            .map(|id| g.node(id).name.clone())
            .collect()
    };
    Structure {
        original: side_info(original),
        converted: side_info(converted),
        pairs: pairs
            .iter()
            .map(|p| {
                let (on, cn) = (og.node(p.original), cg.node(p.converted));
                PairInfo {
                    original: on.name.clone(),
                    converted: cn.name.clone(),
                    matched_by: p.matched_by,
                    weights: p.weights,
                    op_change: (on.op != cn.op).then(|| op_difference(&on.op, &cn.op)),
                }
            })
            .collect(),
        missing: unpaired(og, &paired_o),
        extra: unpaired(cg, &paired_c),
    }
}

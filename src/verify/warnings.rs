//! Semantic warnings: layers whose meaning differs between the Keras versions that wrote the
//! two files, and paired layers that compute different ops.

use super::*;
use crate::ops::{Activation, Conv, Dense, L2Normalize, Op, Recurrent};

/// How two paired layers' ops differ: their names, or (same op) the parameters that differ.
pub(super) fn op_difference(a: &Op, b: &Op) -> String {
    if a.name() != b.name() {
        return format!("{} → {}", a.name(), b.name());
    }
    let mut changes = Vec::new();
    let (va, vb) = (serde_json::to_value(a), serde_json::to_value(b));
    if let (Ok(va), Ok(vb)) = (va, vb) {
        parameter_changes("", &va, &vb, &mut changes);
    }
    format!("{} with other parameters: {}", a.name(), changes.join(", "))
}

/// The leaves where two serialized ops differ, as `path: a → b`.
fn parameter_changes(
    path: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) if ma.keys().eq(mb.keys()) => {
            for (key, va) in ma {
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                parameter_changes(&inner, va, &mb[key], out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} → {b}")),
        _ => {}
    }
}

pub(super) fn is_unit_norm(graph: &Graph, node: &str) -> bool {
    graph
        .find(node)
        .is_some_and(|id| graph.node(id).class == "UnitNormalization")
}

/// Layers whose meaning differs between the Keras versions that wrote the two files.
pub(super) fn semantic_warnings(
    original: &Side,
    converted: &Side,
    structure: &Structure,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if original.model.dialect != converted.model.dialect {
        let uses_hard_sigmoid = |g: &Graph| {
            g.nodes
                .iter()
                .filter(|n| n.op.name().contains("hard_sigmoid"))
                .map(|n| n.name.clone())
                .collect::<Vec<_>>()
        };
        let layers: Vec<String> = uses_hard_sigmoid(&original.graph);
        if !layers.is_empty() {
            warnings.push(format!(
                "hard_sigmoid means clip(0.2x + 0.5, 0, 1) in tf-keras 2 but clip(x/6 + 0.5, 0, 1) in Keras 3; the original ({}) and the converted ({}) were written by different ones, so these layers compute different functions: {}",
                original.model.dialect,
                converted.model.dialect,
                layers.join(", ")
            ));
        }
        let thresholded: Vec<String> = [&original.graph, &converted.graph]
            .into_iter()
            .flat_map(|g| &g.nodes)
            .filter(|n| {
                matches!(
                    n.op,
                    Op::Activation(Activation::Relu {
                        threshold_by_product: true,
                        ..
                    })
                )
            })
            .map(|n| n.name.clone())
            .collect();
        if !thresholded.is_empty() {
            warnings.push(format!(
                "ReLU with a non-zero threshold gives NaN for a NaN or −inf input in tf-keras 2 (x·(x > threshold)) but 0 in Keras 3 (x > threshold ? x : 0); the original ({}) and the converted ({}) were written by different ones, so these layers differ there: {}",
                original.model.dialect,
                converted.model.dialect,
                thresholded.join(", ")
            ));
        }
        let unit_norm: Vec<String> = structure
            .pairs
            .iter()
            .filter(|p| p.op_change.is_some() && is_unit_norm(&original.graph, &p.original))
            .map(|p| p.original.clone())
            .collect();
        let attention: Vec<String> = original
            .graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Attention(_)))
            .map(|n| n.name.clone())
            .collect();
        if !attention.is_empty() {
            warnings.push(format!(
                "attention masks differ between tf-keras 2 and Keras 3: tf-keras adds −1e9 to a masked score (a NaN score stays NaN) and ANDs the masks a merge layer receives; Keras 3 on jax replaces a masked score in MultiHeadAttention, ORs merged masks (none where an input has none) and clears the masks of MultiHeadAttention's inputs for the layers that run after it; the original ({}) and the converted ({}) were written by different ones: {}",
                original.model.dialect,
                converted.model.dialect,
                attention.join(", ")
            ));
        }
        if !unit_norm.is_empty() {
            warnings.push(format!(
                "UnitNormalization divides by max(‖x‖, 1e-6) in tf-keras 2 but by max(‖x‖, 1e-12) in Keras 3, so these layers differ for inputs of norm below 1e-6: {}",
                unit_norm.join(", ")
            ));
        }
    }
    for pair in &structure.pairs {
        if let Some(change) = &pair.op_change {
            let dialect_only = original.model.dialect != converted.model.dialect
                && differ_only_by_dialect(original, converted, pair);
            if !dialect_only {
                warnings.push(format!(
                    "{} ↔ {}: the op differs ({change})",
                    pair.original, pair.converted
                ));
            }
        }
    }
    warnings
}

/// Whether a pair's ops are the same layer as tf-keras and Keras 3 each define it, differing
/// only where the dialects do (named by the warnings above): hard_sigmoid's slope, relu's
/// threshold form, UnitNormalization's floor.
fn differ_only_by_dialect(original: &Side, converted: &Side, pair: &PairInfo) -> bool {
    let op = |side: &Side, name: &str| {
        side.graph
            .find(name)
            .map(|id| side.graph.node(id).op.clone())
    };
    let unit_norm = is_unit_norm(&original.graph, &pair.original);
    match (op(original, &pair.original), op(converted, &pair.converted)) {
        (Some(a), Some(b)) => dialect_neutral(&a, unit_norm) == dialect_neutral(&b, unit_norm),
        _ => false,
    }
}

/// `op` with the parameters that only say which Keras wrote it cleared (the floor only for a
/// UnitNormalization layer).
fn dialect_neutral(op: &Op, unit_norm: bool) -> Op {
    let act = |a: &Activation| match *a {
        Activation::HardSigmoid { .. } => Activation::HardSigmoid { slope: 0.0 },
        Activation::Relu {
            negative_slope,
            max_value,
            threshold,
            ..
        } => Activation::Relu {
            negative_slope,
            max_value,
            threshold,
            threshold_by_product: false,
        },
        other => other,
    };
    match op {
        Op::Attention(a) => Op::Attention(crate::ops::Attention {
            scale: a.scale.map(|s| crate::ops::attention::ConstantScale {
                on_query: false,
                ..s
            }),
            fill: crate::ops::attention::MaskFill::Add(0.0),
            zero_masked: false,
            query_mask: match a.query_mask {
                crate::ops::attention::QueryMask::Scores => a.query_mask,
                _ => crate::ops::attention::QueryMask::ZeroOutput,
            },
            ..a.clone()
        }),
        Op::Activation(a) => Op::Activation(act(a)),
        // Keras 3 and tf-keras treat ids outside CategoryEncoding's range differently.
        Op::Categorical(crate::ops::Categorical::Encode(e)) => Op::Categorical(
            crate::ops::Categorical::Encode(crate::ops::categorical::Encoding {
                out_of_range: crate::ops::categorical::OutOfRange::Ignored,
                ..e.clone()
            }),
        ),
        // Keras 3 and tf-keras floor the norms differently.
        Op::Dot(d) => Op::Dot(crate::ops::Dot {
            normalize: d.normalize.map(|_| 0.0),
            ..d.clone()
        }),
        Op::Dense(d) => Op::Dense(Dense {
            activation: act(&d.activation),
            ..d.clone()
        }),
        Op::PerStep(p) => Op::PerStep(Box::new(crate::ops::PerStep {
            op: dialect_neutral(&p.op, unit_norm),
            steps: p.steps,
        })),
        Op::L2Normalize(n) if unit_norm => Op::L2Normalize(L2Normalize {
            axes: n.axes.clone(),
            floor: 0.0,
        }),
        Op::Input
        | Op::Softmax(_)
        | Op::PRelu(_)
        | Op::Identity
        | Op::Reshape(_)
        | Op::Permute(_)
        | Op::Repeat(_)
        | Op::Merge(_)
        | Op::Concatenate(_)
        | Op::BatchNorm(_)
        | Op::LayerNorm(_)
        | Op::L2Normalize(_)
        | Op::Mean(_)
        | Op::RmsNorm(_)
        | Op::GroupNorm(_)
        | Op::Scale(_)
        | Op::Resample(_)
        | Op::Pad(_)
        | Op::Pool(_)
        | Op::Embedding(_)
        | Op::MakeMask(_)
        | Op::Masking(_)
        | Op::MaskedMean(_)
        | Op::Categorical(_) => op.clone(),
        Op::Conv(c) => Op::Conv(Conv {
            activation: act(&c.activation),
            ..c.clone()
        }),
        Op::Recurrent(r) => Op::Recurrent(Recurrent {
            activation: act(&r.activation),
            recurrent_activation: act(&r.recurrent_activation),
            ..r.clone()
        }),
    }
}

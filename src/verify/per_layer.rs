//! Per-layer comparison: every paired layer's output, and its own error with the original's
//! values fed in (as tract's compare does), so the first layer that really diverges is named
//! rather than every layer after it.

use serde::Serialize;

use super::pairing::Pair;
use crate::compare::{compare, Metrics, Tolerance};
use crate::error::Result;
use crate::exec::cpu::eval_node;
use crate::exec::{Executor, Keep, Trace};
use crate::graph::{Graph, NodeId, Op};
use crate::tensor::Tensor;

#[derive(Clone, Debug, Serialize)]
pub struct LayerReport {
    pub original: String,
    pub converted: String,
    pub class: String,
    /// The converted layer run on the original's inputs to it, against the original's output:
    /// the error this layer adds by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own: Option<Metrics>,
    /// The converted model's value against the original's: the error accumulated so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accumulated: Option<Metrics>,
    /// False when some input of the layer has no counterpart, so its own error could not be
    /// isolated.
    pub isolated: bool,
    /// Set when the layer's inputs are not the counterparts of its original's inputs (a
    /// skip connection dropped or moved): then its error comes from the wiring, not from the
    /// layer itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewired: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl LayerReport {
    pub fn own_fails(&self) -> bool {
        self.own.as_ref().is_some_and(|m| !m.passed)
    }

    pub fn accumulated_fails(&self) -> bool {
        self.accumulated.as_ref().is_some_and(|m| !m.passed)
    }
}

/// Runs both models keeping every node, and compares the paired layers in the converted
/// model's order.
pub fn compare_layers(
    og: &Graph,
    cg: &Graph,
    pairs: &[Pair],
    (exec_o, inputs_o): (&mut dyn Executor, &[Tensor]),
    (exec_c, inputs_c): (&mut dyn Executor, &[Tensor]),
    tolerance: Tolerance,
) -> Result<Vec<LayerReport>> {
    let trace_o = exec_o.run(inputs_o, Keep::All)?;
    let trace_c = exec_c.run(inputs_c, Keep::All)?;
    let counterpart = |c: NodeId| pairs.iter().find(|p| p.converted == c).map(|p| p.original);
    Ok(pairs
        .iter()
        .filter(|p| cg.node(p.converted).op != Op::Input)
        .map(|p| layer_report(og, cg, p, &trace_o, &trace_c, &counterpart, tolerance))
        .collect())
}

fn layer_report(
    og: &Graph,
    cg: &Graph,
    pair: &Pair,
    trace_o: &Trace,
    trace_c: &Trace,
    counterpart: &dyn Fn(NodeId) -> Option<NodeId>,
    tolerance: Tolerance,
) -> LayerReport {
    let (on, cn) = (og.node(pair.original), cg.node(pair.converted));
    let mut report = LayerReport {
        original: on.name.clone(),
        converted: cn.name.clone(),
        class: cn.class.clone(),
        own: None,
        accumulated: None,
        isolated: false,
        rewired: rewiring(og, cg, pair, counterpart),
        note: None,
    };
    let (Some(want), Some(got)) = (trace_o.get(pair.original), trace_c.get(pair.converted)) else {
        report.note = Some("no value was kept for this layer".into());
        return report;
    };
    if want.shape() != got.shape() {
        report.note = Some(format!(
            "shapes differ: {:?} vs {:?}",
            want.shape(),
            got.shape()
        ));
        return report;
    }
    report.accumulated = Some(compare(want, got, tolerance));
    // Feed the original's values into the converted layer where every input has a counterpart.
    let fed: Option<Vec<&Tensor>> = cn
        .inputs
        .iter()
        .map(|id| counterpart(*id).and_then(|o| trace_o.get(o)))
        .collect();
    let fits = fed.as_ref().is_some_and(|f| {
        f.iter()
            .zip(&cn.inputs)
            .all(|(t, id)| t.shape()[1..] == cg.node(*id).shape[..])
    });
    match fed.filter(|_| fits) {
        Some(inputs) => {
            report.isolated = true;
            report.own = Some(compare(want, &eval_node(cn, &inputs), tolerance));
        }
        None => {
            report.note = Some(
                "an input has no counterpart in the original; only the accumulated error is known"
                    .into(),
            )
        }
    }
    report
}

/// How the converted layer's inputs differ from its original's, when they are not the
/// counterparts of the same layers in the same order.
fn rewiring(
    og: &Graph,
    cg: &Graph,
    pair: &Pair,
    counterpart: &dyn Fn(NodeId) -> Option<NodeId>,
) -> Option<String> {
    let (on, cn) = (og.node(pair.original), cg.node(pair.converted));
    let fed: Vec<Option<NodeId>> = cn.inputs.iter().map(|id| counterpart(*id)).collect();
    if fed.iter().zip(&on.inputs).all(|(c, o)| *c == Some(*o)) && fed.len() == on.inputs.len() {
        return None;
    }
    let names = |g: &Graph, ids: &[NodeId]| {
        ids.iter()
            .map(|id| g.node(*id).name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let converted_inputs: Vec<String> = cn
        .inputs
        .iter()
        .zip(&fed)
        .map(|(id, o)| match o {
            Some(o) if og.node(*o).name != cg.node(*id).name => {
                format!("{} (↔ {})", cg.node(*id).name, og.node(*o).name)
            }
            _ => cg.node(*id).name.clone(),
        })
        .collect();
    Some(format!(
        "the original {} takes {}; the converted {} takes {}",
        on.name,
        names(og, &on.inputs),
        cn.name,
        converted_inputs.join(", ")
    ))
}

/// The first layer whose own error exceeds the tolerance; failing that, the first whose
/// accumulated error does.
pub fn first_divergence(layers: &[LayerReport]) -> Option<LayerReport> {
    layers
        .iter()
        .find(|l| l.own_fails())
        .or_else(|| layers.iter().find(|l| l.accumulated_fails()))
        .cloned()
}

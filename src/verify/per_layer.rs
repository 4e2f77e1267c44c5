//! Per-layer comparison: every paired layer's output, and its own error with the original's
//! values fed in (as tract's compare does), so the first layer that really diverges is named
//! rather than every layer after it.

use serde::Serialize;

use ndarray::Axis;

use super::pairing::Pair;
use crate::compare::{Accumulator, Metrics, Tolerance};
use crate::error::Result;
use crate::exec::cpu::eval_node;
use crate::exec::{Executor, Keep, Trace};
use crate::graph::{Graph, NodeId, Op};
use crate::tensor::{checked_len, Tensor};

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

/// What a per-layer run may hold of both models' values at once: every node of both is kept,
/// so a large batch runs in passes of as many samples as fit (ResNet50 at 224×224 keeps about
/// 300 MB per sample of the two models).
pub const TRACE_BUDGET_BYTES: usize = 1 << 30;

/// Runs both models keeping every node, in passes of [`samples_per_pass`] samples, and
/// compares the paired layers in the converted model's order.
pub fn compare_layers(
    og: &Graph,
    cg: &Graph,
    pairs: &[Pair],
    original: (&mut dyn Executor, &[Tensor]),
    converted: (&mut dyn Executor, &[Tensor]),
    tolerance: Tolerance,
) -> Result<Vec<LayerReport>> {
    let step = samples_per_pass(og, cg);
    compare_layers_in_passes(og, cg, pairs, original, converted, tolerance, step)
}

/// [`compare_layers`] in passes of `step` samples; each layer's metrics add up over the
/// passes exactly as over the whole batch.
pub fn compare_layers_in_passes(
    og: &Graph,
    cg: &Graph,
    pairs: &[Pair],
    (exec_o, inputs_o): (&mut dyn Executor, &[Tensor]),
    (exec_c, inputs_c): (&mut dyn Executor, &[Tensor]),
    tolerance: Tolerance,
    step: usize,
) -> Result<Vec<LayerReport>> {
    let step = step.max(1);
    let counterpart = |c: NodeId| pairs.iter().find(|p| p.converted == c).map(|p| p.original);
    let mut checks: Vec<LayerCheck> = pairs
        .iter()
        .filter(|p| cg.node(p.converted).op != Op::Input)
        .map(|p| LayerCheck::new(og, cg, p, &counterpart))
        .collect();
    let batch = inputs_o.first().map_or(0, |x| x.shape()[0]);
    let mut start = 0;
    while start < batch {
        let count = step.min(batch - start);
        let part = |inputs: &[Tensor]| -> Vec<Tensor> {
            inputs
                .iter()
                .map(|x| {
                    x.slice_axis(Axis(0), (start..start + count).into())
                        .to_owned()
                })
                .collect()
        };
        let trace_o = exec_o.run(&part(inputs_o), Keep::All)?;
        let trace_c = exec_c.run(&part(inputs_c), Keep::All)?;
        for check in &mut checks {
            check.add(cg, (&trace_o, &trace_c), &counterpart, tolerance, start);
        }
        start += count;
    }
    Ok(checks.into_iter().map(LayerCheck::finish).collect())
}

/// How many samples one per-layer pass runs: as many as keep both models' every value within
/// [`TRACE_BUDGET_BYTES`], at least one.
pub fn samples_per_pass(og: &Graph, cg: &Graph) -> usize {
    let values = |g: &Graph| -> usize {
        g.nodes
            .iter()
            .map(|n| checked_len(&n.shape).unwrap_or(usize::MAX))
            .fold(0usize, usize::saturating_add)
    };
    let per_sample = values(og)
        .saturating_add(values(cg))
        .saturating_mul(std::mem::size_of::<f32>());
    (TRACE_BUDGET_BYTES / per_sample.max(1)).max(1)
}

/// One paired layer's comparison, added up pass by pass.
struct LayerCheck {
    report: LayerReport,
    pair: Pair,
    /// Settled on the first pass: whether the layer can be compared, and its own error isolated.
    settled: bool,
    accumulated: Option<Accumulator>,
    own: Option<Accumulator>,
}

impl LayerCheck {
    fn new(
        og: &Graph,
        cg: &Graph,
        pair: &Pair,
        counterpart: &dyn Fn(NodeId) -> Option<NodeId>,
    ) -> Self {
        let (on, cn) = (og.node(pair.original), cg.node(pair.converted));
        LayerCheck {
            report: LayerReport {
                original: on.name.clone(),
                converted: cn.name.clone(),
                class: cn.class.clone(),
                own: None,
                accumulated: None,
                isolated: false,
                rewired: rewiring(og, cg, pair, counterpart),
                note: None,
            },
            pair: pair.clone(),
            settled: false,
            accumulated: None,
            own: None,
        }
    }

    /// Adds one pass, whose first sample is sample `offset` of the batch.
    fn add(
        &mut self,
        cg: &Graph,
        (trace_o, trace_c): (&Trace, &Trace),
        counterpart: &dyn Fn(NodeId) -> Option<NodeId>,
        tolerance: Tolerance,
        offset: usize,
    ) {
        let cn = cg.node(self.pair.converted);
        let (Some(want), Some(got)) = (
            trace_o.get(self.pair.original),
            trace_c.get(self.pair.converted),
        ) else {
            self.report.note = Some("no value was kept for this layer".into());
            return;
        };
        // Feed the original's values into the converted layer where every input has a
        // counterpart of the same shape.
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
        let fed = fed.filter(|_| fits);
        if !self.settled {
            self.settled = true;
            if want.shape() != got.shape() {
                self.report.note = Some(format!(
                    "shapes differ: {:?} vs {:?}",
                    &want.shape()[1..],
                    &got.shape()[1..]
                ));
                return;
            }
            self.accumulated = Some(Accumulator::new(tolerance, false));
            if fed.is_some() {
                self.report.isolated = true;
                self.own = Some(Accumulator::new(tolerance, false));
            } else {
                self.report.note = Some(
                    "an input has no counterpart in the original; only the accumulated error is known"
                        .into(),
                );
            }
        }
        if let Some(acc) = &mut self.accumulated {
            acc.add(want, got, offset);
        }
        if let (Some(acc), Some(inputs)) = (&mut self.own, fed) {
            acc.add(want, &eval_node(cn, &inputs), offset);
        }
    }

    fn finish(mut self) -> LayerReport {
        self.report.accumulated = self.accumulated.map(|a| a.finish());
        self.report.own = self.own.map(|a| a.finish());
        self.report
    }
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

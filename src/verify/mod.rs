//! `verify`: run the original and the converted model on the same inputs and measure how far
//! apart they are: per output, and (on request) per layer with the first divergence.

pub mod assumptions;
pub mod pairing;
pub mod per_layer;
pub mod sides;
mod structure;
mod warnings;

use std::sync::Arc;

use serde::Serialize;

use crate::compare::{Accumulator, Metrics, Tolerance};
use crate::error::{Error, Result};
use crate::exec::DeviceChoice;
use crate::graph::linear::is_chain;
use crate::graph::{Graph, NodeId};
use crate::inputs::InputFeed;
pub use crate::inputs::InputSource;
use crate::keras::{Format, KerasModel};
use crate::tensor::Tensor;
use assumptions::Assumptions;
use pairing::{pair_nodes, MatchedBy, WeightState};
use per_layer::LayerReport;
use sides::Sides;
pub use sides::GPU_METRICS_FROM;
use structure::{describe_structure, match_inputs, match_outputs};
use warnings::semantic_warnings;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsOn {
    Host,
    Gpu,
}

/// A model read and built.
pub struct Side {
    pub model: KerasModel,
    pub graph: Arc<Graph>,
}

/// The default tolerance, and overrides per output name (the original's output layer name).
#[derive(Clone, Debug, Default)]
pub struct Tolerances {
    pub default: Tolerance,
    pub atol: Vec<(String, f64)>,
    pub rtol: Vec<(String, f64)>,
}

impl Tolerances {
    /// Every output a per-output tolerance names must be one of `outputs`: a misspelt name
    /// would silently leave that output at the default tolerance.
    pub fn check_names(&self, outputs: &[String]) -> Result<()> {
        for (name, _) in self.atol.iter().chain(&self.rtol) {
            if !outputs.contains(name) {
                return Err(Error::Usage(format!(
                    "a tolerance is set for output '{name}', but the original model has no output of that name; its outputs are {}",
                    quoted_list(outputs)
                )));
            }
        }
        Ok(())
    }

    pub fn for_output(&self, name: &str) -> Tolerance {
        let pick = |list: &[(String, f64)], default| {
            list.iter()
                .rev()
                .find(|(n, _)| n == name)
                .map_or(default, |(_, v)| *v)
        };
        Tolerance {
            atol: pick(&self.atol, self.default.atol),
            rtol: pick(&self.rtol, self.default.rtol),
        }
    }
}

#[derive(Clone, Debug)]
pub struct VerifyOptions {
    pub tolerances: Tolerances,
    pub inputs: InputSource,
    /// Samples run at once; larger batches stream in chunks of this size.
    pub chunk: usize,
    pub per_layer: bool,
    pub device_original: DeviceChoice,
    pub device_converted: DeviceChoice,
    /// Output floats per chunk from which two models on one GPU have their differences reduced
    /// there (see [`sides`]); usually [`GPU_METRICS_FROM`].
    pub gpu_metrics_from: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub equivalent: bool,
    /// What ran the models ("a / b" when they ran on different devices).
    pub device: String,
    pub devices: Devices,
    /// Where the difference metrics were reduced: on the GPU both models ran on, or on the host.
    pub metrics_on: MetricsOn,
    pub tolerance: Tolerance,
    pub inputs: String,
    pub batch: usize,
    /// What the verdict rests on besides the two files.
    pub assumptions: Assumptions,
    pub outputs: Vec<OutputReport>,
    /// Differences of signature that make the models not equivalent by themselves.
    pub findings: Vec<String>,
    pub warnings: Vec<String>,
    pub structure: Structure,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_divergence: Option<LayerReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<LayerReport>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Devices {
    pub original: String,
    pub converted: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct OutputReport {
    pub name: String,
    pub converted_name: String,
    pub shape: Vec<Option<usize>>,
    pub tolerance: Tolerance,
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[derive(Clone, Debug, Serialize)]
pub struct Structure {
    pub original: SideInfo,
    pub converted: SideInfo,
    pub pairs: Vec<PairInfo>,
    /// Original layers with no counterpart in the converted model.
    pub missing: Vec<String>,
    /// Converted layers with no counterpart in the original.
    pub extra: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SideInfo {
    pub path: String,
    pub format: Format,
    pub dialect: String,
    pub keras_version: Option<String>,
    pub layers: usize,
    pub chain: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct PairInfo {
    pub original: String,
    pub converted: String,
    pub matched_by: MatchedBy,
    pub weights: WeightState,
    /// Set when the paired layers compute different ops (an activation changed, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op_change: Option<String>,
}

pub fn verify(original: &Side, converted: &Side, options: &VerifyOptions) -> Result<VerifyReport> {
    verify_with_progress(original, converted, options, &mut |_, _| {})
}

/// [`verify`], calling `progress(samples done, batch)` after each chunk.
pub fn verify_with_progress(
    original: &Side,
    converted: &Side,
    options: &VerifyOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<VerifyReport> {
    let (og, cg) = (&original.graph, &converted.graph);
    crate::graph::mappings::check_pair([(&original.model.path, og), (&converted.model.path, cg)])?;
    let input_map = match_inputs(og, cg)?;
    let output_names: Vec<String> = og
        .outputs
        .iter()
        .map(|o| og.node(*o).layer.clone())
        .collect();
    options.tolerances.check_names(&output_names)?;
    let source = InputFeed::new(&options.inputs, og)?;
    let mut sides = Sides::prepare(options, og, cg, source.batch)?;
    let devices = {
        let (exec_o, exec_c) = sides.both();
        Devices {
            original: exec_o.device(),
            converted: exec_c.device(),
        }
    };

    let (outputs, findings) = match_outputs(og, cg, &options.tolerances);
    let mut accumulators: Vec<Accumulator> = outputs
        .iter()
        .map(|(o, _, tol)| Accumulator::new(*tol, is_class_scores(og, *o)))
        .collect();
    let chunk = options.chunk.max(1);
    let mut start = 0;
    let mut first_chunk = None;
    let mut metrics_on = MetricsOn::Host;
    while start < source.batch {
        let count = chunk.min(source.batch - start);
        let inputs_o = source.chunk(og, start, count)?;
        let inputs_c: Vec<Tensor> = input_map.iter().map(|&i| inputs_o[i].clone()).collect();
        let on_gpu = sides.measure_chunk(
            (og, cg),
            (&inputs_o, &inputs_c),
            &outputs,
            &mut accumulators,
            start,
            options.gpu_metrics_from,
        )?;
        if on_gpu {
            metrics_on = MetricsOn::Gpu;
        }
        if first_chunk.is_none() {
            first_chunk = Some((inputs_o, inputs_c));
        }
        start += count;
        progress(start, source.batch);
    }

    let pairs = pair_nodes(og, cg);
    let structure = describe_structure(original, converted, &pairs);
    let assumptions = Assumptions::new(
        original,
        converted,
        source.description.clone(),
        source.casts.clone(),
    );
    let mut warnings = semantic_warnings(original, converted, &structure);
    warnings.extend(assumptions.mapping_warning());
    warnings.extend(
        original
            .model
            .warnings
            .iter()
            .map(|w| format!("original: {w}")),
    );
    warnings.extend(
        converted
            .model
            .warnings
            .iter()
            .map(|w| format!("converted: {w}")),
    );

    let output_reports: Vec<OutputReport> = outputs
        .iter()
        .zip(&accumulators)
        .map(|((o, c, tol), acc)| OutputReport {
            name: og.node(*o).layer.clone(),
            converted_name: cg.node(*c).layer.clone(),
            shape: std::iter::once(None)
                .chain(og.node(*o).shape.iter().map(|&d| Some(d)))
                .collect(),
            tolerance: *tol,
            metrics: acc.finish(),
        })
        .collect();
    let equivalent = findings.is_empty() && output_reports.iter().all(|o| o.metrics.passed);

    let layers = match (options.per_layer, first_chunk) {
        (true, Some((inputs_o, inputs_c))) => {
            let (exec_o, exec_c) = sides.both();
            Some(per_layer::compare_layers(
                og,
                cg,
                &pairs,
                (exec_o, &inputs_o),
                (exec_c, &inputs_c),
                options.tolerances.default,
            )?)
        }
        _ => None,
    };
    let first_divergence = layers.as_ref().and_then(|l| per_layer::first_divergence(l));

    Ok(VerifyReport {
        equivalent,
        device: if devices.original == devices.converted {
            devices.original.clone()
        } else {
            format!("{} / {}", devices.original, devices.converted)
        },
        devices,
        metrics_on,
        tolerance: options.tolerances.default,
        inputs: source.description,
        batch: source.batch,
        assumptions,
        outputs: output_reports,
        findings,
        warnings,
        structure,
        first_divergence,
        layers,
    })
}

/// `'a', 'b', 'c'`: names as a user would type them.
pub(crate) fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A (batch, classes) output that ends in a softmax: its argmax is a predicted class.
fn is_class_scores(graph: &Graph, id: NodeId) -> bool {
    use crate::ops::{Activation, Conv, Dense, Op};
    let node = graph.node(id);
    let softmax = |a: &Activation| matches!(a, Activation::Softmax | Activation::LogSoftmax);
    node.shape.len() == 1
        && node.shape[0] >= 2
        && match &node.op {
            Op::Dense(Dense { activation, .. })
            | Op::Conv(Conv { activation, .. })
            | Op::Activation(activation) => softmax(activation),
            Op::Softmax(_) => true,
            Op::Input
            | Op::PerStep(_)
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
            | Op::Recurrent(_)
            | Op::Embedding(_)
            | Op::MakeMask(_)
            | Op::Masking(_)
            | Op::MaskedMean(_)
            | Op::Attention(_)
            | Op::Dot(_)
            | Op::Categorical(_) => false,
        }
}

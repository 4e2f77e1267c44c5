//! `verify`: run the original and the converted model on the same inputs and measure how far
//! apart they are: per output, and (on request) per layer with the first divergence.

pub mod assumptions;
pub mod pairing;
pub mod per_layer;
pub mod sides;

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
    let mut sides = Sides::prepare(options, og, cg)?;
    let devices = {
        let (exec_o, exec_c) = sides.both();
        Devices {
            original: exec_o.device(),
            converted: exec_c.device(),
        }
    };

    let (outputs, findings) = match_outputs(og, cg, &options.tolerances);
    let source = InputFeed::new(&options.inputs, og)?;
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

/// How two paired layers' ops differ: their names, or (same op) their parameters.
fn op_difference(a: &crate::graph::Op, b: &crate::graph::Op) -> String {
    if a.name() == b.name() {
        format!("{} with other parameters: {a:?} → {b:?}", a.name())
    } else {
        format!("{} → {}", a.name(), b.name())
    }
}

fn is_unit_norm(graph: &Graph, node: &str) -> bool {
    graph
        .find(node)
        .is_some_and(|id| graph.node(id).class == "UnitNormalization")
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
    use crate::graph::{Activation, Op};
    let node = graph.node(id);
    let softmax = |a: &Activation| matches!(a, Activation::Softmax | Activation::LogSoftmax);
    node.shape.len() == 1
        && node.shape[0] >= 2
        && match &node.op {
            Op::Dense { activation, .. } | Op::Activation(activation) => softmax(activation),
            Op::Softmax { .. } => true,
            Op::Input
            | Op::PRelu
            | Op::Identity
            | Op::Reshape
            | Op::Permute { .. }
            | Op::Merge(_)
            | Op::Concatenate { .. }
            | Op::BatchNorm { .. }
            | Op::LayerNorm { .. }
            | Op::L2Normalize { .. } => false,
        }
}

/// For each converted input, the index of the original input that feeds it: by name, else by
/// position. Different counts or shapes cannot be fed the same data: an error.
fn match_inputs(og: &Graph, cg: &Graph) -> Result<Vec<usize>> {
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
fn match_outputs(
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

fn side_info(side: &Side) -> SideInfo {
    SideInfo {
        path: side.model.path.display().to_string(),
        format: side.model.format,
        dialect: side.model.dialect.to_string(),
        keras_version: side.model.keras_version.clone(),
        layers: side.graph.nodes.len(),
        chain: is_chain(&side.graph),
    }
}

fn describe_structure(original: &Side, converted: &Side, pairs: &[pairing::Pair]) -> Structure {
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

/// Layers whose meaning differs between the Keras versions that wrote the two files.
fn semantic_warnings(original: &Side, converted: &Side, structure: &Structure) -> Vec<String> {
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
                    crate::graph::Op::Activation(crate::graph::Activation::Relu {
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
    }
    if original.model.dialect != converted.model.dialect {
        let unit_norm: Vec<String> = structure
            .pairs
            .iter()
            .filter(|p| p.op_change.is_some() && is_unit_norm(&original.graph, &p.original))
            .map(|p| p.original.clone())
            .collect();
        if !unit_norm.is_empty() {
            warnings.push(format!(
                "UnitNormalization divides by max(‖x‖, 1e-6) in tf-keras 2 but by max(‖x‖, 1e-12) in Keras 3, so these layers differ for inputs of norm below 1e-6: {}",
                unit_norm.join(", ")
            ));
        }
    }
    // The same relu written by tf-keras and by Keras 3: named above, not an op change.
    let only_relu_dialect = |change: &str| {
        change.split_once(" → ").is_some_and(|(a, b)| {
            a != b && a.replace(", tf-keras)", ")") == b.replace(", tf-keras)", ")")
        })
    };
    for pair in &structure.pairs {
        if let Some(change) = &pair.op_change {
            let dialect_only = original.model.dialect != converted.model.dialect
                && (change.contains("hard_sigmoid")
                    || only_relu_dialect(change)
                    || is_unit_norm(&original.graph, &pair.original));
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

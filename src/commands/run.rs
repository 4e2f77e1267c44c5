//! `keqv run MODEL`: runs a model on given or seeded random inputs and writes its outputs.

use std::path::Path;

use super::{load_model, Outcome};
use crate::cli::{DeviceArgs, InputArgs, ModelArgs};
use crate::error::{Error, Result};
use crate::exec::{prepare, Keep};
use crate::graph::Graph;
use crate::inputs;
use crate::npy;
use crate::tensor::Tensor;

pub fn run(
    model_args: &ModelArgs,
    input_args: &InputArgs,
    device: &DeviceArgs,
    output: Option<&Path>,
) -> Result<Outcome> {
    let choice = device.choice()?;
    let random = input_args.random()?;
    let (model, graph) = load_model(model_args)?;
    for warning in &model.warnings {
        eprintln!("keqv: warning: {}: {warning}", model.path.display());
    }
    let inputs = match &input_args.inputs {
        Some(path) => inputs::load(path, &graph)?,
        None => inputs::generate(&graph, &random)?,
    };
    let mut executor = prepare(&choice, graph.clone())?;
    let outputs = executor.run(&inputs, Keep::Outputs)?.into_outputs();
    eprintln!("ran {} on {}", graph.name, executor.device());
    match output {
        Some(path) => write_outputs(path, &graph, &outputs)?,
        None => print_summary(&graph, &outputs),
    }
    Ok(Outcome::Success)
}

/// One output: `.npy`. Several: `.npz` keyed by output layer name.
fn write_outputs(path: &Path, graph: &Graph, outputs: &[Tensor]) -> Result<()> {
    let is_npz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
    if outputs.len() == 1 && !is_npz {
        return npy::write_npy(path, &outputs[0]);
    }
    if !is_npz {
        return Err(Error::Usage(format!(
            "the model has {} outputs: write them to an .npz file, not {}",
            outputs.len(),
            path.display()
        )));
    }
    let named: Vec<(String, &Tensor)> = graph
        .outputs
        .iter()
        .zip(outputs)
        .map(|(id, t)| (graph.node(*id).layer.clone(), t))
        .collect();
    npy::write_npz(path, &named)
}

fn print_summary(graph: &Graph, outputs: &[Tensor]) {
    for (id, t) in graph.outputs.iter().zip(outputs) {
        let finite: Vec<f32> = t.iter().copied().filter(|v| v.is_finite()).collect();
        let min = finite.iter().copied().fold(f32::INFINITY, f32::min);
        let max = finite.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mean = finite.iter().map(|&v| v as f64).sum::<f64>() / finite.len().max(1) as f64;
        let non_finite = t.len() - finite.len();
        println!(
            "{}: shape {:?}, min {min:.6}, mean {mean:.6}, max {max:.6}{}",
            graph.node(*id).name,
            t.shape(),
            if non_finite > 0 {
                format!(", {non_finite} NaN/Inf")
            } else {
                String::new()
            }
        );
    }
}

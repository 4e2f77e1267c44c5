//! What a converted file must keep of its source, checked the same way for the Sequential chains
//! of tests/convert.rs and the blocks of tests/convert_blocks.rs.

use std::sync::Arc;

use keqv::exec::cpu::{CpuExecutor, Precision};
use keqv::exec::{Executor, Keep};
use keqv::graph::build::build;
use keqv::graph::Graph;
use keqv::keras::{KerasModel, LayerConfig};
use keqv::tensor::Tensor;

use super::{within, Fixture};

/// How the layer `got` read back from a converted file differs from its source `src`: its class,
/// its config (compared within a dialect only: across dialects it is translated) and its
/// weights, bit for bit. Empty when it kept them all.
pub fn layer_changes(src: &LayerConfig, got: &LayerConfig, same_dialect: bool) -> Vec<String> {
    let mut changes = Vec::new();
    if src.class_name != got.class_name || src.registered_name != got.registered_name {
        changes.push(format!("layer {} class changed", src.name));
    }
    if same_dialect && src.config != got.config {
        changes.push(format!("layer {} config changed", src.name));
    }
    let same_weights =
        src.weights.len() == got.weights.len()
            && src.weights.iter().zip(&got.weights).all(|(a, b)| {
                a.value.shape() == b.value.shape() && bits(&a.value) == bits(&b.value)
            });
    if !same_weights {
        changes.push(format!("layer {} weights changed", src.name));
    }
    changes
}

/// The largest difference of each output between the fixture's model and the converted `back`,
/// both run by keqv's CPU executor on the fixture's inputs; Err when `back` does not build.
pub fn output_differences(fixture: &Fixture, back: &KerasModel) -> Result<Vec<f32>, String> {
    let original = fixture.graph().unwrap();
    let converted = build(back, &fixture.options()).map_err(|e| format!("does not build: {e}"))?;
    let inputs = fixture.inputs(&original);
    let want = run(original, &inputs);
    let got = run(converted, &inputs);
    Ok(got
        .iter()
        .zip(&want)
        .map(|(a, b)| within(a, b, 0.0, 0.0).0)
        .collect())
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.iter().map(|v| v.to_bits()).collect()
}

fn run(graph: Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    let mut exec = CpuExecutor::new(Arc::new(graph), Precision::F32);
    exec.run(inputs, Keep::Outputs).unwrap().into_outputs()
}

//! End-to-end benches: `verify` on the fixture pairs (load both files, build, run, compare),
//! and the large MLP 784→4096→4096→4096→10 at batch 1, 64 and 1024 on the CPU executor and on
//! every GPU adapter present.

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keqv::exec::{prepare, DeviceChoice, Keep};
use keqv::graph::build::{build, BuildOptions};
use keqv::graph::{Activation, Graph, Node, NodeId, Op, Weight};
use keqv::inputs::{generate, RandomInputs};
use keqv::keras::KerasModel;
use keqv::ops::Dense;
use keqv::tensor::Tensor;
use keqv::verify::{verify, InputSource, Side, VerifyOptions};
use ndarray::IxDyn;

const PAIRS: &[(&str, &str)] = &[
    ("models/k3/a_seq_mlp.keras", "models/k3/a_func_mlp.keras"),
    (
        "models/tfk/c_func_skip.h5",
        "models/k3/c_func_skip_reimpl.keras",
    ),
    ("models/tfk/e_zoo.h5", "models/k3/e_zoo.keras"),
];

fn side(path: &str) -> Side {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    let model = KerasModel::load(&path, None).unwrap();
    let graph = Arc::new(build(&model, &BuildOptions::default()).unwrap());
    Side { model, graph }
}

fn verify_pairs(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify_fixture_pair");
    group.sample_size(20);
    let options = VerifyOptions {
        tolerances: Default::default(),
        inputs: InputSource::Random(RandomInputs::default()),
        chunk: 1024,
        per_layer: false,
        device_original: DeviceChoice::Cpu,
        device_converted: DeviceChoice::Cpu,
        gpu_metrics_from: keqv::verify::GPU_METRICS_FROM,
    };
    for (original, converted) in PAIRS {
        let name = format!(
            "{} vs {}",
            original.rsplit('/').next().unwrap(),
            converted.rsplit('/').next().unwrap()
        );
        group.bench_function(BenchmarkId::new("load+verify", name), |b| {
            b.iter(|| {
                let report = verify(&side(original), &side(converted), &options).unwrap();
                assert!(report.equivalent);
            })
        });
    }
    group.finish();
}

/// The large MLP with deterministic weights, built directly as a graph.
pub fn large_mlp() -> Graph {
    let widths = [784, 4096, 4096, 4096, 10];
    let mut nodes = vec![Node {
        name: "input".into(),
        layer: "input".into(),
        class: "InputLayer".into(),
        op: Op::Input,
        inputs: vec![],
        weights: vec![],
        shape: vec![784],
        op_layer: false,
    }];
    for (i, pair) in widths.windows(2).enumerate() {
        let (k, n) = (pair[0], pair[1]);
        let scale = 1.0 / (k as f32).sqrt();
        let kernel = Tensor::from_shape_fn(IxDyn(&[k, n]), |ix| {
            (((ix[0] * 31 + ix[1] * 17) % 97) as f32 / 97.0 - 0.5) * scale
        });
        let bias = Tensor::zeros(IxDyn(&[n]));
        let activation = if i == 3 {
            Activation::Softmax
        } else {
            Activation::RELU
        };
        nodes.push(Node {
            name: format!("dense_{i}"),
            layer: format!("dense_{i}"),
            class: "Dense".into(),
            op: Op::Dense(Dense {
                units: n,
                use_bias: true,
                activation,
            }),
            inputs: vec![NodeId(i)],
            weights: vec![
                Weight::new("kernel", Arc::new(kernel)),
                Weight::new("bias", Arc::new(bias)),
            ],
            shape: vec![n],
            op_layer: false,
        });
    }
    Graph {
        name: "large_mlp".into(),
        outputs: vec![NodeId(nodes.len() - 1)],
        inputs: vec![NodeId(0)],
        nodes,
        mappings: Vec::new(),
    }
}

/// The CPU, then every GPU adapter `test_adapters()` finds (`KEQV_GPU_BACKENDS` narrows them).
fn devices() -> Vec<DeviceChoice> {
    let mut devices = vec![DeviceChoice::Cpu];
    for ctx in keqv::exec::gpu::test_adapters() {
        devices.push(DeviceChoice::Gpu {
            backend: ctx.backend(),
            adapter: Some(ctx.info().name.clone()),
        });
    }
    devices
}

fn large_mlp_batches(c: &mut Criterion) {
    let graph = Arc::new(large_mlp());
    let mut group = c.benchmark_group("large_mlp");
    group.sample_size(10);
    for device in devices() {
        let mut exec = prepare(&device, graph.clone(), u64::MAX).unwrap();
        let name = exec.device();
        for batch in [1usize, 64, 1024] {
            let inputs = generate(
                &graph,
                &RandomInputs {
                    batch,
                    ..Default::default()
                },
            )
            .unwrap();
            group.throughput(Throughput::Elements(
                2 * graph.macs_per_sample() * batch as u64,
            ));
            group.bench_function(BenchmarkId::new(name.clone(), batch), |b| {
                b.iter(|| exec.run(&inputs, Keep::Outputs).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, verify_pairs, large_mlp_batches);
criterion_main!(benches);

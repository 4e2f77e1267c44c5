//! Every keras.applications family (`weights=None`, small inputs, BatchNormalization statistics
//! calibrated on real activations), written by Keras 3 and by tf-keras as `.keras` and `.h5` by
//! models/generate_applications.py, reproduces Keras's own predictions on the CPU executor, and
//! one file of each model (the four hold the same architecture and weights) on every GPU
//! adapter present: |a − b| ≤ 1e-4 + 1e-4·|b|. The models are generated in CI (`.ci/run`),
//! never committed; with CI=true a missing manifest fails the test.

mod common;

use std::sync::Arc;

use keqv::exec::cpu::{CpuExecutor, Precision};
use keqv::exec::gpu::{test_adapters, GpuExecutor};
use keqv::exec::{Executor, Keep};

const TOL: f32 = 1e-4;

#[test]
fn applications_reproduce_keras_on_the_cpu_and_the_gpu() {
    let Some(fixtures) = common::applications() else {
        let dir = common::applications_dir();
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{}/applications.json is missing: run models/generate_applications.py --out {}",
            dir.display(),
            dir.display()
        );
        eprintln!(
            "skipped: no keras.applications models in {} (models/generate_applications.py writes them)",
            dir.display()
        );
        return;
    };
    assert!(
        !fixtures.is_empty(),
        "the applications manifest lists no model"
    );
    let adapters = test_adapters();
    let mut failures = Vec::new();
    let mut on_gpu = std::collections::HashSet::new();
    for fixture in &fixtures {
        let id = fixture.id();
        let graph = match fixture.graph() {
            Ok(g) => Arc::new(g),
            Err(e) => {
                failures.push(format!("{id}: {e}"));
                continue;
            }
        };
        let inputs = fixture.inputs(&graph);
        let expected = fixture.expected(&graph);
        let t = std::time::Instant::now();
        let cpu = CpuExecutor::new(graph.clone(), Precision::F32)
            .run(&inputs, Keep::Outputs)
            .unwrap()
            .into_outputs();
        let mut runs = vec![("cpu".to_string(), cpu, t.elapsed())];
        // The software adapters take seconds per model: each model once.
        let gpu_adapters = if on_gpu.insert(fixture.model.clone()) {
            &adapters[..]
        } else {
            &[]
        };
        for ctx in gpu_adapters {
            let t = std::time::Instant::now();
            let outputs = GpuExecutor::new(ctx.clone(), graph.clone())
                .and_then(|mut e| e.run(&inputs, Keep::Outputs))
                .map(|trace| trace.into_outputs());
            match outputs {
                Ok(o) => runs.push((ctx.describe(), o, t.elapsed())),
                Err(e) => failures.push(format!("{id} on {}: {e}", ctx.describe())),
            }
        }
        for (device, outputs, took) in runs {
            for (i, (got, want)) in outputs.iter().zip(&expected).enumerate() {
                let (max, ok) = common::within(got, want, TOL, TOL);
                eprintln!(
                    "{id} on {device}: output {i} max |a-b| = {max:.3e} ({:.1} s)",
                    took.as_secs_f64()
                );
                if !ok {
                    failures.push(format!(
                        "{id} on {device}: output {i}: max |a-b| = {max:.3e} exceeds {TOL} + {TOL}·|b|"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

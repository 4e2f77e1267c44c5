//! Every runnable fixture reproduces Keras's own predictions on every GPU adapter present
//! (lavapipe and llvmpipe in CI, where a missing adapter fails the run):
//! |a − b| ≤ 1e-5 + 1e-5·|b|, the same rule as the CPU executor.

mod common;

use std::sync::Arc;

use keqv::exec::gpu::{test_adapters, GpuExecutor};
use keqv::exec::{Executor, Keep};

#[test]
fn gpu_reproduces_keras_on_every_fixture() {
    let fixtures: Vec<_> = common::fixtures()
        .into_iter()
        .filter(|f| f.runnable)
        .collect();
    let mut failures = Vec::new();
    for ctx in test_adapters() {
        let mut worst = (0f32, String::new());
        for fixture in &fixtures {
            let id = fixture.id();
            let graph = Arc::new(fixture.graph().unwrap_or_else(|e| panic!("{id}: {e}")));
            let inputs = fixture.inputs(&graph);
            let expected = fixture.expected(&graph);
            let mut exec = match GpuExecutor::new(ctx.clone(), graph) {
                Ok(e) => e,
                Err(e) => {
                    failures.push(format!("{}: {id}: {e}", ctx.describe()));
                    continue;
                }
            };
            let outputs = exec.run(&inputs, Keep::Outputs).unwrap().into_outputs();
            for (i, (got, want)) in outputs.iter().zip(&expected).enumerate() {
                let (max, ok) = common::within(got, want, 1e-5, 1e-5);
                if max > worst.0 {
                    worst = (max, format!("{id} output {i}"));
                }
                if !ok {
                    failures.push(format!(
                        "{}: {id} output {i}: max |a-b| = {max:.3e}",
                        ctx.describe()
                    ));
                }
            }
        }
        eprintln!(
            "{}: {} fixtures, largest error {:.3e} ({})",
            ctx.describe(),
            fixtures.len(),
            worst.0,
            worst.1
        );
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

//! Every runnable fixture, in every format and both dialects, reproduces Keras's own saved
//! predictions on the CPU executor: |a − b| ≤ 1e-5 + 1e-5·|b| element by element, and NaN
//! where Keras gave NaN, the same infinity where it gave one (the i_nonfinite_* fixtures).

mod common;

use std::sync::Arc;

use keqv::exec::cpu::{CpuExecutor, Precision};
use keqv::exec::{Executor, Keep};

#[test]
fn cpu_reproduces_keras_on_every_fixture() {
    let mut failures = Vec::new();
    let mut worst = (0f32, String::new());
    for fixture in common::fixtures().into_iter().filter(|f| f.runnable) {
        let id = fixture.id();
        let graph = match fixture.graph() {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{id}: {e}"));
                continue;
            }
        };
        let inputs = fixture.inputs(&graph);
        let expected = fixture.expected(&graph);
        let mut exec = CpuExecutor::new(Arc::new(graph), Precision::F32);
        let outputs = exec.run(&inputs, Keep::Outputs).unwrap().into_outputs();
        // Keeping every value (per-layer runs) turns off the in-place activations that a run
        // keeping only the outputs uses: the outputs must be the same bits either way.
        let kept = exec.run(&inputs, Keep::All).unwrap().into_outputs();
        let bits = |ts: &[keqv::tensor::Tensor]| -> Vec<Vec<u32>> {
            ts.iter()
                .map(|t| t.iter().map(|v| v.to_bits()).collect())
                .collect()
        };
        if bits(&outputs) != bits(&kept) {
            failures.push(format!(
                "{id}: Keep::Outputs and Keep::All give other outputs"
            ));
        }
        for (i, (got, want)) in outputs.iter().zip(&expected).enumerate() {
            let (max, ok) = common::within(got, want, 1e-5, 1e-5);
            eprintln!("{id} output {i}: max |a-b| = {max:.3e}");
            if max > worst.0 {
                worst = (max, format!("{id} output {i}"));
            }
            if !ok {
                failures.push(format!(
                    "{id} output {i}: max |a-b| = {max:.3e} exceeds 1e-5 + 1e-5·|b|"
                ));
            }
        }
    }
    eprintln!(
        "largest error over all fixtures: {:.3e} ({})",
        worst.0, worst.1
    );
    assert!(
        failures.is_empty(),
        "{} fixture(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn nan_matches_only_nan_and_an_infinity_only_the_same_infinity() {
    let (n, i) = (f32::NAN, f32::INFINITY);
    let keras = ndarray::arr1(&[n, i, -i, 1.0]).into_dyn();
    let ok = |a: [f32; 4]| common::within(&ndarray::arr1(&a).into_dyn(), &keras, 1e-5, 1e-5);
    assert!(ok([n, i, -i, 1.0]).1);
    for wrong in [
        [0.0, i, -i, 1.0],
        [n, -i, -i, 1.0],
        [n, 1e38, -i, 1.0],
        [n, i, 0.0, 1.0],
        [n, i, -i, n],
        [n, i, -i, i],
    ] {
        let (max, passed) = ok(wrong);
        assert!(!passed, "{wrong:?} passed against {keras:?}");
        assert_eq!(max, f32::INFINITY, "{wrong:?}");
    }
}

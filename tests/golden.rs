//! Every runnable fixture, in every format and both dialects, reproduces Keras's own saved
//! predictions on the CPU executor: |a − b| ≤ 1e-5 + 1e-5·|b| element by element, and NaN
//! where Keras gave NaN, the same infinity where it gave one (the i_nonfinite_* fixtures).

mod common;

use std::sync::Arc;

use keqv::exec::cpu::{CpuExecutor, Precision};
use keqv::exec::{Executor, Keep};
use keqv::graph::Op;
use keqv::npy;
use keqv::ops::Categorical;
use keqv::tensor::Tensor;

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

/// Discretization and IntegerLookup with output_mode one_hot, multi_hot or count give Keras's
/// encoding of their int output (the function CategoryEncoding calls) over as many tokens as
/// they have indices, as Keras computes them: x_category with its `buckets` (4 boundaries) and
/// `lookup` (4 ids, 1 OOV index) layers made so gives the encoding of Keras's own int outputs,
/// 5 tokens each.
#[test]
fn encoded_buckets_and_lookups_are_their_indices_encoded() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::fixtures()
        .into_iter()
        .filter(|f| f.model == "x_category" && f.format == "keras");
    let mut checked = 0;
    for fixture in fixtures {
        let graph = fixture.graph().unwrap();
        let inputs = fixture.inputs(&graph);
        let expected = fixture.expected(&graph);
        let int_output = |graph: &keqv::graph::Graph, outputs: &[Tensor], name: &str| {
            let i = graph
                .outputs
                .iter()
                .position(|&id| graph.node(id).layer == name);
            outputs[i.unwrap_or_else(|| panic!("no output {name}"))].clone()
        };
        let buckets = int_output(&graph, &expected, "buckets");
        let lookup = int_output(&graph, &expected, "lookup_ids");
        for mode in ["one_hot", "multi_hot", "count"] {
            let id = format!("{} with output_mode {mode}", fixture.id());
            let path = dir.path().join(format!("{}_{mode}.keras", fixture.writer));
            common::files::keras_with_config(&fixture.base.join(&fixture.path), &path, |c| {
                for layer in c["config"]["layers"].as_array_mut().unwrap() {
                    if layer["config"]["name"] == "buckets" || layer["config"]["name"] == "lookup" {
                        layer["config"]["output_mode"] = mode.into();
                    }
                }
            });
            let model = keqv::keras::KerasModel::load(&path, None).unwrap();
            let graph = keqv::graph::build::build(&model, &fixture.options()).unwrap();
            let mut exec = CpuExecutor::new(Arc::new(graph.clone()), Precision::F32);
            let outputs = exec.run(&inputs, Keep::Outputs).unwrap().into_outputs();
            for (name, ids) in [("buckets", &buckets), ("lookup_ids", &lookup)] {
                let got = int_output(&graph, &outputs, name);
                let want = encoded(ids, mode, 5);
                let (max, ok) = common::within(&got, &want, 0.0, 0.0);
                assert!(ok, "{id}: {name} differs by {max}\n{got}\nnot\n{want}");
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked, 6,
        "the two .keras files of x_category, three modes each"
    );
}

/// x_category_seq is IntegerLookup (4 ids, 1 OOV index) -> CategoryEncoding(5, count) ->
/// Dense -> Dense: made with the lookup's own output_mode count instead of the encoding layer,
/// Keras computes the same function, and keqv reproduces Keras's predictions.
#[test]
fn a_lookup_that_counts_is_a_lookup_then_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::fixtures()
        .into_iter()
        .filter(|f| f.model == "x_category_seq" && f.format == "keras");
    let mut checked = 0;
    for fixture in fixtures {
        let path = dir.path().join(format!("{}.keras", fixture.writer));
        common::files::keras_with_config(&fixture.base.join(&fixture.path), &path, |c| {
            let layers = c["config"]["layers"].as_array_mut().unwrap();
            layers.retain(|l| l["class_name"] != "CategoryEncoding");
            layers[1]["config"]["output_mode"] = "count".into();
        });
        let model = keqv::keras::KerasModel::load(&path, None).unwrap();
        let graph = keqv::graph::build::build(&model, &fixture.options()).unwrap();
        let lookup = graph.node(graph.find("integer_lookup").unwrap());
        assert!(
            matches!(&lookup.op, Op::Categorical(Categorical::Encode(e)) if e.tokens == 5),
            "{}: {:?}",
            fixture.id(),
            lookup.op
        );
        let inputs = fixture.inputs(&graph);
        let expected = npy::read_npy(&fixture.base.join(&fixture.expected)).unwrap();
        let mut exec = CpuExecutor::new(Arc::new(graph), Precision::F32);
        let outputs = exec.run(&inputs, Keep::Outputs).unwrap().into_outputs();
        let (max, ok) = common::within(&outputs[0], &expected, 1e-5, 1e-5);
        assert!(ok, "{}: max |a-b| = {max:.3e}", fixture.id());
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// Keras's encoding of a batch of int `ids` rows into `tokens` columns.
fn encoded(ids: &Tensor, mode: &str, tokens: usize) -> Tensor {
    let rows = ids.shape()[0];
    let per_row = ids.shape()[1];
    let column = |v: f32| v as usize;
    match mode {
        "one_hot" => Tensor::from_shape_fn(ndarray::IxDyn(&[rows, per_row, tokens]), |i| {
            f32::from(column(ids[[i[0], i[1]]]) == i[2])
        }),
        _ => Tensor::from_shape_fn(ndarray::IxDyn(&[rows, tokens]), |i| {
            let n = (0..per_row)
                .filter(|&k| column(ids[[i[0], k]]) == i[1])
                .count() as f32;
            if mode == "count" {
                n
            } else {
                n.min(1.0)
            }
        }),
    }
}

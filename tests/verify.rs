//! `keqv verify` on the fixture pairs: the verdicts, the metrics, the first divergence and the
//! report formats, through the binary as users run it.

mod common;

use common::keqv;
use serde_json::Value;

/// Runs `keqv verify --format json ARGS` and returns (exit code, report).
fn verify(args: &[&str]) -> (i32, Value) {
    let out = keqv()
        .arg("verify")
        .args(args)
        .args(["--format", "json", "--device", "cpu"])
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "exit {code}: not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, report)
}

/// Runs `keqv verify ORIGINAL CONVERTED --device cpu ARGS`, expecting exit code 2; returns
/// stderr.
fn refused(original: &str, converted: &str, args: &[&str]) -> String {
    let out = keqv()
        .args(["verify", original, converted, "--device", "cpu"])
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    err
}

fn max_abs(report: &Value) -> f64 {
    report["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["max_abs"].as_f64().unwrap())
        .fold(0.0, f64::max)
}

#[test]
fn sequential_mlp_and_its_functional_rewrite_are_identical() {
    let (code, r) = verify(&["models/k3/a_seq_mlp.keras", "models/k3/a_func_mlp.keras"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["equivalent"], true);
    assert_eq!(max_abs(&r), 0.0, "identical twins give exactly 0");
    let out = &r["outputs"][0];
    assert_eq!(out["top1_agreement"], 1.0);
    assert_eq!(out["mismatches"], 0);
    // Names differ, so pairing falls back to weights; every weighted pair is bit-identical.
    let pairs = r["structure"]["pairs"].as_array().unwrap();
    assert!(
        pairs
            .iter()
            .any(|p| p["matched_by"] == "weights" && p["weights"] == "identical"),
        "{pairs:?}"
    );
}

#[test]
fn custom_layer_model_verifies_with_a_mapping() {
    let (code, r) = verify(&[
        "models/tfk/b_seq_custom.h5",
        "models/k3/b_seq_custom.keras",
        "--custom",
        "FeatureNormalization=l2_normalize",
    ]);
    assert_eq!(code, 0, "{r}");
    assert!(max_abs(&r) < 1e-6, "{}", max_abs(&r));
}

#[test]
fn custom_layer_without_a_mapping_is_an_error_naming_the_flag() {
    let err = refused(
        "models/k3/b_seq_custom.keras",
        "models/k3/b_seq_custom.h5",
        &[],
    );
    assert!(
        err.contains("--custom FeatureNormalization=") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn skip_connection_model_against_its_reimplementation_and_a_wrong_linearisation() {
    let (code, r) = verify(&[
        "models/k3/c_func_skip.keras",
        "models/tfk/c_func_skip_reimpl.h5",
    ]);
    assert_eq!(code, 0, "{r}");
    assert!(max_abs(&r) < 1e-6);
    let (code, r) = verify(&[
        "models/k3/c_func_skip.keras",
        "models/k3/c_seq_skip_dropped.keras",
        "--per-layer",
    ]);
    assert_eq!(code, 1, "dropping the skip changes the function");
    assert_eq!(r["equivalent"], false);
    assert!(max_abs(&r) > 1e-2);
    assert!(
        r["structure"]["converted"]["chain"] == true
            && r["structure"]["original"]["chain"] == false
    );
}

#[test]
fn perturbed_weight_is_found_and_named_per_layer() {
    let (code, r) = verify(&[
        "models/k3/a_seq_mlp.keras",
        "models/tfk/a_seq_mlp_perturbed.h5",
        "--per-layer",
    ]);
    assert_eq!(code, 1);
    let first = &r["first_divergence"];
    assert_eq!(first["converted"], "dense", "{first}");
    assert!(first["own"]["passed"] == false);
    let layers = r["layers"].as_array().unwrap();
    let last = layers.iter().find(|l| l["converted"] == "dense_1").unwrap();
    assert_eq!(
        last["own"]["passed"], true,
        "the next layer adds no error of its own"
    );
    assert_eq!(last["accumulated"]["passed"], false, "but inherits it");
    let pair = r["structure"]["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["original"] == "dense")
        .unwrap()
        .clone();
    assert_eq!(pair["weights"], "different");
}

#[test]
fn a_changed_activation_is_named_as_the_first_divergence() {
    // Keras cannot save gelu(approximate=True) without a Lambda, so the converted side maps the
    // layer to the tanh approximation.
    let (code, r) = verify(&[
        "models/k3/g_gelu_exact.keras",
        "models/k3/g_gelu_exact.keras",
        "--converted-custom",
        "activation=gelu_approximate",
        "--per-layer",
        "--distribution",
        "uniform:-4,4",
    ]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["first_divergence"]["converted"], "activation");
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("gelu → gelu(approximate)"), "{warnings}");
}

#[test]
fn tf_keras_and_keras3_files_of_the_same_models_agree_within_1e6() {
    for model in [
        "a_seq_mlp",
        "c_func_skip",
        "d_chain_func",
        "e_zoo",
        "e_nested",
        "e_nested_func",
        "e_shared",
        "e_act_layers",
        "e_bignames",
    ] {
        let (original, converted) = (
            format!("models/tfk/{model}.h5"),
            format!("models/k3/{model}.keras"),
        );
        let converted = if model == "e_bignames" {
            converted.replace(".keras", ".h5")
        } else {
            converted
        };
        let (code, r) = verify(&[&original, &converted, "--atol", "1e-6", "--rtol", "0"]);
        assert_eq!(code, 0, "{model}: {r}");
        eprintln!(
            "{model}: tf-keras vs Keras 3 max |a-b| = {:.3e}",
            max_abs(&r)
        );
    }
}

#[test]
fn hard_sigmoid_across_dialects_is_not_equivalent_and_says_why() {
    let (code, r) = verify(&["models/tfk/e_acts.h5", "models/k3/e_acts.keras"]);
    assert_eq!(code, 1);
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains("hard_sigmoid means clip(0.2x + 0.5, 0, 1) in tf-keras 2"),
        "{warnings}"
    );
}

#[test]
fn relu_threshold_across_dialects_is_named_for_nan_and_minus_inf() {
    // ReLU(6, 0.1, threshold 0.5): the same function on numbers, not at NaN and −inf.
    let (code, r) = verify(&["models/tfk/e_act_layers.h5", "models/k3/e_act_layers.keras"]);
    assert_eq!(code, 0, "{r}");
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains(
            "ReLU with a non-zero threshold gives NaN for a NaN or −inf input in tf-keras 2"
        ) && warnings.contains("re_lu"),
        "{warnings}"
    );
    assert!(!warnings.contains("the op differs"), "{warnings}");
}

#[test]
fn mismatched_signatures_are_explained() {
    let err = refused(
        "models/k3/a_seq_mlp.keras",
        "models/k3/c_func_skip.keras",
        &[],
    );
    assert!(
        err.contains("cannot be fed the same inputs")
            && err.contains("(None, 784)")
            && err.contains("(None, 100)"),
        "{err}"
    );

    // Same inputs, different outputs: a finding and exit 1, not a crash.
    let (code, r) = verify(&["models/k3/c_func_skip.keras", "models/k3/h_two_heads.keras"]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(
        r["findings"][0],
        "the original has 1 output(s), the converted 2"
    );
    let (code, r) = verify(&["models/k3/c_func_skip.keras", "models/k3/h_wide_head.keras"]);
    assert_eq!(code, 1, "{r}");
    let finding = r["findings"][0].as_str().unwrap();
    assert!(
        finding.contains("(None, 10)") && finding.contains("(None, 12)"),
        "{finding}"
    );
}

#[test]
fn json_report_has_the_documented_fields() {
    let (_, r) = verify(&[
        "models/k3/c_func_skip.keras",
        "models/tfk/c_func_skip.h5",
        "--per-layer",
    ]);
    for key in [
        "equivalent",
        "device",
        "metrics_on",
        "tolerance",
        "outputs",
        "structure",
        "first_divergence",
    ] {
        assert!(
            r.get(key).is_some() || key == "first_divergence",
            "missing {key}"
        );
    }
    let out = &r["outputs"][0];
    for key in [
        "name",
        "shape",
        "max_abs",
        "max_rel",
        "mean_abs",
        "snr_db",
        "worst_index",
        "mismatches",
        "nan_mismatch",
        "min_atol_to_pass",
        "top1_agreement",
    ] {
        assert!(out.get(key).is_some(), "output lacks {key}: {out}");
    }
    assert_eq!(r["tolerance"]["atol"], 1e-5);
    assert_eq!(r["metrics_on"], "host", "the CPU reduces on the host");
    assert!(
        out["snr_db"].is_null(),
        "identical outputs: infinite SNR, null: {out}"
    );
}

#[test]
fn per_output_tolerance_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let (code, r) = verify(&[
        "models/k3/a_seq_mlp.keras",
        "models/k3/a_seq_mlp_perturbed.keras",
        "--atol",
        "dense_1:1e-3",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "a looser tolerance on the one output passes: {r}");
    assert_eq!(r["outputs"][0]["tolerance"]["atol"], 1e-3);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"keqv verify\" tests=\"1\" failures=\"0\""),
        "{xml}"
    );
}

#[test]
fn large_batches_stream_in_chunks_with_exact_metrics() {
    let args = [
        "models/k3/a_seq_mlp.keras",
        "models/k3/a_seq_mlp_perturbed.keras",
        "--batch",
        "300",
    ];
    let (_, whole) = verify(&args);
    let (_, chunked) = verify(&[&args[..], &["--chunk", "7"]].concat());
    for key in ["max_abs", "mismatches", "worst_index", "count"] {
        assert_eq!(
            whole["outputs"][0][key], chunked["outputs"][0][key],
            "{key}"
        );
    }
    let diff = (whole["outputs"][0]["mean_abs"].as_f64().unwrap()
        - chunked["outputs"][0]["mean_abs"].as_f64().unwrap())
    .abs();
    assert!(diff < 1e-12);

    let err = refused(args[0], args[1], &["--chunk", "0"]);
    assert!(err.contains("--chunk must be at least 1"), "{err}");
}

#[test]
fn text_report_is_plain_without_a_terminal() {
    let out = keqv()
        .args([
            "verify",
            "models/k3/a_seq_mlp.keras",
            "models/k3/a_seq_mlp_perturbed.keras",
            "--device",
            "cpu",
            "--per-layer",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("NOT EQUIVALENT"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no colour codes when stdout is not a terminal"
    );
    assert!(text.contains("first divergence: dense (Dense)"), "{text}");
}

#[test]
fn verify_runs_on_every_gpu_adapter() {
    for ctx in keqv::exec::gpu::test_adapters() {
        let device = ctx
            .backend()
            .expect("a wgpu backend keqv names")
            .to_string()
            .to_lowercase();
        let run = |args: &[&str]| {
            let out = keqv()
                .arg("verify")
                .args(args)
                .args(["--format", "json", "--device", &device])
                .output()
                .unwrap();
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            (out.status.code().unwrap(), report)
        };
        let (code, r) = run(&["models/k3/a_seq_mlp.keras", "models/tfk/a_func_mlp.h5"]);
        assert_eq!(code, 0, "{device}: {r}");
        assert!(
            r["device"].as_str().unwrap().contains("llvmpipe") || !ctx.is_software(),
            "{}",
            r["device"]
        );
        assert!(
            max_abs(&r) < 1e-6,
            "{device}: twins differ by {}",
            max_abs(&r)
        );
        let (code, r) = run(&[
            "models/k3/a_seq_mlp.keras",
            "models/k3/a_seq_mlp_perturbed.keras",
            "--per-layer",
        ]);
        assert_eq!(code, 1, "{device}");
        assert_eq!(r["first_divergence"]["converted"], "dense", "{device}");
        let (code, _) = run(&["models/tfk/e_acts.h5", "models/k3/e_acts.keras"]);
        assert_eq!(code, 1, "{device}: hard_sigmoid differs across dialects");
        eprintln!("verify on {}: ok", ctx.describe());
    }
}

/// The flags that a suite manifest's keys stand for are refused by the same rules, each named
/// as the flag it is.
#[test]
fn mistaken_flags_are_refused_before_the_models_are_read() {
    let (a, b) = ("models/k3/a_seq_mlp.keras", "models/k3/a_func_mlp.keras");
    for (args, needle) in [
        (
            vec!["--converted-device", "tpu"],
            "--converted-device 'tpu' is not one of",
        ),
        (
            vec!["--inputs", "models/inputs/a_seq_mlp.npy", "--seed", "3"],
            "--inputs (a file) and --seed/--batch/--distribution (random inputs) exclude each other",
        ),
        (
            vec!["--original-custom", "Dense"],
            "--original-custom 'Dense' is not NAME=BUILTIN",
        ),
        (
            vec!["--converted-custom", "=relu"],
            "--converted-custom '=relu' is not NAME=BUILTIN",
        ),
        (vec!["--adapter", "any"], "--adapter picks a GPU adapter"),
    ] {
        // A model that does not exist: the flags are checked first.
        let err = refused(a, &format!("{b}.missing"), &args);
        assert!(
            err.contains(needle) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

/// An adapter serves the side that runs on a GPU, as a suite's does, instead of being refused
/// because the other side runs on the CPU.
#[test]
fn an_adapter_serves_the_side_on_a_gpu() {
    let err = refused(
        "models/k3/a_seq_mlp.keras",
        "models/k3/a_func_mlp.keras",
        &[
            "--converted-device",
            "gpu",
            "--adapter",
            "no adapter is named this",
        ],
    );
    assert!(
        err.contains("no GPU adapter whose name contains 'no adapter is named this'"),
        "{err}"
    );
}

/// A per-layer run holds every value of both models, so a large batch runs in passes: each
/// layer's metrics (worst element and its batch index included) must be the same whatever the
/// pass size.
#[test]
fn per_layer_metrics_do_not_depend_on_the_pass_size() {
    use keqv::compare::Tolerance;
    use keqv::exec::cpu::{CpuExecutor, Precision};
    use keqv::graph::build::{build, BuildOptions};
    use keqv::keras::KerasModel;
    use keqv::verify::pairing::pair_nodes;
    use keqv::verify::per_layer::compare_layers_in_passes;
    use std::sync::Arc;

    let pairs_of_files = [
        (
            "models/tfk/c_func_skip.h5",
            "models/k3/c_func_skip_reimpl.keras",
        ),
        (
            "models/k3/a_seq_mlp.keras",
            "models/tfk/a_seq_mlp_perturbed.h5",
        ),
    ];
    for (original, converted) in pairs_of_files {
        let graph = |path: &str| {
            let model = KerasModel::load(&common::root().join(path), None).unwrap();
            Arc::new(build(&model, &BuildOptions::default()).unwrap())
        };
        let (og, cg) = (graph(original), graph(converted));
        let pairs = pair_nodes(&og, &cg);
        let batch = 7;
        let inputs: Vec<keqv::tensor::Tensor> = og
            .inputs
            .iter()
            .map(|id| {
                let shape: Vec<usize> = std::iter::once(batch)
                    .chain(og.node(*id).shape.iter().copied())
                    .collect();
                // Later samples larger, so that the worst elements lie past the first pass.
                let mut seed = 0x9e37_79b9u32;
                ndarray::ArrayD::from_shape_fn(shape, |ix| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    ((seed as f32 / u32::MAX as f32) * 4.0 - 2.0) * (1 + ix[0]) as f32
                })
            })
            .collect();
        let reports = |step: usize| {
            let mut exec_o = CpuExecutor::new(og.clone(), Precision::F32);
            let mut exec_c = CpuExecutor::new(cg.clone(), Precision::F32);
            let layers = compare_layers_in_passes(
                &og,
                &cg,
                &pairs,
                (&mut exec_o, &inputs),
                (&mut exec_c, &inputs),
                Tolerance::default(),
                step,
            )
            .unwrap();
            serde_json::to_value(layers).unwrap()
        };
        let whole = reports(batch);
        assert!(
            whole.as_array().is_some_and(|l| l.len() >= 2),
            "{original}: {whole}"
        );
        for step in [1, 3] {
            assert_eq!(
                reports(step),
                whole,
                "{original} vs {converted}, passes of {step}"
            );
        }
    }
}

/// Random inputs for an Embedding are token ids inside its table (normal draws would be mostly
/// negative or fractional ids, which pick no row): a text model pair verifies on real tokens,
/// and the report says how they were drawn.
#[test]
fn random_inputs_of_an_embedding_are_token_ids() {
    let (code, r) = verify(&[
        "models/tfk/s_text_seq.h5",
        "models/k3/s_text_seq.keras",
        "--batch",
        "64",
    ]);
    assert_eq!(code, 0, "{r}");
    let inputs = r["inputs"].as_str().unwrap();
    assert!(inputs.contains("token ids uniform in [0, 30)"), "{inputs}");
    let out = keqv()
        .args([
            "run",
            "models/tfk/s_text_seq.h5",
            "--batch",
            "64",
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        !stdout.contains("NaN"),
        "every random id picks a row: {stdout}"
    );
}

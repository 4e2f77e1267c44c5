//! The `keqv` binary end to end on the fixtures: `inspect` (text and JSON) and `run` (inputs
//! from files or a seed, .npy and .npz outputs, both CPU precisions, `--weights`).

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::files::read_npy;
use common::fixture;
use ndarray::ArrayD;
use serde_json::Value;

/// Runs keqv, expecting exit code 0; returns stdout.
fn keqv_ok<S: Into<OsString> + Clone + std::fmt::Debug>(args: &[S]) -> String {
    let out = common::keqv()
        .args(args.iter().cloned().map(Into::into))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "keqv {args:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `keqv run --device DEVICE MODEL --output OUT` plus `extra`; returns OUT's path.
fn run(dir: &Path, out_name: &str, device: &str, model: &Path, extra: &[OsString]) -> PathBuf {
    let out = dir.join(out_name);
    let mut args: Vec<OsString> = vec![
        "run".into(),
        "--device".into(),
        device.into(),
        model.into(),
        "--output".into(),
        out.clone().into(),
    ];
    args.extend(extra.iter().cloned());
    keqv_ok(&args);
    out
}

fn inputs(rel: &str) -> Vec<OsString> {
    vec!["--inputs".into(), fixture(rel).into()]
}

/// Every element within `atol + rtol·|b|` of the expected `b`.
fn assert_close(got: &ArrayD<f32>, want: &ArrayD<f32>, atol: f32, rtol: f32, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    for (i, (a, b)) in got.iter().zip(want.iter()).enumerate() {
        assert!(
            (a - b).abs() <= atol + rtol * b.abs(),
            "{what}: element {i}: {a} vs {b}"
        );
    }
}

#[test]
fn inspect_explains_why_a_skip_connection_is_not_a_chain() {
    let text = keqv_ok(&[
        OsString::from("inspect"),
        fixture("k3/c_func_skip.keras").into(),
    ]);
    for part in [
        ".keras archive, keras 3 dialect",
        "chain: no",
        "add merges 2 tensors",
        "dense_x feeds 2 layers",
        "a skip connection",
    ] {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
}

#[test]
fn inspect_says_a_chain_is_a_chain() {
    for rel in [
        "k3/a_seq_mlp.keras",
        "tfk/d_chain_func.h5",
        "k3/e_nested.keras",
    ] {
        let text = keqv_ok(&[OsString::from("inspect"), fixture(rel).into()]);
        assert!(text.contains("chain: yes"), "{rel}:\n{text}");
    }
}

#[test]
fn inspect_json_has_the_documented_fields() {
    let text = keqv_ok(&[
        OsString::from("inspect"),
        fixture("tfk/c_func_skip.h5").into(),
        "--format".into(),
        "json".into(),
    ]);
    let json: Value = serde_json::from_str(&text).expect("inspect --format json parses");
    for field in [
        "path",
        "format",
        "dialect",
        "keras_version",
        "name",
        "class",
        "parameters",
        "inputs",
        "outputs",
        "layers",
        "chain",
        "chain_problems",
        "warnings",
    ] {
        assert!(json.get(field).is_some(), "no '{field}' in {json:#}");
    }
    assert_eq!(json["format"], "h5");
    assert_eq!(json["dialect"], "tf-keras 2");
    assert_eq!(json["chain"], false);
    assert_eq!(
        json["parameters"],
        100 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    );
    assert_eq!(json["inputs"][0]["shape"], serde_json::json!([null, 100]));
    assert_eq!(json["outputs"][0]["name"], "out");
    let layers = json["layers"].as_array().unwrap();
    let add = layers.iter().find(|l| l["name"] == "add").unwrap();
    assert_eq!(add["inbound"], serde_json::json!(["dense_x", "dense_y"]));
    for field in ["class", "op", "output_shape", "parameters"] {
        assert!(add.get(field).is_some(), "no '{field}' in layer {add:#}");
    }
    assert!(json["chain_problems"].as_array().unwrap().len() >= 2);
}

#[test]
fn run_reproduces_keras_on_both_writers() {
    let dir = tempfile::tempdir().unwrap();
    for (writer, file) in [("k3", "a_seq_mlp.keras"), ("tfk", "a_seq_mlp.h5")] {
        let model = fixture(&format!("{writer}/{file}"));
        let out = run(
            dir.path(),
            "out.npy",
            "cpu",
            &model,
            &inputs("inputs/a_seq_mlp.npy"),
        );
        let want = read_npy(&fixture(&format!("{writer}/a_seq_mlp.expected.npy")));
        assert_close(
            &read_npy(&out),
            &want,
            1e-5,
            1e-5,
            &format!("{writer}/{file}"),
        );
    }
}

#[test]
fn a_two_output_model_writes_an_npz_keyed_by_output_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        "out.npz",
        "cpu",
        &fixture("k3/e_zoo.keras"),
        &inputs("inputs/e_zoo.npz"),
    );
    let got = keqv::npy::read_npz(&out).unwrap();
    let want = keqv::npy::read_npz(&fixture("k3/e_zoo.expected.npz")).unwrap();
    let mut names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    let mut want_names: Vec<&str> = want.iter().map(|(k, _)| k.as_str()).collect();
    want_names.sort_unstable();
    assert_eq!(names, want_names);
    assert_eq!(names.len(), 2);
    for (name, tensor) in &got {
        let expected = &want.iter().find(|(k, _)| k == name).unwrap().1;
        assert_close(tensor, expected, 1e-5, 1e-5, name);
    }
}

#[test]
fn cpu64_gives_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("k3/c_func_skip.keras");
    let f32_out = run(
        dir.path(),
        "f32.npy",
        "cpu",
        &model,
        &inputs("inputs/c_func_skip.npy"),
    );
    let f64_out = run(
        dir.path(),
        "f64.npy",
        "cpu64",
        &model,
        &inputs("inputs/c_func_skip.npy"),
    );
    assert_close(
        &read_npy(&f32_out),
        &read_npy(&f64_out),
        1e-5,
        1e-5,
        "cpu vs cpu64",
    );
    let want = read_npy(&fixture("k3/c_func_skip.expected.npy"));
    assert_close(&read_npy(&f64_out), &want, 1e-5, 1e-5, "cpu64 vs keras");
}

#[test]
fn weights_on_a_freshly_initialised_model_reproduce_the_trained_output() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "k3/a_seq_mlp_freshinit.keras",
            "k3/a_seq_mlp.weights.h5",
            "k3/a_seq_mlp.expected.npy",
        ),
        (
            "k3/a_seq_mlp_freshinit.keras",
            "k3/a_seq_mlp.keras",
            "k3/a_seq_mlp.expected.npy",
        ),
        (
            "tfk/a_seq_mlp_freshinit.h5",
            "tfk/a_seq_mlp_legacyweights.h5",
            "tfk/a_seq_mlp.expected.npy",
        ),
        (
            "tfk/a_seq_mlp_freshinit.h5",
            "tfk/a_seq_mlp.weights.h5",
            "tfk/a_seq_mlp.expected.npy",
        ),
    ];
    for (model, weights, expected) in cases {
        let model = fixture(model);
        let want = read_npy(&fixture(expected));
        let fresh = run(
            dir.path(),
            "fresh.npy",
            "cpu",
            &model,
            &inputs("inputs/a_seq_mlp.npy"),
        );
        assert!(
            read_npy(&fresh)
                .iter()
                .zip(want.iter())
                .any(|(a, b)| (a - b).abs() > 1e-3),
            "the fresh model already gives the trained output: the test proves nothing"
        );
        let mut extra = inputs("inputs/a_seq_mlp.npy");
        extra.extend(["--weights".into(), fixture(weights).into()]);
        let out = run(dir.path(), "loaded.npy", "cpu", &model, &extra);
        assert_close(&read_npy(&out), &want, 1e-5, 1e-5, weights);
    }
}

#[test]
fn random_inputs_are_reproducible_by_seed() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("k3/e_shared.keras");
    let seeded = |name: &str, seed: &str| {
        let extra: Vec<OsString> = vec!["--seed".into(), seed.into(), "--batch".into(), "5".into()];
        read_npy(&run(dir.path(), name, "cpu", &model, &extra))
    };
    let a = seeded("a.npy", "42");
    let b = seeded("b.npy", "42");
    let c = seeded("c.npy", "43");
    assert_eq!(a.shape()[0], 5);
    assert_eq!(a, b, "same seed, different outputs");
    assert_ne!(a, c, "different seeds, same outputs");
}

/// A random-input flag beside an inputs file would be ignored, so it is refused, as the
/// manifest of a suite refuses its keys.
#[test]
fn an_inputs_file_excludes_the_random_input_flags() {
    let model = fixture("k3/a_seq_mlp.keras");
    for flag in [
        ["--seed", "3"],
        ["--batch", "2"],
        ["--distribution", "normal"],
    ] {
        let mut args: Vec<OsString> = vec!["run".into(), "--device".into(), "cpu".into()];
        args.push(model.clone().into());
        args.extend(inputs("inputs/a_seq_mlp.npy"));
        args.extend(flag.map(OsString::from));
        let out = common::keqv().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag:?}: {err}");
        assert!(
            err.contains("--inputs (a file) and --seed/--batch/--distribution (random inputs) exclude each other")
                && err.lines().count() == 1,
            "{flag:?}: {err}"
        );
    }
}

/// `--threads` sets the CPU executor's threads, the report says how many, and the outputs do not
/// depend on them, to the bit: a recurrent layer's batch split across threads, attention's
/// samples and the GEMM's blocks each compute a value the same way whichever thread does.
#[test]
fn the_thread_count_changes_no_output_bit() {
    let dir = tempfile::tempdir().unwrap();
    for model in [
        "k3/s_text_seq.keras",
        "k3/v_seq2seq.keras",
        "k3/w_stacked_cells.keras",
        "k3/u_encoder.keras",
        "tfk/c_func_skip.h5",
    ] {
        let outputs: Vec<Vec<u8>> = ["1", "2", "3"]
            .iter()
            .map(|threads| {
                let out = dir.path().join(format!("{threads}.npz"));
                let args: Vec<OsString> = vec![
                    "run".into(),
                    fixture(model).into(),
                    "--device".into(),
                    "cpu".into(),
                    "--batch".into(),
                    "40".into(),
                    "--seed".into(),
                    "3".into(),
                    "--threads".into(),
                    (*threads).into(),
                    "--output".into(),
                    out.clone().into(),
                ];
                let out_cmd = common::keqv().args(&args).output().unwrap();
                assert_eq!(
                    out_cmd.status.code(),
                    Some(0),
                    "{model} --threads {threads}"
                );
                let said = String::from_utf8_lossy(&out_cmd.stderr).into_owned()
                    + &String::from_utf8_lossy(&out_cmd.stdout);
                let want = match *threads {
                    "1" => "cpu (f32, 1 thread)".to_string(),
                    n => format!("cpu (f32, {n} threads)"),
                };
                assert!(
                    said.contains(&want),
                    "{model}: {said:?} does not say {want}"
                );
                std::fs::read(&out).unwrap()
            })
            .collect();
        assert!(
            outputs.windows(2).all(|w| w[0] == w[1]),
            "{model}: the outputs differ with the thread count"
        );
    }
}

/// `--threads 0` is a usage error, exit 2.
#[test]
fn zero_threads_is_refused() {
    let out = common::keqv()
        .args(["run", "--threads", "0"])
        .arg(fixture("k3/c_func_skip.keras"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
}

/// `--device auto` on a run far too small for a GPU stays on the CPU without looking for one, and
/// says why in the device line.
#[test]
fn auto_keeps_a_small_run_on_the_cpu_and_says_why() {
    let stdout = keqv_ok(&[
        "verify",
        "models/tfk/c_func_skip.h5",
        "models/k3/c_func_skip_reimpl.keras",
    ]);
    let device = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("device"))
        .unwrap_or_else(|| panic!("no device line in {stdout}"));
    assert!(
        device.contains("cpu (f32")
            && device.contains("--device auto ran it on the CPU: the run's")
            && device.contains("multiply-adds are below the 20.0 G"),
        "{device}"
    );
}

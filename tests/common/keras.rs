//! Keras itself, through the Python that has Keras 3 and tf-keras: it loads the files
//! `keqv convert` writes and predicts with them (tests/keras_loads.py).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The Python that has Keras 3 and tf-keras: `KEQV_PYTHON`, else a known venv.
pub fn python() -> Option<PathBuf> {
    let candidates = std::env::var_os("KEQV_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            ["/opt/keqv-py/bin/python", "/opt/kerasenv/bin/python"]
                .into_iter()
                .map(PathBuf::from),
        );
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", "import keras, tf_keras, numpy"])
            .env("KERAS_BACKEND", "jax")
            .env("TF_CPP_MIN_LOG_LEVEL", "3")
            // oneDNN's softmax puts NaN at lane-dependent places for a row holding a NaN or
            // +inf; the saved predictions were made without it.
            .env("TF_ENABLE_ONEDNN_OPTS", "0")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    None
}

/// The Python for a test that needs Keras: None (the test skips) outside CI; in CI its
/// absence fails the test.
pub fn python_for(test: &str) -> Option<PathBuf> {
    let python = python();
    if python.is_none() {
        let msg = "no Python with keras 3 and tf_keras (set KEQV_PYTHON)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}: CI must run {test}");
        }
        eprintln!("SKIPPED {test}: {msg}");
    }
    python
}

/// Runs tests/keras_loads.py on `manifest` (its entries described there) once per dialect;
/// returns its results, one `{"file", "ok", "max_abs", "error"}` per entry.
pub fn load_and_predict(python: &Path, dir: &Path, manifest: &[Value]) -> Vec<Value> {
    let manifest_path = dir.join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_string(manifest).unwrap()).unwrap();
    let script = super::root().join("tests/keras_loads.py");
    let mut all = Vec::new();
    for dialect in ["keras3", "tf-keras"] {
        let results_path = dir.join(format!("results-{dialect}.json"));
        let out = Command::new(python)
            .arg(&script)
            .arg(&manifest_path)
            .arg(dialect)
            .arg(&results_path)
            .env("KERAS_BACKEND", "jax")
            .env("TF_CPP_MIN_LOG_LEVEL", "3")
            // oneDNN's softmax puts NaN at lane-dependent places for a row holding a NaN or
            // +inf; the saved predictions were made without it.
            .env("TF_ENABLE_ONEDNN_OPTS", "0")
            .env("CUDA_VISIBLE_DEVICES", "")
            .output()
            .unwrap();
        eprint!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(
            out.status.success(),
            "keras_loads.py {dialect} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let results: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&results_path).unwrap()).unwrap();
        let expected = manifest.iter().filter(|m| m["dialect"] == dialect).count();
        assert_eq!(results.len(), expected, "{dialect}: results for every file");
        all.extend(results);
    }
    all
}

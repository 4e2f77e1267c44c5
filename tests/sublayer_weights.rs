//! Layers whose weights live in sublayers (LSTM, GRU, SimpleRNN, Bidirectional,
//! MultiHeadAttention, inside a nested model too), written by Keras in every format
//! (models/sublayers/, from models/generate_sublayers.py): keqv reads each layer's weights with
//! the names, shapes and values Keras's `layer.weights` has, whichever file they come from,
//! and `keqv inspect` counts each layer's parameters as Keras's `count_params()` does.
//!
//! tf-keras's weights files are also read onto the Keras 3 model (the same layers, names and
//! shapes), and its model files on their own.

mod common;

use std::path::PathBuf;

use common::{fixture, keqv};
use keqv::convert::h5::{write_legacy, write_v3_weights, LayerWeights, Versions};
use keqv::keras::weights::{load_weights_file, places};
use keqv::keras::{Dialect, KerasModel, LayerConfig, ModelConfig};
use serde_json::Value;

/// (model file, weights file) pairs and the dialect whose expected.json they match.
fn cases() -> Vec<(PathBuf, Option<PathBuf>, &'static str)> {
    let k3 = |f: &str| fixture(&format!("sublayers/k3/{f}"));
    let tfk = |f: &str| fixture(&format!("sublayers/tfk/{f}"));
    let mut cases = vec![
        (k3("sublayers.keras"), None, "k3"),
        (k3("sublayers.h5"), None, "k3"),
        (
            k3("sublayers.keras"),
            Some(k3("sublayers.weights.h5")),
            "k3",
        ),
    ];
    for f in [
        "sublayers.keras",
        "sublayers.h5",
        "sublayers.weights.h5",
        "sublayers_legacy.h5",
    ] {
        cases.push((k3("sublayers.keras"), Some(tfk(f)), "tfk"));
    }
    // tf-keras's own model files (its MultiHeadAttention takes `value` as a keyword tensor).
    for f in ["sublayers.keras", "sublayers.h5"] {
        cases.push((tfk(f), None, "tfk"));
    }
    cases
}

fn expected(dialect: &str) -> serde_json::Map<String, Value> {
    let path = fixture(&format!("sublayers/{dialect}/expected.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

/// A layer by its path (`inner/inner_lstm` inside the nested model `inner`).
fn layer<'m>(model: &'m ModelConfig, path: &str) -> &'m LayerConfig {
    match path.split_once('/') {
        Some((outer, rest)) => layer(model.layer(outer).unwrap().nested.as_ref().unwrap(), rest),
        None => model.layer(path).unwrap(),
    }
}

#[test]
fn weights_match_keras_in_every_format() {
    for (model_path, weights, dialect) in cases() {
        let case = format!("{} (weights {weights:?})", model_path.display());
        let model = KerasModel::load(&model_path, weights.as_deref())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        for (name, want) in expected(dialect) {
            let got = layer(&model.model, &name);
            let want = want["weights"].as_array().unwrap();
            let names: Vec<&str> = got.weights.iter().map(|w| w.name.as_str()).collect();
            let want_names: Vec<&str> = want.iter().map(|w| w["name"].as_str().unwrap()).collect();
            assert_eq!(names, want_names, "{case}: layer {name}");
            for (w, e) in got.weights.iter().zip(want) {
                let shape: Vec<usize> = serde_json::from_value(e["shape"].clone()).unwrap();
                let values: Vec<f32> = serde_json::from_value(e["values"].clone()).unwrap();
                assert_eq!(
                    w.value.shape(),
                    shape.as_slice(),
                    "{case}: {name} {}",
                    w.name
                );
                let got_values: Vec<f32> = w.value.iter().copied().collect();
                assert_eq!(got_values, values, "{case}: {name} {}", w.name);
            }
        }
    }
}

#[test]
fn inspect_counts_parameters_as_keras_does() {
    for (model_path, weights, dialect) in cases() {
        let mut cmd = keqv();
        cmd.arg("inspect").arg(&model_path);
        if let Some(w) = &weights {
            cmd.arg("--weights").arg(w);
        }
        let out = cmd.arg("--format").arg("json").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let layers = doc["layers"].as_array().unwrap();
        let mut total = 0;
        for (name, want) in expected(dialect) {
            let row = layers.iter().find(|l| l["name"] == name.as_str());
            let row = row.unwrap_or_else(|| panic!("no layer {name} in {doc}"));
            assert_eq!(row["parameters"], want["params"], "{name}");
            assert_eq!(row["class"], want["class"], "{name}");
            total += want["params"].as_u64().unwrap();
        }
        assert_eq!(doc["parameters"], total);
    }
}

/// Where keqv lays a layer's variables out anew for its op (a CuDNN layer's input and
/// recurrent biases summed into one, an EinsumDense bias repeated over the kernel's output
/// axes), `keqv inspect` still counts the variables the file holds, as Keras's `count_params()`
/// does: the figures here are Keras's own for these fixtures.
#[test]
fn inspect_counts_the_files_variables_where_keqv_lays_them_out_anew() {
    // (fixture, Keras's total, some of its layers with their counts)
    type Case = (&'static str, u64, &'static [(&'static str, u64)]);
    let cases: [Case; 4] = [
        (
            "tfk/w_cudnn.h5",
            525,
            &[
                ("cudnn_lstm", 160),
                ("cudnn_state", 108),
                ("cudnn_state/state_h", 108),
                ("cudnn_gru", 81),
                ("cudnn_gru_seq", 48),
                ("bi_cudnn", 128),
            ],
        ),
        // The same model as tf-keras's LSTM and GRU layers: one LSTM bias.
        (
            "tfk/w_cudnn.keras",
            481,
            &[("cudnn_lstm", 144), ("cudnn_state", 96), ("bi_cudnn", 112)],
        ),
        (
            "k3/u_einsum.keras",
            264,
            &[
                ("heads_bias_e", 51),
                ("heads_bias_e/dense", 51),
                ("heads", 54),
            ],
        ),
        ("tfk/u_einsum.h5", 264, &[("heads_bias_e", 51)]),
    ];
    for (model, total, layers) in cases {
        let out = keqv()
            .arg("inspect")
            .arg(fixture(model))
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["parameters"], total, "{model}");
        for &(name, params) in layers {
            let row = doc["layers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["name"] == name)
                .unwrap_or_else(|| panic!("{model}: no layer {name}"));
            assert_eq!(row["parameters"], params, "{model}: {name}");
        }
    }
}

/// What convert writes, in either layout and dialect, puts each sublayer's variables where
/// the readers find them again under the same names (`layers/lstm/cell/vars/0`,
/// `layers/multi_head_attention/_query_dense/vars/0` for tf-keras, `lstm/lstm_cell/kernel:0`).
#[test]
fn convert_writes_sublayer_weights_back_where_they_are_read() {
    let mut source = KerasModel::load(&fixture("sublayers/k3/sublayers.keras"), None).unwrap();
    // The writers take a chain's top-level layers; the nested model is left out.
    source.model.layers.retain(|l| l.nested.is_none());
    let dir = tempfile::tempdir().unwrap();
    for dialect in [Dialect::Keras3, Dialect::TfKeras2] {
        let layers: Vec<LayerWeights> = source
            .model
            .layers
            .iter()
            .filter(|l| !l.weights.is_empty())
            .map(|l| {
                LayerWeights::layer(
                    &l.name,
                    &l.class_name,
                    places(l, dialect)
                        .into_iter()
                        .zip(l.weights.iter().map(|w| &*w.value))
                        .collect(),
                )
            })
            .collect();
        let v3 = dir.path().join(format!("{dialect:?}.weights.h5"));
        write_v3_weights(&v3, "sublayers", &layers, dialect).unwrap();
        let legacy = dir.path().join(format!("{dialect:?}.h5"));
        let versions = Versions {
            keras_version: "3.15.1",
            backend: "tensorflow",
        };
        write_legacy(&legacy, "{}", "sublayers", &layers, dialect, &versions).unwrap();
        let (query, cell_kernel) = match dialect {
            Dialect::Keras3 => (
                "query_dense",
                "model_weights/lstm/sublayers/lstm/lstm_cell/kernel",
            ),
            Dialect::TfKeras2 => ("_query_dense", "model_weights/lstm/lstm/lstm_cell/kernel:0"),
        };
        let file = hdf5::File::open(&v3).unwrap();
        for path in [
            "layers/lstm/cell/vars/2",
            "layers/bidirectional/backward_layer/cell/vars/0",
        ] {
            assert!(file.dataset(path).is_ok(), "{dialect:?}: {path}");
        }
        let mha = format!("layers/multi_head_attention/{query}/vars/1");
        assert!(file.dataset(&mha).is_ok(), "{dialect:?}: {mha}");
        assert!(
            hdf5::File::open(&legacy)
                .unwrap()
                .dataset(cell_kernel)
                .is_ok(),
            "{dialect:?}"
        );
        for written in [&v3, &legacy] {
            let mut model = source.clone();
            load_weights_file(&mut model, written).unwrap();
            for (a, b) in source.model.layers.iter().zip(&model.model.layers) {
                let names =
                    |l: &LayerConfig| l.weights.iter().map(|w| w.name.clone()).collect::<Vec<_>>();
                assert_eq!(names(a), names(b), "{}: {}", written.display(), a.name);
                for (x, y) in a.weights.iter().zip(&b.weights) {
                    assert_eq!(
                        x.value,
                        y.value,
                        "{}: {} {}",
                        written.display(),
                        a.name,
                        x.name
                    );
                }
            }
        }
    }
}

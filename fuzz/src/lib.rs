//! What each fuzz target does with its input, shared with `tests/fuzz_corpus.rs` (which
//! includes this file as a module and replays every corpus entry through it).
//!
//! Each function takes arbitrary bytes. Errors are fine; a panic, a hang or a huge allocation
//! is a bug, and so is a graph that breaks the invariants [`check_graph`] asserts.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use keqv::graph::build::{build, build_with_placeholder_weights, BuildOptions};
use keqv::graph::{Graph, Op};
use keqv::keras::config::{parse_json, parse_model, sniff_dialect};
use keqv::keras::{sniff, Dialect, Format, KerasModel};
use keqv::npy::{parse_npy, read_npz, to_npy};
use serde_json::Value;

/// Zero-filled weights allowed per build of a bare config.
const PLACEHOLDER_ELEMENTS: usize = 1 << 20;

/// Config JSON → `ModelConfig` (both dialects) → `Graph` (without weights, then with
/// zero-filled weights, with open input dimensions given).
pub fn config_to_graph(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz/config.json");
    let Ok(root) = parse_json(text, path, "config.json") else {
        return;
    };
    let _ = sniff_dialect(&root);
    for dialect in [Dialect::TfKeras2, Dialect::Keras3] {
        let Ok(model) = parse_model(&root, dialect, path) else {
            continue;
        };
        let model = KerasModel {
            path: path.to_path_buf(),
            format: Format::Keras,
            dialect,
            keras_version: None,
            backend: None,
            model,
            raw_config: Value::Null,
            warnings: Vec::new(),
            weights_file: None,
        };
        if let Ok(graph) = build(&model, &BuildOptions::default()) {
            check_graph(&graph);
        }
        let options = open_dims_given(&model);
        if let Ok(graph) = build_with_placeholder_weights(&model, &options, PLACEHOLDER_ELEMENTS) {
            check_graph(&graph);
        }
    }
}

/// `.npy` bytes → tensor, which must survive a round trip; zip bytes → `.npz` reader.
pub fn npy(data: &[u8]) {
    if data.starts_with(b"PK") {
        let file = temp_file(data);
        if let Ok(arrays) = read_npz(file.path()) {
            for (_, tensor) in arrays {
                check_npy_round_trip(&tensor);
            }
        }
        return;
    }
    if let Ok(tensor) = parse_npy(data, "fuzz.npy") {
        check_npy_round_trip(&tensor);
    }
}

/// `.keras` bytes → `KerasModel` (with `--weights` the same file) → `Graph`.
pub fn keras_archive(data: &[u8]) {
    // An HDF5 file would go to the legacy reader: the HDF5 library is not the target here.
    if data.starts_with(b"\x89HDF") {
        return;
    }
    let file = temp_file(data);
    let path = file.path();
    if !matches!(sniff(path), Ok(Format::Keras)) {
        return;
    }
    let Ok(model) = KerasModel::load(path, Some(path)) else {
        return;
    };
    if let Ok(graph) = build(&model, &BuildOptions::default()) {
        check_graph(&graph);
    }
    let options = open_dims_given(&model);
    if let Ok(graph) = build_with_placeholder_weights(&model, &options, PLACEHOLDER_ELEMENTS) {
        check_graph(&graph);
    }
}

fn temp_file(data: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(data).expect("write the temporary file");
    file.flush().expect("flush the temporary file");
    file
}

/// `--input-shape` for every input with open dimensions, each open one set to 2.
fn open_dims_given(model: &KerasModel) -> BuildOptions {
    let mut options = BuildOptions::default();
    for layer in &model.model.layers {
        if layer.class_name != "InputLayer" {
            continue;
        }
        let (dims, skip) = match layer
            .config
            .get("batch_shape")
            .or(layer.config.get("batch_input_shape"))
        {
            Some(dims) => (dims, 1),
            None => match layer.config.get("shape") {
                Some(dims) => (dims, 0),
                None => continue,
            },
        };
        let Some(dims) = dims.as_array() else {
            continue;
        };
        let shape: Option<Vec<usize>> = dims
            .iter()
            .skip(skip)
            .map(|d| match d {
                Value::Null => Some(2),
                d => d.as_u64().map(|n| n as usize),
            })
            .collect();
        if let Some(shape) = shape {
            options.input_shapes.insert(layer.name.clone(), shape);
        }
    }
    options
}

/// What every built graph promises its executors.
pub fn check_graph(graph: &Graph) {
    let n = graph.nodes.len();
    assert!(!graph.outputs.is_empty(), "a graph without outputs");
    for id in graph.inputs.iter().chain(&graph.outputs) {
        assert!(id.0 < n, "input/output {id:?} out of range");
    }
    for id in &graph.inputs {
        assert_eq!(
            graph.nodes[id.0].op,
            Op::Input,
            "graph input is not an Input node"
        );
    }
    let mut names = HashSet::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        assert!(
            names.insert(node.name.as_str()),
            "two nodes named {:?}",
            node.name
        );
        for input in &node.inputs {
            assert!(
                input.0 < i,
                "node {i} takes node {} (not before it)",
                input.0
            );
        }
        assert!(
            node.shape.iter().all(|&d| d > 0),
            "node {:?} has shape {:?}",
            node.name,
            node.shape
        );
        if node.op == Op::Input {
            assert!(node.inputs.is_empty(), "an Input node with inputs");
            continue;
        }
        assert!(
            !node.inputs.is_empty(),
            "node {:?} takes no input",
            node.name
        );
        let input = &graph.nodes[node.inputs[0].0].shape;
        let expected = node.op.weights(input).expect("weights checked when built");
        let got: Vec<(&str, &[usize])> = node
            .weights
            .iter()
            .map(|w| (w.name.as_str(), w.value.shape()))
            .collect();
        let want: Vec<(&str, &[usize])> = expected
            .iter()
            .map(|w| (w.name, w.shape.as_slice()))
            .collect();
        assert_eq!(got, want, "weights of node {:?}", node.name);
    }
    let _ = graph.consumers();
    let _ = graph.parameter_count();
    let _ = graph.macs_per_sample();
}

/// `to_npy` then `parse_npy` gives back the same tensor, bit for bit.
fn check_npy_round_trip(tensor: &keqv::tensor::Tensor) {
    let back = parse_npy(&to_npy(tensor), "round trip").expect("to_npy output parses");
    assert_eq!(back.shape(), tensor.shape(), "shape after a round trip");
    assert!(
        back.iter()
            .zip(tensor.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "values after a round trip"
    );
}

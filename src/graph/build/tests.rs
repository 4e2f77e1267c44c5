//! Building graphs from hand-written configs.

use super::*;
use crate::keras::config::parse_model;
use crate::keras::{Format, NamedTensor};
use crate::tensor::Tensor;
use serde_json::json;

fn tensor_ref(layer: &str, node: usize) -> Value {
    json!({"class_name": "__keras_tensor__", "config": {"keras_history": [layer, node, 0]}})
}

fn dense(name: &str, from: &str, node: usize) -> Value {
    json!({"class_name": "Dense", "name": name,
           "config": {"name": name, "units": 4, "use_bias": false},
           "inbound_nodes": [{"args": [tensor_ref(from, node)], "kwargs": {}}]})
}

fn input(name: &str) -> Value {
    json!({"class_name": "InputLayer", "name": name,
           "config": {"name": name, "batch_shape": [null, 4]}, "inbound_nodes": []})
}

fn keras_model(config: &Value) -> KerasModel {
    let path = Path::new("test.keras");
    KerasModel {
        path: path.to_path_buf(),
        format: Format::Keras,
        dialect: Dialect::Keras3,
        keras_version: None,
        backend: None,
        model: parse_model(config, Dialect::Keras3, path).unwrap(),
        raw_config: Value::Null,
        warnings: Vec::new(),
        weights_file: None,
    }
}

/// A nested model with two weighted layers, called twice: each call of each inner layer
/// gets that layer's own weights.
#[test]
fn calls_of_a_nested_model_keep_each_layers_weights() {
    let inner = json!({"class_name": "Functional", "name": "inner", "config": {
        "name": "inner",
        "layers": [input("x"), dense("d1", "x", 0), dense("d2", "d1", 0)],
        "input_layers": [["x", 0, 0]], "output_layers": [["d2", 0, 0]]},
        "inbound_nodes": [
            {"args": [tensor_ref("a", 0)], "kwargs": {}},
            {"args": [tensor_ref("inner", 0)], "kwargs": {}}]});
    let config = json!({"class_name": "Functional", "config": {
        "name": "outer", "layers": [input("a"), inner],
        "input_layers": [["a", 0, 0]], "output_layers": [["inner", 1, 0]]}});
    let mut model = keras_model(&config);
    let nested = model.model.layers[1].nested.as_mut().unwrap();
    for (i, layer) in nested.layers.iter_mut().skip(1).enumerate() {
        layer.weights = vec![NamedTensor {
            name: "kernel".into(),
            value: Arc::new(Tensor::from_elem(IxDyn(&[4, 4]), i as f32 + 1.0)),
        }];
    }
    let graph = build(&model, &BuildOptions::default()).unwrap();
    for (node, value) in [
        ("inner/d1", 1.0),
        ("inner/d2", 2.0),
        ("inner#1/d1", 1.0),
        ("inner#1/d2", 2.0),
    ] {
        let id = graph.find(node).unwrap_or_else(|| panic!("no node {node}"));
        assert_eq!(graph.node(id).weight(0)[[0, 0]], value, "{node}");
    }
    let d2 = graph.node(graph.find("inner/d2").unwrap());
    let d2_again = graph.node(graph.find("inner#1/d2").unwrap());
    assert!(Arc::ptr_eq(
        &d2.weights[0].value,
        &d2_again.weights[0].value
    ));
}

/// Outputs listed nested (`model(x, [a, [b, c]])`) are the model's outputs in order, as Keras
/// flattens them.
#[test]
fn nested_output_lists_are_read_in_order() {
    let config = json!({"class_name": "Functional", "config": {
        "name": "m", "layers": [input("x"), dense("a", "x", 0), dense("b", "x", 0), dense("c", "x", 0)],
        "input_layers": [["x", 0, 0]], "output_layers": [["a", 0, 0], [["b", 0, 0], ["c", 0, 0]]]}});
    let model = keras_model(&config);
    let graph = build_with_placeholder_weights(&model, &BuildOptions::default(), 1 << 10).unwrap();
    let names: Vec<&str> = graph
        .outputs
        .iter()
        .map(|&id| graph.node(id).name.as_str())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
}

/// A layer literally named `d#1` next to a shared layer `d` would give two nodes one name.
#[test]
fn refuses_node_names_that_clash() {
    let shared = json!({"class_name": "Dense", "name": "d",
        "config": {"name": "d", "units": 4, "use_bias": false},
        "inbound_nodes": [
            {"args": [tensor_ref("a", 0)], "kwargs": {}},
            {"args": [tensor_ref("d", 0)], "kwargs": {}}]});
    let config = json!({"class_name": "Functional", "config": {
        "name": "m", "layers": [input("a"), shared, dense("d#1", "d", 1)],
        "input_layers": [["a", 0, 0]], "output_layers": [["d#1", 0, 0]]}});
    let model = keras_model(&config);
    let err = build_with_placeholder_weights(&model, &BuildOptions::default(), 1 << 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is called 'd#1' in the graph"), "{err}");
}

/// A model `seq (5, 3) -> [Masking] -> layer`, built with placeholder weights.
fn sequence_model(layer: Value, masked: bool) -> Result<Graph> {
    let seq = json!({"class_name": "InputLayer", "name": "seq",
        "config": {"name": "seq", "batch_shape": [null, 5, 3]}, "inbound_nodes": []});
    let masking = json!({"class_name": "Masking", "name": "masking",
        "config": {"name": "masking", "mask_value": 0.0},
        "inbound_nodes": [{"args": [tensor_ref("seq", 0)], "kwargs": {}}]});
    let mut layer = layer;
    let from = if masked { "masking" } else { "seq" };
    layer["inbound_nodes"] = json!([{"args": [tensor_ref(from, 0)], "kwargs": {}}]);
    let mut layers = vec![seq];
    if masked {
        layers.push(masking);
    }
    layers.push(layer);
    let config = json!({"class_name": "Functional", "config": {
        "name": "m", "layers": layers,
        "input_layers": [["seq", 0, 0]], "output_layers": [["rnn", 0, 0]]}});
    build_with_placeholder_weights(&keras_model(&config), &BuildOptions::default(), 1 << 12)
}

fn cell(class: &str, units: usize) -> Value {
    json!({"class_name": class, "config": {"name": class.to_lowercase(), "units": units}})
}

fn rnn(config: Value) -> Value {
    json!({"class_name": "RNN", "name": "rnn", "config": config})
}

/// Stacked cells become one recurrent node per cell, the last named after the layer; what
/// keqv cannot run of them is refused with the reason.
#[test]
fn stacked_cells_are_a_chain_and_their_states_are_refused() {
    let stack = json!({"class_name": "StackedRNNCells",
        "config": {"cells": [cell("LSTMCell", 4), cell("GRUCell", 2)]}});
    let graph = sequence_model(
        rnn(json!({"name": "rnn", "go_backwards": true, "cell": stack})),
        true,
    )
    .unwrap();
    let first = graph.node(graph.find("rnn/cell_0").unwrap());
    let last = graph.node(graph.find("rnn").unwrap());
    let (Op::Recurrent(a), Op::Recurrent(b)) = (&first.op, &last.op) else {
        panic!("recurrent nodes");
    };
    assert!(a.return_sequences && a.reverse_output && a.masked && a.go_backwards);
    assert!(!b.return_sequences && !b.reverse_output && b.masked && b.go_backwards);
    assert_eq!(last.shape, [2]);
    let err = sequence_model(
        rnn(json!({"name": "rnn", "return_state": true, "cell": stack})),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("stacked cells with return_state"), "{err}");
    let err = sequence_model(
        rnn(json!({"name": "rnn", "cell": cell("ConvLSTMCell", 2)})),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("RNN over a ConvLSTMCell cell is not supported"),
        "{err}"
    );
}

/// Keras refuses a mask into a CuDNN layer; so does keqv.
#[test]
fn cudnn_layers_refuse_masks() {
    let layer = |name: &str| json!({"class_name": "CuDNNGRU", "name": name, "config": {"name": name, "units": 2}});
    assert!(sequence_model(layer("rnn"), false).is_ok());
    let err = sequence_model(layer("rnn"), true).unwrap_err().to_string();
    assert!(err.contains("Keras's CuDNN layers refuse"), "{err}");
}

use std::path::Path;

use serde_json::json;

use super::*;
use crate::keras::config::parse_model;
use crate::keras::Dialect;

/// Records the order of the calls and, for each, the names of the tensors it takes.
#[derive(Default)]
struct Names(Vec<String>);

impl<'m> Visitor<'m> for Names {
    type Value = usize;

    fn input(&mut self, layer: &'m LayerConfig, prefix: &str) -> Result<usize> {
        self.0.push(format!("{prefix}{}", layer.name));
        Ok(self.0.len() - 1)
    }

    fn layer_call(
        &mut self,
        layer: &'m LayerConfig,
        _call: usize,
        args: CallArgs<'m, usize>,
        prefix: &str,
    ) -> Result<Vec<usize>> {
        let positional: Vec<&str> = args.args.iter().map(|&i| self.0[i].as_str()).collect();
        let keywords: Vec<String> = args
            .keywords
            .iter()
            .map(|(k, i)| format!("{k}={}", self.0[*i]))
            .collect();
        let name = format!(
            "{prefix}{}({})",
            layer.name,
            [positional.join(", "), keywords.join(", ")].join("; ")
        );
        self.0.push(name);
        Ok(vec![self.0.len() - 1])
    }
}

fn model(layers: serde_json::Value) -> ModelConfig {
    let root = json!({"class_name": "Functional", "config": {
        "name": "m", "layers": layers,
        "input_layers": [["q", 0, 0], ["v", 0, 0]], "output_layers": [["out", 0, 0]]}});
    parse_model(&root, Dialect::TfKeras2, Path::new("m.h5")).expect("parses")
}

fn input(name: &str) -> serde_json::Value {
    json!({"class_name": "InputLayer", "name": name,
           "config": {"name": name, "batch_input_shape": [null, 4]}, "inbound_nodes": []})
}

fn layer(name: &str, inbound: serde_json::Value) -> serde_json::Value {
    json!({"class_name": "Dense", "name": name, "config": {"name": name},
           "inbound_nodes": inbound})
}

#[test]
fn a_keyword_tensor_is_resolved_and_waits_for_its_producer() {
    // `out` comes first in the config but takes `vv` by keyword: `vv` must be visited first.
    let cfg = model(json!([
        input("q"),
        input("v"),
        layer("out", json!([[["q", 0, 0, {"value": ["vv", 0, 0]}]]])),
        layer("vv", json!([[["v", 0, 0, {}]]])),
    ]));
    let mut names = Names::default();
    let outputs = walk(Path::new("m.h5"), &cfg, "", None, &mut names).unwrap();
    assert_eq!(names.0, ["q", "v", "vv(v; )", "out(q; value=vv(v; ))"]);
    assert_eq!(outputs, [3]);
}

#[test]
fn a_keyword_tensor_from_a_missing_layer_is_named() {
    let cfg = model(json!([
        input("q"),
        input("v"),
        layer("out", json!([[["q", 0, 0, {"value": ["gone", 0, 0]}]]])),
    ]));
    let err = walk(Path::new("m.h5"), &cfg, "", None, &mut Names::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("m.h5: layer 'out' (Dense): takes input from layer 'gone', which is not in the model; {MALFORMED}")
    );
}

#[test]
fn a_cycle_through_a_keyword_tensor_is_found() {
    let cfg = model(json!([
        input("q"),
        input("v"),
        layer("a", json!([[["q", 0, 0, {"mask": ["out", 0, 0]}]]])),
        layer("out", json!([[["a", 0, 0, {}]]])),
    ]));
    let err = walk(Path::new("m.h5"), &cfg, "", None, &mut Names::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("the layers a, out form a cycle: each waits for another's output"),
        "{err}"
    );
}

#[test]
fn a_nested_model_called_with_a_keyword_tensor_is_refused() {
    let inner = json!({"class_name": "Functional", "name": "inner", "config": {
        "name": "inner",
        "layers": [input("i"), layer("d", json!([[["i", 0, 0, {}]]]))],
        "input_layers": [["i", 0, 0]], "output_layers": [["d", 0, 0]]},
        "inbound_nodes": [[["q", 0, 0, {"mask": ["v", 0, 0]}]]]});
    let cfg = model(json!([
        input("q"),
        input("v"),
        inner,
        layer("out", json!([[["inner", 0, 0, {}]]])),
    ]));
    let err = walk(Path::new("m.h5"), &cfg, "", None, &mut Names::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "m.h5: layer 'inner' (Functional): is a nested model called with a tensor as keyword argument 'mask', which keqv does not support; call it on positional tensors and re-save the model"
    );
}

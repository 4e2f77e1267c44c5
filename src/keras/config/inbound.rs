//! One inbound node of either dialect → [`Call`]: its positional tensors, its keyword tensors
//! and its other keyword arguments.
//!
//! Keras 3 writes `{"args": […], "kwargs": {…}}`, each tensor a `__keras_tensor__` object with
//! its `keras_history`. tf-keras writes one `["layer", node, tensor, kwargs]` entry per tensor
//! of the first argument, each carrying the same kwargs, in which a tensor is a
//! `["layer", node, tensor]` list: the shape tf-keras itself takes for a tensor when it loads
//! the file.

use serde_json::{Map, Value};

use super::{json_kind, Parser};
use crate::error::Result;
use crate::keras::{Call, KeywordTensor, TensorRef};

impl Parser<'_> {
    pub(super) fn inbound_nodes(&self, nodes: &Value, layer: &str) -> Result<Vec<Call>> {
        let nodes = nodes
            .as_array()
            .ok_or_else(|| self.bad(format!("layer '{layer}': \"inbound_nodes\" is not a list")))?;
        nodes.iter().map(|node| self.call(node, layer)).collect()
    }

    fn call(&self, node: &Value, layer: &str) -> Result<Call> {
        match node {
            Value::Object(node) => self.keras3_call(node, layer),
            Value::Array(entries) => self.tf_keras_call(entries, layer),
            other => Err(self.bad(format!(
                "layer '{layer}': inbound node {other} is not understood"
            ))),
        }
    }

    fn keras3_call(&self, node: &Map<String, Value>, layer: &str) -> Result<Call> {
        let mut args = Vec::new();
        self.keras_tensors(node.get("args").unwrap_or(&Value::Null), layer, &mut args)?;
        let (keywords, kwargs) = self.split_kwargs(node.get("kwargs"), layer, |value, out| {
            self.keras_tensors(value, layer, out)
        })?;
        let raw_args = match node.get("args") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        Ok(Call {
            args,
            keywords,
            kwargs,
            raw_args,
        })
    }

    fn tf_keras_call(&self, entries: &[Value], layer: &str) -> Result<Call> {
        // A call on one tensor may be written as that tensor's entry itself, not a list of
        // entries (tf-keras's TFOpLambda layers do): `["x", 0, 0, {"y": 3.0}]`.
        if entries.first().is_some_and(Value::is_string) {
            return self.tf_keras_call(&[Value::Array(entries.to_vec())], layer);
        }
        let context = format!("layer '{layer}'");
        // A constant first argument (`tf.math.subtract(2.0, x)`) is written
        // `["_CONSTANT_VALUE", -1, 2.0, kwargs]`: kept as written, not a tensor.
        let constant = |t: &Value| t.get(0).and_then(Value::as_str) == Some("_CONSTANT_VALUE");
        let raw_args: Vec<Value> = entries
            .iter()
            .filter(|t| constant(t))
            .filter_map(|t| t.get(2).cloned())
            .collect();
        let args = entries
            .iter()
            .filter(|t| !constant(t))
            .map(|t| self.triple(t, &context))
            .collect::<Result<Vec<_>>>()?;
        // Every entry carries the same kwargs; tf-keras reads the last one's.
        let kwargs = entries
            .iter()
            .rev()
            .find_map(|t| t.as_array().and_then(|p| p.get(3)));
        let (keywords, kwargs) = self.split_kwargs(kwargs, layer, |value, out| {
            tf_keras_references(value, out);
            Ok(())
        })?;
        Ok(Call {
            args,
            keywords,
            kwargs,
            raw_args,
        })
    }

    /// Splits a call's keyword arguments into those holding tensors (found by `find`) and the
    /// rest, kept as written.
    fn split_kwargs(
        &self,
        kwargs: Option<&Value>,
        layer: &str,
        find: impl Fn(&Value, &mut Vec<TensorRef>) -> Result<()>,
    ) -> Result<(Vec<KeywordTensor>, Map<String, Value>)> {
        let mut keywords = Vec::new();
        let mut rest = Map::new();
        let Some(kwargs) = kwargs else {
            return Ok((keywords, rest));
        };
        let Some(entries) = kwargs.as_object() else {
            // Not an object: no keyword names, so only a tensor in it would be lost.
            let mut tensors = Vec::new();
            find(kwargs, &mut tensors)?;
            if tensors.is_empty() {
                return Ok((keywords, rest));
            }
            return Err(self.bad(format!(
                "layer '{layer}': the keyword arguments of a call are {}, not an object",
                json_kind(kwargs)
            )));
        };
        for (name, value) in entries {
            let mut tensors = Vec::new();
            find(value, &mut tensors)?;
            if tensors.is_empty() {
                rest.insert(name.clone(), value.clone());
            }
            keywords.extend(tensors.into_iter().map(|tensor| KeywordTensor {
                name: name.clone(),
                tensor,
            }));
        }
        Ok((keywords, rest))
    }

    /// The `__keras_tensor__` objects in a Keras 3 value, in order.
    fn keras_tensors(&self, value: &Value, layer: &str, out: &mut Vec<TensorRef>) -> Result<()> {
        match value {
            Value::Array(items) => items
                .iter()
                .try_for_each(|v| self.keras_tensors(v, layer, out)),
            Value::Object(obj)
                if obj.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") =>
            {
                let history = obj
                    .get("config")
                    .and_then(|c| c.get("keras_history"))
                    .ok_or_else(|| {
                        self.bad(format!(
                            "layer '{layer}': a __keras_tensor__ argument has no keras_history"
                        ))
                    })?;
                out.push(self.triple(history, &format!("layer '{layer}'"))?);
                Ok(())
            }
            Value::Object(obj) => obj
                .values()
                .try_for_each(|v| self.keras_tensors(v, layer, out)),
            _ => Ok(()),
        }
    }
}

/// The `[layer, node, tensor]` references in a tf-keras keyword argument, alone or inside lists
/// and dicts, in order.
fn tf_keras_references(value: &Value, out: &mut Vec<TensorRef>) {
    match value {
        Value::Array(p) if is_reference(p) => out.push(TensorRef {
            layer: p[0].as_str().unwrap_or_default().to_string(),
            node: p[1].as_u64().map_or(0, |n| n as usize),
            tensor: p[2].as_u64().map_or(0, |n| n as usize),
        }),
        Value::Array(items) => items.iter().for_each(|v| tf_keras_references(v, out)),
        Value::Object(obj) => obj.values().for_each(|v| tf_keras_references(v, out)),
        _ => {}
    }
}

/// `["layer", node, tensor]`, or with a fourth element (tf-keras's own test for a tensor).
fn is_reference(parts: &[Value]) -> bool {
    matches!(parts.len(), 3 | 4)
        && parts[0].is_string()
        && parts[1]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .is_some()
        && parts[2]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .is_some()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::super::parse_model;
    use crate::keras::{Call, Dialect, KeywordTensor, ModelConfig, TensorRef};

    fn functional(inbound_of_b: serde_json::Value) -> serde_json::Value {
        json!({"class_name": "Functional", "config": {
            "name": "m",
            "layers": [
                {"class_name": "InputLayer", "name": "x",
                 "config": {"name": "x", "batch_input_shape": [null, 4]}, "inbound_nodes": []},
                {"class_name": "InputLayer", "name": "v",
                 "config": {"name": "v", "batch_input_shape": [null, 4]}, "inbound_nodes": []},
                {"class_name": "Dense", "name": "b", "config": {"name": "b", "units": 2},
                 "inbound_nodes": inbound_of_b}
            ],
            "input_layers": [["x", 0, 0], ["v", 0, 0]],
            "output_layers": [["b", 0, 0]]
        }})
    }

    fn call_of_b(inbound: serde_json::Value, dialect: Dialect) -> Call {
        let model: ModelConfig =
            parse_model(&functional(inbound), dialect, Path::new("m.h5")).expect("parses");
        model.layers[2].calls[0].clone()
    }

    fn r(layer: &str) -> TensorRef {
        TensorRef {
            layer: layer.into(),
            node: 0,
            tensor: 0,
        }
    }

    fn keyword(name: &str, layer: &str) -> KeywordTensor {
        KeywordTensor {
            name: name.into(),
            tensor: r(layer),
        }
    }

    fn k3_tensor(layer: &str) -> serde_json::Value {
        json!({"class_name": "__keras_tensor__",
               "config": {"shape": [null, 4], "dtype": "float32", "keras_history": [layer, 0, 0]}})
    }

    #[test]
    fn tf_keras_keyword_tensors_are_read_and_plain_keywords_kept() {
        let call = call_of_b(
            json!([[["x", 0, 0, {"value": ["v", 0, 0], "training": false, "mask": null}]]]),
            Dialect::TfKeras2,
        );
        assert_eq!(call.args, [r("x")]);
        assert_eq!(call.keywords, [keyword("value", "v")]);
        assert_eq!(
            serde_json::Value::Object(call.kwargs),
            json!({"training": false, "mask": null})
        );
        // A keyword holding a list of tensors gives one keyword tensor per element.
        let call = call_of_b(
            json!([[["x", 0, 0, {"mask": [["v", 0, 0], ["x", 0, 0]]}]]]),
            Dialect::TfKeras2,
        );
        assert_eq!(call.keywords, [keyword("mask", "v"), keyword("mask", "x")]);
        assert!(call.kwargs.is_empty());
    }

    #[test]
    fn keras3_keyword_tensors_are_read_and_plain_keywords_kept() {
        let node = json!([{"args": [k3_tensor("x")],
                           "kwargs": {"value": k3_tensor("v"), "training": false,
                                      "mask": [k3_tensor("v"), k3_tensor("x")]}}]);
        let call = call_of_b(node, Dialect::Keras3);
        assert_eq!(call.args, [r("x")]);
        assert_eq!(
            call.keywords,
            [
                keyword("value", "v"),
                keyword("mask", "v"),
                keyword("mask", "x")
            ]
        );
        assert_eq!(
            serde_json::Value::Object(call.kwargs),
            json!({"training": false})
        );
    }

    #[test]
    fn keyword_tensors_in_kwargs_that_are_not_an_object_are_refused() {
        let node = json!([{"args": [k3_tensor("x")], "kwargs": [k3_tensor("v")]}]);
        let err = parse_model(&functional(node), Dialect::Keras3, Path::new("m.keras"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an object"), "{err}");
    }
}

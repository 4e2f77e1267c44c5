//! Model config JSON, both dialects, turned into [`ModelConfig`].
//!
//! Differences handled here (keras-formats.md §5.3, §7): tf-keras writes inbound nodes as
//! `[[["layer", node, tensor, {}], …]]`, Keras 3 as `{"args": […], "kwargs": {}}` with
//! `__keras_tensor__` objects; Keras 3 collapses a single model input/output to a flat triple;
//! tf-keras numbers the calls of a nested model built on its own Input from 1; legacy `.h5`
//! files put `package>Name` in `class_name` where `.keras` files use `registered_name`.
//! `inbound.rs` reads one inbound node of either dialect into a [`Call`].

use std::path::Path;

use serde_json::Value;

use super::{Call, Dialect, LayerConfig, ModelConfig, TensorRef};
use crate::error::{Error, Result};

mod inbound;

/// Parses the root `{"class_name": …, "config": …}` object.
pub fn parse_model(root: &Value, dialect: Dialect, path: &Path) -> Result<ModelConfig> {
    Parser { path, dialect }.model(root)
}

/// Guesses the dialect from the JSON itself, for files that carry no `keras_version`.
pub fn sniff_dialect(root: &Value) -> Dialect {
    let text = root.to_string();
    if text.contains("\"batch_input_shape\"") || text.contains("\"inbound_nodes\":[[") {
        Dialect::TfKeras2
    } else {
        Dialect::Keras3
    }
}

/// Parses config JSON text, with a one-line error naming the file and the position.
pub fn parse_json(text: &str, path: &Path, what: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        Error::format(
            path,
            format!(
                "{what} is not valid JSON ({e}); the file is corrupt: re-save the model with Keras"
            ),
        )
    })
}

struct Parser<'a> {
    path: &'a Path,
    dialect: Dialect,
}

impl Parser<'_> {
    /// The config breaks Keras's own format.
    fn bad(&self, detail: impl Into<String>) -> Error {
        Error::format(
            self.path,
            format!(
                "{}; the model config is malformed: re-save the model with Keras",
                detail.into()
            ),
        )
    }

    /// The config is valid Keras but asks for something keqv does not do; `detail` says what
    /// to do.
    fn unsupported(&self, detail: impl Into<String>) -> Error {
        Error::format(self.path, detail)
    }

    /// A name from the config, refused when it could garble a one-line message.
    fn name<'v>(&self, name: &'v str, what: &str) -> Result<&'v str> {
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(self.bad(format!("{what} has the name {name:?}")));
        }
        Ok(name)
    }

    fn model(&self, root: &Value) -> Result<ModelConfig> {
        let class_name = str_field(root, "class_name")
            .ok_or_else(|| self.bad("model config has no \"class_name\""))?
            .to_string();
        let config = root
            .get("config")
            .filter(|c| c.is_object())
            .ok_or_else(|| {
                self.bad(format!(
                    "model config of class '{class_name}' has no \"config\" object"
                ))
            })?;
        let name = self
            .name(str_field(config, "name").unwrap_or("model"), "a model")?
            .to_string();
        let entries = match config.get("layers") {
            Some(Value::Array(entries)) => entries,
            Some(other) => {
                return Err(self.bad(format!(
                    "\"layers\" of model '{name}' ({class_name}) is {}, not a list",
                    json_kind(other)
                )))
            }
            None => {
                return Err(self.unsupported(format!(
                    "model '{name}' ({class_name}) has no \"layers\" list; only Sequential and Functional models can be read: rebuild it as one of those and re-save it"
                )))
            }
        };
        let layers = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| self.layer(entry, i, &name))
            .collect::<Result<Vec<_>>>()?;
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = layers.iter().find(|l| !seen.insert(l.name.as_str())) {
            return Err(self.bad(format!(
                "model '{name}' has two layers named '{}'; layer names must be unique",
                dup.name
            )));
        }
        let model = ModelConfig {
            name,
            class_name,
            layers,
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        if model.is_sequential() {
            self.sequential(model, config)
        } else {
            self.functional(model, config)
        }
    }

    fn layer(&self, entry: &Value, index: usize, model: &str) -> Result<LayerConfig> {
        let raw_class = str_field(entry, "class_name").ok_or_else(|| {
            self.bad(format!(
                "layer {index} of model '{model}' has no \"class_name\""
            ))
        })?;
        let config = entry.get("config").cloned().unwrap_or(Value::Null);
        if !config.is_object() {
            return Err(self.bad(format!(
                "layer {index} ({raw_class}) of model '{model}' has no \"config\" object"
            )));
        }
        let raw_class = self.name(
            raw_class,
            &format!("the class of layer {index} of model '{model}'"),
        )?;
        let name = str_field(entry, "name")
            .or_else(|| str_field(&config, "name"))
            .ok_or_else(|| {
                self.bad(format!(
                    "layer {index} ({raw_class}) of model '{model}' has no name"
                ))
            })?;
        let name = self
            .name(
                name,
                &format!("layer {index} ({raw_class}) of model '{model}'"),
            )?
            .to_string();
        // Legacy .h5 writes `package>Name` as the class; .keras keeps them apart.
        let (class_name, registered_name) = match raw_class.split_once('>') {
            Some((_, class)) => (class.to_string(), Some(raw_class.to_string())),
            None => (
                raw_class.to_string(),
                str_field(entry, "registered_name")
                    .filter(|r| r.contains('>'))
                    .map(str::to_string),
            ),
        };
        let nested = if is_model_class(&class_name, &config) {
            Some(Box::new(self.model(entry)?))
        } else {
            None
        };
        let calls = match entry.get("inbound_nodes") {
            None | Some(Value::Null) => Vec::new(),
            Some(nodes) => self.inbound_nodes(nodes, &name)?,
        };
        Ok(LayerConfig {
            name,
            class_name,
            registered_name,
            config,
            calls,
            nested,
            weights: Vec::new(),
            raw: entry.clone(),
        })
    }

    /// Sequential models: ensure an InputLayer leads, then chain the layers.
    fn sequential(&self, mut model: ModelConfig, config: &Value) -> Result<ModelConfig> {
        if model.layers.is_empty() {
            return Err(self.bad(format!("Sequential model '{}' has no layers", model.name)));
        }
        if model.layers[0].class_name != "InputLayer" {
            let input = self.implied_input(&model, config)?;
            model.layers.insert(0, input);
        }
        for i in 1..model.layers.len() {
            let prev = TensorRef {
                layer: model.layers[i - 1].name.clone(),
                node: 0,
                tensor: 0,
            };
            model.layers[i].calls = vec![Call::positional(vec![prev])];
        }
        model.inputs = vec![tensor_ref(&model.layers[0].name)];
        model.outputs = vec![tensor_ref(&model.layers.last().expect("non-empty").name)];
        Ok(model)
    }

    /// A Sequential model saved without an InputLayer: its input shape is on the first layer
    /// (`batch_input_shape`) or on the model (`build_input_shape`).
    fn implied_input(&self, model: &ModelConfig, config: &Value) -> Result<LayerConfig> {
        let first = &model.layers[0];
        let shape = ["batch_input_shape", "batch_shape"]
            .iter()
            .find_map(|k| first.config.get(*k))
            .or_else(|| config.get("build_input_shape"))
            .filter(|s| s.is_array())
            .ok_or_else(|| {
                self.unsupported(format!(
                    "Sequential model '{}' has no input shape (no InputLayer, no batch_input_shape, no build_input_shape); rebuild it with keras.Input(shape=...) and re-save it",
                    model.name
                ))
            })?;
        let name = format!("{}_input", first.name);
        let config = serde_json::json!({"name": name, "batch_shape": shape});
        Ok(LayerConfig {
            name,
            class_name: "InputLayer".into(),
            registered_name: None,
            config,
            calls: Vec::new(),
            nested: None,
            weights: Vec::new(),
            raw: Value::Null,
        })
    }

    fn functional(&self, mut model: ModelConfig, config: &Value) -> Result<ModelConfig> {
        model.inputs = self.refs(config.get("input_layers"), "input_layers", &model.name)?;
        model.outputs = self.refs(config.get("output_layers"), "output_layers", &model.name)?;
        if self.dialect == Dialect::TfKeras2 {
            renumber_nested_calls(&mut model);
        }
        Ok(model)
    }

    /// `input_layers` / `output_layers`: a list of triples, or (Keras 3, one tensor) one triple.
    /// Lists may nest (a layer whose outputs nest, as an RNN over stacked cells returns each
    /// cell's states as a list of their own): the tensors are the triples in order, as Keras
    /// flattens them.
    fn refs(&self, value: Option<&Value>, what: &str, model: &str) -> Result<Vec<TensorRef>> {
        let list = value.filter(|v| v.is_array()).ok_or_else(|| {
            self.bad(format!("functional model '{model}' has no \"{what}\" list"))
        })?;
        let context = format!("\"{what}\" of model '{model}'");
        let mut refs = Vec::new();
        self.collect_refs(list, &context, &mut refs)?;
        Ok(refs)
    }

    fn collect_refs(&self, value: &Value, context: &str, refs: &mut Vec<TensorRef>) -> Result<()> {
        match value.as_array() {
            Some(items) if !items.first().is_some_and(Value::is_string) => {
                for item in items {
                    self.collect_refs(item, context, refs)?;
                }
            }
            _ => refs.push(self.triple(value, context)?),
        }
        Ok(())
    }

    /// `["layer", node, tensor]` (tf-keras adds a kwargs dict as a fourth element).
    fn triple(&self, value: &Value, context: &str) -> Result<TensorRef> {
        let parts = value.as_array().filter(|p| p.len() >= 3);
        let parsed = parts.and_then(|p| {
            Some(TensorRef {
                layer: p[0].as_str()?.to_string(),
                node: usize::try_from(p[1].as_u64()?).ok()?,
                tensor: usize::try_from(p[2].as_u64()?).ok()?,
            })
        });
        parsed.ok_or_else(|| {
            self.bad(format!(
                "{context}: {value} is not a [layer, node_index, tensor_index] reference"
            ))
        })
    }
}

/// tf-keras does not serialise the first call of a nested model that was built on its own
/// Input (that call links the model's inputs to its outputs), yet keeps numbering from 1 in
/// every reference to it. Shift those references back so they index `calls`.
fn renumber_nested_calls(model: &mut ModelConfig) {
    let shifted: std::collections::HashSet<String> = model
        .layers
        .iter()
        .filter(|l| {
            l.nested.as_ref().is_some_and(|m| {
                !m.is_sequential()
                    || m.layers
                        .first()
                        .is_some_and(|f| f.class_name == "InputLayer" && f.raw.is_object())
            })
        })
        .map(|l| l.name.clone())
        .collect();
    let fix = |r: &mut TensorRef| {
        if shifted.contains(&r.layer) && r.node > 0 {
            r.node -= 1;
        }
    };
    for layer in &mut model.layers {
        layer
            .calls
            .iter_mut()
            .flat_map(Call::tensors_mut)
            .for_each(fix);
    }
    model.outputs.iter_mut().for_each(fix);
}

fn is_model_class(class_name: &str, config: &Value) -> bool {
    matches!(class_name, "Sequential" | "Functional" | "Model")
        && config.get("layers").is_some_and(Value::is_array)
}

/// "a string", "an object", … for messages about JSON of the wrong type.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn str_field<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

fn tensor_ref(layer: &str) -> TensorRef {
    TensorRef {
        layer: layer.to_string(),
        node: 0,
        tensor: 0,
    }
}

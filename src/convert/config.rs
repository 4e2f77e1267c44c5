//! The Sequential model's config JSON, in the shape each Keras writes it (keras-formats.md
//! §4.2, §5.3):
//!
//! | | Keras 3 | tf-keras 2.x |
//! |---|---|---|
//! | `.keras` root | `module`, `class_name`, `config`, `registered_name`, `build_config`, `compile_config` | the same without `compile_config` |
//! | `.h5` root | `class_name`, `config` | `class_name`, `config` |
//! | Sequential config | `name`, `trainable`, `dtype`, `layers`, `build_input_shape` | `name`, `layers` |
//! | `.keras` layer | `module`, `class_name`, `config`, `registered_name`, `build_config` | the same |
//! | `.h5` layer | `class_name` (`package>Name` for registered classes), `config` | the same |

use serde_json::{json, Map, Value};

use super::dialect::translate;
use super::plan::Plan;
use super::Target;
use crate::error::{Error, Result};
use crate::keras::{Dialect, Format, KerasModel, LayerConfig};

/// The whole root config. `input_shapes[i]` is the input shape of one sample of step `i`,
/// when known, used for `build_config` where the source has none.
pub fn sequential(
    model: &KerasModel,
    plan: &Plan,
    target: Target,
    input_shapes: &[Option<Vec<usize>>],
) -> Result<Value> {
    let layers = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let shape = input_shapes
                .get(i)
                .cloned()
                .flatten()
                .map(|s| batch_shape(&s));
            layer_entry(model, step.layer, target, shape)
        })
        .collect::<Result<Vec<_>>>()?;
    root(model, plan.input, layers, target)
}

/// `[null, d1, d2, …]`: a sample shape with Keras's open batch dimension.
pub fn batch_shape(sample: &[usize]) -> Value {
    let dims = std::iter::once(Value::Null).chain(sample.iter().map(|&d| Value::from(d)));
    Value::Array(dims.collect())
}

/// One layer of the model as an entry of the target's `layers` list: its config translated
/// to the target dialect. `input_shape` (with the batch dimension) is its `build_config`'s
/// where the source has none.
pub fn layer_entry(
    model: &KerasModel,
    layer: &LayerConfig,
    target: Target,
    input_shape: Option<Value>,
) -> Result<Value> {
    let fail = |e: String| Error::layer(&model.path, &layer.name, layer.display_class(), e);
    if target.dialect == Dialect::Keras3 && layer.name.contains('/') {
        return Err(fail(
            "has a '/' in its name, which tf-keras allows and Keras 3 refuses: rename the layer, or convert with --dialect tf-keras".into(),
        ));
    }
    let config = translate(
        &layer.class_name,
        &layer.config,
        model.dialect,
        target.dialect,
    )
    .map_err(fail)?;
    Ok(entry(layer, config, target, input_shape))
}

/// The root config of a Sequential model: `input`, then the `layers` entries.
pub fn root(
    model: &KerasModel,
    input: &LayerConfig,
    entries: Vec<Value>,
    target: Target,
) -> Result<Value> {
    let input_config = input_config(model, input, target.dialect)
        .map_err(|e| Error::layer(&model.path, &input.name, input.display_class(), e))?;
    let batch_shape = input_config
        .get("batch_shape")
        .or_else(|| input_config.get("batch_input_shape"))
        .cloned()
        .unwrap_or(Value::Null);
    let mut layers = vec![entry(input, input_config, target, None)];
    layers.extend(entries);
    let source = model.raw_config.get("config");
    let mut config = Map::new();
    config.insert("name".into(), Value::String(model.model.name.clone()));
    if target.dialect == Dialect::Keras3 {
        let trainable = source
            .and_then(|c| c.get("trainable"))
            .cloned()
            .unwrap_or(Value::Bool(true));
        config.insert("trainable".into(), trainable);
        config.insert("dtype".into(), model_dtype(model));
    }
    config.insert("layers".into(), Value::Array(layers));
    if target.dialect == Dialect::Keras3 {
        config.insert("build_input_shape".into(), batch_shape.clone());
    }
    Ok(match target.format {
        Format::H5 => json!({"class_name": "Sequential", "config": config}),
        Format::Keras => {
            let mut root = json!({
                "module": "keras",
                "class_name": "Sequential",
                "config": config,
                "registered_name": null,
                "build_config": {"input_shape": batch_shape},
            });
            if target.dialect == Dialect::Keras3 {
                root["compile_config"] = json!({});
            }
            root
        }
    })
}

/// The InputLayer's config in the target dialect. A Sequential model saved without an
/// InputLayer gets the one Keras would write.
fn input_config(
    model: &KerasModel,
    input: &LayerConfig,
    to: Dialect,
) -> std::result::Result<Value, String> {
    if !input.raw.is_null() {
        return translate("InputLayer", &input.config, model.dialect, to);
    }
    let shape = input
        .config
        .get("batch_shape")
        .cloned()
        .unwrap_or(Value::Null);
    let key = match to {
        Dialect::Keras3 => "batch_shape",
        Dialect::TfKeras2 => "batch_input_shape",
    };
    let mut config = Map::new();
    config.insert(key.into(), shape);
    config.insert("dtype".into(), json!("float32"));
    config.insert("sparse".into(), json!(false));
    config.insert("ragged".into(), json!(false));
    config.insert("name".into(), json!(input.name));
    Ok(Value::Object(config))
}

/// The Sequential model's own dtype policy (Keras 3 only): kept from a Keras 3 Sequential.
fn model_dtype(model: &KerasModel) -> Value {
    let kept = (model.dialect == Dialect::Keras3 && model.model.is_sequential())
        .then(|| model.raw_config.get("config").and_then(|c| c.get("dtype")))
        .flatten()
        .filter(|d| d.is_object());
    match kept {
        Some(dtype) => dtype.clone(),
        None => json!({
            "module": "keras",
            "class_name": "DTypePolicy",
            "config": {"name": "float32"},
            "registered_name": null
        }),
    }
}

/// One layer entry; `.keras` entries keep the source's `module`, `registered_name` and
/// `build_config` when it has them (a Functional entry loses only `name` and `inbound_nodes`).
pub fn entry(
    layer: &LayerConfig,
    config: Value,
    target: Target,
    input_shape: Option<Value>,
) -> Value {
    let raw = layer.raw.as_object();
    let kept = |key: &str| raw.and_then(|r| r.get(key)).cloned();
    match target.format {
        Format::H5 => {
            let class = layer
                .registered_name
                .clone()
                .unwrap_or_else(|| layer.class_name.clone());
            json!({"class_name": class, "config": config})
        }
        Format::Keras => {
            let mut entry = Map::new();
            let module = kept("module").unwrap_or_else(|| match layer.registered_name {
                Some(_) => Value::Null,
                None => json!("keras.layers"),
            });
            entry.insert("module".into(), module);
            entry.insert("class_name".into(), json!(layer.class_name));
            entry.insert("config".into(), config);
            let registered =
                kept("registered_name").unwrap_or_else(|| json!(layer.registered_name));
            entry.insert("registered_name".into(), registered);
            if layer.class_name != "InputLayer" {
                // A `.keras` source says which layers have one; a legacy `.h5` has none.
                let build = match raw.is_some_and(|r| r.contains_key("module")) {
                    true => kept("build_config"),
                    false => input_shape.map(|s| json!({"input_shape": s})),
                };
                if let Some(build) = build {
                    entry.insert("build_config".into(), build);
                }
            }
            Value::Object(entry)
        }
    }
}

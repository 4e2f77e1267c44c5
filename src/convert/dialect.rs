//! Layer configs from one Keras dialect to the other (keras-formats.md §5.3, §8).
//!
//! Within a dialect nothing changes: configs are copied as they are. Across dialects only what
//! the other Keras would reject or read differently is changed, key positions kept:
//! `batch_input_shape` ↔ `batch_shape`, a dtype string ↔ a `DTypePolicy` object, LeakyReLU
//! `alpha` ↔ `negative_slope`, `swish` ↔ `silu`, tf-keras's one-element BatchNormalization axis
//! list ↔ Keras 3's integer, and the Keras-3-only keys tf-keras does not accept (unset
//! `quantization_config`, `rms_scaling: false`, initializer `input_axes`/`output_axes`,
//! ZeroPadding1D's, the image preprocessing layers' and CenterCrop's channels-last `data_format`,
//! Resizing's unset padding and antialiasing, RandomContrast's `value_range`, IntegerLookup's
//! floormod `oov_method`, unset `salt` and float dtype; tf-keras's `groups`
//! of depthwise, separable and transposed convolutions, the unused `kernel_*` settings of
//! separable ones, the augmentation layers' `rng_type` and SpatialDropout's `trainable` and
//! `noise_shape`, the recurrent layers' `time_major: false`, the ConvLSTM layers' dropout `seed`
//! and Embedding's own `batch_input_shape`).
//! What would change the function is refused: `hard_sigmoid` (0.2x + 0.5 in tf-keras, x/6 + 0.5
//! in Keras 3; as an activation or a recurrent layer's gate activation), activations one side lacks, Lambda bytecode, RMS layer normalization.

use serde_json::{json, Map, Value};

use crate::keras::Dialect;

/// Activation names both Keras accept with the same meaning (swish/silu are renamed).
const SHARED_ACTIVATIONS: &[&str] = &[
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "gelu",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "leaky_relu",
    "relu6",
    "exponential",
    "linear",
    "mish",
    "log_softmax",
];

/// The config of a layer of class `class` (the Python class, not the registered name) in the
/// `to` dialect. `Err` says why it cannot be translated without changing the function.
pub fn translate(class: &str, config: &Value, from: Dialect, to: Dialect) -> Result<Value, String> {
    if from == to {
        return Ok(config.clone());
    }
    let Value::Object(map) = config else {
        return Ok(config.clone());
    };
    if class == "Lambda" {
        return Err(format!(
            "a Lambda layer holds Python bytecode serialized the {from} way; keqv cannot rewrite it for {to}: convert with {}",
            flag(from)
        ));
    }
    if to == Dialect::Keras3 && crate::ops::recurrent::cudnn::CLASSES.contains(&class) {
        return Err(format!(
            "{class} is a tf-keras layer that Keras 3 does not have: convert with {}",
            flag(from)
        ));
    }
    let mut out = Map::new();
    for (key, value) in map {
        let value = match key.as_str() {
            "batch_input_shape" | "batch_shape" if class == "InputLayer" => {
                let key = match to {
                    Dialect::Keras3 => "batch_shape",
                    Dialect::TfKeras2 => "batch_input_shape",
                };
                out.insert(key.into(), value.clone());
                continue;
            }
            // tf-keras's Embedding records a `batch_input_shape` of its own; Keras 3 takes the
            // shape from the InputLayer only.
            "batch_input_shape" if to == Dialect::Keras3 => continue,
            // Keras 3's recurrent layers run batch-major only.
            "time_major" if to == Dialect::Keras3 => {
                if value.as_bool() == Some(true) {
                    return Err(format!("{class} with time_major has no Keras 3 form"));
                }
                continue;
            }
            // A wrapper's layers, translated as layers of their own.
            "layer" | "backward_layer" | "cell" if value.get("class_name").is_some() => {
                wrapped(value, from, to)?
            }
            // A StackedRNNCells' cells, each translated as a layer of its own.
            "cells" if class == "StackedRNNCells" => Value::Array(
                value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|cell| wrapped(cell, from, to))
                    .collect::<Result<_, _>>()?,
            ),
            // Keras 3 records an IntegerLookup's float compute dtype; tf-keras's takes an
            // integer one for its indices, int64 when none is given.
            "dtype" if class == "IntegerLookup" && to == Dialect::TfKeras2 => continue,
            "dtype" if class != "InputLayer" => dtype(value, to),
            // A recurrent layer's gate activation reads the same way (ConvLSTM's default
            // is hard_sigmoid in tf-keras).
            "activation" | "recurrent_activation" => activation(value, from, to)?,
            "alpha" | "negative_slope" if class == "LeakyReLU" => {
                let key = match to {
                    Dialect::Keras3 => "negative_slope",
                    Dialect::TfKeras2 => "alpha",
                };
                out.insert(key.into(), value.clone());
                continue;
            }
            "axis" if class == "BatchNormalization" && to == Dialect::Keras3 => {
                batch_norm_axis(value)?
            }
            // tf-keras's depthwise and separable convolutions inherit Conv's `groups` (always
            // 1); Keras 3's do not take it.
            "groups"
                if to == Dialect::Keras3
                    && (class.starts_with("DepthwiseConv")
                        || class.starts_with("SeparableConv")
                        || class.ends_with("Transpose")) =>
            {
                if value.as_u64() != Some(1) {
                    return Err(format!("{class} with groups = {value} has no Keras 3 form"));
                }
                continue;
            }
            // tf-keras's separable convolutions also inherit an unused kernel initializer,
            // regularizer and constraint that Keras 3's reject.
            "kernel_initializer" | "kernel_regularizer" | "kernel_constraint"
                if to == Dialect::Keras3 && class.starts_with("SeparableConv") =>
            {
                continue
            }
            "data_format" if class == "ZeroPadding1D" && to == Dialect::TfKeras2 => {
                if value.as_str() == Some("channels_first") {
                    return Err("tf-keras's ZeroPadding1D pads channels-last inputs only".into());
                }
                continue;
            }
            // Keras 3's ConvLSTM layers seed their dropout (off at inference); tf-keras's
            // do not take it.
            "seed" if to == Dialect::TfKeras2 && class.starts_with("ConvLSTM") => continue,
            // tf-keras's augmentation layers name their random generator; they are the identity
            // at inference either way.
            "rng_type" if to == Dialect::Keras3 && class.starts_with("Random") => continue,
            // Keras 3's SpatialDropout layers take neither (dropout is off at inference).
            "trainable" | "noise_shape"
                if to == Dialect::Keras3 && class.starts_with("SpatialDropout") =>
            {
                continue
            }
            "data_format"
                if to == Dialect::TfKeras2
                    && (class.starts_with("Random")
                        || matches!(class, "CenterCrop" | "Resizing")) =>
            {
                if value.as_str() == Some("channels_first") {
                    return Err(format!(
                        "tf-keras's {class} takes channels-last images only"
                    ));
                }
                continue;
            }
            "value_range" if to == Dialect::TfKeras2 && class == "RandomContrast" => continue,
            // Keras 3's IntegerLookup names how it spreads ids over the OOV indices; tf-keras's
            // always takes the floor modulo, and salts nothing.
            "oov_method" | "salt" if to == Dialect::TfKeras2 && class == "IntegerLookup" => {
                if !(value.is_null() || value.as_str() == Some("floormod")) {
                    return Err(format!(
                        "IntegerLookup's {key} {value} has no tf-keras form (tf-keras takes the floor modulo)"
                    ));
                }
                continue;
            }
            "pad_to_aspect_ratio" | "antialias"
                if to == Dialect::TfKeras2 && class == "Resizing" =>
            {
                if value.as_bool() == Some(true) {
                    return Err(format!("tf-keras's Resizing has no '{key}'"));
                }
                continue;
            }
            "fill_mode" | "fill_value" if to == Dialect::TfKeras2 && class == "Resizing" => {
                continue
            }
            "rms_scaling" if to == Dialect::TfKeras2 => {
                if value.as_bool() == Some(true) {
                    return Err("tf-keras's LayerNormalization has no rms_scaling".into());
                }
                continue;
            }
            "quantization_config" | "lora_rank" | "lora_alpha" if to == Dialect::TfKeras2 => {
                if !value.is_null() {
                    return Err(format!(
                        "'{key}' is {value}: tf-keras has no quantized or LoRA layers"
                    ));
                }
                continue;
            }
            _ if to == Dialect::TfKeras2 => strip_initializer_axes(value),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Ok(Value::Object(out))
}

/// A wrapped layer's `{class_name, config}` entry with its config in the `to` dialect.
fn wrapped(entry: &Value, from: Dialect, to: Dialect) -> Result<Value, String> {
    let mut entry = entry.clone();
    let class = entry
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(config) = entry.get("config") {
        let config = translate(&class, config, from, to)?;
        entry["config"] = config;
    }
    Ok(entry)
}

/// The `--dialect` that keeps a model in its own dialect.
fn flag(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Keras3 => "--dialect keras3",
        Dialect::TfKeras2 => "--dialect tf-keras",
    }
}

/// A layer's dtype: tf-keras writes a string (or a `Policy` object for mixed precision),
/// Keras 3 a `DTypePolicy` object.
fn dtype(value: &Value, to: Dialect) -> Value {
    let name = match value {
        Value::String(s) => s.clone(),
        Value::Object(o) => match o
            .get("config")
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) => name.to_string(),
            None => return value.clone(),
        },
        _ => return value.clone(),
    };
    match to {
        Dialect::Keras3 => json!({
            "module": "keras",
            "class_name": "DTypePolicy",
            "config": {"name": name},
            "registered_name": null
        }),
        Dialect::TfKeras2 if name.starts_with("mixed_") => json!({
            "module": "keras.mixed_precision",
            "class_name": "Policy",
            "config": {"name": name},
            "registered_name": null
        }),
        Dialect::TfKeras2 => Value::String(name),
    }
}

/// An activation name (or Keras 3's `{"config": name}` object) in the other dialect.
fn activation(value: &Value, from: Dialect, to: Dialect) -> Result<Value, String> {
    let rename = |name: &str| -> Result<String, String> {
        match name {
            "swish" | "silu" => Ok(match to {
                Dialect::Keras3 => "silu",
                Dialect::TfKeras2 => "swish",
            }
            .into()),
            "hard_sigmoid" => Err(format!(
                "hard_sigmoid is clip(0.2x + 0.5, 0, 1) in tf-keras but clip(x/6 + 0.5, 0, 1) in Keras 3, so this {from} model would compute something else as {to}: convert with {}",
                flag(from)
            )),
            name if SHARED_ACTIVATIONS.contains(&name) => Ok(name.into()),
            other => Err(format!(
                "activation '{other}' has no known equivalent in {to}: convert with {}",
                flag(from)
            )),
        }
    };
    match value {
        Value::String(s) => Ok(Value::String(rename(s)?)),
        Value::Object(o) => match o.get("config") {
            Some(Value::String(s)) => {
                let mut o = o.clone();
                o.insert("config".into(), Value::String(rename(s)?));
                Ok(Value::Object(o))
            }
            _ => Ok(value.clone()),
        },
        _ => Ok(value.clone()),
    }
}

/// tf-keras resolves BatchNormalization's axis into a list (`[1]`); Keras 3 takes one integer.
fn batch_norm_axis(value: &Value) -> Result<Value, String> {
    match value.as_array().map(Vec::as_slice) {
        Some([one]) => Ok(one.clone()),
        Some(_) => Err(format!(
            "BatchNormalization over several axes ({value}) has no Keras 3 equivalent"
        )),
        None => Ok(value.clone()),
    }
}

/// Keras 3 initializers carry `input_axes`/`output_axes`, which tf-keras rejects.
fn strip_initializer_axes(value: &Value) -> Value {
    let Value::Object(o) = value else {
        return value.clone();
    };
    let is_initializer = o.get("module").and_then(Value::as_str) == Some("keras.initializers");
    let mut o = o.clone();
    if is_initializer {
        if let Some(Value::Object(config)) = o.get_mut("config") {
            for key in ["input_axes", "output_axes"] {
                if config.get(key).is_some_and(Value::is_null) {
                    config.remove(key);
                }
            }
        }
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_dialect_is_a_copy() {
        let config = json!({"name": "d", "activation": "hard_sigmoid", "dtype": "float32"});
        let out = translate("Dense", &config, Dialect::TfKeras2, Dialect::TfKeras2).unwrap();
        assert_eq!(out, config);
    }

    #[test]
    fn tf_keras_to_keras3() {
        let config = json!({"name": "l", "trainable": true, "dtype": "float32", "alpha": 0.3});
        let out = translate("LeakyReLU", &config, Dialect::TfKeras2, Dialect::Keras3).unwrap();
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "trainable", "dtype", "negative_slope"]);
        assert_eq!(out["dtype"]["class_name"], "DTypePolicy");
        let input = json!({"batch_input_shape": [null, 4], "dtype": "float32", "name": "x"});
        let out = translate("InputLayer", &input, Dialect::TfKeras2, Dialect::Keras3).unwrap();
        assert_eq!(
            out,
            json!({"batch_shape": [null, 4], "dtype": "float32", "name": "x"})
        );
        let bn = json!({"axis": [1]});
        let out = translate(
            "BatchNormalization",
            &bn,
            Dialect::TfKeras2,
            Dialect::Keras3,
        );
        assert_eq!(out.unwrap(), json!({"axis": 1}));
    }

    #[test]
    fn rnn_cells_are_translated_and_cudnn_layers_kept_to_tf_keras() {
        let cell = json!({"class_name": "GRUCell", "config": {"units": 2, "dtype": "float32"}});
        let stacked = json!({"time_major": false, "cell": {"class_name": "StackedRNNCells",
            "config": {"cells": [cell.clone(), cell]}}});
        let out = translate("RNN", &stacked, Dialect::TfKeras2, Dialect::Keras3).unwrap();
        assert!(out.get("time_major").is_none());
        let cells = &out["cell"]["config"]["cells"];
        assert_eq!(cells[1]["config"]["dtype"]["class_name"], "DTypePolicy");
        let err = translate(
            "CuDNNLSTM",
            &json!({"units": 2}),
            Dialect::TfKeras2,
            Dialect::Keras3,
        )
        .unwrap_err();
        assert!(err.contains("Keras 3 does not have"), "{err}");
    }

    #[test]
    fn keras3_to_tf_keras() {
        let config = json!({
            "name": "d", "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
            "activation": "silu",
            "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": null},
            "quantization_config": null
        });
        let out = translate("Dense", &config, Dialect::Keras3, Dialect::TfKeras2).unwrap();
        assert_eq!(
            out,
            json!({
                "name": "d", "dtype": "float32", "activation": "swish",
                "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}
            })
        );
    }

    #[test]
    fn zero_padding_1d_loses_keras3s_data_format_for_tf_keras() {
        let pad = json!({"name": "p", "padding": [1, 2], "data_format": "channels_last"});
        let out = translate("ZeroPadding1D", &pad, Dialect::Keras3, Dialect::TfKeras2).unwrap();
        assert_eq!(out, json!({"name": "p", "padding": [1, 2]}));
        let first = json!({"padding": [1, 2], "data_format": "channels_first"});
        let err = translate("ZeroPadding1D", &first, Dialect::Keras3, Dialect::TfKeras2);
        assert!(err.unwrap_err().contains("channels-last"));
        let crop = json!({"cropping": [[1, 2], [0, 0]], "data_format": "channels_last"});
        let out = translate("Cropping2D", &crop, Dialect::Keras3, Dialect::TfKeras2).unwrap();
        assert_eq!(out, crop);
    }

    #[test]
    fn depthwise_and_separable_convolutions_lose_tf_kerass_groups_for_keras3() {
        let config = json!({"name": "dw", "groups": 1, "depth_multiplier": 2});
        let separable = json!({"name": "dw", "groups": 1, "depth_multiplier": 2,
            "kernel_initializer": null, "kernel_regularizer": null, "kernel_constraint": null});
        let out = translate(
            "SeparableConv2D",
            &separable,
            Dialect::TfKeras2,
            Dialect::Keras3,
        );
        assert_eq!(out.unwrap(), json!({"name": "dw", "depth_multiplier": 2}));
        for class in ["DepthwiseConv2D", "SeparableConv1D"] {
            let out = translate(class, &config, Dialect::TfKeras2, Dialect::Keras3).unwrap();
            assert_eq!(out, json!({"name": "dw", "depth_multiplier": 2}));
        }
        let conv = json!({"groups": 2});
        let out = translate("Conv2D", &conv, Dialect::TfKeras2, Dialect::Keras3).unwrap();
        assert_eq!(out, conv);
    }

    #[test]
    fn hard_sigmoid_is_refused_across_dialects() {
        let config = json!({"name": "a", "activation": "hard_sigmoid"});
        for (from, to) in [
            (Dialect::Keras3, Dialect::TfKeras2),
            (Dialect::TfKeras2, Dialect::Keras3),
        ] {
            let err = translate("Activation", &config, from, to).unwrap_err();
            assert!(
                err.contains("hard_sigmoid is clip(0.2x + 0.5, 0, 1)"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_recurrent_hard_sigmoid_gate_is_refused_across_dialects() {
        // tf-keras's ConvLSTM layers default to it.
        let config = json!({"name": "c", "recurrent_activation": "hard_sigmoid"});
        let err = translate("ConvLSTM2D", &config, Dialect::TfKeras2, Dialect::Keras3);
        assert!(err.unwrap_err().contains("hard_sigmoid is clip"));
        let config = json!({"name": "c", "recurrent_activation": "sigmoid"});
        let same = translate("ConvLSTM2D", &config, Dialect::TfKeras2, Dialect::Keras3);
        assert_eq!(same, Ok(config));
    }
}

//! One Keras layer (class + config) → one [`Op`]: the only place that knows Keras layer classes.

use serde_json::Value;

use super::op::{Activation, MergeKind, Op};
use super::shape::{reshape, resolve_axis};
use crate::keras::Dialect;

/// What a layer becomes.
pub enum Translation {
    /// An op; `Some(shape)` fixes the output shape (Reshape/Flatten), else it is inferred.
    Op(Op, Option<Vec<usize>>),
    /// The class is not one keqv knows.
    Unknown,
}

/// Names accepted on the right of `--custom NAME=BUILTIN`, besides the layer classes below.
pub const EXTRA_BUILTINS: &[&str] = &["l2_normalize", "identity"];

/// Every layer class keqv runs.
pub const LAYER_CLASSES: &[&str] = &[
    "InputLayer",
    "Dense",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "Softmax",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Flatten",
    "Reshape",
    "Permute",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "BatchNormalization",
    "LayerNormalization",
    "UnitNormalization",
];

/// Translates a layer of class `class` with `config`, whose (first) input sample shape is `input`.
pub fn translate(
    class: &str,
    config: &Value,
    input: &[usize],
    dialect: Dialect,
) -> Result<Translation, String> {
    let rank = input.len() + 1;
    let op = match class {
        "Dense" => Op::Dense {
            units: usize_field(config, "units")?.ok_or("Dense config has no 'units'")?,
            use_bias: bool_field(config, "use_bias", true)?,
            activation: activation_field(config, dialect)?,
        },
        "Activation" => Op::Activation(activation_field(config, dialect)?),
        "ReLU" => {
            let threshold = f32_field(config, "threshold")?.unwrap_or(0.0);
            Op::Activation(Activation::Relu {
                negative_slope: f32_field(config, "negative_slope")?.unwrap_or(0.0),
                max_value: f32_field(config, "max_value")?,
                threshold,
                threshold_by_product: threshold != 0.0 && dialect == Dialect::TfKeras2,
            })
        }
        "LeakyReLU" => Op::Activation(Activation::Relu {
            negative_slope: f32_field(config, "negative_slope")?
                .or(f32_field(config, "alpha")?)
                .unwrap_or(0.3),
            max_value: None,
            threshold: 0.0,
            threshold_by_product: false,
        }),
        "ELU" => Op::Activation(Activation::Elu {
            alpha: f32_field(config, "alpha")?.unwrap_or(1.0),
        }),
        "PReLU" => Op::PRelu,
        "Softmax" => {
            let axes = axes_field(config, "axis", rank)?.unwrap_or(vec![rank - 1]);
            if axes == [rank - 1] {
                Op::Activation(Activation::Softmax)
            } else {
                // Keras: jax.nn.softmax / tf.nn.softmax over one axis, exp(x − logsumexp(x))
                // over several.
                let logsumexp = axes.len() > 1;
                Op::Softmax {
                    axes,
                    log: false,
                    logsumexp,
                }
            }
        }
        "Dropout"
        | "SpatialDropout1D"
        | "SpatialDropout2D"
        | "SpatialDropout3D"
        | "GaussianNoise"
        | "GaussianDropout"
        | "AlphaDropout"
        | "ActivityRegularization"
        | "identity" => Op::Identity,
        "Flatten" => {
            let size = crate::tensor::checked_len(input)
                .ok_or_else(|| format!("Flatten of a {input:?} sample overflows"))?;
            return Ok(Translation::Op(Op::Reshape, Some(vec![size])));
        }
        "Reshape" => {
            let target = config
                .get("target_shape")
                .and_then(Value::as_array)
                .ok_or("Reshape config has no 'target_shape' list")?
                .iter()
                .map(|d| d.as_i64().ok_or("Reshape target_shape holds a non-integer"))
                .collect::<Result<Vec<i64>, _>>()?;
            return Ok(Translation::Op(Op::Reshape, Some(reshape(input, &target)?)));
        }
        "Permute" => Op::Permute {
            dims: config
                .get("dims")
                .and_then(Value::as_array)
                .ok_or("Permute config has no 'dims' list")?
                .iter()
                .map(|d| {
                    d.as_u64()
                        .map(|d| d as usize)
                        .ok_or("Permute dims holds a non-integer")
                })
                .collect::<Result<Vec<_>, _>>()?,
        },
        "Add" => Op::Merge(MergeKind::Add),
        "Subtract" => Op::Merge(MergeKind::Subtract),
        "Multiply" => Op::Merge(MergeKind::Multiply),
        "Average" => Op::Merge(MergeKind::Average),
        "Maximum" => Op::Merge(MergeKind::Maximum),
        "Minimum" => Op::Merge(MergeKind::Minimum),
        "Concatenate" => Op::Concatenate {
            axis: resolve_axis(i64_field(config, "axis")?.unwrap_or(-1), rank)?,
        },
        "BatchNormalization" => Op::BatchNorm {
            axes: axes_field(config, "axis", rank)?.unwrap_or(vec![rank - 1]),
            epsilon: f32_field(config, "epsilon")?.unwrap_or(1e-3),
            center: bool_field(config, "center", true)?,
            scale: bool_field(config, "scale", true)?,
        },
        "LayerNormalization" => Op::LayerNorm {
            axes: axes_field(config, "axis", rank)?.unwrap_or(vec![rank - 1]),
            epsilon: f32_field(config, "epsilon")?.unwrap_or(1e-3),
            center: bool_field(config, "center", true)?,
            scale: bool_field(config, "scale", true)?,
            rms_scaling: bool_field(config, "rms_scaling", false)?,
        },
        "UnitNormalization" => Op::L2Normalize {
            axes: axes_field(config, "axis", rank)?.unwrap_or(vec![rank - 1]),
            floor: match dialect {
                // Keras 3: x · min(rsqrt(Σx²), 1/1e-12); tf-keras: tf.math.l2_normalize (ε = 1e-12).
                Dialect::Keras3 => 1e-24,
                Dialect::TfKeras2 => 1e-12,
            },
        },
        "l2_normalize" => Op::L2Normalize {
            axes: vec![rank - 1],
            floor: 1e-12,
        },
        other => match parse_activation(other, dialect) {
            Some(act) => Op::Activation(act),
            None => return Ok(Translation::Unknown),
        },
    };
    Ok(Translation::Op(op, None))
}

/// PReLU's alpha shape: one sample's shape with the shared axes set to 1.
pub fn prelu_alpha_shape(config: &Value, input: &[usize]) -> Result<Vec<usize>, String> {
    let mut shape = input.to_vec();
    if let Some(axes) = config.get("shared_axes").and_then(Value::as_array) {
        for a in axes {
            let a = a.as_u64().ok_or("PReLU shared_axes holds a non-integer")? as usize;
            if a == 0 || a > shape.len() {
                return Err(format!("PReLU shared axis {a} is out of range"));
            }
            shape[a - 1] = 1;
        }
    }
    Ok(shape)
}

/// The activation of a Dense/Activation layer: a name, or Keras 3's `{"config": "name"}` form.
fn activation_field(config: &Value, dialect: Dialect) -> Result<Activation, String> {
    let name = match config.get("activation") {
        None | Some(Value::Null) => return Ok(Activation::Linear),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => match o.get("config") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(format!(
                    "activation {} is not a built-in activation; keqv runs Keras's built-in activations only: rebuild the layer with one of them",
                    Value::Object(o.clone())
                ))
            }
        },
        Some(other) => return Err(format!("activation {other} is not understood")),
    };
    parse_activation(&name, dialect).ok_or_else(|| {
        format!("activation '{name}' is not one keqv knows; keqv runs Keras's built-in activations only (relu, gelu, softmax, …): rebuild the layer with one of them")
    })
}

/// A Keras activation name, with the meaning of the Keras that wrote the file.
pub fn parse_activation(name: &str, dialect: Dialect) -> Option<Activation> {
    Some(match name {
        "linear" | "None" => Activation::Linear,
        "relu" => Activation::RELU,
        "relu6" => Activation::Relu {
            negative_slope: 0.0,
            max_value: Some(6.0),
            threshold: 0.0,
            threshold_by_product: false,
        },
        "leaky_relu" => Activation::Relu {
            negative_slope: 0.2,
            max_value: None,
            threshold: 0.0,
            threshold_by_product: false,
        },
        "sigmoid" => Activation::Sigmoid,
        "tanh" => Activation::Tanh,
        "softmax" => Activation::Softmax,
        "log_softmax" => Activation::LogSoftmax,
        "gelu" => Activation::Gelu,
        "gelu_approximate" => Activation::GeluTanh,
        "elu" => Activation::Elu { alpha: 1.0 },
        "selu" => Activation::Selu,
        "softplus" => Activation::Softplus,
        "softsign" => Activation::Softsign,
        "swish" | "silu" => Activation::Silu,
        "hard_sigmoid" => Activation::HardSigmoid {
            slope: match dialect {
                Dialect::Keras3 => 1.0 / 6.0,
                Dialect::TfKeras2 => 0.2,
            },
        },
        "hard_silu" | "hard_swish" => Activation::HardSilu,
        "exponential" => Activation::Exponential,
        "mish" => Activation::Mish,
        _ => return None,
    })
}

/// An `axis` that is an int or a list of ints, resolved to absolute axes, sorted.
fn axes_field(config: &Value, key: &str, rank: usize) -> Result<Option<Vec<usize>>, String> {
    let raw: Vec<i64> = match config.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => vec![n.as_i64().ok_or(format!("'{key}' is not an integer"))?],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_i64().ok_or(format!("'{key}' holds a non-integer")))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("'{key}' is {other}, not an axis")),
    };
    let mut axes = raw
        .into_iter()
        .map(|a| resolve_axis(a, rank))
        .collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    Ok(Some(axes))
}

fn usize_field(config: &Value, key: &str) -> Result<Option<usize>, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or(format!("'{key}' is {v}, not a non-negative integer")),
    }
}

fn i64_field(config: &Value, key: &str) -> Result<Option<i64>, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or(format!("'{key}' is {v}, not an integer")),
    }
}

fn f32_field(config: &Value, key: &str) -> Result<Option<f32>, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(|f| Some(f as f32))
            .ok_or(format!("'{key}' is {v}, not a number")),
    }
}

fn bool_field(config: &Value, key: &str, default: bool) -> Result<bool, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(format!("'{key}' is {v}, not true or false")),
    }
}

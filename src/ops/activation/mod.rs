//! Activations: the Activation, ReLU, LeakyReLU, ELU, PReLU and Softmax layers, and the
//! activation strings of Dense and Activation layers, with each dialect's meaning.

mod cpu;
pub mod lanes;

use ndarray::ArrayD;
use serde::Serialize;
use serde_json::Value;

pub use cpu::{apply_slice, prelu, scalar, sigmoid, softmax_row};

use super::fields::{axes, f32_field, int_list};
use super::{Op, Real, WeightSpec};
use crate::keras::Dialect;

/// An elementwise activation, or a softmax over the last axis.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Activation {
    Linear,
    /// Keras's general ReLU: `max(x, 0)` (`x > threshold ? x : 0` for a non-zero threshold),
    /// clipped to `max_value`, minus `negative_slope * max(threshold - x, 0)` when the slope is
    /// not 0; a NaN propagates through max and clip. Covers relu, relu6 and leaky_relu.
    Relu {
        negative_slope: f32,
        max_value: Option<f32>,
        threshold: f32,
        /// tf-keras zeroes what is not above a non-zero threshold by multiplying with
        /// `x > threshold` (`x · 0`), so a NaN or −inf there gives NaN; Keras 3 selects 0.
        threshold_by_product: bool,
    },
    Sigmoid,
    Tanh,
    /// `x < 0 ? alpha·(exp(x) − 1) : x`.
    Elu {
        alpha: f32,
    },
    Selu,
    Softplus,
    Softsign,
    /// x·sigmoid(x) (`swish` in tf-keras, `silu` in Keras 3).
    Silu,
    /// Exact erf form (Keras's `gelu` string).
    Gelu,
    /// tanh approximation.
    GeluTanh,
    /// `clip(slope·x + 0.5, 0, 1)`: slope 1/6 in Keras 3, 0.2 in tf-keras 2.x.
    HardSigmoid {
        slope: f32,
    },
    /// x·hard_sigmoid(x) with Keras 3's slope 1/6.
    HardSilu,
    Exponential,
    /// x·tanh(softplus(x)).
    Mish,
    /// Softmax over the last axis.
    Softmax,
    /// log(softmax) over the last axis.
    LogSoftmax,
}

impl Activation {
    pub const RELU: Activation = Activation::Relu {
        negative_slope: 0.0,
        max_value: None,
        threshold: 0.0,
        threshold_by_product: false,
    };

    /// True when every output element depends only on the same input element.
    pub fn is_elementwise(&self) -> bool {
        !matches!(self, Activation::Softmax | Activation::LogSoftmax)
    }

    /// Short name, as Keras spells it where Keras has one.
    pub fn name(&self) -> String {
        match self {
            Activation::Linear => "linear".into(),
            Activation::Relu {
                negative_slope,
                max_value,
                threshold,
                threshold_by_product,
            } => match (*negative_slope, *max_value, *threshold) {
                (s, None, t) if s == 0.0 && t == 0.0 => "relu".into(),
                (s, Some(m), t) if s == 0.0 && m == 6.0 && t == 0.0 => "relu6".into(),
                (s, None, 0.0) => format!("leaky_relu({s})"),
                (s, m, t) if *threshold_by_product => {
                    format!("relu(slope={s}, max={m:?}, threshold={t}, tf-keras)")
                }
                (s, m, t) => format!("relu(slope={s}, max={m:?}, threshold={t})"),
            },
            Activation::Sigmoid => "sigmoid".into(),
            Activation::Tanh => "tanh".into(),
            Activation::Elu { alpha } if *alpha == 1.0 => "elu".into(),
            Activation::Elu { alpha } => format!("elu({alpha})"),
            Activation::Selu => "selu".into(),
            Activation::Softplus => "softplus".into(),
            Activation::Softsign => "softsign".into(),
            Activation::Silu => "silu".into(),
            Activation::Gelu => "gelu".into(),
            Activation::GeluTanh => "gelu(approximate)".into(),
            Activation::HardSigmoid { slope } if *slope == 0.2 => "hard_sigmoid(tf-keras)".into(),
            Activation::HardSigmoid { .. } => "hard_sigmoid".into(),
            Activation::HardSilu => "hard_silu".into(),
            Activation::Exponential => "exponential".into(),
            Activation::Mish => "mish".into(),
            Activation::Softmax => "softmax".into(),
            Activation::LogSoftmax => "log_softmax".into(),
        }
    }
}

/// Softmax (or log-softmax) over several axes (the Softmax layer with a non-last axis):
/// `exp(x − m) / Σ exp(x − m)`, `m` the maximum, so a NaN or +inf in a group makes the whole
/// group NaN. With `logsumexp`, `exp(x − logsumexp(x))` as Keras computes it over several
/// axes: logsumexp shifts by the maximum only where it is finite, so a +inf gives NaN where
/// it is and 0 (log: −inf) elsewhere in its group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Softmax {
    pub axes: Vec<usize>,
    pub log: bool,
    pub logsumexp: bool,
}

impl Softmax {
    pub fn name(&self) -> &'static str {
        if self.log {
            "log_softmax"
        } else {
            "softmax"
        }
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>) -> ArrayD<T> {
        cpu::softmax(x, &self.axes, self.log, self.logsumexp)
    }
}

/// `x >= 0 ? x : alpha·x`. Weights: alpha, shaped like one sample with the shared axes
/// (1-based sample axes, as Keras numbers them) of size 1.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PRelu {
    pub shared_axes: Vec<usize>,
}

impl PRelu {
    pub fn weights(&self, input: &[usize]) -> Result<Vec<WeightSpec>, String> {
        let mut shape = input.to_vec();
        for &a in &self.shared_axes {
            if a == 0 || a > shape.len() {
                return Err(format!("PReLU shared axis {a} is out of range"));
            }
            shape[a - 1] = 1;
        }
        Ok(vec![WeightSpec::new("alpha", shape)])
    }
}

impl Activation {
    pub fn eval<T: Real>(&self, x: &ArrayD<T>) -> ArrayD<T> {
        cpu::applied(self, x)
    }

    /// Applies the activation in place (Dense fuses it into its output).
    pub fn apply<T: Real>(&self, x: &mut ArrayD<T>) {
        cpu::apply(self, x)
    }
}

/// The classes this family reads.
pub const CLASSES: &[&str] = &["Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax"];

/// Reads an activation layer; `rank` counts the batch axis.
pub fn parse(class: &str, config: &Value, rank: usize, dialect: Dialect) -> Result<Op, String> {
    Ok(match class {
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
        "PReLU" => Op::PRelu(PRelu {
            shared_axes: int_list(config, "shared_axes")?
                .unwrap_or_default()
                .into_iter()
                .map(|a| {
                    usize::try_from(a).map_err(|_| format!("PReLU shared axis {a} is out of range"))
                })
                .collect::<Result<_, _>>()?,
        }),
        "Softmax" => {
            let axes = axes(config, "axis", rank)?.unwrap_or(vec![rank - 1]);
            if axes == [rank - 1] {
                Op::Activation(Activation::Softmax)
            } else {
                // Keras: jax.nn.softmax / tf.nn.softmax over one axis, exp(x − logsumexp(x))
                // over several.
                let logsumexp = axes.len() > 1;
                Op::Softmax(Softmax {
                    axes,
                    log: false,
                    logsumexp,
                })
            }
        }
        other => match parse_activation(other, dialect) {
            Some(act) => Op::Activation(act),
            None => return Err(format!("class '{other}' is not an activation")),
        },
    })
}

/// The activation of a Dense/Activation layer: a name, or Keras 3's `{"config": "name"}` form.
pub fn activation_field(config: &Value, dialect: Dialect) -> Result<Activation, String> {
    named_activation(config, "activation", Activation::Linear, dialect)
}

/// The activation under `key` (`default` where the config has none; null is linear).
pub fn named_activation(
    config: &Value,
    key: &str,
    default: Activation,
    dialect: Dialect,
) -> Result<Activation, String> {
    let name = match config.get(key) {
        None => return Ok(default),
        Some(Value::Null) => return Ok(Activation::Linear),
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

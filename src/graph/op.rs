//! The operations a graph node can perform, independent of Keras and of any device.
//!
//! Axes are absolute indices into the full tensor shape, batch axis included (axis 0 is the
//! batch), already resolved from Keras's negative or 1-based forms by the graph builder.

use serde::Serialize;

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

/// How a merge layer combines its N same-shaped (or broadcastable) inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeKind {
    Add,
    /// Exactly two inputs: first − second.
    Subtract,
    Multiply,
    Average,
    Maximum,
    Minimum,
}

/// One node's computation. Weights live on the node, in the order listed per variant.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A model input; no computation.
    Input,
    /// `x·kernel (+ bias)` over the last axis, then the activation.
    /// Weights: kernel `[in, units]`, then bias `[units]` when `use_bias`.
    Dense {
        units: usize,
        use_bias: bool,
        activation: Activation,
    },
    Activation(Activation),
    /// Softmax (or log-softmax) over several axes (the Softmax layer with a non-last axis):
    /// `exp(x − m) / Σ exp(x − m)`, `m` the maximum, so a NaN or +inf in a group makes the whole
    /// group NaN. With `logsumexp`, `exp(x − logsumexp(x))` as Keras computes it over several
    /// axes: logsumexp shifts by the maximum only where it is finite, so a +inf gives NaN where
    /// it is and 0 (log: −inf) elsewhere in its group.
    Softmax {
        axes: Vec<usize>,
        log: bool,
        logsumexp: bool,
    },
    /// `x >= 0 ? x : alpha·x`. Weights: alpha, shaped like one sample (shared axes of size 1).
    PRelu,
    /// Passes its input through (Dropout and the noise layers at inference, mapped no-ops).
    Identity,
    /// Per-sample reshape to the node's output shape (row-major order kept).
    Reshape,
    /// Permutes the per-sample axes: output axis i+1 takes input axis `dims[i]` (absolute).
    Permute {
        dims: Vec<usize>,
    },
    /// Elementwise combination of the inputs, with Keras's broadcasting.
    Merge(MergeKind),
    /// Joins the inputs along one axis.
    Concatenate {
        axis: usize,
    },
    /// Inference batch normalisation over the kept `axes`: `(x − mean)/sqrt(var + eps)·γ + β`.
    /// Weights in Keras order: gamma (if scale), beta (if center), moving_mean, moving_variance.
    BatchNorm {
        axes: Vec<usize>,
        epsilon: f32,
        center: bool,
        scale: bool,
    },
    /// Normalises over `axes`; with `rms_scaling`, divides by the RMS and only scales.
    /// Weights: gamma (if scale or rms_scaling), beta (if center and not rms_scaling).
    LayerNorm {
        axes: Vec<usize>,
        epsilon: f32,
        center: bool,
        scale: bool,
        rms_scaling: bool,
    },
    /// `x / sqrt(max(Σx², floor))` over `axes` (UnitNormalization, l2_normalize).
    L2Normalize {
        axes: Vec<usize>,
        floor: f32,
    },
}

impl Op {
    /// Short op name for tables and reports.
    pub fn name(&self) -> String {
        match self {
            Op::Input => "input".into(),
            Op::Dense { activation, .. } => match activation {
                Activation::Linear => "dense".into(),
                a => format!("dense+{}", a.name()),
            },
            Op::Activation(a) => a.name(),
            Op::Softmax { log: false, .. } => "softmax".into(),
            Op::Softmax { log: true, .. } => "log_softmax".into(),
            Op::PRelu => "prelu".into(),
            Op::Identity => "identity".into(),
            Op::Reshape => "reshape".into(),
            Op::Permute { .. } => "permute".into(),
            Op::Merge(kind) => format!("{kind:?}").to_lowercase(),
            Op::Concatenate { .. } => "concatenate".into(),
            Op::BatchNorm { .. } => "batch_norm".into(),
            Op::LayerNorm {
                rms_scaling: true, ..
            } => "rms_norm".into(),
            Op::LayerNorm { .. } => "layer_norm".into(),
            Op::L2Normalize { .. } => "l2_normalize".into(),
        }
    }
}

//! Normalizations: BatchNormalization (inference), LayerNormalization (and RMS scaling),
//! RMSNormalization, GroupNormalization, UnitNormalization.

mod cpu;

pub(crate) use cpu::l2_normalize;

use ndarray::ArrayD;
use serde::Serialize;
use serde_json::Value;

use super::fields::{axes, bool_field, f32_field, usize_field};
use super::{Op, Real, WeightSpec};
use crate::keras::Dialect;

/// Inference batch normalisation over the kept `axes`: `(x − mean)/sqrt(var + eps)·γ + β`.
/// Weights in Keras order: gamma (if scale), beta (if center), moving_mean, moving_variance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BatchNorm {
    pub axes: Vec<usize>,
    pub epsilon: f32,
    pub center: bool,
    pub scale: bool,
}

/// Normalises over `axes`; with `rms_scaling`, divides by the RMS and only scales.
/// Weights: gamma (if scale or rms_scaling), beta (if center and not rms_scaling).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerNorm {
    pub axes: Vec<usize>,
    pub epsilon: f32,
    pub center: bool,
    pub scale: bool,
    pub rms_scaling: bool,
}

/// RMSNormalization: `x / sqrt(mean(x²) + eps)·scale` over `axes`; weight `scale`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RmsNorm {
    pub axes: Vec<usize>,
    pub epsilon: f32,
}

/// GroupNormalization: the channels of `axis` split into `groups` runs of consecutive ones,
/// each normalised with its sample's statistics over the run and every other axis; then
/// gamma and beta per channel. Weights: gamma (if scale), beta (if center).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupNorm {
    pub axis: usize,
    pub groups: usize,
    pub epsilon: f32,
    pub center: bool,
    pub scale: bool,
}

/// `x / sqrt(max(Σx², floor))` over `axes` (UnitNormalization, l2_normalize).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct L2Normalize {
    pub axes: Vec<usize>,
    pub floor: f32,
}

pub const CLASSES: &[&str] = &[
    "BatchNormalization",
    "LayerNormalization",
    "RMSNormalization",
    "GroupNormalization",
    "UnitNormalization",
    "l2_normalize",
];

/// Reads a normalization layer; `rank` counts the batch axis.
pub fn parse(class: &str, config: &Value, rank: usize, dialect: Dialect) -> Result<Op, String> {
    let axes = axes(config, "axis", rank)?.unwrap_or(vec![rank - 1]);
    Ok(match class {
        "BatchNormalization" => Op::BatchNorm(BatchNorm {
            axes,
            epsilon: f32_field(config, "epsilon")?.unwrap_or(1e-3),
            center: bool_field(config, "center", true)?,
            scale: bool_field(config, "scale", true)?,
        }),
        "LayerNormalization" => Op::LayerNorm(LayerNorm {
            axes,
            epsilon: f32_field(config, "epsilon")?.unwrap_or(1e-3),
            center: bool_field(config, "center", true)?,
            scale: bool_field(config, "scale", true)?,
            rms_scaling: bool_field(config, "rms_scaling", false)?,
        }),
        "RMSNormalization" => Op::RmsNorm(RmsNorm {
            axes,
            epsilon: f32_field(config, "epsilon")?.unwrap_or(1e-6),
        }),
        "GroupNormalization" => {
            let axis = match axes.as_slice() {
                [a] => *a,
                _ => return Err("GroupNormalization needs one 'axis'".into()),
            };
            Op::GroupNorm(GroupNorm {
                axis,
                groups: usize_field(config, "groups")?.unwrap_or(32),
                epsilon: f32_field(config, "epsilon")?.unwrap_or(1e-3),
                center: bool_field(config, "center", true)?,
                scale: bool_field(config, "scale", true)?,
            })
        }
        "UnitNormalization" => Op::L2Normalize(L2Normalize {
            axes,
            floor: match dialect {
                // Keras 3: x · min(rsqrt(Σx²), 1/1e-12); tf-keras: tf.math.l2_normalize (ε = 1e-12).
                Dialect::Keras3 => 1e-24,
                Dialect::TfKeras2 => 1e-12,
            },
        }),
        // `--custom NAME=l2_normalize`: over the last axis, as tf.math.l2_normalize.
        _ => Op::L2Normalize(L2Normalize {
            axes: vec![rank - 1],
            floor: 1e-12,
        }),
    })
}

/// The shape of ops that normalise over `axes` of their input and keep its shape.
pub fn same_shape(axes: &[usize], input: &[usize]) -> Result<Vec<usize>, String> {
    match axes.iter().find(|&&a| a == 0 || a > input.len()) {
        Some(a) => Err(format!(
            "axis {a} is out of range for a {}-axis sample",
            input.len()
        )),
        None => Ok(input.to_vec()),
    }
}

/// The sizes of `input`'s `axes`: the shape of a per-feature parameter.
fn over(axes: &[usize], input: &[usize]) -> Vec<usize> {
    axes.iter().map(|&a| input[a - 1]).collect()
}

impl BatchNorm {
    pub fn weights(&self, input: &[usize]) -> Vec<WeightSpec> {
        let p = over(&self.axes, input);
        let mut w = Vec::new();
        if self.scale {
            w.push(WeightSpec::new("gamma", p.clone()));
        }
        if self.center {
            w.push(WeightSpec::new("beta", p.clone()));
        }
        w.push(WeightSpec::new("moving_mean", p.clone()));
        w.push(WeightSpec::new("moving_variance", p));
        w
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, weights: &[&ArrayD<T>]) -> ArrayD<T> {
        cpu::batch_norm(
            x,
            weights,
            &self.axes,
            T::from_f32(self.epsilon),
            self.center,
            self.scale,
        )
    }
}

impl LayerNorm {
    pub fn name(&self) -> &'static str {
        if self.rms_scaling {
            "rms_norm"
        } else {
            "layer_norm"
        }
    }

    pub fn weights(&self, input: &[usize]) -> Vec<WeightSpec> {
        let p = over(&self.axes, input);
        let mut w = Vec::new();
        if self.scale || self.rms_scaling {
            w.push(WeightSpec::new("gamma", p.clone()));
        }
        if self.center && !self.rms_scaling {
            w.push(WeightSpec::new("beta", p));
        }
        w
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, weights: &[&ArrayD<T>]) -> ArrayD<T> {
        cpu::layer_norm(
            x,
            weights,
            &self.axes,
            T::from_f32(self.epsilon),
            (self.center, self.scale, self.rms_scaling),
        )
    }
}

impl RmsNorm {
    pub fn weights(&self, input: &[usize]) -> Vec<WeightSpec> {
        vec![WeightSpec::new("scale", over(&self.axes, input))]
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, weights: &[&ArrayD<T>]) -> ArrayD<T> {
        cpu::rms_norm(x, weights[0], &self.axes, T::from_f32(self.epsilon))
    }
}

impl GroupNorm {
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        same_shape(&[self.axis], input)?;
        let channels = input[self.axis - 1];
        if self.groups == 0 || !channels.is_multiple_of(self.groups) {
            return Err(format!(
                "{channels} channels do not split into {} groups",
                self.groups
            ));
        }
        Ok(input.to_vec())
    }

    pub fn weights(&self, input: &[usize]) -> Vec<WeightSpec> {
        let c = vec![input[self.axis - 1]];
        let mut w = Vec::new();
        if self.scale {
            w.push(WeightSpec::new("gamma", c.clone()));
        }
        if self.center {
            w.push(WeightSpec::new("beta", c));
        }
        w
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, weights: &[&ArrayD<T>]) -> ArrayD<T> {
        cpu::group_norm(self, x, weights)
    }
}

impl L2Normalize {
    pub fn eval<T: Real>(&self, x: &ArrayD<T>) -> ArrayD<T> {
        cpu::l2_normalize(x, &self.axes, T::from_f32(self.floor))
    }
}

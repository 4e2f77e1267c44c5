//! Dense: `x·kernel (+ bias)` over the last axis, then the activation.

mod cpu;
pub mod einsum;

use ndarray::ArrayD;
use serde::Serialize;
use serde_json::Value;

use super::activation::activation_field;
use super::fields::{bool_field, usize_field};
use super::{Activation, Op, Real, WeightSpec};
use crate::keras::Dialect;

/// Weights: kernel `[in, units]`, then bias `[units]` when `use_bias`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dense {
    pub units: usize,
    pub use_bias: bool,
    pub activation: Activation,
}

pub const CLASSES: &[&str] = &["Dense"];

pub fn parse(config: &Value, dialect: Dialect) -> Result<Op, String> {
    Ok(Op::Dense(Dense {
        units: usize_field(config, "units")?.ok_or("Dense config has no 'units'")?,
        use_bias: bool_field(config, "use_bias", true)?,
        activation: activation_field(config, dialect)?,
    }))
}

impl Dense {
    pub fn name(&self) -> String {
        match self.activation {
            Activation::Linear => "dense".into(),
            a => format!("dense+{}", a.name()),
        }
    }

    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        let Some((_, leading)) = input.split_last() else {
            return Err("Dense needs an input with at least one axis besides the batch".into());
        };
        Ok(leading.iter().copied().chain([self.units]).collect())
    }

    pub fn weights(&self, input: &[usize]) -> Vec<WeightSpec> {
        let mut w = vec![WeightSpec::new(
            "kernel",
            vec![*input.last().unwrap_or(&0), self.units],
        )];
        if self.use_bias {
            w.push(WeightSpec::new("bias", vec![self.units]));
        }
        w
    }

    /// One multiply–add per kernel entry and row (every axis of the output but the last).
    pub fn macs(&self, input: &[usize], output: &[usize]) -> u64 {
        let rows: usize = output[..output.len().saturating_sub(1)].iter().product();
        (*input.last().unwrap_or(&0) * self.units * rows) as u64
    }

    pub fn eval<T: Real>(
        &self,
        x: &ArrayD<T>,
        weights: &[&ArrayD<T>],
        out_shape: &[usize],
    ) -> ArrayD<T> {
        let bias = self.use_bias.then(|| weights[1]);
        let mut y = cpu::dense(x, weights[0], bias, out_shape);
        self.activation.apply(&mut y);
        y
    }
}

//! Sequence inputs and their masks: Embedding (token ids → vectors), Masking, and the masks
//! Keras propagates from them.
//!
//! A mask is a value of its own in the graph: a `[steps]` sample of 1.0 (a real step) and 0.0
//! (padding), made by a `MakeMask` node from the token ids (`mask_zero`) or from the Masking
//! layer's input, and read as an extra input by the layers that use masks (recurrent layers,
//! GlobalAveragePooling1D). The graph builder carries it through the layers that pass masks on.

mod cpu;

use ndarray::ArrayD;
use serde::Serialize;
use serde_json::Value;

use super::fields::{bool_field, f32_field, usize_field};
use super::{Op, Real, WeightSpec};

/// Embedding: each token id (truncated to an integer, as Keras casts it) picks a row of the
/// `[input_dim, output_dim]` table; an id outside `0..input_dim` gives NaN, as Keras 3's
/// `take` does on jax (TensorFlow refuses the batch instead).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Embedding {
    pub input_dim: usize,
    pub output_dim: usize,
    /// Id 0 is padding: the layer makes a mask of the ids that are not 0.
    pub mask_zero: bool,
}

/// Which steps are real, as 1.0 and 0.0.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MakeMask {
    /// Each value that is not `value`: token ids that are not 0 (Embedding's `mask_zero`;
    /// Keras 3's `not_equal` op layer).
    NotEqual { value: f32 },
    /// The steps with any feature other than `value`: the Masking layer's mask (Keras 3's
    /// `any` op layer over a mask is this with 0).
    AnyNot { value: f32 },
}

/// The Masking layer: the steps whose every feature equals `value` become 0.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Masking {
    pub value: f32,
}

/// GlobalAveragePooling1D with a mask: the mean over the real steps of `[steps, features]`
/// (`sum(x·mask) / sum(mask)`, Keras's formula: NaN where no step is real).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MaskedMean {
    pub keepdims: bool,
}

pub const CLASSES: &[&str] = &["Embedding", "Masking"];

pub fn parse(class: &str, config: &Value) -> Result<Op, String> {
    if class == "Masking" {
        return Ok(Op::Masking(Masking {
            value: f32_field(config, "mask_value")?.unwrap_or(0.0),
        }));
    }
    Ok(Op::Embedding(Embedding {
        input_dim: usize_field(config, "input_dim")?
            .ok_or("Embedding config has no 'input_dim'")?,
        output_dim: usize_field(config, "output_dim")?
            .ok_or("Embedding config has no 'output_dim'")?,
        mask_zero: bool_field(config, "mask_zero", false)?,
    }))
}

impl Embedding {
    pub fn output_shape(&self, input: &[usize]) -> Vec<usize> {
        input.iter().copied().chain([self.output_dim]).collect()
    }

    pub fn weights(&self) -> Vec<WeightSpec> {
        vec![WeightSpec::new(
            "embeddings",
            vec![self.input_dim, self.output_dim],
        )]
    }

    pub fn eval<T: Real>(
        &self,
        ids: &ArrayD<T>,
        table: &ArrayD<T>,
        out_shape: &[usize],
    ) -> ArrayD<T> {
        cpu::embedding(ids, table, out_shape)
    }
}

impl MakeMask {
    pub fn name(&self) -> &'static str {
        match self {
            MakeMask::NotEqual { .. } => "not_equal",
            MakeMask::AnyNot { .. } => "any_not_equal",
        }
    }

    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        match self {
            MakeMask::NotEqual { .. } => Ok(input.to_vec()),
            MakeMask::AnyNot { .. } => match input.split_last() {
                Some((_, steps)) if !steps.is_empty() => Ok(steps.to_vec()),
                _ => Err(format!(
                    "a mask over the last axis needs a sample of [steps, features], got {input:?}"
                )),
            },
        }
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>) -> ArrayD<T> {
        cpu::make_mask(self, x)
    }
}

impl Masking {
    pub fn eval<T: Real>(&self, x: &ArrayD<T>) -> ArrayD<T> {
        cpu::masking(self.value, x)
    }
}

impl MaskedMean {
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        let [_, features] = input else {
            return Err(format!(
                "a masked GlobalAveragePooling1D needs a sample of [steps, features], got {input:?}"
            ));
        };
        Ok(if self.keepdims {
            vec![1, *features]
        } else {
            vec![*features]
        })
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, mask: &ArrayD<T>, out_shape: &[usize]) -> ArrayD<T> {
        cpu::masked_mean(x, mask, out_shape)
    }
}

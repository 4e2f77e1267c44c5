//! An op applied to every step of `[steps, …]` samples, run as that op over `batch · steps`
//! samples of `[…]` (in row-major order, the same memory): TimeDistributed around a layer whose
//! op does not already treat leading axes as rows (a convolution, a pooling, a normalization,
//! …), as Keras computes it, and MultiHeadAttention's core over some of its inputs' axes.

use ndarray::ArrayD;
use serde::Serialize;

use super::layout::reshape;
use super::{Op, Real, WeightSpec};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerStep {
    /// The wrapped layer's op, read for one step's shape.
    pub op: Op,
    pub steps: usize,
}

impl PerStep {
    pub fn name(&self) -> String {
        format!("per_step({})", self.op.name())
    }

    /// One step's shape: the sample without its steps axis.
    pub fn step_shape(shape: &[usize]) -> &[usize] {
        shape.get(1..).unwrap_or(&[])
    }

    pub fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        if let Some(bad) = inputs.iter().find(|s| s.first() != Some(&self.steps)) {
            return Err(format!(
                "takes inputs of {} steps, one is {bad:?}",
                self.steps
            ));
        }
        let steps: Vec<&[usize]> = inputs.iter().map(|s| Self::step_shape(s)).collect();
        let step = self.op.output_shape(&steps)?;
        Ok(std::iter::once(self.steps).chain(step).collect())
    }

    pub fn weights(&self, input: &[usize]) -> Result<Vec<WeightSpec>, String> {
        self.op.weights(Self::step_shape(input))
    }

    pub fn macs(&self, inputs: &[&[usize]], output: &[usize]) -> u64 {
        let steps: Vec<&[usize]> = inputs.iter().map(|s| Self::step_shape(s)).collect();
        self.op.macs(&steps, Self::step_shape(output)) * self.steps as u64
    }

    /// Runs the op on its inputs as `[batch·steps, …]` and gives the result back its steps
    /// axis.
    pub fn eval<T: Real>(
        &self,
        inputs: &[&ArrayD<T>],
        weights: &[&ArrayD<T>],
        out: &[usize],
    ) -> ArrayD<T> {
        let fold = |shape: &[usize]| -> Vec<usize> {
            std::iter::once(shape[0] * self.steps)
                .chain(shape[2..].iter().copied())
                .collect()
        };
        let folded: Vec<ArrayD<T>> = inputs
            .iter()
            .map(|x| reshape(x, &fold(x.shape())))
            .collect();
        let refs: Vec<&ArrayD<T>> = folded.iter().collect();
        reshape(&self.op.eval(&refs, weights, &fold(out)), out)
    }
}

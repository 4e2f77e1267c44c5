//! The mean over some sample axes (an op layer's `ops.mean` / `tf.math.reduce_mean`), the
//! reduced axes kept as size 1 or dropped.

use ndarray::{ArrayD, IxDyn};
use serde::Serialize;

use super::reduce::mean_keep;
use super::Real;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mean {
    /// Absolute axes (batch 0, never reduced), sorted.
    pub axes: Vec<usize>,
    pub keepdims: bool,
}

impl Mean {
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        if self.axes.iter().any(|&a| a == 0 || a > input.len()) {
            return Err(format!(
                "mean over axes {:?} of a {input:?} sample",
                self.axes
            ));
        }
        Ok(input
            .iter()
            .enumerate()
            .filter_map(
                |(i, &n)| match (self.axes.contains(&(i + 1)), self.keepdims) {
                    (false, _) => Some(n),
                    (true, true) => Some(1),
                    (true, false) => None,
                },
            )
            .collect())
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, out_shape: &[usize]) -> ArrayD<T> {
        mean_keep(x, &self.axes)
            .into_shape_with_order(IxDyn(out_shape))
            .expect("shape checked when built")
    }
}

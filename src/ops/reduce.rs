//! Reductions over several axes that keep the reduced axes (size 1), so the result broadcasts
//! against the input: the shared step of softmax and the normalizations.

use ndarray::{ArrayD, Axis};

use super::Real;

/// Sums over `axes`, keeping them as size-1 axes so the result broadcasts against `x`.
pub fn reduce_keep<T: Real>(x: &ArrayD<T>, axes: &[usize]) -> ArrayD<T> {
    let mut acc = x.clone();
    for &axis in axes {
        acc = acc.sum_axis(Axis(axis)).insert_axis(Axis(axis));
    }
    acc
}

pub fn mean_keep<T: Real>(x: &ArrayD<T>, axes: &[usize]) -> ArrayD<T> {
    let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let n = T::from_f64(count as f64);
    reduce_keep(x, axes).mapv(|v| v / n)
}

//! Reductions over several axes that keep the reduced axes (size 1), so the result broadcasts
//! against the input: the shared step of softmax and the normalizations; and [`lane_fold`], the
//! reduction of one contiguous row.

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

/// Folds a row in 16 interleaved partial results, merged at the end: `step` folds a value into
/// a partial (`|s, v| s + v`), `merge` joins two partials. A single running fold is one long
/// chain of dependent operations; sixteen independent ones vectorise.
pub fn lane_fold<T: Real>(
    x: &[T],
    init: T,
    step: impl Fn(T, T) -> T,
    merge: impl Fn(T, T) -> T,
) -> T {
    const LANES: usize = 16;
    let mut acc = [init; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a = step(*a, v);
        }
    }
    let partial = acc.into_iter().reduce(&merge).expect("LANES > 0");
    rest.iter().fold(partial, |s, &v| step(s, v))
}

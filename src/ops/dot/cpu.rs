//! Dot on the CPU: each sample's product as one GEMM, the samples over every core.

use ndarray::{ArrayD, ArrayView2, ArrayViewMut2, IxDyn};
use rayon::prelude::*;

use super::DotGeometry;
use crate::ops::gemm::gemm;
use crate::ops::Real;

/// `out[b, i, j] = Σ_k x[b, i with k at its axis] · y[b, j with k at its axis]`.
pub(super) fn batch_dot<T: Real>(
    x: &ArrayD<T>,
    y: &ArrayD<T>,
    g: &DotGeometry,
    out_shape: &[usize],
) -> ArrayD<T> {
    let batch = x.shape()[0];
    // x as [b, rows, depth] and y as [b, depth, cols], each sample row-major.
    let lhs = around_axis(x, g.after_x, g.depth, [0, 1, 3, 2]);
    let rhs = around_axis(y, g.after_y, g.depth, [0, 2, 1, 3]);
    let (m, k, n) = (g.rows, g.depth, g.cols);
    let mut out = vec![T::zero(); batch * m * n];
    out.par_chunks_mut((m * n).max(1))
        .enumerate()
        .for_each(|(b, c)| {
            let a = ArrayView2::from_shape((m, k), &lhs[b * m * k..(b + 1) * m * k]);
            let w = ArrayView2::from_shape((k, n), &rhs[b * k * n..(b + 1) * k * n]);
            let mut c = ArrayViewMut2::from_shape((m, n), c).expect("one output sample");
            gemm(
                a.expect("one x sample"),
                w.expect("one y sample"),
                &mut c,
                false,
            );
        });
    ArrayD::from_shape_vec(IxDyn(out_shape), out).expect("the Dot's output shape")
}

/// The values of `x` seen as `[batch, before, depth, after]`, its axes permuted by `order`,
/// row-major.
fn around_axis<T: Real>(x: &ArrayD<T>, after: usize, depth: usize, order: [usize; 4]) -> Vec<T> {
    let batch = x.shape()[0];
    let before = x.len() / (batch * depth * after).max(1);
    let x = x.as_standard_layout();
    let four = x
        .view()
        .into_shape_with_order(IxDyn(&[batch, before, depth, after]))
        .expect("the sample holds before·depth·after values");
    let permuted = four.permuted_axes(IxDyn(&order));
    permuted.as_standard_layout().iter().copied().collect()
}

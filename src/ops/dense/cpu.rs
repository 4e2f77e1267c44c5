//! Dense on the CPU: one GEMM over all leading axes.

use ndarray::{ArrayD, ArrayView2, IxDyn};

use crate::ops::gemm::{bias_rows, gemm};
use crate::ops::Real;

/// `x·kernel + bias` over the last axis of `x`, as one GEMM over all leading axes.
pub(super) fn dense<T: Real>(
    x: &ArrayD<T>,
    kernel: &ArrayD<T>,
    bias: Option<&ArrayD<T>>,
    out_shape: &[usize],
) -> ArrayD<T> {
    let k = kernel.shape()[0];
    let x = x.as_standard_layout();
    let rows = x.len() / k.max(1);
    let x2: ArrayView2<T> = x
        .view()
        .into_shape_with_order((rows, k))
        .expect("dense input is contiguous");
    let w2: ArrayView2<T> = kernel
        .view()
        .into_shape_with_order((k, kernel.shape()[1]))
        .expect("kernel is 2-D");
    // The bias goes in first and the product is accumulated onto it, which saves a separate
    // pass over the output.
    let n = w2.ncols();
    let bias: Option<Vec<T>> = bias.map(|b| b.iter().copied().collect());
    let mut y = bias_rows(rows, n, bias.as_deref());
    gemm(x2, w2, &mut y.view_mut(), bias.is_some());
    y.into_shape_with_order(IxDyn(out_shape))
        .expect("dense output shape was inferred")
}

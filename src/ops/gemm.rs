//! The CPU's matrix product, shared by Dense and the convolutions: ndarray's matrixmultiply,
//! threaded. Each output row is summed in the same order whatever the number of rows, so a
//! batch streamed in chunks gives bit-identical outputs (`run --chunk`, chunked `verify`). The
//! `gemm` crate measured 2–38% faster on ResNet50's shapes but sums a row differently with the
//! number of rows (BENCHMARKS.md).

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::Real;

/// `c = a·b`, or `c += a·b` with `accumulate`; any strides.
pub fn gemm<T: Real>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    c: &mut ArrayViewMut2<T>,
    accumulate: bool,
) {
    let beta = if accumulate { T::one() } else { T::zero() };
    general_mat_mul(T::one(), &a, &b, beta, c);
}

//! The CPU's matrix product, shared by Dense and the convolutions. float32 runs on keqv's own
//! packed GEMM where the CPU has AVX-512 (`packed`); everything else, float64 included, on
//! ndarray's matrixmultiply, threaded. Either way each output row is summed in an order that does
//! not depend on the number of rows, so a batch streamed in chunks gives bit-identical outputs
//! (`run --chunk`, chunked `verify`). The `gemm` crate measured faster than matrixmultiply but
//! sums a row differently with the number of rows (BENCHMARKS.md).
//!
//! The left operand is an [`Lhs`]: a matrix, or a matrix that is never built, such as a
//! convolution's receptive fields, which the packed GEMM gathers straight from the input.

mod avx512;
mod gemv;
mod packed;

use std::ops::Range;

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2, ArrayViewMut2, CowArray, Ix2};

use super::Real;

/// A GEMM's left operand, rows × depth.
pub trait Lhs<T>: Sync {
    fn dim(&self) -> (usize, usize);
    /// Rows `rows` × depths `depths` into `dst`, row after row (`depths.len()` values each), then
    /// zeros for the rows that round the block up to a multiple of `mr`.
    fn pack(&self, rows: Range<usize>, depths: Range<usize>, mr: usize, dst: &mut [T]);
    /// The whole operand as a matrix, for the GEMM that reads matrices.
    fn matrix(&self) -> CowArray<'_, T, Ix2>;
}

impl<T: Real> Lhs<T> for ArrayView2<'_, T> {
    fn dim(&self) -> (usize, usize) {
        ArrayView2::dim(self)
    }

    fn pack(&self, rows: Range<usize>, depths: Range<usize>, mr: usize, dst: &mut [T]) {
        let kc = depths.len();
        let block = self.slice(s![rows.clone(), depths]);
        let dst = &mut dst[..rows.len().div_ceil(mr) * mr * kc];
        for (d, src) in dst.chunks_exact_mut(kc).zip(block.rows()) {
            match src.as_slice() {
                Some(s) => d.copy_from_slice(s),
                None => d.iter_mut().zip(src).for_each(|(d, &v)| *d = v),
            }
        }
        dst[rows.len() * kc..].fill(T::zero());
    }

    fn matrix(&self) -> CowArray<'_, T, Ix2> {
        self.view().into()
    }
}

/// `c = a·b`, or `c += a·b` with `accumulate`; any strides.
pub fn gemm<T: Real>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    c: &mut ArrayViewMut2<T>,
    accumulate: bool,
) {
    gemm_lhs(&a, b, c, accumulate);
}

/// [`gemm`] with any left operand: packed straight from it, or built as a matrix for
/// matrixmultiply.
pub fn gemm_lhs<T: Real>(
    a: &dyn Lhs<T>,
    b: ArrayView2<T>,
    c: &mut ArrayViewMut2<T>,
    accumulate: bool,
) {
    if T::packed_gemm(a, b, c, accumulate) {
        return;
    }
    reference_gemm(a.matrix().view(), b, c, accumulate);
}

/// A right operand multiplied many times (a recurrent kernel, once per step): packed once, where
/// the packed GEMM runs.
pub struct Rhs<'a, T> {
    view: ArrayView2<'a, T>,
    packed: Option<PackedRhs>,
}

impl<'a, T: Real> Rhs<'a, T> {
    pub fn new(view: ArrayView2<'a, T>) -> Self {
        Self::packed(view, true)
    }

    /// Packed on the rayon pool with `parallel`, else on the calling thread.
    fn packed(view: ArrayView2<'a, T>, parallel: bool) -> Self {
        Rhs {
            packed: T::pack_rhs(view, parallel),
            view,
        }
    }
}

/// [`gemm`] on the calling thread alone: for the many small products of work that is split
/// across threads already (attention's samples and heads).
pub fn gemm_serial<T: Real>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    c: &mut ArrayViewMut2<T>,
    accumulate: bool,
) {
    gemm_prepared(a, &Rhs::packed(b, false), c, accumulate, false);
}

/// [`gemm`] with a prepared right operand: on the rayon pool with `parallel`, else on the calling
/// thread, for callers that split their work across threads themselves.
pub fn gemm_prepared<T: Real>(
    a: ArrayView2<T>,
    b: &Rhs<T>,
    c: &mut ArrayViewMut2<T>,
    accumulate: bool,
    parallel: bool,
) {
    if let Some(packed) = &b.packed {
        if T::packed_gemm_prepared(&a, packed, c, accumulate, parallel) {
            return;
        }
    }
    reference_gemm(a, b.view, c, accumulate);
}

/// A `rows`×`bias.len()` matrix with `bias` in every row (zeros without one): the start of a
/// GEMM that accumulates onto its bias. Row copies, not an element-wise broadcast.
pub fn bias_rows<T: Real>(rows: usize, width: usize, bias: Option<&[T]>) -> Array2<T> {
    let Some(bias) = bias else {
        return Array2::zeros((rows, width));
    };
    let mut data = Vec::with_capacity(rows * width);
    for _ in 0..rows {
        data.extend_from_slice(bias);
    }
    Array2::from_shape_vec((rows, width), data).expect("one bias value per column")
}

/// The same product on matrixmultiply, whatever the CPU: the fallback, and what the packed GEMM
/// is measured and tested against.
pub fn reference_gemm<T: Real>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    c: &mut ArrayViewMut2<T>,
    accumulate: bool,
) {
    let beta = if accumulate { T::one() } else { T::zero() };
    general_mat_mul(T::one(), &a, &b, beta, c);
}

pub(crate) use packed::{pack_rhs, sgemm_packed, sgemm_prepacked, PackedRhs};

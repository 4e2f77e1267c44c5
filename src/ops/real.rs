//! The float types the CPU evaluations compute in: f32 for normal runs, f64 for reference runs.

use ndarray::{ArrayD, ArrayView2, ArrayViewMut2, LinalgScalar, ScalarOperand};
use num_traits::Float;

use super::gemm::{Lhs, PackedRhs};

/// The float types the CPU executor computes in.
pub trait Real:
    Float + LinalgScalar + ScalarOperand + std::ops::AddAssign + Send + Sync + std::fmt::Debug + 'static
{
    fn from_f32(v: f32) -> Self;
    fn from_f64(v: f64) -> Self;
    fn to_f32(self) -> f32;
    fn erf(self) -> Self;
    /// The array in float32: a move for f32, a conversion for f64.
    fn array_to_f32(a: ArrayD<Self>) -> ArrayD<f32>;
    /// `c = a·b` (`+=` with `accumulate`) on keqv's packed GEMM where it runs this type on this
    /// CPU; false, touching nothing, where it does not (`ops::gemm`).
    fn packed_gemm(
        _a: &dyn Lhs<Self>,
        _b: ArrayView2<Self>,
        _c: &mut ArrayViewMut2<Self>,
        _accumulate: bool,
    ) -> bool {
        false
    }
    /// `b` packed (on the rayon pool with `parallel`) for [`Real::packed_gemm_prepared`], where the packed GEMM runs this type here.
    fn pack_rhs(_b: ArrayView2<Self>, _parallel: bool) -> Option<PackedRhs> {
        None
    }
    /// [`Real::packed_gemm`] with `b` packed by [`Real::pack_rhs`]; on the rayon pool with
    /// `parallel`, else on the calling thread.
    fn packed_gemm_prepared(
        _a: &dyn Lhs<Self>,
        _b: &PackedRhs,
        _c: &mut ArrayViewMut2<Self>,
        _accumulate: bool,
        _parallel: bool,
    ) -> bool {
        false
    }
    /// `v = e^v` elementwise.
    fn exp_slice(v: &mut [Self]) {
        v.iter_mut().for_each(|x| *x = x.exp());
    }
    /// `v = 1 / (1 + e^−v)` elementwise.
    fn sigmoid_slice(v: &mut [Self]) {
        v.iter_mut()
            .for_each(|x| *x = super::activation::sigmoid(*x));
    }
    /// `v = tanh v` elementwise.
    fn tanh_slice(v: &mut [Self]) {
        v.iter_mut().for_each(|x| *x = x.tanh());
    }
}

impl Real for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn erf(self) -> Self {
        libm::erff(self)
    }
    fn array_to_f32(a: ArrayD<Self>) -> ArrayD<f32> {
        a
    }
    fn packed_gemm(
        a: &dyn Lhs<Self>,
        b: ArrayView2<Self>,
        c: &mut ArrayViewMut2<Self>,
        accumulate: bool,
    ) -> bool {
        super::gemm::sgemm_packed(a, b, c, accumulate)
    }
    fn pack_rhs(b: ArrayView2<Self>, parallel: bool) -> Option<PackedRhs> {
        super::gemm::pack_rhs(b, parallel)
    }
    fn packed_gemm_prepared(
        a: &dyn Lhs<Self>,
        b: &PackedRhs,
        c: &mut ArrayViewMut2<Self>,
        accumulate: bool,
        parallel: bool,
    ) -> bool {
        super::gemm::sgemm_prepacked(a, b, c, accumulate, parallel)
    }
    // Vectorised: glibc's scalar calls dominate recurrent layers and softmaxes.
    fn exp_slice(v: &mut [Self]) {
        super::activation::lanes::exp_slice(v);
    }
    fn sigmoid_slice(v: &mut [Self]) {
        super::activation::lanes::sigmoid_slice(v);
    }
    fn tanh_slice(v: &mut [Self]) {
        super::activation::lanes::tanh_slice(v);
    }
}

impl Real for f64 {
    fn from_f32(v: f32) -> Self {
        v as f64
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn erf(self) -> Self {
        libm::erf(self)
    }
    fn array_to_f32(a: ArrayD<Self>) -> ArrayD<f32> {
        a.mapv(Real::to_f32)
    }
}

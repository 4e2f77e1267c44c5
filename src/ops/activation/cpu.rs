//! Activations on the CPU, in the precision of the run, with the formulas Keras uses. A NaN or
//! an infinity comes out as Keras gives it: max, min and clip propagate NaN (see `nan`).

use ndarray::{ArrayD, Axis, Zip};
use rayon::prelude::*;

use super::Activation;
use crate::ops::reduce::{lane_fold, reduce_keep};
use crate::ops::{nan, Real};

/// Applies `act` to `x`; softmax and log-softmax run over the last axis.
pub fn apply<T: Real>(act: &Activation, x: &mut ArrayD<T>) {
    match act {
        Activation::Linear => {}
        Activation::Softmax => softmax_last_axis(x, false),
        Activation::LogSoftmax => softmax_last_axis(x, true),
        elementwise => match x.as_slice_mut() {
            Some(values) => values
                .par_chunks_mut(CHUNK)
                .for_each(|chunk| apply_chunk(elementwise, chunk)),
            None => {
                let mut values: Vec<T> = x.iter().copied().collect();
                apply_chunk(elementwise, &mut values);
                x.iter_mut().zip(values).for_each(|(d, v)| *d = v);
            }
        },
    }
}

/// `act` of `x` into a new array. An elementwise activation of a contiguous `x` copies and
/// activates each chunk while it is in cache: one pass over memory, not a copy and then
/// another pass.
pub fn applied<T: Real>(act: &Activation, x: &ArrayD<T>) -> ArrayD<T> {
    let softmax = matches!(act, Activation::Softmax | Activation::LogSoftmax);
    let (Some(values), false) = (x.as_slice(), softmax) else {
        let mut y = x.clone();
        apply(act, &mut y);
        return y;
    };
    let mut out: Vec<T> = Vec::with_capacity(values.len());
    out.spare_capacity_mut()
        .par_chunks_mut(CHUNK)
        .zip(values.par_chunks(CHUNK))
        .for_each(|(dst, src)| {
            for (d, &v) in dst.iter_mut().zip(src) {
                d.write(v);
            }
            // SAFETY: every element of dst was written just above.
            let dst =
                unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<T>(), dst.len()) };
            apply_chunk(act, dst);
        });
    // SAFETY: the chunks cover the first values.len() elements, each written above.
    unsafe { out.set_len(values.len()) };
    ArrayD::from_shape_vec(x.raw_dim(), out).expect("the input's shape")
}

/// Values per parallel task of the elementwise activations: 64 KiB of float32, in L2.
const CHUNK: usize = 1 << 14;

/// An elementwise activation (not softmax) over one chunk.
fn apply_chunk<T: Real>(act: &Activation, v: &mut [T]) {
    match *act {
        // The common cases without the general relu's per-element parameters (same results).
        Activation::RELU => v.iter_mut().for_each(|x| *x = nan::relu(*x)),
        Activation::Relu {
            negative_slope: 0.0,
            max_value: Some(max),
            threshold: 0.0,
            ..
        } => {
            let max = T::from_f32(max);
            v.iter_mut()
                .for_each(|x| *x = nan::clamp(nan::relu(*x), T::zero(), max))
        }
        _ => apply_slice(act, v),
    }
}

/// An elementwise activation over a slice: vectorised for sigmoid and tanh (`Real`'s slice
/// functions), else element by element.
pub fn apply_slice<T: Real>(act: &Activation, v: &mut [T]) {
    match act {
        Activation::Sigmoid => T::sigmoid_slice(v),
        Activation::Tanh => T::tanh_slice(v),
        other => v.iter_mut().for_each(|x| *x = scalar(other, *x)),
    }
}

/// One element of an elementwise activation.
pub fn scalar<T: Real>(act: &Activation, x: T) -> T {
    let zero = T::zero();
    let one = T::one();
    let half = T::from_f32(0.5);
    match *act {
        Activation::Linear => x,
        Activation::Relu {
            negative_slope,
            max_value,
            threshold,
            threshold_by_product,
        } => {
            let t = T::from_f32(threshold);
            let above = x > t;
            let mut pos = if threshold == 0.0 {
                nan::relu(x)
            } else if threshold_by_product {
                x * if above { one } else { zero }
            } else if above {
                x
            } else {
                zero
            };
            if let Some(max) = max_value {
                pos = nan::clamp(pos, zero, T::from_f32(max));
            }
            if negative_slope == 0.0 {
                // Keras leaves the negative part out: 0·(t − x) would be NaN for x = −inf.
                return pos;
            }
            pos - T::from_f32(negative_slope) * nan::relu(t - x)
        }
        Activation::Sigmoid => sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Elu { alpha } => elu(x, T::from_f32(alpha)),
        Activation::Selu => {
            T::from_f64(1.050_700_987_355_480_5) * elu(x, T::from_f64(1.673_263_242_354_377_3))
        }
        Activation::Softplus => softplus(x),
        Activation::Softsign => x / (one + x.abs()),
        Activation::Silu => x * sigmoid(x),
        Activation::Gelu => half * x * (one + (x / T::from_f64(std::f64::consts::SQRT_2)).erf()),
        Activation::GeluTanh => {
            let c = T::from_f64((2.0 / std::f64::consts::PI).sqrt());
            half * x * (one + (c * (x + T::from_f32(0.044715) * x * x * x)).tanh())
        }
        Activation::HardSigmoid { slope } => hard_sigmoid(x, T::from_f32(slope)),
        Activation::HardSilu => x * hard_sigmoid(x, T::from_f64(1.0 / 6.0)),
        Activation::Exponential => x.exp(),
        Activation::Mish => x * softplus(x).tanh(),
        Activation::Softmax | Activation::LogSoftmax => {
            unreachable!("softmax is not elementwise; apply() handles it")
        }
    }
}

/// 1 / (1 + e^−x), as Keras computes it.
pub fn sigmoid<T: Real>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

fn elu<T: Real>(x: T, alpha: T) -> T {
    if x > T::zero() {
        x
    } else {
        alpha * x.exp_m1()
    }
}

/// log(1 + e^x) without overflow for large x.
fn softplus<T: Real>(x: T) -> T {
    nan::relu(x) + (-x.abs()).exp().ln_1p()
}

fn hard_sigmoid<T: Real>(x: T, slope: T) -> T {
    nan::clamp(slope * x + T::from_f32(0.5), T::zero(), T::one())
}

/// Numerically stable softmax along the last axis, in place. A NaN or +inf in a row makes the
/// row NaN (jax.nn.softmax: x − max is NaN there, and so is the sum).
fn softmax_last_axis<T: Real>(x: &mut ArrayD<T>, log: bool) {
    let last = Axis(x.ndim() - 1);
    for mut lane in x.lanes_mut(last) {
        if log {
            let max = lane.fold(T::neg_infinity(), |m, &v| nan::max(m, v));
            let sum = lane.fold(T::zero(), |s, &v| s + (v - max).exp());
            let log_sum = sum.ln();
            lane.mapv_inplace(|v| v - max - log_sum);
        } else {
            match lane.as_slice_mut() {
                Some(row) => softmax_row(row),
                None => {
                    let mut row = lane.to_vec();
                    softmax_row(&mut row);
                    lane.iter_mut().zip(row).for_each(|(d, v)| *d = v);
                }
            }
        }
    }
}

/// Softmax of one row in place: exp(x − max) / Σ exp(x − max), NaN-propagating max.
pub fn softmax_row<T: Real>(row: &mut [T]) {
    let max = lane_fold(row, T::neg_infinity(), nan::max, nan::max);
    row.iter_mut().for_each(|v| *v = *v - max);
    T::exp_slice(row);
    let add = |s: T, v: T| s + v;
    let sum = lane_fold(row, T::zero(), add, add);
    row.iter_mut().for_each(|v| *v = *v / sum);
}

/// PReLU: `x >= 0 ? x : alpha·x`, alpha broadcast over the shared axes.
pub fn prelu<T: Real>(x: &ArrayD<T>, alpha: &ArrayD<T>) -> ArrayD<T> {
    let mut y = x.clone();
    Zip::from(&mut y).and_broadcast(alpha).for_each(|v, &a| {
        if *v < T::zero() {
            *v = a * *v
        }
    });
    y
}

/// Softmax over several axes at once: exp(x − max) / Σ exp(x − max), NaN in a group with a NaN
/// or +inf (or only −inf). With `logsumexp`, exp(x − logsumexp(x)) as Keras computes it: the
/// same except in a group whose max is +inf, where logsumexp is +inf, so its +inf elements come
/// out NaN and the others 0 (log: −inf).
pub(super) fn softmax<T: Real>(
    x: &ArrayD<T>,
    axes: &[usize],
    log: bool,
    logsumexp: bool,
) -> ArrayD<T> {
    let mut max = x.clone();
    for &axis in axes {
        max = max
            .fold_axis(Axis(axis), T::neg_infinity(), |m, &v| nan::max(*m, v))
            .insert_axis(Axis(axis));
    }
    let shifted = x - &max;
    let sum = reduce_keep(&shifted.mapv(|v| v.exp()), axes);
    let mut y = if log {
        shifted - &sum.mapv(|s| s.ln())
    } else {
        shifted.mapv(|v| v.exp()) / &sum
    };
    if logsumexp {
        // There logsumexp is +inf: x − inf is −inf, or NaN at a +inf itself.
        Zip::from(&mut y)
            .and(x)
            .and_broadcast(&max)
            .for_each(|y, &v, &m| {
                if m == T::infinity() {
                    let d = v - m;
                    *y = if log { d } else { d.exp() };
                }
            });
    }
    y
}

//! The normalizations on the CPU, with Keras's formulas.

use ndarray::{ArrayD, IxDyn, Zip};
use rayon::prelude::*;

use super::GroupNorm;
use crate::ops::reduce::{lane_fold, mean_keep, reduce_keep};
use crate::ops::{nan, Real};

/// A parameter stored over `axes` only, reshaped to broadcast against a tensor of rank `ndim`.
fn broadcastable<T: Real>(param: &ArrayD<T>, axes: &[usize], input_shape: &[usize]) -> ArrayD<T> {
    let mut shape = vec![1; input_shape.len()];
    for &a in axes {
        shape[a] = input_shape[a];
    }
    param
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&shape))
        .expect("parameter shape checked when the graph was built")
}

pub(super) fn batch_norm<T: Real>(
    x: &ArrayD<T>,
    weights: &[&ArrayD<T>],
    axes: &[usize],
    eps: T,
    center: bool,
    scale: bool,
) -> ArrayD<T> {
    let shape = x.shape();
    let mut params = weights.iter().map(|w| broadcastable(w, axes, shape));
    let gamma = scale.then(|| params.next().expect("gamma"));
    let beta = center.then(|| params.next().expect("beta"));
    let mean = params.next().expect("moving_mean");
    let var = params.next().expect("moving_variance");
    // Keras: inv = rsqrt(var + eps) · gamma; y = x·inv + (beta − mean·inv).
    let mut inv = var.mapv(|v| T::one() / (v + eps).sqrt());
    if let Some(g) = &gamma {
        inv = inv * g;
    }
    let mut shift = -(&mean * &inv);
    if let Some(b) = &beta {
        shift += b;
    }
    let channels = *shape.last().unwrap_or(&1);
    let last_axis = inv.len() == channels && inv.shape().last() == Some(&channels);
    if let (true, Some(values), Some(inv), Some(shift)) =
        (last_axis, x.as_slice(), inv.as_slice(), shift.as_slice())
    {
        // Channels last (every Keras CNN's BatchNormalization): whole rows, over all cores.
        let mut out = vec![T::zero(); values.len()];
        out.par_chunks_mut(channels * 256)
            .zip(values.par_chunks(channels * 256))
            .for_each(|(out, values)| {
                for (out, row) in out
                    .chunks_exact_mut(channels)
                    .zip(values.chunks_exact(channels))
                {
                    for (((o, &v), &i), &s) in out.iter_mut().zip(row).zip(inv).zip(shift) {
                        *o = v * i + s;
                    }
                }
            });
        return ArrayD::from_shape_vec(IxDyn(shape), out).expect("same shape as the input");
    }
    let mut y = x.clone();
    Zip::from(&mut y)
        .and_broadcast(&inv)
        .and_broadcast(&shift)
        .for_each(|v, &i, &s| *v = *v * i + s);
    y
}

pub(super) fn layer_norm<T: Real>(
    x: &ArrayD<T>,
    weights: &[&ArrayD<T>],
    axes: &[usize],
    eps: T,
    (center, scale, rms_scaling): (bool, bool, bool),
) -> ArrayD<T> {
    let shape = x.shape();
    let width = *shape.last().unwrap_or(&1);
    if let (true, Some(values)) = (axes == [shape.len() - 1], x.as_slice()) {
        let mut params = weights
            .iter()
            .map(|w| w.as_slice().filter(|p| p.len() == width));
        let gamma = (scale || rms_scaling).then(|| params.next().flatten());
        let beta = (center && !rms_scaling).then(|| params.next().flatten());
        if let (Some(None), _) | (_, Some(None)) = (gamma, beta) {
            // A parameter not laid out as one row: the general path below.
        } else {
            let rows = Rows {
                gamma: gamma.flatten(),
                beta: beta.flatten(),
                eps,
                rms_scaling,
            };
            let out = rows.normalize(values, width);
            return ArrayD::from_shape_vec(IxDyn(shape), out).expect("same shape as the input");
        }
    }
    let mut params = weights.iter().map(|w| broadcastable(w, axes, shape));
    let mean = mean_keep(x, axes);
    let centered = x - &mean;
    let var = mean_keep(&centered.mapv(|v| v * v), axes);
    let inv = var.mapv(|v| T::one() / (v + eps).sqrt());
    if rms_scaling {
        // Keras 3 divides the uncentred input by sqrt(variance + eps) and only scales.
        let gamma = params.next().expect("gamma");
        return x * &inv * &gamma;
    }
    let mut y = centered * &inv;
    if scale {
        y = y * &params.next().expect("gamma");
    }
    if center {
        y += &params.next().expect("beta");
    }
    y
}

/// LayerNormalization over the last axis (a transformer's), the formulas of [`layer_norm`] row by
/// row: one row's moments and output in cache, blocks of rows over all cores.
struct Rows<'a, T> {
    gamma: Option<&'a [T]>,
    beta: Option<&'a [T]>,
    eps: T,
    rms_scaling: bool,
}

impl<T: Real> Rows<'_, T> {
    fn normalize(&self, values: &[T], width: usize) -> Vec<T> {
        let mut out = vec![T::zero(); values.len()];
        if width == 0 {
            return out;
        }
        let block = width * 64;
        out.par_chunks_mut(block)
            .zip(values.par_chunks(block))
            .for_each(|(out, values)| {
                for (out, row) in out.chunks_exact_mut(width).zip(values.chunks_exact(width)) {
                    self.row(row, out);
                }
            });
        out
    }

    fn row(&self, x: &[T], y: &mut [T]) {
        let n = T::from_f64(x.len() as f64);
        let add = |s: T, v: T| s + v;
        let mean = lane_fold(x, T::zero(), add, add) / n;
        let var = lane_fold(x, T::zero(), |s, v| s + (v - mean) * (v - mean), add) / n;
        let inv = T::one() / (var + self.eps).sqrt();
        if self.rms_scaling {
            let gamma = self.gamma.expect("gamma");
            for ((y, &x), &g) in y.iter_mut().zip(x).zip(gamma) {
                *y = x * inv * g;
            }
            return;
        }
        for (y, &x) in y.iter_mut().zip(x) {
            *y = (x - mean) * inv;
        }
        if let Some(gamma) = self.gamma {
            y.iter_mut().zip(gamma).for_each(|(y, &g)| *y = *y * g);
        }
        if let Some(beta) = self.beta {
            y.iter_mut().zip(beta).for_each(|(y, &b)| *y += b);
        }
    }
}

/// Keras's RMSNormalization: x · rsqrt(mean(x²) + eps) · scale.
pub(super) fn rms_norm<T: Real>(
    x: &ArrayD<T>,
    scale: &ArrayD<T>,
    axes: &[usize],
    eps: T,
) -> ArrayD<T> {
    let scale = broadcastable(scale, axes, x.shape());
    let mean_sq = mean_keep(&x.mapv(|v| v * v), axes);
    let inv = mean_sq.mapv(|v| T::one() / (v + eps).sqrt());
    x * &inv * &scale
}

/// Keras's GroupNormalization: with the channels split into [groups, channels per group],
/// the moments over every sample axis but the groups; y = x·inv + (beta − mean·inv) with
/// inv = rsqrt(var + eps)·gamma.
pub(super) fn group_norm<T: Real>(
    n: &GroupNorm,
    x: &ArrayD<T>,
    weights: &[&ArrayD<T>],
) -> ArrayD<T> {
    let shape = x.shape().to_vec();
    let channels = shape[n.axis];
    let mut grouped: Vec<usize> = shape.clone();
    grouped[n.axis] = channels / n.groups;
    grouped.insert(n.axis, n.groups);
    let xg = x
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(&grouped))
        .expect("channels split into groups");
    // Reduce over everything but the batch and the group axis.
    let axes: Vec<usize> = (1..grouped.len()).filter(|&a| a != n.axis).collect();
    let mean = mean_keep(&xg, &axes);
    let centered = &xg - &mean;
    let var = mean_keep(&centered.mapv(|v| v * v), &axes);
    let mut params = weights.iter().map(|w| {
        let mut s = vec![1; grouped.len()];
        s[n.axis] = n.groups;
        s[n.axis + 1] = channels / n.groups;
        w.as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&s))
            .expect("one value per channel")
    });
    let mut inv = var.mapv(|v| T::one() / (v + T::from_f32(n.epsilon)).sqrt());
    if n.scale {
        inv = &inv * &params.next().expect("gamma");
    }
    let mut res = -(&mean * &inv);
    if n.center {
        res = &res + &params.next().expect("beta");
    }
    let y = &xg * &inv + &res;
    y.into_shape_with_order(IxDyn(&shape))
        .expect("back to the input's shape")
}

/// `x / sqrt(max(Σx², floor))` over `axes`.
pub(crate) fn l2_normalize<T: Real>(x: &ArrayD<T>, axes: &[usize], floor: T) -> ArrayD<T> {
    let sum_sq = reduce_keep(&x.mapv(|v| v * v), axes);
    let mut y = x.clone();
    Zip::from(&mut y)
        .and_broadcast(&sum_sq)
        .for_each(|v, &s| *v = *v / nan::max(s, floor).sqrt());
    y
}

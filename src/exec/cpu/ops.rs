//! Each graph op on the CPU, in the run's precision. Inputs carry the batch as axis 0.

use ndarray::linalg::general_mat_mul;
use ndarray::{concatenate, Array2, ArrayD, ArrayView2, Axis, IxDyn, Zip};

use super::{activation, nan, Real};
use crate::graph::{MergeKind, Node, Op};

/// Computes one node from its input values and its (already converted) weights.
pub fn eval<T: Real>(node: &Node, inputs: &[&ArrayD<T>], weights: &[&ArrayD<T>]) -> ArrayD<T> {
    let batch = inputs.first().map_or(0, |x| x.shape()[0]);
    let out_shape: Vec<usize> = std::iter::once(batch)
        .chain(node.shape.iter().copied())
        .collect();
    match &node.op {
        Op::Input | Op::Identity => inputs[0].clone(),
        Op::Dense {
            use_bias,
            activation,
            ..
        } => {
            let bias = use_bias.then(|| weights[1]);
            let mut y = dense(inputs[0], weights[0], bias, &out_shape);
            activation::apply(activation, &mut y);
            y
        }
        Op::Activation(act) => {
            let mut y = inputs[0].clone();
            activation::apply(act, &mut y);
            y
        }
        Op::Softmax {
            axes,
            log,
            logsumexp,
        } => softmax(inputs[0], axes, *log, *logsumexp),
        Op::PRelu => {
            let mut y = inputs[0].clone();
            Zip::from(&mut y)
                .and_broadcast(weights[0])
                .for_each(|v, &a| {
                    if *v < T::zero() {
                        *v = a * *v
                    }
                });
            y
        }
        Op::Reshape => reshape(inputs[0], &out_shape),
        Op::Permute { dims } => {
            let axes: Vec<usize> = std::iter::once(0).chain(dims.iter().copied()).collect();
            inputs[0]
                .view()
                .permuted_axes(IxDyn(&axes))
                .as_standard_layout()
                .into_owned()
        }
        Op::Merge(kind) => merge(*kind, inputs, &out_shape),
        Op::Concatenate { axis } => {
            let views: Vec<_> = inputs.iter().map(|x| x.view()).collect();
            concatenate(Axis(*axis), &views).expect("shapes checked when the graph was built")
        }
        Op::BatchNorm {
            axes,
            epsilon,
            center,
            scale,
        } => batch_norm(
            inputs[0],
            weights,
            axes,
            T::from_f32(*epsilon),
            *center,
            *scale,
        ),
        Op::LayerNorm {
            axes,
            epsilon,
            center,
            scale,
            rms_scaling,
        } => layer_norm(
            inputs[0],
            weights,
            axes,
            T::from_f32(*epsilon),
            *center,
            *scale,
            *rms_scaling,
        ),
        Op::L2Normalize { axes, floor } => {
            let sum_sq = reduce_keep(&inputs[0].mapv(|v| v * v), axes);
            let floor = T::from_f32(*floor);
            let mut y = inputs[0].clone();
            Zip::from(&mut y)
                .and_broadcast(&sum_sq)
                .for_each(|v, &s| *v = *v / nan::max(s, floor).sqrt());
            y
        }
    }
}

/// `x·kernel + bias` over the last axis of `x`, as one GEMM over all leading axes.
fn dense<T: Real>(
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
    // The bias goes in first and the product is accumulated onto it (beta = 1), which saves
    // a separate pass over the output.
    let n = w2.ncols();
    let (mut y, beta) = match bias {
        Some(b) => {
            let b = b.view().into_shape_with_order(n).expect("bias is 1-D");
            (
                b.broadcast((rows, n))
                    .expect("bias fits the output")
                    .to_owned(),
                T::one(),
            )
        }
        None => (Array2::zeros((rows, n)), T::zero()),
    };
    general_mat_mul(T::one(), &x2, &w2, beta, &mut y);
    y.into_shape_with_order(IxDyn(out_shape))
        .expect("dense output shape was inferred")
}

fn reshape<T: Real>(x: &ArrayD<T>, out_shape: &[usize]) -> ArrayD<T> {
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(out_shape))
        .expect("reshape sizes checked when the graph was built")
}

/// Keras folds a merge left to right (`((a + b) + c)`), then Average divides once.
fn merge<T: Real>(kind: MergeKind, inputs: &[&ArrayD<T>], out_shape: &[usize]) -> ArrayD<T> {
    let first = inputs[0]
        .broadcast(IxDyn(out_shape))
        .expect("merge shapes checked");
    let mut acc = first.to_owned();
    for x in &inputs[1..] {
        let combine: fn(T, T) -> T = match kind {
            MergeKind::Add | MergeKind::Average => |a, b| a + b,
            MergeKind::Subtract => |a, b| a - b,
            MergeKind::Multiply => |a, b| a * b,
            MergeKind::Maximum => nan::max,
            MergeKind::Minimum => nan::min,
        };
        Zip::from(&mut acc)
            .and_broadcast(*x)
            .for_each(|a, &b| *a = combine(*a, b));
    }
    if kind == MergeKind::Average {
        let n = T::from_f64(inputs.len() as f64);
        acc.mapv_inplace(|v| v / n);
    }
    acc
}

/// Sums over `axes`, keeping them as size-1 axes so the result broadcasts against `x`.
fn reduce_keep<T: Real>(x: &ArrayD<T>, axes: &[usize]) -> ArrayD<T> {
    let mut acc = x.clone();
    for &axis in axes {
        acc = acc.sum_axis(Axis(axis)).insert_axis(Axis(axis));
    }
    acc
}

fn mean_keep<T: Real>(x: &ArrayD<T>, axes: &[usize]) -> ArrayD<T> {
    let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let n = T::from_f64(count as f64);
    reduce_keep(x, axes).mapv(|v| v / n)
}

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

fn batch_norm<T: Real>(
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
    let mut y = x.clone();
    Zip::from(&mut y)
        .and_broadcast(&inv)
        .and_broadcast(&shift)
        .for_each(|v, &i, &s| *v = *v * i + s);
    y
}

fn layer_norm<T: Real>(
    x: &ArrayD<T>,
    weights: &[&ArrayD<T>],
    axes: &[usize],
    eps: T,
    center: bool,
    scale: bool,
    rms_scaling: bool,
) -> ArrayD<T> {
    let shape = x.shape();
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

/// Softmax over several axes at once: exp(x − max) / Σ exp(x − max), NaN in a group with a NaN
/// or +inf (or only −inf). With `logsumexp`, exp(x − logsumexp(x)) as Keras computes it: the
/// same except in a group whose max is +inf, where logsumexp is +inf, so its +inf elements come
/// out NaN and the others 0 (log: −inf).
fn softmax<T: Real>(x: &ArrayD<T>, axes: &[usize], log: bool, logsumexp: bool) -> ArrayD<T> {
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

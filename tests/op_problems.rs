//! Each op family of the CPU executor against a plain reference: generated problems (shapes
//! with odd sizes and size 1, random values, every option of the op) are run through the
//! executor's own evaluation of one node and compared with a float64 loop written here from
//! Keras's formulas. The GPU kernels are checked against the CPU executor in gpu_kernels.rs,
//! and the whole chain against Keras's own outputs in golden.rs.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::activations::all_activations;
use keqv::exec::cpu::eval_node;
use keqv::graph::{Activation, MergeKind, Node, NodeId, Op, Weight};
use keqv::ops::{BatchNorm, Concatenate, Dense, L2Normalize, LayerNorm, Pad, Permute, Softmax};
use keqv::tensor::Tensor;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// A tensor as float64 values with its full shape (batch first), for the references.
#[derive(Clone, Debug)]
struct Plain {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Plain {
    fn tensor(&self) -> Tensor {
        ArrayD::from_shape_vec(
            IxDyn(&self.shape),
            self.data.iter().map(|&v| v as f32).collect(),
        )
        .unwrap()
    }

    fn index(&self, flat: usize) -> Vec<usize> {
        let mut rest = flat;
        let mut index = vec![0; self.shape.len()];
        for (axis, &d) in self.shape.iter().enumerate().rev() {
            index[axis] = rest % d;
            rest /= d;
        }
        index
    }

    fn flat(&self, index: &[usize]) -> usize {
        index
            .iter()
            .zip(&self.shape)
            .fold(0, |acc, (&i, &d)| acc * d + i)
    }

    /// The flat positions of each group of elements that agree outside `axes`.
    fn groups(&self, axes: &[usize]) -> Vec<Vec<usize>> {
        let mut groups: HashMap<Vec<usize>, Vec<usize>> = HashMap::new();
        let mut order = Vec::new();
        for i in 0..self.data.len() {
            let mut key = self.index(i);
            for &a in axes {
                key[a] = 0;
            }
            let entry = groups.entry(key.clone()).or_default();
            if entry.is_empty() {
                order.push(key);
            }
            entry.push(i);
        }
        order
            .into_iter()
            .map(|k| groups.remove(&k).unwrap())
            .collect()
    }

    /// `p`, a parameter over `axes`, at the element `flat` of this tensor.
    fn param_at(&self, p: &Plain, axes: &[usize], flat: usize) -> f64 {
        let index = self.index(flat);
        let at: Vec<usize> = axes.iter().map(|&a| index[a]).collect();
        p.data[p.flat(&at)]
    }
}

/// Values in [-span, span) from a seed (xorshift64*), reproducible from the shrunk case.
fn values(seed: u64, n: usize, span: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let u = (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            (u * 2.0 - 1.0) * span
        })
        .collect()
}

fn plain(shape: &[usize], seed: u64, span: f64) -> Plain {
    Plain {
        shape: shape.to_vec(),
        data: values(seed, shape.iter().product(), span),
    }
}

/// One node of `op` on inputs of these sample shapes, with these weights.
fn node(op: Op, inputs: &[&Plain], weights: &[&Plain]) -> Node {
    let samples: Vec<&[usize]> = inputs.iter().map(|p| &p.shape[1..]).collect();
    let shape = op
        .output_shape(&samples)
        .unwrap_or_else(|e| panic!("{op:?}: {e}"));
    Node {
        name: "n".into(),
        layer: "n".into(),
        class: "Problem".into(),
        op,
        inputs: (0..inputs.len()).map(NodeId).collect(),
        weights: weights
            .iter()
            .enumerate()
            .map(|(i, w)| Weight {
                name: format!("w{i}"),
                value: Arc::new(w.tensor()),
            })
            .collect(),
        shape,
    }
}

fn run(node: &Node, inputs: &[&Plain]) -> Tensor {
    let tensors: Vec<Tensor> = inputs.iter().map(|p| p.tensor()).collect();
    let refs: Vec<&Tensor> = tensors.iter().collect();
    eval_node(node, &refs)
}

/// Every element within `atol + rtol·|want|` (scaled by `scale[i]` where given).
fn assert_close(got: &Tensor, want: &[f64], scale: &dyn Fn(usize) -> f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: element count");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let bound = scale(i) * (2e-6 + 2e-5 * w.abs());
        assert!(
            (f64::from(g) - w).abs() <= bound,
            "{what}: element {i}: got {g}, want {w} (bound {bound:.2e})"
        );
    }
}

fn unit(_: usize) -> f64 {
    1.0
}

// ---------- activations ----------

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Keras's formula of each elementwise activation, in float64.
fn activation(act: &Activation, x: f64) -> f64 {
    let clip = |v: f64| v.clamp(0.0, 1.0);
    match *act {
        Activation::Linear => x,
        Activation::Relu {
            negative_slope,
            max_value,
            threshold,
            ..
        } => {
            let t = f64::from(threshold);
            let mut pos = if x > t { x } else { 0.0 };
            if let Some(m) = max_value {
                pos = pos.clamp(0.0, f64::from(m));
            }
            pos - f64::from(negative_slope) * (t - x).max(0.0)
        }
        Activation::Sigmoid => sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Elu { alpha } => {
            if x > 0.0 {
                x
            } else {
                f64::from(alpha) * x.exp_m1()
            }
        }
        Activation::Selu => {
            let (alpha, scale) = (1.673_263_242_354_377_3, 1.050_700_987_355_480_5);
            scale * if x > 0.0 { x } else { alpha * x.exp_m1() }
        }
        Activation::Softplus => softplus(x),
        Activation::Softsign => x / (1.0 + x.abs()),
        Activation::Silu => x * sigmoid(x),
        Activation::Gelu => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
        Activation::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x.powi(3))).tanh())
        }
        Activation::HardSigmoid { slope } => clip(f64::from(slope) * x + 0.5),
        Activation::HardSilu => x * clip(x / 6.0 + 0.5),
        Activation::Exponential => x.exp(),
        Activation::Mish => x * softplus(x).tanh(),
        Activation::Softmax | Activation::LogSoftmax => unreachable!("not elementwise"),
    }
}

/// The elementwise activations (softmax is checked as its own op).
fn elementwise_activations() -> Vec<Activation> {
    all_activations()
        .into_iter()
        .filter(Activation::is_elementwise)
        .collect()
}

/// A batch of 1..=3 samples of rank 1..=3, each dimension 1..=6.
fn shapes() -> impl Strategy<Value = Vec<usize>> {
    (1usize..=3, prop::collection::vec(1usize..=6, 1..=3))
        .prop_map(|(b, s)| std::iter::once(b).chain(s).collect())
}

/// A subset (non-empty) of the sample axes of a shape, as absolute axes.
fn axes_of(shape: &[usize], mask: u8) -> Vec<usize> {
    let axes: Vec<usize> = (1..shape.len()).filter(|a| mask & (1 << a) != 0).collect();
    if axes.is_empty() {
        vec![shape.len() - 1]
    } else {
        axes
    }
}

proptest! {
    #![proptest_config(Config { cases: 48, ..Config::default() })]

    #[test]
    fn elementwise_activations_follow_keras(shape in shapes(), seed: u64, which: prop::sample::Index) {
        let act = *which.get(&elementwise_activations());
        let x = plain(&shape, seed, 4.0);
        let got = run(&node(Op::Activation(act), &[&x], &[]), &[&x]);
        let want: Vec<f64> = x.data.iter().map(|&v| activation(&act, v)).collect();
        assert_close(&got, &want, &unit, &act.name());
    }

    #[test]
    fn dense_is_a_matrix_product_then_the_activation(
        rows in 1usize..=4, k in 1usize..=40, units in 1usize..=24,
        use_bias: bool, seed: u64, which: prop::sample::Index,
    ) {
        let act = *which.get(&elementwise_activations());
        let x = plain(&[rows, k], seed, 2.0);
        let kernel = plain(&[k, units], seed ^ 1, 1.0 / (k as f64).sqrt());
        let bias = plain(&[units], seed ^ 2, 0.5);
        let weights: Vec<&Plain> = if use_bias { vec![&kernel, &bias] } else { vec![&kernel] };
        let op = Op::Dense(Dense { units, use_bias, activation: act });
        let got = run(&node(op, &[&x], &weights), &[&x]);
        let mut want = Vec::new();
        let mut magnitude = Vec::new();
        for r in 0..rows {
            for j in 0..units {
                let terms = (0..k).map(|i| x.data[r * k + i] * kernel.data[i * units + j]);
                let (sum, abs) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + f64::abs(t)));
                let b = if use_bias { bias.data[j] } else { 0.0 };
                want.push(activation(&act, sum + b));
                magnitude.push(1.0 + abs + b.abs());
            }
        }
        // A K-long float32 sum: its rounding grows with the magnitude of its terms.
        assert_close(&got, &want, &|i| magnitude[i], &format!("dense+{}", act.name()));
    }

    #[test]
    fn softmax_over_any_axes(shape in shapes(), seed: u64, mask: u8, log: bool, logsumexp: bool) {
        let x = plain(&shape, seed, 5.0);
        let axes = axes_of(&shape, mask);
        let got = run(&node(Op::Softmax(Softmax { axes: axes.clone(), log, logsumexp }), &[&x], &[]), &[&x]);
        let mut want = vec![0.0; x.data.len()];
        for group in x.groups(&axes) {
            let max = group.iter().map(|&i| x.data[i]).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = group.iter().map(|&i| (x.data[i] - max).exp()).sum();
            for &i in &group {
                let shifted = x.data[i] - max;
                want[i] = if log { shifted - sum.ln() } else { shifted.exp() / sum };
            }
        }
        assert_close(&got, &want, &unit, "softmax");
    }

    #[test]
    fn merges_combine_elementwise(shape in shapes(), seed: u64, which in 0usize..6, three: bool) {
        let kinds = [
            MergeKind::Add, MergeKind::Subtract, MergeKind::Multiply,
            MergeKind::Average, MergeKind::Maximum, MergeKind::Minimum,
        ];
        let kind = kinds[which];
        // Subtract takes exactly two inputs.
        let count = if three && kind != MergeKind::Subtract { 3 } else { 2 };
        let inputs: Vec<Plain> = (0..count).map(|i| plain(&shape, seed ^ i as u64, 3.0)).collect();
        let refs: Vec<&Plain> = inputs.iter().collect();
        let got = run(&node(Op::Merge(kind), &refs, &[]), &refs);
        let want: Vec<f64> = (0..inputs[0].data.len())
            .map(|e| {
                let v: Vec<f64> = inputs.iter().map(|p| p.data[e]).collect();
                match kind {
                    MergeKind::Add => v.iter().sum(),
                    MergeKind::Subtract => v[0] - v[1],
                    MergeKind::Multiply => v.iter().product(),
                    MergeKind::Average => v.iter().sum::<f64>() / v.len() as f64,
                    MergeKind::Maximum => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    MergeKind::Minimum => v.iter().copied().fold(f64::INFINITY, f64::min),
                }
            })
            .collect();
        assert_close(&got, &want, &unit, &format!("{kind:?}"));
    }

    #[test]
    fn concatenate_places_each_input_along_its_axis(
        shape in shapes(), seed: u64, axis_pick: usize, extra in 1usize..=4,
    ) {
        let axis = 1 + axis_pick % (shape.len() - 1);
        let a = plain(&shape, seed, 1.0);
        let mut other = shape.clone();
        other[axis] = extra;
        let b = plain(&other, seed ^ 9, 1.0);
        let got = run(&node(Op::Concatenate(Concatenate { axis }), &[&a, &b], &[]), &[&a, &b]);
        let mut out_shape = shape.clone();
        out_shape[axis] += extra;
        let out = Plain { shape: out_shape, data: vec![0.0; got.len()] };
        let want: Vec<f64> = (0..got.len())
            .map(|i| {
                let mut index = out.index(i);
                if index[axis] < shape[axis] {
                    a.data[a.flat(&index)]
                } else {
                    index[axis] -= shape[axis];
                    b.data[b.flat(&index)]
                }
            })
            .collect();
        assert_close(&got, &want, &unit, "concatenate");
    }

    #[test]
    fn permute_moves_axes(shape in shapes(), seed: u64, rotate: usize) {
        let rank = shape.len() - 1;
        // Keras's dims: 1-based sample axes; here a rotation of them.
        let dims: Vec<usize> = (0..rank).map(|i| 1 + (i + rotate) % rank).collect();
        let x = plain(&shape, seed, 1.0);
        let got = run(&node(Op::Permute(Permute { dims: dims.clone() }), &[&x], &[]), &[&x]);
        let out_shape: Vec<usize> =
            std::iter::once(shape[0]).chain(dims.iter().map(|&d| shape[d])).collect();
        let out = Plain { shape: out_shape, data: vec![0.0; got.len()] };
        let want: Vec<f64> = (0..got.len())
            .map(|i| {
                let o = out.index(i);
                let mut index = vec![o[0]; shape.len()];
                for (k, &d) in dims.iter().enumerate() {
                    index[d] = o[k + 1];
                }
                x.data[x.flat(&index)]
            })
            .collect();
        assert_close(&got, &want, &unit, "permute");
    }

    #[test]
    fn pad_adds_zeros_and_crop_removes_rows(
        shape in shapes(), seed: u64, amounts in prop::collection::vec((0i64..3, 0i64..3), 4), crop: bool,
    ) {
        // Padding by (b, a) per sample axis; a crop removes what fits, leaving at least one row.
        let rank = shape.len() - 1;
        let (mut before, mut after) = (vec![0; rank], vec![0; rank]);
        for k in 0..rank {
            let (b, a) = amounts[k];
            if crop {
                let n = shape[k + 1] as i64;
                before[k] = -b.min(n - 1);
                after[k] = -a.min(n - 1 + before[k]);
            } else {
                before[k] = b;
                after[k] = a;
            }
        }
        let x = plain(&shape, seed, 1.0);
        let op = Op::Pad(Pad { before: before.clone(), after: after.clone() });
        let got = run(&node(op, &[&x], &[]), &[&x]);
        let out_shape: Vec<usize> = std::iter::once(shape[0])
            .chain((0..rank).map(|k| (shape[k + 1] as i64 + before[k] + after[k]) as usize))
            .collect();
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        let out = Plain { shape: out_shape, data: vec![0.0; got.len()] };
        let want: Vec<f64> = (0..got.len())
            .map(|i| {
                let o = out.index(i);
                let mut index = vec![o[0]];
                for k in 0..rank {
                    let at = o[k + 1] as i64 - before[k];
                    if at < 0 || at >= shape[k + 1] as i64 {
                        return 0.0;
                    }
                    index.push(at as usize);
                }
                x.data[x.flat(&index)]
            })
            .collect();
        assert_close(&got, &want, &unit, "pad");
    }

    #[test]
    fn batch_norm_uses_the_moving_statistics(
        shape in shapes(), seed: u64, mask: u8, center: bool, scale: bool,
    ) {
        let axes = axes_of(&shape, mask);
        let x = plain(&shape, seed, 3.0);
        let p: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
        let gamma = plain(&p, seed ^ 1, 2.0);
        let beta = plain(&p, seed ^ 2, 1.0);
        let mean = plain(&p, seed ^ 3, 1.0);
        let mut var = plain(&p, seed ^ 4, 1.0);
        var.data.iter_mut().for_each(|v| *v = v.abs() + 0.1);
        let mut weights = Vec::new();
        if scale { weights.push(&gamma); }
        if center { weights.push(&beta); }
        weights.extend([&mean, &var]);
        let epsilon = 1e-3;
        let op = Op::BatchNorm(BatchNorm { axes: axes.clone(), epsilon, center, scale });
        let got = run(&node(op, &[&x], &weights), &[&x]);
        let want: Vec<f64> = (0..x.data.len())
            .map(|i| {
                let at = |w: &Plain| x.param_at(w, &axes, i);
                let g = if scale { at(&gamma) } else { 1.0 };
                let b = if center { at(&beta) } else { 0.0 };
                (x.data[i] - at(&mean)) / (at(&var) + f64::from(epsilon)).sqrt() * g + b
            })
            .collect();
        assert_close(&got, &want, &|_| 10.0, "batch_norm");
    }

    #[test]
    fn layer_norm_normalises_each_group(
        shape in shapes(), seed: u64, mask: u8, center: bool, scale: bool, rms_scaling: bool,
    ) {
        let axes = axes_of(&shape, mask);
        let x = plain(&shape, seed, 3.0);
        let p: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
        let gamma = plain(&p, seed ^ 1, 2.0);
        let beta = plain(&p, seed ^ 2, 1.0);
        let mut weights = Vec::new();
        if scale || rms_scaling { weights.push(&gamma); }
        if center && !rms_scaling { weights.push(&beta); }
        let epsilon = 1e-3;
        let op = Op::LayerNorm(LayerNorm { axes: axes.clone(), epsilon, center, scale, rms_scaling });
        let got = run(&node(op, &[&x], &weights), &[&x]);
        let mut want = vec![0.0; x.data.len()];
        for group in x.groups(&axes) {
            let n = group.len() as f64;
            let mean = group.iter().map(|&i| x.data[i]).sum::<f64>() / n;
            let var = group.iter().map(|&i| (x.data[i] - mean).powi(2)).sum::<f64>() / n;
            let inv = 1.0 / (var + f64::from(epsilon)).sqrt();
            for &i in &group {
                let g = x.param_at(&gamma, &axes, i);
                want[i] = if rms_scaling {
                    // Keras 3 scales the uncentred input by the inverse standard deviation.
                    x.data[i] * inv * g
                } else {
                    let y = (x.data[i] - mean) * inv * if scale { g } else { 1.0 };
                    y + if center { x.param_at(&beta, &axes, i) } else { 0.0 }
                };
            }
        }
        assert_close(&got, &want, &|_| 10.0, "layer_norm");
    }

    #[test]
    fn l2_normalize_divides_by_the_norm(shape in shapes(), seed: u64, mask: u8, tiny: bool) {
        let axes = axes_of(&shape, mask);
        // Tiny inputs put the sum of squares below the floor.
        let x = plain(&shape, seed, if tiny { 1e-8 } else { 3.0 });
        let floor = 1e-12;
        let op = Op::L2Normalize(L2Normalize { axes: axes.clone(), floor });
        let got = run(&node(op, &[&x], &[]), &[&x]);
        let mut want = vec![0.0; x.data.len()];
        for group in x.groups(&axes) {
            let sum: f64 = group.iter().map(|&i| x.data[i] * x.data[i]).sum();
            let norm = sum.max(f64::from(floor)).sqrt();
            for &i in &group {
                want[i] = x.data[i] / norm;
            }
        }
        assert_close(&got, &want, &unit, "l2_normalize");
    }
}

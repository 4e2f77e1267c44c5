//! Activations, elementwise and softmax over any axes.

use super::plain::*;
use crate::common::activations::all_activations;
use keqv::graph::{Activation, Op};
use keqv::ops::Softmax;
use proptest::prelude::*;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Keras's formula of each elementwise activation, in float64.
pub fn activation(act: &Activation, x: f64) -> f64 {
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
pub fn elementwise_activations() -> Vec<Activation> {
    all_activations()
        .into_iter()
        .filter(Activation::is_elementwise)
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn elementwise_activations_follow_keras(shape in shapes(), seed: u64, which: prop::sample::Index) {
        let act = *which.get(&elementwise_activations());
        let x = plain(&shape, seed, 4.0);
        let got = run(&node(Op::Activation(act), &[&x], &[]), &[&x]);
        let want: Vec<f64> = x.data.iter().map(|&v| activation(&act, v)).collect();
        assert_close(&got, &want, &unit, &act.name());
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

}

/// float32 exp, sigmoid and tanh over slices (vectorised) against float64: within 4 ulp (and
/// 2^-126 absolutely, where float32 results are no longer normal numbers), inf beyond float32,
/// NaN for NaN, and the limits at ±inf.
mod lanes {
    use super::sigmoid;
    use keqv::ops::activation::lanes::{exp_slice, sigmoid_slice, tanh_slice};
    use proptest::prelude::*;

    type Lane = (fn(&mut [f32]), fn(f64) -> f64, &'static str);
    const LANES: [Lane; 3] = [
        (exp_slice, f64::exp, "exp"),
        (sigmoid_slice, sigmoid, "sigmoid"),
        (tanh_slice, f64::tanh, "tanh"),
    ];

    fn check(values: &[f32]) {
        for (f, exact, name) in LANES {
            let mut got = values.to_vec();
            f(&mut got);
            for (&x, &g) in values.iter().zip(&got) {
                let want = exact(f64::from(x));
                if want.is_nan() {
                    assert!(g.is_nan(), "{name}({x}) = {g}, want NaN");
                    continue;
                }
                if want > f64::from(f32::MAX) {
                    assert_eq!(g, f32::INFINITY, "{name}({x})");
                    continue;
                }
                let bound = 4.0 * f64::from(f32::EPSILON) * want.abs() + 1.2e-38;
                assert!(
                    (f64::from(g) - want).abs() <= bound,
                    "{name}({x}) = {g}, want {want}"
                );
            }
        }
    }

    #[test]
    fn special_values_and_branch_edges() {
        let mut v = vec![
            0.0, -0.0, 1e-30, -1e-30, 1e-4, 0.2499, 0.25, 0.2501, -0.25, 1.0, -1.0, 9.0, -9.0,
            20.0, -20.0, 87.0, -87.0, 88.0, -88.0, 89.0, -89.0, 100.0, -100.0, 1e30, -1e30,
        ];
        v.extend([
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
        ]);
        // Lengths around the vector widths, so that the tails run too.
        for len in [1, 7, 15, 16, 17, v.len()] {
            check(&v[..len.min(v.len())]);
        }
    }

    proptest! {
        #[test]
        fn within_four_ulp_of_float64(values in prop::collection::vec(-100.0f32..100.0, 1..80)) {
            check(&values);
        }

        #[test]
        fn within_four_ulp_near_zero(values in prop::collection::vec(-1.0f32..1.0, 1..80)) {
            check(&values);
        }
    }
}

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

//! Dense: a matrix product over the last axis, plus bias, then the activation.

use super::activation::{activation, elementwise_activations};
use super::plain::*;
use keqv::graph::Op;
use keqv::ops::Dense;
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

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

}

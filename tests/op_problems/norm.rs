//! BatchNormalization, LayerNormalization (and RMS), UnitNormalization.

use super::plain::*;
use keqv::graph::Op;
use keqv::ops::{BatchNorm, L2Normalize, LayerNorm};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

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

//! BatchNormalization, LayerNormalization (and RMS), RMSNormalization, GroupNormalization,
//! UnitNormalization.

use super::plain::*;
use keqv::graph::Op;
use keqv::ops::{BatchNorm, GroupNorm, L2Normalize, LayerNorm, Mean, RmsNorm};
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

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rms_norm_divides_by_the_root_mean_square(shape in shapes(), seed: u64, mask: u8) {
        let axes = axes_of(&shape, mask);
        let x = plain(&shape, seed, 3.0);
        let p: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
        let scale = plain(&p, seed ^ 1, 2.0);
        let epsilon = 1e-6;
        let got = run(&node(Op::RmsNorm(RmsNorm { axes: axes.clone(), epsilon }), &[&x], &[&scale]), &[&x]);
        let mut want = vec![0.0; x.data.len()];
        for group in x.groups(&axes) {
            let ms = group.iter().map(|&i| x.data[i].powi(2)).sum::<f64>() / group.len() as f64;
            for &i in &group {
                want[i] = x.data[i] / (ms + f64::from(epsilon)).sqrt() * x.param_at(&scale, &axes, i);
            }
        }
        assert_close(&got, &want, &|_| 10.0, "rms_norm");
    }

    #[test]
    fn group_norm_normalises_each_run_of_channels(
        batch in 1usize..=2, spatial in prop::collection::vec(1usize..=4, 0..=2),
        groups in 1usize..=3, per_group in 1usize..=3, first: bool, seed: u64,
        center: bool, scale: bool,
    ) {
        let channels = groups * per_group;
        let shape: Vec<usize> = if first {
            [batch, channels].into_iter().chain(spatial.iter().copied()).collect()
        } else {
            std::iter::once(batch).chain(spatial.iter().copied()).chain([channels]).collect()
        };
        let axis = if first { 1 } else { shape.len() - 1 };
        let x = plain(&shape, seed, 3.0);
        let gamma = plain(&[channels], seed ^ 1, 2.0);
        let beta = plain(&[channels], seed ^ 2, 1.0);
        let mut weights = Vec::new();
        if scale { weights.push(&gamma); }
        if center { weights.push(&beta); }
        let epsilon = 1e-3;
        let op = Op::GroupNorm(GroupNorm { axis, groups, epsilon, center, scale });
        let got = run(&node(op, &[&x], &weights), &[&x]);
        // Group (sample, g) holds the elements whose channel is in g's run.
        let mut members: std::collections::BTreeMap<(usize, usize), Vec<usize>> = Default::default();
        for i in 0..x.data.len() {
            let index = x.index(i);
            members.entry((index[0], index[axis] / per_group)).or_default().push(i);
        }
        let mut want = vec![0.0; x.data.len()];
        for group in members.values() {
            let n = group.len() as f64;
            let mean = group.iter().map(|&i| x.data[i]).sum::<f64>() / n;
            let var = group.iter().map(|&i| (x.data[i] - mean).powi(2)).sum::<f64>() / n;
            for &i in group {
                let c = x.index(i)[axis];
                let g = if scale { gamma.data[c] } else { 1.0 };
                let b = if center { beta.data[c] } else { 0.0 };
                want[i] = (x.data[i] - mean) / (var + f64::from(epsilon)).sqrt() * g + b;
            }
        }
        assert_close(&got, &want, &|_| 10.0, "group_norm");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mean_averages_each_group(shape in shapes(), seed: u64, mask: u8, keepdims: bool) {
        let axes = axes_of(&shape, mask);
        let x = plain(&shape, seed, 3.0);
        let op = Op::Mean(Mean { axes: axes.clone(), keepdims });
        let got = run(&node(op, &[&x], &[]), &[&x]);
        let kept: Vec<usize> = (0..shape.len())
            .filter_map(|a| match (axes.contains(&a), keepdims) {
                (false, _) => Some(shape[a]),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        prop_assert_eq!(got.shape(), kept.as_slice());
        // Groups come in the order of the kept coordinates, the output's row-major order.
        let want: Vec<f64> = x.groups(&axes).iter()
            .map(|g| g.iter().map(|&i| x.data[i]).sum::<f64>() / g.len() as f64)
            .collect();
        assert_close(&got, &want, &unit, "mean");
    }
}

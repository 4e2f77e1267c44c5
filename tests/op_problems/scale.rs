//! Rescaling, Normalization (from the config or from weights, inverted or not), LayerScale.

use super::plain::*;
use keqv::graph::Op;
use keqv::ops::{Scale, ScaleKind};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn scale_is_keras_formula_per_feature(
        shape in shapes(), seed: u64, which in 0usize..4, per_feature: bool, invert: bool,
    ) {
        let last = shape.len() - 1;
        let features = if per_feature { shape[last] } else { 1 };
        let axes = if per_feature { vec![last] } else { Vec::new() };
        let a = plain(&[features], seed ^ 1, 2.0);
        let mut b = plain(&[features], seed ^ 2, 2.0);
        let f32s = |p: &Plain| p.data.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let x = plain(&shape, seed, 3.0);
        // which: 0 Rescaling, 1 Normalization from the config, 2 from weights, 3 LayerScale.
        if which == 1 || which == 2 {
            b.data.iter_mut().enumerate().for_each(|(i, v)| *v = if i == 0 { 0.0 } else { v.abs() });
        }
        let (kind, weights): (ScaleKind, Vec<Plain>) = match which {
            0 => (ScaleKind::Rescale { scale: f32s(&a), offset: f32s(&b) }, vec![]),
            1 => (ScaleKind::Normalize { stats: Some((f32s(&a), f32s(&b))), invert }, vec![]),
            2 => (ScaleKind::Normalize { stats: None, invert },
                  vec![a.clone(), b.clone(), Plain { shape: vec![], data: vec![7.0] }]),
            _ => (ScaleKind::LayerScale, vec![a.clone()]),
        };
        let axes = if which == 3 { vec![last] } else { axes };
        let a = if which == 3 { plain(&[shape[last]], seed ^ 1, 2.0) } else { a };
        let weights = if which == 3 { vec![a.clone()] } else { weights };
        let refs: Vec<&Plain> = weights.iter().collect();
        let got = run(&node(Op::Scale(Scale { kind, axes: axes.clone() }), &[&x], &refs), &[&x]);
        let at = |p: &Plain, i: usize| if p.data.len() == 1 { p.data[0] } else { x.param_at(p, &[last], i) };
        let want: Vec<f64> = (0..x.data.len()).map(|i| {
            let v = x.data[i];
            match which {
                0 => v * at(&a, i) + at(&b, i),
                1 | 2 => {
                    // Keras: the standard deviation floored at 1e-7 (a zero variance divides by it).
                    let std = at(&b, i).sqrt().max(1e-7);
                    if invert { at(&a, i) + v * std } else { (v - at(&a, i)) / std }
                }
                _ => v * at(&a, i),
            }
        }).collect();
        assert_close(&got, &want, &|i| 1.0 + want[i].abs().min(1e7), "scale");
    }
}

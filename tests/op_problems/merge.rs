//! Merges with broadcasting, and Concatenate.

use super::plain::*;
use keqv::graph::{MergeKind, Op};
use keqv::ops::Concatenate;
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn merges_combine_elementwise(
        shape in shapes(), seed: u64, which in 0usize..7, three: bool, scale in -2.0f32..2.0,
    ) {
        let kinds = [
            MergeKind::Add, MergeKind::Subtract, MergeKind::Multiply,
            MergeKind::Average, MergeKind::Maximum, MergeKind::Minimum,
            MergeKind::ScaledAdd { scale },
        ];
        let kind = kinds[which];
        // Subtract and the scaled add take exactly two inputs.
        let binary = matches!(kind, MergeKind::Subtract | MergeKind::ScaledAdd { .. });
        let count = if three && !binary { 3 } else { 2 };
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
                    MergeKind::ScaledAdd { scale } => v[0] + v[1] * f64::from(scale),
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

}

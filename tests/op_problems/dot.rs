//! Dot: the per-sample dot product along one axis of each input, plain and normalized.

use super::plain::*;
use keqv::graph::Op;
use keqv::ops::Dot;
use proptest::prelude::*;

/// Two inputs of one batch meeting at a shared depth: x's sample is `xs` with the depth at
/// `ax` (1-based), y's `ys` with it at `ay`.
fn pair_shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, usize, usize)> {
    let sample = prop::collection::vec(1usize..=5, 0..=2);
    (
        1usize..=3,
        1usize..=7,
        sample.clone(),
        sample,
        0usize..3,
        0usize..3,
    )
        .prop_map(|(batch, depth, xs, ys, px, py)| {
            let (ax, ay) = (px % (xs.len() + 1), py % (ys.len() + 1));
            let with_depth = |s: &[usize], at: usize| -> Vec<usize> {
                let mut full = vec![batch];
                full.extend(&s[..at]);
                full.push(depth);
                full.extend(&s[at..]);
                full
            };
            (with_depth(&xs, ax), with_depth(&ys, ay), ax + 1, ay + 1)
        })
}

/// The input's values along its dot axis at `index` (its other axes' indices, batch first).
fn fibre(p: &Plain, axis: usize, rest: &[usize]) -> Vec<f64> {
    (0..p.shape[axis])
        .map(|k| {
            let mut index = rest.to_vec();
            index.insert(axis, k);
            p.data[p.flat(&index)]
        })
        .collect()
}

/// Every index of a shape, row-major.
fn indices(shape: &[usize]) -> Vec<Vec<usize>> {
    let p = Plain {
        shape: shape.to_vec(),
        data: vec![0.0; shape.iter().product()],
    };
    (0..p.data.len()).map(|i| p.index(i)).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn dot_sums_the_products_along_each_inputs_axis(
        (xs, ys, ax, ay) in pair_shapes(), seed: u64, normalize: bool, negative: bool,
        zero_row: bool,
    ) {
        let x = plain(&xs, seed, 2.0);
        let mut y = plain(&ys, seed ^ 5, 2.0);
        if zero_row {
            // A zero norm: normalize divides by sqrt(floor).
            let depth = ys[ay];
            for v in y.data.iter_mut().take(depth) {
                *v = 0.0;
            }
        }
        // Keras's axes count from the end when negative, against each input's own rank.
        let axes = if negative {
            [ax as i64 - xs.len() as i64, ay as i64 - ys.len() as i64]
        } else {
            [ax as i64, ay as i64]
        };
        let floor = 1e-12f32;
        let op = Op::Dot(Dot { axes, normalize: normalize.then_some(floor) });
        let got = run(&node(op, &[&x, &y], &[]), &[&x, &y]);
        let norm = |v: &[f64]| -> f64 {
            if normalize {
                v.iter().map(|a| a * a).sum::<f64>().max(f64::from(floor)).sqrt()
            } else {
                1.0
            }
        };
        let mut x_rest = xs.clone();
        x_rest.remove(ax);
        let mut y_rest: Vec<usize> = ys[1..].to_vec();
        y_rest.remove(ay - 1);
        let mut want = Vec::new();
        for xi in indices(&x_rest) {
            for yi in indices(&y_rest) {
                let a = fibre(&x, ax, &xi);
                let mut y_index = vec![xi[0]];
                y_index.extend(&yi);
                let b = fibre(&y, ay, &y_index);
                let (na, nb) = (norm(&a), norm(&b));
                want.push(a.iter().zip(&b).map(|(p, q)| (p / na) * (q / nb)).sum::<f64>());
            }
        }
        let depth = xs[ax] as f64;
        // Cancellation: the bound scales with the terms' size, not the sum's.
        let scale = move |_: usize| 4.0 * depth;
        assert_close(&got, &want, &scale, &format!("dot {axes:?} normalize {normalize}"));
    }
}

#[test]
fn shapes_follow_keras_batch_dot() {
    let shape = |axes: [i64; 2], x: &[usize], y: &[usize]| {
        Dot {
            axes,
            normalize: None,
        }
        .output_shape(&[x, y])
    };
    assert_eq!(shape([1, 1], &[4], &[4]).unwrap(), vec![1]);
    assert_eq!(shape([2, 2], &[3, 4], &[5, 4]).unwrap(), vec![3, 5]);
    assert_eq!(shape([1, 1], &[3, 4], &[3, 6]).unwrap(), vec![4, 6]);
    assert_eq!(shape([-1, 2], &[3, 4], &[5, 4]).unwrap(), vec![3, 5]);
    let err = shape([1, 1], &[3, 4], &[5, 4]).unwrap_err();
    assert!(err.contains("must agree"), "{err}");
    let err = shape([0, 0], &[4], &[4]).unwrap_err();
    assert!(err.contains("not a feature axis"), "{err}");
}

//! Max and average pooling with `valid` and `same` padding, and global pooling.

use super::plain::*;
use proptest::prelude::*;

use keqv::graph::Op;
use keqv::ops::{Pool, PoolKind};

/// Per sample axis, the output size and the padding before, from Keras's formulas.
fn geometry(n: usize, w: usize, s: usize, same: bool) -> (usize, usize) {
    if same {
        let out = n.div_ceil(s);
        (out, ((out - 1) * s + w).saturating_sub(n) / 2)
    } else {
        ((n - w) / s + 1, 0)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pooling_takes_the_max_or_mean_of_each_window(
        shape in shapes(), seed: u64, sizes in prop::collection::vec((1usize..4, 1usize..4), 3),
        max: bool, same: bool, global: bool,
    ) {
        let rank = shape.len() - 1;
        let (mut window, mut strides) = (vec![1; rank], vec![1; rank]);
        for a in 0..rank {
            let (w, s) = sizes[a];
            window[a] = if global { shape[a + 1] } else { w.min(shape[a + 1]) };
            strides[a] = if global { 1 } else { s };
        }
        let kind = if max { PoolKind::Max } else { PoolKind::Average };
        let same = same && !global;
        let pool = Pool { kind, window: window.clone(), strides: strides.clone(), same, keep_only: None };
        let x = plain(&shape, seed, 2.0);
        let got = run(&node(Op::Pool(pool), &[&x], &[]), &[&x]);
        let geo: Vec<(usize, usize)> =
            (0..rank).map(|a| geometry(shape[a + 1], window[a], strides[a], same)).collect();
        let out_shape: Vec<usize> =
            std::iter::once(shape[0]).chain(geo.iter().map(|g| g.0)).collect();
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        let out = Plain { shape: out_shape, data: vec![0.0; got.len()] };
        let want: Vec<f64> = (0..got.len())
            .map(|i| {
                let o = out.index(i);
                let mut cells = Vec::new();
                let mut k = vec![0; rank];
                loop {
                    let at: Vec<isize> = (0..rank)
                        .map(|a| (o[a + 1] * strides[a] + k[a]) as isize - geo[a].1 as isize)
                        .collect();
                    if at.iter().zip(&shape[1..]).all(|(&t, &n)| t >= 0 && t < n as isize) {
                        let index: Vec<usize> =
                            std::iter::once(o[0]).chain(at.iter().map(|&t| t as usize)).collect();
                        cells.push(x.data[x.flat(&index)]);
                    }
                    // Next window offset, last axis fastest.
                    let mut a = rank;
                    loop {
                        if a == 0 {
                            break;
                        }
                        a -= 1;
                        k[a] += 1;
                        if k[a] < window[a] {
                            break;
                        }
                        k[a] = 0;
                    }
                    if k.iter().all(|&v| v == 0) {
                        break;
                    }
                }
                if max {
                    cells.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                } else {
                    cells.iter().sum::<f64>() / cells.len() as f64
                }
            })
            .collect();
        assert_close(&got, &want, &unit, "pool");
    }
}

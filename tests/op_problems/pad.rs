//! Zero padding and cropping.

use super::plain::*;
use keqv::graph::Op;
use keqv::ops::Pad;
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

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

}

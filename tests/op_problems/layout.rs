//! Permute (and Flatten of channels-first tensors), RepeatVector.

use super::plain::*;
use keqv::graph::Op;
use keqv::ops::{Permute, Repeat};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn permute_moves_axes(shape in shapes(), seed: u64, rotate: usize, flatten: bool) {
        let rank = shape.len() - 1;
        // Keras's dims: 1-based sample axes; here a rotation of them.
        let dims: Vec<usize> = (0..rank).map(|i| 1 + (i + rotate) % rank).collect();
        let x = plain(&shape, seed, 1.0);
        let op = Op::Permute(Permute { dims: dims.clone(), flatten });
        let got = run(&node(op, &[&x], &[]), &[&x]);
        let out_shape: Vec<usize> =
            std::iter::once(shape[0]).chain(dims.iter().map(|&d| shape[d])).collect();
        let flat = [shape[0], shape[1..].iter().product()];
        prop_assert_eq!(got.shape(), if flatten { &flat[..] } else { &out_shape[..] });
        let out = Plain { shape: out_shape, data: vec![0.0; got.len()] };
        let want: Vec<f64> = (0..got.len())
            .map(|i| {
                let o = out.index(i);
                let mut index = vec![o[0]; shape.len()];
                for (k, &d) in dims.iter().enumerate() {
                    index[d] = o[k + 1];
                }
                x.data[x.flat(&index)]
            })
            .collect();
        assert_close(&got, &want, &unit, "permute");
    }

    #[test]
    fn repeat_vector_repeats_each_sample(batch in 1usize..=3, features in 1usize..=5,
                                         times in 1usize..=4, seed: u64) {
        let x = plain(&[batch, features], seed, 1.0);
        let got = run(&node(Op::Repeat(Repeat { times }), &[&x], &[]), &[&x]);
        prop_assert_eq!(got.shape(), &[batch, times, features][..]);
        let want: Vec<f64> = (0..batch * times * features)
            .map(|i| x.data[(i / (times * features)) * features + i % features])
            .collect();
        assert_close(&got, &want, &unit, "repeat");
    }

}

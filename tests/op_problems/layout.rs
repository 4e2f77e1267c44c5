//! Permute.

use super::plain::*;
use keqv::graph::Op;
use keqv::ops::Permute;
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn permute_moves_axes(shape in shapes(), seed: u64, rotate: usize) {
        let rank = shape.len() - 1;
        // Keras's dims: 1-based sample axes; here a rotation of them.
        let dims: Vec<usize> = (0..rank).map(|i| 1 + (i + rotate) % rank).collect();
        let x = plain(&shape, seed, 1.0);
        let got = run(&node(Op::Permute(Permute { dims: dims.clone() }), &[&x], &[]), &[&x]);
        let out_shape: Vec<usize> =
            std::iter::once(shape[0]).chain(dims.iter().map(|&d| shape[d])).collect();
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

}

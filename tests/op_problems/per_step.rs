//! TimeDistributed's `PerStep`: the wrapped op applied to every step equals the op run on each
//! step's slice `x[:, t]` separately, stacked along the steps axis (a max pooling and a
//! normalization over the last axis, one input; an attention core, three inputs).

use super::plain::*;
use proptest::prelude::*;

use keqv::graph::Op;
use keqv::ops::attention::{MaskFill, MaskInputs, QueryMask, Score};
use keqv::ops::{Attention, L2Normalize, PerStep, Pool, PoolKind};

/// `x[:, t]`: the samples' step `t`.
fn step(x: &Plain, t: usize) -> Plain {
    let shape: Vec<usize> = std::iter::once(x.shape[0])
        .chain(x.shape[2..].iter().copied())
        .collect();
    let per: usize = x.shape[2..].iter().product();
    let data = (0..x.shape[0])
        .flat_map(|b| {
            let at = (b * x.shape[1] + t) * per;
            x.data[at..at + per].to_vec()
        })
        .collect();
    Plain { shape, data }
}

/// The op on each step separately, stacked back along axis 1, as a flat row-major vector.
fn stacked(op: &Op, inputs: &[&Plain], steps: usize) -> Vec<f64> {
    let per_step: Vec<Vec<f64>> = (0..steps)
        .map(|t| {
            let slices: Vec<Plain> = inputs.iter().map(|x| step(x, t)).collect();
            let refs: Vec<&Plain> = slices.iter().collect();
            let y = run(&node(op.clone(), &refs, &[]), &refs);
            y.iter().map(|&v| f64::from(v)).collect()
        })
        .collect();
    let batch = inputs[0].shape[0];
    let per = per_step[0].len() / batch;
    let mut out = Vec::new();
    for b in 0..batch {
        for y in &per_step {
            out.extend_from_slice(&y[b * per..(b + 1) * per]);
        }
    }
    out
}

fn check(op: Op, inputs: &[&Plain]) {
    let steps = inputs[0].shape[1];
    let wrapped = Op::PerStep(Box::new(PerStep {
        op: op.clone(),
        steps,
    }));
    let got = run(&node(wrapped, inputs, &[]), inputs);
    let want = stacked(&op, inputs, steps);
    assert_close(&got, &want, &unit, "per step");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn each_step_runs_as_its_own_sample(
        batch in 1usize..=3, steps in 1usize..=4, h in 1usize..=5, w in 1usize..=5,
        c in 1usize..=3, seed: u64,
    ) {
        let x = plain(&[batch, steps, h, w, c], seed, 2.0);
        let pool = Pool {
            kind: PoolKind::Max,
            window: vec![2.min(h), 2.min(w), 1],
            strides: vec![2, 1, 1],
            same: true,
            keep_only: None,
        };
        check(Op::Pool(pool), &[&x]);
        check(Op::L2Normalize(L2Normalize { axes: vec![3], floor: 1e-12 }), &[&x]);
    }

    #[test]
    fn every_input_is_split_into_its_steps(
        batch in 1usize..=2, steps in 1usize..=3, tq in 1usize..=4, tk in 1usize..=4,
        d in 1usize..=4, seed: u64,
    ) {
        let q = plain(&[batch, steps, tq, 2 * d], seed, 1.0);
        let v = plain(&[batch, steps, tk, 2 * d], seed ^ 1, 1.0);
        let k = plain(&[batch, steps, tk, 2 * d], seed ^ 2, 1.0);
        let attention = Attention {
            heads: 2,
            own_key: true,
            score: Score::Dot { scaled: false },
            scale: None,
            causal: false,
            fill: MaskFill::Replace(-1e9),
            zero_masked: false,
            query_mask: QueryMask::Scores,
            masks: MaskInputs::default(),
            emit_scores: false,
        };
        check(Op::Attention(attention), &[&q, &v, &k]);
    }
}

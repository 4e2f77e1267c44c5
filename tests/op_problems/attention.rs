//! Attention: dot (scaled or not, MultiHeadAttention's constant on the query or the scores, one
//! or several heads), concat and additive scores, a key of its own or the value as the key,
//! causality, query, key and attention masks, both mask fills and every way a query mask
//! applies.

use super::plain::*;
use keqv::graph::Op;
use keqv::ops::attention::{ConstantScale, MaskFill, MaskInputs, QueryMask, Score};
use keqv::ops::Attention;
use proptest::prelude::*;

/// A 0/1 mask, mostly 1.
fn mask(shape: &[usize], seed: u64) -> Plain {
    let mut p = plain(shape, seed, 1.0);
    p.data.iter_mut().for_each(|v| *v = f64::from(*v > -0.6));
    p
}

#[derive(Debug, Clone)]
struct Problem {
    batch: usize,
    tq: usize,
    tk: usize,
    dk: usize,
    dv: usize,
    op: Attention,
}

fn problems() -> impl Strategy<Value = Problem> {
    (
        (
            1usize..=3,
            1usize..=5,
            1usize..=6,
            1usize..=3,
            1usize..=4,
            1usize..=4,
        ),
        (
            0usize..6,
            any::<bool>(),
            0usize..3,
            any::<bool>(),
            any::<bool>(),
        ),
        (
            any::<bool>(),
            0usize..3,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (batch, tq, tk, heads, dk, dv),
                (score, own_key, constant, causal, replace),
                (query_mask, query_mode, keys_mask, attention_mask, scaled),
                (zero_masked, emit_scores),
            )| {
                let score = match score {
                    0..=2 => Score::Dot { scaled },
                    3 => Score::Concat { scaled },
                    _ => Score::Additive { scaled },
                };
                let dot = matches!(score, Score::Dot { .. });
                // Several heads and constant scales are MultiHeadAttention's: dot scores;
                // concat and additive scores, and a value that is the key, need the value's
                // width to be the query's.
                let heads = if dot { heads } else { 1 };
                let dv = if dot && own_key { dv } else { dk };
                let op = Attention {
                    heads,
                    own_key,
                    score,
                    scale: (dot && constant > 0).then_some(ConstantScale {
                        value: 1.0 / (dk as f32).sqrt(),
                        on_query: constant == 2,
                    }),
                    causal,
                    fill: if replace {
                        MaskFill::Replace(-0.7 * f32::MAX)
                    } else {
                        MaskFill::Add(-1e9)
                    },
                    zero_masked,
                    emit_scores,
                    query_mask: [
                        QueryMask::Scores,
                        QueryMask::ZeroOutput,
                        QueryMask::MultiplyOutput,
                    ][query_mode],
                    masks: MaskInputs {
                        query: query_mask,
                        keys: keys_mask,
                        attention: attention_mask,
                    },
                };
                Problem {
                    batch,
                    tq,
                    tk,
                    dk: dk * heads,
                    dv: dv * heads,
                    op,
                }
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn attention_averages_the_values_by_the_masked_softmax_of_the_scores(
        p in problems(), seed: u64,
    ) {
        let a = &p.op;
        let query = plain(&[p.batch, p.tq, p.dk], seed, 1.0);
        let value = plain(&[p.batch, p.tk, p.dv], seed ^ 1, 1.0);
        let key = plain(&[p.batch, p.tk, p.dk], seed ^ 2, 1.0);
        let qm = mask(&[p.batch, p.tq], seed ^ 3);
        let km = mask(&[p.batch, p.tk], seed ^ 4);
        let am = mask(&[p.batch, p.tq, p.tk], seed ^ 5);
        let weight_shape = match a.score {
            Score::Additive { .. } => vec![p.dk],
            _ => vec![],
        };
        let scale = plain(&weight_shape, seed ^ 6, 1.0);
        let concat_weight = plain(&[], seed ^ 7, 1.0);
        let mut weights = Vec::new();
        match a.score {
            Score::Dot { scaled: true } | Score::Additive { scaled: true } => weights.push(&scale),
            Score::Concat { scaled } => {
                if scaled {
                    weights.push(&scale);
                }
                weights.push(&concat_weight);
            }
            _ => {}
        }
        let mut inputs = vec![&query, &value];
        if a.own_key {
            inputs.push(&key);
        }
        for (present, m) in [(a.masks.query, &qm), (a.masks.keys, &km), (a.masks.attention, &am)] {
            if present {
                inputs.push(m);
            }
        }
        let got = run(&node(Op::Attention(a.clone()), &inputs, &weights), &inputs);
        let k = if a.own_key { &key } else { &value };
        let want = reference(&p, &query, k, &value, [&qm, &km, &am], &scale, concat_weight.data[0]);
        assert_close(&got, &want, &unit, &format!("{p:?}"));
    }
}

/// Keras's formulas in float64, the masked scores filled as float32 would round them.
fn reference(
    p: &Problem,
    q: &Plain,
    k: &Plain,
    v: &Plain,
    [qm, km, am]: [&Plain; 3],
    scale: &Plain,
    concat_weight: f64,
) -> Vec<f64> {
    let a = &p.op;
    let (heads, dkh, dvh) = (a.heads, p.dk / a.heads, p.dv / a.heads);
    let mut out = vec![0.0; p.batch * p.tq * p.dv];
    let mut weights = vec![0.0; p.batch * heads * p.tq * p.tk];
    for b in 0..p.batch {
        for h in 0..heads {
            for t in 0..p.tq {
                let qv = |d: usize| q.data[(b * p.tq + t) * p.dk + h * dkh + d];
                let kv = |u: usize, d: usize| k.data[(b * p.tk + u) * p.dk + h * dkh + d];
                let real = |m: &Plain, i: usize| m.data[i] != 0.0;
                let mut seen_all = vec![true; p.tk];
                let scores: Vec<f64> = (0..p.tk)
                    .map(|u| {
                        let s = match a.score {
                            Score::Dot { scaled } => {
                                let c = a.scale.map_or(1.0, |c| f64::from(c.value));
                                let dot: f64 = (0..dkh).map(|d| qv(d) * kv(u, d)).sum::<f64>() * c;
                                if scaled {
                                    dot * scale.data[0]
                                } else {
                                    dot
                                }
                            }
                            Score::Concat { scaled } => {
                                let c = if scaled { scale.data[0] } else { 1.0 };
                                concat_weight
                                    * (0..dkh)
                                        .map(|d| (c * (qv(d) + kv(u, d))).tanh())
                                        .sum::<f64>()
                            }
                            Score::Additive { scaled } => (0..dkh)
                                .map(|d| {
                                    let c = if scaled { scale.data[d] } else { 1.0 };
                                    c * (qv(d) + kv(u, d)).tanh()
                                })
                                .sum(),
                        };
                        // A mask the op does not read counts as real everywhere.
                        let row_mask = a.masks.query && a.query_mask == QueryMask::Scores;
                        let seen = (!a.causal || u <= t)
                            && (!row_mask || real(qm, b * p.tq + t))
                            && (!a.masks.keys || real(km, b * p.tk + u))
                            && (!a.masks.attention || real(am, (b * p.tq + t) * p.tk + u));
                        seen_all[u] = seen;
                        match a.fill {
                            _ if seen => s,
                            MaskFill::Replace(f) => f64::from(f),
                            MaskFill::Add(f) => f64::from(s as f32 + f),
                        }
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                if a.zero_masked {
                    // Keras 3's Softmax layer: a masked score weighs nothing.
                    for (e, &seen) in e.iter_mut().zip(&seen_all) {
                        if !seen {
                            *e = 0.0;
                        }
                    }
                }
                for (u, e) in e.iter().enumerate() {
                    weights[((b * heads + h) * p.tq + t) * p.tk + u] = e / sum;
                }
                for j in 0..dvh {
                    let o: f64 = (0..p.tk)
                        .map(|u| e[u] / sum * v.data[(b * p.tk + u) * p.dv + h * dvh + j])
                        .sum();
                    let masked = a.masks.query && !real(qm, b * p.tq + t);
                    out[(b * p.tq + t) * p.dv + h * dvh + j] = match a.query_mask {
                        QueryMask::ZeroOutput | QueryMask::MultiplyOutput if masked => 0.0,
                        _ => o,
                    };
                }
            }
        }
    }
    if a.emit_scores {
        weights
    } else {
        out
    }
}

//! Attention on the CPU, samples in parallel and each sample's heads in turn: the dot-product
//! scores and the weighted values as GEMMs on the sample's thread, the masked softmax row by row.

use ndarray::{
    s, Array2, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD, ArrayViewMut2, Axis, Ix2,
    Ix3,
};
use rayon::prelude::*;

use super::{Attention, MaskFill, QueryMask, Score};
use crate::ops::activation::softmax_row;
use crate::ops::gemm::{gemm, gemm_serial};
use crate::ops::Real;

/// The masks of one sample, each present or not.
struct SampleMasks<'a, T> {
    query: Option<ArrayView1<'a, T>>,
    keys: Option<ArrayView1<'a, T>>,
    attention: Option<ArrayView2<'a, T>>,
}

/// Keras casts a mask to bool: anything but 0 is a real step.
fn real<T: Real>(m: Option<T>) -> bool {
    m.is_none_or(|v| v != T::zero())
}

pub(super) fn attention<T: Real>(
    a: &Attention,
    inputs: &[&ArrayD<T>],
    weights: &[&ArrayD<T>],
) -> ArrayD<T> {
    let (q, v) = (three(inputs[0]), three(inputs[1]));
    let k = three(inputs[if a.own_key { 2 } else { 1 }]);
    let (batch, tq, _) = q.dim();
    let dv = v.dim().2;
    let mut masks = inputs[a.first_mask()..].iter();
    let mut next = |present: bool| present.then(|| masks.next().expect("a mask input"));
    let (qm, km, am) = (
        next(a.masks.query),
        next(a.masks.keys),
        next(a.masks.attention),
    );
    let heads = a.heads;
    let tk = v.dim().1;
    let out_shape = if a.emit_scores {
        vec![batch, heads, tq, tk]
    } else {
        vec![batch, tq, dv]
    };
    let mut out = ArrayD::<T>::zeros(out_shape);
    // The Attention layers' scores have no head axis (`heads` is 1): the same values.
    let scores_shape = a.emit_scores.then(|| {
        std::iter::once(batch)
            .chain(a.scores_shape(tq, tk))
            .collect::<Vec<_>>()
    });
    let dv_head = dv / heads;
    // Enough samples to keep every thread busy: each sample's products on its own thread.
    let serial = batch >= rayon::current_num_threads();
    let mut rows: Vec<_> = out.axis_iter_mut(Axis(0)).collect();
    rows.par_iter_mut().enumerate().for_each(|(b, out_b)| {
        let mut out_b = out_b.view_mut();
        let masks = SampleMasks {
            query: qm.map(|m| sample(m, b).into_dimensionality().expect("[tq]")),
            keys: km.map(|m| sample(m, b).into_dimensionality().expect("[tk]")),
            attention: am.map(|m| sample(m, b).into_dimensionality().expect("[tq, tk]")),
        };
        for h in 0..heads {
            let (q, k) = (
                head(q.index_axis(Axis(0), b), h, heads),
                head(k.index_axis(Axis(0), b), h, heads),
            );
            let vh = head(v.index_axis(Axis(0), b), h, heads);
            let mut weights_th = scores(a, q, k, weights, serial);
            mask_and_softmax(a, &mut weights_th, &masks);
            if a.emit_scores {
                out_b.index_axis_mut(Axis(0), h).assign(&weights_th);
                continue;
            }
            let mut out_b = out_b
                .view_mut()
                .into_dimensionality::<Ix2>()
                .expect("[tq, dv]");
            let mut o = out_b.slice_mut(s![.., h * dv_head..(h + 1) * dv_head]);
            product(weights_th.view(), vh, &mut o, serial);
        }
        if let (Some(qm), false) = (&masks.query, a.emit_scores) {
            let mut out_b = out_b.into_dimensionality::<Ix2>().expect("[tq, dv]");
            apply_query_mask(a.query_mask, &mut out_b, qm);
        }
    });
    match scores_shape {
        Some(shape) => out.into_shape_with_order(shape).expect("one head"),
        None => out,
    }
}

fn three<T: Real>(x: &ArrayD<T>) -> ArrayView3<'_, T> {
    x.view()
        .into_dimensionality::<Ix3>()
        .expect("[batch, steps, features], checked when built")
}

fn sample<T: Real>(x: &ArrayD<T>, b: usize) -> ArrayViewD<'_, T> {
    x.index_axis(Axis(0), b)
}

/// Head `h`'s columns of a `[steps, heads·d]` sample.
fn head<T: Real>(x: ArrayView2<T>, h: usize, heads: usize) -> ArrayView2<T> {
    let d = x.ncols() / heads;
    x.slice_move(s![.., h * d..(h + 1) * d])
}

/// The `[tq, tk]` scores of one head.
fn scores<T: Real>(
    a: &Attention,
    q: ArrayView2<T>,
    k: ArrayView2<T>,
    weights: &[&ArrayD<T>],
    serial: bool,
) -> Array2<T> {
    let (tq, tk) = (q.nrows(), k.nrows());
    let mut s = Array2::<T>::zeros((tq, tk));
    match a.score {
        Score::Dot { scaled } => {
            match a.scale {
                Some(c) if c.on_query => {
                    let c = T::from_f32(c.value);
                    let q = q.mapv(|x| x * c);
                    product(q.view(), k.t(), &mut s.view_mut(), serial);
                }
                Some(c) => {
                    product(q, k.t(), &mut s.view_mut(), serial);
                    let c = T::from_f32(c.value);
                    s.mapv_inplace(|x| x * c);
                }
                None => product(q, k.t(), &mut s.view_mut(), serial),
            }
            if scaled {
                let w = first(weights[0]);
                s.mapv_inplace(|x| x * w);
            }
        }
        Score::Concat { scaled } => {
            let (scale, weight) = if scaled {
                (Some(first(weights[0])), first(weights[1]))
            } else {
                (None, first(weights[0]))
            };
            fill_pairs(&mut s, q, k, |q, k| {
                let sum = q.iter().zip(k).fold(T::zero(), |acc, (&q, &k)| {
                    let x = q + k;
                    acc + scale.map_or(x, |c| c * x).tanh()
                });
                weight * sum
            });
        }
        Score::Additive { scaled } => {
            let scale = scaled.then(|| weights[0]);
            fill_pairs(&mut s, q, k, |q, k| {
                let mut sum = T::zero();
                for (d, (&q, &k)) in q.iter().zip(k).enumerate() {
                    let t = (q + k).tanh();
                    sum += scale.map_or(t, |c| c[d] * t);
                }
                sum
            });
        }
    }
    s
}

/// `c = a·b`, on the calling thread where `serial`.
fn product<T: Real>(a: ArrayView2<T>, b: ArrayView2<T>, c: &mut ArrayViewMut2<T>, serial: bool) {
    if serial {
        gemm_serial(a, b, c, false);
    } else {
        gemm(a, b, c, false);
    }
}

fn first<T: Real>(w: &ArrayD<T>) -> T {
    *w.iter().next().expect("a scale weight")
}

/// `s[t, u] = f(q[t], k[u])`.
fn fill_pairs<T: Real>(
    s: &mut Array2<T>,
    q: ArrayView2<T>,
    k: ArrayView2<T>,
    f: impl Fn(ArrayView1<T>, ArrayView1<T>) -> T,
) {
    for (t, mut row) in s.rows_mut().into_iter().enumerate() {
        for (u, x) in row.iter_mut().enumerate() {
            *x = f(q.row(t), k.row(u));
        }
    }
}

/// The masked scores of one head turned into attention weights, row by row.
fn mask_and_softmax<T: Real>(a: &Attention, s: &mut Array2<T>, m: &SampleMasks<T>) {
    let query_masks_scores = a.query_mask == QueryMask::Scores;
    let any_mask = a.causal
        || m.keys.is_some()
        || m.attention.is_some()
        || (query_masks_scores && m.query.is_some());
    let mut seen = vec![true; s.ncols()];
    for (t, mut row) in s.rows_mut().into_iter().enumerate() {
        if any_mask {
            let row_real = !query_masks_scores || real(m.query.map(|q| q[t]));
            for (u, (x, seen)) in row.iter_mut().zip(&mut seen).enumerate() {
                *seen = row_real
                    && real(m.keys.map(|k| k[u]))
                    && real(m.attention.map(|am| am[[t, u]]))
                    && (!a.causal || u <= t);
                if !*seen {
                    *x = match a.fill {
                        MaskFill::Replace(v) => T::from_f32(v),
                        MaskFill::Add(v) => *x + T::from_f32(v),
                    };
                }
            }
        }
        softmax_row(row.as_slice_mut().expect("a standard-layout row"));
        if any_mask && a.zero_masked {
            for (x, &seen) in row.iter_mut().zip(&seen) {
                if !seen {
                    *x = T::zero();
                }
            }
        }
    }
}

fn apply_query_mask<T: Real>(mode: QueryMask, out: &mut ArrayViewMut2<T>, qm: &ArrayView1<T>) {
    for (mut row, &m) in out.rows_mut().into_iter().zip(qm) {
        match mode {
            QueryMask::Scores => {}
            QueryMask::ZeroOutput if m == T::zero() => row.fill(T::zero()),
            QueryMask::ZeroOutput => {}
            QueryMask::MultiplyOutput => row.mapv_inplace(|x| x * m),
        }
    }
}

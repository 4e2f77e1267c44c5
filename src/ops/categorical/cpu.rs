//! Categorical preprocessing on the CPU, value by value or row by row.

use ndarray::{ArrayD, IxDyn};

use super::{EncodeMode, Encoding, Lookup, OutOfRange};
use crate::ops::Real;

/// One row of `tokens` columns per `per_row` ids.
pub(super) fn encode<T: Real>(
    e: &Encoding,
    x: &ArrayD<T>,
    per_row: usize,
    out_shape: &[usize],
) -> ArrayD<T> {
    let ids: Vec<T> = x.iter().copied().collect();
    let mut out = vec![T::zero(); (ids.len() / per_row.max(1)) * e.tokens];
    for (row, ids) in out.chunks_mut(e.tokens).zip(ids.chunks(per_row.max(1))) {
        encode_row(e, ids, row);
    }
    ArrayD::from_shape_vec(IxDyn(out_shape), out).expect("a row of tokens per id run")
}

fn encode_row<T: Real>(e: &Encoding, ids: &[T], row: &mut [T]) {
    for &id in ids {
        match column(id, e.tokens) {
            Some(c) if e.mode == EncodeMode::Count => row[c] += T::one(),
            Some(c) => row[c] = T::one(),
            None if id.is_nan() || e.out_of_range == OutOfRange::Nan => {
                row.fill(T::nan());
                return;
            }
            None => {}
        }
    }
}

/// The column an id marks: its integer part, when in `0..tokens`.
fn column<T: Real>(id: T, tokens: usize) -> Option<usize> {
    let id = id.trunc();
    (id >= T::zero() && id < T::from_f64(tokens as f64)).then(|| id.to_f32() as usize)
}

/// How many boundaries are at or below `v`; NaN counts past them all, as Keras gives it.
pub fn bucket<T: Real>(boundaries: &[f32], v: T) -> T {
    if v.is_nan() {
        return T::from_f64(boundaries.len() as f64);
    }
    let below = boundaries.iter().filter(|&&b| T::from_f32(b) <= v).count();
    T::from_f64(below as f64)
}

/// IntegerLookup's index of id `v` (NaN for a NaN id, which no Keras integer input holds).
pub fn lookup<T: Real>(l: &Lookup, v: T) -> T {
    if v.is_nan() {
        return v;
    }
    let id = v.trunc().to_f32();
    let masked = l.mask_token.is_some();
    if l.mask_token == Some(id) {
        return T::zero();
    }
    let first = usize::from(masked);
    let index = match l.vocabulary.iter().position(|&w| w == id) {
        Some(p) => first + l.oov_indices + p,
        None => first + (f64::from(id).rem_euclid(l.oov_indices as f64)) as usize,
    };
    T::from_f64(index as f64)
}

//! Embedding lookups and masks on the CPU.

use ndarray::{ArrayD, Axis, IxDyn, Zip};

use super::MakeMask;
use crate::ops::Real;

/// Row `trunc(id)` of `table` for every id; NaN rows for ids outside the table.
pub(super) fn embedding<T: Real>(
    ids: &ArrayD<T>,
    table: &ArrayD<T>,
    out_shape: &[usize],
) -> ArrayD<T> {
    let (rows, width) = (table.shape()[0], table.shape()[1]);
    let table = table.as_standard_layout();
    let table = table.as_slice().expect("standard layout");
    let mut out = Vec::with_capacity(ids.len() * width);
    for &id in ids.iter() {
        match row_of(id, rows) {
            Some(r) => out.extend_from_slice(&table[r * width..(r + 1) * width]),
            None => out.extend(std::iter::repeat_n(T::nan(), width)),
        }
    }
    ArrayD::from_shape_vec(IxDyn(out_shape), out).expect("one row per id")
}

/// The table row an id picks: Keras casts ids to integers (truncating), and an id outside the
/// table picks none.
pub fn row_of<T: Real>(id: T, rows: usize) -> Option<usize> {
    let id = id.trunc();
    (id >= T::zero() && id < T::from_f64(rows as f64)).then(|| id.to_f32() as usize)
}

pub(super) fn make_mask<T: Real>(mask: &MakeMask, x: &ArrayD<T>) -> ArrayD<T> {
    let flag = |b: bool| if b { T::one() } else { T::zero() };
    match *mask {
        MakeMask::NotEqual { value } => x.mapv(|v| flag(v != T::from_f32(value))),
        MakeMask::AnyNot { value } => {
            let value = T::from_f32(value);
            let last = Axis(x.ndim() - 1);
            x.map_axis(last, |steps| flag(steps.iter().any(|&v| v != value)))
        }
    }
}

/// `x · any(x != value)` per step, as Keras computes it (so an infinite step that is masked out
/// gives NaN, as in Keras).
pub(super) fn masking<T: Real>(value: f32, x: &ArrayD<T>) -> ArrayD<T> {
    let mask = make_mask(&MakeMask::AnyNot { value }, x);
    let last = Axis(mask.ndim());
    let mask = mask.insert_axis(last);
    let mut y = x.clone();
    Zip::from(&mut y)
        .and_broadcast(&mask)
        .for_each(|y, &m| *y = *y * m);
    y
}

/// `sum(x·mask) / sum(mask)` over the steps of `[batch, steps, features]`.
pub(super) fn masked_mean<T: Real>(
    x: &ArrayD<T>,
    mask: &ArrayD<T>,
    out_shape: &[usize],
) -> ArrayD<T> {
    let weighted = {
        let mask = mask.view().insert_axis(Axis(2));
        let mut y = x.clone();
        Zip::from(&mut y)
            .and_broadcast(&mask)
            .for_each(|y, &m| *y = *y * m);
        y
    };
    let sums = weighted.sum_axis(Axis(1));
    let counts = mask.sum_axis(Axis(1)).insert_axis(Axis(1));
    let mut mean = sums;
    Zip::from(&mut mean)
        .and_broadcast(&counts)
        .for_each(|s, &c| *s = *s / c);
    mean.into_shape_with_order(IxDyn(out_shape))
        .expect("the mean keeps only the features")
}

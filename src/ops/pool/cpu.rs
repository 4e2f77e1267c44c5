//! Pooling on the CPU: for each output cell, a walk over its window's cells inside the input.
//! The trailing axes the window leaves alone (the channels, channels last) are carried as
//! contiguous rows, so that each window cell combines a whole row at once.

use ndarray::{ArrayD, IxDyn};

use super::{Pool, PoolKind};
use crate::ops::{nan, Real};
use crate::tensor::{strides, unravel};

/// The pooled tensor (global pooling keeps its size-1 axes here), batch first.
pub(super) fn pool<T: Real>(pool: &Pool, x: &ArrayD<T>, geometry: &[(usize, usize)]) -> ArrayD<T> {
    let x = x.as_standard_layout();
    let data = x.as_slice().expect("standard layout");
    let in_shape = x.shape();
    let out_shape: Vec<usize> = std::iter::once(in_shape[0])
        .chain(geometry.iter().map(|&(o, _)| o))
        .collect();
    // Axes 1..=pooled are walked; the rest form rows of `row` values.
    let pooled = (0..geometry.len())
        .rev()
        .find(|&a| {
            let passes =
                pool.window[a] == 1 && pool.strides[a] == 1 && geometry[a] == (in_shape[a + 1], 0);
            !passes
        })
        .map_or(0, |a| a + 1);
    let row: usize = in_shape[pooled + 1..].iter().product();
    let in_rows = &in_shape[..=pooled];
    let out_rows = &out_shape[..=pooled];
    let in_strides = strides(in_rows);
    let window_len: usize = pool.window[..pooled].iter().product();
    let total: usize = out_rows.iter().product();
    let init = match pool.kind {
        PoolKind::Max => T::neg_infinity(),
        PoolKind::Average => T::zero(),
    };
    let mut out = vec![init; total * row];
    let mut o = vec![0; out_rows.len()];
    for (r, acc) in out.chunks_exact_mut(row.max(1)).enumerate().take(total) {
        unravel(r, out_rows, &mut o);
        let mut count = 0usize;
        'cells: for w in 0..window_len {
            let mut offset = o[0] * in_strides[0];
            let mut rest = w;
            for a in (0..pooled).rev() {
                let k = rest % pool.window[a];
                rest /= pool.window[a];
                let at = (o[a + 1] * pool.strides[a] + k) as isize - geometry[a].1 as isize;
                if at < 0 || at >= in_shape[a + 1] as isize {
                    continue 'cells;
                }
                offset += at as usize * in_strides[a + 1];
            }
            let cell = &data[offset * row..(offset + 1) * row];
            match pool.kind {
                PoolKind::Max => acc
                    .iter_mut()
                    .zip(cell)
                    .for_each(|(a, &v)| *a = nan::max(*a, v)),
                PoolKind::Average => acc.iter_mut().zip(cell).for_each(|(a, &v)| *a += v),
            }
            count += 1;
        }
        if pool.kind == PoolKind::Average {
            let n = T::from_f64(count.max(1) as f64);
            acc.iter_mut().for_each(|a| *a = *a / n);
        }
    }
    ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("one value per output cell")
}

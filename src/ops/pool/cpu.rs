//! Pooling on the CPU: for each output cell, a walk over its window's cells inside the input.

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
    let in_strides = strides(in_shape);
    let window_len: usize = pool.window.iter().product();
    let total: usize = out_shape.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut o = vec![0; out_shape.len()];
    for i in 0..total {
        unravel(i, &out_shape, &mut o);
        let mut acc = match pool.kind {
            PoolKind::Max => T::neg_infinity(),
            PoolKind::Average => T::zero(),
        };
        let mut count = 0usize;
        'cells: for w in 0..window_len {
            let mut offset = o[0] * in_strides[0];
            let mut rest = w;
            for a in (0..geometry.len()).rev() {
                let k = rest % pool.window[a];
                rest /= pool.window[a];
                let at = (o[a + 1] * pool.strides[a] + k) as isize - geometry[a].1 as isize;
                if at < 0 || at >= in_shape[a + 1] as isize {
                    continue 'cells;
                }
                offset += at as usize * in_strides[a + 1];
            }
            let v = data[offset];
            acc = match pool.kind {
                PoolKind::Max => nan::max(acc, v),
                PoolKind::Average => acc + v,
            };
            count += 1;
        }
        out.push(match pool.kind {
            PoolKind::Max => acc,
            PoolKind::Average => acc / T::from_f64(count.max(1) as f64),
        });
    }
    ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("one value per output cell")
}

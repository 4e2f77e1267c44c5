//! Resampling on the CPU: one axis at a time, the last spatial axis first (TensorFlow's order
//! of the bilinear lerps: along the width, then the height).

use ndarray::{ArrayD, Axis, IxDyn};

use super::{bilinear, nearest, Interpolation, Resample, ResampleAxis};
use crate::ops::Real;

pub(super) fn resample<T: Real>(
    r: &Resample,
    axes: &[ResampleAxis],
    x: &ArrayD<T>,
    out_shape: &[usize],
) -> ArrayD<T> {
    let first_spatial = if r.channels_first { 2 } else { 1 };
    let mut y = x.clone();
    for (k, axis) in axes.iter().enumerate().rev() {
        y = along(
            &y,
            Axis(first_spatial + k),
            axis,
            r.interpolation,
            T::from_f32(r.fill),
        );
    }
    debug_assert_eq!(y.shape(), out_shape);
    y
}

/// Resamples one axis (after padding it with the fill value).
fn along<T: Real>(
    x: &ArrayD<T>,
    ax: Axis,
    axis: &ResampleAxis,
    how: Interpolation,
    fill: T,
) -> ArrayD<T> {
    let padded;
    let x = if axis.pad > 0 {
        let mut shape = x.shape().to_vec();
        shape[ax.index()] += 2 * axis.pad;
        padded = {
            let mut p = ArrayD::from_elem(IxDyn(&shape), fill);
            let n = x.shape()[ax.index()];
            p.slice_axis_mut(ax, (axis.pad..axis.pad + n).into())
                .assign(x);
            p
        };
        &padded
    } else {
        x
    };
    let mut shape = x.shape().to_vec();
    shape[ax.index()] = axis.out;
    let mut y = ArrayD::zeros(IxDyn(&shape));
    for o in 0..axis.out {
        let mut dst = y.index_axis_mut(ax, o);
        match how {
            Interpolation::Nearest => dst.assign(&x.index_axis(ax, nearest(axis, o))),
            Interpolation::Bilinear => {
                let (lo, hi, t) = bilinear(axis, o);
                let (a, b) = (x.index_axis(ax, lo), x.index_axis(ax, hi));
                let t = T::from_f32(t);
                // a + (b − a)·t, as TensorFlow's lerp.
                ndarray::Zip::from(&mut dst)
                    .and(&a)
                    .and(&b)
                    .for_each(|d, &a, &b| *d = a + (b - a) * t);
            }
        }
    }
    y
}

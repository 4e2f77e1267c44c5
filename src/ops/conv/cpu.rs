//! Convolution on the CPU, channels last: im2col (each output position's receptive field as one
//! row) and one GEMM per group; a transposed convolution as one GEMM (each input position's
//! contribution to every tap) and col2im (the contributions added at their output rows).

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayD, Axis, IxDyn};

use super::{Conv, ConvGeometry};
use crate::ops::Real;
use crate::tensor::unravel;

/// The convolution with its bias, channels last: `[batch, output…, filters]`.
pub(super) fn conv<T: Real>(
    conv: &Conv,
    g: &ConvGeometry,
    x: &ArrayD<T>,
    kernel: &ArrayD<T>,
    bias: Option<&ArrayD<T>>,
) -> ArrayD<T> {
    let x = standard_channels_last(conv, x);
    let batch = x.shape()[0];
    let group_channels = g.channels / conv.groups;
    let group_filters = conv.filters / conv.groups;
    let taps: usize = conv.window.iter().product();
    let rows = batch * g.output.iter().product::<usize>();
    let kernel = kernel
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((taps * group_channels, conv.filters))
        .expect("kernel shape checked when built");
    let mut y = match bias {
        Some(b) => b
            .broadcast(IxDyn(&[rows, conv.filters]))
            .expect("bias has one value per filter")
            .to_owned()
            .into_dimensionality()
            .expect("2-D"),
        None => Array2::zeros((rows, conv.filters)),
    };
    for group in 0..conv.groups {
        let cols = im2col(conv, g, &x, group * group_channels, group_channels);
        let filters = group * group_filters..(group + 1) * group_filters;
        general_mat_mul(
            T::one(),
            &cols,
            &kernel.slice(s![.., filters.clone()]),
            T::one(),
            &mut y.slice_mut(s![.., filters]),
        );
    }
    let shape: Vec<usize> = std::iter::once(batch)
        .chain(g.output.iter().copied())
        .chain([conv.filters])
        .collect();
    y.into_shape_with_order(IxDyn(&shape))
        .expect("one row per output position")
}

/// The transposed convolution with its bias, channels last: `[batch, output…, filters]`.
pub(super) fn conv_transpose<T: Real>(
    conv: &Conv,
    g: &ConvGeometry,
    x: &ArrayD<T>,
    kernel: &ArrayD<T>,
    bias: Option<&ArrayD<T>>,
) -> ArrayD<T> {
    let x = standard_channels_last(conv, x);
    let batch = x.shape()[0];
    let (taps, filters) = (conv.window.iter().product::<usize>(), conv.filters);
    let positions: usize = g.input.iter().product();
    let x = x
        .into_shape_with_order((batch * positions, g.channels))
        .expect("channels last");
    // Keras's kernel [taps, filters, channels] as [channels, taps·filters].
    let kernel = kernel
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((taps * filters, g.channels))
        .expect("kernel shape checked when built");
    let spread = x.dot(&kernel.t());
    let out_positions: usize = g.output.iter().product();
    let mut y = Array2::<T>::zeros((batch * out_positions, filters));
    let spatial = g.input.len();
    let (mut i, mut k) = (vec![0; spatial], vec![0; spatial]);
    for (r, row) in spread.axis_iter(Axis(0)).enumerate() {
        let sample = r / positions;
        unravel(r % positions, &g.input, &mut i);
        for t in 0..taps {
            unravel(t, &conv.window, &mut k);
            let mut at = sample;
            let mut inside = true;
            for a in 0..spatial {
                let o =
                    (i[a] * conv.strides[a] + k[a] * conv.dilation[a]) as isize - g.pad[a] as isize;
                inside &= o >= 0 && o < g.output[a] as isize;
                at = at * g.output[a] + o.max(0) as usize;
            }
            if inside {
                let mut dst = y.row_mut(at);
                dst += &row.slice(s![t * filters..(t + 1) * filters]);
            }
        }
    }
    if let Some(b) = bias {
        let b = b
            .view()
            .into_dimensionality::<ndarray::Ix1>()
            .expect("one value per filter");
        y += &b;
    }
    let shape: Vec<usize> = std::iter::once(batch)
        .chain(g.output.iter().copied())
        .chain([filters])
        .collect();
    y.into_shape_with_order(IxDyn(&shape))
        .expect("one row per output position")
}

/// One row per (sample, output position): the `channels` input channels from `first` at each
/// kernel tap (tap-major, as the kernel's rows), zero where a tap falls in the padding.
fn im2col<T: Real>(
    conv: &Conv,
    g: &ConvGeometry,
    x: &ArrayD<T>,
    first: usize,
    channels: usize,
) -> Array2<T> {
    let data = x.as_slice().expect("standard layout");
    let spatial = g.input.len();
    let taps: usize = conv.window.iter().product();
    let positions: usize = g.output.iter().product();
    let rows = x.shape()[0] * positions;
    let mut cols = Array2::zeros((rows, taps * channels));
    let (mut o, mut k) = (vec![0; spatial], vec![0; spatial]);
    for (r, mut row) in cols.axis_iter_mut(Axis(0)).enumerate() {
        let sample = r / positions;
        unravel(r % positions, &g.output, &mut o);
        for t in 0..taps {
            unravel(t, &conv.window, &mut k);
            let mut at = sample;
            let mut inside = true;
            for a in 0..spatial {
                let p =
                    (o[a] * conv.strides[a] + k[a] * conv.dilation[a]) as isize - g.pad[a] as isize;
                inside &= p >= 0 && p < g.input[a] as isize;
                at = at * g.input[a] + p.max(0) as usize;
            }
            if inside {
                let start = at * g.channels + first;
                row.slice_mut(s![t * channels..(t + 1) * channels])
                    .assign(&ndarray::aview1(&data[start..start + channels]));
            }
        }
    }
    cols
}

/// The input as the kernels read it: channels last, in standard layout.
fn standard_channels_last<T: Real>(conv: &Conv, x: &ArrayD<T>) -> ArrayD<T> {
    if conv.channels_first {
        channels_last(x)
    } else {
        x.as_standard_layout().into_owned()
    }
}

/// `[batch, channels, spatial…]` → `[batch, spatial…, channels]`.
fn channels_last<T: Real>(x: &ArrayD<T>) -> ArrayD<T> {
    let rank = x.ndim();
    let axes: Vec<usize> = [0].into_iter().chain(2..rank).chain([1]).collect();
    x.view()
        .permuted_axes(IxDyn(&axes))
        .as_standard_layout()
        .into_owned()
}

/// `[batch, spatial…, channels]` → `[batch, channels, spatial…]`.
pub(super) fn channels_first<T: Real>(y: ArrayD<T>) -> ArrayD<T> {
    let rank = y.ndim();
    let axes: Vec<usize> = [0, rank - 1].into_iter().chain(1..rank - 1).collect();
    y.view()
        .permuted_axes(IxDyn(&axes))
        .as_standard_layout()
        .into_owned()
}

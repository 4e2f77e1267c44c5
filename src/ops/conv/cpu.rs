//! Convolution on the CPU, channels last: im2col (each output position's receptive field as one
//! row) and one GEMM per group; a transposed convolution as one GEMM (each input position's
//! contribution to every tap) and col2im (the contributions added at their output rows).

use std::ops::Range;

use ndarray::{s, Array2, ArrayD, ArrayView2, ArrayViewD, Axis, CowArray, Ix2, IxDyn};
use rayon::prelude::*;

use super::{Conv, ConvGeometry};
use crate::ops::gemm::{bias_rows, gemm, gemm_lhs, Lhs};
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
    let taps: usize = conv.window.iter().product();
    let rows = batch * g.output.iter().product::<usize>();
    // A view of the weight as [taps·channels, filters], as it is stored: no copy per call.
    let kernel = kernel.as_standard_layout();
    let kernel = kernel
        .view()
        .into_shape_with_order((taps * group_channels, conv.filters))
        .expect("kernel shape checked when built");
    let bias: Option<Vec<T>> = bias.map(|b| b.iter().copied().collect());
    let mut y = bias_rows(rows, conv.filters, bias.as_deref());
    if group_channels == 1 {
        depthwise(conv, g, x.view(), &kernel, &mut y);
    } else {
        grouped(conv, g, x.view(), &kernel, &mut y);
    }
    let shape: Vec<usize> = std::iter::once(batch)
        .chain(g.output.iter().copied())
        .chain([conv.filters])
        .collect();
    y.into_shape_with_order(IxDyn(&shape))
        .expect("one row per output position")
}

/// y += im2col(x)·kernel, one GEMM per group. The GEMM gathers the receptive fields straight
/// from `x` where it can ([`Fields`]); a pointwise convolution's are `x`'s rows themselves.
fn grouped<T: Real>(
    conv: &Conv,
    g: &ConvGeometry,
    x: ArrayViewD<T>,
    kernel: &ArrayView2<T>,
    y: &mut Array2<T>,
) {
    let group_channels = g.channels / conv.groups;
    let group_filters = conv.filters / conv.groups;
    let data = x.to_slice().expect("standard layout");
    let pointwise = conv.window.iter().all(|&k| k == 1)
        && conv.strides.iter().all(|&s| s == 1)
        && g.pad.iter().all(|&p| p == 0);
    for group in 0..conv.groups {
        let first = group * group_channels;
        let filters = group * group_filters..(group + 1) * group_filters;
        let kernel = kernel.slice(s![.., filters.clone()]);
        let y = &mut y.slice_mut(s![.., filters]);
        if pointwise {
            let rows = ArrayView2::from_shape((data.len() / g.channels, g.channels), data)
                .expect("channels last")
                .slice_move(s![.., first..first + group_channels]);
            gemm_lhs(&rows, kernel, y, true);
        } else {
            let fields = Fields {
                conv,
                g,
                data,
                first,
                channels: group_channels,
                batch: x.shape()[0],
            };
            gemm_lhs(&fields, kernel, y, true);
        }
    }
}

/// The receptive fields of one group's channels as a GEMM operand: a row per output position
/// (sample, then spatial, row-major), each tap's channels in turn, zeros in the padding.
struct Fields<'a, T> {
    conv: &'a Conv,
    g: &'a ConvGeometry,
    data: &'a [T],
    first: usize,
    channels: usize,
    batch: usize,
}

impl<T: Real> Lhs<T> for Fields<'_, T> {
    fn dim(&self) -> (usize, usize) {
        let taps: usize = self.conv.window.iter().product();
        (
            self.batch * self.g.output.iter().product::<usize>(),
            taps * self.channels,
        )
    }

    fn pack(&self, rows: Range<usize>, depths: Range<usize>, mr: usize, dst: &mut [T]) {
        let (kc, channels) = (depths.len(), self.channels);
        let spatial = self.g.input.len();
        let positions: usize = self.g.output.iter().product();
        let (mut o, mut k) = (vec![0; spatial], vec![0; spatial]);
        let dst = &mut dst[..rows.len().div_ceil(mr) * mr * kc];
        for (row, dst) in rows.clone().zip(dst.chunks_exact_mut(kc)) {
            unravel(row % positions, &self.g.output, &mut o);
            // The depths in runs of one tap's channels.
            let mut depth = depths.start;
            while depth < depths.end {
                let (t, c) = (depth / channels, depth % channels);
                let run = (channels - c).min(depths.end - depth);
                let d = &mut dst[depth - depths.start..][..run];
                unravel(t, &self.conv.window, &mut k);
                match tap_input(self.conv, self.g, row / positions, &o, &k) {
                    Some(at) => {
                        let start = at * self.g.channels + self.first + c;
                        d.copy_from_slice(&self.data[start..start + run]);
                    }
                    None => d.fill(T::zero()),
                }
                depth += run;
            }
        }
        dst[rows.len() * kc..].fill(T::zero());
    }

    fn matrix(&self) -> CowArray<'_, T, Ix2> {
        im2col(self).into()
    }
}

/// y += the depthwise convolution (one input channel per group, `filters / channels` filters
/// each), directly: per output row, each tap's input channels times the tap's kernel row.
/// Through im2col each group would be a GEMM of one column.
fn depthwise<T: Real>(
    conv: &Conv,
    g: &ConvGeometry,
    x: ArrayViewD<T>,
    kernel: &ArrayView2<T>,
    y: &mut Array2<T>,
) {
    let data = x.as_slice().expect("standard layout");
    let kernel = kernel.as_slice().expect("standard layout");
    let filters = conv.filters;
    let multiplier = filters / g.channels;
    let out = y.as_slice_mut().expect("standard layout");
    for_each_tap_row(conv, g, out, filters, 64, |row, taps| {
        for (t, weights) in kernel.chunks_exact(filters).enumerate() {
            let Some(at) = taps(t) else {
                continue;
            };
            let input = &data[at * g.channels..(at + 1) * g.channels];
            if multiplier == 1 {
                for ((y, &w), &v) in row.iter_mut().zip(weights).zip(input) {
                    *y += v * w;
                }
            } else {
                for (f, (y, &w)) in row.iter_mut().zip(weights).enumerate() {
                    *y += input[f / multiplier] * w;
                }
            }
        }
    });
}

/// Calls `fill(row, taps)` for each output position's row of `width` values in `out` (sample
/// and spatial position, row-major), in parallel blocks of `block` rows; `taps(t)` is the flat
/// input position tap `t` reads there, None in the padding.
fn for_each_tap_row<T: Real>(
    conv: &Conv,
    g: &ConvGeometry,
    out: &mut [T],
    width: usize,
    block: usize,
    fill: impl Fn(&mut [T], &mut dyn FnMut(usize) -> Option<usize>) + Sync,
) {
    let spatial = g.input.len();
    let positions: usize = g.output.iter().product();
    out.par_chunks_mut(width * block)
        .enumerate()
        .for_each(|(b, chunk)| {
            let (mut o, mut k) = (vec![0; spatial], vec![0; spatial]);
            for (i, row) in chunk.chunks_exact_mut(width).enumerate() {
                let r = b * block + i;
                unravel(r % positions, &g.output, &mut o);
                let mut taps = |t: usize| {
                    unravel(t, &conv.window, &mut k);
                    tap_input(conv, g, r / positions, &o, &k)
                };
                fill(row, &mut taps);
            }
        });
}

/// The flat input position (sample and spatial axes) that tap `k` of output position `o`
/// reads, or None where it falls in the padding.
fn tap_input(
    conv: &Conv,
    g: &ConvGeometry,
    sample: usize,
    o: &[usize],
    k: &[usize],
) -> Option<usize> {
    let mut at = sample;
    for a in 0..g.input.len() {
        let p = (o[a] * conv.strides[a] + k[a] * conv.dilation[a]) as isize - g.pad[a] as isize;
        if p < 0 || p >= g.input[a] as isize {
            return None;
        }
        at = at * g.input[a] + p as usize;
    }
    Some(at)
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
    let kernel = kernel.as_standard_layout();
    let kernel = kernel
        .view()
        .into_shape_with_order((taps * filters, g.channels))
        .expect("kernel shape checked when built");
    let mut spread = Array2::zeros((batch * positions, taps * filters));
    gemm(x.view(), kernel.t(), &mut spread.view_mut(), false);
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
/// kernel tap (tap-major, as the kernel's rows), zero where a tap falls in the padding. A
/// pointwise convolution (one tap, unit strides, no padding) reads the input as it is.
fn im2col<T: Real>(fields: &Fields<T>) -> Array2<T> {
    let (rows, width) = fields.dim();
    let Fields {
        conv,
        g,
        data,
        first,
        channels,
        ..
    } = *fields;
    let mut cols = vec![T::zero(); rows * width];
    for_each_tap_row(conv, g, &mut cols, width, 256, |row, taps| {
        for (t, dst) in row.chunks_exact_mut(channels).enumerate() {
            if let Some(at) = taps(t) {
                let start = at * g.channels + first;
                dst.copy_from_slice(&data[start..start + channels]);
            }
        }
    });
    Array2::from_shape_vec((rows, width), cols).expect("one row per output position")
}

/// The input as the kernels read it: channels last, in standard layout (borrowed when it is).
fn standard_channels_last<'x, T: Real>(conv: &Conv, x: &'x ArrayD<T>) -> CowArray<'x, T, IxDyn> {
    if conv.channels_first {
        channels_last(x).into()
    } else {
        x.as_standard_layout()
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

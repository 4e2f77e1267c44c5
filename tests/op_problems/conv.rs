//! Convolution in every geometry: strides, dilation, groups, `valid`/`same`/`causal` padding,
//! either data format, with and without bias.

use super::plain::*;
use proptest::prelude::*;

use keqv::graph::{Activation, Op};
use keqv::ops::window::Padding;
use keqv::ops::{Conv, ConvKind};

/// Spatial sizes, channels, filters, groups, and per axis (window, stride, dilation).
type Case = (Vec<usize>, usize, usize, usize, Vec<(usize, usize, usize)>);

fn cases() -> impl Strategy<Value = Case> {
    (1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2).prop_flat_map(|(spatial, cg, fg, groups)| {
        (
            prop::collection::vec(1usize..=6, spatial),
            Just(cg * groups),
            Just(fg * groups),
            Just(groups),
            prop::collection::vec((1usize..=3, 1usize..=2, 1usize..=2), spatial),
        )
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conv_sums_each_receptive_field(
        (sizes, channels, filters, groups, axes) in cases(), batch in 1usize..=2, seed: u64,
        which in 0usize..3, first: bool, use_bias: bool,
    ) {
        let spatial = sizes.len();
        let padding = [Padding::Valid, Padding::Same, Padding::Causal][which];
        let padding = if spatial > 1 && padding == Padding::Causal { Padding::Same } else { padding };
        // A window that fits every axis under 'valid' padding.
        let window: Vec<usize> = axes.iter().zip(&sizes).map(|(a, &n)| a.0.min(n)).collect();
        let dilation: Vec<usize> = axes.iter().zip(&window).zip(&sizes)
            .map(|((a, &w), &n)| if (w - 1) * a.2 < n { a.2 } else { 1 }).collect();
        let strides: Vec<usize> = axes.iter().map(|a| a.1).collect();
        let sample: Vec<usize> = if first {
            std::iter::once(channels).chain(sizes.iter().copied()).collect()
        } else {
            sizes.iter().copied().chain([channels]).collect()
        };
        let shape: Vec<usize> = std::iter::once(batch).chain(sample).collect();
        let x = plain(&shape, seed, 1.0);
        let taps: usize = window.iter().product();
        let kshape: Vec<usize> =
            window.iter().copied().chain([channels / groups, filters]).collect();
        let kernel = plain(&kshape, seed ^ 1, 0.5);
        let bias = plain(&[filters], seed ^ 2, 0.5);
        let conv = Conv {
            filters, window: window.clone(), strides: strides.clone(), dilation: dilation.clone(),
            padding, groups, channels_first: first, use_bias, activation: Activation::Linear,
            kind: ConvKind::Standard,
        };
        let weights: Vec<&Plain> = if use_bias { vec![&kernel, &bias] } else { vec![&kernel] };
        let got = run(&node(Op::Conv(conv), &[&x], &weights), &[&x]);
        // Keras's geometry, per axis: output size and rows padded before.
        let geo: Vec<(usize, usize)> = (0..spatial).map(|a| {
            let (n, s, span) = (sizes[a], strides[a], (window[a] - 1) * dilation[a] + 1);
            match padding {
                Padding::Valid => ((n - span) / s + 1, 0),
                Padding::Same => {
                    let out = n.div_ceil(s);
                    (out, ((out - 1) * s + span).saturating_sub(n) / 2)
                }
                Padding::Causal => ((n - 1) / s + 1, span - 1),
            }
        }).collect();
        let out_sample: Vec<usize> = if first {
            std::iter::once(filters).chain(geo.iter().map(|g| g.0)).collect()
        } else {
            geo.iter().map(|g| g.0).chain([filters]).collect()
        };
        let out_shape: Vec<usize> = std::iter::once(batch).chain(out_sample).collect();
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        let out = Plain { shape: out_shape, data: vec![0.0; got.len()] };
        let (cg, fg) = (channels / groups, filters / groups);
        let at = |b: usize, pos: &[usize], c: usize| -> usize {
            let index: Vec<usize> = if first {
                [b, c].into_iter().chain(pos.iter().copied()).collect()
            } else {
                std::iter::once(b).chain(pos.iter().copied()).chain([c]).collect()
            };
            x.flat(&index)
        };
        let want: Vec<f64> = (0..got.len()).map(|i| {
            let o = out.index(i);
            let (f, pos) = if first { (o[1], &o[2..]) } else { (o[spatial + 1], &o[1..=spatial]) };
            let mut acc = if use_bias { bias.data[f] } else { 0.0 };
            for t in 0..taps {
                let k = Plain { shape: window.clone(), data: vec![] }.index(t);
                let src: Option<Vec<usize>> = (0..spatial).map(|a| {
                    let p = (pos[a] * strides[a] + k[a] * dilation[a]) as isize - geo[a].1 as isize;
                    (p >= 0 && p < sizes[a] as isize).then_some(p as usize)
                }).collect();
                let Some(src) = src else { continue };
                for c in 0..cg {
                    let input = x.data[at(o[0], &src, (f / fg) * cg + c)];
                    let kindex: Vec<usize> = k.iter().copied().chain([c, f]).collect();
                    acc += input * kernel.data[kernel.flat(&kindex)];
                }
            }
            acc
        }).collect();
        assert_close(&got, &want, &unit, "conv");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn transposed_conv_spreads_each_input_over_its_window(
        spatial in 1usize..=3, batch in 1usize..=2, seed: u64, first: bool, use_bias: bool,
        same: bool, channels in 1usize..=3, filters in 1usize..=3,
        axes in prop::collection::vec((1usize..=4, 1usize..=3, 1usize..=2, 1usize..=5, 0usize..=2), 3),
        with_output_padding: bool,
    ) {
        // Per axis: window, stride, dilation (only at stride 1, as Keras allows), input size,
        // output_padding (below the stride).
        let axes = &axes[..spatial];
        let window: Vec<usize> = axes.iter().map(|a| a.0).collect();
        let strides: Vec<usize> = axes.iter().map(|a| a.1).collect();
        let dilation: Vec<usize> = axes.iter().map(|a| if a.1 == 1 { a.2 } else { 1 }).collect();
        let sizes: Vec<usize> = axes.iter().map(|a| a.3).collect();
        let output_padding: Option<Vec<usize>> = with_output_padding
            .then(|| axes.iter().zip(&dilation).map(|(a, &d)| a.4 % a.1.max(d)).collect());
        let padding = if same { Padding::Same } else { Padding::Valid };
        // Keras's deconv_output_length and TensorFlow's rows-before rule.
        let geo: Vec<(usize, usize)> = (0..spatial).map(|a| {
            let (n, s, span) = (sizes[a], strides[a], (window[a] - 1) * dilation[a] + 1);
            let out = match (&output_padding, same) {
                (None, false) => n * s + span.saturating_sub(s),
                (None, true) => n * s,
                (Some(op), false) => (n - 1) * s + span + op[a],
                (Some(op), true) => (n - 1) * s + span - span / 2 * 2 + op[a],
            };
            let pad = if same { ((n - 1) * s + span).saturating_sub(out) / 2 } else { 0 };
            (out, pad)
        }).collect();
        prop_assume!(geo.iter().all(|g| g.0 > 0));
        let sample: Vec<usize> = if first {
            std::iter::once(channels).chain(sizes.iter().copied()).collect()
        } else {
            sizes.iter().copied().chain([channels]).collect()
        };
        let shape: Vec<usize> = std::iter::once(batch).chain(sample).collect();
        let x = plain(&shape, seed, 1.0);
        let kshape: Vec<usize> = window.iter().copied().chain([filters, channels]).collect();
        let kernel = plain(&kshape, seed ^ 1, 0.5);
        let bias = plain(&[filters], seed ^ 2, 0.5);
        let conv = Conv {
            filters, window: window.clone(), strides: strides.clone(), dilation: dilation.clone(),
            padding, groups: 1, channels_first: first, use_bias, activation: Activation::Linear,
            kind: ConvKind::Transpose { output_padding },
        };
        let weights: Vec<&Plain> = if use_bias { vec![&kernel, &bias] } else { vec![&kernel] };
        let got = run(&node(Op::Conv(conv), &[&x], &weights), &[&x]);
        let out_sample: Vec<usize> = if first {
            std::iter::once(filters).chain(geo.iter().map(|g| g.0)).collect()
        } else {
            geo.iter().map(|g| g.0).chain([filters]).collect()
        };
        let out_shape: Vec<usize> = std::iter::once(batch).chain(out_sample).collect();
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        // Scatter: every input value times every tap lands at input·stride + tap·dilation − pad.
        let mut out = Plain { shape: out_shape, data: vec![0.0; got.len()] };
        let place = |b: usize, pos: &[usize], c: usize| -> Vec<usize> {
            if first {
                [b, c].into_iter().chain(pos.iter().copied()).collect()
            } else {
                std::iter::once(b).chain(pos.iter().copied()).chain([c]).collect()
            }
        };
        let taps: usize = window.iter().product();
        for i in 0..x.data.len() {
            let xi = x.index(i);
            let (c, pos) = if first { (xi[1], &xi[2..]) } else { (xi[spatial + 1], &xi[1..=spatial]) };
            for t in 0..taps {
                let k = Plain { shape: window.clone(), data: vec![] }.index(t);
                let dst: Option<Vec<usize>> = (0..spatial).map(|a| {
                    let o = (pos[a] * strides[a] + k[a] * dilation[a]) as isize - geo[a].1 as isize;
                    (o >= 0 && o < geo[a].0 as isize).then_some(o as usize)
                }).collect();
                let Some(dst) = dst else { continue };
                for f in 0..filters {
                    let kindex: Vec<usize> = k.iter().copied().chain([f, c]).collect();
                    let at = out.flat(&place(xi[0], &dst, f));
                    out.data[at] += x.data[i] * kernel.data[kernel.flat(&kindex)];
                }
            }
        }
        if use_bias {
            for i in 0..out.data.len() {
                let o = out.index(i);
                out.data[i] += bias.data[if first { o[1] } else { o[spatial + 1] }];
            }
        }
        assert_close(&got, &out.data, &unit, "conv_transpose");
    }
}

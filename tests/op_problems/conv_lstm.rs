//! ConvLSTM1D/2D/3D against a float64 reference written from Keras's ConvLSTMCell: per step the
//! gates are the input convolution (strides, dilation, `valid`/`same` padding) plus the bias
//! plus the recurrent convolution of h (stride 1, `same`), then the LSTM update; either data
//! format, forwards and backwards, the sequence, the last h or a final state, from zeros or
//! given initial states.

use super::plain::*;
use proptest::prelude::*;

use keqv::graph::{Activation, Op};
use keqv::ops::window::Padding;
use keqv::ops::{Cell, Conv, ConvKind, Emit, Recurrent};

/// Spatial sizes and per axis (window, stride, dilation).
type Geometry = (Vec<usize>, Vec<(usize, usize, usize)>);

fn geometries() -> impl Strategy<Value = Geometry> {
    (1usize..=3).prop_flat_map(|spatial| {
        (
            prop::collection::vec(1usize..=4, spatial),
            prop::collection::vec((1usize..=3, 1usize..=2, 1usize..=2), spatial),
        )
    })
}

fn ravel(index: &[usize], dims: &[usize]) -> usize {
    index.iter().zip(dims).fold(0, |acc, (&i, &d)| acc * d + i)
}

fn unravel(mut flat: usize, dims: &[usize]) -> Vec<usize> {
    let mut index = vec![0; dims.len()];
    for (i, &d) in index.iter_mut().zip(dims).rev() {
        *i = flat % d;
        flat /= d;
    }
    index
}

/// An image's layout: spatial `dims`, `channels`, channels first or last.
struct Image<'a> {
    dims: &'a [usize],
    channels: usize,
    first: bool,
}

impl Image<'_> {
    fn len(&self) -> usize {
        self.dims.iter().product::<usize>() * self.channels
    }

    fn at(&self, position: &[usize], channel: usize) -> usize {
        let p = ravel(position, self.dims);
        if self.first {
            channel * self.dims.iter().product::<usize>() + p
        } else {
            p * self.channels + channel
        }
    }
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// Where tap `k` of output position `o` reads: per axis `o·stride + k·dilation − pad`; None in
/// the padding.
fn source(
    o: &[usize],
    k: &[usize],
    (strides, dilation, pad): (&[usize], &[usize], &[usize]),
    sizes: &[usize],
) -> Option<Vec<usize>> {
    (0..o.len())
        .map(|a| {
            let p = (o[a] * strides[a] + k[a] * dilation[a]) as i64 - pad[a] as i64;
            (p >= 0 && (p as usize) < sizes[a]).then_some(p as usize)
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conv_lstm_runs_keras_cell(
        (sizes, axes) in geometries(), channels in 1usize..=3, units in 1usize..=3,
        steps in 1usize..=4, batch in 1usize..=2, seed: u64, same: bool, first: bool,
        use_bias: bool, go_backwards: bool, return_sequences: bool, emit in 0usize..3,
        initial_state: bool,
    ) {
        let spatial = sizes.len();
        let padding = if same { Padding::Same } else { Padding::Valid };
        // Windows that fit under 'valid'; Keras refuses strides and dilation both above 1.
        let window: Vec<usize> = axes.iter().zip(&sizes).map(|(a, &n)| a.0.min(n)).collect();
        let strides: Vec<usize> = axes.iter().map(|a| a.1).collect();
        let dilation: Vec<usize> = axes.iter().zip(&window).zip(&sizes)
            .map(|((a, &w), &n)| if a.1 == 1 && (w - 1) * a.2 < n { a.2 } else { 1 })
            .collect();
        let geo: Vec<(usize, usize)> = (0..spatial).map(|a| {
            let (n, s, span) = (sizes[a], strides[a], (window[a] - 1) * dilation[a] + 1);
            if same {
                let out = n.div_ceil(s);
                (out, ((out - 1) * s + span).saturating_sub(n) / 2)
            } else {
                ((n - span) / s + 1, 0)
            }
        }).collect();
        let out: Vec<usize> = geo.iter().map(|g| g.0).collect();
        let pad: Vec<usize> = geo.iter().map(|g| g.1).collect();
        // The recurrent convolution's 'same' padding at stride 1: (window − 1)/2 before.
        let recurrent_pad: Vec<usize> = window.iter().map(|w| (w - 1) / 2).collect();
        let ones = vec![1; spatial];
        let input = Image { dims: &sizes, channels, first };
        let state = Image { dims: &out, channels: units, first };
        let image_shape = |im: &Image| -> Vec<usize> {
            if im.first {
                std::iter::once(im.channels).chain(im.dims.iter().copied()).collect()
            } else {
                im.dims.iter().copied().chain([im.channels]).collect()
            }
        };
        let width = 4 * units;
        let x_shape: Vec<usize> =
            [batch, steps].into_iter().chain(image_shape(&input)).collect();
        let x = plain(&x_shape, seed, 1.0);
        let kernel_shape: Vec<usize> = window.iter().copied().chain([channels, width]).collect();
        let kernel = plain(&kernel_shape, seed ^ 1, 0.5);
        let recurrent_shape: Vec<usize> = window.iter().copied().chain([units, width]).collect();
        let recurrent = plain(&recurrent_shape, seed ^ 2, 0.5);
        let bias = plain(&[width], seed ^ 3, 0.5);
        let state_shape: Vec<usize> = std::iter::once(batch).chain(image_shape(&state)).collect();
        let h0 = plain(&state_shape, seed ^ 4, 1.0);
        let c0 = plain(&state_shape, seed ^ 5, 1.0);
        let emit = [Emit::Output, Emit::StateH, Emit::StateC][emit];
        let r = Recurrent {
            cell: Cell::Lstm, units, activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid, use_bias, return_sequences, go_backwards,
            masked: false, zero_output_for_mask: false, reverse_output: false, initial_state,
            emit,
            conv: Some(Conv {
                filters: width, window: window.clone(), strides: strides.clone(),
                dilation: dilation.clone(), padding, groups: 1, channels_first: first, use_bias,
                activation: Activation::Linear, kind: ConvKind::Standard,
            }),
        };
        let mut inputs = vec![&x];
        if initial_state {
            inputs.extend([&h0, &c0]);
        }
        let mut weights = vec![&kernel, &recurrent];
        if use_bias {
            weights.push(&bias);
        }
        let got = run(&node(Op::Recurrent(r), &inputs, &weights), &inputs);

        // The reference, sample by sample, step by step.
        let taps: Vec<Vec<usize>> =
            (0..window.iter().product()).map(|t| unravel(t, &window)).collect();
        let positions: Vec<Vec<usize>> =
            (0..out.iter().product()).map(|p| unravel(p, &out)).collect();
        let mut want_sequence = Vec::new();
        let mut want_last = Vec::new();
        for b in 0..batch {
            let from = |p: &Plain| -> Vec<f64> {
                if initial_state {
                    p.data[b * state.len()..(b + 1) * state.len()].to_vec()
                } else {
                    vec![0.0; state.len()]
                }
            };
            let (mut h, mut c) = (from(&h0), from(&c0));
            let mut sequence = Vec::new();
            for s in 0..steps {
                let t = if go_backwards { steps - 1 - s } else { s };
                let x_at = |pos: &[usize], ch: usize| {
                    x.data[(b * steps + t) * input.len() + input.at(pos, ch)]
                };
                let (mut h_next, mut c_next) = (h.clone(), c.clone());
                for o in &positions {
                    for j in 0..units {
                        let mut z = [0.0; 4];
                        for (g, zg) in z.iter_mut().enumerate() {
                            let col = g * units + j;
                            *zg = if use_bias { bias.data[col] } else { 0.0 };
                            for (ti, k) in taps.iter().enumerate() {
                                let geometry = (&strides[..], &dilation[..], &pad[..]);
                                if let Some(p) = source(o, k, geometry, &sizes) {
                                    for ch in 0..channels {
                                        let w = kernel.data[(ti * channels + ch) * width + col];
                                        *zg += x_at(&p, ch) * w;
                                    }
                                }
                                let geometry = (&ones[..], &ones[..], &recurrent_pad[..]);
                                if let Some(p) = source(o, k, geometry, &out) {
                                    for ch in 0..units {
                                        let w = recurrent.data[(ti * units + ch) * width + col];
                                        *zg += h[state.at(&p, ch)] * w;
                                    }
                                }
                            }
                        }
                        let at = state.at(o, j);
                        c_next[at] = sigmoid(z[1]) * c[at] + sigmoid(z[0]) * z[2].tanh();
                        h_next[at] = sigmoid(z[3]) * c_next[at].tanh();
                    }
                }
                (h, c) = (h_next, c_next);
                sequence.extend_from_slice(&h);
            }
            want_sequence.extend(sequence);
            want_last.extend(if emit == Emit::StateC { c } else { h });
        }
        let sequences = return_sequences && emit == Emit::Output;
        let (want, shape) = if sequences {
            let shape: Vec<usize> =
                [batch, steps].into_iter().chain(image_shape(&state)).collect();
            (want_sequence, shape)
        } else {
            (want_last, state_shape)
        };
        prop_assert_eq!(got.shape(), shape.as_slice());
        // Each gate sums at most 27·3 + 27·3 terms below 0.5 in magnitude, float32 rounding
        // them by ~1e-6; the activations' slopes are at most 1, and c adds at most one such
        // error per step: 10× the dense tolerance covers 4 steps.
        assert_close(&got, &want, &|_| 10.0, "conv_lstm");
    }
}

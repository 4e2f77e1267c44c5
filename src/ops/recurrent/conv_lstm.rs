//! ConvLSTM1D/2D/3D: an LSTM over a sequence of images whose transforms are convolutions, as
//! Keras's ConvLSTMCell computes it: per step, the gates (i, f, c, o, `units` filters each) are
//! `conv(x_t, kernel) + bias + conv(h, recurrent_kernel)`, the input convolution with the
//! layer's strides, dilation and padding, the recurrent one with stride 1 and `same` padding
//! (so the state keeps the input convolution's output size). The state h and c are images of
//! `units` channels in the layer's data format.
//!
//! On the CPU the input convolution runs for every step at once (the steps as more samples),
//! then each step convolves h and updates the gates as the LSTM does.

use ndarray::{Array2, Array3, ArrayD, Axis, IxDyn};

use super::cpu::lstm_update;
use super::{common, Cell, Emit, Recurrent};
use crate::keras::Dialect;
use crate::ops::fields::{bool_field, channels_first, usize_field};
use crate::ops::window::{self, sizes, Padding};
use crate::ops::{Activation, Conv, ConvKind, Real, WeightSpec};

/// Reads a ConvLSTM layer whose input sample is `[steps, spatial…, channels]` (channels
/// before the spatial axes with `channels_first`).
pub(super) fn parse(
    class: &str,
    config: &serde_json::Value,
    input: &[usize],
    dialect: Dialect,
) -> Result<Recurrent, String> {
    let spatial = window::spatial_rank(class);
    if input.len() != spatial + 2 {
        return Err(format!(
            "{class} needs a sample of [steps, {spatial} spatial axes and the channels], got {input:?}"
        ));
    }
    let units =
        usize_field(config, "filters")?.ok_or(format!("{class} config has no 'filters'"))?;
    let one = || vec![1; spatial];
    let conv = Conv {
        filters: 4 * units,
        window: sizes(config, "kernel_size", spatial)?
            .ok_or(format!("{class} config has no 'kernel_size'"))?,
        strides: sizes(config, "strides", spatial)?.unwrap_or_else(one),
        dilation: sizes(config, "dilation_rate", spatial)?.unwrap_or_else(one),
        padding: Padding::parse(config.get("padding"), false)?,
        groups: 1,
        channels_first: channels_first(config)?,
        use_bias: bool_field(config, "use_bias", true)?,
        activation: Activation::Linear,
        kind: ConvKind::Standard,
    };
    conv.geometry(&input[1..])?;
    Ok(Recurrent {
        conv: Some(conv),
        ..common(class, config, Cell::Lstm, units, dialect)?
    })
}

/// The recurrent convolution: over h, stride 1, `same` padding, no bias.
pub fn recurrent_conv(conv: &Conv) -> Conv {
    let ones = vec![1; conv.window.len()];
    Conv {
        strides: ones.clone(),
        dilation: ones,
        padding: Padding::Same,
        use_bias: false,
        ..conv.clone()
    }
}

/// One step's image: the input sample without its steps axis.
fn image(input: &[usize]) -> &[usize] {
    input.get(1..).unwrap_or_default()
}

/// The state of one sample: the input convolution's output with `units` channels.
pub(super) fn state_shape(
    conv: &Conv,
    units: usize,
    input: &[usize],
) -> Result<Vec<usize>, String> {
    let mut shape = conv.output_shape(image(input))?;
    let channels = if conv.channels_first {
        0
    } else {
        shape.len() - 1
    };
    shape[channels] = units;
    Ok(shape)
}

pub(super) fn weights(conv: &Conv, units: usize, input: &[usize]) -> Vec<WeightSpec> {
    let image = image(input);
    let channels = match image {
        [] => 0,
        _ if conv.channels_first => image[0],
        _ => image[image.len() - 1],
    };
    let window = || conv.window.iter().copied();
    let mut w = vec![
        WeightSpec::new("kernel", window().chain([channels, 4 * units]).collect()),
        WeightSpec::new(
            "recurrent_kernel",
            window().chain([units, 4 * units]).collect(),
        ),
    ];
    if conv.use_bias {
        w.push(WeightSpec::new("bias", vec![4 * units]));
    }
    w
}

/// Per step, the input convolution's and the recurrent one's multiply–adds.
pub(super) fn macs(conv: &Conv, units: usize, input: &[usize]) -> u64 {
    let (Ok(gates), Ok(state)) = (
        conv.output_shape(image(input)),
        state_shape(conv, units, input),
    ) else {
        return 0;
    };
    let steps = input[0] as u64;
    steps * (conv.macs(image(input), &gates) + recurrent_conv(conv).macs(&state, &gates))
}

/// The layer over `x` `[batch, steps, image…]` from the initial states (`[batch, state…]`,
/// zeros when absent): the sequence of h in processing order, the last h, or a final state.
pub(super) fn eval<T: Real>(
    r: &Recurrent,
    conv: &Conv,
    x: &ArrayD<T>,
    initial: &[&ArrayD<T>],
    w: &[&ArrayD<T>],
) -> ArrayD<T> {
    // Channels last throughout; the results go back to channels first at the end.
    let first = conv.channels_first;
    let last = |c: Conv| Conv {
        channels_first: false,
        ..c
    };
    let (input_conv, state_conv) = (last(conv.clone()), last(recurrent_conv(conv)));
    let x = if first {
        channels_last(x, 2)
    } else {
        x.clone()
    };
    let (batch, steps, units) = (x.shape()[0], x.shape()[1], r.units);
    let images: Vec<usize> = std::iter::once(batch * steps)
        .chain(x.shape()[2..].iter().copied())
        .collect();
    let x = x
        .into_shape_with_order(IxDyn(&images))
        .expect("standard layout");
    let input_weights: Vec<&ArrayD<T>> = if r.use_bias {
        vec![w[0], w[2]]
    } else {
        vec![w[0]]
    };
    let projected = input_conv.eval(&x, &input_weights);
    let out_spatial = projected.shape()[1..projected.ndim() - 1].to_vec();
    let positions: usize = out_spatial.iter().product();
    let (rows, width) = (batch * positions, 4 * units);
    let projected = projected
        .into_shape_with_order((batch, steps, positions * width))
        .expect("one image per sample and step");
    let state_image: Vec<usize> = std::iter::once(batch)
        .chain(out_spatial.iter().copied())
        .chain([units])
        .collect();
    let state = |k: usize| match initial.get(k) {
        Some(s) => {
            let s = if first {
                channels_last(s, 1)
            } else {
                (*s).clone()
            };
            s.into_shape_with_order((rows, units))
                .expect("a state of the layer's shape, checked when built")
        }
        None => Array2::<T>::zeros((rows, units)),
    };
    let (mut h, mut c) = (state(0), state(1));
    let mut sequence = r
        .return_sequences
        .then(|| Array3::<T>::zeros((batch, steps, positions * units)));
    for s in 0..steps {
        let t = if r.go_backwards { steps - 1 - s } else { s };
        let mut z = projected
            .index_axis(Axis(1), t)
            .to_owned()
            .into_shape_with_order((rows, width))
            .expect("standard layout");
        let h_image = h
            .clone()
            .into_shape_with_order(IxDyn(&state_image))
            .expect("one image per sample");
        let recurrent = state_conv.eval(&h_image, &[w[1]]);
        z += &recurrent
            .into_shape_with_order((rows, width))
            .expect("standard layout");
        lstm_update(r, &mut z, &mut c, &mut h);
        if let Some(seq) = sequence.as_mut() {
            let h_rows = h.view().into_shape_with_order((batch, positions * units));
            seq.index_axis_mut(Axis(1), s)
                .assign(&h_rows.expect("standard layout"));
        }
    }
    let (value, leading) = match (r.emit, sequence) {
        (Emit::StateC, _) => (c.into_dyn(), vec![batch]),
        (Emit::Output, Some(seq)) => (seq.into_dyn(), vec![batch, steps]),
        _ => (h.into_dyn(), vec![batch]),
    };
    let shape: Vec<usize> = leading
        .iter()
        .chain(&out_spatial)
        .chain([&units])
        .copied()
        .collect();
    let value = value
        .into_shape_with_order(IxDyn(&shape))
        .expect("one image per row");
    if first {
        channels_first_at(value, leading.len())
    } else {
        value
    }
}

/// `x` with its axis `axis` (the channels) moved last, in standard layout.
fn channels_last<T: Real>(x: &ArrayD<T>, axis: usize) -> ArrayD<T> {
    let mut order: Vec<usize> = (0..x.ndim()).filter(|&a| a != axis).collect();
    order.push(axis);
    x.view()
        .permuted_axes(IxDyn(&order))
        .as_standard_layout()
        .into_owned()
}

/// `x` with its last axis (the channels) moved to `axis`, in standard layout.
fn channels_first_at<T: Real>(x: ArrayD<T>, axis: usize) -> ArrayD<T> {
    let last = x.ndim() - 1;
    let order: Vec<usize> = (0..axis).chain([last]).chain(axis..last).collect();
    x.permuted_axes(IxDyn(&order))
        .as_standard_layout()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(config: serde_json::Value, input: &[usize]) -> Result<Recurrent, String> {
        parse("ConvLSTM2D", &config, input, Dialect::Keras3)
    }

    #[test]
    fn the_state_is_the_input_convolutions_image() {
        let config = json!({"filters": 3, "kernel_size": [3, 3], "strides": [2, 1],
                            "padding": "same", "return_sequences": true});
        let r = parsed(config, &[4, 7, 6, 2]).unwrap();
        assert_eq!(r.state_shape(&[4, 7, 6, 2]), Ok(vec![4, 6, 3]));
        assert_eq!(r.output_shape(&[4, 7, 6, 2]), Ok(vec![4, 4, 6, 3]));
        let shapes: Vec<Vec<usize>> = r
            .weights(&[4, 7, 6, 2])
            .into_iter()
            .map(|w| w.shape)
            .collect();
        assert_eq!(shapes, [vec![3, 3, 2, 12], vec![3, 3, 3, 12], vec![12]]);
        let config = json!({"filters": 2, "kernel_size": 3, "data_format": "channels_first"});
        let r = parsed(config, &[4, 2, 6, 5]).unwrap();
        assert_eq!(r.output_shape(&[4, 2, 6, 5]), Ok(vec![2, 4, 3]));
    }

    #[test]
    fn what_keqv_cannot_run_is_refused_with_its_reason() {
        let stateful = json!({"filters": 3, "kernel_size": 3, "stateful": true});
        assert!(parsed(stateful, &[4, 6, 6, 2])
            .unwrap_err()
            .contains("stateful=True"));
        let causal = json!({"filters": 3, "kernel_size": 3, "padding": "causal"});
        assert!(parsed(causal, &[4, 6, 6, 2])
            .unwrap_err()
            .contains("\"causal\""));
        let flat = json!({"filters": 3, "kernel_size": 3});
        assert!(parsed(flat, &[4, 6]).unwrap_err().contains("spatial axes"));
        let too_big = json!({"filters": 3, "kernel_size": 5});
        assert!(parsed(too_big, &[4, 3, 3, 2])
            .unwrap_err()
            .contains("does not fit"));
    }
}

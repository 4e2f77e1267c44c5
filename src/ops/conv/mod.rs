//! Convolution: Conv1D, Conv2D and Conv3D (strides, dilation, groups, `valid`/`same`/`causal`
//! padding, either data format), then the bias and the activation.

mod cpu;

use ndarray::ArrayD;
use serde::Serialize;
use serde_json::Value;

use super::activation::activation_field;
use super::fields::{bool_field, channels_first, usize_field};
use super::window::{self, sizes, Padding};
use super::{Activation, Op, Real, WeightSpec};
use crate::keras::Dialect;

/// Weights: kernel `[window…, channels / groups, filters]` (Keras's layout in either data
/// format), then bias `[filters]` when `use_bias`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conv {
    pub filters: usize,
    /// Per spatial axis: window size, stride and dilation.
    pub window: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilation: Vec<usize>,
    pub padding: Padding,
    pub groups: usize,
    pub channels_first: bool,
    pub use_bias: bool,
    pub activation: Activation,
}

/// The geometry of one convolution over a given input.
pub struct ConvGeometry {
    pub channels: usize,
    /// Per spatial axis: input size, output size and rows padded before.
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub pad: Vec<usize>,
}

pub const CLASSES: &[&str] = &["Conv1D", "Conv2D", "Conv3D"];

pub fn parse(class: &str, config: &Value, dialect: Dialect) -> Result<Op, String> {
    let spatial = match class {
        "Conv1D" => 1,
        "Conv2D" => 2,
        _ => 3,
    };
    let window = sizes(config, "kernel_size", spatial)?.ok_or("the config has no 'kernel_size'")?;
    let one = || vec![1; spatial];
    Ok(Op::Conv(Conv {
        filters: usize_field(config, "filters")?.ok_or("the config has no 'filters'")?,
        strides: sizes(config, "strides", spatial)?.unwrap_or_else(one),
        dilation: sizes(config, "dilation_rate", spatial)?.unwrap_or_else(one),
        window,
        padding: Padding::parse(config.get("padding"), spatial == 1)?,
        groups: usize_field(config, "groups")?.unwrap_or(1).max(1),
        channels_first: channels_first(config)?,
        use_bias: bool_field(config, "use_bias", true)?,
        activation: activation_field(config, dialect)?,
    }))
}

impl Conv {
    pub fn name(&self) -> String {
        let base = format!("conv{}d", self.window.len());
        match self.activation {
            Activation::Linear => base,
            a => format!("{base}+{}", a.name()),
        }
    }

    /// The input's channels and spatial sizes, and the output's, checked against the layer.
    pub fn geometry(&self, input: &[usize]) -> Result<ConvGeometry, String> {
        let spatial = self.window.len();
        if input.len() != spatial + 1 {
            return Err(format!(
                "a {spatial}-D convolution needs a sample with {} axes, got {input:?}",
                spatial + 1
            ));
        }
        let (channels, sizes) = if self.channels_first {
            (input[0], &input[1..])
        } else {
            (input[spatial], &input[..spatial])
        };
        if !channels.is_multiple_of(self.groups) || !self.filters.is_multiple_of(self.groups) {
            return Err(format!(
                "{channels} input channels and {} filters do not split into {} groups",
                self.filters, self.groups
            ));
        }
        let mut geometry = ConvGeometry {
            channels,
            input: sizes.to_vec(),
            output: Vec::new(),
            pad: Vec::new(),
        };
        for (a, &n) in sizes.iter().enumerate() {
            let (out, pad) = window::axis(
                n,
                self.window[a],
                self.strides[a],
                self.dilation[a],
                self.padding,
            )?;
            geometry.output.push(out);
            geometry.pad.push(pad);
        }
        Ok(geometry)
    }

    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        let out = self.geometry(input)?.output;
        Ok(if self.channels_first {
            std::iter::once(self.filters).chain(out).collect()
        } else {
            out.into_iter().chain([self.filters]).collect()
        })
    }

    pub fn weights(&self, input: &[usize]) -> Result<Vec<WeightSpec>, String> {
        let channels = self.geometry(input)?.channels;
        let kernel = self
            .window
            .iter()
            .copied()
            .chain([channels / self.groups, self.filters])
            .collect();
        let mut w = vec![WeightSpec::new("kernel", kernel)];
        if self.use_bias {
            w.push(WeightSpec::new("bias", vec![self.filters]));
        }
        Ok(w)
    }

    /// One multiply–add per output value, kernel tap and input channel of its group.
    pub fn macs(&self, input: &[usize], output: &[usize]) -> u64 {
        let Ok(geometry) = self.geometry(input) else {
            return 0;
        };
        let taps: usize = self.window.iter().product();
        (output.iter().product::<usize>() * taps * geometry.channels / self.groups) as u64
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, weights: &[&ArrayD<T>]) -> ArrayD<T> {
        let geometry = self.geometry(&x.shape()[1..]).expect("checked when built");
        let bias = self.use_bias.then(|| weights[1]);
        let mut y = cpu::conv(self, &geometry, x, weights[0], bias);
        if self.channels_first {
            y = cpu::channels_first(y);
        }
        // After the layout: a softmax activation runs over the output's last axis.
        self.activation.apply(&mut y);
        y
    }
}

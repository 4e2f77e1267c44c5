//! Convolution: Conv1D/2D/3D (strides, dilation, groups, `valid`/`same`/`causal` padding,
//! either data format), DepthwiseConv1D/2D and SeparableConv1D/2D, Conv1D/2D/3DTranspose, then
//! the bias and the activation. A depthwise convolution is a grouped one (a group per input
//! channel; Keras's `[window…, channels, multiplier]` kernel is the grouped kernel's layout), a
//! separable one is that followed by a 1×1 convolution, and a transposed one spreads each input
//! row over its window (the gradient of a convolution with the same settings).

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
    pub kind: ConvKind,
}

/// Which Keras convolution, for its weights (`groups` is the input channels for depthwise and
/// separable ones).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvKind {
    Standard,
    Depthwise {
        multiplier: usize,
    },
    /// `filters` are the pointwise convolution's.
    Separable {
        multiplier: usize,
    },
    /// Kernel `[window…, filters, channels]`; `output_padding` rows added after each axis.
    Transpose {
        output_padding: Option<Vec<usize>>,
    },
}

/// The geometry of one convolution over a given input.
pub struct ConvGeometry {
    pub channels: usize,
    /// Per spatial axis: input size, output size and rows padded before.
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub pad: Vec<usize>,
}

pub const CLASSES: &[&str] = &[
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
];

/// Reads a convolution layer whose input sample shape is `input`.
pub fn parse(class: &str, config: &Value, input: &[usize], dialect: Dialect) -> Result<Op, String> {
    let spatial = window::spatial_rank(class.trim_end_matches("Transpose"));
    let first = channels_first(config)?;
    let channels = if first { input.first() } else { input.last() };
    let channels = *channels.ok_or("a convolution needs an input with channels")?;
    let multiplier = || -> Result<usize, String> {
        Ok(usize_field(config, "depth_multiplier")?.unwrap_or(1).max(1))
    };
    let (kind, groups, filters) = if class.starts_with("Depthwise") {
        let m = multiplier()?;
        (
            ConvKind::Depthwise { multiplier: m },
            channels,
            channels * m,
        )
    } else {
        let filters = usize_field(config, "filters")?.ok_or("the config has no 'filters'")?;
        if class.starts_with("Separable") {
            (
                ConvKind::Separable {
                    multiplier: multiplier()?,
                },
                channels,
                filters,
            )
        } else if class.ends_with("Transpose") {
            let output_padding = window::per_axis(config, "output_padding", spatial, 0)?;
            (ConvKind::Transpose { output_padding }, 1, filters)
        } else {
            let groups = usize_field(config, "groups")?.unwrap_or(1).max(1);
            (ConvKind::Standard, groups, filters)
        }
    };
    let window = sizes(config, "kernel_size", spatial)?.ok_or("the config has no 'kernel_size'")?;
    let one = || vec![1; spatial];
    Ok(Op::Conv(Conv {
        filters,
        strides: sizes(config, "strides", spatial)?.unwrap_or_else(one),
        dilation: sizes(config, "dilation_rate", spatial)?.unwrap_or_else(one),
        window,
        padding: Padding::parse(config.get("padding"), spatial == 1)?,
        groups,
        channels_first: first,
        use_bias: bool_field(config, "use_bias", true)?,
        activation: activation_field(config, dialect)?,
        kind,
    }))
}

impl Conv {
    pub fn name(&self) -> String {
        let (prefix, suffix) = match self.kind {
            ConvKind::Standard => ("", ""),
            ConvKind::Depthwise { .. } => ("depthwise_", ""),
            ConvKind::Separable { .. } => ("separable_", ""),
            ConvKind::Transpose { .. } => ("", "_transpose"),
        };
        let base = format!("{prefix}conv{}d{suffix}", self.window.len());
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
        let per_channel = matches!(
            self.kind,
            ConvKind::Depthwise { .. } | ConvKind::Separable { .. }
        );
        if per_channel && channels != self.groups {
            return Err(format!(
                "the layer was built for {} input channels, this call has {channels}",
                self.groups
            ));
        }
        let split_filters = matches!(self.kind, ConvKind::Separable { .. })
            || self.filters.is_multiple_of(self.groups);
        if !channels.is_multiple_of(self.groups) || !split_filters {
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
            let (size, stride, dilation) = (self.window[a], self.strides[a], self.dilation[a]);
            let (out, pad) = match &self.kind {
                ConvKind::Transpose { output_padding } => {
                    let extra = output_padding.as_ref().map(|p| p[a]);
                    if extra.is_some_and(|e| e >= stride.max(dilation)) {
                        return Err(format!(
                            "output_padding {extra:?} must be smaller than the stride {stride} (and the dilation {dilation})"
                        ));
                    }
                    window::transposed_axis(n, size, stride, dilation, self.padding, extra)?
                }
                _ => window::axis(n, size, stride, dilation, self.padding)?,
            };
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
        let window = || self.window.iter().copied();
        let mut w = match self.kind {
            ConvKind::Standard => vec![WeightSpec::new(
                "kernel",
                window()
                    .chain([channels / self.groups, self.filters])
                    .collect(),
            )],
            ConvKind::Transpose { .. } => vec![WeightSpec::new(
                "kernel",
                window().chain([self.filters, channels]).collect(),
            )],
            ConvKind::Depthwise { multiplier } => vec![WeightSpec::new(
                "depthwise_kernel",
                window().chain([channels, multiplier]).collect(),
            )],
            ConvKind::Separable { multiplier } => vec![
                WeightSpec::new(
                    "depthwise_kernel",
                    window().chain([channels, multiplier]).collect(),
                ),
                WeightSpec::new(
                    "pointwise_kernel",
                    self.window
                        .iter()
                        .map(|_| 1)
                        .chain([channels * multiplier, self.filters])
                        .collect(),
                ),
            ],
        };
        if self.use_bias {
            w.push(WeightSpec::new("bias", vec![self.filters]));
        }
        Ok(w)
    }

    /// A separable convolution's two stages as plain convolutions: the depthwise one (no bias,
    /// no activation) and the 1×1 one.
    pub fn separable_stages(&self) -> Option<(Conv, Conv)> {
        let ConvKind::Separable { multiplier } = self.kind else {
            return None;
        };
        let depthwise = Conv {
            filters: self.groups * multiplier,
            use_bias: false,
            activation: Activation::Linear,
            kind: ConvKind::Standard,
            ..self.clone()
        };
        let ones = vec![1; self.window.len()];
        let pointwise = Conv {
            window: ones.clone(),
            strides: ones.clone(),
            dilation: ones,
            padding: Padding::Valid,
            groups: 1,
            kind: ConvKind::Standard,
            ..self.clone()
        };
        Some((depthwise, pointwise))
    }

    /// One multiply–add per output value, kernel tap and input channel of its group.
    pub fn macs(&self, input: &[usize], output: &[usize]) -> u64 {
        if let Some((depthwise, pointwise)) = self.separable_stages() {
            let Ok(mid) = depthwise.output_shape(input) else {
                return 0;
            };
            return depthwise.macs(input, &mid) + pointwise.macs(&mid, output);
        }
        let Ok(geometry) = self.geometry(input) else {
            return 0;
        };
        let taps: usize = self.window.iter().product();
        if let ConvKind::Transpose { .. } = self.kind {
            // Every input value meets every tap and filter.
            return (input.iter().product::<usize>() * taps * self.filters) as u64;
        }
        (output.iter().product::<usize>() * taps * geometry.channels / self.groups) as u64
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, weights: &[&ArrayD<T>]) -> ArrayD<T> {
        if let Some((depthwise, pointwise)) = self.separable_stages() {
            let mid = depthwise.eval(x, &weights[..1]);
            return pointwise.eval(&mid, &weights[1..]);
        }
        let geometry = self.geometry(&x.shape()[1..]).expect("checked when built");
        let bias = self.use_bias.then(|| weights[1]);
        let mut y = match self.kind {
            ConvKind::Transpose { .. } => cpu::conv_transpose(self, &geometry, x, weights[0], bias),
            _ => cpu::conv(self, &geometry, x, weights[0], bias),
        };
        if self.channels_first {
            y = cpu::channels_first(y);
        }
        // After the layout: a softmax activation runs over the output's last axis.
        self.activation.apply(&mut y);
        y
    }
}

//! Resampling of the spatial axes: UpSampling1D/2D/3D (nearest or, in 2-D, bilinear), Resizing
//! (nearest or bilinear, optionally after a centred crop to the target's aspect ratio) and
//! CenterCrop (a crop, or the crop-then-resize of `smart_resize` when the target is larger).
//! One rule for all: output row o of an axis samples source position (o + ½)·len/out − ½ of a
//! window of `len` rows from `start` (TensorFlow's and jax's half-pixel centres, no antialias)
//! of the input with `pad` rows of the fill value added on both sides (Keras 3's
//! `pad_to_aspect_ratio`).

mod cpu;

use ndarray::ArrayD;
use serde::Serialize;
use serde_json::Value;

use super::fields::{channels_first, usize_field};
use super::window::{sizes, spatial_rank};
use super::{Op, Pad, Real};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    Nearest,
    Bilinear,
}

/// One spatial axis: the rows of fill added on both sides, the window sampled (in the padded
/// rows) and the output size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ResampleAxis {
    pub pad: usize,
    pub start: usize,
    pub len: usize,
    pub out: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Resample {
    pub interpolation: Interpolation,
    pub channels_first: bool,
    /// The value of padded rows.
    pub fill: f32,
    /// What the layer asks of each spatial axis, resolved against the input by `axes`.
    pub target: Target,
}

/// The layer's request, independent of the input size.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// UpSampling: each axis times its factor.
    Factors(Vec<usize>),
    /// Resizing / CenterCrop's resize: (height, width), after a centred crop to the target's
    /// aspect ratio, or padding to it.
    Size {
        height: usize,
        width: usize,
        aspect: Aspect,
    },
}

/// How Resizing meets the target's aspect ratio before resizing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    Stretch,
    Crop,
    Pad,
}

pub const CLASSES: &[&str] = &[
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "Resizing",
    "CenterCrop",
];

/// Reads a resampling layer whose input sample shape is `input`.
pub fn parse(class: &str, config: &Value, input: &[usize]) -> Result<Op, String> {
    let first = channels_first(config)?;
    let spatial = match class {
        "Resizing" | "CenterCrop" => 2,
        _ => spatial_rank(class),
    };
    if input.len() != spatial + 1 {
        return Err(format!(
            "{class} needs a sample with {} axes ({spatial} spatial and the channels), got {input:?}",
            spatial + 1
        ));
    }
    let interpolation = match config.get("interpolation").and_then(Value::as_str) {
        None | Some("nearest") if class.starts_with("UpSampling") => Interpolation::Nearest,
        None | Some("bilinear") => Interpolation::Bilinear,
        Some("nearest") => Interpolation::Nearest,
        Some(other) => {
            return Err(format!(
                "interpolation '{other}' is not supported by keqv yet; it runs 'nearest' and 'bilinear'"
            ))
        }
    };
    let size = |key: &str| -> Result<usize, String> {
        usize_field(config, key)?.ok_or_else(|| format!("{class} config has no '{key}'"))
    };
    let target = match class {
        "Resizing" => {
            let flag = |key: &str| config.get(key).and_then(Value::as_bool) == Some(true);
            if flag("antialias") && interpolation != Interpolation::Nearest {
                return Err(
                    "Resizing with 'antialias' is not supported by keqv yet; it runs resizing without antialiasing".into(),
                );
            }
            let aspect = match (flag("crop_to_aspect_ratio"), flag("pad_to_aspect_ratio")) {
                (true, _) => Aspect::Crop,
                (false, true) => Aspect::Pad,
                _ => Aspect::Stretch,
            };
            Target::Size {
                height: size("height")?,
                width: size("width")?,
                aspect,
            }
        }
        "CenterCrop" => {
            let (height, width) = (size("height")?, size("width")?);
            let (h, w) = if first {
                (input[1], input[2])
            } else {
                (input[0], input[1])
            };
            if height <= h && width <= w {
                // A plain centred crop: a pad by negative amounts.
                let (top, left) = ((h - height) / 2, (w - width) / 2);
                let amounts = [(top, h - height - top), (left, w - width - left)];
                let mut before = vec![0; 3];
                let mut after = vec![0; 3];
                for (k, (b, a)) in amounts.into_iter().enumerate() {
                    before[usize::from(first) + k] = -(b as i64);
                    after[usize::from(first) + k] = -(a as i64);
                }
                return Ok(Op::Pad(Pad { before, after }));
            }
            Target::Size {
                height,
                width,
                aspect: Aspect::Crop,
            }
        }
        _ => Target::Factors(sizes(config, "size", spatial)?.unwrap_or(vec![2; spatial])),
    };
    let fill = match config.get("fill_value") {
        None | Some(Value::Null) => 0.0,
        Some(v) => v.as_f64().ok_or("'fill_value' is not a number")? as f32,
    };
    Ok(Op::Resample(Resample {
        interpolation,
        channels_first: first,
        fill,
        target,
    }))
}

impl Resample {
    pub fn name(&self) -> &'static str {
        match (&self.target, self.interpolation) {
            (Target::Factors(_), Interpolation::Nearest) => "upsample_nearest",
            (Target::Factors(_), Interpolation::Bilinear) => "upsample_bilinear",
            (Target::Size { .. }, Interpolation::Nearest) => "resize_nearest",
            (Target::Size { .. }, Interpolation::Bilinear) => "resize_bilinear",
        }
    }

    /// The spatial sizes of a sample.
    fn spatial<'a>(&self, input: &'a [usize]) -> &'a [usize] {
        if self.channels_first {
            &input[1..]
        } else {
            &input[..input.len() - 1]
        }
    }

    /// Each spatial axis's source window and output size over `input`.
    pub fn axes(&self, input: &[usize]) -> Result<Vec<ResampleAxis>, String> {
        let sizes = self.spatial(input);
        match &self.target {
            Target::Factors(f) => Ok(sizes
                .iter()
                .zip(f)
                .map(|(&n, &k)| ResampleAxis {
                    pad: 0,
                    start: 0,
                    len: n,
                    out: n * k,
                })
                .collect()),
            Target::Size {
                height,
                width,
                aspect,
            } => {
                let (h, w) = (sizes[0], sizes[1]);
                if *height == 0 || *width == 0 {
                    return Err("a target size of 0".into());
                }
                // Keras: the rows the target's aspect ratio asks for (`int` of the float).
                let (th, tw) = (
                    ((w * height) as f64 / *width as f64) as usize,
                    ((h * width) as f64 / *height as f64) as usize,
                );
                let axis = |n: usize, want: usize, out: usize| match aspect {
                    Aspect::Stretch => ResampleAxis {
                        pad: 0,
                        start: 0,
                        len: n,
                        out,
                    },
                    // The largest centred window of that ratio.
                    Aspect::Crop => {
                        let len = want.min(n).max(1);
                        ResampleAxis {
                            pad: 0,
                            start: (n - len) / 2,
                            len,
                            out,
                        }
                    }
                    // Fill added on both sides, half the difference each (rounded down).
                    Aspect::Pad => {
                        let pad = want.saturating_sub(n) / 2;
                        ResampleAxis {
                            pad,
                            start: 0,
                            len: n + 2 * pad,
                            out,
                        }
                    }
                };
                Ok(vec![axis(h, th, *height), axis(w, tw, *width)])
            }
        }
    }

    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        let out = self.axes(input)?.into_iter().map(|a| a.out);
        Ok(if self.channels_first {
            std::iter::once(input[0]).chain(out).collect()
        } else {
            out.chain([input[input.len() - 1]]).collect()
        })
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, out_shape: &[usize]) -> ArrayD<T> {
        let axes = self.axes(&x.shape()[1..]).expect("checked when built");
        cpu::resample(self, &axes, x, out_shape)
    }
}

/// Output row `o` of an axis: its nearest source row (in the padded rows, within the window),
/// in float32 as TensorFlow and jax compute it.
pub fn nearest(axis: &ResampleAxis, o: usize) -> usize {
    let scale = axis.len as f32 / axis.out as f32;
    let at = ((o as f32 + 0.5) * scale).floor() as usize;
    axis.start + at.min(axis.len - 1)
}

/// Output row `o` of an axis: the two source rows it lies between and the weight of the
/// second, clamped to the window (float32).
pub fn bilinear(axis: &ResampleAxis, o: usize) -> (usize, usize, f32) {
    let scale = axis.len as f32 / axis.out as f32;
    let x = (o as f32 + 0.5) * scale - 0.5;
    let floor = x.floor();
    let lo = (floor.max(0.0) as usize).min(axis.len - 1);
    let hi = (x.ceil().max(0.0) as usize).min(axis.len - 1);
    (axis.start + lo, axis.start + hi, x - floor)
}

//! Layout: layers that move values without computing. Identity (Dropout, the noise and
//! augmentation layers at inference), Reshape and Flatten, Permute (and Flatten of a
//! channels-first tensor, which moves the channels last first), RepeatVector.

use ndarray::{ArrayD, IxDyn};
use serde::Serialize;
use serde_json::Value;

use super::fields::{channels_first, int_list, usize_field};
use super::{Op, Real};

/// Per-sample reshape to `shape` (row-major order kept).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reshape {
    pub shape: Vec<usize>,
}

/// Permutes the per-sample axes: output axis i+1 takes input axis `dims[i]` (absolute); with
/// `flatten`, the result is then flattened (Flatten of a channels-first tensor).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Permute {
    pub dims: Vec<usize>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flatten: bool,
}

/// RepeatVector: a `[features]` sample becomes `[times, features]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Repeat {
    pub times: usize,
}

/// Layers that are the identity at inference.
pub const IDENTITY_CLASSES: &[&str] = &[
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
    "StochasticDepth",
];

pub const CLASSES: &[&str] = &["Flatten", "Reshape", "Permute", "RepeatVector"];

/// Reads Flatten, Reshape or Permute, whose (first) input sample shape is `input`.
pub fn parse(class: &str, config: &Value, input: &[usize]) -> Result<Op, String> {
    Ok(match class {
        "Flatten" => {
            let size = crate::tensor::checked_len(input)
                .ok_or_else(|| format!("Flatten of a {input:?} sample overflows"))?;
            if channels_first(config)? && input.len() > 1 {
                // Keras moves the channels last before flattening.
                let dims = (2..=input.len()).chain([1]).collect();
                return Ok(Op::Permute(Permute {
                    dims,
                    flatten: true,
                }));
            }
            Op::Reshape(Reshape { shape: vec![size] })
        }
        "RepeatVector" => {
            if input.len() != 1 {
                return Err(format!(
                    "RepeatVector needs a sample of one axis, got {input:?}"
                ));
            }
            let times = usize_field(config, "n")?.ok_or("RepeatVector config has no 'n'")?;
            Op::Repeat(Repeat { times })
        }
        "Reshape" => {
            let target = int_list(config, "target_shape")?
                .ok_or("Reshape config has no 'target_shape' list")?;
            Op::Reshape(Reshape {
                shape: resolve_target(input, &target)?,
            })
        }
        _ => Op::Permute(Permute {
            dims: int_list(config, "dims")?
                .ok_or("Permute config has no 'dims' list")?
                .into_iter()
                .map(|d| {
                    usize::try_from(d).map_err(|_| "Permute dims holds a negative axis".to_string())
                })
                .collect::<Result<_, _>>()?,
            flatten: false,
        }),
    })
}

impl Reshape {
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        if crate::tensor::checked_len(input) != crate::tensor::checked_len(&self.shape) {
            return Err(format!(
                "cannot reshape a {input:?} sample into {:?}",
                self.shape
            ));
        }
        Ok(self.shape.clone())
    }
}

impl Permute {
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        let mut sorted = self.dims.clone();
        sorted.sort_unstable();
        if sorted != (1..=input.len()).collect::<Vec<_>>() {
            return Err(format!(
                "Permute dims {:?} are not a permutation of the {} sample axes",
                self.dims,
                input.len()
            ));
        }
        let permuted: Vec<usize> = self.dims.iter().map(|&d| input[d - 1]).collect();
        Ok(if self.flatten {
            vec![permuted.iter().product()]
        } else {
            permuted
        })
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, out_shape: &[usize]) -> ArrayD<T> {
        let axes: Vec<usize> = std::iter::once(0)
            .chain(self.dims.iter().copied())
            .collect();
        let y = x
            .view()
            .permuted_axes(IxDyn(&axes))
            .as_standard_layout()
            .into_owned();
        reshape(&y, out_shape)
    }
}

impl Repeat {
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        Ok(vec![self.times, input[0]])
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, out_shape: &[usize]) -> ArrayD<T> {
        let (batch, features) = (x.shape()[0], x.shape()[1]);
        x.view()
            .into_shape_with_order((batch, 1, features))
            .expect("one axis per sample")
            .broadcast((batch, self.times, features))
            .expect("repeat along the new axis")
            .to_owned()
            .into_shape_with_order(IxDyn(out_shape))
            .expect("shape checked when built")
    }
}

pub fn reshape<T: Real>(x: &ArrayD<T>, out_shape: &[usize]) -> ArrayD<T> {
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(out_shape))
        .expect("reshape sizes checked when the graph was built")
}

/// Resolves a Keras Reshape target (per sample, one entry may be −1) against the input size.
fn resolve_target(input: &[usize], target: &[i64]) -> Result<Vec<usize>, String> {
    let total = crate::tensor::checked_len(input)
        .ok_or_else(|| format!("Reshape input {input:?} overflows"))?;
    let known = target
        .iter()
        .filter(|&&d| d != -1)
        .try_fold(1i64, |acc, &d| acc.checked_mul(d));
    let unknown = target.iter().filter(|&&d| d == -1).count();
    let known = match known {
        Some(k) if k > 0 && unknown <= 1 && !target.iter().any(|&d| d < -1 || d == 0) => k,
        _ => return Err(format!("Reshape target {target:?} is not valid")),
    };
    let resolved: Vec<usize> = target
        .iter()
        .map(|&d| {
            if d == -1 {
                total / known as usize
            } else {
                d as usize
            }
        })
        .collect();
    if crate::tensor::checked_len(&resolved) != Some(total) {
        return Err(format!(
            "cannot reshape {} values per sample (shape {input:?}) into {target:?}",
            total
        ));
    }
    Ok(resolved)
}

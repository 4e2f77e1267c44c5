//! Per-feature affine maps: Rescaling (`x·scale + offset`), Normalization (`(x − mean) /
//! max(√variance, 1e-7)`, or inverted `mean + x·max(√variance, 1e-7)`), ConvNeXt's
//! LayerScale (`x·gamma`) and an op layer's `x + c`, `x − c`, `c − x`, `x·c`, `x / c`. Each is `((x − sub) / div)·mul + add` with constants along some
//! sample axes; the four are chosen so that the one formula rounds exactly as Keras's own.

use ndarray::{ArrayD, IxDyn, Zip};
use serde::Serialize;
use serde_json::Value;

use super::fields::{axes, bool_field};
use super::{Op, Real, WeightSpec};

/// Where the constants come from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleKind {
    /// Rescaling: scale and offset from the config (a scalar, or one per last-axis feature).
    Rescale { scale: Vec<f32>, offset: Vec<f32> },
    /// Normalization with mean and variance in the config (None: the weights `mean`,
    /// `variance`, `count`).
    Normalize {
        stats: Option<(Vec<f32>, Vec<f32>)>,
        invert: bool,
    },
    /// LayerScale: the weight `gamma` along the last axis.
    LayerScale,
    /// An op layer's arithmetic with a number.
    Constant { arith: Arith, value: f32 },
}

/// `x + c`, `x − c`, `c − x`, `x·c`, `x / c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arith {
    Add,
    Subtract,
    SubtractFrom,
    Multiply,
    Divide,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scale {
    pub kind: ScaleKind,
    /// The sample axes (absolute) the constants vary along; empty for scalars.
    pub axes: Vec<usize>,
}

/// The four constants of `((x − sub) / div)·mul + add`, each over the scale's axes.
pub struct Affine {
    pub sub: Vec<f32>,
    pub div: Vec<f32>,
    pub mul: Vec<f32>,
    pub add: Vec<f32>,
}

pub const CLASSES: &[&str] = &["Rescaling", "Normalization", "LayerScale"];

/// Keras's `backend.epsilon()`, the floor of Normalization's standard deviation.
const STD_FLOOR: f32 = 1e-7;

/// Reads one of the classes; `rank` counts the batch axis.
pub fn parse(class: &str, config: &Value, rank: usize) -> Result<Op, String> {
    let last = vec![rank - 1];
    Ok(Op::Scale(match class {
        "Rescaling" => {
            let scale = numbers(config, "scale")?.unwrap_or(vec![1.0]);
            let offset = numbers(config, "offset")?.unwrap_or(vec![0.0]);
            let axes = if scale.len() > 1 || offset.len() > 1 {
                last
            } else {
                Vec::new()
            };
            Scale {
                kind: ScaleKind::Rescale { scale, offset },
                axes,
            }
        }
        "Normalization" => {
            // Keras keeps the listed axes (default the last); an empty list keeps none.
            let axes = match config.get("axis") {
                Some(Value::Array(a)) if a.is_empty() => Vec::new(),
                _ => axes(config, "axis", rank)?.unwrap_or(last),
            };
            let stats = match (numbers(config, "mean")?, numbers(config, "variance")?) {
                (Some(m), Some(v)) => Some((m, v)),
                (None, None) => None,
                _ => {
                    return Err("Normalization has a mean without a variance or the reverse".into())
                }
            };
            Scale {
                kind: ScaleKind::Normalize {
                    stats,
                    invert: bool_field(config, "invert", false)?,
                },
                axes,
            }
        }
        _ => Scale {
            kind: ScaleKind::LayerScale,
            axes: last,
        },
    }))
}

/// A number or a list of numbers (None when absent or null).
fn numbers(config: &Value, key: &str) -> Result<Option<Vec<f32>>, String> {
    let bad = || {
        format!(
            "'{key}' is {}, not a number or a list of numbers",
            config[key]
        )
    };
    let one = |v: &Value| v.as_f64().map(|x| x as f32).ok_or_else(bad);
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items.iter().map(one).collect::<Result<_, _>>().map(Some),
        Some(v) => Ok(Some(vec![one(v)?])),
    }
}

impl Scale {
    pub fn name(&self) -> &'static str {
        match self.kind {
            ScaleKind::Rescale { .. } => "rescale",
            ScaleKind::Normalize { invert: false, .. } => "normalize",
            ScaleKind::Normalize { invert: true, .. } => "denormalize",
            ScaleKind::LayerScale => "layer_scale",
            ScaleKind::Constant { arith, .. } => match arith {
                Arith::Add => "add_constant",
                Arith::Subtract => "subtract_constant",
                Arith::SubtractFrom => "subtract_from_constant",
                Arith::Multiply => "multiply_constant",
                Arith::Divide => "divide_by_constant",
            },
        }
    }

    /// Features along the axes: the constants' length.
    fn features(&self, input: &[usize]) -> usize {
        self.axes.iter().map(|&a| input[a - 1]).product()
    }

    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        if let Some(&a) = self.axes.iter().find(|&&a| a == 0 || a > input.len()) {
            return Err(format!("axis {a} is out of range for a {input:?} sample"));
        }
        let n = self.features(input);
        let fits = |v: &[f32]| v.len() == 1 || v.len() == n;
        let ok = match &self.kind {
            ScaleKind::Rescale { scale, offset } => fits(scale) && fits(offset),
            ScaleKind::Normalize {
                stats: Some((m, v)),
                ..
            } => fits(m) && fits(v),
            _ => true,
        };
        if !ok {
            return Err(format!(
                "its constants do not fit {n} features of a {input:?} sample"
            ));
        }
        Ok(input.to_vec())
    }

    pub fn weights(&self, input: &[usize]) -> Vec<WeightSpec> {
        let kept: Vec<usize> = self.axes.iter().map(|&a| input[a - 1]).collect();
        match &self.kind {
            ScaleKind::Normalize { stats: None, .. } => vec![
                WeightSpec::new("mean", kept.clone()),
                WeightSpec::new("variance", kept),
                WeightSpec::new("count", Vec::new()),
            ],
            ScaleKind::LayerScale => vec![WeightSpec::new("gamma", kept)],
            _ => Vec::new(),
        }
    }

    /// The constants, from the config or the weights (f32, as Keras computes them).
    pub fn affine(&self, input: &[usize], weights: &[Vec<f32>]) -> Affine {
        let n = self.features(input);
        let spread = |v: &[f32]| {
            if v.len() == n {
                v.to_vec()
            } else {
                vec![v[0]; n]
            }
        };
        let (zeros, ones) = (vec![0.0; n], vec![1.0; n]);
        match &self.kind {
            ScaleKind::Rescale { scale, offset } => Affine {
                sub: zeros,
                div: ones.clone(),
                mul: spread(scale),
                add: spread(offset),
            },
            ScaleKind::Normalize { stats, invert } => {
                let (mean, var) = match stats {
                    Some((m, v)) => (spread(m), spread(v)),
                    None => (weights[0].clone(), weights[1].clone()),
                };
                let std: Vec<f32> = var.iter().map(|v| v.sqrt().max(STD_FLOOR)).collect();
                if *invert {
                    Affine {
                        sub: zeros,
                        div: ones,
                        mul: std,
                        add: mean,
                    }
                } else {
                    Affine {
                        sub: mean,
                        div: std,
                        mul: ones,
                        add: zeros,
                    }
                }
            }
            ScaleKind::LayerScale => Affine {
                sub: zeros.clone(),
                div: ones,
                mul: weights[0].clone(),
                add: zeros,
            },
            // Each exact: (x − 0) / 1 is x, and x·1 + c, x·(−1) + c, x·c + 0, x/c·1 + 0 round
            // once, as Keras's single operation does.
            ScaleKind::Constant { arith, value } => {
                let c = vec![*value; n];
                let (div, mul, add) = match arith {
                    Arith::Add => (ones.clone(), ones, c),
                    Arith::Subtract => (ones.clone(), ones, vec![-*value; n]),
                    Arith::SubtractFrom => (ones, vec![-1.0; n], c),
                    Arith::Multiply => (ones, c, zeros.clone()),
                    Arith::Divide => (c, ones, zeros.clone()),
                };
                Affine {
                    sub: zeros,
                    div,
                    mul,
                    add,
                }
            }
        }
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, weights: &[&ArrayD<T>]) -> ArrayD<T> {
        let weights: Vec<Vec<f32>> = weights
            .iter()
            .map(|w| w.iter().map(|&v| Real::to_f32(v)).collect())
            .collect();
        let affine = self.affine(&x.shape()[1..], &weights);
        let mut shape = vec![1; x.ndim()];
        for &a in &self.axes {
            shape[a] = x.shape()[a];
        }
        let constant = |v: &[f32]| {
            ArrayD::from_shape_vec(IxDyn(&shape), v.iter().map(|&c| T::from_f32(c)).collect())
                .expect("one constant per feature")
        };
        let (sub, div) = (constant(&affine.sub), constant(&affine.div));
        let (mul, add) = (constant(&affine.mul), constant(&affine.add));
        let mut y = x.clone();
        Zip::from(&mut y)
            .and_broadcast(&sub)
            .and_broadcast(&div)
            .and_broadcast(&mul)
            .and_broadcast(&add)
            .for_each(|v, &s, &d, &m, &a| *v = (*v - s) / d * m + a);
        y
    }
}

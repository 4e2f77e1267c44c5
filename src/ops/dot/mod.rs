//! Dot (`keras.layers.Dot`): the dot product of two inputs along one axis of each, sample by
//! sample (Keras's `batch_dot`), optionally of the inputs L2-normalized along those axes first
//! (cosine similarity).
//!
//! Around its dot axis each input is a `[before, depth, after]` sample. The output holds x's
//! other axes, then y's: `[b, d]·[b, d]` gives `[b, 1]` (Keras's shape where no axis is left),
//! `[b, t, d]·[b, s, d]` over the last axes `[b, t, s]`, `[b, t, d]·[b, t, e]` over the steps
//! `[b, d, e]`.

mod cpu;

use std::borrow::Cow;

use ndarray::ArrayD;
use serde::Serialize;
use serde_json::Value;

use super::fields::{bool_field, resolve_axis};
use super::{Op, Real};
use crate::keras::Dialect;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dot {
    /// Each input's dot axis as Keras writes it (negative counts from the end, batch included):
    /// resolved against each input's own rank, as Keras does.
    pub axes: [i64; 2],
    /// With `normalize`: each input becomes `x / sqrt(max(Σx², floor))` along its dot axis.
    pub normalize: Option<f32>,
}

/// One sample of each input around its dot axis, and the product's matrix sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DotGeometry {
    /// Contracted length.
    pub depth: usize,
    /// Elements after the dot axis in x and in y (the inner strides of the axis).
    pub after_x: usize,
    pub after_y: usize,
    /// x's and y's other elements: the output's rows and columns per sample.
    pub rows: usize,
    pub cols: usize,
    /// The dot axes, absolute (batch is axis 0).
    pub axis_x: usize,
    pub axis_y: usize,
}

pub const CLASSES: &[&str] = &["Dot"];

pub fn parse(config: &Value, dialect: Dialect) -> Result<Op, String> {
    let axes = match config.get("axes") {
        Some(Value::Number(n)) => {
            let a = n.as_i64().ok_or("Dot's 'axes' is not an integer")?;
            [a, a]
        }
        Some(Value::Array(pair)) if pair.len() == 2 => {
            let axis = |v: &Value| v.as_i64().ok_or("Dot's 'axes' holds a non-integer");
            [axis(&pair[0])?, axis(&pair[1])?]
        }
        other => {
            return Err(format!(
                "Dot's 'axes' is {}, not an integer or a pair of integers",
                other.map_or("missing".into(), Value::to_string)
            ))
        }
    };
    // Keras 3: x · min(rsqrt(Σx²), 1/ε) with ε = 1e-7; tf-keras: tf.linalg.l2_normalize
    // (x · rsqrt(max(Σx², 1e-12))).
    let floor = match dialect {
        Dialect::Keras3 => 1e-14,
        Dialect::TfKeras2 => 1e-12,
    };
    Ok(Op::Dot(Dot {
        axes,
        normalize: bool_field(config, "normalize", false)?.then_some(floor),
    }))
}

impl Dot {
    pub fn name(&self) -> String {
        let norm = if self.normalize.is_some() {
            ", normalize"
        } else {
            ""
        };
        format!("dot(axes={:?}{norm})", self.axes)
    }

    /// How the two sample shapes meet; an error where Keras refuses them.
    pub fn geometry(&self, x: &[usize], y: &[usize]) -> Result<DotGeometry, String> {
        let axis_x = resolve_axis(self.axes[0], x.len() + 1)?;
        let axis_y = resolve_axis(self.axes[1], y.len() + 1)?;
        let (depth, other) = (x[axis_x - 1], y[axis_y - 1]);
        if depth != other {
            return Err(format!(
                "Dot axes {:?} meet sizes {depth} and {other} of shapes {x:?} and {y:?}; they must agree",
                self.axes
            ));
        }
        let after_x: usize = x[axis_x..].iter().product();
        let after_y: usize = y[axis_y..].iter().product();
        Ok(DotGeometry {
            depth,
            after_x,
            after_y,
            rows: x.iter().product::<usize>() / depth,
            cols: y.iter().product::<usize>() / depth,
            axis_x,
            axis_y,
        })
    }

    pub fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        let &[x, y] = inputs else {
            return Err(format!("Dot needs exactly 2 inputs, got {}", inputs.len()));
        };
        let g = self.geometry(x, y)?;
        let mut out: Vec<usize> = without(x, g.axis_x);
        out.extend(without(y, g.axis_y));
        if out.is_empty() {
            out.push(1);
        }
        Ok(out)
    }

    pub fn macs(&self, inputs: &[&[usize]]) -> u64 {
        match inputs {
            [x, y] => self
                .geometry(x, y)
                .map_or(0, |g| (g.rows * g.cols * g.depth) as u64),
            _ => 0,
        }
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, y: &ArrayD<T>, out_shape: &[usize]) -> ArrayD<T> {
        let g = self
            .geometry(&x.shape()[1..], &y.shape()[1..])
            .expect("Dot shapes checked when the graph was built");
        let (x, y) = match self.normalize {
            Some(floor) => {
                let floor = T::from_f32(floor);
                (
                    Cow::Owned(super::norm::l2_normalize(x, &[g.axis_x], floor)),
                    Cow::Owned(super::norm::l2_normalize(y, &[g.axis_y], floor)),
                )
            }
            None => (Cow::Borrowed(x), Cow::Borrowed(y)),
        };
        cpu::batch_dot(&x, &y, &g, out_shape)
    }
}

/// A sample shape without its (absolute) `axis`.
fn without(shape: &[usize], axis: usize) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter(|&(i, _)| i + 1 != axis)
        .map(|(_, &d)| d)
        .collect()
}

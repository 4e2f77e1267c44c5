//! Merges: Add, Subtract, Multiply, Average, Maximum, Minimum (elementwise, with Keras's
//! broadcasting), InceptionResNetV2's CustomScaleLayer (x0 + x1·scale) and Concatenate.

use ndarray::{concatenate, ArrayD, Axis, IxDyn, Zip};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::fields::{f32_field, i64_field, resolve_axis};
use super::{nan, Op, Real};

/// How a merge layer combines its N same-shaped (or broadcastable) inputs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeKind {
    Add,
    /// Exactly two inputs: first − second.
    Subtract,
    Multiply,
    Average,
    Maximum,
    Minimum,
    /// Exactly two inputs: first + second·scale, the product rounded first (keras.applications'
    /// InceptionResNetV2 `CustomScaleLayer`).
    ScaledAdd {
        scale: f32,
    },
}

/// Joins the inputs along one axis.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Concatenate {
    pub axis: usize,
}

pub const CLASSES: &[&str] = &[
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "CustomScaleLayer",
];

/// Reads a merge layer; `rank` counts the batch axis.
pub fn parse(class: &str, config: &Value, rank: usize) -> Result<Op, String> {
    Ok(Op::Merge(match class {
        "Add" => MergeKind::Add,
        "Subtract" => MergeKind::Subtract,
        "Multiply" => MergeKind::Multiply,
        "Average" => MergeKind::Average,
        "Maximum" => MergeKind::Maximum,
        "Minimum" => MergeKind::Minimum,
        "CustomScaleLayer" => MergeKind::ScaledAdd {
            scale: f32_field(config, "scale")?
                .ok_or("CustomScaleLayer has no 'scale' in its config")?,
        },
        _ => {
            return Ok(Op::Concatenate(Concatenate {
                axis: resolve_axis(i64_field(config, "axis")?.unwrap_or(-1), rank)?,
            }))
        }
    }))
}

impl MergeKind {
    pub fn name(self) -> String {
        match self {
            MergeKind::ScaledAdd { scale } => format!("scaled_add(scale={scale})"),
            _ => format!("{self:?}").to_lowercase(),
        }
    }

    /// Whether the merge takes exactly two inputs.
    fn binary(self) -> bool {
        matches!(self, MergeKind::Subtract | MergeKind::ScaledAdd { .. })
    }

    /// Keras's merge broadcasting: equal ranks, and per axis equal sizes or a size of 1.
    pub fn output_shape(self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        if inputs.len() < 2 || (self.binary() && inputs.len() != 2) {
            let want = if self.binary() {
                "exactly 2"
            } else {
                "at least 2"
            };
            return Err(format!(
                "{} needs {want} inputs, got {}",
                self.name(),
                inputs.len()
            ));
        }
        let mut out = inputs[0].to_vec();
        for shape in &inputs[1..] {
            if shape.len() != out.len() {
                return Err(format!("{self:?} inputs have different ranks: {inputs:?}"));
            }
            for (o, &s) in out.iter_mut().zip(shape.iter()) {
                match (*o, s) {
                    (a, b) if a == b => {}
                    (1, b) => *o = b,
                    (_, 1) => {}
                    _ => return Err(format!("{self:?} inputs do not broadcast: {inputs:?}")),
                }
            }
        }
        Ok(out)
    }

    /// Keras folds a merge left to right (`((a + b) + c)`), then Average divides once.
    pub fn eval<T: Real>(self, inputs: &[&ArrayD<T>], out_shape: &[usize]) -> ArrayD<T> {
        if let Some(y) = self.eval_same_shapes(inputs, out_shape) {
            return y;
        }
        let first = inputs[0]
            .broadcast(IxDyn(out_shape))
            .expect("merge shapes checked");
        let mut acc = first.to_owned();
        let combine = self.combine::<T>();
        for x in &inputs[1..] {
            Zip::from(&mut acc)
                .and_broadcast(*x)
                .for_each(|a, &b| *a = combine(*a, b));
        }
        if self == MergeKind::Average {
            let n = T::from_f64(inputs.len() as f64);
            acc.mapv_inplace(|v| v / n);
        }
        acc
    }

    /// The common case of inputs of the output's shape, contiguous (a residual Add): the same
    /// fold, over all cores. None otherwise.
    fn eval_same_shapes<T: Real>(
        self,
        inputs: &[&ArrayD<T>],
        out_shape: &[usize],
    ) -> Option<ArrayD<T>> {
        let slices: Vec<&[T]> = inputs
            .iter()
            .map(|x| x.as_slice().filter(|_| x.shape() == out_shape))
            .collect::<Option<_>>()?;
        let average = (self == MergeKind::Average).then(|| T::from_f64(inputs.len() as f64));
        let mut out = slices[0].to_vec();
        const BLOCK: usize = 1 << 14;
        out.par_chunks_mut(BLOCK).enumerate().for_each(|(b, acc)| {
            let range = b * BLOCK..b * BLOCK + acc.len();
            for x in &slices[1..] {
                self.fold_slice(acc, &x[range.clone()]);
            }
            if let Some(n) = average {
                acc.iter_mut().for_each(|a| *a = *a / n);
            }
        });
        Some(ArrayD::from_shape_vec(IxDyn(out_shape), out).expect("the output's shape"))
    }

    /// `acc = acc op x` elementwise: [`MergeKind::combine`]'s step, a loop per kind (that
    /// vectorises) rather than a call per element.
    fn fold_slice<T: Real>(self, acc: &mut [T], x: &[T]) {
        fn each<T: Copy>(acc: &mut [T], x: &[T], f: impl Fn(T, T) -> T) {
            acc.iter_mut().zip(x).for_each(|(a, &v)| *a = f(*a, v));
        }
        match self {
            MergeKind::Add | MergeKind::Average => each(acc, x, |a, b| a + b),
            MergeKind::Subtract => each(acc, x, |a, b| a - b),
            MergeKind::Multiply => each(acc, x, |a, b| a * b),
            MergeKind::Maximum => each(acc, x, nan::max),
            MergeKind::Minimum => each(acc, x, nan::min),
            MergeKind::ScaledAdd { scale } => {
                let scale = T::from_f64(f64::from(scale));
                each(acc, x, |a, b| a + b * scale)
            }
        }
    }

    /// a op b, for one step of the left-to-right fold.
    fn combine<T: Real>(self) -> Box<dyn Fn(T, T) -> T + Sync> {
        match self {
            MergeKind::Add | MergeKind::Average => Box::new(|a, b| a + b),
            MergeKind::Subtract => Box::new(|a, b| a - b),
            MergeKind::Multiply => Box::new(|a, b| a * b),
            MergeKind::Maximum => Box::new(nan::max),
            MergeKind::Minimum => Box::new(nan::min),
            MergeKind::ScaledAdd { scale } => {
                let scale = T::from_f64(f64::from(scale));
                Box::new(move |a, b| a + b * scale)
            }
        }
    }
}

impl Concatenate {
    /// `axis` is absolute (batch is axis 0); every other axis must agree.
    pub fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        let first = inputs
            .first()
            .ok_or("Concatenate needs at least one input")?;
        let axis = self.axis;
        if axis == 0 || axis > first.len() {
            return Err(format!(
                "Concatenate axis {axis} is out of range for shape {first:?}"
            ));
        }
        let mut out = first.to_vec();
        out[axis - 1] = 0;
        for shape in inputs {
            let mut a = shape.to_vec();
            if a.len() != first.len() {
                return Err(format!(
                    "Concatenate inputs have different ranks: {inputs:?}"
                ));
            }
            out[axis - 1] += a[axis - 1];
            a[axis - 1] = first[axis - 1];
            if a != **first {
                return Err(format!(
                    "Concatenate inputs differ outside axis {axis}: {inputs:?}"
                ));
            }
        }
        Ok(out)
    }

    pub fn eval<T: Real>(&self, inputs: &[&ArrayD<T>]) -> ArrayD<T> {
        let views: Vec<_> = inputs.iter().map(|x| x.view()).collect();
        concatenate(Axis(self.axis), &views).expect("shapes checked when the graph was built")
    }
}

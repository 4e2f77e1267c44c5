//! Padding and cropping: ZeroPadding1D/2D/3D add zeros around the spatial axes,
//! Cropping1D/2D/3D remove rows from them, in either data format.

use ndarray::{ArrayD, Slice};
use serde::Serialize;
use serde_json::Value;

use super::fields::channels_first;
use super::window::spatial_rank;
use super::{Op, Real};

/// Per sample axis, how many rows to add (positive, zeros) or remove (negative) before and
/// after: one op for both families, since a crop is a pad by a negative amount.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pad {
    pub before: Vec<i64>,
    pub after: Vec<i64>,
}

pub const CLASSES: &[&str] = &[
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
];

/// Reads a padding or cropping layer whose input sample shape is `input`.
pub fn parse(class: &str, config: &Value, input: &[usize]) -> Result<Op, String> {
    let (crop, spatial) = (class.starts_with("Cropping"), spatial_rank(class));
    if input.len() != spatial + 1 {
        return Err(format!(
            "{class} needs a sample with {} axes ({spatial} spatial and the channels), got {input:?}",
            spatial + 1
        ));
    }
    let key = if crop { "cropping" } else { "padding" };
    let amounts = amounts(config.get(key), key, spatial)?;
    // The channel axis is the first sample axis with channels_first, else the last.
    let first_spatial = usize::from(channels_first(config)?);
    let sign = if crop { -1 } else { 1 };
    let mut before = vec![0; input.len()];
    let mut after = vec![0; input.len()];
    for (k, (b, a)) in amounts.into_iter().enumerate() {
        before[first_spatial + k] = sign * b;
        after[first_spatial + k] = sign * a;
    }
    Ok(Op::Pad(Pad { before, after }))
}

/// Keras's forms of `padding`/`cropping`: an int for every side, one int per axis for both of
/// its sides, or a (before, after) pair per axis. 1-D layers take an int or one pair.
fn amounts(value: Option<&Value>, key: &str, spatial: usize) -> Result<Vec<(i64, i64)>, String> {
    let bad = || format!("'{key}' is {}, not a {spatial}-D {key}", show(value));
    let count = |v: &Value| v.as_i64().filter(|&n| n >= 0).ok_or_else(bad);
    let pair = |v: &Value| -> Result<(i64, i64), String> {
        match v {
            Value::Array(p) if p.len() == 2 => Ok((count(&p[0])?, count(&p[1])?)),
            v => count(v).map(|n| (n, n)),
        }
    };
    match value.ok_or_else(bad)? {
        Value::Number(_) => {
            let n = count(value.expect("present"))?;
            Ok(vec![(n, n); spatial])
        }
        Value::Array(items) if spatial == 1 && items.len() == 2 && items[0].is_number() => {
            Ok(vec![(count(&items[0])?, count(&items[1])?)])
        }
        Value::Array(items) if items.len() == spatial => items.iter().map(pair).collect(),
        _ => Err(bad()),
    }
}

fn show(value: Option<&Value>) -> String {
    value.map_or("missing".into(), Value::to_string)
}

impl Pad {
    /// "zero_pad" or "crop" (or "pad_crop" for a mapped op that does both).
    pub fn name(&self) -> &'static str {
        let amounts = || self.before.iter().chain(&self.after);
        match (amounts().any(|&n| n > 0), amounts().any(|&n| n < 0)) {
            (true, true) => "pad_crop",
            (false, true) => "crop",
            _ => "zero_pad",
        }
    }

    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        if self.before.len() != input.len() || self.after.len() != input.len() {
            return Err(format!(
                "padding for {} axes does not fit a {input:?} sample",
                self.before.len()
            ));
        }
        input
            .iter()
            .zip(self.before.iter().zip(&self.after))
            .map(|(&n, (&b, &a))| {
                let size = n as i64 + b + a;
                if size > 0 {
                    Ok(size as usize)
                } else {
                    Err(format!(
                        "cropping {} and {} rows from an axis of {n} leaves nothing",
                        -b, -a
                    ))
                }
            })
            .collect()
    }

    /// Zeros, then the kept part of the input copied to its place.
    pub fn eval<T: Real>(&self, x: &ArrayD<T>, out_shape: &[usize]) -> ArrayD<T> {
        let mut y = ArrayD::zeros(out_shape);
        // Axis 0 is the batch: kept whole. On axis k+1, input rows [max(0, −b), n − max(0, −a))
        // land at output rows from max(0, b).
        let window = |axis: usize, from_input: bool| -> Slice {
            if axis == 0 {
                return Slice::from(..);
            }
            let (b, a) = (self.before[axis - 1], self.after[axis - 1]);
            let n = x.shape()[axis] as i64;
            let (skip_in, drop_in) = ((-b).max(0), (-a).max(0));
            let len = n - skip_in - drop_in;
            let start = if from_input { skip_in } else { b.max(0) };
            Slice::from(start as isize..(start + len) as isize)
        };
        y.slice_each_axis_mut(|ax| window(ax.axis.index(), false))
            .assign(&x.slice_each_axis(|ax| window(ax.axis.index(), true)));
        y
    }
}

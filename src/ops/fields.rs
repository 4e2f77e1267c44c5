//! Reading a Keras layer config's fields, with one plain sentence per malformed value.

use serde_json::Value;

/// An `axis` that is an int or a list of ints, resolved to absolute axes, sorted.
pub fn axes(config: &Value, key: &str, rank: usize) -> Result<Option<Vec<usize>>, String> {
    let raw: Vec<i64> = match config.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => vec![n.as_i64().ok_or(format!("'{key}' is not an integer"))?],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_i64().ok_or(format!("'{key}' holds a non-integer")))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("'{key}' is {other}, not an axis")),
    };
    let mut axes = raw
        .into_iter()
        .map(|a| resolve_axis(a, rank))
        .collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    Ok(Some(axes))
}

/// Converts a Keras axis (negative counts from the end; 0 is the batch) to an absolute axis of a
/// tensor with `rank` axes, batch included.
pub fn resolve_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let resolved = if axis < 0 { rank as i64 + axis } else { axis };
    if resolved <= 0 || resolved >= rank as i64 {
        return Err(format!(
            "axis {axis} is not a feature axis of a tensor with {rank} axes (batch included)"
        ));
    }
    Ok(resolved as usize)
}

pub fn usize_field(config: &Value, key: &str) -> Result<Option<usize>, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or(format!("'{key}' is {v}, not a non-negative integer")),
    }
}

pub fn i64_field(config: &Value, key: &str) -> Result<Option<i64>, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or(format!("'{key}' is {v}, not an integer")),
    }
}

pub fn f32_field(config: &Value, key: &str) -> Result<Option<f32>, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(|f| Some(f as f32))
            .ok_or(format!("'{key}' is {v}, not a number")),
    }
}

pub fn bool_field(config: &Value, key: &str, default: bool) -> Result<bool, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(format!("'{key}' is {v}, not true or false")),
    }
}

/// A list of integers (`dims`, `target_shape`, `shared_axes`).
pub fn int_list(config: &Value, key: &str) -> Result<Option<Vec<i64>>, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|d| d.as_i64().ok_or(format!("'{key}' holds a non-integer")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(format!("'{key}' is {other}, not a list of integers")),
    }
}

/// Whether the layer's `data_format` puts channels first (Keras's default is channels last).
pub fn channels_first(config: &Value) -> Result<bool, String> {
    match config.get("data_format") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(s)) if s == "channels_last" => Ok(false),
        Some(Value::String(s)) if s == "channels_first" => Ok(true),
        Some(other) => Err(format!(
            "'data_format' is {other}, not \"channels_last\" or \"channels_first\""
        )),
    }
}

//! Sliding-window geometry shared by convolution and pooling: the output size and the rows
//! padded before, per spatial axis, as TensorFlow and XLA (hence both Keras) compute them.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// Only windows that fit inside the input.
    Valid,
    /// Output ⌈n / stride⌉; the padding total split ⌊total/2⌋ before, the rest (the odd row)
    /// after.
    Same,
    /// Conv1D's: (window − 1)·dilation rows before, none after.
    Causal,
}

impl Padding {
    /// Keras's `padding` string.
    pub fn parse(value: Option<&serde_json::Value>, causal_allowed: bool) -> Result<Self, String> {
        match value.and_then(serde_json::Value::as_str) {
            None | Some("valid") => Ok(Padding::Valid),
            Some("same") => Ok(Padding::Same),
            Some("causal") if causal_allowed => Ok(Padding::Causal),
            Some(other) => Err(format!(
                "'padding' is \"{other}\", not \"valid\"{} or \"same\"",
                if causal_allowed { ", \"causal\"" } else { "" }
            )),
        }
    }
}

/// The spatial rank a layer class names by its suffix (`Conv2D` → 2, `MaxPooling1D` → 1).
pub fn spatial_rank(class: &str) -> usize {
    if class.ends_with("1D") {
        1
    } else if class.ends_with("2D") {
        2
    } else {
        3
    }
}

/// One axis of `n` rows under a window of `size` taps `dilation` apart moved by `stride`:
/// the output size and the rows padded before.
pub fn axis(
    n: usize,
    size: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Result<(usize, usize), String> {
    let span = (size - 1) * dilation + 1;
    match padding {
        Padding::Same => {
            let out = n.div_ceil(stride);
            let total = ((out - 1) * stride + span).saturating_sub(n);
            Ok((out, total / 2))
        }
        Padding::Causal => Ok(((n - 1) / stride + 1, span - 1)),
        Padding::Valid if n >= span => Ok(((n - span) / stride + 1, 0)),
        Padding::Valid => Err(format!(
            "a window spanning {span} rows does not fit an axis of {n} with 'valid' padding"
        )),
    }
}

/// One axis of a transposed convolution over `n` rows (each input row spreads over a window
/// of `size` taps `dilation` apart, rows `stride` apart): the output size and how many rows
/// of that spread fall before the output (TensorFlow's rule, which Keras 3 matches).
pub fn transposed_axis(
    n: usize,
    size: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
    output_padding: Option<usize>,
) -> Result<(usize, usize), String> {
    let span = (size - 1) * dilation + 1;
    let out = match (padding, output_padding) {
        (Padding::Valid, None) => n * stride + span.saturating_sub(stride),
        (Padding::Same, None) => n * stride,
        (Padding::Valid, Some(extra)) => (n - 1) * stride + span + extra,
        (Padding::Same, Some(extra)) => ((n - 1) * stride + span + extra)
            .checked_sub(span / 2 * 2)
            .filter(|&o| o > 0)
            .ok_or("output_padding leaves no output row")?,
        (Padding::Causal, _) => {
            return Err("a transposed convolution has no 'causal' padding".into())
        }
    };
    let pad = match padding {
        Padding::Same => ((n - 1) * stride + span).saturating_sub(out) / 2,
        _ => 0,
    };
    Ok((out, pad))
}

/// A size per spatial axis from an int for all or a list (None when absent or null).
pub fn sizes(
    config: &serde_json::Value,
    key: &str,
    spatial: usize,
) -> Result<Option<Vec<usize>>, String> {
    per_axis(config, key, spatial, 1)
}

/// An int for all axes or one per axis, each at least `least` (None when absent or null).
pub fn per_axis(
    config: &serde_json::Value,
    key: &str,
    spatial: usize,
    least: u64,
) -> Result<Option<Vec<usize>>, String> {
    use serde_json::Value;
    let kind = if least == 0 {
        "non-negative"
    } else {
        "positive"
    };
    let bad = || {
        format!(
            "'{key}' is {}, not {spatial} {kind} integer(s)",
            config[key]
        )
    };
    let one = |v: &Value| {
        v.as_u64()
            .filter(|&n| n >= least)
            .map(|n| n as usize)
            .ok_or_else(bad)
    };
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.len() == spatial => {
            items.iter().map(one).collect::<Result<_, _>>().map(Some)
        }
        Some(v @ Value::Number(_)) => Ok(Some(vec![one(v)?; spatial])),
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_pads_the_odd_row_after_and_causal_before() {
        // TensorFlow: n = 7, window 2, stride 2 → 4 outputs, total 1 padded, 0 before.
        assert_eq!(axis(7, 2, 2, 1, Padding::Same), Ok((4, 0)));
        // n = 8, window 3, stride 2 → 4 outputs, total 1, 0 before; window 4 → total 2, 1.
        assert_eq!(axis(8, 3, 2, 1, Padding::Same), Ok((4, 0)));
        assert_eq!(axis(8, 4, 2, 1, Padding::Same), Ok((4, 1)));
        // Dilation 2 makes a 3-tap window span 5 rows.
        assert_eq!(axis(9, 3, 1, 2, Padding::Valid), Ok((5, 0)));
        assert_eq!(axis(9, 3, 1, 2, Padding::Same), Ok((9, 2)));
        assert_eq!(axis(9, 3, 1, 2, Padding::Causal), Ok((9, 4)));
        assert_eq!(axis(9, 3, 2, 1, Padding::Causal), Ok((5, 2)));
        assert!(axis(2, 3, 1, 1, Padding::Valid).is_err());
    }

    #[test]
    fn transposed_sizes_follow_tensorflow() {
        let t = transposed_axis;
        // same: n·stride rows; the spread's overhang is split with the odd row after.
        assert_eq!(t(4, 3, 2, 1, Padding::Same, None), Ok((8, 0)));
        assert_eq!(t(4, 4, 2, 1, Padding::Same, None), Ok((8, 1)));
        assert_eq!(t(5, 3, 1, 2, Padding::Same, None), Ok((5, 2)));
        // valid: the whole spread, and whole strides when the window is shorter.
        assert_eq!(t(4, 3, 2, 1, Padding::Valid, None), Ok((9, 0)));
        assert_eq!(t(4, 2, 3, 1, Padding::Valid, None), Ok((12, 0)));
        // output_padding adds rows after.
        assert_eq!(t(4, 3, 2, 1, Padding::Same, Some(1)), Ok((8, 0)));
        assert_eq!(t(4, 3, 2, 1, Padding::Valid, Some(1)), Ok((10, 0)));
        assert!(t(4, 3, 2, 1, Padding::Causal, None).is_err());
    }
}

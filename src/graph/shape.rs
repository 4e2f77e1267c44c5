//! Shape rules: the per-sample output shape of each op, and the weight shapes it expects.
//! Errors are plain sentences; the graph builder adds the file and layer.

use super::{MergeKind, Op};

/// The output shape of one sample, from the input shapes (batch left out everywhere).
/// `Op::Reshape` is resolved by [`reshape`] instead, since its target lives in the config.
pub fn infer(op: &Op, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
    let first = inputs.first().copied().unwrap_or(&[]);
    match op {
        Op::Input | Op::Reshape => Ok(first.to_vec()),
        Op::Dense { units, .. } => {
            if first.is_empty() {
                return Err("Dense needs an input with at least one axis besides the batch".into());
            }
            let mut out = first.to_vec();
            *out.last_mut().expect("non-empty") = *units;
            Ok(out)
        }
        Op::Activation(_) | Op::PRelu | Op::Identity => Ok(first.to_vec()),
        Op::Softmax { axes, .. }
        | Op::L2Normalize { axes, .. }
        | Op::BatchNorm { axes, .. }
        | Op::LayerNorm { axes, .. } => {
            check_axes(axes, first.len())?;
            Ok(first.to_vec())
        }
        Op::Permute { dims } => {
            let mut sorted = dims.clone();
            sorted.sort_unstable();
            if sorted != (1..=first.len()).collect::<Vec<_>>() {
                return Err(format!(
                    "Permute dims {dims:?} are not a permutation of the {} sample axes",
                    first.len()
                ));
            }
            Ok(dims.iter().map(|&d| first[d - 1]).collect())
        }
        Op::Merge(kind) => merge(*kind, inputs),
        Op::Concatenate { axis } => concatenate(*axis, inputs),
    }
}

/// Keras's merge broadcasting: equal ranks, and per axis equal sizes or a size of 1.
fn merge(kind: MergeKind, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
    if inputs.len() < 2 || (kind == MergeKind::Subtract && inputs.len() != 2) {
        let want = if kind == MergeKind::Subtract {
            "exactly 2"
        } else {
            "at least 2"
        };
        return Err(format!(
            "{kind:?} needs {want} inputs, got {}",
            inputs.len()
        ));
    }
    let mut out = inputs[0].to_vec();
    for shape in &inputs[1..] {
        if shape.len() != out.len() {
            return Err(format!("{kind:?} inputs have different ranks: {inputs:?}"));
        }
        for (o, &s) in out.iter_mut().zip(shape.iter()) {
            match (*o, s) {
                (a, b) if a == b => {}
                (1, b) => *o = b,
                (_, 1) => {}
                _ => return Err(format!("{kind:?} inputs do not broadcast: {inputs:?}")),
            }
        }
    }
    Ok(out)
}

/// `axis` is absolute (batch is axis 0); every other axis must agree.
fn concatenate(axis: usize, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
    let first = inputs
        .first()
        .ok_or("Concatenate needs at least one input")?;
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

fn check_axes(axes: &[usize], rank: usize) -> Result<(), String> {
    match axes.iter().find(|&&a| a == 0 || a > rank) {
        Some(a) => Err(format!(
            "axis {a} is out of range for a {}-axis sample",
            rank
        )),
        None => Ok(()),
    }
}

/// Resolves a Keras Reshape target (per sample, one entry may be −1) against the input size.
pub fn reshape(input: &[usize], target: &[i64]) -> Result<Vec<usize>, String> {
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

/// The weight shapes an op expects, in Keras's order, given its input shape.
pub fn expected_weights(op: &Op, input: &[usize]) -> Vec<(&'static str, Vec<usize>)> {
    let over = |axes: &[usize]| axes.iter().map(|&a| input[a - 1]).collect::<Vec<_>>();
    match op {
        Op::Dense {
            units, use_bias, ..
        } => {
            let mut w = vec![("kernel", vec![*input.last().unwrap_or(&0), *units])];
            if *use_bias {
                w.push(("bias", vec![*units]));
            }
            w
        }
        Op::BatchNorm {
            axes,
            center,
            scale,
            ..
        } => {
            let p = over(axes);
            let mut w = Vec::new();
            if *scale {
                w.push(("gamma", p.clone()));
            }
            if *center {
                w.push(("beta", p.clone()));
            }
            w.push(("moving_mean", p.clone()));
            w.push(("moving_variance", p));
            w
        }
        Op::LayerNorm {
            axes,
            center,
            scale,
            rms_scaling,
            ..
        } => {
            let p = over(axes);
            let mut w = Vec::new();
            if *scale || *rms_scaling {
                w.push(("gamma", p.clone()));
            }
            if *center && !*rms_scaling {
                w.push(("beta", p));
            }
            w
        }
        // PReLU's alpha takes the shape its config's shared axes give: graph::build asks
        // layers::prelu_alpha_shape for it.
        Op::PRelu => Vec::new(),
        Op::Input
        | Op::Activation(_)
        | Op::Softmax { .. }
        | Op::Identity
        | Op::Reshape
        | Op::Permute { .. }
        | Op::Merge(_)
        | Op::Concatenate { .. }
        | Op::L2Normalize { .. } => Vec::new(),
    }
}

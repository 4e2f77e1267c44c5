//! Arithmetic that model files spell as layers without Python code: Keras 3's symbolic-op
//! layers (`x + 3.0` in a functional model is an `Add` layer of module `keras.src.ops.numpy`
//! whose call holds the constant; legacy `.h5` drops the module) and tf-keras's `TFOpLambda` /
//! `SlicingOpLambda` (`tf.math.multiply` with `y` as a keyword). Each is read into an op keqv
//! already runs: a tensor and a constant into a `Scale`, two tensors into a `Merge`, functions
//! into an `Activation`, reshape, transpose and unit-step slicing into `Reshape`, `Permute`
//! and `Pad`. Anything else is refused with its name, like a layer keqv does not support.

use serde_json::{Map, Value};

use super::activation::parse_activation;
use super::layout::{Permute, Reshape};
use super::scale::{Arith, Scale, ScaleKind};
use super::{MakeMask, Mean, MergeKind, Op, Pad};
use crate::keras::Dialect;

/// One operand of a binary op: a tensor of the call (in order) or a constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Operand {
    Tensor,
    Constant(f32),
}

/// The op of a Keras 3 op-layer class or a tf-keras function, in one vocabulary.
pub fn canonical(name: &str) -> Option<&'static str> {
    Some(match name {
        "Add" | "__operators__.add" | "math.add" => "add",
        "Subtract" | "__operators__.sub" | "math.subtract" => "subtract",
        "Multiply" | "__operators__.mul" | "math.multiply" => "multiply",
        "TrueDivide" | "Divide" | "__operators__.truediv" | "math.truediv" | "math.divide" => {
            "divide"
        }
        "Negative" | "__operators__.neg" | "math.negative" => "negative",
        "Maximum" | "math.maximum" => "maximum",
        "Minimum" | "math.minimum" => "minimum",
        "Relu" | "nn.relu" => "relu",
        "Relu6" | "nn.relu6" => "relu6",
        "Sigmoid" | "math.sigmoid" | "nn.sigmoid" | "sigmoid" => "sigmoid",
        "Tanh" | "math.tanh" | "nn.tanh" | "tanh" => "tanh",
        "Silu" | "Swish" | "nn.silu" | "nn.swish" => "silu",
        "HardSigmoid" => "hard_sigmoid",
        "HardSilu" | "HardSwish" => "hard_silu",
        "Exp" | "math.exp" | "exp" => "exponential",
        "Reshape" | "reshape" => "reshape",
        "Transpose" | "transpose" | "compat.v1.transpose" | "linalg.matrix_transpose" => {
            "transpose"
        }
        "GetItem" | "__operators__.getitem" => "getitem",
        "Mean" | "math.reduce_mean" | "reduce_mean" => "mean",
        // The ops Keras 3 records a mask with (`x != 0`, `any`, merged masks).
        "NotEqual" | "math.not_equal" => "not_equal",
        "Any" => "any",
        "LogicalOr" => "logical_or",
        "LogicalAnd" => "logical_and",
        _ => return None,
    })
}

/// Keras 3 op classes keqv does not run yet, recognised in legacy `.h5` files (which drop the
/// module) so that they are named as unsupported ops rather than custom layers.
const OTHER_OP_CLASSES: &[&str] = &[
    "Mean",
    "Sum",
    "Max",
    "Min",
    "Prod",
    "Power",
    "Sqrt",
    "Square",
    "Abs",
    "Log",
    "Matmul",
    "Einsum",
    "ExpandDims",
    "Squeeze",
    "Clip",
    "Cast",
    "Where",
    "Stack",
    "Split",
    "Tile",
    "Erf",
    "Floor",
    "Ceil",
    "Round",
    "Argmax",
    "Argmin",
    "Cumsum",
    "Sign",
    "Softplus",
    "LogSoftmax",
    "Take",
    "Slice",
    "Pad",
    "Dot",
    "Tensordot",
    "Var",
    "Std",
    "Rsqrt",
    "Reciprocal",
    "FloorDivide",
    "Mod",
    "Equal",
    "Greater",
    "Less",
];

/// Whether `class` names a Keras 3 op layer (in a file that does not say its module).
pub fn is_op_class(class: &str) -> bool {
    canonical(class).is_some() || OTHER_OP_CLASSES.contains(&class)
}

/// Reads an op layer's call into an op. `op` is from [`canonical`]; `operands` are the call's
/// operands in order (for binary ops); `params` the op's settings (the Keras 3 config, or the
/// tf-keras call's keywords); `slices` the slicing spec of a `getitem`; `input` the first
/// tensor's sample shape.
pub fn parse(
    op: &str,
    operands: &[Operand],
    params: &Map<String, Value>,
    slices: Option<&Value>,
    input: &[usize],
) -> Result<Op, String> {
    match op {
        "add" | "subtract" | "multiply" | "divide" | "maximum" | "minimum" => binary(op, operands),
        "negative" => Ok(constant(Arith::Multiply, -1.0)),
        "reshape" => reshape(params, input),
        "transpose" => transpose(params, input),
        "getitem" => slice(slices, input),
        "mean" => mean(params, input),
        "not_equal" => match operands {
            [Operand::Tensor, Operand::Constant(value)] => {
                Ok(Op::MakeMask(MakeMask::NotEqual { value: *value }))
            }
            _ => Err(format!(
                "op 'not_equal' of {} is not supported by keqv yet; it runs a tensor against a number",
                describe(operands)
            )),
        },
        "any" => any(params, input),
        // Masks hold 1.0 and 0.0.
        "logical_or" => binary("maximum", operands),
        "logical_and" => binary("minimum", operands),
        name => {
            let act = parse_activation(name, Dialect::Keras3)
                .ok_or_else(|| format!("op '{name}' is not supported by keqv yet; it runs +, −, ×, ÷ with a constant or a tensor, activations, mean, reshape, transpose and slicing"))?;
            Ok(Op::Activation(act))
        }
    }
}

fn constant(arith: Arith, value: f32) -> Op {
    Op::Scale(Scale {
        kind: ScaleKind::Constant { arith, value },
        axes: Vec::new(),
    })
}

/// `x op c`, `c op x` or `x op y`.
fn binary(op: &str, operands: &[Operand]) -> Result<Op, String> {
    use Operand::{Constant, Tensor};
    let merge = |kind| Ok(Op::Merge(kind));
    match (operands, op) {
        ([Tensor, Tensor], "add") => merge(MergeKind::Add),
        ([Tensor, Tensor], "subtract") => merge(MergeKind::Subtract),
        ([Tensor, Tensor], "multiply") => merge(MergeKind::Multiply),
        ([Tensor, Tensor], "maximum") => merge(MergeKind::Maximum),
        ([Tensor, Tensor], "minimum") => merge(MergeKind::Minimum),
        ([Tensor, Constant(c)] | [Constant(c), Tensor], "add") => Ok(constant(Arith::Add, *c)),
        ([Tensor, Constant(c)], "subtract") => Ok(constant(Arith::Subtract, *c)),
        ([Constant(c), Tensor], "subtract") => Ok(constant(Arith::SubtractFrom, *c)),
        ([Tensor, Constant(c)] | [Constant(c), Tensor], "multiply") => {
            Ok(constant(Arith::Multiply, *c))
        }
        ([Tensor, Constant(c)], "divide") => Ok(constant(Arith::Divide, *c)),
        _ => Err(format!(
            "op '{op}' of {} is not supported by keqv yet; it runs +, −, × of two tensors and +, −, ×, ÷ of a tensor and a number",
            describe(operands)
        )),
    }
}

fn describe(operands: &[Operand]) -> String {
    let parts: Vec<String> = operands
        .iter()
        .map(|o| match o {
            Operand::Tensor => "a tensor".into(),
            Operand::Constant(c) => format!("{c}"),
        })
        .collect();
    format!("({})", parts.join(", "))
}

/// `any(x, axis=-1)` over a mask's last axis: a step with any value other than 0.
fn any(params: &Map<String, Value>, input: &[usize]) -> Result<Op, String> {
    let last = input.len() as i64;
    let axis = params.get("axis").and_then(Value::as_i64);
    let keepdims = params
        .get("keepdims")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !matches!(axis, Some(a) if a == -1 || a == last) || keepdims {
        return Err("op 'any' is supported over the last axis only, without keepdims".into());
    }
    Ok(Op::MakeMask(MakeMask::AnyNot { value: 0.0 }))
}

/// `mean(x, axis, keepdims)` over sample axes (an int or a list; the batch never).
fn mean(params: &Map<String, Value>, input: &[usize]) -> Result<Op, String> {
    let rank = input.len() as i64 + 1;
    let axes: Vec<i64> = match params.get("axis") {
        Some(Value::Number(n)) => vec![n.as_i64().ok_or("a mean axis is not an integer")?],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_i64().ok_or("a mean axis is not an integer"))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err("a mean over every axis, the batch's too; keqv compares per sample".into())
        }
    };
    let mut axes: Vec<usize> = axes
        .into_iter()
        .map(|a| if a < 0 { a + rank } else { a })
        .map(|a| match a {
            1.. if a < rank => Ok(a as usize),
            _ => Err(format!(
                "a mean over axis {a} of a tensor of {rank} axes (the batch's is 0)"
            )),
        })
        .collect::<Result<_, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    let keepdims = params
        .get("keepdims")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Op::Mean(Mean { axes, keepdims }))
}

/// `reshape(x, [-1 | batch, …])`: the first entry is the batch.
fn reshape(params: &Map<String, Value>, input: &[usize]) -> Result<Op, String> {
    let shape = params
        .get("newshape")
        .or_else(|| params.get("shape"))
        .and_then(Value::as_array)
        .ok_or("reshape has no target shape list")?;
    let dims: Vec<i64> = shape
        .iter()
        .map(|v| v.as_i64().ok_or("reshape's target holds a non-integer"))
        .collect::<Result<_, _>>()?;
    let Some((&batch, sample)) = dims.split_first() else {
        return Err("reshape to a scalar".into());
    };
    if batch != -1 && sample.contains(&-1) {
        return Err(format!(
            "reshape to {dims:?} moves the batch axis; keqv cannot run it"
        ));
    }
    let total: usize = input.iter().product();
    let known: i64 = sample.iter().filter(|&&d| d != -1).product();
    let target: Vec<usize> = sample
        .iter()
        .map(|&d| {
            if d == -1 {
                total / known.max(1) as usize
            } else {
                d as usize
            }
        })
        .collect();
    let op = Reshape { shape: target };
    op.output_shape(input)?;
    Ok(Op::Reshape(op))
}

/// `transpose(x, [0, …])`: the batch axis stays first.
fn transpose(params: &Map<String, Value>, input: &[usize]) -> Result<Op, String> {
    let perm: Vec<usize> = match params.get("axes").or_else(|| params.get("perm")) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_u64()
                    .map(|n| n as usize)
                    .ok_or("a transpose axis is not an index")
            })
            .collect::<Result<_, _>>()?,
        // Keras's default reverses every axis, the batch's too.
        _ => return Err("a transpose that moves the batch axis; keqv cannot run it".into()),
    };
    match perm.split_first() {
        Some((0, dims)) if dims.len() == input.len() => Ok(Op::Permute(Permute {
            dims: dims.to_vec(),
            flatten: false,
        })),
        _ => Err(format!(
            "a transpose by {perm:?} moves the batch axis; keqv cannot run it"
        )),
    }
}

/// `x[a:b, c:d, …]` with unit steps, the batch axis whole: a crop.
fn slice(spec: Option<&Value>, input: &[usize]) -> Result<Op, String> {
    let items = match spec {
        Some(Value::Array(items)) => items.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => {
            return Err(
                "slicing by an index, an ellipsis or a tensor is not supported by keqv yet".into(),
            )
        }
    };
    if items.len() > input.len() + 1 {
        return Err(format!(
            "{} slices for a tensor of {} axes",
            items.len(),
            input.len() + 1
        ));
    }
    let mut before = vec![0i64; input.len()];
    let mut after = vec![0i64; input.len()];
    for (axis, item) in items.iter().enumerate() {
        let bound = |key: &str| item.get("config").unwrap_or(item).get(key).cloned();
        let (start, stop, step) = (bound("start"), bound("stop"), bound("step"));
        let is_slice = item.get("class_name").and_then(Value::as_str) == Some("__slice__")
            || (start.is_some() && stop.is_some());
        if !is_slice {
            return Err(
                "slicing by an index, an ellipsis or a tensor is not supported by keqv yet".into(),
            );
        }
        let int = |v: Option<Value>| {
            v.filter(|v| !v.is_null())
                .map(|v| v.as_i64().ok_or("a slice bound is not an integer"))
        };
        if let Some(step) = int(step).transpose()? {
            if step != 1 {
                return Err(format!(
                    "slicing with step {step} is not supported by keqv yet"
                ));
            }
        }
        let (start, stop) = (int(start).transpose()?, int(stop).transpose()?);
        if axis == 0 {
            if start.is_some() || stop.is_some() {
                return Err("slicing the batch axis; keqv compares whole batches".into());
            }
            continue;
        }
        let n = input[axis - 1] as i64;
        let resolve = |v: i64| if v < 0 { (n + v).max(0) } else { v.min(n) };
        let (s, e) = (start.map_or(0, resolve), stop.map_or(n, resolve));
        if e <= s {
            return Err(format!("the slice {s}:{e} of an axis of {n} is empty"));
        }
        before[axis - 1] = -s;
        after[axis - 1] = -(n - e);
    }
    Ok(Op::Pad(Pad { before, after }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use Operand::{Constant, Tensor};

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn arithmetic_with_a_number_is_exact_affine_and_with_a_tensor_a_merge() {
        let none = Map::new();
        let at = |op, operands: &[Operand]| parse(op, operands, &none, None, &[4]);
        let kind = |op: Result<Op, String>| match op.unwrap() {
            Op::Scale(s) => format!("{:?}", s.kind),
            other => format!("{other:?}"),
        };
        assert!(kind(at("subtract", &[Constant(2.0), Tensor])).contains("SubtractFrom"));
        assert!(kind(at("add", &[Constant(3.0), Tensor])).contains("Add"));
        assert!(kind(at("divide", &[Tensor, Constant(4.0)])).contains("Divide"));
        assert_eq!(
            at("multiply", &[Tensor, Tensor]).unwrap(),
            Op::Merge(MergeKind::Multiply)
        );
        // c / x and x / y are not affine or merges: refused with what keqv runs.
        for operands in [[Constant(1.0), Tensor], [Tensor, Tensor]] {
            let e = at("divide", &operands).unwrap_err();
            assert!(e.contains("not supported by keqv yet"), "{e}");
        }
    }

    #[test]
    fn reshape_transpose_and_slices_keep_the_batch_axis() {
        let reshape = parse(
            "reshape",
            &[],
            &params(json!({"newshape": [-1, 6]})),
            None,
            &[2, 3],
        );
        assert_eq!(reshape.unwrap(), Op::Reshape(Reshape { shape: vec![6] }));
        let t = parse(
            "transpose",
            &[],
            &params(json!({"axes": [0, 2, 1]})),
            None,
            &[2, 3],
        );
        assert_eq!(
            t.unwrap(),
            Op::Permute(Permute {
                dims: vec![2, 1],
                flatten: false
            })
        );
        let moves = parse(
            "transpose",
            &[],
            &params(json!({"perm": [1, 0, 2]})),
            None,
            &[2, 3],
        );
        assert!(moves.unwrap_err().contains("batch"));
        let slice = |spec: Value| parse("getitem", &[], &Map::new(), Some(&spec), &[4, 3]);
        let whole = json!({"start": null, "stop": null, "step": null});
        let spec = json!([whole, {"start": 1, "stop": -1, "step": null}]);
        assert_eq!(
            slice(spec).unwrap(),
            Op::Pad(Pad {
                before: vec![-1, 0],
                after: vec![-1, 0]
            })
        );
        let stepped = json!([whole, {"start": 0, "stop": 4, "step": 2}]);
        assert!(slice(stepped).unwrap_err().contains("step 2"));
        assert!(slice(json!([whole, 1])).unwrap_err().contains("index"));
    }
}

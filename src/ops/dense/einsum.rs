//! EinsumDense as a Dense: the equations whose input ends with the summed axes and whose output
//! ends with the kernel's own (`abc,cd->abd`, `abc,cde->abde`, `abcd,cde->abe`,
//! `...b,bc->...c`, the ones MultiHeadAttention and users' models use) are a Dense over the
//! flattened summed axes, its kernel the file's with its axes put in that order and its bias
//! broadcast over the kernel's output axes.

use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

use crate::tensor::Tensor;

/// The equations keqv runs, as a refusal names them.
const ACCEPTED: &str = "keqv runs EinsumDense equations whose input is the axes it keeps, then the summed ones, and whose output is the kept axes, then the kernel's own, each label once and an ellipsis only in front (abc,cd->abd, abc,cde->abde, abcd,cde->abe, ...b,bc->...c; the kernel's axes in any order)";

/// How one EinsumDense layer runs as a Dense.
#[derive(Clone, Debug, PartialEq)]
pub struct EinsumPlan {
    /// The kernel's shape in the file.
    pub kernel_shape: Vec<usize>,
    /// The bias's shape in the file (Keras's: from the first bias axis of the output on).
    pub bias_shape: Option<Vec<usize>>,
    /// The input sample flattened over its summed axes, where there are several.
    pub flat_input: Option<Vec<usize>>,
    /// The Dense's units: the product of the kernel's output axes.
    pub units: usize,
    /// The output sample, where the kernel has several output axes.
    pub output: Option<Vec<usize>>,
    /// The kernel's axes in Dense order: summed axes as the input has them, then output axes as
    /// the output has them.
    kernel_order: Vec<usize>,
    /// The sizes of the kernel's output axes, in output order.
    free: Vec<usize>,
}

/// The plan for an EinsumDense `config` on an input of sample shape `input`.
pub fn plan(config: &Value, input: &[usize]) -> Result<EinsumPlan, String> {
    let equation = config
        .get("equation")
        .and_then(Value::as_str)
        .ok_or("EinsumDense config has no 'equation'")?;
    let unsupported = |why: &str| format!("has equation '{equation}', {why}; {ACCEPTED}");
    let (lhs, out) = equation
        .split_once("->")
        .ok_or_else(|| format!("EinsumDense equation '{equation}' has no '->'"))?;
    let (inp, ker) = lhs
        .split_once(',')
        .ok_or_else(|| format!("EinsumDense equation '{equation}' has no kernel"))?;
    let (inp, out, ker) = (inp.trim(), out.trim(), ker.trim());
    // A leading ellipsis stands for the batch and leading axes, in the input and the output.
    let elided = inp.starts_with("...");
    if elided != out.starts_with("...") || ker.contains("...") {
        return Err(unsupported("with an ellipsis keqv cannot place"));
    }
    let (inp, out) = (inp.trim_start_matches('.'), out.trim_start_matches('.'));
    if [inp, out, ker]
        .iter()
        .any(|s| s.contains('.') || !s.chars().all(|c| c.is_ascii_alphabetic()))
    {
        return Err(unsupported("with an ellipsis keqv cannot place"));
    }
    // A label twice in one operand takes a diagonal, which a Dense does not.
    for side in [inp, ker, out] {
        if let Some(l) = side.chars().find(|&l| side.matches(l).count() > 1) {
            return Err(unsupported(&format!(
                "with the label '{l}' twice in '{side}'"
            )));
        }
    }
    // The full input shape, batch (size 0 here) first; the explicit labels are its last axes.
    let full: Vec<usize> = std::iter::once(0).chain(input.iter().copied()).collect();
    let explicit = inp.len();
    if explicit > full.len() || (!elided && explicit != full.len()) {
        return Err(format!(
            "EinsumDense equation '{equation}' does not fit an input of rank {}",
            full.len()
        ));
    }
    let leading = full.len() - explicit;
    let size_in = |l: char| inp.find(l).map(|i| full[leading + i]);
    let dims = output_dims(config, out, elided)?;
    let size = |l: char| -> Result<usize, String> {
        size_in(l)
            .or_else(|| out.find(l).and_then(|i| dims[i]))
            .filter(|&d| d > 0 || size_in(l).is_some())
            .ok_or_else(|| format!("EinsumDense axis '{l}' of '{equation}' has no size"))
    };
    let in_w = |l: char| ker.contains(l);
    let in_out = |l: char| out.contains(l);
    // Summed axes: input and kernel; batch-like: input and output; free: kernel and output.
    let batch: String = inp.chars().filter(|&l| in_out(l) && !in_w(l)).collect();
    let summed: String = inp.chars().filter(|&l| in_w(l) && !in_out(l)).collect();
    let free: String = out
        .chars()
        .filter(|&l| in_w(l) && !inp.contains(l))
        .collect();
    if inp.len() != batch.len() + summed.len() || ker.len() != summed.len() + free.len() {
        return Err(unsupported(
            "with an axis shared by all three or summed over one side only",
        ));
    }
    if !inp.starts_with(batch.as_str()) || out != format!("{batch}{free}") {
        return Err(unsupported("with its axes in another order"));
    }
    if !elided && batch.is_empty() {
        return Err(unsupported("without the batch axis in its output"));
    }
    let kernel_shape = ker.chars().map(&size).collect::<Result<Vec<_>, _>>()?;
    let kernel_order: Vec<usize> = summed
        .chars()
        .chain(free.chars())
        .map(|l| ker.find(l).expect("a kernel axis"))
        .collect();
    let free_sizes = free.chars().map(&size).collect::<Result<Vec<_>, _>>()?;
    let bias_shape = match config.get("bias_axes").and_then(Value::as_str) {
        None | Some("") => None,
        Some(axes) => {
            if let Some(l) = axes.chars().find(|&l| !free.contains(l)) {
                return Err(unsupported(&format!(
                    "with a bias along '{l}', which is not one of the kernel's output axes"
                )));
            }
            let first = out
                .find(|l| axes.contains(l))
                .expect("bias axes in the output");
            let shape = out[first..]
                .chars()
                .map(|l| if axes.contains(l) { size(l) } else { Ok(1) })
                .collect::<Result<Vec<_>, _>>()?;
            Some(shape)
        }
    };
    let summed_sizes: Vec<usize> = summed.chars().map(|l| size_in(l).unwrap_or(0)).collect();
    let sample_batch = &input[..input.len() - summed.len()];
    let flat_input = (summed.len() != 1).then(|| {
        sample_batch
            .iter()
            .copied()
            .chain([summed_sizes.iter().product()])
            .collect()
    });
    let units = free_sizes.iter().product();
    let output =
        (free.len() != 1).then(|| sample_batch.iter().chain(&free_sizes).copied().collect());
    Ok(EinsumPlan {
        kernel_shape,
        bias_shape,
        flat_input,
        units,
        output,
        kernel_order,
        free: free_sizes,
    })
}

/// The sizes the config gives the explicit output labels (`output_shape`, without the batch
/// axis, or with the elided axes left out); None where it leaves one open.
fn output_dims(config: &Value, out: &str, elided: bool) -> Result<Vec<Option<usize>>, String> {
    let given: Vec<Option<usize>> = match config.get("output_shape") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect(),
        Some(v) => vec![v.as_u64().map(|d| d as usize)],
    };
    // Without an ellipsis the output's first label is the batch, which the config leaves out.
    let skip = usize::from(!elided);
    let mut dims = vec![None; out.len()];
    for (i, d) in given.into_iter().enumerate() {
        if let Some(slot) = dims.get_mut(i + skip) {
            *slot = d;
        }
    }
    Ok(dims)
}

impl EinsumPlan {
    /// The file's kernel as the Dense's `[summed, units]` matrix.
    pub fn kernel(&self, kernel: &Tensor) -> Tensor {
        let k: usize = self.kernel_shape.iter().product::<usize>() / self.units.max(1);
        let permuted = kernel.view().permuted_axes(IxDyn(&self.kernel_order));
        ArrayD::from_shape_vec(IxDyn(&[k, self.units]), permuted.iter().copied().collect())
            .expect("the kernel's values")
    }

    /// The file's bias broadcast over the kernel's output axes, flattened.
    pub fn bias(&self, bias: &Tensor) -> Tensor {
        let mut b = bias.view();
        while b.ndim() < self.free.len() {
            b.insert_axis_inplace(ndarray::Axis(0));
        }
        let full = b
            .broadcast(IxDyn(&self.free))
            .expect("a bias along the kernel's output axes");
        ArrayD::from_shape_vec(IxDyn(&[self.units]), full.iter().copied().collect())
            .expect("the bias's values")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(equation: &str, output_shape: Value, bias: &str, input: &[usize]) -> EinsumPlan {
        plan(
            &json!({"equation": equation, "output_shape": output_shape, "bias_axes": bias}),
            input,
        )
        .unwrap()
    }

    #[test]
    fn attention_projections_are_dense_layers() {
        // MultiHeadAttention's query projection and output projection.
        let q = of("abc,cde->abde", json!([null, 2, 3]), "de", &[5, 8]);
        assert_eq!((q.kernel_shape.clone(), q.units), (vec![8, 2, 3], 6));
        assert_eq!(
            (q.flat_input.clone(), q.output.clone()),
            (None, Some(vec![5, 2, 3]))
        );
        let o = of("abcd,cde->abe", json!([null, 8]), "e", &[5, 2, 3]);
        assert_eq!(
            (o.flat_input.clone(), o.units, o.output),
            (Some(vec![5, 6]), 8, None)
        );
        assert_eq!(o.bias_shape, Some(vec![8]));
    }

    #[test]
    fn kernels_are_reordered_and_biases_broadcast() {
        // The kernel written [units, in]: Dense reads it transposed.
        let p = of("abc,dc->abd", json!([null, 2]), "d", &[3, 4]);
        let kernel = ArrayD::from_shape_fn(IxDyn(&[2, 4]), |i| (i[0] * 10 + i[1]) as f32);
        let k = p.kernel(&kernel);
        assert_eq!(k.shape(), &[4, 2]);
        assert_eq!(k[[3, 1]], 13.0);
        // A bias along the last of two output axes repeats along the first.
        let p = of("ab,bcd->acd", json!([2, 3]), "d", &[4]);
        assert_eq!(p.bias_shape, Some(vec![3]));
        let bias = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0, 2.0, 3.0]).unwrap();
        assert_eq!(p.bias(&bias).as_slice().unwrap(), &[1., 2., 3., 1., 2., 3.]);
        let p = of("...b,bc->...c", json!(5), "c", &[7, 4]);
        assert_eq!((p.units, p.kernel_shape.clone()), (5, vec![4, 5]));
    }

    #[test]
    fn other_equations_are_refused_with_their_reason() {
        let refused =
            |eq: &str| plan(&json!({"equation": eq, "output_shape": [4, 2]}), &[3, 2]).unwrap_err();
        assert!(
            refused("abc,cd->adb").contains("another order"),
            "{}",
            refused("abc,cd->adb")
        );
        assert!(refused("abc,bcd->abd").contains("shared by all three"));
        // A label twice takes a diagonal (Keras runs `abb,bbc->ac`).
        let diagonal = plan(
            &json!({"equation": "abb,bbc->ac", "output_shape": [3]}),
            &[4, 4],
        )
        .unwrap_err();
        assert!(
            diagonal.contains("the label 'b' twice in 'abb'"),
            "{diagonal}"
        );
        assert!(
            refused("ab...,bc->ac...").contains("an ellipsis keqv cannot place"),
            "{}",
            refused("ab...,bc->ac...")
        );
        // Every refusal names the equation and the forms keqv runs.
        for eq in [
            "abc,cd->adb",
            "abc,cd->ad",
            "abb,bbc->ac",
            "ab...,bc->ac...",
        ] {
            let err = refused(eq);
            assert!(err.starts_with(&format!("has equation '{eq}', ")), "{err}");
            assert!(err.ends_with(ACCEPTED), "{err}");
        }
    }
}

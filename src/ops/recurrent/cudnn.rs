//! The legacy CuDNNLSTM and CuDNNGRU layers (Keras 2, `tf.compat.v1.keras.layers`): an LSTM
//! with tanh and sigmoid, a GRU with `reset_after`, whose variables are laid out for cuDNN.
//! tf-keras hands each gate's kernel block `[features, units]` to cuDNN flattened as it is,
//! which cuDNN reads as a `[units, features]` matrix, so the block is not the layer's kernel:
//! tf-keras's own conversion to LSTM/GRU weights (`_convert_rnn_weights`) reshapes each
//! kernel block column-major after transposing it, transposes each recurrent block, sums
//! an LSTM's input and recurrent biases (`[8·units]`) and stacks a GRU's (`[6·units]`, input
//! then recurrent) as `[2, 3·units]`. keqv reads them the same way, then runs the layer.

use ndarray::{ArrayD, ArrayView2, Axis, Ix2, IxDyn};

use super::{Cell, Recurrent};
use crate::ops::WeightSpec;

pub const CLASSES: &[&str] = &["CuDNNLSTM", "CuDNNGRU"];

/// The cell a CuDNN class computes as.
pub fn cell(class: &str) -> Option<Cell> {
    match class {
        "CuDNNLSTM" => Some(Cell::Lstm),
        "CuDNNGRU" => Some(Cell::Gru { reset_after: true }),
        _ => None,
    }
}

/// The variables as a CuDNN layer stores them: the kernels shaped as the layer's, and one bias
/// of `[2·gates·units]` (the input biases, then the recurrent ones).
pub fn file_weights(r: &Recurrent, features: usize) -> Vec<WeightSpec> {
    let width = r.cell.gates() * r.units;
    vec![
        WeightSpec::new("kernel", vec![features, width]),
        WeightSpec::new("recurrent_kernel", vec![r.units, width]),
        WeightSpec::new("bias", vec![2 * width]),
    ]
}

/// The file's variables (as [`file_weights`]) in the layout of the layer `r`.
pub fn to_layer_layout(r: &Recurrent, file: [&ArrayD<f32>; 3]) -> Vec<ArrayD<f32>> {
    let [kernel, recurrent, bias] = file;
    let units = r.units;
    let width = r.cell.gates() * units;
    let kernel = per_gate(kernel, units, |k| {
        // The block's row-major values, read back column-major into its shape.
        let (rows, cols) = k.dim();
        let flat: Vec<f32> = k.iter().copied().collect();
        ArrayD::from_shape_fn(IxDyn(&[rows, cols]), |i| flat[i[0] + i[1] * rows])
    });
    let recurrent = per_gate(recurrent, units, |k| k.t().to_owned().into_dyn());
    let (input_bias, recurrent_bias) = bias.view().split_at(Axis(0), width);
    let bias = match r.cell {
        Cell::Gru { .. } => ndarray::concatenate(Axis(0), &[input_bias, recurrent_bias])
            .expect("two halves of one bias")
            .into_shape_with_order(IxDyn(&[2, width]))
            .expect("[2, 3·units] holds the bias"),
        _ => (&input_bias + &recurrent_bias).into_dyn(),
    };
    vec![kernel, recurrent, bias]
}

/// `matrix` with each gate's block of `units` columns replaced by `f(block)`.
fn per_gate(
    matrix: &ArrayD<f32>,
    units: usize,
    f: impl Fn(ArrayView2<f32>) -> ArrayD<f32>,
) -> ArrayD<f32> {
    let m = matrix
        .view()
        .into_dimensionality::<Ix2>()
        .expect("a 2-D kernel, checked when read");
    let mut out = m.to_owned();
    for g in 0..m.ncols().checked_div(units).unwrap_or(0) {
        let cols = ndarray::s![.., g * units..(g + 1) * units];
        let block = f(m.slice(cols));
        out.slice_mut(cols).assign(
            &block
                .into_dimensionality::<Ix2>()
                .expect("a block keeps its rank"),
        );
    }
    out.into_dyn()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Activation, Emit};

    fn layer(cell: Cell, units: usize) -> Recurrent {
        Recurrent {
            cell,
            units,
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            use_bias: true,
            return_sequences: false,
            go_backwards: false,
            masked: false,
            zero_output_for_mask: false,
            reverse_output: false,
            initial_state: false,
            emit: Emit::Output,
            conv: None,
        }
    }

    fn range(shape: &[usize]) -> ArrayD<f32> {
        let n: usize = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|v| v as f32).collect()).unwrap()
    }

    #[test]
    fn kernel_blocks_are_read_column_major_as_tf_keras_converts_them() {
        // tf-keras's docstring: [[0, 1, 2], [3, 4, 5]] <-> [[0, 2, 4], [1, 3, 5]] per gate.
        let r = layer(Cell::Gru { reset_after: true }, 3);
        let block = [[0., 1., 2.], [3., 4., 5.]];
        let mut kernel = ArrayD::zeros(IxDyn(&[2, 9]));
        for g in 0..3 {
            for (i, row) in block.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    kernel[[i, g * 3 + j]] = v + 10.0 * g as f32;
                }
            }
        }
        let out = to_layer_layout(&r, [&kernel, &range(&[3, 9]), &range(&[18])]);
        let gate1: Vec<f32> = out[0]
            .slice(ndarray::s![.., 3..6])
            .iter()
            .copied()
            .collect();
        assert_eq!(gate1, [10., 12., 14., 11., 13., 15.]);
        // Recurrent values v = 9·row + column: each gate's block is transposed.
        assert_eq!((out[1][[0, 1]], out[1][[1, 0]]), (9.0, 1.0));
        assert_eq!(out[1][[0, 4]], 12.0);
        assert_eq!(out[2].shape(), [2, 9]);
        assert_eq!(out[2][[1, 0]], 9.0, "the recurrent bias is the second row");
    }

    #[test]
    fn lstm_biases_are_summed() {
        let r = layer(Cell::Lstm, 1);
        let out = to_layer_layout(&r, [&range(&[1, 4]), &range(&[1, 4]), &range(&[8])]);
        assert_eq!(
            out[2].iter().copied().collect::<Vec<_>>(),
            [4., 6., 8., 10.]
        );
    }
}

//! Recurrent layers: SimpleRNN, LSTM and GRU (both `reset_after` forms) over a `[steps,
//! features]` sample, returning the last state or the whole sequence, forwards or backwards.
//!
//! Keras's formulas (gates split from `x·kernel + bias` and `h·recurrent_kernel`, in Keras's gate
//! order), with `act` the activation and `σ` the recurrent activation:
//! - SimpleRNN: `h = act(x·W + b + h·U)`.
//! - LSTM, gates i, f, c, o: `c = σ(f)·c + σ(i)·act(c̃)`, `h = σ(o)·act(c)`.
//! - GRU, gates z, r, h: `h = z·h + (1 − z)·ĥ` with `z = σ(x_z + h·U_z)`, `r = σ(x_r + h·U_r)`
//!   and `ĥ = act(x_h + r·(h·U_h + b_h))` with `reset_after` (bias `[2, 3·units]`: input and
//!   recurrent rows), else `ĥ = act(x_h + (r·h)·U_h)`.
//!
//! With `go_backwards` the steps run from the last to the first, and a returned sequence is in
//! that processing order, as Keras returns it.
//!
//! The generic `RNN` layer over these layers' cells ([`cells`]) and the legacy CuDNN layers
//! ([`cudnn`]) read as the same op. ConvLSTM1D/2D/3D are LSTMs whose transforms are
//! convolutions (see `conv_lstm`): `conv` holds the input convolution, and the state is an
//! image rather than a vector.

pub mod cells;
mod conv_lstm;
mod cpu;
pub mod cudnn;

pub use conv_lstm::recurrent_conv;

use ndarray::ArrayD;
use serde::Serialize;
use serde_json::Value;

use super::activation::named_activation;
use super::fields::{bool_field, usize_field};
use super::{Activation, Conv, Op, Real, WeightSpec};
use crate::keras::Dialect;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cell {
    Simple,
    Lstm,
    /// `reset_after`: the reset gate multiplies `h·U_h + b_h` (Keras's default), else `h`.
    Gru {
        reset_after: bool,
    },
}

impl Cell {
    /// Gates per unit: the width of the kernels is `gates · units`.
    pub fn gates(self) -> usize {
        match self {
            Cell::Simple => 1,
            Cell::Lstm => 4,
            Cell::Gru { .. } => 3,
        }
    }
}

/// Weights: kernel `[features, gates·units]`, recurrent kernel `[units, gates·units]`, then with
/// `use_bias` the bias `[gates·units]` (`[2, 3·units]` for a GRU with `reset_after`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recurrent {
    pub cell: Cell,
    pub units: usize,
    pub activation: Activation,
    /// The gates' activation (LSTM and GRU).
    pub recurrent_activation: Activation,
    pub use_bias: bool,
    pub return_sequences: bool,
    pub go_backwards: bool,
    /// A second input holds the mask of the real steps: a padded step leaves the state as it
    /// was, and its output is the previous output (zeros with `zero_output_for_mask`).
    pub masked: bool,
    pub zero_output_for_mask: bool,
    /// A returned sequence in input order rather than processing order (a Bidirectional
    /// layer's backward half, turned back before the merge).
    pub reverse_output: bool,
    /// The inputs after the sequence start with the initial state (h, then an LSTM's c)
    /// rather than zeros (Keras's `initial_state`).
    pub initial_state: bool,
    /// What the node gives: the layer's output, or (`return_state`) one of its final states.
    pub emit: Emit,
    /// A ConvLSTM's input convolution (`4·units` filters, the layer's bias); None for the
    /// dense layers.
    pub conv: Option<Conv>,
}

/// A recurrent node's output: with `return_state` a layer is one node per output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Emit {
    Output,
    /// The final h.
    StateH,
    /// An LSTM's final c.
    StateC,
}

pub const CLASSES: &[&str] = &[
    "SimpleRNN",
    "LSTM",
    "GRU",
    "RNN",
    "CuDNNLSTM",
    "CuDNNGRU",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
];

pub fn parse(class: &str, config: &Value, input: &[usize], dialect: Dialect) -> Result<Op, String> {
    if class == "RNN" {
        return match cells::cell_layers(config)?.as_slice() {
            [one] => parse(one.class, &one.config, input, dialect),
            _ => Err("RNN over StackedRNNCells inside a wrapper is not supported; call the RNN directly, where keqv runs stacked cells".into()),
        };
    }
    if class.starts_with("ConvLSTM") {
        return conv_lstm::parse(class, config, input, dialect).map(Op::Recurrent);
    }
    let cell = match class {
        "SimpleRNN" => Cell::Simple,
        "LSTM" => Cell::Lstm,
        _ => match cudnn::cell(class) {
            Some(cell) => cell,
            None => Cell::Gru {
                reset_after: bool_field(config, "reset_after", true)?,
            },
        },
    };
    if input.len() != 2 {
        return Err(format!(
            "{class} needs a sample of [steps, features], got {input:?}"
        ));
    }
    let units = usize_field(config, "units")?.ok_or(format!("{class} config has no 'units'"))?;
    common(class, config, cell, units, dialect).map(Op::Recurrent)
}

/// The settings every recurrent class shares, read from its config; stateful and time-major
/// layers refused.
fn common(
    class: &str,
    config: &Value,
    cell: Cell,
    units: usize,
    dialect: Dialect,
) -> Result<Recurrent, String> {
    refuse(config, "stateful", "carries its state from one batch to the next; keqv compares stateless predictions: re-save the model with stateful=False")?;
    refuse(config, "time_major", "reads time-major inputs, which keqv cannot run yet; re-save the model with time_major=False")?;
    let activation = named_activation(config, "activation", Activation::Tanh, dialect)?;
    let recurrent_activation =
        named_activation(config, "recurrent_activation", Activation::Sigmoid, dialect)?;
    for a in [activation, recurrent_activation] {
        if !a.is_elementwise() {
            return Err(format!(
                "{class} with a {} activation is not supported: keqv runs elementwise activations in recurrent layers",
                a.name()
            ));
        }
    }
    Ok(Recurrent {
        cell,
        units,
        activation,
        recurrent_activation,
        use_bias: bool_field(config, "use_bias", true)?,
        return_sequences: bool_field(config, "return_sequences", false)?,
        go_backwards: bool_field(config, "go_backwards", false)?,
        masked: false,
        zero_output_for_mask: bool_field(config, "zero_output_for_mask", false)?,
        reverse_output: false,
        initial_state: false,
        emit: Emit::Output,
        conv: None,
    })
}

/// An error saying why, where the config sets `key` to true.
fn refuse(config: &Value, key: &str, why: &str) -> Result<(), String> {
    if bool_field(config, key, false)? {
        return Err(format!("{key}=True {why}"));
    }
    Ok(())
}

impl Recurrent {
    pub fn name(&self) -> String {
        let cell = match (&self.conv, self.cell) {
            (Some(conv), _) => format!("conv_lstm{}d", conv.window.len()),
            (None, Cell::Simple) => "simple_rnn".into(),
            (None, Cell::Lstm) => "lstm".into(),
            (None, Cell::Gru { reset_after: true }) => "gru".into(),
            (None, Cell::Gru { reset_after: false }) => "gru(reset_before)".into(),
        };
        match self.emit {
            Emit::Output => cell,
            Emit::StateH => format!("{cell}:state_h"),
            Emit::StateC => format!("{cell}:state_c"),
        }
    }

    /// The states a layer of this cell carries: h, and an LSTM's c.
    pub fn state_count(&self) -> usize {
        if self.cell == Cell::Lstm {
            2
        } else {
            1
        }
    }

    /// Inputs besides the sequence: the initial states, then the mask.
    pub fn extra_inputs(&self) -> usize {
        usize::from(self.masked)
            + if self.initial_state {
                self.state_count()
            } else {
                0
            }
    }

    /// The shape of one sample's state (h or c): `[units]`, or a ConvLSTM's image.
    pub fn state_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        if let Some(conv) = &self.conv {
            return conv_lstm::state_shape(conv, self.units, input);
        }
        match input {
            [_, _] => Ok(vec![self.units]),
            _ => Err(format!(
                "a recurrent layer needs a sample of [steps, features], got {input:?}"
            )),
        }
    }

    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        let state = self.state_shape(input)?;
        Ok(if self.return_sequences && self.emit == Emit::Output {
            std::iter::once(input[0]).chain(state).collect()
        } else {
            state
        })
    }

    pub fn weights(&self, input: &[usize]) -> Vec<WeightSpec> {
        if let Some(conv) = &self.conv {
            return conv_lstm::weights(conv, self.units, input);
        }
        let width = self.cell.gates() * self.units;
        let features = input.last().copied().unwrap_or(0);
        let mut w = vec![
            WeightSpec::new("kernel", vec![features, width]),
            WeightSpec::new("recurrent_kernel", vec![self.units, width]),
        ];
        if self.use_bias {
            w.push(WeightSpec::new(
                "bias",
                match self.cell {
                    Cell::Gru { reset_after: true } => vec![2, width],
                    _ => vec![width],
                },
            ));
        }
        w
    }

    /// Per step, one multiply–add per kernel and recurrent kernel entry.
    pub fn macs(&self, input: &[usize]) -> u64 {
        if let Some(conv) = &self.conv {
            return conv_lstm::macs(conv, self.units, input);
        }
        let [steps, features] = input else {
            return 0;
        };
        let width = self.cell.gates() * self.units;
        (steps * (features + self.units) * width) as u64
    }

    /// The layer over `inputs`: the sequence, the initial states, the mask (as `extra_inputs`).
    pub fn eval<T: Real>(&self, inputs: &[&ArrayD<T>], weights: &[&ArrayD<T>]) -> ArrayD<T> {
        let states = if self.initial_state {
            &inputs[1..1 + self.state_count()]
        } else {
            &[]
        };
        if let Some(conv) = &self.conv {
            return conv_lstm::eval(self, conv, inputs[0], states, weights);
        }
        let mask = self.masked.then(|| *inputs.last().expect("a mask input"));
        cpu::recurrent(self, inputs[0], states, mask, weights)
    }
}

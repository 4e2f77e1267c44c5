//! Recurrent layers: SimpleRNN, LSTM and GRU (both `reset_after` forms), forwards and backwards,
//! returning the last state or the whole sequence, with any elementwise activation and gate
//! activation, with and without bias.

use super::activation::{activation, elementwise_activations};
use super::plain::*;
use keqv::graph::{Activation, Op};
use keqv::ops::{Cell, Emit, Recurrent};
use proptest::prelude::*;

/// A value of the reference and a first-order bound on the float32 executor's error in it.
///
/// A float32 sum of K terms rounds by at most ~K·ε·Σ|terms| (~sqrt(K)·ε for random data), its
/// operands' rounding to float32 adding ε·Σ|terms|; like dense.rs, it is allowed 2e-6·Σ|terms|
/// (34ε per unit of magnitude, K ≤ 5 + 6 + 2 here). An elementwise operation or activation
/// rounds by a few ulp of its result: 4ε. The error carried in from the previous step
/// propagates through each formula to first order, and through an activation by as much as the
/// activation moves over its argument's error interval (its slope there, or the jump of a
/// discontinuous relu that the interval straddles). A value past float32's range (an
/// exponential activation of a large argument) has an unknown error, NaN, which every later
/// value it enters inherits. Over 20000 generated problems the CPU executor's worst error was 3%
/// of this bound: the roundings rarely line up as the bound allows.
#[derive(Clone, Copy, Debug)]
struct Val {
    v: f64,
    err: f64,
}

const SUM: f64 = 2e-6;
const ULPS: f64 = 4.0 * f32::EPSILON as f64;
/// Well inside float32's range (3.4e38), so that float32 cannot overflow where float64 does not.
const RANGE: f64 = 1e30;

fn val(v: f64, err: f64) -> Val {
    let err = if v.abs() <= RANGE { err } else { f64::NAN };
    Val { v, err }
}

fn exact(v: f64) -> Val {
    Val { v, err: 0.0 }
}

/// `Σ value·weight`, the weights exact (a bias is a term of value 1): one float32 sum.
fn sum(terms: impl IntoIterator<Item = (Val, f64)>) -> Val {
    let (mut v, mut carried, mut magnitude) = (0.0, 0.0, 0.0);
    for (x, w) in terms {
        v += x.v * w;
        carried += x.err * w.abs();
        magnitude += (x.v * w).abs();
    }
    val(v, carried + SUM * magnitude)
}

fn add(a: Val, b: Val) -> Val {
    let v = a.v + b.v;
    val(v, a.err + b.err + ULPS * v.abs())
}

fn mul(a: Val, b: Val) -> Val {
    let v = a.v * b.v;
    val(v, a.v.abs() * b.err + b.v.abs() * a.err + ULPS * v.abs())
}

fn one_minus(a: Val) -> Val {
    add(exact(1.0), val(-a.v, a.err))
}

fn act(f: &Activation, a: Val) -> Val {
    let v = activation(f, a.v);
    let moved = [a.v - a.err, a.v + a.err].map(|x| (activation(f, x) - v).abs());
    val(v, moved[0].max(moved[1]) + ULPS * v.abs())
}

/// Keras's layer on sample `b` of `x` `[batch, steps, features]`, in float64, step by step: the
/// state after each step, in processing order.
fn keras_layer(
    r: &Recurrent,
    x: &Plain,
    b: usize,
    kernel: &Plain,
    recurrent: &Plain,
    bias: Option<&Plain>,
    initial: [Option<&Plain>; 2],
) -> (Vec<Vec<Val>>, Vec<Val>) {
    let (steps, features) = (x.shape[1], x.shape[2]);
    let n = r.units;
    let width = r.cell.gates() * n;
    let (act_of, gate_of) = (&r.activation, &r.recurrent_activation);
    let reset_after = r.cell == Cell::Gru { reset_after: true };
    // The bias of column `col` of x·W; with reset_after, the second row is h·U's.
    let input_bias = |col: usize| bias.map_or(0.0, |p| p.data[col]);
    let recurrent_bias = |col: usize| match bias {
        Some(p) if reset_after => p.data[width + col],
        _ => 0.0,
    };
    // The terms of x_t·W[:, col] + b_in[col], and of h·U[:, col] + b_rec[col].
    let x_terms = |t: usize, col: usize| -> Vec<(Val, f64)> {
        (0..features)
            .map(|f| {
                let xv = exact(x.data[x.flat(&[b, t, f])]);
                (xv, kernel.data[f * width + col])
            })
            .chain([(exact(1.0), input_bias(col))])
            .collect()
    };
    let h_terms = |h: &[Val], col: usize| -> Vec<(Val, f64)> {
        (0..n)
            .map(|k| (h[k], recurrent.data[k * width + col]))
            .chain([(exact(1.0), recurrent_bias(col))])
            .collect()
    };
    // x_t·W + b + h·U (+ b_rec) of unit j of gate g (Keras's gate order), one sum.
    let gate = |t: usize, h: &[Val], g: usize, j: usize| -> Val {
        sum(x_terms(t, g * n + j)
            .into_iter()
            .chain(h_terms(h, g * n + j)))
    };
    // The initial h and c: given ones, else zeros.
    let state = |p: Option<&Plain>| -> Vec<Val> {
        (0..n)
            .map(|j| exact(p.map_or(0.0, |p| p.data[b * n + j])))
            .collect()
    };
    let mut h = state(initial[0]);
    let mut c = state(initial[1]);
    let mut states = Vec::new();
    for s in 0..steps {
        let t = if r.go_backwards { steps - 1 - s } else { s };
        let next: Vec<Val> = match r.cell {
            // h = act(x·W + b + h·U)
            Cell::Simple => (0..n).map(|j| act(act_of, gate(t, &h, 0, j))).collect(),
            // i, f, c̃, o: c = σ(f)·c + σ(i)·act(c̃), h = σ(o)·act(c)
            Cell::Lstm => (0..n)
                .map(|j| {
                    let i = act(gate_of, gate(t, &h, 0, j));
                    let f = act(gate_of, gate(t, &h, 1, j));
                    let candidate = act(act_of, gate(t, &h, 2, j));
                    let o = act(gate_of, gate(t, &h, 3, j));
                    c[j] = add(mul(f, c[j]), mul(i, candidate));
                    mul(o, act(act_of, c[j]))
                })
                .collect(),
            // z, r, ĥ: h = z·h + (1 − z)·ĥ
            Cell::Gru { reset_after } => {
                let z: Vec<Val> = (0..n).map(|j| act(gate_of, gate(t, &h, 0, j))).collect();
                let reset: Vec<Val> = (0..n).map(|j| act(gate_of, gate(t, &h, 1, j))).collect();
                let candidate: Vec<Val> = if reset_after {
                    // ĥ = act(x_h + b_in_h + r·(h·U_h + b_rec_h))
                    (0..n)
                        .map(|j| {
                            let xh = sum(x_terms(t, 2 * n + j));
                            let hu = sum(h_terms(&h, 2 * n + j));
                            act(act_of, add(xh, mul(reset[j], hu)))
                        })
                        .collect()
                } else {
                    // ĥ = act(x_h + b_h + (r·h)·U_h)
                    let gated: Vec<Val> = (0..n).map(|k| mul(reset[k], h[k])).collect();
                    (0..n)
                        .map(|j| {
                            let terms = x_terms(t, 2 * n + j);
                            act(
                                act_of,
                                sum(terms.into_iter().chain(h_terms(&gated, 2 * n + j))),
                            )
                        })
                        .collect()
                };
                (0..n)
                    .map(|j| add(mul(z[j], h[j]), mul(one_minus(z[j]), candidate[j])))
                    .collect()
            }
        };
        h = next;
        states.push(h.clone());
    }
    (states, c)
}

fn cells() -> Vec<Cell> {
    vec![
        Cell::Simple,
        Cell::Lstm,
        Cell::Gru { reset_after: true },
        Cell::Gru { reset_after: false },
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn recurrent_layers_follow_keras_formulas(
        cell in prop::sample::select(cells()), batch in prop_oneof![1usize..=3, 9usize..=20], steps in 1usize..=6,
        features in 1usize..=5, units in 1usize..=6, use_bias: bool, return_sequences: bool,
        go_backwards: bool, seed: u64, which: prop::sample::Index, which_gate: prop::sample::Index,
        initial_state: bool, emit in 0usize..3,
    ) {
        let activations = elementwise_activations();
        let (act, gate_act) = (*which.get(&activations), *which_gate.get(&activations));
        let width = cell.gates() * units;
        let x = plain(&[batch, steps, features], seed, 2.0);
        let kernel = plain(&[features, width], seed ^ 1, 1.0 / (features as f64).sqrt());
        let recurrent = plain(&[units, width], seed ^ 2, 1.0 / (units as f64).sqrt());
        // With reset_after, a row of input biases and a row of recurrent biases.
        let bias_shape = match cell {
            Cell::Gru { reset_after: true } => vec![2, width],
            _ => vec![width],
        };
        let bias = plain(&bias_shape, seed ^ 3, 0.5);
        let mut weights = vec![&kernel, &recurrent];
        if use_bias { weights.push(&bias); }
        let emit = match emit {
            0 => Emit::Output,
            1 => Emit::StateH,
            _ if cell == Cell::Lstm => Emit::StateC,
            _ => Emit::StateH,
        };
        let r = Recurrent {
            cell, units, activation: act, recurrent_activation: gate_act, use_bias,
            return_sequences, go_backwards, masked: false, zero_output_for_mask: false,
            reverse_output: false, initial_state, emit, conv: None,
        };
        let h0 = plain(&[batch, units], seed ^ 4, 1.0);
        let c0 = plain(&[batch, units], seed ^ 5, 1.0);
        let mut inputs = vec![&x];
        if initial_state {
            inputs.push(&h0);
            if cell == Cell::Lstm {
                inputs.push(&c0);
            }
        }
        let initial = if initial_state { [Some(&h0), Some(&c0)] } else { [None, None] };
        let what = format!("{}({}, {})", r.name(), act.name(), gate_act.name());
        let samples: Vec<_> = (0..batch)
            .map(|b| keras_layer(&r, &x, b, &kernel, &recurrent, use_bias.then_some(&bias), initial))
            .collect();
        // An exploding recurrence (an exponential activation with a gain above one) leaves
        // float32's range within a few steps, and its error bound is unknown: such a problem
        // checks the range, not the formulas.
        prop_assume!(samples.iter().all(|(states, c)| {
            states.iter().flatten().chain(c).all(|v| v.err.is_finite())
        }));
        let got = run(&node(Op::Recurrent(r), &inputs, &weights), &inputs);
        let sequences = return_sequences && emit == Emit::Output;
        let out_shape = if sequences { vec![batch, steps, units] } else { vec![batch, units] };
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        let want: Vec<Val> = samples
            .into_iter()
            .flat_map(|(states, c)| match emit {
                Emit::StateC => c,
                _ if sequences => states.concat(),
                _ => states[steps - 1].clone(),
            })
            .collect();
        let values: Vec<f64> = want.iter().map(|w| w.v).collect();
        // assert_close allows scale·(2e-6 + 2e-5·|want|): the propagated bound, past its floor.
        assert_close(&got, &values, &|i| 1.0 + want[i].err / SUM, &what);
    }
}

/// One sample's `[features]` row as a one-step sequence `[1, 1, features]`, or a state `[1, n]`.
fn row(values: &[f64], shape: &[usize]) -> Plain {
    Plain {
        shape: shape.to_vec(),
        data: values.to_vec(),
    }
}

/// Keras's RNN over StackedRNNCells on sample `b`, step by step (each cell one step of
/// [`keras_layer`] from the cell's state): at each step, in processing order, cell k reads cell
/// k−1's new h; a masked step leaves every cell's state as it was and repeats the last output.
/// The outputs of the last cell, in processing order.
fn stacked_cells_reference(
    cells: &[(Recurrent, Vec<Plain>)],
    x: &Plain,
    mask: Option<&Plain>,
    b: usize,
    go_backwards: bool,
) -> Vec<Vec<f64>> {
    let (steps, features) = (x.shape[1], x.shape[2]);
    let mut h: Vec<Vec<f64>> = cells.iter().map(|(r, _)| vec![0.0; r.units]).collect();
    let mut c = h.clone();
    let mut last = vec![0.0; cells.last().unwrap().0.units];
    let mut outputs = Vec::new();
    for s in 0..steps {
        let t = if go_backwards { steps - 1 - s } else { s };
        if mask.is_some_and(|m| m.data[b * steps + t] == 0.0) {
            outputs.push(last.clone());
            continue;
        }
        let start = x.flat(&[b, t, 0]);
        let mut input = x.data[start..start + features].to_vec();
        for (k, (r, w)) in cells.iter().enumerate() {
            let one_step = Recurrent {
                go_backwards: false,
                ..r.clone()
            };
            let x_t = row(&input, &[1, 1, input.len()]);
            let (h0, c0) = (row(&h[k], &[1, r.units]), row(&c[k], &[1, r.units]));
            let (states, c_new) = keras_layer(
                &one_step,
                &x_t,
                0,
                &w[0],
                &w[1],
                w.get(2),
                [Some(&h0), Some(&c0)],
            );
            h[k] = states[0].iter().map(|v| v.v).collect();
            c[k] = c_new.iter().map(|v| v.v).collect();
            input = h[k].clone();
        }
        last = input;
        outputs.push(last.clone());
    }
    outputs
}

proptest! {
    #![proptest_config(config())]

    /// An RNN over stacked cells, as keqv builds it (one recurrent layer per cell, each but the
    /// last returning its sequence, backwards ones turning it back into input order for the
    /// next, which reads the same mask) computes Keras's step-by-step stacked cells.
    #[test]
    fn stacked_cells_are_a_chain_of_their_layers(
        kinds in prop::collection::vec(prop::sample::select(cells()), 2..=3),
        units in prop::collection::vec(1usize..=4, 3), batch in prop_oneof![1usize..=3, 9usize..=20], steps in 1usize..=6,
        features in 1usize..=4, go_backwards: bool, masked: bool, seed: u64,
    ) {
        let x = plain(&[batch, steps, features], seed, 2.0);
        let mask = Plain {
            shape: vec![batch, steps],
            data: values(seed ^ 9, batch * steps, 1.0).iter().map(|v| f64::from(*v > 0.0)).collect(),
        };
        let mut width_in = features;
        let cells: Vec<(Recurrent, Vec<Plain>)> = kinds
            .iter()
            .enumerate()
            .map(|(k, &cell)| {
                let n = units[k];
                let width = cell.gates() * n;
                let bias_shape = match cell {
                    Cell::Gru { reset_after: true } => vec![2, width],
                    _ => vec![width],
                };
                let s = seed ^ (16 * (k as u64 + 1));
                let w = vec![
                    plain(&[width_in, width], s, 1.0 / (width_in as f64).sqrt()),
                    plain(&[n, width], s ^ 1, 1.0 / (n as f64).sqrt()),
                    plain(&bias_shape, s ^ 2, 0.5),
                ];
                width_in = n;
                let r = Recurrent {
                    cell, units: n, activation: Activation::Tanh,
                    recurrent_activation: Activation::Sigmoid, use_bias: true,
                    return_sequences: true, go_backwards, masked, zero_output_for_mask: false,
                    reverse_output: false, initial_state: false, emit: Emit::Output, conv: None,
                };
                (r, w)
            })
            .collect();
        // The chain keqv builds, run layer by layer.
        let mut sequence = x.clone();
        for (k, (r, w)) in cells.iter().enumerate() {
            let last = k + 1 == cells.len();
            let r = Recurrent { reverse_output: !last && go_backwards, ..r.clone() };
            let mut inputs = vec![&sequence];
            if masked {
                inputs.push(&mask);
            }
            let weights: Vec<&Plain> = w.iter().collect();
            let out = run(&node(Op::Recurrent(r), &inputs, &weights), &inputs);
            sequence = Plain {
                shape: out.shape().to_vec(),
                data: out.iter().map(|v| f64::from(*v)).collect(),
            };
        }
        let want: Vec<f64> = (0..batch)
            .flat_map(|b| {
                stacked_cells_reference(&cells, &x, masked.then_some(&mask), b, go_backwards).concat()
            })
            .collect();
        let what = format!("{:?} backwards {go_backwards} masked {masked}", kinds);
        prop_assert_eq!(&sequence.shape, &vec![batch, steps, *units.get(cells.len() - 1).unwrap()]);
        // Every cell's layer rounds as its own problem above; this checks which step reads what.
        for (i, (g, w)) in sequence.data.iter().zip(&want).enumerate() {
            prop_assert!((g - w).abs() <= 1e-4, "{}: element {}: got {}, want {}", what, i, g, w);
        }
    }
}

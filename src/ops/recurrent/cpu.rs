//! The recurrent layers on the CPU: every step's input projection `x·W + b` as one GEMM, then
//! the time loop, one GEMM with the recurrent kernel per step and the gates elementwise.
//!
//! The samples of a batch recur independently, so the batch is split into one block of rows per
//! thread and each thread runs the whole time loop on its block: no synchronisation per step, and
//! each step's GEMM accumulates `h·U` straight into that step's projection. The recurrent kernel
//! is packed once for all steps. A batch too small to split runs one loop with threaded GEMMs.

use ndarray::{
    s, Array2, Array3, ArrayD, ArrayView2, ArrayViewMut2, ArrayViewMut3, Axis, Ix2, Ix3,
};
use rayon::prelude::*;

use super::{Cell, Emit, Recurrent};
use crate::ops::activation::apply_slice;
use crate::ops::gemm::{bias_rows, gemm, gemm_prepared, Rhs};
use crate::ops::Real;

/// Fewest rows a thread's block gets: below this a split loses more to the GEMM's short row
/// blocks than the threads win.
const MIN_ROWS_PER_THREAD: usize = 8;

/// The layer over `x` `[batch, steps, features]`: `[batch, steps, units]` with
/// `return_sequences` (in processing order), else the last output `[batch, units]`. `mask`
/// (`[batch, steps]`, 1.0 for real steps) makes padded steps keep the state.
pub(super) fn recurrent<T: Real>(
    r: &Recurrent,
    x: &ArrayD<T>,
    initial: &[&ArrayD<T>],
    mask: Option<&ArrayD<T>>,
    w: &[&ArrayD<T>],
) -> ArrayD<T> {
    let x = x
        .view()
        .into_dimensionality::<Ix3>()
        .expect("a [batch, steps, features] input, checked when built");
    let (batch, steps, _) = x.dim();
    let weights = StepWeights::new(r, w);
    let mut projected = project(x, matrix(w[0]), weights.input_bias.as_deref());
    let state = |k: usize| match initial.get(k) {
        // Standard layout, whatever the input's: each row's state is one slice.
        Some(s) => matrix(s).as_standard_layout().into_owned(),
        None => Array2::<T>::zeros((batch, r.units)),
    };
    let (mut h, mut c) = (state(0), state(1));
    let mut sequence = r
        .return_sequences
        .then(|| Array3::<T>::zeros((batch, steps, r.units)));
    let mut last = Array2::<T>::zeros((batch, r.units));
    let mask = mask.map(|m| {
        m.view()
            .into_dimensionality::<Ix2>()
            .expect("[batch, steps]")
    });

    let threads = rayon::current_num_threads();
    let rows = batch.div_ceil(threads).max(MIN_ROWS_PER_THREAD);
    let mut blocks = Vec::new();
    let mut sequence_blocks = sequence
        .as_mut()
        .map(|s| s.axis_chunks_iter_mut(Axis(0), rows));
    for (((p, h), c), last) in projected
        .axis_chunks_iter_mut(Axis(0), rows)
        .zip(h.axis_chunks_iter_mut(Axis(0), rows))
        .zip(c.axis_chunks_iter_mut(Axis(0), rows))
        .zip(last.axis_chunks_iter_mut(Axis(0), rows))
    {
        let first = blocks.len() * rows;
        let len = h.nrows();
        blocks.push(Block {
            projected: p,
            h,
            c,
            last,
            sequence: sequence_blocks.as_mut().and_then(|s| s.next()),
            mask: mask.map(|m| m.slice_move(s![first..first + len, ..])),
        });
    }
    if blocks.len() == 1 {
        // Too few rows to split: one loop, its GEMMs threaded instead.
        let block = blocks.pop().expect("one block");
        time_loop(r, &weights, block, true);
    } else {
        blocks
            .into_par_iter()
            .for_each(|block| time_loop(r, &weights, block, false));
    }
    match (r.emit, sequence) {
        (Emit::StateH, _) => h.into_dyn(),
        (Emit::StateC, _) => c.into_dyn(),
        (Emit::Output, Some(seq)) => seq.into_dyn(),
        (Emit::Output, None) => last.into_dyn(),
    }
}

/// `x·W + b` for every sample and step: `[batch, steps, gates·units]`.
fn project<T: Real>(
    x: ndarray::ArrayView3<T>,
    kernel: ArrayView2<T>,
    bias: Option<&[T]>,
) -> Array3<T> {
    let (batch, steps, features) = x.dim();
    let width = kernel.ncols();
    let x = x.as_standard_layout();
    let x = x
        .view()
        .into_shape_with_order((batch * steps, features))
        .expect("standard layout");
    let mut projected = bias_rows(batch * steps, width, bias);
    gemm(x, kernel, &mut projected.view_mut(), bias.is_some());
    projected
        .into_shape_with_order((batch, steps, width))
        .expect("one row per sample and step")
}

/// The weights every step reads: the recurrent kernel packed once (a GRU's split at its
/// candidate block, which its reset gate may multiply first) and the biases.
struct StepWeights<'a, T> {
    input_bias: Option<Vec<T>>,
    /// A GRU's `b_h…` row with `reset_after`: added to `h·U` inside the reset gate.
    recurrent_bias: Option<Vec<T>>,
    /// `U`, or a GRU's `[U_z U_r]` without `reset_after`.
    u: Rhs<'a, T>,
    /// A GRU's `U_h` without `reset_after`.
    u_h: Option<Rhs<'a, T>>,
}

impl<'a, T: Real> StepWeights<'a, T> {
    fn new(r: &Recurrent, w: &[&'a ArrayD<T>]) -> Self {
        let (input_bias, recurrent_bias) = match r.cell {
            _ if !r.use_bias => (None, None),
            Cell::Gru { reset_after: true } => {
                let b = matrix(w[2]);
                (Some(b.row(0).to_vec()), Some(b.row(1).to_vec()))
            }
            _ => (Some(w[2].iter().copied().collect()), None),
        };
        let u = matrix(w[1]);
        let n = r.units;
        let (u, u_h) = match r.cell {
            Cell::Gru { reset_after: false } => (
                Rhs::new(u.slice_move(s![.., ..2 * n])),
                Some(Rhs::new(u.slice_move(s![.., 2 * n..]))),
            ),
            _ => (Rhs::new(u), None),
        };
        StepWeights {
            input_bias,
            recurrent_bias,
            u,
            u_h,
        }
    }
}

/// One thread's rows of everything the time loop reads and writes.
struct Block<'a, T> {
    /// `[rows, steps, gates·units]`, each step's gates computed in place.
    projected: ArrayViewMut3<'a, T>,
    h: ArrayViewMut2<'a, T>,
    c: ArrayViewMut2<'a, T>,
    last: ArrayViewMut2<'a, T>,
    sequence: Option<ArrayViewMut3<'a, T>>,
    mask: Option<ArrayView2<'a, T>>,
}

/// The time loop over one block of rows; `parallel`: its GEMMs on the rayon pool. Each step's
/// products read `h` before its gates write the new state over it, row by row.
fn time_loop<T: Real>(r: &Recurrent, weights: &StepWeights<T>, mut b: Block<T>, parallel: bool) {
    let (rows, steps, _) = b.projected.dim();
    let n = r.units;
    // A GRU's `h·U + b_h` (reset_after) or `r·h` (reset before): one scratch either way.
    let mut scratch = match r.cell {
        Cell::Gru { reset_after } => {
            Array2::<T>::zeros((rows, if reset_after { 3 * n } else { n }))
        }
        _ => Array2::<T>::zeros((0, 0)),
    };
    for s in 0..steps {
        let t = if r.go_backwards { steps - 1 - s } else { s };
        let mut z = b.projected.index_axis_mut(Axis(1), t);
        let real = |row: usize| b.mask.is_none_or(|m| m[[row, t]] != T::zero());
        match r.cell {
            Cell::Simple => {
                gemm_prepared(b.h.view(), &weights.u, &mut z, true, parallel);
                for row in (0..rows).filter(|&row| real(row)) {
                    let zr = z.row_mut(row).into_slice().expect("contiguous gates");
                    apply_slice(&r.activation, zr);
                    b.h.row_mut(row).assign(&z.row(row));
                }
            }
            Cell::Lstm => {
                gemm_prepared(b.h.view(), &weights.u, &mut z, true, parallel);
                for row in (0..rows).filter(|&row| real(row)) {
                    lstm_row(
                        r,
                        z.row_mut(row).into_slice().expect("contiguous gates"),
                        b.c.row_mut(row).into_slice().expect("contiguous state"),
                        b.h.row_mut(row).into_slice().expect("contiguous state"),
                    );
                }
            }
            Cell::Gru { reset_after } => {
                gru_step(
                    r,
                    weights,
                    &mut z,
                    b.h.view(),
                    &mut scratch,
                    parallel,
                    reset_after,
                );
                for row in (0..rows).filter(|&row| real(row)) {
                    gru_row(
                        r,
                        z.row_mut(row).into_slice().expect("contiguous gates"),
                        scratch.row(row),
                        b.h.row_mut(row).into_slice().expect("contiguous state"),
                        reset_after,
                    );
                }
            }
        }
        let at = if r.reverse_output { t } else { s };
        for row in 0..rows {
            let mut out = match b.sequence.as_mut() {
                Some(seq) => seq.slice_mut(s![row, at, ..]),
                None => b.last.row_mut(row),
            };
            // A padded step kept the state; its output repeats it, or is zero.
            if !real(row) && r.zero_output_for_mask {
                out.fill(T::zero());
            } else {
                out.assign(&b.h.row(row));
            }
        }
    }
}

/// A GRU step's products: `z_r += h·[U_z U_r]` in place, and with `reset_after` `scratch =
/// h·U + b_h` for the candidate, else, once the gates are known, `z_h += (r·h)·U_h`.
fn gru_step<T: Real>(
    r: &Recurrent,
    weights: &StepWeights<T>,
    z: &mut ArrayViewMut2<T>,
    h: ArrayView2<T>,
    scratch: &mut Array2<T>,
    parallel: bool,
    reset_after: bool,
) {
    let n = r.units;
    if reset_after {
        match &weights.recurrent_bias {
            Some(bias) => scratch.rows_mut().into_iter().for_each(|mut row| {
                row.as_slice_mut()
                    .expect("contiguous")
                    .copy_from_slice(bias)
            }),
            None => scratch.fill(T::zero()),
        }
        let accumulate = weights.recurrent_bias.is_some();
        gemm_prepared(h, &weights.u, &mut scratch.view_mut(), accumulate, parallel);
        return;
    }
    let mut zr = z.slice_mut(s![.., ..2 * n]);
    gemm_prepared(h, &weights.u, &mut zr, true, parallel);
    // r·h from the reset gate, activated here and again (the same values) in `gru_row`.
    for ((zr, h), mut gated) in zr.rows().into_iter().zip(h.rows()).zip(scratch.rows_mut()) {
        let gated = gated.as_slice_mut().expect("contiguous");
        gated
            .iter_mut()
            .zip(zr.slice(s![n..]))
            .for_each(|(g, &v)| *g = v);
        apply_slice(&r.recurrent_activation, gated);
        gated.iter_mut().zip(h).for_each(|(g, &h)| *g = *g * h);
    }
    let u_h = weights.u_h.as_ref().expect("split without reset_after");
    gemm_prepared(
        scratch.view(),
        u_h,
        &mut z.slice_mut(s![.., 2 * n..]),
        true,
        parallel,
    );
}

/// One row of a GRU step from its preactivations `z` (`[z, r, h]` blocks of `units`, `h·U`
/// already added to z and r, and without `reset_after` `(r·h)·U_h` to h) and `rec` (`h·U + b`
/// with `reset_after`): `h = z·h + (1 − z)·ĥ`, in place.
fn gru_row<T: Real>(
    r: &Recurrent,
    z: &mut [T],
    rec: ndarray::ArrayView1<T>,
    h: &mut [T],
    reset_after: bool,
) {
    let n = r.units;
    let (gates, candidate) = z.split_at_mut(2 * n);
    if reset_after {
        gates.iter_mut().zip(rec).for_each(|(g, &v)| *g += v);
    }
    apply_slice(&r.recurrent_activation, gates);
    let (update, reset) = gates.split_at(n);
    if reset_after {
        candidate
            .iter_mut()
            .zip(reset)
            .zip(rec.slice(s![2 * n..]))
            .for_each(|((c, &r), &v)| *c += r * v);
    }
    apply_slice(&r.activation, candidate);
    for j in 0..n {
        h[j] = update[j] * h[j] + (T::one() - update[j]) * candidate[j];
    }
}

fn matrix<T: Real>(w: &ArrayD<T>) -> ArrayView2<'_, T> {
    w.view()
        .into_dimensionality::<Ix2>()
        .expect("a 2-D weight, checked when built")
}

/// An LSTM step over every row from its gates' preactivations `z` (activated in place), the
/// rows in parallel: `c` and `h` updated in place.
pub(super) fn lstm_update<T: Real>(
    r: &Recurrent,
    z: &mut Array2<T>,
    c: &mut Array2<T>,
    h: &mut Array2<T>,
) {
    let rows: Vec<_> = z
        .outer_iter_mut()
        .zip(c.outer_iter_mut())
        .zip(h.outer_iter_mut())
        .collect();
    rows.into_par_iter().for_each(|((mut z, mut c), mut h)| {
        lstm_row(
            r,
            z.as_slice_mut().expect("contiguous gates"),
            c.as_slice_mut().expect("contiguous state"),
            h.as_slice_mut().expect("contiguous state"),
        );
    });
}

/// One row of an LSTM step from its gates' preactivations `z` (`[i, f, g, o]` blocks of
/// `units`), activated in place, each gate block as one slice: `c = f·c + i·g`, `h = o·act(c)`.
fn lstm_row<T: Real>(r: &Recurrent, z: &mut [T], c: &mut [T], h: &mut [T]) {
    let (rec, act) = (&r.recurrent_activation, &r.activation);
    let n = c.len();
    apply_slice(rec, &mut z[..2 * n]);
    apply_slice(act, &mut z[2 * n..3 * n]);
    apply_slice(rec, &mut z[3 * n..]);
    let (i, rest) = z.split_at_mut(n);
    let (f, rest) = rest.split_at_mut(n);
    let (g, o) = rest.split_at_mut(n);
    for j in 0..n {
        c[j] = f[j] * c[j] + i[j] * g[j];
        // The candidate block, used up, holds act(c) next.
        g[j] = c[j];
    }
    apply_slice(act, g);
    for j in 0..n {
        h[j] = o[j] * g[j];
    }
}

//! The recurrent layers on the CPU: every step's input projection `x·W + b` as one GEMM, then
//! the time loop, one GEMM with the recurrent kernel per step and the gates elementwise.

use ndarray::{s, Array2, Array3, ArrayD, ArrayView2, Axis, Ix2, Ix3, Zip};
use rayon::prelude::*;

use super::{Cell, Emit, Recurrent};
use crate::ops::activation::apply_slice;
use crate::ops::gemm::{bias_rows, gemm};
use crate::ops::{Activation, Real};

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
    let (batch, steps, features) = x.dim();
    let (units, width) = (r.units, r.cell.gates() * r.units);
    let kernel = matrix(w[0]);
    let recurrent = matrix(w[1]);
    let (input_bias, recurrent_bias): (Option<Vec<T>>, Option<Vec<T>>) = match r.cell {
        _ if !r.use_bias => (None, None),
        Cell::Gru { reset_after: true } => {
            let b = matrix(w[2]);
            (Some(b.row(0).to_vec()), Some(b.row(1).to_vec()))
        }
        _ => (Some(w[2].iter().copied().collect()), None),
    };
    let x2 = x.as_standard_layout();
    let x2 = x2
        .view()
        .into_shape_with_order((batch * steps, features))
        .expect("standard layout");
    let mut projected = bias_rows(batch * steps, width, input_bias.as_deref());
    gemm(x2, kernel, &mut projected.view_mut(), input_bias.is_some());
    let projected = projected
        .into_shape_with_order((batch, steps, width))
        .expect("one row per sample and step");
    let state = |k: usize| match initial.get(k) {
        Some(s) => matrix(s).to_owned(),
        None => Array2::<T>::zeros((batch, units)),
    };
    let (mut h, mut c) = (state(0), state(1));
    let mut sequence = r
        .return_sequences
        .then(|| Array3::<T>::zeros((batch, steps, units)));
    let mut last = Array2::<T>::zeros((batch, units));
    for s in 0..steps {
        let t = if r.go_backwards { steps - 1 - s } else { s };
        let xt = projected.index_axis(Axis(1), t);
        let c_before = mask.map(|_| c.clone());
        let mut h_new = match r.cell {
            Cell::Simple => simple_step(r, xt, &h, recurrent),
            Cell::Lstm => lstm_step(r, xt, &h, &mut c, recurrent),
            Cell::Gru { reset_after } => {
                gru_step(r, xt, &h, recurrent, recurrent_bias.as_deref(), reset_after)
            }
        };
        let mut output = h_new.clone();
        if let (Some(mask), Some(c_before)) = (mask, c_before) {
            for b in 0..batch {
                if mask[[b, t]] != T::zero() {
                    continue;
                }
                // A padded step: the state stays, the output repeats (or is zero).
                h_new.row_mut(b).assign(&h.row(b));
                c.row_mut(b).assign(&c_before.row(b));
                if r.zero_output_for_mask {
                    output.row_mut(b).fill(T::zero());
                } else {
                    output.row_mut(b).assign(&h.row(b));
                }
            }
        }
        h = h_new;
        if let Some(seq) = sequence.as_mut() {
            let at = if r.reverse_output { t } else { s };
            seq.index_axis_mut(Axis(1), at).assign(&output);
        }
        last = output;
    }
    match (r.emit, sequence) {
        (Emit::StateH, _) => h.into_dyn(),
        (Emit::StateC, _) => c.into_dyn(),
        (Emit::Output, Some(seq)) => seq.into_dyn(),
        (Emit::Output, None) => last.into_dyn(),
    }
}

fn matrix<T: Real>(w: &ArrayD<T>) -> ArrayView2<'_, T> {
    w.view()
        .into_dimensionality::<Ix2>()
        .expect("a 2-D weight, checked when built")
}

/// `a` applied to a copy of `m`.
fn activated<T: Real>(a: &Activation, m: ArrayView2<T>) -> Array2<T> {
    let mut v = m.to_owned().into_dyn();
    a.apply(&mut v);
    v.into_dimensionality().expect("2-D")
}

/// `xt + h·u`, the gates before their activations.
fn preactivation<T: Real>(xt: ArrayView2<T>, h: &Array2<T>, u: ArrayView2<T>) -> Array2<T> {
    let mut z = xt.to_owned();
    gemm(h.view(), u, &mut z.view_mut(), true);
    z
}

fn simple_step<T: Real>(
    r: &Recurrent,
    xt: ArrayView2<T>,
    h: &Array2<T>,
    u: ArrayView2<T>,
) -> Array2<T> {
    activated(&r.activation, preactivation(xt, h, u).view())
}

fn lstm_step<T: Real>(
    r: &Recurrent,
    xt: ArrayView2<T>,
    h: &Array2<T>,
    c: &mut Array2<T>,
    u: ArrayView2<T>,
) -> Array2<T> {
    lstm_update(r, &preactivation(xt, h, u), c)
}

/// An LSTM step from its gates' preactivations `z` (a row per state row): updates `c` and
/// returns the new h.
pub(super) fn lstm_update<T: Real>(r: &Recurrent, z: &Array2<T>, c: &mut Array2<T>) -> Array2<T> {
    let mut h = Array2::<T>::zeros(c.raw_dim());
    lstm_gates(z, c, &mut h, &r.recurrent_activation, &r.activation);
    h
}

/// An LSTM's gates from the preactivations `z` (`[i, f, g, o]` blocks of `units`), row by row
/// in parallel, each gate block activated as one slice: `c = f·c + i·g`, `h = o·act(c)`.
fn lstm_gates<T: Real>(
    z: &Array2<T>,
    c: &mut Array2<T>,
    h: &mut Array2<T>,
    rec: &Activation,
    act: &Activation,
) {
    let n = c.ncols();
    let rows: Vec<_> = z
        .outer_iter()
        .zip(c.outer_iter_mut())
        .zip(h.outer_iter_mut())
        .collect();
    rows.into_par_iter().for_each(|((z, mut c), mut h)| {
        let mut gates = z.to_vec();
        apply_slice(rec, &mut gates[..2 * n]);
        apply_slice(act, &mut gates[2 * n..3 * n]);
        apply_slice(rec, &mut gates[3 * n..]);
        let (i, rest) = gates.split_at_mut(n);
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
    });
}

fn gru_step<T: Real>(
    r: &Recurrent,
    xt: ArrayView2<T>,
    h: &Array2<T>,
    u: ArrayView2<T>,
    recurrent_bias: Option<&[T]>,
    reset_after: bool,
) -> Array2<T> {
    let n = r.units;
    let (batch, width) = (h.nrows(), 3 * n);
    // z and r: the first two thirds of xt + h·U.
    let mut zr = preactivation(xt.slice(s![.., ..2 * n]), h, u.slice(s![.., ..2 * n]));
    let (zr_bias, h_bias) = match recurrent_bias {
        Some(b) => (Some(&b[..2 * n]), Some(&b[2 * n..width])),
        None => (None, None),
    };
    if let Some(b) = zr_bias {
        zr += &ndarray::aview1(b);
    }
    let gates = activated(&r.recurrent_activation, zr.view());
    let (z, reset) = (gates.slice(s![.., ..n]), gates.slice(s![.., n..]));
    let mut candidate = if reset_after {
        // r · (h·U_h + b_h)
        let mut inner = bias_rows(batch, n, h_bias);
        gemm(
            h.view(),
            u.slice(s![.., 2 * n..]),
            &mut inner.view_mut(),
            h_bias.is_some(),
        );
        Zip::from(&mut inner)
            .and(reset)
            .and(xt.slice(s![.., 2 * n..]))
            .for_each(|v, &r, &x| *v = x + r * *v);
        inner
    } else {
        // (r · h)·U_h
        let gated = &reset * h;
        let mut inner = xt.slice(s![.., 2 * n..]).to_owned();
        gemm(
            gated.view(),
            u.slice(s![.., 2 * n..]),
            &mut inner.view_mut(),
            true,
        );
        inner
    };
    candidate = activated(&r.activation, candidate.view());
    Zip::from(&mut candidate)
        .and(z)
        .and(h)
        .for_each(|hh, &z, &h| *hh = z * h + (T::one() - z) * *hh);
    candidate
}

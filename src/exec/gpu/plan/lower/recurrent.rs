//! Recurrent layers: one `recurrent_step` dispatch per step (two for a GRU without
//! reset_after: its reset gates first), over a scratch slot holding the state.

use super::super::*;
use crate::ops::{Cell, Emit, Recurrent};

impl Builder<'_> {
    pub(crate) fn recurrent(
        &mut self,
        i: usize,
        node: &Node,
        ins: &[usize],
        out: usize,
        r: &Recurrent,
    ) -> Result<()> {
        if let Some(conv) = &r.conv {
            return self.conv_lstm(i, node, ins, out, r, conv);
        }
        let input = ins[0];
        let mask_slot = r.masked.then(|| ins[ins.len() - 1]);
        let placeholder = self.weights.dummy();
        let [steps, features] = self.input_shape(node, 0)[..] else {
            unreachable!("a recurrent layer's input is [steps, features], checked when built")
        };
        let codes = (act_code(&r.activation), act_code(&r.recurrent_activation));
        let (Some(act_code), Some(rec_code)) = codes else {
            unreachable!("recurrent activations are elementwise, checked when built")
        };
        let params = self.weights.params[&i].clone();
        let bias = if r.use_bias {
            params[2].clone()
        } else {
            self.weights.dummy()
        };
        // h twice, c, the GRU's reset gates: per sample, 4·units values.
        let state = self.alloc(4 * r.units);
        self.live[state] += 1;
        if r.initial_state {
            // h into the half the first step reads, an LSTM's c after both halves.
            for (k, region) in [0, 2].into_iter().take(r.state_count()).enumerate() {
                self.initial_state(ins[1 + k], state, region, r.units);
            }
        }
        let initial_state = r.initial_state;
        let emit = match r.emit {
            Emit::Output => 0,
            Emit::StateH => 1,
            Emit::StateC => 2,
        };
        let cell = match r.cell {
            Cell::Simple => 0,
            Cell::Lstm => 1,
            Cell::Gru { reset_after: true } => 2,
            Cell::Gru { reset_after: false } => 3,
        };
        let max = self.max_dim();
        let (units, gates) = (r.units, r.cell.gates());
        let (act, rec) = (
            ActArgs(act_params(&r.activation)),
            ActArgs(act_params(&r.recurrent_activation)),
        );
        // A node emitting a final state writes once, at the last step.
        let sequences = r.return_sequences && r.emit == Emit::Output;
        let (has_bias, sequences) = (u32::from(r.use_bias), u32::from(sequences));
        let (masked, zero_output) = (u32::from(r.masked), u32::from(r.zero_output_for_mask));
        for s in 0..steps {
            let t = if r.go_backwards { steps - 1 - s } else { s };
            let out_step = if r.reverse_output { t } else { s };
            let phases: &[u32] = if cell == 3 { &[0, 1] } else { &[1] };
            for &phase in phases {
                let res = vec![
                    Res::Slot(input),
                    Res::Buffer(params[0].clone()),
                    Res::Buffer(params[1].clone()),
                    Res::Buffer(bias.clone()),
                    Res::Slot(state),
                    Res::Slot(out),
                    match mask_slot {
                        Some(slot) => Res::Slot(slot),
                        None => Res::Buffer(placeholder.clone()),
                    },
                ];
                self.dispatch(Kernel::RecurrentStep, res, move |b| {
                    let n = b * units;
                    let p = RecurrentParams {
                        act,
                        rec,
                        n: n as u32,
                        units: units as u32,
                        features: features as u32,
                        steps: steps as u32,
                        gates: gates as u32,
                        t: t as u32,
                        s: s as u32,
                        cell,
                        has_bias,
                        act_code,
                        rec_code,
                        phase,
                        sequences,
                        first: u32::from(s == 0 && !initial_state),
                        read_half: (s % 2) as u32,
                        masked,
                        zero_output,
                        out_step: out_step as u32,
                        emit,
                        _pad: Pad::default(),
                    };
                    (p, grid_1d(n, max))
                });
            }
        }
        self.live[state] -= 1;
        Ok(())
    }

    /// Copies a `[batch, units]` initial state (`units` values per sample) into region
    /// `region` of the state slot (its regions are `batch·units` values each).
    pub(super) fn initial_state(&mut self, src: usize, state: usize, region: usize, units: usize) {
        let max = self.max_dim();
        self.dispatch(
            Kernel::CopyStrided,
            vec![Res::Slot(src), Res::Slot(state)],
            move |b| {
                let n = b * units;
                let p = CopyParams {
                    n: n as u32,
                    rank: 1,
                    dst_base: (region * n) as u32,
                    src_dense: 1,
                    dst_dense: 1,
                    dims: Idx::of(&[n]),
                    ..Default::default()
                };
                (p, grid_1d(n, max))
            },
        );
    }
}

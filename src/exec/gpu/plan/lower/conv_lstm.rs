//! ConvLSTM layers: the input convolution of every step as one convolution dispatch (the
//! steps as more images), then one `conv_lstm_step` dispatch per step over a scratch slot
//! holding the state (h twice, c).

use super::super::*;
use crate::ops::recurrent::recurrent_conv;
use crate::ops::{Conv, Emit, Recurrent};

impl Builder<'_> {
    pub(super) fn conv_lstm(
        &mut self,
        i: usize,
        node: &Node,
        ins: &[usize],
        out: usize,
        r: &Recurrent,
        conv: &Conv,
    ) -> Result<()> {
        let in_shape = self.graph.node(node.inputs[0]).shape.clone();
        let (steps, image) = (in_shape[0], &in_shape[1..]);
        let params = self.weights.params[&i].clone();
        let gates = conv.output_shape(image).expect("checked when built");
        let per_step: usize = gates.iter().product();
        let projected = self.alloc(steps * per_step);
        self.live[projected] += 1;
        let bias = r.use_bias.then(|| params[2].clone());
        let kernel = params[0].clone();
        self.conv_kernel(conv, image, steps, (ins[0], projected), kernel, bias);
        let state_len = per_step / 4;
        let state = self.alloc(3 * state_len);
        self.live[state] += 1;
        if r.initial_state {
            // h into the half the first step reads, c after both halves.
            for (k, region) in [0, 2].into_iter().enumerate() {
                self.initial_state(ins[1 + k], state, region, state_len);
            }
        }
        let geometry = recurrent_conv(conv)
            .geometry(&r.state_shape(&in_shape).expect("checked when built"))
            .expect("checked when built");
        let (sizes, window) = (Axes::of(&geometry.input), Axes::of(&conv.window));
        let pad_before = Axes::of(&geometry.pad);
        let codes = (act_code(&r.activation), act_code(&r.recurrent_activation));
        let (Some(act_code), Some(rec_code)) = codes else {
            unreachable!("recurrent activations are elementwise, checked when built")
        };
        let (act, rec) = (
            ActArgs(act_params(&r.activation)),
            ActArgs(act_params(&r.recurrent_activation)),
        );
        let (units, positions) = (r.units, state_len / r.units);
        let spatial = conv.window.len() as u32;
        let channels_first = u32::from(conv.channels_first);
        let sequences = u32::from(r.return_sequences && r.emit == Emit::Output);
        let emit = u32::from(r.emit == Emit::StateC) * 2;
        let initial_state = r.initial_state;
        let max = self.max_dim();
        for s in 0..steps {
            let t = if r.go_backwards { steps - 1 - s } else { s };
            let res = vec![
                Res::Slot(projected),
                Res::Buffer(params[1].clone()),
                Res::Slot(state),
                Res::Slot(out),
            ];
            self.dispatch(Kernel::ConvLstmStep, res, move |b| {
                let n = b * state_len;
                let p = ConvLstmParams {
                    act,
                    rec,
                    n: n as u32,
                    units: units as u32,
                    positions: positions as u32,
                    steps: steps as u32,
                    t: t as u32,
                    s: s as u32,
                    spatial,
                    channels_first,
                    act_code,
                    rec_code,
                    sequences,
                    first: u32::from(s == 0 && !initial_state),
                    read_half: (s % 2) as u32,
                    emit,
                    sizes,
                    window,
                    pad_before,
                    ..Default::default()
                };
                (p, grid_1d(n, max))
            });
        }
        self.live[state] -= 1;
        self.live[projected] -= 1;
        Ok(())
    }
}

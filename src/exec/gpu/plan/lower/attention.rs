//! Attention: one `attention` dispatch (attention.wgsl), a row of scores per invocation.

use super::super::*;
use crate::ops::attention::{MaskFill, QueryMask, Score};
use crate::ops::Attention;

impl Builder<'_> {
    pub(crate) fn attention(
        &mut self,
        i: usize,
        node: &Node,
        ins: &[usize],
        out: usize,
        a: &Attention,
    ) -> Result<()> {
        let shape = |k: usize| self.input_shape(node, k);
        let ([tq, dq], [tk, dv]) = (&shape(0)[..], &shape(1)[..]) else {
            unreachable!("attention reads [steps, features] tensors, checked when built")
        };
        let (tq, tk, heads) = (*tq, *tk, a.heads);
        let (dk, dv) = (dq / heads, dv / heads);
        // Scalar weights travel in the parameters; AdditiveAttention's vector is bound.
        let scalar = |k: usize| node.weights[k].value.iter().next().copied().unwrap_or(1.0);
        let (score, scaled, w_scale, w_concat) = match a.score {
            Score::Dot { scaled } => (0, scaled, if scaled { scalar(0) } else { 1.0 }, 1.0),
            Score::Concat { scaled: true } => (1, true, scalar(0), scalar(1)),
            Score::Concat { scaled: false } => (1, false, 1.0, scalar(0)),
            Score::Additive { scaled } => (2, scaled, 1.0, 1.0),
        };
        let scale_buffer = match a.score {
            Score::Additive { scaled: true } => self.weights.params[&i][0].clone(),
            _ => self.weights.dummy(),
        };
        let mut masks = ins[a.first_mask()..].iter().copied();
        let mut bind = |present: bool| match present.then(|| masks.next()).flatten() {
            Some(slot) => Res::Slot(slot),
            None => Res::Buffer(self.weights.dummy()),
        };
        let (qm, km, am) = (
            bind(a.masks.query),
            bind(a.masks.keys),
            bind(a.masks.attention),
        );
        let key = ins[if a.own_key { 2 } else { 1 }];
        let res = vec![
            Res::Slot(ins[0]),
            Res::Slot(key),
            Res::Slot(ins[1]),
            Res::Buffer(scale_buffer),
            qm,
            km,
            am,
            Res::Slot(out),
        ];
        let (fill_add, fill) = match a.fill {
            MaskFill::Replace(v) => (0, v),
            MaskFill::Add(v) => (1, v),
        };
        let query_mode = match a.query_mask {
            QueryMask::Scores => 0,
            QueryMask::ZeroOutput => 1,
            QueryMask::MultiplyOutput => 2,
        };
        let p = AttentionParams {
            tq: tq as u32,
            tk: tk as u32,
            heads: heads as u32,
            dk: dk as u32,
            dv: dv as u32,
            score,
            scaled: u32::from(scaled),
            w_scale,
            w_concat,
            has_const: u32::from(a.scale.is_some()),
            const_scale: a.scale.map_or(1.0, |c| c.value),
            const_on_query: u32::from(a.scale.is_some_and(|c| c.on_query)),
            causal: u32::from(a.causal),
            fill_add,
            fill,
            query_mode,
            has_qm: u32::from(a.masks.query),
            has_km: u32::from(a.masks.keys),
            has_am: u32::from(a.masks.attention),
            zero_masked: u32::from(a.zero_masked),
            emit_scores: u32::from(a.emit_scores),
            ..Default::default()
        };
        let max = self.max_dim();
        self.dispatch(Kernel::Attention, res, move |b| {
            let n = b * heads * tq;
            (AttentionParams { n: n as u32, ..p }, grid_1d(n, max))
        });
        Ok(())
    }
}

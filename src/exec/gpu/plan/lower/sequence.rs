//! Sequence inputs and masks: embedding lookups, masks, Masking and the masked mean, one
//! gather-style dispatch each (sequence.wgsl).

use super::super::*;
use crate::ops::{Embedding, MakeMask, Masking};

impl Builder<'_> {
    pub(crate) fn embedding(
        &mut self,
        i: usize,
        node: &Node,
        (input, out): (usize, usize),
        e: &Embedding,
    ) {
        let table = self.weights.params[&i][0].clone();
        let len: usize = node.shape.iter().product();
        let (width, rows) = (e.output_dim as u32, e.input_dim as u32);
        let max = self.max_dim();
        let res = vec![Res::Slot(input), Res::Buffer(table), Res::Slot(out)];
        self.dispatch(Kernel::Embedding, res, move |b| {
            let n = b * len;
            let p = SequenceParams {
                n: n as u32,
                width,
                rows,
                ..Default::default()
            };
            (p, grid_1d(n, max))
        });
    }

    pub(crate) fn make_mask(&mut self, node: &Node, (input, out): (usize, usize), m: &MakeMask) {
        let steps: usize = node.shape.iter().product();
        let in_shape = &self.input_shape(node, 0);
        let width = in_shape.iter().product::<usize>() / steps;
        let (kind, value) = match *m {
            MakeMask::NotEqual { value } => (0, value),
            MakeMask::AnyNot { value } => (1, value),
        };
        let max = self.max_dim();
        self.dispatch(
            Kernel::MakeMask,
            vec![Res::Slot(input), Res::Slot(out)],
            move |b| {
                let n = b * steps;
                let p = SequenceParams {
                    n: n as u32,
                    width: width as u32,
                    kind,
                    value,
                    ..Default::default()
                };
                (p, grid_1d(n, max))
            },
        );
    }

    pub(crate) fn masking(&mut self, node: &Node, (input, out): (usize, usize), m: &Masking) {
        let len: usize = node.shape.iter().product();
        let width = *node.shape.last().expect("a [steps, features] sample");
        let value = m.value;
        let max = self.max_dim();
        self.dispatch(
            Kernel::Masking,
            vec![Res::Slot(input), Res::Slot(out)],
            move |b| {
                let n = b * len;
                let p = SequenceParams {
                    n: n as u32,
                    width: width as u32,
                    kind: 1,
                    value,
                    ..Default::default()
                };
                (p, grid_1d(n, max))
            },
        );
    }

    pub(crate) fn masked_mean(&mut self, node: &Node, ins: &[usize], out: usize) {
        let in_shape = &self.input_shape(node, 0);
        let (steps, width) = (in_shape[0], in_shape[1]);
        let max = self.max_dim();
        let res = vec![Res::Slot(ins[0]), Res::Slot(ins[1]), Res::Slot(out)];
        self.dispatch(Kernel::MaskedMean, res, move |b| {
            let n = b * width;
            let p = SequenceParams {
                n: n as u32,
                width: width as u32,
                steps: steps as u32,
                ..Default::default()
            };
            (p, grid_1d(n, max))
        });
    }
}

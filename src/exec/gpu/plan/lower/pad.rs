//! Padding and cropping: one gather per output element, zero where it falls outside the input.

use super::super::*;
use crate::ops::Pad;

impl Builder<'_> {
    pub(crate) fn pad(&mut self, node: &Node, input: usize, out: usize, pad: &Pad) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let in_shape = self.input_shape(node, 0);
        // Axis 0 is the batch, never padded; an amount travels as its i32 bits.
        let before: Vec<usize> = std::iter::once(0)
            .chain(pad.before.iter().map(|&b| b as i32 as u32 as usize))
            .collect();
        self.dispatch(
            Kernel::Pad,
            vec![Res::Slot(input), Res::Slot(out)],
            move |b| {
                let full_in = with_batch(b, &in_shape);
                let full_out = with_batch(b, &shape);
                let n = b * len;
                let p = PadParams {
                    n: n as u32,
                    rank: full_out.len() as u32,
                    dims: Idx::of(&full_out),
                    src_strides: Idx::of(&strides(&full_in)),
                    before: Idx::of(&before),
                    src_dims: Idx::of(&full_in),
                    ..Default::default()
                };
                (p, grid_1d(n, max))
            },
        );
    }
}

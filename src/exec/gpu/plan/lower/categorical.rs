//! Categorical preprocessing: one `categorical` dispatch (categorical.wgsl), an output value
//! per invocation; the boundaries or vocabulary are the node's uploaded table.

use super::super::*;
use crate::ops::categorical::{EncodeMode, OutOfRange};
use crate::ops::Categorical;

impl Builder<'_> {
    pub(crate) fn categorical(
        &mut self,
        i: usize,
        node: &Node,
        (input, out): (usize, usize),
        c: &Categorical,
    ) {
        let in_shape = &self.graph.node(node.inputs[0]).shape;
        let mut p = CategoricalParams {
            table_len: c.table().len() as u32,
            per_row: c.ids_per_row(in_shape) as u32,
            ..Default::default()
        };
        match c {
            Categorical::Encode(e) => {
                p.tokens = e.tokens as u32;
                p.count = u32::from(e.mode == EncodeMode::Count);
                p.nan_out_of_range = u32::from(e.out_of_range == OutOfRange::Nan);
            }
            Categorical::Bucketize { .. } => p.kind = 1,
            Categorical::Lookup(l) => {
                p.kind = 2;
                p.oov_indices = l.oov_indices as u32;
                p.has_mask = u32::from(l.mask_token.is_some());
                p.mask_token = l.mask_token.unwrap_or(0.0);
            }
        }
        let table = match self.weights.params.get(&i) {
            Some(list) => list[0].clone(),
            None => self.weights.dummy(),
        };
        let len: usize = node.shape.iter().product();
        let max = self.max_dim();
        let res = vec![Res::Slot(input), Res::Buffer(table), Res::Slot(out)];
        self.dispatch(Kernel::Categorical, res, move |b| {
            let n = b * len;
            (CategoricalParams { n: n as u32, ..p }, grid_1d(n, max))
        });
    }
}

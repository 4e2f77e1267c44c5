//! Layout ops that move values without computing: Permute (and Flatten of channels-first
//! tensors), RepeatVector and Concatenate as strided copies.

use super::super::*;

impl Builder<'_> {
    /// Permute: a strided copy (walking the permuted shape, which Flatten then flattens).
    pub(crate) fn permute(&mut self, node: &Node, input: usize, out: usize, dims: &[usize]) {
        let max = self.max_dim();
        let in_shape = self.input_shape(node, 0);
        let shape: Vec<usize> = dims.iter().map(|&d| in_shape[d - 1]).collect();
        let len: usize = shape.iter().product();
        let perm: Vec<usize> = std::iter::once(0).chain(dims.iter().copied()).collect();
        self.dispatch(
            Kernel::CopyStrided,
            vec![Res::Slot(input), Res::Slot(out)],
            move |b| {
                let full_in = with_batch(b, &in_shape);
                let full_out = with_batch(b, &shape);
                let st = strides(&full_in);
                let src: Vec<usize> = perm.iter().map(|&a| st[a]).collect();
                let n = b * len;
                let p = CopyParams {
                    n: n as u32,
                    rank: full_out.len() as u32,
                    dst_dense: 1,
                    dims: Idx::of(&full_out),
                    src_strides: Idx::of(&src),
                    ..Default::default()
                };
                (p, grid_1d(n, max))
            },
        );
    }

    /// RepeatVector: a copy whose source stride along the new axis is 0.
    pub(crate) fn repeat(&mut self, node: &Node, input: usize, out: usize) {
        let max = self.max_dim();
        let (times, features) = (node.shape[0], node.shape[1]);
        self.dispatch(
            Kernel::CopyStrided,
            vec![Res::Slot(input), Res::Slot(out)],
            move |b| {
                let n = b * times * features;
                let p = CopyParams {
                    n: n as u32,
                    rank: 3,
                    dst_dense: 1,
                    dims: Idx::of(&[b, times, features]),
                    src_strides: Idx::of(&[features, 0, 1]),
                    ..Default::default()
                };
                (p, grid_1d(n, max))
            },
        );
    }

    /// Concatenate: one strided copy per input into its place along `axis`.
    pub(crate) fn concatenate(&mut self, node: &Node, ins: &[usize], out: usize, axis: usize) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let mut offset = 0;
        for (k, &src) in ins.iter().enumerate() {
            let in_shape = self.input_shape(node, k);
            let out_shape = shape.clone();
            let off = offset;
            offset += in_shape[axis - 1];
            self.dispatch(
                Kernel::CopyStrided,
                vec![Res::Slot(src), Res::Slot(out)],
                move |b| {
                    let full = with_batch(b, &in_shape);
                    let outer: usize = full[..axis].iter().product();
                    let a = full[axis];
                    let inner: usize = full[axis + 1..].iter().product();
                    let d = out_shape[axis - 1];
                    let n = outer * a * inner;
                    let p = CopyParams {
                        n: n as u32,
                        rank: 3,
                        dst_base: (off * inner) as u32,
                        src_dense: 1,
                        dims: Idx::of(&[outer, a, inner]),
                        dst_strides: Idx::of(&[d * inner, inner, 1]),
                        ..Default::default()
                    };
                    (p, grid_1d(n, max))
                },
            );
        }
    }
}

//! Layout ops that move values without computing: Permute and Concatenate as strided copies.

use super::super::*;

impl Builder<'_> {
    /// Permute: a strided copy.
    pub(crate) fn permute(&mut self, node: &Node, input: usize, out: usize, dims: &[usize]) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let in_shape = self.graph.node(node.inputs[0]).shape.clone();
        let perm: Vec<usize> = std::iter::once(0).chain(dims.iter().copied()).collect();
        self.dispatch(
            Kernel::CopyStrided.key(),
            vec![Res::Slot(input), Res::Slot(out)],
            Box::new(move |b| {
                let full_in = with_batch(b, &in_shape);
                let full_out = with_batch(b, &shape);
                let st = strides(&full_in);
                let src: Vec<usize> = perm.iter().map(|&a| st[a]).collect();
                let n = b * len;
                let mut p = Params {
                    u: [n as u32, full_out.len() as u32, 0, 0],
                    v: [1, 0, 0, 0],
                    ..Default::default()
                };
                put(&mut p.dims, &full_out);
                put(&mut p.s0, &src);
                (p, grid_1d(n, max))
            }),
        );
    }

    /// Concatenate: one strided copy per input into its place along `axis`.
    pub(crate) fn concatenate(&mut self, node: &Node, ins: &[usize], out: usize, axis: usize) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let mut offset = 0;
        for (k, &src) in ins.iter().enumerate() {
            let in_shape = self.graph.node(node.inputs[k]).shape.clone();
            let out_shape = shape.clone();
            let off = offset;
            offset += in_shape[axis - 1];
            self.dispatch(
                Kernel::CopyStrided.key(),
                vec![Res::Slot(src), Res::Slot(out)],
                Box::new(move |b| {
                    let full = with_batch(b, &in_shape);
                    let outer: usize = full[..axis].iter().product();
                    let a = full[axis];
                    let inner: usize = full[axis + 1..].iter().product();
                    let d = out_shape[axis - 1];
                    let n = outer * a * inner;
                    let mut p = Params {
                        u: [n as u32, 3, (off * inner) as u32, 0],
                        v: [0, 1, 0, 0],
                        ..Default::default()
                    };
                    put(&mut p.dims, &[outer, a, inner]);
                    put(&mut p.s1, &[d * inner, inner, 1]);
                    (p, grid_1d(n, max))
                }),
            );
        }
    }
}

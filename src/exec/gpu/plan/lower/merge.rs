//! Merges of several tensors (Add, Subtract, Multiply, Average, Maximum, Minimum, scaled add), with
//! broadcasting and an accumulating form for more than two inputs.

use super::super::*;

impl Builder<'_> {
    pub(crate) fn merge(&mut self, kind: MergeKind, node: &Node, ins: &[usize], out: usize) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let op = merge_code(kind);
        let scale = match kind {
            MergeKind::ScaledAdd { scale } => scale,
            _ => 1.0,
        };
        let count = ins.len();
        let divisor = |step: usize| {
            if kind == MergeKind::Average && step + 1 == count {
                count as f32
            } else {
                0.0
            }
        };
        let shapes: Vec<Vec<usize>> = node
            .inputs
            .iter()
            .enumerate()
            .map(|(k, _)| self.input_shape(node, k))
            .collect();
        let bcast = move |b: usize, input: &[usize]| -> (Vec<usize>, bool) {
            let full_out = with_batch(b, &shape);
            let full_in = with_batch(b, input);
            let st = strides(&full_in);
            let s = full_in
                .iter()
                .zip(&full_out)
                .zip(&st)
                .map(|((&i, &o), &s)| if i == o { s } else { 0 })
                .collect();
            (s, full_in == full_out)
        };
        let bcast = Arc::new(bcast);
        for step in 1..count {
            let (a_shape, b_shape) = (shapes[0].clone(), shapes[step].clone());
            let bc = bcast.clone();
            let div = divisor(step);
            let dense_a = shapes[0] == node.shape;
            let dense_b = shapes[step] == node.shape;
            if self.windows && dense_b && (step > 1 || dense_a) {
                let make = move |b: usize| {
                    let n4 = (b * len).div_ceil(4);
                    let p = MergeParams {
                        n: n4 as u32,
                        divisor: div,
                        scale,
                        ..Default::default()
                    };
                    (p, n4)
                };
                let accumulate = step > 1;
                let res = if accumulate {
                    vec![Res::Window(ins[step]), Res::Slot(out), Res::WindowBase]
                } else {
                    vec![
                        Res::Window(ins[0]),
                        Res::Window(ins[1]),
                        Res::Slot(out),
                        Res::WindowBase,
                    ]
                };
                self.windowed(Kernel::MergeWindow { op, accumulate }, res, make);
                continue;
            }
            let out_shape = node.shape.clone();
            let make = move |b| {
                let full = with_batch(b, &out_shape);
                let n = b * len;
                let (sa, da) = bc(b, &a_shape);
                let (sb, db) = bc(b, &b_shape);
                let p = MergeParams {
                    n: n as u32,
                    rank: full.len() as u32,
                    a_dense: u32::from(da),
                    b_dense: u32::from(db),
                    divisor: div,
                    scale,
                    dims: Idx::of(&full),
                    a_strides: Idx::of(&sa),
                    b_strides: Idx::of(&sb),
                    ..Default::default()
                };
                (p, grid_1d(n, max))
            };
            let accumulate = step > 1;
            let res = if accumulate {
                vec![Res::Slot(ins[step]), Res::Slot(out)]
            } else {
                vec![Res::Slot(ins[0]), Res::Slot(ins[1]), Res::Slot(out)]
            };
            self.dispatch(Kernel::Merge { op, accumulate }, res, make);
        }
    }
}

//! Merges of several tensors (Add, Subtract, Multiply, Average, Maximum, Minimum), with
//! broadcasting and an accumulating form for more than two inputs.

use super::super::*;

impl Builder<'_> {
    pub(crate) fn merge(&mut self, kind: MergeKind, node: &Node, ins: &[usize], out: usize) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let op = merge_code(kind);
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
            .map(|id| self.graph.node(*id).shape.clone())
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
                let make: ParamFn = Box::new(move |b| {
                    let p = Params {
                        u: [(b * len).div_ceil(4) as u32, 0, 0, 0],
                        f: [div, 0.0, 0.0, 0.0],
                        ..Default::default()
                    };
                    (p, [1, 1, 1])
                });
                if step == 1 {
                    self.windowed(
                        Kernel::MergeWindow {
                            op,
                            accumulate: false,
                        }
                        .key(),
                        vec![
                            Res::Window(ins[0]),
                            Res::Window(ins[1]),
                            Res::Slot(out),
                            Res::WindowBase,
                        ],
                        make,
                    );
                } else {
                    self.windowed(
                        Kernel::MergeWindow {
                            op,
                            accumulate: true,
                        }
                        .key(),
                        vec![Res::Window(ins[step]), Res::Slot(out), Res::WindowBase],
                        make,
                    );
                }
                continue;
            }
            let out_shape = node.shape.clone();
            let make: ParamFn = Box::new(move |b| {
                let full = with_batch(b, &out_shape);
                let n = b * len;
                let (sa, da) = bc(b, &a_shape);
                let (sb, db) = bc(b, &b_shape);
                let mut p = Params {
                    u: [n as u32, full.len() as u32, u32::from(da), u32::from(db)],
                    f: [div, 0.0, 0.0, 0.0],
                    ..Default::default()
                };
                put(&mut p.dims, &full);
                put(&mut p.s0, &sa);
                put(&mut p.s1, &sb);
                (p, grid_1d(n, max))
            });
            if step == 1 {
                self.dispatch(
                    Kernel::Merge {
                        op,
                        accumulate: false,
                    }
                    .key(),
                    vec![Res::Slot(ins[0]), Res::Slot(ins[1]), Res::Slot(out)],
                    make,
                );
            } else {
                self.dispatch(
                    Kernel::Merge {
                        op,
                        accumulate: true,
                    }
                    .key(),
                    vec![Res::Slot(ins[step]), Res::Slot(out)],
                    make,
                );
            }
        }
    }
}

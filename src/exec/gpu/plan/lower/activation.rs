//! Activations: elementwise ones (read through uniform windows where that helps), PReLU,
//! and softmax as a grouped reduction.

use super::super::*;

impl Builder<'_> {
    /// An activation layer: elementwise (through uniform windows on software adapters), or a
    /// softmax over the last axis.
    pub(crate) fn activation(
        &mut self,
        node: &Node,
        input: usize,
        out: usize,
        act: &Activation,
    ) -> Result<()> {
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let max = self.max_dim();
        if matches!(act, Activation::Softmax | Activation::LogSoftmax) {
            let log = *act == Activation::LogSoftmax;
            return self.softmax(input, out, shape.clone(), vec![shape.len()], log, false);
        }
        let code = act_code(act).expect("elementwise");
        let act = ActArgs(act_params(act));
        let params = move |b: usize| {
            let n4 = (b * len).div_ceil(4);
            let p = ActParams {
                act,
                n: n4 as u32,
                ..Default::default()
            };
            (p, n4)
        };
        if self.windows {
            self.windowed(
                Kernel::ActWindow { act: code },
                vec![Res::Window(input), Res::Slot(out), Res::WindowBase],
                params,
            );
        } else {
            self.dispatch(
                Kernel::ActMap { act: code },
                vec![Res::Slot(input), Res::Slot(out)],
                move |b| {
                    let (p, n4) = params(b);
                    (p, grid_1d(n4, max))
                },
            );
        }
        Ok(())
    }

    /// PReLU, with alpha broadcast over the axes Keras shares it on.
    pub(crate) fn prelu(&mut self, i: usize, node: &Node, input: usize, out: usize) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let alpha = self.weights.params[&i][0].clone();
        let alpha_shape = node.weights[0].value.shape().to_vec();
        let dense = alpha_shape == shape;
        let mut alpha_strides = vec![0usize; shape.len() + 1];
        if !dense {
            let st = strides(&alpha_shape);
            let off = shape.len() + 1 - alpha_shape.len();
            for (d, &a) in alpha_shape.iter().enumerate() {
                if a != 1 || shape[off - 1 + d] == 1 {
                    alpha_strides[off + d] = st[d];
                }
            }
        }
        self.dispatch(
            Kernel::Prelu,
            vec![Res::Slot(input), Res::Buffer(alpha), Res::Slot(out)],
            move |b| {
                let full = with_batch(b, &shape);
                let n = b * len;
                let mut p = PreluParams {
                    n: n as u32,
                    sample_len: len.max(1) as u32,
                    ..Default::default()
                };
                if !dense {
                    p.rank = full.len() as u32;
                    p.dims = Idx::of(&full);
                    p.alpha_strides = Idx::of(&alpha_strides);
                }
                (p, grid_1d(n, max))
            },
        );
    }

    pub(crate) fn softmax(
        &mut self,
        src: usize,
        dst: usize,
        shape: Vec<usize>,
        axes: Vec<usize>,
        log: bool,
        logsumexp: bool,
    ) -> Result<()> {
        let res = vec![Res::Slot(src), Res::Slot(dst)];
        self.grouped(Kernel::Softmax, res, shape, axes, move |groups| {
            SoftmaxParams {
                groups,
                log: u32::from(log),
                logsumexp: u32::from(logsumexp),
                ..Default::default()
            }
        })
    }
}

//! Convolution: the direct kernel with bias and activation fused; a softmax activation runs as
//! its own reduction over the last axis after it.

use super::super::*;
use crate::ops::Conv;

impl Builder<'_> {
    pub(crate) fn conv(
        &mut self,
        i: usize,
        node: &Node,
        input: usize,
        out: usize,
        conv: &Conv,
    ) -> Result<()> {
        let shape = node.shape.clone();
        match conv.activation {
            Activation::Softmax | Activation::LogSoftmax => {
                let tmp = self.alloc(shape.iter().product());
                self.live[tmp] += 1;
                self.conv_kernel(i, node, input, tmp, conv, &Activation::Linear);
                let log = conv.activation == Activation::LogSoftmax;
                self.softmax(tmp, out, shape.clone(), vec![shape.len()], log, false)?;
                self.live[tmp] -= 1;
            }
            act => self.conv_kernel(i, node, input, out, conv, &act),
        }
        Ok(())
    }

    fn conv_kernel(
        &mut self,
        i: usize,
        node: &Node,
        input: usize,
        out: usize,
        conv: &Conv,
        act: &Activation,
    ) {
        let max = self.max_dim();
        let in_shape = self.graph.node(node.inputs[0]).shape.clone();
        let geometry = conv.geometry(&in_shape).expect("checked when built");
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let params = &self.weights.params[&i];
        let kernel = params[0].clone();
        let bias = params
            .get(1)
            .cloned()
            .unwrap_or_else(|| self.weights.dummy());
        let code = act_code(act).expect("softmax is applied separately");
        let f = act_params(act);
        let (mut s1, mut s2) = ([0; 8], [0; 8]);
        for (a, &n) in geometry.input.iter().enumerate() {
            s1[a] = conv.window[a];
            s1[3 + a] = conv.strides[a];
            s2[a] = conv.dilation[a];
            s2[3 + a] = geometry.pad[a];
            // The source's spatial sizes fill the three entries left: s1[6], s1[7], s2[6].
            match a {
                0 | 1 => s1[6 + a] = n,
                _ => s2[6] = n,
            }
        }
        let (groups, filters, spatial) = (conv.groups, conv.filters, conv.window.len());
        let group_channels = geometry.channels / groups;
        let flags = [
            groups as u32,
            u32::from(conv.channels_first),
            u32::from(conv.use_bias),
            0,
        ];
        self.dispatch(
            Kernel::Conv { act: code }.key(),
            vec![
                Res::Slot(input),
                Res::Buffer(kernel),
                Res::Buffer(bias),
                Res::Slot(out),
            ],
            Box::new(move |b| {
                let n = b * len;
                let mut p = Params {
                    u: [
                        n as u32,
                        spatial as u32,
                        group_channels as u32,
                        filters as u32,
                    ],
                    v: flags,
                    f,
                    ..Default::default()
                };
                put(&mut p.dims, &with_batch(b, &shape));
                put(&mut p.s0, &strides(&with_batch(b, &in_shape)));
                put(&mut p.s1, &s1);
                put(&mut p.s2, &s2);
                (p, grid_1d(n, max))
            }),
        );
    }
}

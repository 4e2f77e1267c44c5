//! Dense layers: the GEMM (tiled over storage buffers, or register-blocked over textures on
//! software adapters) with bias and activation fused, and softmax as a row reduction after it.

use super::super::*;

impl Builder<'_> {
    /// A dense layer; a softmax activation runs as its own row reduction after it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dense_node(
        &mut self,
        i: usize,
        node: &Node,
        input: usize,
        out: usize,
        units: usize,
        use_bias: bool,
        activation: &Activation,
    ) -> Result<()> {
        let shape = node.shape.clone();
        let in_shape = &self.graph.node(node.inputs[0]).shape;
        let k = *in_shape.last().unwrap_or(&1);
        let rows: usize = in_shape[..in_shape.len().saturating_sub(1)]
            .iter()
            .product();
        self.then_softmax(activation, &shape, out, |b, dst, act| {
            b.dense(i, input, dst, k, units, rows, use_bias, act)
        })
    }

    /// Runs `op` into `out` with its activation fused, except a softmax (or log-softmax),
    /// which no kernel fuses: then `op` runs linear into a scratch slot and the softmax over
    /// the last axis of `shape` follows as its own reduction.
    pub(crate) fn then_softmax(
        &mut self,
        activation: &Activation,
        shape: &[usize],
        out: usize,
        op: impl FnOnce(&mut Self, usize, &Activation) -> Result<()>,
    ) -> Result<()> {
        if !matches!(activation, Activation::Softmax | Activation::LogSoftmax) {
            return op(self, out, activation);
        }
        let tmp = self.alloc(shape.iter().product());
        self.live[tmp] += 1;
        op(self, tmp, &Activation::Linear)?;
        let log = *activation == Activation::LogSoftmax;
        self.softmax(tmp, out, shape.to_vec(), vec![shape.len()], log, false)?;
        self.live[tmp] -= 1;
        Ok(())
    }

    /// C = act(A B + bias) for the node's [rows * b, k] input.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dense(
        &mut self,
        i: usize,
        src: usize,
        dst: usize,
        k: usize,
        n: usize,
        rows: usize,
        use_bias: bool,
        act: &Activation,
    ) -> Result<()> {
        let max = self.max_dim();
        let weights = self.weights;
        let upload = &weights.dense[&i];
        let code = act_code(act).expect("softmax is applied separately");
        let act = ActArgs(act_params(act));
        let bias = upload.bias.clone().unwrap_or_else(|| self.weights.dummy());
        let has_bias = u32::from(use_bias);
        match (&upload.weights, self.dense) {
            (DenseWeights::Buffer(kernel), _) => {
                let kernel = kernel.clone();
                self.dispatch(
                    Kernel::GemmTiled { act: code },
                    vec![
                        Res::Slot(src),
                        Res::Buffer(kernel),
                        Res::Buffer(bias),
                        Res::Slot(dst),
                    ],
                    move |b| {
                        let m = b * rows;
                        let p = GemmTiledParams {
                            act,
                            m: m as u32,
                            n: n as u32,
                            k: k as u32,
                            ldc: n as u32,
                            n0: 0,
                            has_bias,
                            ..Default::default()
                        };
                        let cols = n.div_ceil(TILED_GX as usize * 4);
                        let row_tiles = m.div_ceil(TILED_GY as usize * 4);
                        (p, grid_2d(cols, row_tiles, max))
                    },
                );
            }
            (DenseWeights::Texture(panels), DenseKernel::Texture { subgroups, tile }) => {
                let k4 = padded_k4(k) as u32;
                let entry = self.a_textures.entry(k4).or_insert(0);
                *entry = (*entry).max(rows);
                let ha = a_layer_rows(self.ctx.limits()) as u32;
                if k.is_multiple_of(64) && k > 0 {
                    self.drafts.push(Draft::ToTexture {
                        slot: src,
                        k,
                        k4,
                        rows_per_sample: rows,
                    });
                } else {
                    self.dispatch(
                        Kernel::PackA,
                        vec![Res::Slot(src), Res::ATexture(k4)],
                        move |b| {
                            let m = b * rows;
                            let p = PackAParams {
                                m: m as u32,
                                k: k as u32,
                                k4,
                                rows_per_layer: ha,
                            };
                            (p, grid_1d(m * k4 as usize, max))
                        },
                    );
                }
                let panels: Vec<_> = panels
                    .iter()
                    .map(|p| (p.n0, p.n, p.hb4, p.view.clone()))
                    .collect();
                for (n0, np, hb4, view) in panels {
                    self.dispatch(
                        Kernel::GemmSoft {
                            subgroups,
                            act: ACT_DYNAMIC,
                            tile,
                        },
                        vec![
                            Res::ATexture(k4),
                            Res::View(view),
                            Res::Buffer(bias.clone()),
                            Res::Slot(dst),
                        ],
                        move |b| {
                            let m = b * rows;
                            let p = GemmSoftParams {
                                act,
                                m: m as u32,
                                np: np as u32,
                                ldc: n as u32,
                                has_bias,
                                n0: n0 as u32,
                                ha,
                                hb4,
                                k4,
                                act_code: code,
                                ..Default::default()
                            };
                            let cols = np.div_ceil(4).div_ceil((SOFT_WX * tile.texels) as usize);
                            let row_blocks = m.div_ceil(tile.rows as usize);
                            // Rows in (x, z), column blocks in y (see gen_gemm_soft.py).
                            let [y, x, z] = grid_2d(cols, row_blocks, max);
                            (p, [x, y, z])
                        },
                    );
                }
            }
            (DenseWeights::Texture(_), DenseKernel::Tiled) => {
                unreachable!("texture weights are only uploaded for the texture kernel")
            }
        }
        Ok(())
    }
}

//! Normalizations: BatchNormalization as a per-channel affine map, and the grouped reductions
//! (layer_norm, l2_normalize, softmax) over arbitrary axes.

use super::super::*;

impl Builder<'_> {
    /// BatchNormalization at inference: y = x·inv + shift with per-channel constants.
    pub(crate) fn batch_norm(
        &mut self,
        i: usize,
        node: &Node,
        input: usize,
        out: usize,
        axes: &[usize],
    ) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let params = &self.weights.params[&i];
        let (inv, shift) = (params[0].clone(), params[1].clone());
        let mut axes = axes.to_vec();
        axes.sort_unstable();
        let contiguous = axes.windows(2).all(|w| w[1] == w[0] + 1);
        if contiguous && !axes.is_empty() && self.windows {
            self.windowed(
                Kernel::BatchNormWindow.key(),
                vec![
                    Res::Window(input),
                    Res::Buffer(inv),
                    Res::Buffer(shift),
                    Res::Slot(out),
                    Res::WindowBase,
                ],
                Box::new(move |b| {
                    let full = with_batch(b, &shape);
                    let (a0, a1) = (axes[0], axes[axes.len() - 1]);
                    let inner: usize = full[a1 + 1..].iter().product();
                    let channels: usize = full[a0..=a1].iter().product();
                    let p = Params {
                        u: [
                            (b * len).div_ceil(4) as u32,
                            0,
                            inner.max(1) as u32,
                            channels.max(1) as u32,
                        ],
                        ..Default::default()
                    };
                    (p, [1, 1, 1])
                }),
            );
            return;
        }
        self.dispatch(
            Kernel::BatchNorm.key(),
            vec![
                Res::Slot(input),
                Res::Buffer(inv),
                Res::Buffer(shift),
                Res::Slot(out),
            ],
            Box::new(move |b| {
                let full = with_batch(b, &shape);
                let n = b * len;
                let mut p = Params::default();
                p.u[0] = n as u32;
                if contiguous && !axes.is_empty() {
                    let (a0, a1) = (axes[0], axes[axes.len() - 1]);
                    p.u[2] = full[a1 + 1..].iter().product::<usize>() as u32;
                    p.u[3] = full[a0..=a1].iter().product::<usize>() as u32;
                } else {
                    let pshape: Vec<usize> = axes.iter().map(|&a| full[a]).collect();
                    let pst = strides(&pshape);
                    let mut s0 = vec![0; full.len()];
                    for (j, &a) in axes.iter().enumerate() {
                        s0[a] = pst[j];
                    }
                    p.u[1] = full.len() as u32;
                    p.u[2] = 1;
                    p.u[3] = 1;
                    put(&mut p.dims, &full);
                    put(&mut p.s0, &s0);
                }
                (p, grid_1d(n, max))
            }),
        );
    }

    /// A grouped reduction kernel (softmax, layer_norm, l2_normalize) over `axes` (absolute).
    pub(crate) fn grouped(
        &mut self,
        kernel: Kernel,
        res: Vec<Res>,
        shape: Vec<usize>,
        axes: Vec<usize>,
        v: [u32; 4],
        f: [f32; 4],
    ) -> Result<()> {
        let max = self.max_dim();
        grouping(&with_batch(1, &shape), &axes)?;
        self.dispatch(
            kernel.key(),
            res,
            Box::new(move |b| {
                let g =
                    grouping(&with_batch(b, &shape), &axes).expect("rank checked when planning");
                let mut p = Params {
                    u: [
                        g.groups as u32,
                        g.kept.len() as u32,
                        g.reduced.len() as u32,
                        g.count as u32,
                    ],
                    v,
                    f,
                    ..Default::default()
                };
                put(&mut p.dims, &g.kept.iter().map(|x| x.0).collect::<Vec<_>>());
                put(&mut p.s0, &g.kept.iter().map(|x| x.1).collect::<Vec<_>>());
                put(
                    &mut p.s1,
                    &g.reduced.iter().map(|x| x.0).collect::<Vec<_>>(),
                );
                put(
                    &mut p.s2,
                    &g.reduced.iter().map(|x| x.1).collect::<Vec<_>>(),
                );
                (p, grid_1d(g.groups, max))
            }),
        );
        Ok(())
    }

    /// LayerNormalization (and its RMS form) over `axes`, with gamma and beta where present.
    pub(crate) fn layer_norm(
        &mut self,
        i: usize,
        node: &Node,
        (input, out): (usize, usize),
        axes: &[usize],
        epsilon: f32,
        (center, scale, rms_scaling): (bool, bool, bool),
    ) -> Result<()> {
        let params = &self.weights.params[&i];
        let mut it = params.iter().cloned();
        let gamma = (scale || rms_scaling).then(|| it.next()).flatten();
        let beta = (center && !rms_scaling).then(|| it.next()).flatten();
        let dummy = self.weights.dummy();
        let v = [
            u32::from(gamma.is_some()),
            u32::from(beta.is_some()),
            u32::from(rms_scaling),
            0,
        ];
        let res = vec![
            Res::Slot(input),
            Res::Buffer(gamma.unwrap_or_else(|| dummy.clone())),
            Res::Buffer(beta.unwrap_or(dummy)),
            Res::Slot(out),
        ];
        let f = [epsilon, 0.0, 0.0, 0.0];
        self.grouped(
            Kernel::LayerNorm,
            res,
            node.shape.clone(),
            axes.to_vec(),
            v,
            f,
        )
    }

    /// x / sqrt(max(Σx², floor)) over `axes` (UnitNormalization, l2_normalize).
    pub(crate) fn l2_normalize(
        &mut self,
        node: &Node,
        (input, out): (usize, usize),
        axes: &[usize],
        floor: f32,
    ) -> Result<()> {
        let res = vec![Res::Slot(input), Res::Slot(out)];
        let f = [floor, 0.0, 0.0, 0.0];
        self.grouped(
            Kernel::L2Normalize,
            res,
            node.shape.clone(),
            axes.to_vec(),
            [0; 4],
            f,
        )
    }
}

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
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let params = &self.weights.params[&i];
        let (inv, shift) = (params[0].clone(), params[1].clone());
        let mut axes = axes.to_vec();
        axes.sort_unstable();
        let contiguous = axes.windows(2).all(|w| w[1] == w[0] + 1);
        if contiguous && !axes.is_empty() && self.windows {
            self.windowed(
                Kernel::BatchNormWindow,
                vec![
                    Res::Window(input),
                    Res::Buffer(inv),
                    Res::Buffer(shift),
                    Res::Slot(out),
                    Res::WindowBase,
                ],
                move |b| {
                    let full = with_batch(b, &shape);
                    let (a0, a1) = (axes[0], axes[axes.len() - 1]);
                    let inner: usize = full[a1 + 1..].iter().product();
                    let channels: usize = full[a0..=a1].iter().product();
                    let n4 = (b * len).div_ceil(4);
                    let p = BatchNormParams {
                        n: n4 as u32,
                        inner: inner.max(1) as u32,
                        channels: channels.max(1) as u32,
                        ..Default::default()
                    };
                    (p, n4)
                },
            );
            return;
        }
        let res = vec![
            Res::Slot(input),
            Res::Buffer(inv),
            Res::Buffer(shift),
            Res::Slot(out),
        ];
        self.per_feature(Kernel::BatchNorm, res, shape, axes);
    }

    /// Rescaling, Normalization, LayerScale: ((x − sub)/div)·mul + add per feature.
    pub(crate) fn affine(
        &mut self,
        i: usize,
        node: &Node,
        (input, out): (usize, usize),
        axes: &[usize],
    ) {
        let c = &self.weights.params[&i];
        let res = vec![
            Res::Slot(input),
            Res::Buffer(c[0].clone()),
            Res::Buffer(c[1].clone()),
            Res::Buffer(c[2].clone()),
            Res::Buffer(c[3].clone()),
            Res::Slot(out),
        ];
        self.per_feature(Kernel::Affine, res, node.shape.clone(), axes.to_vec());
    }

    /// An elementwise kernel with constants over the sample `axes` (BatchNormParams).
    fn per_feature(&mut self, kernel: Kernel, res: Vec<Res>, shape: Vec<usize>, axes: Vec<usize>) {
        let max = self.max_dim();
        let len: usize = shape.iter().product();
        let contiguous = axes.windows(2).all(|w| w[1] == w[0] + 1);
        self.dispatch(kernel, res, move |b| {
            let full = with_batch(b, &shape);
            let n = b * len;
            let mut p = BatchNormParams {
                n: n as u32,
                inner: 1,
                channels: 1,
                ..Default::default()
            };
            if axes.is_empty() {
                // One constant for every element.
            } else if contiguous {
                let (a0, a1) = (axes[0], axes[axes.len() - 1]);
                p.inner = full[a1 + 1..].iter().product::<usize>() as u32;
                p.channels = full[a0..=a1].iter().product::<usize>() as u32;
            } else {
                let pshape: Vec<usize> = axes.iter().map(|&a| full[a]).collect();
                let pst = strides(&pshape);
                let mut const_strides = vec![0; full.len()];
                for (j, &a) in axes.iter().enumerate() {
                    const_strides[a] = pst[j];
                }
                p.rank = full.len() as u32;
                p.dims = Idx::of(&full);
                p.const_strides = Idx::of(&const_strides);
            }
            (p, grid_1d(n, max))
        });
    }

    /// A grouped reduction kernel (softmax, layer_norm, l2_normalize) over `axes` (absolute),
    /// its parameters made by `make` from the groups of each chunk.
    pub(crate) fn grouped<P: KernelParams>(
        &mut self,
        kernel: Kernel,
        res: Vec<Res>,
        shape: Vec<usize>,
        axes: Vec<usize>,
        make: impl Fn(Groups) -> P + Send + Sync + 'static,
    ) -> Result<()> {
        let max = self.max_dim();
        grouping(&with_batch(1, &shape), &axes)?;
        self.dispatch(kernel, res, move |b| {
            let g = grouping(&with_batch(b, &shape), &axes).expect("rank checked when planning");
            let sizes = |side: &[(usize, usize)]| side.iter().map(|x| x.0).collect::<Vec<_>>();
            let strides = |side: &[(usize, usize)]| side.iter().map(|x| x.1).collect::<Vec<_>>();
            let groups = Groups {
                count: g.groups as u32,
                kept_rank: g.kept.len() as u32,
                reduced_rank: g.reduced.len() as u32,
                len: g.count as u32,
                kept_dims: Idx::of(&sizes(&g.kept)),
                kept_strides: Idx::of(&strides(&g.kept)),
                reduced_dims: Idx::of(&sizes(&g.reduced)),
                reduced_strides: Idx::of(&strides(&g.reduced)),
            };
            (make(groups), grid_1d(g.groups, max))
        });
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
        (center, scale, rms): (bool, bool, u32),
    ) -> Result<()> {
        let params = &self.weights.params[&i];
        let mut it = params.iter().cloned();
        let gamma = (scale || rms != 0).then(|| it.next()).flatten();
        let beta = (center && rms == 0).then(|| it.next()).flatten();
        let dummy = self.weights.dummy();
        let (scale, center) = (u32::from(gamma.is_some()), u32::from(beta.is_some()));
        let res = vec![
            Res::Slot(input),
            Res::Buffer(gamma.unwrap_or_else(|| dummy.clone())),
            Res::Buffer(beta.unwrap_or(dummy)),
            Res::Slot(out),
        ];
        let shape = node.shape.clone();
        self.grouped(
            Kernel::LayerNorm,
            res,
            shape,
            axes.to_vec(),
            move |groups| LayerNormParams {
                groups,
                epsilon,
                scale,
                center,
                rms,
            },
        )
    }

    /// The mean over `axes`: one value per group, written in the output's order.
    pub(crate) fn mean(
        &mut self,
        node: &Node,
        (input, out): (usize, usize),
        axes: &[usize],
    ) -> Result<()> {
        let in_shape = self.input_shape(node, 0);
        let res = vec![Res::Slot(input), Res::Slot(out)];
        self.grouped(Kernel::Mean, res, in_shape, axes.to_vec(), |groups| {
            MeanParams { groups }
        })
    }

    /// RMSNormalization: the layer norm kernel with the mean square (mode 2) and `scale`.
    pub(crate) fn rms_norm(
        &mut self,
        i: usize,
        node: &Node,
        io: (usize, usize),
        axes: &[usize],
        epsilon: f32,
    ) -> Result<()> {
        self.layer_norm(i, node, io, axes, epsilon, (false, true, 2))
    }

    /// GroupNormalization as a grouped reduction over a view that splits the channel axis
    /// into [groups, channels per group]: [before, groups, per group, after], reducing all
    /// but the groups.
    pub(crate) fn group_norm(
        &mut self,
        i: usize,
        node: &Node,
        (input, out): (usize, usize),
        n: &GroupNorm,
    ) -> Result<()> {
        let shape = &node.shape;
        let channels = shape[n.axis - 1];
        let before: usize = shape[..n.axis - 1].iter().product();
        let after: usize = shape[n.axis..].iter().product();
        let per_group = channels / n.groups;
        let view = vec![before, n.groups, per_group, after];
        let params = &self.weights.params[&i];
        let mut it = params.iter().cloned();
        let gamma = n.scale.then(|| it.next()).flatten();
        let beta = n.center.then(|| it.next()).flatten();
        let dummy = self.weights.dummy();
        let res = vec![
            Res::Slot(input),
            Res::Buffer(gamma.unwrap_or_else(|| dummy.clone())),
            Res::Buffer(beta.unwrap_or(dummy)),
            Res::Slot(out),
        ];
        let (epsilon, groups) = (n.epsilon, n.groups as u32);
        let (scale, center) = (u32::from(n.scale), u32::from(n.center));
        self.grouped(Kernel::GroupNorm, res, view, vec![1, 3, 4], move |g| {
            GroupNormParams {
                groups: g,
                epsilon,
                num_groups: groups,
                group_channels: per_group as u32,
                inner: after as u32,
                scale,
                center,
                ..Default::default()
            }
        })
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
        let shape = node.shape.clone();
        self.grouped(
            Kernel::L2Normalize,
            res,
            shape,
            axes.to_vec(),
            move |groups| L2Params {
                groups,
                floor,
                ..Default::default()
            },
        )
    }
}

//! Pooling: one invocation per output cell walks its window (max, or the mean over the cells
//! inside the input).

use super::super::*;
use crate::ops::{Pool, PoolKind};

/// Sample axes the pool kernel indexes: 3 spatial and the channels.
const POOL_AXES: usize = 4;

impl Builder<'_> {
    pub(crate) fn pool(
        &mut self,
        node: &Node,
        input: usize,
        out: usize,
        pool: &Pool,
    ) -> Result<()> {
        let max = self.max_dim();
        let in_shape = self.input_shape(node, 0);
        if in_shape.len() > POOL_AXES {
            return Err(Error::Device(format!(
                "layer '{}': the GPU pools samples of at most {POOL_AXES} axes; use --device cpu",
                node.name
            )));
        }
        let geometry = pool
            .geometry(&in_shape)
            .expect("checked when the graph was built");
        let pooled: Vec<usize> = geometry.iter().map(|&(o, _)| o).collect();
        let pads: Vec<usize> = geometry.iter().map(|&(_, p)| p).collect();
        let len: usize = pooled.iter().product();
        let window_len: usize = pool.window.iter().product();
        // Per sample axis (the channels' window is 1, their stride 1).
        let rank = in_shape.len();
        let mut window = [1; POOL_AXES];
        let mut strides_ = [1; POOL_AXES];
        window[..rank].copy_from_slice(&pool.window);
        strides_[..rank].copy_from_slice(&pool.strides);
        let (window, strides_) = (Axes::of(&window), Axes::of(&strides_));
        let (pad_before, src_sizes) = (Axes::of(&pads), Axes::of(&in_shape));
        let average = u32::from(pool.kind == PoolKind::Average);
        self.dispatch(
            Kernel::Pool,
            vec![Res::Slot(input), Res::Slot(out)],
            move |b| {
                let full_out = with_batch(b, &pooled);
                let n = b * len;
                let p = PoolParams {
                    n: n as u32,
                    rank: full_out.len() as u32,
                    window_cells: window_len as u32,
                    average,
                    dims: Idx::of(&full_out),
                    src_strides: Idx::of(&strides(&with_batch(b, &in_shape))),
                    window,
                    strides: strides_,
                    pad_before,
                    src_sizes,
                };
                (p, grid_1d(n, max))
            },
        );
        Ok(())
    }
}

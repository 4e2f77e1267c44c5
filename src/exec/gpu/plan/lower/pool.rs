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
        let in_shape = self.graph.node(node.inputs[0]).shape.clone();
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
        let kind = match pool.kind {
            PoolKind::Max => 0,
            PoolKind::Average => 1,
        };
        // s1: the window then the strides, s2: the padding then the input's sizes, one entry
        // per sample axis each (POOL_AXES apiece).
        let (mut s1, mut s2) = (vec![1; 2 * POOL_AXES], vec![0; 2 * POOL_AXES]);
        let rank = in_shape.len();
        s1[..rank].copy_from_slice(&pool.window);
        s1[POOL_AXES..POOL_AXES + rank].copy_from_slice(&pool.strides);
        s2[..rank].copy_from_slice(&pads);
        s2[POOL_AXES..POOL_AXES + rank].copy_from_slice(&in_shape);
        self.dispatch(
            Kernel::Pool.key(),
            vec![Res::Slot(input), Res::Slot(out)],
            Box::new(move |b| {
                let full_out = with_batch(b, &pooled);
                let n = b * len;
                let mut p = Params {
                    u: [n as u32, full_out.len() as u32, window_len as u32, kind],
                    ..Default::default()
                };
                put(&mut p.dims, &full_out);
                put(&mut p.s0, &strides(&with_batch(b, &in_shape)));
                put(&mut p.s1, &s1);
                put(&mut p.s2, &s2);
                (p, grid_1d(n, max))
            }),
        );
        Ok(())
    }
}

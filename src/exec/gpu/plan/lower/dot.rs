//! Dot: one `dot` dispatch (dot.wgsl), an output value per invocation.

use super::super::*;
use crate::ops::Dot;

impl Builder<'_> {
    pub(crate) fn dot(&mut self, node: &Node, ins: &[usize], out: usize, d: &Dot) -> Result<()> {
        let shape = |k: usize| self.graph.node(node.inputs[k]).shape.clone();
        let g = d
            .geometry(&shape(0), &shape(1))
            .map_err(|e| Error::Device(format!("layer '{}': {e}", node.name)))?;
        let p = DotParams {
            rows: g.rows as u32,
            cols: g.cols as u32,
            depth: g.depth as u32,
            after_x: g.after_x as u32,
            after_y: g.after_y as u32,
            normalize: u32::from(d.normalize.is_some()),
            floor: d.normalize.unwrap_or(0.0),
            ..Default::default()
        };
        let per_sample = g.rows * g.cols;
        let max = self.max_dim();
        let res = vec![Res::Slot(ins[0]), Res::Slot(ins[1]), Res::Slot(out)];
        self.dispatch(Kernel::Dot, res, move |b| {
            let n = b * per_sample;
            (DotParams { n: n as u32, ..p }, grid_1d(n, max))
        });
        Ok(())
    }
}

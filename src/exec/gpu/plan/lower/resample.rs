//! Resampling (UpSampling, Resizing, CenterCrop's resize): one gather per output cell.

use super::super::*;
use crate::ops::{Interpolation, Resample, ResampleAxis};

impl Builder<'_> {
    pub(crate) fn resample(
        &mut self,
        node: &Node,
        (input, out): (usize, usize),
        r: &Resample,
    ) -> Result<()> {
        let max = self.max_dim();
        let in_shape = self.input_shape(node, 0);
        let axes = r.axes(&in_shape).map_err(Error::Device)?;
        let bilinear = r.interpolation == Interpolation::Bilinear;
        if in_shape.len() > 4 || (bilinear && axes.len() != 2) {
            return Err(Error::Device(format!(
                "layer '{}': the GPU resamples 1 to 3 spatial axes, bilinearly only 2; use --device cpu",
                node.name
            )));
        }
        let per_axis =
            |f: fn(&ResampleAxis) -> usize| Axes::of(&axes.iter().map(f).collect::<Vec<_>>());
        let (start, lens, pad) = (
            per_axis(|a| a.start),
            per_axis(|a| a.len),
            per_axis(|a| a.pad),
        );
        let src_sizes = Axes::of(if r.channels_first {
            &in_shape[1..]
        } else {
            &in_shape[..in_shape.len() - 1]
        });
        let fill = r.fill;
        let mut scale = [0.0; 4];
        for (s, a) in scale.iter_mut().zip(&axes) {
            *s = a.len as f32 / a.out as f32;
        }
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let (spatial, first) = (axes.len() as u32, u32::from(r.channels_first));
        self.dispatch(
            Kernel::Resample,
            vec![Res::Slot(input), Res::Slot(out)],
            move |b| {
                let full_out = with_batch(b, &shape);
                let n = b * len;
                let p = ResampleParams {
                    n: n as u32,
                    rank: full_out.len() as u32,
                    spatial,
                    bilinear: u32::from(bilinear),
                    channels_first: first,
                    fill,
                    dims: Idx::of(&full_out),
                    src_strides: Idx::of(&strides(&with_batch(b, &in_shape))),
                    src_sizes,
                    pad,
                    start,
                    len: lens,
                    scale: Floats(scale),
                    ..Default::default()
                };
                (p, grid_1d(n, max))
            },
        );
        Ok(())
    }
}

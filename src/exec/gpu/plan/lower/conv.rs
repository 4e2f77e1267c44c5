//! Convolution: the direct kernel with bias and activation fused (a depthwise convolution is a
//! grouped one); a separable one is two such dispatches; a transposed one gathers per output
//! value; a softmax activation runs as its own
//! reduction over the last axis after it.

use super::super::*;
use crate::exec::gpu::kernels::CONV_GEMM_TILE;
use crate::ops::{Conv, ConvKind};

impl Builder<'_> {
    pub(crate) fn conv(
        &mut self,
        i: usize,
        node: &Node,
        input: usize,
        out: usize,
        conv: &Conv,
    ) -> Result<()> {
        let in_shape = self.input_shape(node, 0);
        let params = self.weights.params[&i].clone();
        let Some((depthwise, pointwise)) = conv.separable_stages() else {
            let bias = conv.use_bias.then(|| params[1].clone());
            return self.conv_stage(conv, &in_shape, (input, out), params[0].clone(), bias);
        };
        // Separable: the depthwise stage into a scratch slot, then the 1×1 stage.
        let mid_shape = depthwise
            .output_shape(&in_shape)
            .expect("checked when built");
        let mid = self.alloc(mid_shape.iter().product());
        self.live[mid] += 1;
        self.conv_stage(&depthwise, &in_shape, (input, mid), params[0].clone(), None)?;
        let bias = conv.use_bias.then(|| params[2].clone());
        self.conv_stage(&pointwise, &mid_shape, (mid, out), params[1].clone(), bias)?;
        self.live[mid] -= 1;
        Ok(())
    }

    /// One plain convolution; a softmax activation runs as its own reduction after it.
    fn conv_stage(
        &mut self,
        conv: &Conv,
        in_shape: &[usize],
        (input, out): (usize, usize),
        kernel: Arc<wgpu::Buffer>,
        bias: Option<Arc<wgpu::Buffer>>,
    ) -> Result<()> {
        let shape = conv.output_shape(in_shape).expect("checked when built");
        self.then_softmax(&conv.activation, &shape, out, |b, dst, act| {
            let conv = Conv {
                activation: *act,
                ..conv.clone()
            };
            b.conv_kernel(&conv, in_shape, 1, (input, dst), kernel, bias);
            Ok(())
        })
    }

    /// One convolution dispatch over `images` images of `in_shape` per sample (a ConvLSTM's
    /// steps).
    pub(super) fn conv_kernel(
        &mut self,
        conv: &Conv,
        in_shape: &[usize],
        images: usize,
        (input, out): (usize, usize),
        kernel: Arc<wgpu::Buffer>,
        bias: Option<Arc<wgpu::Buffer>>,
    ) {
        let max = self.max_dim();
        let in_shape = in_shape.to_vec();
        let geometry = conv.geometry(&in_shape).expect("checked when built");
        let shape = conv.output_shape(&in_shape).expect("checked when built");
        let len: usize = shape.iter().product();
        let has_bias = bias.is_some();
        let bias = bias.unwrap_or_else(|| self.weights.dummy());
        let code = act_code(&conv.activation).expect("softmax is applied separately");
        let act = ActArgs(act_params(&conv.activation));
        let spatial = conv.window.len();
        let (window, strides_) = (Axes::of(&conv.window), Axes::of(&conv.strides));
        let dilation = Axes::of(&conv.dilation);
        let (pad_before, src_sizes) = (Axes::of(&geometry.pad), Axes::of(&geometry.input));
        let (groups, filters) = (conv.groups, conv.filters);
        let group_channels = geometry.channels / groups;
        let channels_first = u32::from(conv.channels_first);
        // On hardware GPUs (the tiled dense kernel's), a plain convolution with its channels
        // last runs as a tiled implicit GEMM over output positions. Grouped (depthwise) and
        // channels-first ones, and every one on a software adapter, keep the direct kernel:
        // on lavapipe it measured faster (ResNet50 at 32×32: 0.95 s against 2.2 s).
        let gemm = self.dense == DenseKernel::Tiled
            && conv.kind == ConvKind::Standard
            && !conv.channels_first
            && groups == 1;
        let kernel_kind = match conv.kind {
            ConvKind::Transpose { .. } => Kernel::ConvTranspose { act: code },
            _ if gemm => Kernel::ConvGemm { act: code },
            _ => Kernel::Conv { act: code },
        };
        self.dispatch(
            kernel_kind,
            vec![
                Res::Slot(input),
                Res::Buffer(kernel),
                Res::Buffer(bias),
                Res::Slot(out),
            ],
            move |samples| {
                let b = samples * images;
                let n = b * len;
                let p = ConvParams {
                    act,
                    n: n as u32,
                    spatial: spatial as u32,
                    group_channels: group_channels as u32,
                    filters: filters as u32,
                    groups: groups as u32,
                    channels_first,
                    has_bias: u32::from(has_bias),
                    dims: Idx::of(&with_batch(b, &shape)),
                    src_strides: Idx::of(&strides(&with_batch(b, &in_shape))),
                    window,
                    strides: strides_,
                    dilation,
                    pad_before,
                    src_sizes,
                    ..Default::default()
                };
                let grid = if gemm {
                    let tile = 4 * CONV_GEMM_TILE as usize;
                    grid_2d(filters.div_ceil(tile), (n / filters).div_ceil(tile), max)
                } else {
                    grid_1d(n, max)
                };
                (p, grid)
            },
        );
    }
}

//! Recording a chunk's work into one command buffer: every dispatch of the plan, the copies
//! into the software GEMM's A texture, and the copies of finished values out.

use super::*;

impl GpuExecutor {
    /// Records the plan's steps for `b` samples, and the copies of finished values to `sink`.
    pub(super) fn encode(&self, grids: &[[u32; 3]], b: usize, sink: &Sink) -> wgpu::CommandEncoder {
        let plan = self.plan.as_ref().expect("plan built before running");
        let staging = &self.staging.as_ref().expect("staging buffer").0;
        let mut encoder =
            self.ctx
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("keqv run"),
                });
        let mut pass: Option<wgpu::ComputePass<'static>> = None;
        let mut grid = grids.iter();
        for step in &plan.steps {
            match step {
                Step::Dispatch {
                    pipeline,
                    bind_group,
                    windows,
                    ..
                } => {
                    let p = pass.get_or_insert_with(|| {
                        encoder
                            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                                label: Some("keqv"),
                                timestamp_writes: None,
                            })
                            .forget_lifetime()
                    });
                    let grid = *grid.next().expect("one grid per dispatch");
                    p.set_pipeline(&pipeline.pipeline);
                    dispatch(p, bind_group, grid, *windows, plan.window_stride);
                }
                Step::ToTexture {
                    slot,
                    texture,
                    k,
                    k4,
                    rows_per_sample,
                } => {
                    pass = None;
                    copy_rows_to_texture(
                        &mut encoder,
                        &plan.slots[*slot],
                        texture,
                        *k,
                        *k4,
                        rows_per_sample * b,
                        self.ctx.limits(),
                    );
                }
                Step::Done(i) => {
                    let bytes = (plan.node_len[*i] * b) as u64 * 4;
                    let slot = &plan.slots[plan.node_slot[*i]];
                    if bytes == 0 {
                        continue;
                    }
                    if sink.wanted[*i] {
                        pass = None;
                        encoder.copy_buffer_to_buffer(slot, 0, staging, sink.offsets[*i], bytes);
                    }
                    let outputs = self.graph.outputs.iter().enumerate();
                    for (k, _) in outputs.filter(|(_, o)| o.0 == *i) {
                        if let Some(buffers) = sink.resident {
                            pass = None;
                            encoder.copy_buffer_to_buffer(slot, 0, &buffers[k], 0, bytes);
                        }
                    }
                }
            }
        }
        drop(pass);
        encoder
    }
}

/// Where a chunk's finished values go: the read-back buffer at `offsets` for the `wanted`
/// ones, and the `resident` output buffers when given.
pub(super) struct Sink<'a> {
    pub(super) wanted: &'a [bool],
    pub(super) offsets: &'a [u64],
    pub(super) resident: Option<&'a [wgpu::Buffer]>,
}

/// One dispatch: the whole grid, or for a window kernel (`windows` > 0) one dispatch per 64 KiB
/// window of the input's vec4s, with each window's dynamic offsets.
fn dispatch(
    pass: &mut wgpu::ComputePass<'static>,
    bind_group: &wgpu::BindGroup,
    [x, y, z]: [u32; 3],
    windows: usize,
    window_stride: u64,
) {
    if windows == 0 {
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(x, y, z);
        return;
    }
    let per_window = (kernels::WINDOW_FLOATS / 4) as u32;
    for w in 0..x.div_ceil(per_window) {
        let mut offsets = vec![w * kernels::WINDOW_BYTES as u32; windows];
        offsets.push(w * window_stride as u32);
        pass.set_bind_group(0, bind_group, &offsets);
        let items = per_window.min(x - w * per_window);
        pass.dispatch_workgroups(items.div_ceil(kernels::WG), 1, 1);
    }
}

/// Copies `rows` rows of K floats (K a multiple of 64, so rows are 256-byte aligned) into the A
/// texture: full layers in one copy, the last partial layer in another.
fn copy_rows_to_texture(
    encoder: &mut wgpu::CommandEncoder,
    buffer: &wgpu::Buffer,
    texture: &wgpu::Texture,
    k: usize,
    k4: u32,
    rows: usize,
    limits: &wgpu::Limits,
) {
    let ha = plan::a_layer_rows(limits);
    let (full, rest) = (rows / ha, rows % ha);
    let mut copy = |offset: u64, z: u32, height: usize, layers: usize| {
        encoder.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset,
                    bytes_per_row: Some(k as u32 * 4),
                    rows_per_image: Some(height as u32),
                },
            },
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d { x: 0, y: 0, z },
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::Extent3d {
                width: k4,
                height: height as u32,
                depth_or_array_layers: layers as u32,
            },
        );
    };
    if full > 0 {
        copy(0, 0, ha, full);
    }
    if rest > 0 {
        copy((full * ha * k * 4) as u64, full as u32, rest, 1);
    }
}

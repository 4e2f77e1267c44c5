//! A layout made real: the buffers, textures, uniform block, pipelines and bind groups of a
//! plan for chunks of a given number of samples.

use std::collections::HashMap;
use std::sync::Arc;

use wgpu::util::DeviceExt;

use super::super::params::PARAMS_SLOT;
use super::{a_layer_rows, Draft, Layout, Plan, Res, Step};
use crate::error::Result;
use crate::exec::gpu::kernels::{WINDOW_BYTES, WINDOW_FLOATS};
use crate::exec::gpu::weights::{float4_texture, non_pot};
use crate::exec::gpu::GpuContext;

impl Layout {
    /// Creates the buffers, textures, pipelines and bind groups for chunks of `capacity` samples.
    pub fn build(self, ctx: &GpuContext, capacity: usize) -> Result<Plan> {
        let capacity = capacity.max(1);
        let device = ctx.device();
        let slots = ctx.scoped("allocating GPU buffers", || {
            self.slot_len
                .iter()
                .enumerate()
                .map(|(i, &len)| {
                    // Whole windows, so that every window binding stays inside the buffer.
                    let floats = (len * capacity).div_ceil(WINDOW_FLOATS).max(1) * WINDOW_FLOATS;
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(&format!("slot {i}")),
                        size: floats as u64 * 4,
                        usage: wgpu::BufferUsages::STORAGE
                            | wgpu::BufferUsages::UNIFORM
                            | wgpu::BufferUsages::COPY_SRC
                            | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                })
                .collect::<Vec<_>>()
        })?;
        let limits = ctx.limits();
        let ha = a_layer_rows(limits);
        let mut a_textures: HashMap<u32, (Arc<wgpu::Texture>, Arc<wgpu::TextureView>)> =
            HashMap::new();
        for (&k4, &rows) in &self.a_textures {
            let rows = (rows * capacity).max(1);
            let size = wgpu::Extent3d {
                width: non_pot(k4 as usize).min(limits.max_texture_dimension_2d as usize) as u32,
                height: non_pot(rows.min(ha)).min(ha) as u32,
                depth_or_array_layers: rows.div_ceil(ha) as u32,
            };
            let texture = ctx.scoped("allocating GPU textures", || {
                float4_texture(device, "dense input", size)
            })?;
            let view = texture.create_view(&wgpu::TextureViewDescriptor {
                dimension: Some(wgpu::TextureViewDimension::D2Array),
                ..Default::default()
            });
            a_textures.insert(k4, (Arc::new(texture), Arc::new(view)));
        }
        let n_params = self
            .drafts
            .iter()
            .filter(|d| matches!(d, Draft::Dispatch { .. } | Draft::Windowed { .. }))
            .count();
        // The window table: record w holds the first vec4 of window w.
        let max_windows = self
            .drafts
            .iter()
            .map(|d| match d {
                Draft::Windowed { make, .. } => {
                    (make(capacity).1[0] as usize).div_ceil(WINDOW_FLOATS / 4)
                }
                _ => 0,
            })
            .max()
            .unwrap_or(0)
            .max(1);
        let window_stride = 16u64.div_ceil(u64::from(limits.min_uniform_buffer_offset_alignment))
            * u64::from(limits.min_uniform_buffer_offset_alignment);
        let mut table = vec![0u8; window_stride as usize * max_windows];
        for w in 0..max_windows {
            let base = (w * WINDOW_FLOATS / 4) as u32;
            table[w * window_stride as usize..w * window_stride as usize + 4]
                .copy_from_slice(&base.to_le_bytes());
        }
        let window_table = ctx.scoped("allocating GPU buffers", || {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("windows"),
                contents: &table,
                usage: wgpu::BufferUsages::UNIFORM,
            })
        })?;
        let align = u64::from(limits.min_uniform_buffer_offset_alignment).max(16);
        let uniform_stride = (PARAMS_SLOT as u64).div_ceil(align) * align;
        let uniform = ctx.scoped("allocating GPU buffers", || {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: uniform_stride * n_params.max(1) as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let mut steps = Vec::with_capacity(self.drafts.len());
        let mut param = 0;
        for draft in self.drafts {
            match draft {
                Draft::Done(i) => steps.push(Step::Done(i)),
                Draft::ToTexture {
                    slot,
                    k,
                    k4,
                    rows_per_sample,
                } => steps.push(Step::ToTexture {
                    slot,
                    texture: a_textures[&k4].0.clone(),
                    k,
                    k4,
                    rows_per_sample,
                }),
                Draft::Dispatch { key, res, make } | Draft::Windowed { key, res, make } => {
                    let windows = res.iter().filter(|r| matches!(r, Res::Window(_))).count();
                    let pipeline = ctx.kernels.get(ctx, &key)?;
                    let mut entries = vec![wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &uniform,
                            offset: param as u64 * uniform_stride,
                            size: wgpu::BufferSize::new(key.params.size as u64),
                        }),
                    }];
                    for (i, r) in res.iter().enumerate() {
                        let resource = match r {
                            Res::Slot(s) => slots[*s].as_entire_binding(),
                            Res::Buffer(b) => b.as_entire_binding(),
                            Res::View(v) => wgpu::BindingResource::TextureView(v),
                            Res::ATexture(k4) => {
                                wgpu::BindingResource::TextureView(&a_textures[k4].1)
                            }
                            Res::Window(s) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &slots[*s],
                                offset: 0,
                                size: wgpu::BufferSize::new(WINDOW_BYTES),
                            }),
                            Res::WindowBase => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &window_table,
                                offset: 0,
                                size: wgpu::BufferSize::new(16),
                            }),
                        };
                        entries.push(wgpu::BindGroupEntry {
                            binding: i as u32 + 1,
                            resource,
                        });
                    }
                    let bind_group =
                        ctx.scoped(&format!("binding the {} kernel", key.entry), || {
                            device.create_bind_group(&wgpu::BindGroupDescriptor {
                                label: Some(key.entry),
                                layout: &pipeline.layout,
                                entries: &entries,
                            })
                        })?;
                    steps.push(Step::Dispatch {
                        pipeline,
                        bind_group,
                        param,
                        make,
                        windows,
                    });
                    param += 1;
                }
            }
        }
        Ok(Plan {
            capacity,
            slots,
            node_slot: self.node_slot,
            node_len: self.node_len,
            steps,
            uniform,
            uniform_stride,
            n_params,
            window_stride,
        })
    }
}

//! Turns a graph into the work of one batch: which buffer (slot) holds each node's value, with
//! slots reused once their values are dead; the dispatches, each with its uniform parameters as
//! a function of the batch size; and the bind groups, created once per plan.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use super::kernels::{
    act_code, act_params, merge_code, soft_key, tiled_key, KernelKey, Pipeline, ShaderFile,
    SoftTile, ACT_DYNAMIC, ACT_WINDOW, BATCH_NORM_WINDOW, MERGE_ACC_WINDOW, MERGE_WINDOW, SOFT_WX,
    TILED_GX, TILED_GY, WG, WINDOW_BYTES, WINDOW_FLOATS,
};
use super::weights::{float4_texture, non_pot, padded_k4, DenseWeights, Weights};
use super::GpuContext;
use crate::error::{Error, Result};
use crate::graph::{Activation, Graph, MergeKind, Node, Op};

/// The uniform block every kernel reads (`Params` in shaders/common.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub(crate) struct Params {
    pub u: [u32; 4],
    pub v: [u32; 4],
    pub f: [f32; 4],
    pub dims: [u32; 8],
    pub s0: [u32; 8],
    pub s1: [u32; 8],
    pub s2: [u32; 8],
}

/// Largest rank (batch included) the index helpers of the shaders handle.
pub(crate) const MAX_RANK: usize = 8;

/// Builds a dispatch's parameters and workgroup grid for a chunk of `b` samples.
pub(crate) type ParamFn = Box<dyn Fn(usize) -> (Params, [u32; 3]) + Send + Sync>;

/// How dense layers run on this executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenseKernel {
    /// Workgroup-shared tiled GEMM over storage buffers: the kernel for hardware GPUs.
    Tiled,
    /// Register-blocked GEMM over storage textures without shared memory: the kernel for
    /// software adapters (llvmpipe), optionally sharing rows of A through subgroups.
    Texture { subgroups: bool, tile: SoftTile },
}

/// A resource bound at binding i + 1 of a dispatch (binding 0 is its parameters).
enum Res {
    Slot(usize),
    Buffer(Arc<wgpu::Buffer>),
    View(Arc<wgpu::TextureView>),
    /// The staging texture of the software GEMM's A operand, by K4 (texels per row).
    ATexture(u32),
    /// A slot read through 64 KiB uniform windows (dynamic offset).
    Window(usize),
    /// The plan's table of window records (dynamic offset).
    WindowBase,
}

enum Draft {
    Dispatch {
        key: KernelKey,
        res: Vec<Res>,
        make: ParamFn,
    },
    /// A `*_window` kernel: dispatched once per 64 KiB window of its `p.u.x` vec4s.
    Windowed {
        key: KernelKey,
        res: Vec<Res>,
        make: ParamFn,
    },
    /// copy_buffer_to_texture of a [rows, K] slot into the A texture (K a multiple of 64).
    ToTexture {
        slot: usize,
        k: usize,
        k4: u32,
        rows_per_sample: usize,
    },
    Done(usize),
}

pub(crate) enum Step {
    Dispatch {
        pipeline: Arc<Pipeline>,
        bind_group: wgpu::BindGroup,
        param: usize,
        make: ParamFn,
        /// Number of window bindings (0: an ordinary dispatch of the grid `make` returns).
        windows: usize,
    },
    ToTexture {
        slot: usize,
        texture: Arc<wgpu::Texture>,
        k: usize,
        k4: u32,
        rows_per_sample: usize,
    },
    /// Node `.0` has its value in its slot: the point to copy it out.
    Done(usize),
}

pub(crate) struct Plan {
    /// Samples per chunk the buffers are sized for.
    pub capacity: usize,
    pub slots: Vec<wgpu::Buffer>,
    pub node_slot: Vec<usize>,
    /// Floats per sample of each node's value.
    pub node_len: Vec<usize>,
    pub steps: Vec<Step>,
    pub uniform: wgpu::Buffer,
    pub uniform_stride: u64,
    pub n_params: usize,
    /// Byte stride of the window records in the window table.
    pub window_stride: u64,
}

/// Rows of the A staging texture per array layer (the mapping row -> (row % HA, row / HA)):
/// one less than the limit, so that it is not a power of two (see `weights::non_pot`).
pub(crate) fn a_layer_rows(limits: &wgpu::Limits) -> usize {
    limits.max_texture_dimension_2d as usize - 1
}

/// The slots and drafts of a graph, in per-sample units (independent of the batch size).
pub(crate) struct Layout {
    slot_len: Vec<usize>,
    node_slot: Vec<usize>,
    node_len: Vec<usize>,
    drafts: Vec<Draft>,
    /// K4 -> most A rows per sample among the dense nodes staged through that texture.
    a_textures: BTreeMap<u32, usize>,
}

pub(crate) fn layout(
    ctx: &GpuContext,
    graph: &Graph,
    weights: &Weights,
    dense: DenseKernel,
    windows: bool,
) -> Result<Layout> {
    let mut b = Builder {
        ctx,
        graph,
        weights,
        dense,
        windows,
        slot_len: Vec::new(),
        live: Vec::new(),
        drafts: Vec::new(),
        a_textures: BTreeMap::new(),
    };
    let n = graph.nodes.len();
    let mut last_use: Vec<usize> = (0..n).collect();
    for (i, node) in graph.nodes.iter().enumerate() {
        for input in &node.inputs {
            last_use[input.0] = last_use[input.0].max(i);
        }
    }
    let mut node_slot = vec![usize::MAX; n];
    let node_len: Vec<usize> = graph
        .nodes
        .iter()
        .map(|nd| nd.shape.iter().product())
        .collect();
    for (i, node) in graph.nodes.iter().enumerate() {
        check_rank(node)?;
        let slot = match node.op {
            Op::Identity | Op::Reshape => node_slot[node.inputs[0].0],
            _ => b.alloc(node_len[i]),
        };
        b.live[slot] += 1;
        node_slot[i] = slot;
        let ins: Vec<usize> = node.inputs.iter().map(|id| node_slot[id.0]).collect();
        b.node(i, node, &ins, slot)?;
        b.drafts.push(Draft::Done(i));
        let mut released: Vec<usize> = node
            .inputs
            .iter()
            .map(|id| id.0)
            .filter(|&j| last_use[j] == i)
            .collect();
        released.sort_unstable();
        released.dedup();
        for j in released {
            b.live[node_slot[j]] -= 1;
        }
        if last_use[i] == i {
            b.live[slot] -= 1;
        }
    }
    Ok(Layout {
        slot_len: b.slot_len,
        node_slot,
        node_len,
        drafts: b.drafts,
        a_textures: b.a_textures,
    })
}

fn check_rank(node: &Node) -> Result<()> {
    if node.shape.len() + 1 > MAX_RANK {
        return Err(Error::Device(format!(
            "node '{}' has rank {} (batch included); the GPU kernels handle at most {MAX_RANK}; use --device cpu",
            node.name,
            node.shape.len() + 1
        )));
    }
    Ok(())
}

impl Layout {
    /// The most samples per chunk the device limits allow (0 when one sample does not fit).
    pub fn max_capacity(&self, limits: &wgpu::Limits) -> usize {
        let binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            / 4;
        // Slots are rounded up to whole 64 KiB windows: keep room for that.
        let binding = (binding.min(u64::from(u32::MAX) / 4) as usize).saturating_sub(WINDOW_FLOATS);
        let mut cap = usize::MAX;
        for &len in &self.slot_len {
            cap = cap.min(binding.checked_div(len).unwrap_or(usize::MAX));
        }
        cap = cap.min(
            (memory_budget() / 4)
                .checked_div(self.sample_floats())
                .unwrap_or(usize::MAX),
        );
        let tex_rows = a_layer_rows(limits) * limits.max_texture_array_layers as usize;
        for &rows in self.a_textures.values() {
            cap = cap.min(tex_rows.checked_div(rows).unwrap_or(usize::MAX));
        }
        cap
    }

    /// Floats all intermediate buffers take per sample.
    pub fn sample_floats(&self) -> usize {
        self.slot_len.iter().sum()
    }

    /// The node whose one sample is too big for the device (for the error message).
    pub fn largest_node(&self) -> usize {
        (0..self.node_len.len())
            .max_by_key(|&i| self.node_len[i])
            .unwrap_or(0)
    }

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
                    (make(capacity).0.u[0] as usize).div_ceil(WINDOW_FLOATS / 4)
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
        let uniform_stride = (std::mem::size_of::<Params>() as u64).div_ceil(align) * align;
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
                            size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
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

/// Device memory the buffers of one plan may take, in bytes (env KEQV_GPU_MEMORY_MB, which may
/// be fractional).
pub(crate) fn memory_budget() -> usize {
    std::env::var("KEQV_GPU_MEMORY_MB")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|&mb| mb > 0.0)
        .map_or(1 << 30, |mb| (mb * (1 << 20) as f64) as usize)
}

struct Builder<'a> {
    ctx: &'a GpuContext,
    graph: &'a Graph,
    weights: &'a Weights,
    dense: DenseKernel,
    /// Read contiguous inputs of elementwise kernels through uniform windows.
    windows: bool,
    slot_len: Vec<usize>,
    live: Vec<usize>,
    drafts: Vec<Draft>,
    a_textures: BTreeMap<u32, usize>,
}

impl Builder<'_> {
    /// A free slot for `len` floats per sample: the smallest that is big enough, else the
    /// largest (grown), else a new one.
    fn alloc(&mut self, len: usize) -> usize {
        let free = (0..self.slot_len.len()).filter(|&s| self.live[s] == 0);
        let fit = free
            .clone()
            .filter(|&s| self.slot_len[s] >= len)
            .min_by_key(|&s| self.slot_len[s]);
        let slot = fit.or_else(|| free.max_by_key(|&s| self.slot_len[s]));
        match slot {
            Some(s) => {
                self.slot_len[s] = self.slot_len[s].max(len);
                s
            }
            None => {
                self.slot_len.push(len);
                self.live.push(0);
                self.slot_len.len() - 1
            }
        }
    }

    fn dispatch(&mut self, key: KernelKey, res: Vec<Res>, make: ParamFn) {
        self.drafts.push(Draft::Dispatch { key, res, make });
    }

    fn windowed(&mut self, key: KernelKey, res: Vec<Res>, make: ParamFn) {
        self.drafts.push(Draft::Windowed { key, res, make });
    }

    fn max_dim(&self) -> u32 {
        self.ctx.limits().max_compute_workgroups_per_dimension
    }

    /// Plans node `i`, reading slots `ins` and writing slot `out`.
    fn node(&mut self, i: usize, node: &Node, ins: &[usize], out: usize) -> Result<()> {
        match &node.op {
            Op::Input | Op::Identity | Op::Reshape => {}
            Op::Dense {
                units,
                use_bias,
                activation,
            } => self.dense_node(i, node, ins[0], out, *units, *use_bias, activation)?,
            Op::Activation(act) => self.activation(node, ins[0], out, act)?,
            Op::Softmax {
                axes,
                log,
                logsumexp,
            } => self.softmax(
                ins[0],
                out,
                node.shape.clone(),
                axes.clone(),
                *log,
                *logsumexp,
            )?,
            Op::PRelu => self.prelu(i, node, ins[0], out),
            Op::Permute { dims } => self.permute(node, ins[0], out, dims),
            Op::Merge(kind) => self.merge(*kind, node, ins, out),
            Op::Concatenate { axis } => self.concatenate(node, ins, out, *axis),
            Op::BatchNorm { axes, .. } => self.batch_norm(i, node, ins[0], out, axes),
            Op::LayerNorm {
                axes,
                epsilon,
                center,
                scale,
                rms_scaling,
            } => {
                let params = &self.weights.params[&i];
                let mut it = params.iter().cloned();
                let gamma = (*scale || *rms_scaling).then(|| it.next()).flatten();
                let beta = (*center && !*rms_scaling).then(|| it.next()).flatten();
                let dummy = self.weights.dummy();
                let v = [
                    u32::from(gamma.is_some()),
                    u32::from(beta.is_some()),
                    u32::from(*rms_scaling),
                    0,
                ];
                let res = vec![
                    Res::Slot(ins[0]),
                    Res::Buffer(gamma.unwrap_or_else(|| dummy.clone())),
                    Res::Buffer(beta.unwrap_or(dummy)),
                    Res::Slot(out),
                ];
                let f = [*epsilon, 0.0, 0.0, 0.0];
                self.grouped("layer_norm", res, node.shape.clone(), axes.clone(), v, f)?;
            }
            Op::L2Normalize { axes, floor } => {
                let res = vec![Res::Slot(ins[0]), Res::Slot(out)];
                let f = [*floor, 0.0, 0.0, 0.0];
                self.grouped(
                    "l2_normalize",
                    res,
                    node.shape.clone(),
                    axes.clone(),
                    [0; 4],
                    f,
                )?;
            }
        }
        Ok(())
    }

    /// A dense layer; a softmax activation runs as its own row reduction after it.
    #[allow(clippy::too_many_arguments)]
    fn dense_node(
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
        match activation {
            Activation::Softmax | Activation::LogSoftmax => {
                let tmp = self.alloc(shape.iter().product());
                self.live[tmp] += 1;
                self.dense(i, input, tmp, k, units, rows, use_bias, &Activation::Linear)?;
                let log = *activation == Activation::LogSoftmax;
                self.softmax(tmp, out, shape.clone(), vec![shape.len()], log, false)?;
                self.live[tmp] -= 1;
            }
            act => self.dense(i, input, out, k, units, rows, use_bias, act)?,
        }
        Ok(())
    }

    /// An activation layer: elementwise (through uniform windows on software adapters), or a
    /// softmax over the last axis.
    fn activation(
        &mut self,
        node: &Node,
        input: usize,
        out: usize,
        act: &Activation,
    ) -> Result<()> {
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let max = self.max_dim();
        if matches!(act, Activation::Softmax | Activation::LogSoftmax) {
            let log = *act == Activation::LogSoftmax;
            return self.softmax(input, out, shape.clone(), vec![shape.len()], log, false);
        }
        let code = act_code(act).expect("elementwise");
        let f = act_params(act);
        let params = move |b: usize| {
            let n4 = (b * len).div_ceil(4);
            let p = Params {
                u: [n4 as u32, 0, 0, 0],
                f,
                ..Default::default()
            };
            (p, n4)
        };
        if self.windows {
            self.windowed(
                KernelKey::new(ShaderFile::Activation, "act_window")
                    .with("WG", WG)
                    .with("ACT", code)
                    .with_layout(ACT_WINDOW),
                vec![Res::Window(input), Res::Slot(out), Res::WindowBase],
                Box::new(move |b| (params(b).0, [1, 1, 1])),
            );
        } else {
            self.dispatch(
                KernelKey::new(ShaderFile::Activation, "act_map")
                    .with("WG", WG)
                    .with("ACT", code),
                vec![Res::Slot(input), Res::Slot(out)],
                Box::new(move |b| {
                    let (p, n4) = params(b);
                    (p, grid_1d(n4, max))
                }),
            );
        }
        Ok(())
    }

    /// PReLU, with alpha broadcast over the axes Keras shares it on.
    fn prelu(&mut self, i: usize, node: &Node, input: usize, out: usize) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let alpha = self.weights.params[&i][0].clone();
        let alpha_shape = node.weights[0].value.shape().to_vec();
        let dense = alpha_shape == shape;
        let mut s0 = vec![0usize; shape.len() + 1];
        if !dense {
            let st = strides(&alpha_shape);
            let off = shape.len() + 1 - alpha_shape.len();
            for (d, &a) in alpha_shape.iter().enumerate() {
                if a != 1 || shape[off - 1 + d] == 1 {
                    s0[off + d] = st[d];
                }
            }
        }
        self.dispatch(
            KernelKey::new(ShaderFile::Activation, "prelu").with("WG", WG),
            vec![Res::Slot(input), Res::Buffer(alpha), Res::Slot(out)],
            Box::new(move |b| {
                let full = with_batch(b, &shape);
                let n = b * len;
                let mut p = Params {
                    u: [n as u32, 0, len.max(1) as u32, 0],
                    ..Default::default()
                };
                if !dense {
                    p.u[1] = full.len() as u32;
                    put(&mut p.dims, &full);
                    put(&mut p.s0, &s0);
                }
                (p, grid_1d(n, max))
            }),
        );
    }

    /// Permute: a strided copy.
    fn permute(&mut self, node: &Node, input: usize, out: usize, dims: &[usize]) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let in_shape = self.graph.node(node.inputs[0]).shape.clone();
        let perm: Vec<usize> = std::iter::once(0).chain(dims.iter().copied()).collect();
        self.dispatch(
            KernelKey::new(ShaderFile::Layout, "copy_strided").with("WG", WG),
            vec![Res::Slot(input), Res::Slot(out)],
            Box::new(move |b| {
                let full_in = with_batch(b, &in_shape);
                let full_out = with_batch(b, &shape);
                let st = strides(&full_in);
                let src: Vec<usize> = perm.iter().map(|&a| st[a]).collect();
                let n = b * len;
                let mut p = Params {
                    u: [n as u32, full_out.len() as u32, 0, 0],
                    v: [1, 0, 0, 0],
                    ..Default::default()
                };
                put(&mut p.dims, &full_out);
                put(&mut p.s0, &src);
                (p, grid_1d(n, max))
            }),
        );
    }

    /// Concatenate: one strided copy per input into its place along `axis`.
    fn concatenate(&mut self, node: &Node, ins: &[usize], out: usize, axis: usize) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let mut offset = 0;
        for (k, &src) in ins.iter().enumerate() {
            let in_shape = self.graph.node(node.inputs[k]).shape.clone();
            let out_shape = shape.clone();
            let off = offset;
            offset += in_shape[axis - 1];
            self.dispatch(
                KernelKey::new(ShaderFile::Layout, "copy_strided").with("WG", WG),
                vec![Res::Slot(src), Res::Slot(out)],
                Box::new(move |b| {
                    let full = with_batch(b, &in_shape);
                    let outer: usize = full[..axis].iter().product();
                    let a = full[axis];
                    let inner: usize = full[axis + 1..].iter().product();
                    let d = out_shape[axis - 1];
                    let n = outer * a * inner;
                    let mut p = Params {
                        u: [n as u32, 3, (off * inner) as u32, 0],
                        v: [0, 1, 0, 0],
                        ..Default::default()
                    };
                    put(&mut p.dims, &[outer, a, inner]);
                    put(&mut p.s1, &[d * inner, inner, 1]);
                    (p, grid_1d(n, max))
                }),
            );
        }
    }

    /// BatchNormalization at inference: y = x·inv + shift with per-channel constants.
    fn batch_norm(&mut self, i: usize, node: &Node, input: usize, out: usize, axes: &[usize]) {
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
                KernelKey::new(ShaderFile::Normalize, "batch_norm_window")
                    .with("WG", WG)
                    .with_layout(BATCH_NORM_WINDOW),
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
            KernelKey::new(ShaderFile::Normalize, "batch_norm").with("WG", WG),
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

    fn softmax(
        &mut self,
        src: usize,
        dst: usize,
        shape: Vec<usize>,
        axes: Vec<usize>,
        log: bool,
        logsumexp: bool,
    ) -> Result<()> {
        let res = vec![Res::Slot(src), Res::Slot(dst)];
        self.grouped(
            "softmax",
            res,
            shape,
            axes,
            [u32::from(log), u32::from(logsumexp), 0, 0],
            [0.0; 4],
        )
    }

    /// A grouped reduction kernel (softmax, layer_norm, l2_normalize) over `axes` (absolute).
    fn grouped(
        &mut self,
        entry: &'static str,
        res: Vec<Res>,
        shape: Vec<usize>,
        axes: Vec<usize>,
        v: [u32; 4],
        f: [f32; 4],
    ) -> Result<()> {
        let file = if entry == "softmax" {
            ShaderFile::Activation
        } else {
            ShaderFile::Normalize
        };
        let max = self.max_dim();
        grouping(&with_batch(1, &shape), &axes)?;
        self.dispatch(
            KernelKey::new(file, entry).with("WG", WG),
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

    fn merge(&mut self, kind: MergeKind, node: &Node, ins: &[usize], out: usize) {
        let max = self.max_dim();
        let shape = node.shape.clone();
        let len: usize = shape.iter().product();
        let op = merge_code(kind);
        let count = ins.len();
        let divisor = |step: usize| {
            if kind == MergeKind::Average && step + 1 == count {
                count as f32
            } else {
                0.0
            }
        };
        let shapes: Vec<Vec<usize>> = node
            .inputs
            .iter()
            .map(|id| self.graph.node(*id).shape.clone())
            .collect();
        let bcast = move |b: usize, input: &[usize]| -> (Vec<usize>, bool) {
            let full_out = with_batch(b, &shape);
            let full_in = with_batch(b, input);
            let st = strides(&full_in);
            let s = full_in
                .iter()
                .zip(&full_out)
                .zip(&st)
                .map(|((&i, &o), &s)| if i == o { s } else { 0 })
                .collect();
            (s, full_in == full_out)
        };
        let bcast = Arc::new(bcast);
        for step in 1..count {
            let (a_shape, b_shape) = (shapes[0].clone(), shapes[step].clone());
            let bc = bcast.clone();
            let div = divisor(step);
            let dense_a = shapes[0] == node.shape;
            let dense_b = shapes[step] == node.shape;
            if self.windows && dense_b && (step > 1 || dense_a) {
                let make: ParamFn = Box::new(move |b| {
                    let p = Params {
                        u: [(b * len).div_ceil(4) as u32, 0, 0, 0],
                        f: [div, 0.0, 0.0, 0.0],
                        ..Default::default()
                    };
                    (p, [1, 1, 1])
                });
                if step == 1 {
                    self.windowed(
                        KernelKey::new(ShaderFile::Elementwise, "merge_window")
                            .with("WG", WG)
                            .with("OP", op)
                            .with_layout(MERGE_WINDOW),
                        vec![
                            Res::Window(ins[0]),
                            Res::Window(ins[1]),
                            Res::Slot(out),
                            Res::WindowBase,
                        ],
                        make,
                    );
                } else {
                    self.windowed(
                        KernelKey::new(ShaderFile::Elementwise, "merge_acc_window")
                            .with("WG", WG)
                            .with("OP", op)
                            .with_layout(MERGE_ACC_WINDOW),
                        vec![Res::Window(ins[step]), Res::Slot(out), Res::WindowBase],
                        make,
                    );
                }
                continue;
            }
            let out_shape = node.shape.clone();
            let make: ParamFn = Box::new(move |b| {
                let full = with_batch(b, &out_shape);
                let n = b * len;
                let (sa, da) = bc(b, &a_shape);
                let (sb, db) = bc(b, &b_shape);
                let mut p = Params {
                    u: [n as u32, full.len() as u32, u32::from(da), u32::from(db)],
                    f: [div, 0.0, 0.0, 0.0],
                    ..Default::default()
                };
                put(&mut p.dims, &full);
                put(&mut p.s0, &sa);
                put(&mut p.s1, &sb);
                (p, grid_1d(n, max))
            });
            if step == 1 {
                self.dispatch(
                    KernelKey::new(ShaderFile::Elementwise, "merge")
                        .with("WG", WG)
                        .with("OP", op),
                    vec![Res::Slot(ins[0]), Res::Slot(ins[1]), Res::Slot(out)],
                    make,
                );
            } else {
                self.dispatch(
                    KernelKey::new(ShaderFile::Elementwise, "merge_acc")
                        .with("WG", WG)
                        .with("OP", op),
                    vec![Res::Slot(ins[step]), Res::Slot(out)],
                    make,
                );
            }
        }
    }

    /// C = act(A B + bias) for the node's [rows * b, k] input.
    #[allow(clippy::too_many_arguments)]
    fn dense(
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
        let f = act_params(act);
        let bias = upload.bias.clone().unwrap_or_else(|| self.weights.dummy());
        let has_bias = u32::from(use_bias);
        match (&upload.weights, self.dense) {
            (DenseWeights::Buffer(kernel), _) => {
                let kernel = kernel.clone();
                self.dispatch(
                    tiled_key(code),
                    vec![
                        Res::Slot(src),
                        Res::Buffer(kernel),
                        Res::Buffer(bias),
                        Res::Slot(dst),
                    ],
                    Box::new(move |b| {
                        let m = b * rows;
                        let p = Params {
                            u: [m as u32, n as u32, k as u32, n as u32],
                            v: [0, has_bias, 0, 0],
                            f,
                            ..Default::default()
                        };
                        let cols = n.div_ceil(TILED_GX as usize * 4);
                        let row_tiles = m.div_ceil(TILED_GY as usize * 4);
                        (p, grid_2d(cols, row_tiles, max))
                    }),
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
                        KernelKey::new(ShaderFile::Dense, "pack_a").with("WG", WG),
                        vec![Res::Slot(src), Res::ATexture(k4)],
                        Box::new(move |b| {
                            let m = b * rows;
                            let p = Params {
                                u: [m as u32, k as u32, k4, ha],
                                ..Default::default()
                            };
                            (p, grid_1d(m * k4 as usize, max))
                        }),
                    );
                }
                let file = if subgroups {
                    ShaderFile::GemmSoftSubgroup
                } else {
                    ShaderFile::GemmSoft
                };
                let panels: Vec<_> = panels
                    .iter()
                    .map(|p| (p.n0, p.n, p.hb4, p.view.clone()))
                    .collect();
                for (n0, np, hb4, view) in panels {
                    self.dispatch(
                        soft_key(file, ACT_DYNAMIC, tile),
                        vec![
                            Res::ATexture(k4),
                            Res::View(view),
                            Res::Buffer(bias.clone()),
                            Res::Slot(dst),
                        ],
                        Box::new(move |b| {
                            let m = b * rows;
                            let p = Params {
                                u: [m as u32, np as u32, n as u32, has_bias],
                                v: [n0 as u32, ha, hb4, k4],
                                f,
                                dims: [code, 0, 0, 0, 0, 0, 0, 0],
                                ..Default::default()
                            };
                            let cols = np.div_ceil(4).div_ceil((SOFT_WX * tile.texels) as usize);
                            let row_blocks = m.div_ceil(tile.rows as usize);
                            // Rows in (x, z), column blocks in y (see gen_gemm_soft.py).
                            let [y, x, z] = grid_2d(cols, row_blocks, max);
                            (p, [x, y, z])
                        }),
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

/// Shape with the batch axis in front.
fn with_batch(b: usize, sample: &[usize]) -> Vec<usize> {
    std::iter::once(b).chain(sample.iter().copied()).collect()
}

/// Row-major strides.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        st[d] = st[d + 1] * shape[d + 1];
    }
    st
}

fn put(dst: &mut [u32; 8], values: &[usize]) {
    for (d, &v) in dst.iter_mut().zip(values) {
        *d = v as u32;
    }
}

/// A tensor split into groups (the kept axes) and the elements reduced within each group, each
/// side as (size, stride) pairs with adjacent axes merged.
struct Grouping {
    kept: Vec<(usize, usize)>,
    reduced: Vec<(usize, usize)>,
    groups: usize,
    count: usize,
}

fn grouping(shape: &[usize], axes: &[usize]) -> Result<Grouping> {
    let st = strides(shape);
    let mut kept: Vec<(usize, usize)> = Vec::new();
    let mut reduced: Vec<(usize, usize)> = Vec::new();
    let mut prev: Option<bool> = None;
    for d in 0..shape.len() {
        let is_red = axes.contains(&d);
        let side = if is_red { &mut reduced } else { &mut kept };
        match (prev == Some(is_red), side.last_mut()) {
            (true, Some(last)) => *last = (last.0 * shape[d], st[d]),
            _ => side.push((shape[d], st[d])),
        }
        prev = Some(is_red);
    }
    if kept.len() > MAX_RANK || reduced.len() > MAX_RANK {
        return Err(Error::Device(format!(
            "reducing over axes {axes:?} of shape {shape:?} needs more than {MAX_RANK} index dimensions; use --device cpu"
        )));
    }
    Ok(Grouping {
        groups: kept.iter().map(|x| x.0).product(),
        count: reduced.iter().map(|x| x.0).product(),
        kept,
        reduced,
    })
}

/// Grid of WG-wide workgroups covering `items` invocations, split over y and z past `max`.
pub(crate) fn grid_1d(items: usize, max: u32) -> [u32; 3] {
    let groups = items.div_ceil(WG as usize).max(1);
    let max = max.max(1) as usize;
    let x = groups.min(max);
    let rest = groups.div_ceil(x);
    let y = rest.min(max);
    let z = rest.div_ceil(y);
    [x as u32, y as u32, z as u32]
}

/// Grid of `cols` x `rows` workgroups with the rows split over y and z past `max`.
fn grid_2d(cols: usize, rows: usize, max: u32) -> [u32; 3] {
    let max = max.max(1) as usize;
    let rows = rows.max(1);
    let y = rows.min(max);
    let z = rows.div_ceil(y);
    [cols.clamp(1, max) as u32, y as u32, z as u32]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_stay_under_the_limit() {
        assert_eq!(grid_1d(10, 65535), [1, 1, 1]);
        let g = grid_1d(64 * 70_000, 65535);
        assert!(g.iter().all(|&d| d <= 65535));
        assert!(g.iter().map(|&d| d as usize).product::<usize>() >= 70_000);
        assert_eq!(grid_2d(3, 100_000, 65535), [3, 65535, 2]);
    }

    #[test]
    fn grouping_merges_adjacent_axes() {
        let g = grouping(&[2, 3, 4, 5], &[2, 3]).unwrap();
        assert_eq!(g.kept, vec![(6, 20)]);
        assert_eq!(g.reduced, vec![(20, 1)]);
        let g = grouping(&[2, 3, 4, 5], &[1, 3]).unwrap();
        assert_eq!(g.kept, vec![(2, 60), (4, 5)]);
        assert_eq!(g.reduced, vec![(3, 20), (5, 1)]);
        assert_eq!((g.groups, g.count), (8, 15));
    }
}

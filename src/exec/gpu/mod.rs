//! GPU executor: WGSL compute kernels (shaders/) through wgpu, on any Vulkan, Metal, DX12 or GL
//! adapter, hardware or software.
//!
//! `context` opens the device; `kernels` holds the WGSL sources and the pipeline cache;
//! `weights` uploads a graph's weights once; `plan` turns the graph into dispatches over buffers
//! reused by liveness. A run uploads the inputs, records every dispatch of a chunk of the batch
//! into one submission, and reads back only the values asked for.

mod adapters;
mod context;
mod encode;
pub mod kernel_keys;
pub mod kernels;
pub mod params;
mod plan;
pub mod reduce;
mod test_adapters;
mod watchdog;
mod weights;

use std::sync::{Arc, OnceLock};

use ndarray::{ArrayD, Axis, IxDyn};

pub use adapters::{list_adapters, AdapterSummary, Backend};
pub use context::GpuContext;
pub use kernels::SoftTile;
pub use plan::DenseKernel;
pub use reduce::DeviceTensor;
pub use test_adapters::test_adapters;

use crate::error::{human_bytes, Error, Result};
use crate::exec::{Executor, Keep, Trace};
use crate::graph::{Graph, Op};
use crate::tensor::Tensor;
use encode::Sink;
use plan::{Plan, Step};
use weights::{DenseLayout, Weights};

/// Register block of the software GEMM with subgroups (Vulkan lavapipe): 16 rows x 2 texels
/// (8 columns) per invocation. Measured on llvmpipe (2 cores) against 4x4 .. 32x2: the A rows
/// come in two subgroup-shared fetches, so tall blocks pay little for A.
pub const SOFT_TILE_SUBGROUP: SoftTile = SoftTile {
    rows: 16,
    texels: 2,
};
/// Register block of the software GEMM without subgroups (GL llvmpipe): 12 rows x 4 texels
/// (16 columns); every row of A is a fetch of its own here, so the block is wider.
pub const SOFT_TILE_PLAIN: SoftTile = SoftTile {
    rows: 12,
    texels: 4,
};

impl DenseKernel {
    /// The dense kernel for an adapter: the tiled shared-memory GEMM on hardware GPUs, the
    /// texture register-blocked GEMM on software adapters. Env KEQV_GPU_DENSE=tiled|texture|
    /// texture-plain overrides the choice (for tests and benchmarks).
    pub fn for_context(ctx: &GpuContext) -> DenseKernel {
        let texture = |subgroups: bool| DenseKernel::Texture {
            subgroups,
            tile: if subgroups {
                SOFT_TILE_SUBGROUP
            } else {
                SOFT_TILE_PLAIN
            },
        };
        match std::env::var("KEQV_GPU_DENSE")
            .ok()
            .as_deref()
            .map(str::trim)
        {
            Some("tiled") => DenseKernel::Tiled,
            Some("texture") => texture(ctx.has_subgroups()),
            Some("texture-plain") => texture(false),
            _ if ctx.is_software() => texture(ctx.has_subgroups()),
            _ => DenseKernel::Tiled,
        }
    }
}

/// A graph prepared on one GPU: weights uploaded, buffers and pipelines created on first run.
pub struct GpuExecutor {
    ctx: Arc<GpuContext>,
    graph: Arc<Graph>,
    dense: DenseKernel,
    weights: Weights,
    /// Buffers, bind groups and dispatches, sized for `plan.capacity` samples per chunk.
    plan: Option<Plan>,
    staging: Option<(wgpu::Buffer, u64)>,
    /// Where `run_on_device` leaves the outputs, one buffer per graph output.
    resident: Vec<wgpu::Buffer>,
    /// Upper bound on samples per chunk (tests use it to exercise batch splitting).
    max_chunk: usize,
    /// Read contiguous elementwise inputs through uniform windows (on software adapters).
    windows: bool,
}

impl GpuExecutor {
    pub fn new(ctx: Arc<GpuContext>, graph: Arc<Graph>) -> Result<Self> {
        let mut dense = DenseKernel::for_context(&ctx);
        if let DenseKernel::Texture { subgroups, tile } = dense {
            // A software adapter whose driver rejects the texture kernel still runs: the tiled
            // kernel only needs storage buffers.
            let key = kernel_keys::Kernel::GemmSoft {
                subgroups,
                act: kernels::ACT_DYNAMIC,
                tile,
            }
            .key();
            if ctx.kernels.get(&ctx, &key).is_err() {
                dense = DenseKernel::Tiled;
            }
        }
        Self::with_dense_kernel(ctx, graph, dense)
    }

    /// Like `new`, with the dense kernel chosen by the caller.
    pub fn with_dense_kernel(
        ctx: Arc<GpuContext>,
        graph: Arc<Graph>,
        dense: DenseKernel,
    ) -> Result<Self> {
        if let DenseKernel::Texture { subgroups, tile } = dense {
            if subgroups && !ctx.has_subgroups() {
                return Err(Error::Device(format!(
                    "the adapter '{}' has no subgroups of 8 or more lanes for the subgroup GEMM",
                    ctx.info().name
                )));
            }
            let max = kernels::soft_max_tile(subgroups);
            if tile.rows == 0
                || tile.texels == 0
                || tile.rows > max.rows
                || tile.texels > max.texels
            {
                return Err(Error::Usage(format!(
                    "software GEMM tile {}x{} is outside 1x1 ..= {}x{}",
                    tile.rows, tile.texels, max.rows, max.texels
                )));
            }
        }
        let ctx_software = ctx.is_software();
        let layout_of = |i: usize| dense_layout(&ctx, &graph, i, dense);
        let weights = weights::upload(&ctx, &graph.nodes, layout_of)?;
        ctx.check_health()?;
        Ok(GpuExecutor {
            ctx,
            graph,
            dense,
            weights,
            plan: None,
            staging: None,
            resident: Vec::new(),
            max_chunk: usize::MAX,
            windows: ctx_software,
        })
    }

    /// Whether elementwise kernels read contiguous inputs through 64 KiB uniform-buffer windows
    /// (default: on software adapters, where storage-buffer loads are slow; tests use both).
    pub fn with_uniform_windows(mut self, on: bool) -> Self {
        self.windows = on;
        self.plan = None;
        self
    }

    /// Splits every batch into chunks of at most `n` samples, as if the device were smaller.
    pub fn with_max_chunk(mut self, n: usize) -> Self {
        self.max_chunk = n.max(1);
        self.plan = None;
        self
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    pub fn dense_kernel(&self) -> DenseKernel {
        self.dense
    }

    /// Makes sure the buffers hold chunks of min(batch, what the device allows) samples.
    fn ensure_plan(&mut self, batch: usize) -> Result<()> {
        if let Some(plan) = &self.plan {
            if plan.capacity >= batch.min(self.max_chunk) {
                return Ok(());
            }
        }
        let layout = plan::layout(
            &self.ctx,
            &self.graph,
            &self.weights,
            self.dense,
            self.windows,
        )?;
        let max = layout.max_capacity(self.ctx.limits()).min(self.max_chunk);
        if max == 0 {
            let sample_bytes = layout.sample_floats() * 4;
            if sample_bytes > plan::memory_budget() {
                return Err(Error::Device(format!(
                    "one sample of '{}' needs {} of GPU buffers, over the GPU memory budget of {}; raise KEQV_GPU_MEMORY_MB or use --device cpu",
                    self.graph.name,
                    human_bytes(sample_bytes as f64),
                    human_bytes(plan::memory_budget() as f64)
                )));
            }
            let node = &self.graph.nodes[layout.largest_node()];
            return Err(Error::Device(format!(
                "one sample of node '{}' ({:?}) does not fit in the buffers of GPU '{}' (max storage binding {} MiB); use --device cpu",
                node.name,
                node.shape,
                self.ctx.info().name,
                self.ctx.limits().max_storage_buffer_binding_size >> 20
            )));
        }
        if let Some(plan) = &self.plan {
            if plan.capacity >= max {
                return Ok(());
            }
        }
        self.plan = None;
        self.plan = Some(layout.build(&self.ctx, batch.min(max))?);
        Ok(())
    }

    /// Runs one batch and leaves the outputs on the GPU, valid until the next run: for comparing
    /// two models on one device without reading their outputs back ([`reduce`]). None when the
    /// batch needs more than one chunk; `run` handles that.
    pub fn run_on_device(&mut self, inputs: &[Tensor]) -> Result<Option<Vec<DeviceTensor>>> {
        crate::exec::check_inputs(&self.graph, inputs)?;
        let batch = inputs.first().map_or(0, |x| x.shape()[0]);
        if batch == 0 {
            return Ok(None);
        }
        self.ensure_plan(batch)?;
        let plan = self.plan.as_ref().expect("plan");
        if plan.capacity < batch {
            return Ok(None);
        }
        let lens: Vec<usize> = self
            .graph
            .outputs
            .iter()
            .map(|o| plan.node_len[o.0] * batch)
            .collect();
        let fits = self.resident.len() == lens.len()
            && self
                .resident
                .iter()
                .zip(&lens)
                .all(|(b, &len)| b.size() >= (len * 4) as u64);
        if !fits {
            let device = self.ctx.device();
            self.resident = self.ctx.scoped("allocating GPU output buffers", || {
                lens.iter()
                    .map(|&len| {
                        device.create_buffer(&wgpu::BufferDescriptor {
                            label: Some("resident output"),
                            size: (len.max(1) * 4) as u64,
                            usage: wgpu::BufferUsages::STORAGE
                                | wgpu::BufferUsages::COPY_DST
                                | wgpu::BufferUsages::COPY_SRC,
                            mapped_at_creation: false,
                        })
                    })
                    .collect()
            })?;
        }
        let n = self.graph.nodes.len();
        let resident = self.resident.clone();
        self.run_chunk(
            inputs,
            0,
            batch,
            &vec![false; n],
            &mut vec![Vec::new(); n],
            Some(&resident),
        )?;
        Ok(Some(
            resident
                .into_iter()
                .zip(lens)
                .map(|(buffer, len)| DeviceTensor { buffer, len })
                .collect(),
        ))
    }

    /// Runs samples `start..start + b` of `inputs`: the values `wanted` marks are read back and
    /// appended to `out`; with `resident`, the outputs are copied into those buffers instead
    /// and nothing is read back.
    fn run_chunk(
        &mut self,
        inputs: &[Tensor],
        start: usize,
        b: usize,
        wanted: &[bool],
        out: &mut [Vec<f32>],
        resident: Option<&[wgpu::Buffer]>,
    ) -> Result<()> {
        let (offsets, total) = self.ensure_staging(wanted, b)?;
        let grids = self.upload_chunk(inputs, start, b);
        let sink = Sink {
            wanted,
            offsets: &offsets,
            resident,
        };
        let encoder = self.encode(&grids, b, &sink);
        let ctx = &self.ctx;
        let submission = ctx.submit(encoder, "submitting GPU work")?;
        if total == 0 && resident.is_some() {
            // The comparison that reads the outputs waits for this submission.
            return Ok(());
        }
        ctx.wait(submission, "running the model")?;
        let staging = &self.staging.as_ref().expect("staging buffer").0;
        let data = ctx.read_back(staging, (total / 4) as usize, "reading results back")?;
        let plan = self.plan.as_ref().expect("plan built before running");
        for (i, &w) in wanted.iter().enumerate() {
            if w {
                let from = (offsets[i] / 4) as usize;
                out[i].extend_from_slice(&data[from..from + plan.node_len[i] * b]);
            }
        }
        Ok(())
    }

    /// Where each wanted value of a chunk of `b` samples goes in the read-back buffer, which is
    /// grown to hold them all; also returns the bytes they take.
    fn ensure_staging(&mut self, wanted: &[bool], b: usize) -> Result<(Vec<u64>, u64)> {
        let plan = self.plan.as_ref().expect("plan built before running");
        let mut offsets = vec![0u64; wanted.len()];
        let mut total = 0u64;
        for (i, &w) in wanted.iter().enumerate() {
            if w {
                offsets[i] = total;
                total += (plan.node_len[i] * b) as u64 * 4;
            }
        }
        let size = total.max(16).div_ceil(16) * 16;
        if self.staging.as_ref().is_none_or(|(_, have)| *have < size) {
            self.staging = None;
            let ctx = &self.ctx;
            let buffer = ctx.scoped("allocating the read-back buffer", || {
                ctx.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("read back"),
                    size,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })?;
            self.staging = Some((buffer, size));
        }
        Ok((offsets, total))
    }

    /// Writes every dispatch's parameters for `b` samples and the chunk's inputs; returns each
    /// dispatch's grid (for a window kernel, the vec4 count it covers).
    fn upload_chunk(&self, inputs: &[Tensor], start: usize, b: usize) -> Vec<[u32; 3]> {
        let plan = self.plan.as_ref().expect("plan built before running");
        let queue = self.ctx.queue();
        let stride = plan.uniform_stride as usize;
        let mut params = vec![0u8; stride * plan.n_params.max(1)];
        let mut grids = Vec::with_capacity(plan.n_params);
        for step in &plan.steps {
            if let Step::Dispatch { make, param, .. } = step {
                let (p, grid) = make(b);
                params[param * stride..param * stride + p.len()].copy_from_slice(&p);
                grids.push(grid);
            }
        }
        queue.write_buffer(&plan.uniform, 0, &params);
        for (x, id) in inputs.iter().zip(&self.graph.inputs) {
            let chunk = x.slice_axis(Axis(0), (start..start + b).into());
            let chunk = chunk.as_standard_layout();
            let data = chunk.as_slice().expect("standard layout");
            if !data.is_empty() {
                let slot = &plan.slots[plan.node_slot[id.0]];
                queue.write_buffer(slot, 0, bytemuck::cast_slice(data));
            }
        }
        grids
    }
}

/// Why the GPU executor cannot run `node`, if it cannot: every op family has GPU kernels, but a
/// tensor may be of a rank the kernels' index helpers do not handle. A new op family the GPU
/// does not run yet says so here.
pub fn not_on_gpu(node: &crate::graph::Node) -> Option<String> {
    let rank = node.shape.len() + 1;
    if rank > plan::MAX_RANK {
        return Some(format!(
            "its output has rank {rank} (batch included) and the GPU kernels handle at most {}",
            plan::MAX_RANK
        ));
    }
    match node.op {
        Op::PerStep(_) => node.per_step().and_then(|(step, ..)| not_on_gpu(&step)),
        Op::Input
        | Op::Dense(_)
        | Op::Activation(_)
        | Op::Softmax(_)
        | Op::PRelu(_)
        | Op::Identity
        | Op::Reshape(_)
        | Op::Permute(_)
        | Op::Repeat(_)
        | Op::Merge(_)
        | Op::Concatenate(_)
        | Op::BatchNorm(_)
        | Op::LayerNorm(_)
        | Op::L2Normalize(_)
        | Op::Mean(_)
        | Op::RmsNorm(_)
        | Op::GroupNorm(_)
        | Op::Scale(_)
        | Op::Pad(_)
        | Op::Resample(_)
        | Op::Pool(_)
        | Op::Conv(_)
        | Op::Recurrent(_)
        | Op::Embedding(_)
        | Op::MakeMask(_)
        | Op::Masking(_)
        | Op::MaskedMean(_)
        | Op::Attention(_)
        | Op::Dot(_)
        | Op::Categorical(_) => None,
    }
}

/// The first layer of `graph` the GPU cannot run, and why.
pub fn cannot_run(graph: &Graph) -> Option<String> {
    graph.nodes.iter().find_map(|node| {
        not_on_gpu(node).map(|reason| format!("layer '{}' ({}): {reason}", node.name, node.class))
    })
}

/// How node `i`'s dense kernel is stored: as textures for the texture GEMM when they fit the
/// device's texture limits, else as a buffer for `gemm_tiled`.
fn dense_layout(ctx: &GpuContext, graph: &Graph, i: usize, dense: DenseKernel) -> DenseLayout {
    let node = &graph.nodes[i];
    if !matches!(node.op, Op::Dense(_)) || dense == DenseKernel::Tiled {
        return DenseLayout::Buffer;
    }
    let shape = node.weights[0].value.shape();
    let (k, n) = (shape[0], shape[1]);
    let fits = weights::padded_k4(k) < ctx.limits().max_texture_dimension_2d as usize
        && weights::panel_geometry(k, n, ctx.limits()).is_some();
    if fits {
        DenseLayout::Texture
    } else {
        DenseLayout::Buffer
    }
}

impl Executor for GpuExecutor {
    fn device(&self) -> String {
        self.ctx.describe()
    }

    fn run(&mut self, inputs: &[Tensor], keep: Keep) -> Result<Trace> {
        crate::exec::check_inputs(&self.graph, inputs)?;
        let batch = inputs.first().map_or(0, |x| x.shape()[0]);
        let n = self.graph.nodes.len();
        let wanted: Vec<bool> = (0..n)
            .map(|i| keep == Keep::All || self.graph.outputs.iter().any(|o| o.0 == i))
            .collect();
        let mut data: Vec<Vec<f32>> = vec![Vec::new(); n];
        if batch > 0 {
            self.ensure_plan(batch)?;
            let plan = self.plan.as_ref().expect("plan");
            // The read-back buffer is one allocation too: keep it under the device's limit.
            let per_sample: usize = (0..n)
                .filter(|&i| wanted[i])
                .map(|i| plan.node_len[i])
                .sum::<usize>()
                * 4;
            let max_buffer = self.ctx.limits().max_buffer_size as usize;
            let chunk = plan
                .capacity
                .min(max_buffer.checked_div(per_sample).unwrap_or(usize::MAX));
            if chunk == 0 {
                return Err(Error::Device(format!(
                    "one sample's values ({} MiB) exceed GPU '{}''s largest buffer; keep fewer values or use --device cpu",
                    per_sample >> 20,
                    self.ctx.info().name
                )));
            }
            let mut start = 0;
            while start < batch {
                let b = chunk.min(batch - start);
                self.run_chunk(inputs, start, b, &wanted, &mut data, None)?;
                start += b;
            }
        }
        let mut values: Vec<Option<Tensor>> = vec![None; n];
        for (i, v) in data.into_iter().enumerate() {
            if wanted[i] {
                let shape: Vec<usize> = std::iter::once(batch)
                    .chain(self.graph.nodes[i].shape.iter().copied())
                    .collect();
                let t = ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| {
                    Error::Device(format!(
                        "GPU result of '{}' has the wrong size: {e}",
                        self.graph.nodes[i].name
                    ))
                })?;
                values[i] = Some(t);
            }
        }
        Ok(Trace {
            values,
            outputs: self.graph.outputs.clone(),
        })
    }
}

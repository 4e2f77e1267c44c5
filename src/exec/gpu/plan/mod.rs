//! Turns a graph into the work of one batch: which buffer (slot) holds each node's value, with
//! slots reused once their values are dead; the dispatches, each with its uniform parameters as
//! a function of the batch size; and the bind groups, created once per plan.

mod bind;
mod lower;

use std::collections::BTreeMap;
use std::sync::Arc;

use super::kernel_keys::Kernel;
use super::kernels::{
    act_code, act_params, merge_code, KernelKey, Pipeline, SoftTile, ACT_DYNAMIC, SOFT_WX,
    TILED_GX, TILED_GY, WG, WINDOW_FLOATS,
};
use super::params::*;
use super::weights::{padded_k4, DenseWeights, Weights};
use super::GpuContext;
use crate::error::{Error, Result};
use crate::graph::{Activation, Graph, MergeKind, Node, Op};
use crate::ops::GroupNorm;

/// Largest rank (batch included) the index helpers of the shaders handle.
pub(crate) const MAX_RANK: usize = 8;

/// Builds a dispatch's parameter bytes and workgroup grid for a chunk of `b` samples (for a
/// window kernel, the grid's x is the vec4 count it covers).
pub(crate) type ParamFn = Box<dyn Fn(usize) -> (Vec<u8>, [u32; 3]) + Send + Sync>;

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
    /// A `*_window` kernel: dispatched once per 64 KiB window of the vec4s it covers.
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
        fold: 1,
        step_axes: 0,
    };
    let n = graph.nodes.len();
    let last_use = graph.last_uses();
    let mut node_slot = vec![usize::MAX; n];
    let node_len: Vec<usize> = graph
        .nodes
        .iter()
        .map(|nd| nd.shape.iter().product())
        .collect();
    // Inputs are uploaded before the first dispatch: their slots are theirs from the start,
    // wherever the graph lists them.
    for &id in &graph.inputs {
        let slot = b.alloc(node_len[id.0]);
        b.live[slot] += 1;
        node_slot[id.0] = slot;
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        if let Some(reason) = super::not_on_gpu(node) {
            return Err(Error::Device(format!(
                "layer '{}' ({}) is not on the GPU yet: {reason}; run it with --device cpu",
                node.name, node.class
            )));
        }
        let slot = if node_slot[i] != usize::MAX {
            node_slot[i]
        } else {
            let slot = if aliases_its_input(&node.op) {
                node_slot[node.inputs[0].0]
            } else {
                b.alloc(node_len[i])
            };
            b.live[slot] += 1;
            node_slot[i] = slot;
            slot
        };
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

/// Ops whose output is their input's buffer as it is (no dispatch).
fn aliases_its_input(op: &Op) -> bool {
    match op {
        Op::Identity | Op::Reshape(_) => true,
        Op::PerStep(p) => aliases_its_input(&p.op),
        Op::Input
        | Op::Dense(_)
        | Op::Activation(_)
        | Op::Softmax(_)
        | Op::PRelu(_)
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
        | Op::Categorical(_) => false,
    }
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
    /// While a TimeDistributed layer's op is planned: the steps folded into each sample (the
    /// op runs on `batch · fold` samples) and the leading axes of the graph's shapes they are.
    fold: usize,
    step_axes: usize,
}

impl Builder<'_> {
    /// A free slot for `len` floats per sample: the smallest that is big enough, else the
    /// largest (grown), else a new one.
    fn alloc(&mut self, len: usize) -> usize {
        let len = len * self.fold;
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

    /// A dispatch of `kernel` over `res` (bindings 1…), its parameters and grid made by `make`
    /// for each chunk's batch size.
    fn dispatch<P: KernelParams>(
        &mut self,
        kernel: Kernel,
        res: Vec<Res>,
        make: impl Fn(usize) -> (P, [u32; 3]) + Send + Sync + 'static,
    ) {
        let fold = self.fold;
        let (key, make) = typed(kernel, move |b| make(b * fold));
        self.drafts.push(Draft::Dispatch { key, res, make });
    }

    /// A window kernel's dispatches; `make` gives its parameters and the vec4s it covers.
    fn windowed<P: KernelParams>(
        &mut self,
        kernel: Kernel,
        res: Vec<Res>,
        make: impl Fn(usize) -> (P, usize) + Send + Sync + 'static,
    ) {
        let fold = self.fold;
        let (key, make) = typed(kernel, move |b| {
            let (p, vec4s) = make(b * fold);
            (p, [vec4s as u32, 0, 0])
        });
        self.drafts.push(Draft::Windowed { key, res, make });
    }

    /// The sample shape of `node`'s `k`-th input, as the op being planned sees it (one step,
    /// inside a TimeDistributed layer).
    fn input_shape(&self, node: &Node, k: usize) -> Vec<usize> {
        self.graph.node(node.inputs[k]).shape[self.step_axes..].to_vec()
    }

    /// A TimeDistributed layer: its op planned over `batch · steps` samples of one step.
    fn per_step(&mut self, i: usize, node: &Node, ins: &[usize], out: usize) -> Result<()> {
        let (step, fold, axes) = node.per_step().expect("a PerStep node");
        let saved = (self.fold, self.step_axes);
        (self.fold, self.step_axes) = (fold, axes);
        let planned = self.node(i, &step, ins, out);
        (self.fold, self.step_axes) = saved;
        planned
    }

    fn max_dim(&self) -> u32 {
        self.ctx.limits().max_compute_workgroups_per_dimension
    }

    /// Plans node `i`, reading slots `ins` and writing slot `out`.
    fn node(&mut self, i: usize, node: &Node, ins: &[usize], out: usize) -> Result<()> {
        match &node.op {
            Op::Input | Op::Identity | Op::Reshape(_) => {}
            Op::Dense(d) => {
                self.dense_node(i, node, ins[0], out, d.units, d.use_bias, &d.activation)?
            }
            Op::Activation(act) => self.activation(node, ins[0], out, act)?,
            Op::Softmax(s) => self.softmax(
                ins[0],
                out,
                node.shape.clone(),
                s.axes.clone(),
                s.log,
                s.logsumexp,
            )?,
            Op::PRelu(_) => self.prelu(i, node, ins[0], out),
            Op::Permute(p) => self.permute(node, ins[0], out, &p.dims),
            Op::Repeat(_) => self.repeat(node, ins[0], out),
            Op::Merge(kind) => self.merge(*kind, node, ins, out),
            Op::Concatenate(c) => self.concatenate(node, ins, out, c.axis),
            Op::BatchNorm(n) => self.batch_norm(i, node, ins[0], out, &n.axes),
            Op::LayerNorm(n) => self.layer_norm(
                i,
                node,
                (ins[0], out),
                &n.axes,
                n.epsilon,
                (n.center, n.scale, u32::from(n.rms_scaling)),
            )?,
            Op::L2Normalize(n) => self.l2_normalize(node, (ins[0], out), &n.axes, n.floor)?,
            Op::Mean(m) => self.mean(node, (ins[0], out), &m.axes)?,
            Op::RmsNorm(n) => self.rms_norm(i, node, (ins[0], out), &n.axes, n.epsilon)?,
            Op::GroupNorm(n) => self.group_norm(i, node, (ins[0], out), n)?,
            Op::Scale(s) => self.affine(i, node, (ins[0], out), &s.axes),
            Op::Resample(r) => self.resample(node, (ins[0], out), r)?,
            Op::Pad(p) => self.pad(node, ins[0], out, p),
            Op::Pool(p) => self.pool(node, ins[0], out, p)?,
            Op::Conv(c) => self.conv(i, node, ins[0], out, c)?,
            Op::Recurrent(r) => self.recurrent(i, node, ins, out, r)?,
            Op::Embedding(e) => self.embedding(i, node, (ins[0], out), e),
            Op::MakeMask(m) => self.make_mask(node, (ins[0], out), m),
            Op::Masking(m) => self.masking(node, (ins[0], out), m),
            Op::MaskedMean(_) => self.masked_mean(node, ins, out),
            Op::Attention(a) => self.attention(i, node, ins, out, a)?,
            Op::PerStep(_) => self.per_step(i, node, ins, out)?,
            Op::Dot(d) => self.dot(node, ins, out, d)?,
            Op::Categorical(c) => self.categorical(i, node, (ins[0], out), c),
        }
        Ok(())
    }
}

/// The kernel's key and its parameter maker as bytes; `P` must be the struct the kernel reads.
fn typed<P: KernelParams>(
    kernel: Kernel,
    make: impl Fn(usize) -> (P, [u32; 3]) + Send + Sync + 'static,
) -> (KernelKey, ParamFn) {
    let key = kernel.key();
    debug_assert_eq!(key.params, P::DECL, "{} reads other parameters", key.entry);
    let make: ParamFn = Box::new(move |b| {
        let (p, grid) = make(b);
        (bytemuck::bytes_of(&p).to_vec(), grid)
    });
    (key, make)
}

/// Shape with the batch axis in front.
fn with_batch(b: usize, sample: &[usize]) -> Vec<usize> {
    std::iter::once(b).chain(sample.iter().copied()).collect()
}

pub(crate) use crate::tensor::strides;

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

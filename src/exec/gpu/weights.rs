//! Weights on the device: uploaded once per executor, in the layout each kernel reads, and
//! shared between nodes that share a Keras layer.

use std::collections::HashMap;
use std::sync::Arc;

use wgpu::util::DeviceExt;

use super::kernels::SOFT_MAX_TEXELS;
use super::GpuContext;
use crate::error::{Error, Result};
use crate::graph::{Node, Op};
use crate::ops::{BatchNorm, Dense};
use crate::tensor::Tensor;

/// Where the dense kernel of a node lives.
pub(crate) enum DenseWeights {
    /// Row-major [K, N] buffer, read by `gemm_tiled`.
    Buffer(Arc<wgpu::Buffer>),
    /// Column panels of rgba32float array textures, read by the software GEMM.
    Texture(Vec<Panel>),
}

/// Columns [n0, n0 + n) of a dense kernel as a texture: texel (t, k % (4 hb4), k / (4 hb4)) holds
/// kernel[k, n0 + 4t .. n0 + 4t + 4] (zero past the panel or past K).
pub(crate) struct Panel {
    pub n0: usize,
    pub n: usize,
    pub hb4: u32,
    pub view: Arc<wgpu::TextureView>,
}

pub(crate) struct DenseUpload {
    pub weights: DenseWeights,
    pub bias: Option<Arc<wgpu::Buffer>>,
}

/// Device copies of a graph's weights, keyed by node.
#[derive(Default)]
pub(crate) struct Weights {
    pub dense: HashMap<usize, DenseUpload>,
    /// Per-node parameter buffers in the order the node's kernel binds them (BatchNorm: inv,
    /// shift; LayerNorm: gamma, beta; PReLU: alpha).
    pub params: HashMap<usize, Vec<Arc<wgpu::Buffer>>>,
    pub dummy: Option<Arc<wgpu::Buffer>>,
}

impl Weights {
    pub fn dummy(&self) -> Arc<wgpu::Buffer> {
        self.dummy
            .clone()
            .expect("dummy buffer created with the weights")
    }
}

/// How dense kernels are laid out, decided per node by the planner.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum DenseLayout {
    Buffer,
    Texture,
}

/// Uploads every weight of `nodes`. `layout_of(node)` says how each Dense kernel is stored.
pub(crate) fn upload(
    ctx: &GpuContext,
    nodes: &[Node],
    layout_of: impl Fn(usize) -> DenseLayout,
) -> Result<Weights> {
    let mut out = Weights {
        dummy: Some(Arc::new(buffer(ctx, "dummy", &[0.0; 4])?)),
        ..Default::default()
    };
    // Shared layers share their tensors: upload each (tensor, layout) once.
    let mut buffers: HashMap<*const Tensor, Arc<wgpu::Buffer>> = HashMap::new();
    let mut panels: HashMap<*const Tensor, Arc<Vec<PanelShared>>> = HashMap::new();
    let mut shared_buffer =
        |ctx: &GpuContext, t: &Arc<Tensor>, name: &str| -> Result<Arc<wgpu::Buffer>> {
            if let Some(b) = buffers.get(&Arc::as_ptr(t)) {
                return Ok(b.clone());
            }
            let data = t.as_standard_layout();
            let b = Arc::new(buffer(
                ctx,
                name,
                data.as_slice().expect("standard layout"),
            )?);
            buffers.insert(Arc::as_ptr(t), b.clone());
            Ok(b)
        };
    for (i, node) in nodes.iter().enumerate() {
        // A TimeDistributed layer's weights are its wrapped op's.
        let step = node.per_step().map(|(step, ..)| step);
        let node = step.as_ref().unwrap_or(node);
        match &node.op {
            Op::Dense(Dense { use_bias, .. }) => {
                let kernel = &node.weights[0].value;
                let weights = match layout_of(i) {
                    DenseLayout::Buffer => {
                        DenseWeights::Buffer(shared_buffer(ctx, kernel, &node.name)?)
                    }
                    DenseLayout::Texture => {
                        let shared = match panels.get(&Arc::as_ptr(kernel)) {
                            Some(p) => p.clone(),
                            None => {
                                let p = Arc::new(kernel_panels(ctx, kernel, &node.name)?);
                                panels.insert(Arc::as_ptr(kernel), p.clone());
                                p
                            }
                        };
                        DenseWeights::Texture(
                            shared
                                .iter()
                                .map(|p| Panel {
                                    n0: p.n0,
                                    n: p.n,
                                    hb4: p.hb4,
                                    view: p.view.clone(),
                                })
                                .collect(),
                        )
                    }
                };
                let bias = if *use_bias {
                    Some(shared_buffer(ctx, &node.weights[1].value, &node.name)?)
                } else {
                    None
                };
                out.dense.insert(i, DenseUpload { weights, bias });
            }
            Op::BatchNorm(BatchNorm {
                epsilon,
                center,
                scale,
                ..
            }) => {
                let (inv, shift) = batch_norm_constants(node, *epsilon, *center, *scale);
                out.params.insert(
                    i,
                    vec![
                        Arc::new(buffer(ctx, &node.name, &inv)?),
                        Arc::new(buffer(ctx, &node.name, &shift)?),
                    ],
                );
            }
            Op::Scale(scale) => {
                let weights: Vec<Vec<f32>> = node
                    .weights
                    .iter()
                    .map(|w| w.value.iter().copied().collect())
                    .collect();
                let a = scale.affine(&node.shape, &weights);
                let mut list = Vec::new();
                for constants in [&a.sub, &a.div, &a.mul, &a.add] {
                    list.push(Arc::new(buffer(ctx, &node.name, constants)?));
                }
                out.params.insert(i, list);
            }
            // A table to search; a buffer holds at least one value.
            Op::Categorical(c) if !c.table().is_empty() => {
                out.params
                    .insert(i, vec![Arc::new(buffer(ctx, &node.name, c.table())?)]);
            }
            Op::LayerNorm(_)
            | Op::RmsNorm(_)
            | Op::GroupNorm(_)
            | Op::PRelu(_)
            | Op::Conv(_)
            | Op::Recurrent(_)
            | Op::Embedding(_)
            | Op::Attention(_) => {
                let mut list = Vec::new();
                for w in &node.weights {
                    list.push(shared_buffer(ctx, &w.value, &node.name)?);
                }
                out.params.insert(i, list);
            }
            Op::Input
            | Op::PerStep(_)
            | Op::Activation(_)
            | Op::Softmax(_)
            | Op::Identity
            | Op::Reshape(_)
            | Op::Permute(_)
            | Op::Repeat(_)
            | Op::Merge(_)
            | Op::Concatenate(_)
            | Op::L2Normalize(_)
            | Op::Mean(_)
            | Op::Pad(_)
            | Op::Resample(_)
            | Op::Pool(_)
            | Op::MakeMask(_)
            | Op::Masking(_)
            | Op::MaskedMean(_)
            | Op::Dot(_)
            | Op::Categorical(_) => {}
        }
    }
    Ok(out)
}

/// Keras's inference batch norm folded into y = x * inv + shift, computed in f32 exactly as the
/// CPU executor does: inv = 1 / sqrt(var + eps) * gamma, shift = -(mean * inv) + beta.
fn batch_norm_constants(node: &Node, eps: f32, center: bool, scale: bool) -> (Vec<f32>, Vec<f32>) {
    let mut w = node
        .weights
        .iter()
        .map(|w| w.value.iter().copied().collect::<Vec<f32>>());
    let gamma = scale.then(|| w.next().expect("gamma"));
    let beta = center.then(|| w.next().expect("beta"));
    let mean = w.next().expect("moving_mean");
    let var = w.next().expect("moving_variance");
    let mut inv: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    if let Some(g) = &gamma {
        inv.iter_mut().zip(g).for_each(|(i, g)| *i *= g);
    }
    let mut shift: Vec<f32> = mean.iter().zip(&inv).map(|(m, i)| -(m * i)).collect();
    if let Some(b) = &beta {
        shift.iter_mut().zip(b).for_each(|(s, b)| *s += b);
    }
    (inv, shift)
}

/// A storage buffer holding `data` (at least 16 bytes, zero padded to a multiple of 4 floats).
pub(crate) fn buffer(ctx: &GpuContext, label: &str, data: &[f32]) -> Result<wgpu::Buffer> {
    let mut padded;
    let data = if !data.len().is_multiple_of(4) || data.is_empty() {
        padded = data.to_vec();
        padded.resize(data.len().div_ceil(4).max(1) * 4, 0.0);
        &padded[..]
    } else {
        data
    };
    let bytes = std::mem::size_of_val(data) as u64;
    let limit = ctx
        .limits()
        .max_storage_buffer_binding_size
        .min(ctx.limits().max_buffer_size);
    if bytes > limit {
        return Err(Error::Device(format!(
            "weights of '{label}' take {} MiB, over the adapter's {} MiB storage-buffer limit; use --device cpu",
            bytes >> 20,
            limit >> 20
        )));
    }
    ctx.scoped(&format!("uploading the weights of '{label}'"), || {
        ctx.device()
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            })
    })
}

struct PanelShared {
    n0: usize,
    n: usize,
    hb4: u32,
    view: Arc<wgpu::TextureView>,
}

/// K-quads of a dense kernel as the software GEMM reads them: rounded up to an even count (its
/// main loop takes two quads at a time; the padding is zeros).
/// An rgba32float 2-D array texture the software GEMM reads (weights panels, dense inputs).
pub(crate) fn float4_texture(
    device: &wgpu::Device,
    label: &str,
    size: wgpu::Extent3d,
) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size,
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba32Float,
        usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

pub(crate) fn padded_k4(k: usize) -> usize {
    k.div_ceil(4).max(1).div_ceil(2) * 2
}

/// A texture extent that is not a power of two: llvmpipe compiles a separate copy of every shader
/// for each combination of power-of-two texture widths and heights it is used with (seconds
/// each for the GEMM), so every texture keqv creates has non-power-of-two sides. The extra
/// texels are never read.
pub(crate) fn non_pot(d: usize) -> usize {
    let mut d = d.max(1);
    while d.is_power_of_two() {
        d += 1;
    }
    d
}

/// Texture geometry of a [K, N] dense kernel: (columns per panel, k-quads per layer, layers).
/// Panels are at most `max_dim - 1` texels wide (a whole number of the widest tile) and layers
/// at most `max_dim - 1` rows high, so that `non_pot` of either still fits.
pub(crate) fn panel_geometry(
    k: usize,
    n: usize,
    limits: &wgpu::Limits,
) -> Option<(usize, u32, u32)> {
    let max_dim = limits.max_texture_dimension_2d as usize;
    let tile_cols = SOFT_MAX_TEXELS as usize * 4 * 8;
    let panel_cols = (max_dim - 1) * 4 / tile_cols * tile_cols;
    let k4 = padded_k4(k);
    let hb4 = k4.min((max_dim - 1) / 4 / 2 * 2);
    let layers = k4.div_ceil(hb4);
    if layers > limits.max_texture_array_layers as usize || n == 0 || panel_cols == 0 || hb4 == 0 {
        return None;
    }
    Some((panel_cols, hb4 as u32, layers as u32))
}

fn kernel_panels(ctx: &GpuContext, kernel: &Tensor, name: &str) -> Result<Vec<PanelShared>> {
    let (k, n) = (kernel.shape()[0], kernel.shape()[1]);
    let (panel_cols, hb4, layers) = panel_geometry(k, n, ctx.limits()).ok_or_else(|| {
        Error::Device(format!(
            "the kernel of '{name}' ({k}x{n}) does not fit in GPU textures"
        ))
    })?;
    let kernel = kernel.as_standard_layout();
    let data = kernel.as_slice().expect("standard layout");
    let rows = hb4 as usize * 4;
    let mut out = Vec::new();
    let mut n0 = 0;
    while n0 < n {
        let np = panel_cols.min(n - n0);
        let width = np.div_ceil(4);
        let size = wgpu::Extent3d {
            width: non_pot(width) as u32,
            height: non_pot(rows) as u32,
            depth_or_array_layers: layers,
        };
        let texture = ctx.scoped(&format!("uploading the weights of '{name}'"), || {
            let texture = float4_texture(ctx.device(), name, size);
            let mut layer_data = vec![0f32; width * 4 * rows];
            for layer in 0..layers as usize {
                layer_data.iter_mut().for_each(|v| *v = 0.0);
                for r in 0..rows {
                    let kk = layer * rows + r;
                    if kk >= k {
                        break;
                    }
                    let src = &data[kk * n + n0..kk * n + n0 + np];
                    layer_data[r * width * 4..r * width * 4 + np].copy_from_slice(src);
                }
                ctx.queue().write_texture(
                    wgpu::TexelCopyTextureInfo {
                        texture: &texture,
                        mip_level: 0,
                        origin: wgpu::Origin3d {
                            x: 0,
                            y: 0,
                            z: layer as u32,
                        },
                        aspect: wgpu::TextureAspect::All,
                    },
                    bytemuck::cast_slice(&layer_data),
                    wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(width as u32 * 16),
                        rows_per_image: Some(rows as u32),
                    },
                    wgpu::Extent3d {
                        width: width as u32,
                        height: rows as u32,
                        depth_or_array_layers: 1,
                    },
                );
            }
            texture
        })?;
        let view = texture.create_view(&wgpu::TextureViewDescriptor {
            dimension: Some(wgpu::TextureViewDimension::D2Array),
            ..Default::default()
        });
        out.push(PanelShared {
            n0,
            n: np,
            hb4,
            view: Arc::new(view),
        });
        n0 += np;
    }
    Ok(out)
}

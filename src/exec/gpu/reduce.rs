//! Difference metrics of two tensors that stay on the GPU (shaders/compare.wgsl): each workgroup
//! writes one 40-word record, and only the records come back, never the tensors. Where float32
//! cannot settle a verdict or a histogram bin (an element within 2^-20 of a threshold), the
//! two tensors are read back and measured on the host in float64 instead, so the pass/fail
//! counts are those of src/compare.rs; mean_abs, max_rel and min_atol_to_pass are float32
//! accurate (about 1e-6 relative), and so is snr_db.

use super::kernel_keys::Kernel;
use super::params::{CompareParams, KernelParams, Top1Params};
use super::GpuContext;
use crate::compare::{Histogram, Summary, Tolerance};
use crate::error::{Error, Result};

/// A tensor left on the GPU by [`super::GpuExecutor::run_on_device`]: `len` floats from offset 0.
#[derive(Clone, Debug)]
pub struct DeviceTensor {
    pub(crate) buffer: wgpu::Buffer,
    pub(crate) len: usize,
}

/// Workgroup size of compare.wgsl.
const CWG: usize = 256;
/// Words of one workgroup's record.
const RECORD: usize = 40;
/// At most this many workgroups (records) per tensor: 160 KiB read back.
const MAX_GROUPS: usize = 1024;

/// Reduces `converted` against `original` (same length) under `tolerance`; `class_width` asks
/// for top-1 agreement over rows of that many classes. None when some elements lie within
/// float32 rounding of a threshold: measure those tensors on the host.
pub fn reduce(
    ctx: &GpuContext,
    converted: &DeviceTensor,
    original: &DeviceTensor,
    tolerance: Tolerance,
    class_width: Option<usize>,
) -> Result<Option<Summary>> {
    let n = converted.len;
    if n != original.len {
        return Err(Error::Device(format!(
            "GPU comparison of tensors of {n} and {} floats; this is a keqv bug, please report it",
            original.len
        )));
    }
    if n == 0 {
        return Ok(Some(Summary::default()));
    }
    let groups = n.div_ceil(CWG * 8).clamp(1, MAX_GROUPS);
    let rel_floor = tolerance.atol.max(f32::MIN_POSITIVE as f64);
    let compare = CompareParams {
        n: n as u32,
        atol: tolerance.atol as f32,
        rtol: tolerance.rtol as f32,
        rel_floor: rel_floor as f32,
    };
    let tensors = (converted, original);
    let records = dispatch(
        ctx,
        Kernel::Compare,
        compare,
        groups,
        groups * RECORD,
        tensors,
    )?;
    let mut summary = summarize(&records, n);
    if summary.1 > 0 {
        return Ok(None);
    }
    if let Some(width) = class_width.filter(|&w| w > 0) {
        let rows = n / width;
        let top1 = Top1Params {
            rows: rows as u32,
            width: width as u32,
            ..Default::default()
        };
        let groups = rows.div_ceil(CWG).clamp(1, MAX_GROUPS);
        let agree = dispatch(ctx, Kernel::Top1, top1, groups, 1, tensors)?;
        summary.0.top1 = Some((rows, agree[0] as usize));
    }
    Ok(Some(summary.0))
}

/// Runs one entry point of compare.wgsl over the two tensors and reads back `words` words.
fn dispatch<P: KernelParams>(
    ctx: &GpuContext,
    kernel: Kernel,
    params: P,
    groups: usize,
    words: usize,
    (converted, original): (&DeviceTensor, &DeviceTensor),
) -> Result<Vec<u32>> {
    let device = ctx.device();
    let key = kernel.key();
    debug_assert_eq!(key.params, P::DECL);
    let pipeline = ctx.kernels.get(ctx, &key)?;
    let bytes = (words * 4) as u64;
    let (uniform, records, staging) = ctx.scoped("allocating GPU comparison buffers", || {
        let buffer = |label, size, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        use wgpu::BufferUsages as U;
        (
            buffer(
                "compare params",
                std::mem::size_of::<P>() as u64,
                U::UNIFORM | U::COPY_DST,
            ),
            buffer("compare records", bytes, U::STORAGE | U::COPY_SRC),
            buffer("compare read back", bytes, U::MAP_READ | U::COPY_DST),
        )
    })?;
    ctx.queue()
        .write_buffer(&uniform, 0, bytemuck::bytes_of(&params));
    let bind_group = ctx.scoped("binding the GPU comparison", || {
        fn whole(t: &DeviceTensor) -> wgpu::BufferBinding<'_> {
            wgpu::BufferBinding {
                buffer: &t.buffer,
                offset: 0,
                size: wgpu::BufferSize::new((t.len * 4) as u64),
            }
        }
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("compare"),
            layout: &pipeline.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Buffer(whole(converted)),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::Buffer(whole(original)),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: records.as_entire_binding(),
                },
            ],
        })
    })?;
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("keqv compare"),
    });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("compare"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(groups as u32, 1, 1);
    }
    encoder.copy_buffer_to_buffer(&records, 0, &staging, 0, bytes);
    let submission = ctx.submit(encoder, "comparing outputs on the GPU")?;
    ctx.wait(submission, "comparing outputs on the GPU")?;
    let floats = ctx.read_back(&staging, words, "reading the comparison back")?;
    Ok(floats.into_iter().map(f32::to_bits).collect())
}

/// Folds the workgroup records into one summary of `n` elements; also returns the number of
/// elements float32 could not settle.
fn summarize(words: &[u32], n: usize) -> (Summary, usize) {
    const NONE: u32 = u32::MAX;
    let f = |w: u32| f32::from_bits(w);
    let mut s = Summary {
        count: n,
        min_atol: f64::NEG_INFINITY,
        ..Summary::default()
    };
    let mut unsure = 0;
    let mut worst: Option<(u32, f32, f32, f32)> = None;
    for r in words.chunks_exact(RECORD) {
        s.finite += r[0] as usize;
        s.mismatches += r[1] as usize;
        s.nan_mismatch += r[2] as usize;
        s.inf_mismatch += r[3] as usize;
        unsure += r[4] as usize;
        s.sum_abs += f(r[8]) as f64;
        s.sum_sq_original += f(r[32]) as f64;
        s.sum_sq_diff += f(r[33]) as f64;
        s.max_rel = s.max_rel.max(f(r[12]) as f64);
        s.min_atol = s.min_atol.max(f(r[13]) as f64);
        for (count, &w) in s
            .histogram
            .counts
            .iter_mut()
            .zip(&r[16..16 + Histogram::NONFINITE + 1])
        {
            *count += w as usize;
        }
        if r[5] != NONE
            && s.first_nonfinite
                .is_none_or(|(i, _, _)| (r[5] as usize) < i)
        {
            s.first_nonfinite = Some((r[5] as usize, f(r[14]), f(r[15])));
        }
        let d = f(r[9]);
        let better = |(i, best, _, _): (u32, f32, f32, f32)| d > best || d == best && r[6] < i;
        if r[6] != NONE && worst.is_none_or(better) {
            worst = Some((r[6], d, f(r[10]), f(r[11])));
        }
    }
    s.worst = worst.map(|(i, _, a, b)| (i as usize, a, b));
    (s, unsure)
}

/// Reads a tensor left on the GPU back to the host (for the comparisons float32 cannot settle).
pub fn read(ctx: &GpuContext, tensor: &DeviceTensor) -> Result<Vec<f32>> {
    let bytes = (tensor.len * 4) as u64;
    if bytes == 0 {
        return Ok(Vec::new());
    }
    let staging = ctx.scoped("allocating the read-back buffer", || {
        ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("read back"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    })?;
    let mut encoder = ctx
        .device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("keqv read back"),
        });
    encoder.copy_buffer_to_buffer(&tensor.buffer, 0, &staging, 0, bytes);
    let submission = ctx.submit(encoder, "reading results back")?;
    ctx.wait(submission, "reading results back")?;
    ctx.read_back(&staging, tensor.len, "reading results back")
}

/// Puts host values on the GPU as a [`DeviceTensor`] (to compare values the host already has).
pub fn upload(ctx: &GpuContext, data: &[f32]) -> Result<DeviceTensor> {
    use wgpu::util::DeviceExt;
    let buffer = ctx.scoped("uploading a tensor", || {
        ctx.device()
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("uploaded tensor"),
                contents: bytemuck::cast_slice(if data.is_empty() { &[0.0] } else { data }),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            })
    })?;
    Ok(DeviceTensor {
        buffer,
        len: data.len(),
    })
}

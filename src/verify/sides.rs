//! The two prepared models of a verify run, and how one chunk's outputs are measured. On one
//! GPU the models share the device, and when a chunk's outputs are large their differences are
//! reduced there ([`crate::exec::gpu::reduce`]) instead of reading both outputs back.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use super::VerifyOptions;
use crate::compare::{Accumulator, Tolerance};
use crate::error::{Error, Result};
use crate::exec::gpu::{self, reduce};
use crate::exec::gpu::{DeviceTensor, GpuExecutor};
use crate::exec::{gpu_context, prepare, DeviceChoice, Executor, Keep};
use crate::graph::{Graph, NodeId};
use crate::tensor::Tensor;

/// Output floats per chunk from which a verify on one GPU reduces the metrics there.
pub const GPU_METRICS_FROM: usize = 1 << 16;

/// One output pair to measure: the original's node, the converted's, the tolerance.
pub type OutputPair = (NodeId, NodeId, Tolerance);

pub enum Sides {
    Apart(Box<dyn Executor>, Box<dyn Executor>),
    /// Both models on one GPU device.
    OneGpu(Box<GpuExecutor>, Box<GpuExecutor>),
}

impl Sides {
    /// Prepares both models for a run of `samples` samples.
    pub fn prepare(
        options: &VerifyOptions,
        og: &Arc<Graph>,
        cg: &Arc<Graph>,
        samples: usize,
    ) -> Result<Sides> {
        let (o, c) = (&options.device_original, &options.device_converted);
        // Auto decides on the work of both models: they run in one go.
        let macs = crate::exec::run_macs(&[og, cg], samples);
        // Under auto, one GPU only for models it runs; each side then chooses for itself.
        let gpu_runs_both = || [og, cg].iter().all(|g| gpu::cannot_run(g).is_none());
        let auto_on_cpu = || crate::exec::auto_stays_on_cpu(macs).is_some();
        if o == c && (*o != DeviceChoice::Auto || (!auto_on_cpu() && gpu_runs_both())) {
            match gpu_context(o)? {
                Some(ctx) => {
                    let ctx = Arc::new(ctx);
                    return Ok(Sides::OneGpu(
                        Box::new(GpuExecutor::new(ctx.clone(), og.clone())?),
                        Box::new(GpuExecutor::new(ctx, cg.clone())?),
                    ));
                }
                // Searched once: each side asking again would only find nothing twice more.
                None if *o == DeviceChoice::Auto => {
                    return Ok(Sides::Apart(
                        crate::exec::auto_without_gpu(og.clone()),
                        crate::exec::auto_without_gpu(cg.clone()),
                    ))
                }
                None => {}
            }
        }
        Ok(Sides::Apart(
            prepare(o, og.clone(), macs)?,
            prepare(c, cg.clone(), macs)?,
        ))
    }

    pub fn both(&mut self) -> (&mut dyn Executor, &mut dyn Executor) {
        match self {
            Sides::Apart(o, c) => (o.as_mut(), c.as_mut()),
            Sides::OneGpu(o, c) => (o.as_mut(), c.as_mut()),
        }
    }

    /// Runs both models on one chunk whose first sample is `start`, and adds each output
    /// pair's differences to its accumulator. Returns whether they were reduced on the GPU.
    pub fn measure_chunk(
        &mut self,
        graphs: (&Graph, &Graph),
        inputs: (&[Tensor], &[Tensor]),
        outputs: &[OutputPair],
        accumulators: &mut [Accumulator],
        start: usize,
        gpu_from: usize,
    ) -> Result<bool> {
        let (og, cg) = graphs;
        let count = inputs.0.first().map_or(0, |x| x.shape()[0]);
        let floats: usize = outputs
            .iter()
            .map(|(o, _, _)| og.node(*o).shape.iter().product::<usize>() * count)
            .sum();
        if let Sides::OneGpu(eo, ec) = self {
            if floats >= gpu_from
                && reduce_on_gpu(eo, ec, graphs, inputs, outputs, accumulators, start)?
            {
                return Ok(true);
            }
        }
        let (eo, ec) = self.both();
        let out_o = run(eo, inputs.0, "original")?;
        let out_c = run(ec, inputs.1, "converted")?;
        for (acc, (o, c, _)) in accumulators.iter_mut().zip(outputs) {
            acc.add(
                &out_o[position(&og.outputs, *o)],
                &out_c[position(&cg.outputs, *c)],
                start,
            );
        }
        Ok(false)
    }
}

/// Runs both models leaving their outputs on the GPU and reduces each pair there; false when a
/// model needs more than one chunk of the GPU for this batch (the caller then reads back).
fn reduce_on_gpu(
    eo: &mut GpuExecutor,
    ec: &mut GpuExecutor,
    (og, cg): (&Graph, &Graph),
    (inputs_o, inputs_c): (&[Tensor], &[Tensor]),
    outputs: &[OutputPair],
    accumulators: &mut [Accumulator],
    start: usize,
) -> Result<bool> {
    let Some(res_o) = eo.run_on_device(inputs_o).map_err(side("original"))? else {
        return Ok(false);
    };
    let Some(res_c) = ec.run_on_device(inputs_c).map_err(side("converted"))? else {
        return Ok(false);
    };
    let ctx = eo.context().clone();
    let count = inputs_o[0].shape()[0];
    for (acc, (o, c, tol)) in accumulators.iter_mut().zip(outputs) {
        let to = &res_o[position(&og.outputs, *o)];
        let tc = &res_c[position(&cg.outputs, *c)];
        let shape: Vec<usize> = std::iter::once(count)
            .chain(og.node(*o).shape.iter().copied())
            .collect();
        match reduce::reduce(&ctx, tc, to, *tol, acc.top1_width(&shape))? {
            Some(summary) => acc.add_summary(&summary, &shape, start),
            None => acc.add(
                &host_tensor(&ctx, to, &shape)?,
                &host_tensor(&ctx, tc, &shape)?,
                start,
            ),
        }
    }
    Ok(true)
}

fn host_tensor(
    ctx: &crate::exec::gpu::GpuContext,
    t: &DeviceTensor,
    shape: &[usize],
) -> Result<Tensor> {
    let data = reduce::read(ctx, t)?;
    ArrayD::from_shape_vec(IxDyn(shape), data)
        .map_err(|e| Error::Device(format!("GPU output has the wrong size: {e}")))
}

fn run(exec: &mut dyn Executor, inputs: &[Tensor], which: &str) -> Result<Vec<Tensor>> {
    exec.run(inputs, Keep::Outputs)
        .map(|t| t.into_outputs())
        .map_err(side(which))
}

/// Names the model in input errors, which would otherwise not say which side they concern.
fn side(which: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::Input(msg) => Error::Input(format!("{which} model: {msg}")),
        other => other,
    }
}

pub fn position(ids: &[NodeId], id: NodeId) -> usize {
    ids.iter().position(|x| *x == id).expect("output id")
}

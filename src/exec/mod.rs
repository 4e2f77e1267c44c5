//! Executors run a graph on a batch of inputs and return the outputs, and on request the
//! value of every node (the trace that per-layer comparison needs).

pub mod cpu;
pub mod gpu;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::graph::{Graph, NodeId};
use crate::tensor::Tensor;

/// Which node values a run keeps besides the outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    Outputs,
    All,
}

/// The result of one run: `values[id]` is the node's output when it was kept.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub values: Vec<Option<Tensor>>,
    pub outputs: Vec<NodeId>,
}

impl Trace {
    pub fn get(&self, id: NodeId) -> Option<&Tensor> {
        self.values.get(id.0).and_then(|v| v.as_ref())
    }

    /// The model's outputs in order.
    pub fn outputs(&self) -> Vec<&Tensor> {
        self.outputs
            .iter()
            .map(|id| self.get(*id).expect("outputs are always kept"))
            .collect()
    }

    pub fn into_outputs(mut self) -> Vec<Tensor> {
        let ids = self.outputs.clone();
        ids.iter()
            .map(|id| self.values[id.0].take().expect("outputs are always kept"))
            .collect()
    }
}

/// A prepared model on one device: weights are in place, so runs only move inputs and outputs.
pub trait Executor {
    /// What ran the model, for reports ("cpu (f32, 2 threads)", "llvmpipe (Vulkan, software)").
    fn device(&self) -> String;

    /// Runs one batch. `inputs` follow `graph.inputs` and carry the batch as axis 0.
    fn run(&mut self, inputs: &[Tensor], keep: Keep) -> Result<Trace>;
}

/// Checks that `inputs` match the graph's inputs in count and per-sample shape, with one batch
/// size: what every executor needs before running.
pub fn check_inputs(graph: &Graph, inputs: &[Tensor]) -> Result<()> {
    if inputs.len() != graph.inputs.len() {
        return Err(Error::Input(format!(
            "model '{}' takes {} input(s), {} given",
            graph.name,
            graph.inputs.len(),
            inputs.len()
        )));
    }
    let batch = inputs
        .first()
        .map(|x| x.shape().first().copied().unwrap_or(0));
    for (x, id) in inputs.iter().zip(&graph.inputs) {
        let node = graph.node(*id);
        if x.ndim() == 0 || x.shape()[1..] != node.shape[..] || Some(x.shape()[0]) != batch {
            return Err(Error::Input(format!(
                "input '{}' has shape {:?}, the model expects (batch, {})",
                node.name,
                x.shape(),
                node.shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// Where to run, as the user asked for it on the command line.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A hardware GPU when there is one, else the CPU executor.
    #[default]
    Auto,
    Cpu,
    /// The CPU executor in float64, for reference runs.
    CpuF64,
    /// Any GPU adapter (software adapters included), optionally of one backend and/or whose
    /// name contains `adapter`.
    Gpu {
        backend: Option<gpu::Backend>,
        adapter: Option<String>,
    },
}

/// Multiply-adds from which `--device auto` looks for a GPU. Below, starting a GPU device and
/// building its kernels (a few hundred ms) would cost more than the CPU executor's whole run
/// (about 0.2 s at this size on two cores), so auto stays on the CPU without touching the GPU
/// stack.
pub const AUTO_GPU_FROM_MACS: u64 = 20_000_000_000;

/// The reason `--device auto` stays on the CPU for a run of `macs` multiply-adds, or None when
/// the run is large enough for a GPU to pay off.
pub fn auto_stays_on_cpu(macs: u64) -> Option<String> {
    let amount = |m: u64| match m {
        0..1_000_000 => format!("{m}"),
        1_000_000..1_000_000_000 => format!("{:.1} M", m as f64 / 1e6),
        _ => format!("{:.1} G", m as f64 / 1e9),
    };
    (macs < AUTO_GPU_FROM_MACS).then(|| {
        format!(
            "--device auto ran it on the CPU: the run's {} multiply-adds are below the {} from which a GPU pays for its start-up",
            amount(macs),
            amount(AUTO_GPU_FROM_MACS)
        )
    })
}

/// The multiply-adds of running `graphs` on `samples` samples.
pub fn run_macs(graphs: &[&Graph], samples: usize) -> u64 {
    graphs
        .iter()
        .map(|g| g.macs_per_sample())
        .sum::<u64>()
        .saturating_mul(samples as u64)
}

/// Opens the GPU `choice` names: None for the CPU, and for `auto` on a machine without a
/// hardware GPU.
pub fn gpu_context(choice: &DeviceChoice) -> Result<Option<gpu::GpuContext>> {
    match choice {
        DeviceChoice::Cpu | DeviceChoice::CpuF64 => Ok(None),
        DeviceChoice::Gpu { backend, adapter } => {
            gpu::GpuContext::open(*backend, adapter.as_deref()).map(Some)
        }
        DeviceChoice::Auto => gpu::GpuContext::open_hardware(),
    }
}

/// Prepares `graph` on the chosen device, for a run of `macs` multiply-adds in all (which
/// decides `auto`, [`auto_stays_on_cpu`]).
pub fn prepare(choice: &DeviceChoice, graph: Arc<Graph>, macs: u64) -> Result<Box<dyn Executor>> {
    let precision = match choice {
        DeviceChoice::CpuF64 => cpu::Precision::F64,
        _ => cpu::Precision::F32,
    };
    if *choice == DeviceChoice::Auto {
        if let Some(reason) = auto_stays_on_cpu(macs) {
            return Ok(Box::new(
                cpu::CpuExecutor::new(graph, precision).with_note(reason),
            ));
        }
    }
    match gpu_context(choice)? {
        Some(ctx) if *choice == DeviceChoice::Auto => auto_on(ctx, graph),
        Some(ctx) => Ok(Box::new(gpu::GpuExecutor::new(Arc::new(ctx), graph)?)),
        None if *choice == DeviceChoice::Auto => Ok(auto_without_gpu(graph)),
        None => Ok(Box::new(cpu::CpuExecutor::new(graph, precision))),
    }
}

/// `--device auto` on a machine with no hardware GPU: the CPU executor, saying so.
pub fn auto_without_gpu(graph: Arc<Graph>) -> Box<dyn Executor> {
    Box::new(cpu::CpuExecutor::new(graph, cpu::Precision::F32).with_note(
        "--device auto ran it on the CPU: no hardware GPU adapter was found (name a software one, such as --device vulkan, to use it)".into(),
    ))
}

/// `--device auto` once it found the GPU `ctx`: the GPU executor, or the CPU executor when
/// the GPU cannot run a layer of the model yet, with the reason in its device name.
pub fn auto_on(ctx: gpu::GpuContext, graph: Arc<Graph>) -> Result<Box<dyn Executor>> {
    match gpu::cannot_run(&graph) {
        None => Ok(Box::new(gpu::GpuExecutor::new(Arc::new(ctx), graph)?)),
        Some(reason) => Ok(Box::new(
            cpu::CpuExecutor::new(graph, cpu::Precision::F32).with_note(format!(
                "--device auto ran it on the CPU: {} cannot run {reason}",
                ctx.describe()
            )),
        )),
    }
}

//! The CPU executor: ndarray, f32 for normal runs and f64 for reference runs. Dense layers and
//! convolutions multiply through `ops::gemm`, threaded over every core.

use std::sync::Arc;

use ndarray::ArrayD;

pub use crate::ops::activation::scalar as activation_scalar;

use crate::error::{Error, Result};
use crate::exec::{Executor, Keep, Trace};
use crate::graph::{Activation, Graph, Node, Op};
use crate::tensor::Tensor;

pub use crate::ops::Real;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F64,
}

pub struct CpuExecutor {
    graph: Arc<Graph>,
    precision: Precision,
    /// The weights converted once to f64, for f64 runs.
    weights_f64: Vec<Vec<ArrayD<f64>>>,
    /// Why the model runs here, when it is not where the user asked (shown with the device).
    note: Option<String>,
}

impl CpuExecutor {
    pub fn new(graph: Arc<Graph>, precision: Precision) -> Self {
        let weights_f64 = match precision {
            Precision::F32 => Vec::new(),
            Precision::F64 => graph
                .nodes
                .iter()
                .map(|n| n.weights.iter().map(|w| w.value.mapv(f64::from)).collect())
                .collect(),
        };
        CpuExecutor {
            graph,
            precision,
            weights_f64,
            note: None,
        }
    }

    /// Says, with the device, why the model runs on the CPU.
    pub fn with_note(mut self, note: String) -> Self {
        self.note = Some(note);
        self
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

/// Keeps freed memory in the process for the next allocation, called first thing by the binary
/// (and the benches, so they measure what it runs). A CNN's activations and im2col buffers are
/// tens to hundreds of MB, freed and allocated again every layer; glibc maps each such block
/// afresh and the kernel zeroes every page (a fifth of a ResNet50 run on the CPU). Taken from
/// the heap and kept there, they are reused.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// `--threads`: the CPU executor's threads, for the whole process. The float64 reference's
/// matrixmultiply keeps its own threads, told by its environment variable.
pub fn set_threads(threads: usize) -> Result<()> {
    std::env::set_var("MATMUL_NUM_THREADS", threads.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| {
            Error::Usage(format!(
                "--threads {threads}: cannot start the threads: {e}"
            ))
        })
}

impl Executor for CpuExecutor {
    fn device(&self) -> String {
        let threads = match rayon::current_num_threads() {
            1 => "1 thread".to_string(),
            n => format!("{n} threads"),
        };
        let note = self
            .note
            .as_ref()
            .map_or(String::new(), |n| format!("; {n}"));
        match self.precision {
            Precision::F32 => format!("cpu (f32, {threads}{note})"),
            Precision::F64 => format!("cpu (f64 reference, {threads}{note})"),
        }
    }

    fn run(&mut self, inputs: &[Tensor], keep: Keep) -> Result<Trace> {
        crate::exec::check_inputs(&self.graph, inputs)?;
        match self.precision {
            Precision::F32 => run_graph::<f32>(&self.graph, inputs, keep, |i| {
                self.graph.nodes[i]
                    .weights
                    .iter()
                    .map(|w| &*w.value)
                    .collect()
            }),
            Precision::F64 => {
                let inputs: Vec<_> = inputs.iter().map(|x| x.mapv(f64::from)).collect();
                run_graph::<f64>(&self.graph, &inputs, keep, |i| {
                    self.weights_f64[i].iter().collect()
                })
            }
        }
    }
}

/// Computes a single node from given input values (f32): per-layer comparison uses it to feed
/// one model's values into the other model's layer.
pub fn eval_node(node: &Node, inputs: &[&Tensor]) -> Tensor {
    let weights: Vec<&Tensor> = node.weights.iter().map(|w| &*w.value).collect();
    node.op.eval(inputs, &weights, &out_shape(node, inputs))
}

/// Walks the nodes in order; with `Keep::Outputs`, frees each value after its last consumer.
/// The inputs are read where they are, not copied: an activation of an input writes its result
/// in one pass, as for any value it is not the last reader of.
fn run_graph<'w, T: Real>(
    graph: &Graph,
    inputs: &[ArrayD<T>],
    keep: Keep,
    weights_of: impl Fn(usize) -> Vec<&'w ArrayD<T>>,
) -> Result<Trace> {
    let last_use = graph.last_uses();
    let mut values: Vec<Option<ArrayD<T>>> = vec![None; graph.nodes.len()];
    let mut given: Vec<Option<&ArrayD<T>>> = vec![None; graph.nodes.len()];
    for (id, x) in graph.inputs.iter().zip(inputs) {
        given[id.0] = Some(x);
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        if let Some((input, act)) = in_place_activation(graph, i, &last_use, keep) {
            // The input's only remaining reader: apply the activation to it instead of a copy.
            if let Some(mut x) = values[input].take() {
                act.apply(&mut x);
                values[i] = Some(x);
            }
        }
        if values[i].is_none() && given[i].is_none() {
            let args: Vec<&ArrayD<T>> = node
                .inputs
                .iter()
                .map(|id| {
                    values[id.0]
                        .as_ref()
                        .or(given[id.0])
                        .expect("inputs computed before use")
                })
                .collect();
            let y = node.op.eval(&args, &weights_of(i), &out_shape(node, &args));
            values[i] = Some(y);
        }
        if keep == Keep::Outputs {
            for input in &node.inputs {
                if last_use[input.0] == i && !graph.outputs.contains(input) {
                    values[input.0] = None;
                }
            }
        }
    }
    // The trace holds the inputs too where it holds every value, or where one is an output.
    for (id, x) in graph.inputs.iter().zip(inputs) {
        if keep != Keep::Outputs || graph.outputs.contains(id) {
            values[id.0] = Some(x.clone());
        }
    }
    let values = values
        .into_iter()
        .map(|v| v.map(Real::array_to_f32))
        .collect();
    Ok(Trace {
        values,
        outputs: graph.outputs.clone(),
    })
}

/// For an activation node that is the last reader of its one input, when no value needs
/// keeping: that input's slot and the activation, to apply in place.
fn in_place_activation<'g>(
    graph: &'g Graph,
    i: usize,
    last_use: &[usize],
    keep: Keep,
) -> Option<(usize, &'g Activation)> {
    let node = &graph.nodes[i];
    let (Op::Activation(act), [input]) = (&node.op, node.inputs.as_slice()) else {
        return None;
    };
    let sole = keep == Keep::Outputs && last_use[input.0] == i && !graph.outputs.contains(input);
    sole.then_some((input.0, act))
}

/// A node's output shape for this run: the batch of its inputs, then its sample shape.
fn out_shape<T>(node: &Node, inputs: &[&ArrayD<T>]) -> Vec<usize> {
    let batch = inputs.first().map_or(0, |x| x.shape()[0]);
    std::iter::once(batch)
        .chain(node.shape.iter().copied())
        .collect()
}

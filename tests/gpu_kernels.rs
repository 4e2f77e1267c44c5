//! Every GPU kernel against the CPU executor, on seeded random inputs and small hand-built graphs,
//! on every adapter `keqv::exec::gpu::test_adapters()` finds (lavapipe Vulkan and llvmpipe GL in CI;
//! `KEQV_REQUIRE_GPU=1` / `KEQV_GPU_BACKENDS` make a missing adapter fail instead of skip).
//!
//! Float32 tolerances, per kernel family (`b` is the CPU value):
//! - elementwise (activations, PReLU, merges, batch norm) and pure data movement (permute,
//!   concatenate, reshape): |gpu − b| ≤ 2e-6 + 2e-5·|b|. Both sides evaluate the same f32 formula;
//!   the GPU's exp/log/sqrt may be a few ulp off libm's and a compiler may contract a·b + c into
//!   an FMA, a relative error of a few 1e-7 that the activations amplify at most ~10x (e.g. the
//!   ratios in expm1/log1p). Data movement must be exact and is checked with the same bound.
//! - reductions over n elements (softmax, layer norm, L2 normalisation):
//!   |gpu − b| ≤ 1e-5·(1 + |b|) — sums in a different order differ by ~sqrt(n)·ε relative to the
//!   sum, n ≤ 1000 here, so ~2e-6; the normalised outputs are O(1).
//! - dense: |gpu − b| ≤ L·(4·sqrt(K)·ε·Σ_k |x_k·w_k| + |bias|·ε) + 2e-6 + 2e-5·|b|, ε = 2^-24: a
//!   K-long dot product summed in another order (register blocks, k-quads) has a rounding error
//!   that grows like sqrt(K)·ε·Σ|x_k·w_k| for random data (4x margin), and the activation after
//!   it multiplies the error by at most its Lipschitz constant L on the tested range.
//! - recurrent layers: the reduction bound, 1e-5·(1 + |b|). Each step's gates are dot products
//!   of features + units ≤ 45 terms of O(1/sqrt(K)) weights on O(1) values, summed in another
//!   order (~sqrt(K)·ε ≈ 4e-7 of an O(1) sum), and the state carries each step's error into the
//!   next through weights of spectral radius below 1 and gates with slopes ≤ 1, so over ≤ 7 steps
//!   it stays at a few 1e-7 (worst seen on lavapipe and llvmpipe GL: ~2% of the bound).
//!   ConvLSTM layers too: their gates sum taps·(channels + units) ≤ 27·5 terms of weights
//!   scaled by 1/sqrt(fan-in) over ≤ 5 steps.

mod common;

use std::sync::Arc;

use common::activations::all_activations;
use common::gpu::dense_kernels;
use common::graphs::push_node;
use common::rng::Rng;
use keqv::exec::cpu::{CpuExecutor, Precision};
use keqv::exec::gpu::{self, DenseKernel, GpuExecutor, SoftTile};
use keqv::exec::{Executor, Keep};
use keqv::graph::{Activation, Graph, MergeKind, NodeId, Op};
use keqv::ops::categorical::{EncodeMode, Encoding, Lookup, OutOfRange};
use keqv::ops::window::Padding;
use keqv::ops::{
    Attention, BatchNorm, Categorical, Cell, Concatenate, Conv, ConvKind, Dense, Dot, Emit,
    GroupNorm, Interpolation, L2Normalize, LayerNorm, MakeMask, Mean, PRelu, Pad, PerStep, Permute,
    Pool, PoolKind, Recurrent, Repeat, Resample, Reshape, RmsNorm, Scale, ScaleKind, Softmax,
    Target,
};
use keqv::tensor::Tensor;
use ndarray::{ArrayD, IxDyn};

// ---------- graph building ----------

struct Builder {
    graph: Graph,
    rng: Rng,
}

impl Builder {
    fn new(seed: u64) -> Self {
        Builder {
            graph: Graph {
                name: "test".into(),
                ..Default::default()
            },
            rng: Rng::new(seed),
        }
    }

    fn input(&mut self, shape: &[usize]) -> NodeId {
        let id = self.push(Op::Input, vec![], vec![], shape.to_vec());
        self.graph.inputs.push(id);
        id
    }

    /// Adds a node; its shape comes from the graph's own shape rules.
    fn op(&mut self, op: Op, inputs: &[NodeId], weights: Vec<Tensor>) -> NodeId {
        let shapes: Vec<Vec<usize>> = inputs
            .iter()
            .map(|i| self.graph.node(*i).shape.clone())
            .collect();
        let refs: Vec<&[usize]> = shapes.iter().map(|s| &s[..]).collect();
        let out = op
            .output_shape(&refs)
            .unwrap_or_else(|e| panic!("bad test graph: {e}"));
        self.push(op, inputs.to_vec(), weights, out)
    }

    fn reshape(&mut self, input: NodeId, target: &[usize]) -> NodeId {
        self.push(
            Op::Reshape(Reshape {
                shape: target.to_vec(),
            }),
            vec![input],
            vec![],
            target.to_vec(),
        )
    }

    fn dense(
        &mut self,
        input: NodeId,
        units: usize,
        use_bias: bool,
        activation: Activation,
    ) -> NodeId {
        let k = *self.graph.node(input).shape.last().unwrap();
        let scale = 1.0 / (k as f32).sqrt();
        let mut w = vec![self.rng.tensor(&[k, units], scale)];
        if use_bias {
            w.push(self.rng.tensor(&[units], 0.5));
        }
        self.op(
            Op::Dense(Dense {
                units,
                use_bias,
                activation,
            }),
            &[input],
            w,
        )
    }

    fn push(
        &mut self,
        op: Op,
        inputs: Vec<NodeId>,
        weights: Vec<Tensor>,
        shape: Vec<usize>,
    ) -> NodeId {
        let name = format!("n{}_{}", self.graph.nodes.len(), op.name());
        push_node(&mut self.graph, name, op, inputs, weights, shape)
    }

    fn finish(mut self, outputs: &[NodeId]) -> Arc<Graph> {
        self.graph.outputs = outputs.to_vec();
        Arc::new(self.graph)
    }
}

fn inputs_for(graph: &Graph, batch: usize, seed: u64, scale: f32) -> Vec<Tensor> {
    let mut rng = Rng::new(seed);
    graph
        .inputs
        .iter()
        .map(|id| {
            let shape: Vec<usize> = std::iter::once(batch)
                .chain(graph.node(*id).shape.iter().copied())
                .collect();
            rng.tensor(&shape, scale)
        })
        .collect()
}

// ---------- comparison ----------

/// Element tolerance given the CPU value.
type Tol = dyn Fn(usize, f32) -> f32;

fn elementwise_tol() -> Box<Tol> {
    Box::new(|_, b| 2e-6 + 2e-5 * b.abs())
}

fn reduction_tol() -> Box<Tol> {
    Box::new(|_, b| 1e-5 * (1.0 + b.abs()))
}

fn compare(what: &str, adapter: &str, gpu: &Tensor, cpu: &Tensor, tol: &dyn Fn(usize, f32) -> f32) {
    assert_eq!(gpu.shape(), cpu.shape(), "[{adapter}] {what}: shape");
    // Worst |diff| / tol, printed so the margin of each tolerance is visible in the test log.
    let mut worst = 0.0f32;
    for (i, (&a, &b)) in gpu.iter().zip(cpu.iter()).enumerate() {
        let ok = if b.is_nan() {
            a.is_nan()
        } else if b.is_infinite() {
            a == b
        } else {
            (a - b).abs() <= tol(i, b)
        };
        assert!(
            ok,
            "[{adapter}] {what}: element {i} differs: gpu {a} vs cpu {b} (|diff| {} > tol {})",
            (a - b).abs(),
            tol(i, b)
        );
        if b.is_finite() && tol(i, b) > 0.0 {
            worst = worst.max((a - b).abs() / tol(i, b));
        }
    }
    eprintln!("[{adapter}] {what}: ok, worst |diff|/tol = {worst:.3}");
}

/// The GPU executors a test runs: every adapter, with its own dense kernel, plus the other
/// dense kernels where `all_dense` (so the hardware tiled GEMM is tested on software adapters).
fn executors(graph: &Arc<Graph>, all_dense: bool) -> Vec<(String, GpuExecutor)> {
    let mut out = Vec::new();
    for ctx in gpu::test_adapters() {
        let default = DenseKernel::for_context(&ctx);
        let mut kinds = vec![default];
        if all_dense {
            for k in dense_kernels(&ctx) {
                if !kinds.contains(&k) {
                    kinds.push(k);
                }
            }
        }
        for kind in kinds {
            let name = format!("{} / {kind:?}", ctx.describe());
            let exec = GpuExecutor::with_dense_kernel(ctx.clone(), graph.clone(), kind)
                .unwrap_or_else(|e| panic!("[{name}] preparing the graph failed: {e}"));
            out.push((name, exec));
        }
        // Elementwise kernels read through uniform windows on software adapters and straight
        // from storage buffers on hardware: run the other way too, so both are tested here.
        if !all_dense {
            let windows = !ctx.is_software();
            let name = format!(
                "{} / {default:?} / uniform windows {windows}",
                ctx.describe()
            );
            let exec = GpuExecutor::with_dense_kernel(ctx.clone(), graph.clone(), default)
                .unwrap_or_else(|e| panic!("[{name}] preparing the graph failed: {e}"))
                .with_uniform_windows(windows);
            out.push((name, exec));
        }
    }
    out
}

/// Runs `graph` on the CPU and on every GPU executor and compares every output.
fn check(
    what: &str,
    graph: &Arc<Graph>,
    inputs: &[Tensor],
    tol: &dyn Fn(usize, f32) -> f32,
    all_dense: bool,
) {
    let cpu = CpuExecutor::new(graph.clone(), Precision::F32)
        .run(inputs, Keep::Outputs)
        .unwrap();
    for (name, mut exec) in executors(graph, all_dense) {
        let t = std::time::Instant::now();
        let trace = exec
            .run(inputs, Keep::Outputs)
            .unwrap_or_else(|e| panic!("[{name}] {what}: run failed: {e}"));
        eprintln!(
            "[{name}] {what}: ran in {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        for (g, c) in trace.outputs().iter().zip(cpu.outputs()) {
            compare(what, &name, g, c, tol);
        }
    }
}

// ---------- dense ----------

/// Tolerance of a dense layer's outputs: the dot-product error bound of the header, per element.
fn dense_tol(graph: &Graph, node: NodeId, input: &Tensor, lipschitz: f32) -> Box<Tol> {
    let n = graph.node(node);
    let kernel = n.weights[0].value.clone();
    let bias = n.weights.get(1).map(|w| w.value.clone());
    let (k, units) = (kernel.shape()[0], kernel.shape()[1]);
    let rows = input.len() / k;
    let x = input
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((rows, k))
        .unwrap();
    let w = kernel
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((k, units))
        .unwrap();
    let mut bound = vec![0f32; rows * units];
    let eps = f32::EPSILON / 2.0;
    for r in 0..rows {
        for c in 0..units {
            let s: f64 = (0..k)
                .map(|i| f64::from((x[[r, i]] * w[[i, c]]).abs()))
                .sum();
            let b = bias.as_ref().map_or(0.0, |b| b[[c]].abs());
            bound[r * units + c] = lipschitz * (4.0 * (k as f32).sqrt() * eps * s as f32 + b * eps);
        }
    }
    Box::new(move |i, b| bound[i % bound.len()] + 2e-6 + 2e-5 * b.abs())
}

#[allow(clippy::too_many_arguments)]
fn dense_case(
    what: &str,
    batch: usize,
    in_shape: &[usize],
    units: usize,
    use_bias: bool,
    act: Activation,
    seed: u64,
    all_dense: bool,
) {
    let mut g = Builder::new(seed);
    let x = g.input(in_shape);
    let d = g.dense(x, units, use_bias, act);
    let graph = g.finish(&[d]);
    let inputs = inputs_for(&graph, batch, seed + 1, 1.0);
    let lipschitz = match act {
        Activation::Exponential => 25.0,
        Activation::Softmax | Activation::LogSoftmax => 2.0,
        _ => 2.0,
    };
    let tol = dense_tol(&graph, d, &inputs[0], lipschitz);
    check(what, &graph, &inputs, &*tol, all_dense);
}

#[test]
fn dense_odd_sizes() {
    let sizes = [1, 7, 64, 129];
    let mut seed = 100;
    for &m in &sizes {
        for &k in &sizes {
            for &n in &sizes {
                seed += 1;
                dense_case(
                    &format!("dense M={m} K={k} N={n}"),
                    m,
                    &[k],
                    n,
                    seed % 2 == 0,
                    Activation::Linear,
                    seed,
                    true,
                );
            }
        }
    }
}

#[test]
fn dense_long_k_and_big_batch() {
    dense_case(
        "dense K=4099",
        3,
        &[4099],
        9,
        true,
        Activation::Linear,
        7,
        true,
    );
    dense_case(
        "dense K=4099 batch 1000",
        1000,
        &[4099],
        5,
        true,
        Activation::RELU,
        8,
        true,
    );
    dense_case(
        "dense batch 1000",
        1000,
        &[33],
        70,
        true,
        Activation::Tanh,
        9,
        true,
    );
    dense_case(
        "dense K=256 (copied, not packed)",
        37,
        &[256],
        130,
        false,
        Activation::Linear,
        10,
        true,
    );
    dense_case(
        "dense on a rank-3 input",
        5,
        &[6, 19],
        23,
        true,
        Activation::Linear,
        11,
        true,
    );
}

#[test]
fn dense_with_every_activation() {
    for (j, act) in all_activations().into_iter().enumerate() {
        dense_case(
            &format!("dense+{}", act.name()),
            9,
            &[21],
            13,
            true,
            act,
            200 + j as u64,
            false,
        );
    }
}

#[test]
fn dense_split_into_chunks() {
    let mut g = Builder::new(3);
    let x = g.input(&[40]);
    let h = g.dense(x, 30, true, Activation::RELU);
    let y = g.dense(h, 10, true, Activation::Softmax);
    let graph = g.finish(&[y]);
    let inputs = inputs_for(&graph, 23, 4, 1.0);
    let cpu = CpuExecutor::new(graph.clone(), Precision::F32)
        .run(&inputs, Keep::Outputs)
        .unwrap();
    for (name, exec) in executors(&graph, false) {
        eprintln!("[{name}] batch of 23 in chunks of 5");
        let mut exec = exec.with_max_chunk(5);
        let trace = exec.run(&inputs, Keep::Outputs).unwrap();
        compare(
            "chunked",
            &name,
            trace.outputs()[0],
            cpu.outputs()[0],
            &*reduction_tol(),
        );
        // A second, smaller batch reuses the plan.
        let small = inputs_for(&graph, 2, 5, 1.0);
        let cpu_small = CpuExecutor::new(graph.clone(), Precision::F32)
            .run(&small, Keep::Outputs)
            .unwrap();
        let trace = exec.run(&small, Keep::Outputs).unwrap();
        compare(
            "second batch",
            &name,
            trace.outputs()[0],
            cpu_small.outputs()[0],
            &*reduction_tol(),
        );
    }
}

// ---------- activations ----------

#[test]
fn every_activation() {
    // A range that covers the branches (|x| < 2^-28 for erf, 0.84/1.25/2.86 for erf's pieces,
    // large |x| for overflow in sigmoid, softplus, tanh), NaN and the infinities, plus random
    // values.
    let specials = [
        0.0,
        -0.0,
        1e-9,
        -1e-9,
        0.3,
        -0.3,
        0.9,
        -0.9,
        1.1,
        -1.1,
        2.0,
        -2.0,
        3.5,
        -3.5,
        5.9,
        -5.9,
        7.0,
        -7.0,
        20.0,
        -20.0,
        88.0,
        -100.0,
        0.5,
        6.0,
        6.1,
        2.5,
        2.51,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    for (j, act) in all_activations().into_iter().enumerate() {
        let mut g = Builder::new(300 + j as u64);
        let x = g.input(&[4, 27]);
        let y = g.op(Op::Activation(act), &[x], vec![]);
        let graph = g.finish(&[y]);
        let mut inputs = inputs_for(&graph, 3, 400 + j as u64, 8.0);
        if act.is_elementwise() {
            for (v, s) in inputs[0].iter_mut().zip(specials.iter()) {
                *v = *s;
            }
        }
        let tol = if act.is_elementwise() {
            elementwise_tol()
        } else {
            reduction_tol()
        };
        let what = format!("activation {}", act.name());
        if act == Activation::Exponential {
            // e^88 is near f32's top: compare relative only.
            check(
                &what,
                &graph,
                &inputs,
                &|_, b: f32| 2e-6 + 4e-5 * b.abs(),
                false,
            );
        } else {
            check(&what, &graph, &inputs, &*tol, false);
        }
    }
}

#[test]
fn gelu_erf_is_accurate() {
    // The exact GELU goes through our WGSL erf: compare with the CPU's libm erff over a fine
    // grid; |erf error| < 1e-7 shows as |gelu error| <= 0.5·|x|·1e-7 + rounding.
    let n = 4096;
    let mut g = Builder::new(1);
    let x = g.input(&[n]);
    let y = g.op(Op::Activation(Activation::Gelu), &[x], vec![]);
    let graph = g.finish(&[y]);
    let xs: Vec<f32> = (0..n)
        .map(|i| -7.0 + 14.0 * i as f32 / (n - 1) as f32)
        .collect();
    let inputs = vec![ArrayD::from_shape_vec(IxDyn(&[1, n]), xs.clone()).unwrap()];
    check(
        "gelu on a grid",
        &graph,
        &inputs,
        &|i, b: f32| 0.5 * xs[i].abs() * 1e-7 + 1e-7 + 4e-7 * b.abs(),
        false,
    );
}

#[test]
fn elementwise_over_many_windows() {
    // 2 x 40_003 floats: several 16K-float uniform windows and a ragged last one.
    let mut g = Builder::new(13);
    let x = g.input(&[40_003]);
    let y = g.input(&[40_003]);
    let a = g.op(Op::Activation(Activation::Elu { alpha: 0.5 }), &[x], vec![]);
    let m = g.op(Op::Merge(MergeKind::Average), &[a, y, x], vec![]);
    let bn_w = vec![
        g.rng.tensor(&[40_003], 1.0),
        g.rng.tensor(&[40_003], 1.0),
        g.rng.tensor(&[40_003], 1.0),
        g.rng.tensor(&[40_003], 1.0).mapv(|v| v.abs() + 0.1),
    ];
    let bn = g.op(
        Op::BatchNorm(BatchNorm {
            axes: vec![1],
            epsilon: 1e-3,
            center: true,
            scale: true,
        }),
        &[m],
        bn_w,
    );
    let graph = g.finish(&[a, m, bn]);
    let inputs = inputs_for(&graph, 2, 14, 3.0);
    check(
        "elementwise over many windows",
        &graph,
        &inputs,
        &*elementwise_tol(),
        false,
    );
}

#[test]
fn prelu_full_and_shared_axes() {
    for (what, alpha_shape) in [("prelu", vec![3, 5]), ("prelu shared axis", vec![1, 5])] {
        let mut g = Builder::new(11);
        let x = g.input(&[3, 5]);
        let alpha = g.rng.tensor(&alpha_shape, 0.5);
        let y = g.op(Op::PRelu(PRelu::default()), &[x], vec![alpha]);
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, 4, 12, 2.0);
        check(what, &graph, &inputs, &*elementwise_tol(), false);
    }
}

// ---------- softmax over other axes ----------

#[test]
fn softmax_over_other_axes() {
    for (axes, log) in [
        (vec![1], false),
        (vec![1, 2], false),
        (vec![1], true),
        (vec![1, 3], true),
    ] {
        let mut g = Builder::new(21);
        let x = g.input(&[4, 3, 5]);
        let y = g.op(
            Op::Softmax(Softmax {
                axes: axes.clone(),
                log,
                logsumexp: axes.len() > 1,
            }),
            &[x],
            vec![],
        );
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, 6, 22, 5.0);
        check(
            &format!("softmax axes {axes:?} log={log}"),
            &graph,
            &inputs,
            &*reduction_tol(),
            false,
        );
    }
}

// ---------- merges ----------

#[test]
fn merges_with_two_and_three_inputs_and_broadcasting() {
    let kinds = [
        MergeKind::Add,
        MergeKind::Subtract,
        MergeKind::Multiply,
        MergeKind::Average,
        MergeKind::Maximum,
        MergeKind::Minimum,
        MergeKind::ScaledAdd { scale: 0.17 },
    ];
    for kind in kinds {
        let binary = matches!(kind, MergeKind::Subtract | MergeKind::ScaledAdd { .. });
        let shape_sets: Vec<Vec<Vec<usize>>> = if binary {
            vec![
                vec![vec![4, 5], vec![4, 5]],
                vec![vec![4, 5], vec![1, 5]],
                vec![vec![4, 1], vec![4, 5]],
            ]
        } else {
            vec![
                vec![vec![4, 5], vec![4, 5]],
                vec![vec![4, 5], vec![4, 5], vec![4, 5]],
                vec![vec![4, 5], vec![1, 5], vec![4, 1]],
                vec![vec![1, 5], vec![4, 1]],
            ]
        };
        for shapes in shape_sets {
            let mut g = Builder::new(31);
            let ins: Vec<NodeId> = shapes.iter().map(|s| g.input(s)).collect();
            let y = g.op(Op::Merge(kind), &ins, vec![]);
            let graph = g.finish(&[y]);
            let inputs = inputs_for(&graph, 3, 32, 2.0);
            check(
                &format!("{kind:?} {shapes:?}"),
                &graph,
                &inputs,
                &*elementwise_tol(),
                false,
            );
        }
    }
}

// ---------- layout ----------

#[test]
fn concatenate_on_each_axis() {
    for axis in 1..=3 {
        let mut g = Builder::new(41);
        let mut a = vec![2, 3, 4];
        let mut b = vec![2, 3, 4];
        a[axis - 1] = 1;
        b[axis - 1] = 5;
        let x = g.input(&a);
        let y = g.input(&b);
        let z = g.input(&[2, 3, 4]);
        let c = g.op(Op::Concatenate(Concatenate { axis }), &[x, y, z], vec![]);
        let graph = g.finish(&[c]);
        let inputs = inputs_for(&graph, 3, 42, 1.0);
        check(
            &format!("concatenate axis {axis}"),
            &graph,
            &inputs,
            &|_, _| 0.0,
            false,
        );
    }
}

#[test]
fn permute_and_reshape() {
    let mut g = Builder::new(51);
    let x = g.input(&[2, 3, 4]);
    let p = g.op(
        Op::Permute(Permute {
            dims: vec![3, 1, 2],
            flatten: false,
        }),
        &[x],
        vec![],
    );
    let r = g.reshape(p, &[8, 3]);
    let i = g.op(Op::Identity, &[r], vec![]);
    // Flatten of a channels-first tensor moves the channels last first; RepeatVector.
    let f = g.op(
        Op::Permute(Permute {
            dims: vec![2, 3, 1],
            flatten: true,
        }),
        &[x],
        vec![],
    );
    let v = g.reshape(x, &[24]);
    let rep = g.op(Op::Repeat(Repeat { times: 3 }), &[v], vec![]);
    let graph = g.finish(&[p, r, i, f, rep]);
    let inputs = inputs_for(&graph, 3, 52, 1.0);
    check(
        "permute, reshape, identity, flatten channels first, repeat",
        &graph,
        &inputs,
        &|_, _| 0.0,
        false,
    );
}

#[test]
fn pad_and_crop_on_every_axis_and_rank() {
    // (sample shape, before, after): zero padding, cropping, one side only, a crop to size 1,
    // and channels-first style (the first sample axis untouched).
    let cases: [(&[usize], &[i64], &[i64]); 6] = [
        (&[7, 3], &[2, 0], &[1, 0]),
        (&[7, 3], &[-2, 0], &[-4, 0]),
        (&[6, 5, 3], &[1, 0, 0], &[2, 3, 0]),
        (&[6, 5, 3], &[0, -4, -1], &[0, 0, -1]),
        (&[4, 5, 3, 2], &[0, 1, 0, 2], &[0, 1, 2, 0]),
        (&[4, 5, 3, 2], &[-3, -3, 0, 0], &[0, -1, -2, 0]),
    ];
    for (k, (shape, before, after)) in cases.into_iter().enumerate() {
        let mut g = Builder::new(61 + k as u64);
        let x = g.input(shape);
        let pad = Pad {
            before: before.to_vec(),
            after: after.to_vec(),
        };
        let y = g.op(Op::Pad(pad), &[x], vec![]);
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, 3, 62 + k as u64, 1.0);
        check(
            &format!("pad {shape:?} by {before:?}/{after:?}"),
            &graph,
            &inputs,
            &|_, _| 0.0,
            false,
        );
    }
}

#[test]
fn pooling_max_average_same_valid_and_global() {
    // (sample shape, window, strides, same, max, global)
    type PoolCase<'a> = (&'a [usize], &'a [usize], &'a [usize], bool, bool, bool);
    let cases: [PoolCase; 7] = [
        (&[9, 3], &[2, 1], &[2, 1], false, true, false),
        (&[9, 3], &[3, 1], &[2, 1], true, false, false),
        (&[7, 8, 3], &[2, 3, 1], &[2, 2, 1], true, true, false),
        (&[7, 8, 3], &[3, 2, 1], &[1, 3, 1], true, false, false),
        (&[3, 7, 8], &[1, 2, 2], &[1, 2, 2], false, false, false),
        (
            &[5, 6, 4, 2],
            &[2, 2, 3, 1],
            &[2, 2, 1, 1],
            true,
            true,
            false,
        ),
        (
            &[5, 6, 4, 2],
            &[5, 6, 4, 1],
            &[1, 1, 1, 1],
            false,
            false,
            true,
        ),
    ];
    for (k, (shape, window, strides, same, max, global)) in cases.into_iter().enumerate() {
        let mut g = Builder::new(71 + k as u64);
        let x = g.input(shape);
        let pool = Pool {
            kind: if max {
                PoolKind::Max
            } else {
                PoolKind::Average
            },
            window: window.to_vec(),
            strides: strides.to_vec(),
            same,
            keep_only: global.then_some(shape.len() - 1),
        };
        let y = g.op(Op::Pool(pool), &[x], vec![]);
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, 3, 72 + k as u64, 1.0);
        check(
            &format!("pool {shape:?} window {window:?} strides {strides:?} same {same} max {max}"),
            &graph,
            &inputs,
            &*reduction_tol(),
            false,
        );
    }
}

/// A graph of one convolution on inputs of `shape`, with a random kernel (`kernel_scale`) shaped
/// as `conv`'s kind stores it and, where `conv.use_bias`, a random bias.
fn conv_graph(seed: u64, shape: &[usize], kernel_scale: f32, conv: Conv) -> Arc<Graph> {
    let mut g = Builder::new(seed);
    let x = g.input(shape);
    let channels = if conv.channels_first {
        shape[0]
    } else {
        shape[shape.len() - 1]
    };
    let last = match conv.kind {
        ConvKind::Transpose { .. } => [conv.filters, channels],
        _ => [channels / conv.groups, conv.filters],
    };
    let kshape: Vec<usize> = conv.window.iter().copied().chain(last).collect();
    let kernel = g.rng.tensor(&kshape, kernel_scale);
    let bias = g.rng.tensor(&[conv.filters], 0.5);
    let weights = if conv.use_bias {
        vec![kernel, bias]
    } else {
        vec![kernel]
    };
    let y = g.op(Op::Conv(conv), &[x], weights);
    g.finish(&[y])
}

#[test]
fn conv_in_every_geometry_and_data_format() {
    // (sample shape, window, strides, dilation, padding, groups, channels first, activation)
    let relu = Activation::RELU;
    let softmax = Activation::Softmax;
    type ConvCase = (
        Vec<usize>,
        Vec<usize>,
        Vec<usize>,
        Vec<usize>,
        Padding,
        usize,
        bool,
        Activation,
    );
    let cases: Vec<ConvCase> = vec![
        (
            vec![12, 4],
            vec![3],
            vec![1],
            vec![1],
            Padding::Causal,
            1,
            false,
            relu,
        ),
        (
            vec![12, 4],
            vec![2],
            vec![2],
            vec![1],
            Padding::Same,
            2,
            false,
            Activation::Tanh,
        ),
        (
            vec![4, 12],
            vec![3],
            vec![1],
            vec![2],
            Padding::Valid,
            1,
            true,
            Activation::Linear,
        ),
        (
            vec![9, 8, 4],
            vec![3, 3],
            vec![1, 1],
            vec![1, 1],
            Padding::Same,
            1,
            false,
            Activation::Gelu,
        ),
        (
            vec![9, 8, 4],
            vec![2, 3],
            vec![2, 1],
            vec![1, 1],
            Padding::Same,
            2,
            false,
            softmax,
        ),
        (
            vec![4, 9, 8],
            vec![2, 2],
            vec![1, 1],
            vec![2, 2],
            Padding::Valid,
            2,
            true,
            relu,
        ),
        (
            vec![5, 6, 4, 2],
            vec![3, 1, 2],
            vec![2, 1, 1],
            vec![1, 1, 1],
            Padding::Same,
            1,
            false,
            Activation::Silu,
        ),
        (
            vec![2, 5, 6, 4],
            vec![2, 2, 2],
            vec![1, 2, 1],
            vec![1, 1, 1],
            Padding::Valid,
            2,
            true,
            relu,
        ),
    ];
    for (k, (shape, window, strides, dilation, padding, groups, first, activation)) in
        cases.into_iter().enumerate()
    {
        let conv = Conv {
            filters: 3 * groups,
            window,
            strides,
            dilation,
            padding,
            groups,
            channels_first: first,
            use_bias: k % 3 != 2,
            activation,
            kind: ConvKind::Standard,
        };
        let graph = conv_graph(81 + k as u64, &shape, 0.5, conv);
        let inputs = inputs_for(&graph, 3, 82 + k as u64, 1.0);
        check(
            &format!("conv case {k}"),
            &graph,
            &inputs,
            &*reduction_tol(),
            true,
        );
    }
}

/// Channels-last, ungrouped convolutions run as conv_gemm, a tiled implicit GEMM, with the
/// hardware GPUs' kernels (run on the software adapters too): these span several row, filter
/// and K tiles (64 × 64 × 16), with padding, strides and dilation.
#[test]
fn implicit_gemm_conv_spans_several_tiles() {
    // (sample shape, window, strides, dilation, padding, filters)
    let cases = [
        (
            vec![11, 7, 24],
            vec![3, 3],
            vec![1, 1],
            vec![1, 1],
            Padding::Same,
            70,
        ),
        (
            vec![13, 10, 9],
            vec![3, 2],
            vec![2, 1],
            vec![1, 2],
            Padding::Valid,
            130,
        ),
        (vec![40, 17], vec![5], vec![1], vec![1], Padding::Causal, 65),
    ];
    for (k, (shape, window, strides, dilation, padding, filters)) in cases.into_iter().enumerate() {
        let conv = Conv {
            filters,
            window,
            strides,
            dilation,
            padding,
            groups: 1,
            channels_first: false,
            use_bias: true,
            activation: Activation::RELU,
            kind: ConvKind::Standard,
        };
        let graph = conv_graph(301 + k as u64, &shape, 0.3, conv);
        let inputs = inputs_for(&graph, 3, 302 + k as u64, 1.0);
        check(
            &format!("implicit GEMM conv case {k}"),
            &graph,
            &inputs,
            &*reduction_tol(),
            true,
        );
    }
}

#[test]
fn transposed_conv_in_every_geometry_and_data_format() {
    // (sample shape, window, strides, dilation, same padding, output_padding, channels first)
    type Case = (
        Vec<usize>,
        Vec<usize>,
        Vec<usize>,
        Vec<usize>,
        bool,
        Option<Vec<usize>>,
        bool,
    );
    let cases: Vec<Case> = vec![
        (vec![5, 3], vec![3], vec![2], vec![1], true, None, false),
        (
            vec![3, 5],
            vec![2],
            vec![3],
            vec![1],
            false,
            Some(vec![1]),
            true,
        ),
        (
            vec![4, 5, 2],
            vec![3, 2],
            vec![2, 1],
            vec![1, 1],
            false,
            None,
            false,
        ),
        (
            vec![4, 5, 2],
            vec![3, 3],
            vec![1, 1],
            vec![2, 1],
            true,
            None,
            false,
        ),
        (
            vec![2, 4, 5],
            vec![4, 3],
            vec![2, 2],
            vec![1, 1],
            true,
            Some(vec![1, 0]),
            true,
        ),
        (
            vec![3, 4, 2, 2],
            vec![2, 3, 2],
            vec![2, 1, 2],
            vec![1, 1, 1],
            false,
            None,
            false,
        ),
    ];
    for (k, (shape, window, strides, dilation, same, output_padding, first)) in
        cases.into_iter().enumerate()
    {
        let conv = Conv {
            filters: 3,
            window,
            strides,
            dilation,
            padding: if same { Padding::Same } else { Padding::Valid },
            groups: 1,
            channels_first: first,
            use_bias: k % 2 == 0,
            activation: [Activation::Linear, Activation::RELU, Activation::Tanh][k % 3],
            kind: ConvKind::Transpose { output_padding },
        };
        let graph = conv_graph(91 + k as u64, &shape, 0.5, conv);
        let inputs = inputs_for(&graph, 3, 92 + k as u64, 1.0);
        check(
            &format!("transposed conv case {k}"),
            &graph,
            &inputs,
            &*reduction_tol(),
            false,
        );
    }
}

#[test]
fn resampling_nearest_bilinear_cropped_and_padded() {
    use keqv::ops::resample::Aspect;
    let size = |height, width, aspect| Target::Size {
        height,
        width,
        aspect,
    };
    // (sample shape, interpolation, channels first, target)
    let cases = vec![
        (
            vec![5, 3],
            Interpolation::Nearest,
            false,
            Target::Factors(vec![3]),
        ),
        (
            vec![5, 4, 2],
            Interpolation::Bilinear,
            false,
            Target::Factors(vec![2, 3]),
        ),
        (
            vec![2, 5, 4],
            Interpolation::Nearest,
            true,
            Target::Factors(vec![3, 2]),
        ),
        (
            vec![2, 3, 4, 2],
            Interpolation::Nearest,
            false,
            Target::Factors(vec![1, 2, 2]),
        ),
        (
            vec![9, 8, 2],
            Interpolation::Bilinear,
            false,
            size(5, 7, Aspect::Stretch),
        ),
        (
            vec![9, 8, 2],
            Interpolation::Bilinear,
            false,
            size(13, 11, Aspect::Crop),
        ),
        (
            vec![2, 9, 8],
            Interpolation::Nearest,
            true,
            size(4, 7, Aspect::Crop),
        ),
        (
            vec![6, 4, 3],
            Interpolation::Bilinear,
            false,
            size(5, 9, Aspect::Pad),
        ),
        (
            vec![6, 4, 3],
            Interpolation::Nearest,
            false,
            size(9, 4, Aspect::Pad),
        ),
    ];
    for (k, (shape, interpolation, first, target)) in cases.into_iter().enumerate() {
        let mut g = Builder::new(131 + k as u64);
        let x = g.input(&shape);
        let y = g.op(
            Op::Resample(Resample {
                interpolation,
                channels_first: first,
                fill: 0.25,
                target,
            }),
            &[x],
            vec![],
        );
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, 2, 132 + k as u64, 1.0);
        check(
            &format!("resample case {k}"),
            &graph,
            &inputs,
            &|_, b| 1e-6 * (1.0 + b.abs()),
            false,
        );
    }
}

#[test]
fn separable_conv_runs_its_two_stages() {
    // (sample shape, window, strides, channels first, depth multiplier, activation)
    let cases = [
        (vec![12, 4], vec![3], vec![2], false, 2, Activation::RELU),
        (vec![4, 12], vec![2], vec![1], true, 1, Activation::Tanh),
        (
            vec![9, 8, 4],
            vec![3, 3],
            vec![2, 2],
            false,
            2,
            Activation::Softmax,
        ),
        (
            vec![4, 9, 8],
            vec![2, 3],
            vec![1, 1],
            true,
            1,
            Activation::Linear,
        ),
    ];
    for (k, (shape, window, strides, first, multiplier, activation)) in
        cases.into_iter().enumerate()
    {
        let mut g = Builder::new(91 + k as u64);
        let x = g.input(&shape);
        let channels = if first {
            shape[0]
        } else {
            shape[shape.len() - 1]
        };
        let filters = 5;
        let dshape: Vec<usize> = window
            .iter()
            .copied()
            .chain([channels, multiplier])
            .collect();
        let pshape: Vec<usize> = window
            .iter()
            .map(|_| 1)
            .chain([channels * multiplier, filters])
            .collect();
        let weights = vec![
            g.rng.tensor(&dshape, 0.5),
            g.rng.tensor(&pshape, 0.5),
            g.rng.tensor(&[filters], 0.5),
        ];
        let ones = vec![1; window.len()];
        let conv = Conv {
            filters,
            window,
            strides,
            dilation: ones,
            padding: Padding::Same,
            groups: channels,
            channels_first: first,
            use_bias: true,
            activation,
            kind: ConvKind::Separable { multiplier },
        };
        let y = g.op(Op::Conv(conv), &[x], weights);
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, 3, 92 + k as u64, 1.0);
        check(
            &format!("separable conv case {k}"),
            &graph,
            &inputs,
            &*reduction_tol(),
            true,
        );
    }
}

// ---------- normalisation ----------

#[test]
fn rescaling_normalization_and_layer_scale() {
    let mut g = Builder::new(111);
    let x = g.input(&[5, 3, 4]);
    let rescale = g.op(
        Op::Scale(Scale {
            kind: ScaleKind::Rescale {
                scale: vec![0.5, 2.0, -1.0, 1.5],
                offset: vec![0.1, -0.2, 0.3, 0.0],
            },
            axes: vec![3],
        }),
        &[x],
        vec![],
    );
    let scalar = g.op(
        Op::Scale(Scale {
            kind: ScaleKind::Normalize {
                stats: Some((vec![0.5], vec![2.0])),
                invert: true,
            },
            axes: vec![],
        }),
        &[x],
        vec![],
    );
    // Normalization from weights over a middle axis, one variance 0 (divided by 1e-7).
    let mean = g.rng.tensor(&[3], 1.0);
    let mut var = g.rng.tensor(&[3], 1.0).mapv(f32::abs);
    var[[0]] = 0.0;
    let count = ndarray::arr0(7.0f32).into_dyn();
    let adapted = g.op(
        Op::Scale(Scale {
            kind: ScaleKind::Normalize {
                stats: None,
                invert: false,
            },
            axes: vec![2],
        }),
        &[x],
        vec![mean, var, count],
    );
    let gamma = g.rng.tensor(&[4], 1.0);
    let layer_scale = g.op(
        Op::Scale(Scale {
            kind: ScaleKind::LayerScale,
            axes: vec![3],
        }),
        &[x],
        vec![gamma],
    );
    let graph = g.finish(&[rescale, scalar, adapted, layer_scale]);
    let inputs = inputs_for(&graph, 3, 112, 1.0);
    check(
        "rescaling, normalization, layer scale",
        &graph,
        &inputs,
        &|_, b| 1e-6 * (1.0 + b.abs()),
        false,
    );
}

#[test]
fn group_norm_rms_norm_and_mean() {
    for (k, (shape, axis, groups, center, scale)) in [
        (vec![3, 4, 6], 3, 2, true, true),
        (vec![6, 3, 4], 1, 3, true, false),
        (vec![5, 4], 2, 4, false, true),
        (vec![2, 3, 2, 4], 4, 1, false, false),
    ]
    .into_iter()
    .enumerate()
    {
        let mut g = Builder::new(121 + k as u64);
        let x = g.input(&shape);
        let channels = shape[axis - 1];
        let mut weights = Vec::new();
        if scale {
            weights.push(g.rng.tensor(&[channels], 1.0));
        }
        if center {
            weights.push(g.rng.tensor(&[channels], 1.0));
        }
        let gn = g.op(
            Op::GroupNorm(GroupNorm {
                axis,
                groups,
                epsilon: 1e-3,
                center,
                scale,
            }),
            &[x],
            weights,
        );
        let last = shape.len();
        let rms_scale = g.rng.tensor(&[shape[last - 1]], 1.0);
        let rms = g.op(
            Op::RmsNorm(RmsNorm {
                axes: vec![last],
                epsilon: 1e-6,
            }),
            &[x],
            vec![rms_scale],
        );
        let mean = g.op(
            Op::Mean(Mean {
                axes: vec![1, last],
                keepdims: k % 2 == 0,
            }),
            &[x],
            vec![],
        );
        let graph = g.finish(&[gn, rms, mean]);
        let inputs = inputs_for(&graph, 3, 122 + k as u64, 2.0);
        check(
            &format!("group norm, rms norm and mean case {k}"),
            &graph,
            &inputs,
            &*reduction_tol(),
            false,
        );
    }
}

#[test]
fn batch_norm_on_last_and_other_axes() {
    for (axes, center, scale) in [
        (vec![3], true, true),
        (vec![1], true, true),
        (vec![1], false, true),
        (vec![2], true, false),
        (vec![1, 3], true, true),
    ] {
        let mut g = Builder::new(61);
        let x = g.input(&[3, 4, 5]);
        let sample = [3, 4, 5];
        let pshape: Vec<usize> = axes.iter().map(|&a| sample[a - 1]).collect();
        let mut w = Vec::new();
        if scale {
            w.push(g.rng.tensor(&pshape, 1.0));
        }
        if center {
            w.push(g.rng.tensor(&pshape, 1.0));
        }
        w.push(g.rng.tensor(&pshape, 1.0));
        w.push(g.rng.tensor(&pshape, 1.0).mapv(|v| v.abs() + 0.1));
        let y = g.op(
            Op::BatchNorm(BatchNorm {
                axes: axes.clone(),
                epsilon: 1e-3,
                center,
                scale,
            }),
            &[x],
            w,
        );
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, 4, 62, 2.0);
        check(
            &format!("batch_norm axes {axes:?}"),
            &graph,
            &inputs,
            &*elementwise_tol(),
            false,
        );
    }
}

#[test]
fn layer_norm_over_one_and_two_axes_and_rms() {
    let cases = [
        (vec![3], true, true, false),
        (vec![2, 3], true, true, false),
        (vec![2, 3], false, false, false),
        (vec![1, 3], true, false, false),
        (vec![3], false, true, true),
        (vec![2, 3], false, true, true),
    ];
    for (axes, center, scale, rms) in cases {
        let mut g = Builder::new(71);
        let x = g.input(&[3, 4, 5]);
        let sample = [3, 4, 5];
        let pshape: Vec<usize> = axes.iter().map(|&a| sample[a - 1]).collect();
        let mut w = Vec::new();
        if scale || rms {
            w.push(g.rng.tensor(&pshape, 1.0));
        }
        if center && !rms {
            w.push(g.rng.tensor(&pshape, 1.0));
        }
        let y = g.op(
            Op::LayerNorm(LayerNorm {
                axes: axes.clone(),
                epsilon: 1e-5,
                center,
                scale,
                rms_scaling: rms,
            }),
            &[x],
            w,
        );
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, 5, 72, 3.0);
        check(
            &format!("layer_norm axes {axes:?} center={center} scale={scale} rms={rms}"),
            &graph,
            &inputs,
            &*reduction_tol(),
            false,
        );
    }
}

#[test]
fn l2_normalize() {
    for (axes, floor) in [(vec![2], 1e-12), (vec![1, 2], 1e-12), (vec![1], 0.5)] {
        let mut g = Builder::new(81);
        let x = g.input(&[6, 7]);
        let y = g.op(
            Op::L2Normalize(L2Normalize {
                axes: axes.clone(),
                floor,
            }),
            &[x],
            vec![],
        );
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, 4, 82, 1.0);
        check(
            &format!("l2_normalize axes {axes:?}"),
            &graph,
            &inputs,
            &*reduction_tol(),
            false,
        );
    }
}

// ---------- dot ----------

/// The Dot layer over each geometry its kernel indexes: vectors, sequences against sequences
/// over their features or their steps, inputs of different ranks, a depth longer than a
/// workgroup, with and without normalize; NaN and infinities in one input.
#[test]
fn dot_in_every_geometry_and_normalized() {
    let cases: [(&[usize], &[usize], [i64; 2]); 6] = [
        (&[6], &[6], [1, 1]),
        (&[4, 6], &[5, 6], [2, 2]),
        (&[4, 6], &[4, 3], [1, 1]),
        (&[6], &[5, 6], [1, -1]),
        (&[3, 2, 5], &[2, 4], [2, 1]),
        (&[300], &[2, 300], [-1, 2]),
    ];
    for (x_shape, y_shape, axes) in cases {
        for normalize in [None, Some(1e-12)] {
            let mut g = Builder::new(91);
            let x = g.input(x_shape);
            let y = g.input(y_shape);
            let dot = g.op(Op::Dot(Dot { axes, normalize }), &[x, y], vec![]);
            let graph = g.finish(&[dot]);
            let mut inputs = inputs_for(&graph, 3, 92, 1.0);
            let first = inputs[0].as_slice_mut().unwrap();
            first[1] = f32::NAN;
            first[first.len() - 1] = f32::INFINITY;
            let depth = x_shape[if axes[0] < 0 {
                x_shape.len() - 1
            } else {
                axes[0] as usize - 1
            }];
            // A depth-long sum in another order: ~sqrt(depth)·ε of the terms' size.
            let tol = move |_: usize, b: f32| 4e-7 * (depth as f32).sqrt() * 4.0 + 2e-5 * b.abs();
            check(
                &format!("dot {x_shape:?}·{y_shape:?} axes {axes:?} normalize {normalize:?}"),
                &graph,
                &inputs,
                &tol,
                false,
            );
        }
    }
}

// ---------- categorical ----------

/// CategoryEncoding in its three modes (ids out of range ignored or NaN), Discretization's
/// buckets (values on the boundaries, NaN, infinities) and IntegerLookup (OOV indices, a mask
/// token) against the CPU.
#[test]
fn categorical_encodings_buckets_and_lookups() {
    let ids: Vec<f32> = vec![0., 3., 5., 7., -1., 2.9, 12., 0., 4., 99., 3., 3.];
    let encode = |mode, out_of_range| {
        Categorical::Encode(Encoding {
            tokens: 6,
            mode,
            out_of_range,
        })
    };
    let ops = [
        encode(EncodeMode::OneHot, OutOfRange::Ignored),
        encode(EncodeMode::MultiHot, OutOfRange::Ignored),
        encode(EncodeMode::Count, OutOfRange::Nan),
        encode(EncodeMode::Count, OutOfRange::Ignored),
        Categorical::Bucketize {
            boundaries: vec![-1.0, 0.0, 0.5, 2.0],
        },
        Categorical::Lookup(Lookup {
            vocabulary: vec![7.0, 3.0, 12.0, 5.0],
            oov_indices: 2,
            mask_token: Some(0.0),
        }),
        Categorical::Lookup(Lookup {
            vocabulary: vec![7.0, 3.0, 12.0, 5.0],
            oov_indices: 1,
            mask_token: None,
        }),
    ];
    for op in ops {
        let mut g = Builder::new(93);
        let x = g.input(&[4]);
        let y = g.op(Op::Categorical(op.clone()), &[x], vec![]);
        let graph = g.finish(&[y]);
        let mut values = ids.clone();
        if matches!(op, Categorical::Bucketize { .. }) {
            values[1] = f32::NAN;
            values[2] = f32::INFINITY;
            values[3] = f32::NEG_INFINITY;
            values[4] = 0.5;
        }
        let inputs = vec![ArrayD::from_shape_vec(IxDyn(&[3, 4]), values).unwrap()];
        check(
            &format!("categorical {op:?}"),
            &graph,
            &inputs,
            &*elementwise_tol(),
            false,
        );
    }
}

// ---------- recurrent ----------

/// A graph of one recurrent layer on `[steps, features]` samples, with random kernels shaped as
/// Keras stores them (`[features, gates·units]`, `[units, gates·units]`) and, where
/// `r.use_bias`, a random bias (`[2, 3·units]` for a GRU with reset_after, else `[gates·units]`).
fn recurrent_graph(seed: u64, steps: usize, features: usize, r: Recurrent) -> Arc<Graph> {
    let mut g = Builder::new(seed);
    let x = g.input(&[steps, features]);
    let width = r.cell.gates() * r.units;
    let mut weights = vec![
        g.rng
            .tensor(&[features, width], 1.0 / (features as f32).sqrt()),
        g.rng
            .tensor(&[r.units, width], 1.0 / (r.units as f32).sqrt()),
    ];
    if r.use_bias {
        let shape = match r.cell {
            Cell::Gru { reset_after: true } => vec![2, width],
            _ => vec![width],
        };
        weights.push(g.rng.tensor(&shape, 0.5));
    }
    let y = g.op(Op::Recurrent(r), &[x], weights);
    g.finish(&[y])
}

/// Every cell, with its sequence and its last state, forwards and backwards, with and without
/// bias, with Keras's default activations and with relu / hard_sigmoid; batch × units is above
/// the 64-invocation workgroup (several workgroups per step), features + units make each gate's
/// dot products loop over 26 to 45 terms, and odd and even step counts end on either half of the
/// state.
#[test]
fn recurrent_cells_forwards_and_backwards() {
    let gru_after = Cell::Gru { reset_after: true };
    let gru_before = Cell::Gru { reset_after: false };
    // Keras's defaults, and relu with Keras 3's hard_sigmoid.
    let keras = (Activation::Tanh, Activation::Sigmoid);
    let hard_sigmoid = Activation::HardSigmoid { slope: 1.0 / 6.0 };
    let relu = (Activation::RELU, hard_sigmoid);
    // (cell, (activation, recurrent activation), [use_bias, return_sequences, go_backwards],
    //  [batch, steps, features, units])
    type RecurrentCase = (Cell, (Activation, Activation), [bool; 3], [usize; 4]);
    let cases: [RecurrentCase; 9] = [
        (Cell::Simple, keras, [true, true, false], [3, 5, 9, 23]),
        (Cell::Simple, relu, [false, false, true], [4, 6, 10, 17]),
        (Cell::Lstm, keras, [true, true, true], [3, 7, 9, 33]),
        (Cell::Lstm, relu, [false, false, false], [5, 5, 11, 17]),
        (gru_after, keras, [true, false, true], [3, 6, 9, 29]),
        (gru_after, relu, [false, true, false], [4, 5, 12, 19]),
        (gru_after, relu, [true, true, true], [3, 5, 9, 25]),
        (gru_before, keras, [true, true, true], [4, 5, 9, 21]),
        (gru_before, relu, [false, false, false], [5, 6, 9, 17]),
    ];
    for (k, (cell, (activation, recurrent_activation), flags, dims)) in
        cases.into_iter().enumerate()
    {
        let [use_bias, return_sequences, go_backwards] = flags;
        let [batch, steps, features, units] = dims;
        let r = Recurrent {
            cell,
            units,
            activation,
            recurrent_activation,
            use_bias,
            return_sequences,
            go_backwards,
            masked: false,
            zero_output_for_mask: false,
            // A backward sequence turned back into input order, as Bidirectional merges it.
            reverse_output: return_sequences && go_backwards && k % 2 == 0,
            initial_state: false,
            emit: Emit::Output,
            conv: None,
        };
        let what = format!(
            "recurrent case {k}: {}({}, {}) bias {use_bias} sequences {return_sequences} \
             backwards {go_backwards}",
            r.name(),
            activation.name(),
            recurrent_activation.name()
        );
        let graph = recurrent_graph(121 + k as u64, steps, features, r);
        let inputs = inputs_for(&graph, batch, 122 + k as u64, 1.0);
        check(&what, &graph, &inputs, &*reduction_tol(), false);
    }
}

/// A 0/1 mask of `shape`, about half of it 0: the steps where a random input is positive.
fn random_mask(g: &mut Builder, shape: &[usize]) -> NodeId {
    let x = g.input(shape);
    let r = g.op(Op::Activation(Activation::RELU), &[x], vec![]);
    g.op(
        Op::MakeMask(MakeMask::NotEqual { value: 0.0 }),
        &[r],
        vec![],
    )
}

/// MultiHeadAttention's core (several heads, its constant scale on the scores or the query,
/// each mask fill, causal, query, key and attention masks) and the Attention layers (scaled
/// dot, concat and additive scores; the value as the key; masked query rows zeroed or
/// multiplied); more query rows than a workgroup in one case.
#[test]
fn attention_scores_masks_and_heads() {
    use keqv::ops::attention::{ConstantScale, MaskFill, MaskInputs, QueryMask, Score};
    // (score, heads, constant scale on the query, fill, query mask, [own key, causal],
    //  [query mask, keys mask, attention mask], [batch, tq, tk, dk, dv])
    type Case = (
        Score,
        usize,
        Option<bool>,
        MaskFill,
        QueryMask,
        [bool; 2],
        [bool; 3],
        [usize; 5],
    );
    let replace = MaskFill::Replace(-0.7 * f32::MAX);
    let add = MaskFill::Add(-1e9);
    let cases: [Case; 5] = [
        (
            Score::Dot { scaled: false },
            3,
            Some(false),
            replace,
            QueryMask::Scores,
            [true, true],
            [true, true, true],
            [3, 7, 9, 15, 12],
        ),
        (
            Score::Dot { scaled: false },
            2,
            Some(true),
            add,
            QueryMask::Scores,
            [true, false],
            [true, false, true],
            [2, 70, 5, 8, 6],
        ),
        (
            Score::Dot { scaled: true },
            1,
            None,
            add,
            QueryMask::ZeroOutput,
            [false, true],
            [true, true, false],
            [3, 6, 6, 5, 5],
        ),
        (
            Score::Concat { scaled: true },
            1,
            None,
            add,
            QueryMask::MultiplyOutput,
            [true, false],
            [true, true, false],
            [2, 5, 7, 4, 4],
        ),
        (
            Score::Additive { scaled: true },
            1,
            None,
            add,
            QueryMask::ZeroOutput,
            [false, true],
            [false, true, false],
            [3, 4, 6, 6, 6],
        ),
    ];
    for (k, (score, heads, on_query, fill, query_mask, [own_key, causal], masks, dims)) in
        cases.into_iter().enumerate()
    {
        let [batch, tq, tk, dk, dv] = dims;
        let mut g = Builder::new(131 + k as u64);
        let q = g.input(&[tq, dk]);
        let v = g.input(&[tk, dv]);
        let mut inputs = vec![q, v];
        if own_key {
            let key = g.input(&[tk, dk]);
            inputs.push(key);
        }
        let [qm, km, am] = masks;
        for (present, shape) in [(qm, vec![tq]), (km, vec![tk]), (am, vec![tq, tk])] {
            if present {
                let m = random_mask(&mut g, &shape);
                inputs.push(m);
            }
        }
        let weights = match score {
            Score::Dot { scaled: true } => vec![g.rng.tensor(&[], 1.0)],
            Score::Concat { .. } => vec![g.rng.tensor(&[], 1.0), g.rng.tensor(&[], 1.0)],
            Score::Additive { .. } => vec![g.rng.tensor(&[dk], 1.0)],
            Score::Dot { scaled: false } => vec![],
        };
        let a = Attention {
            heads,
            own_key,
            zero_masked: k == 1,
            emit_scores: k == 2,
            score,
            scale: on_query.map(|on_query| ConstantScale {
                value: 1.0 / ((dk / heads) as f32).sqrt(),
                on_query,
            }),
            causal,
            fill,
            query_mask,
            masks: MaskInputs {
                query: qm,
                keys: km,
                attention: am,
            },
        };
        let what = format!("attention case {k}: {}", a.name());
        let y = g.op(Op::Attention(a), &inputs, weights);
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, batch, 132 + k as u64, 1.0);
        check(&what, &graph, &inputs, &*reduction_tol(), false);
    }
}

/// Initial states read by the first step, and the final h or c emitted instead of the output
/// (`return_state`), for each cell, masked and not.
#[test]
fn recurrent_initial_and_returned_states() {
    let gru = Cell::Gru { reset_after: true };
    // (cell, emit, masked, [batch, steps, features, units])
    let cases = [
        (Cell::Lstm, Emit::Output, false, [3, 5, 6, 9]),
        (Cell::Lstm, Emit::StateC, true, [4, 6, 5, 11]),
        (Cell::Lstm, Emit::StateH, false, [3, 4, 7, 8]),
        (gru, Emit::StateH, true, [3, 5, 6, 10]),
        (Cell::Simple, Emit::Output, false, [2, 4, 5, 7]),
    ];
    for (k, (cell, emit, masked, [batch, steps, features, units])) in cases.into_iter().enumerate()
    {
        let mut g = Builder::new(141 + k as u64);
        let x = g.input(&[steps, features]);
        let mut inputs = vec![x];
        let r = Recurrent {
            cell,
            units,
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            use_bias: true,
            return_sequences: k % 2 == 0,
            go_backwards: k == 1,
            masked,
            zero_output_for_mask: false,
            reverse_output: false,
            initial_state: true,
            emit,
            conv: None,
        };
        for _ in 0..r.state_count() {
            let s = g.input(&[units]);
            inputs.push(s);
        }
        if masked {
            let m = random_mask(&mut g, &[steps]);
            inputs.push(m);
        }
        let width = cell.gates() * units;
        let bias_shape = if cell == gru {
            vec![2, width]
        } else {
            vec![width]
        };
        let weights = vec![
            g.rng
                .tensor(&[features, width], 1.0 / (features as f32).sqrt()),
            g.rng.tensor(&[units, width], 1.0 / (units as f32).sqrt()),
            g.rng.tensor(&bias_shape, 0.5),
        ];
        let what = format!("recurrent state case {k}: {}", r.name());
        let y = g.op(Op::Recurrent(r), &inputs, weights);
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, batch, 142 + k as u64, 1.0);
        check(&what, &graph, &inputs, &*reduction_tol(), false);
    }
}

/// ConvLSTM1D/2D/3D: the input convolution of every step, then the per-step kernel (recurrent
/// convolution and gates) in each data format, with strides or dilation, odd and even windows,
/// forwards and backwards, from given initial states, emitting the sequence, h or c.
#[test]
fn conv_lstm_steps() {
    // (image sizes, channels, units, window, stride, dilation, same, channels_first, emit,
    //  initial_state, [batch, steps])
    type Case = (
        &'static [usize],
        usize,
        usize,
        usize,
        usize,
        usize,
        bool,
        bool,
        Emit,
        bool,
    );
    let cases: [(Case, [usize; 2]); 6] = [
        (
            (&[7], 2, 3, 3, 1, 1, true, false, Emit::Output, false),
            [3, 4],
        ),
        (
            (&[9], 3, 2, 2, 2, 1, false, true, Emit::StateC, true),
            [2, 5],
        ),
        (
            (&[6, 5], 2, 4, 3, 1, 2, false, false, Emit::Output, true),
            [2, 3],
        ),
        (
            (&[5, 6], 3, 3, 2, 1, 1, true, true, Emit::StateH, false),
            [3, 4],
        ),
        (
            (&[6, 6], 2, 2, 3, 2, 1, true, false, Emit::StateC, true),
            [2, 3],
        ),
        (
            (&[3, 4, 3], 2, 2, 2, 1, 1, true, false, Emit::Output, false),
            [2, 3],
        ),
    ];
    for (k, (case, [batch, steps])) in cases.into_iter().enumerate() {
        let (sizes, channels, units, size, stride, dilation, same, first, emit, initial) = case;
        let spatial = sizes.len();
        let image = |c: usize, dims: &[usize]| -> Vec<usize> {
            if first {
                std::iter::once(c).chain(dims.iter().copied()).collect()
            } else {
                dims.iter().copied().chain([c]).collect()
            }
        };
        let conv = Conv {
            filters: 4 * units,
            window: vec![size; spatial],
            strides: vec![stride; spatial],
            dilation: vec![dilation; spatial],
            padding: if same { Padding::Same } else { Padding::Valid },
            groups: 1,
            channels_first: first,
            use_bias: k != 3,
            activation: Activation::Linear,
            kind: ConvKind::Standard,
        };
        let r = Recurrent {
            cell: Cell::Lstm,
            units,
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            use_bias: conv.use_bias,
            return_sequences: k % 2 == 0,
            go_backwards: k % 3 == 1,
            masked: false,
            zero_output_for_mask: false,
            reverse_output: false,
            initial_state: initial,
            emit,
            conv: Some(conv.clone()),
        };
        let mut g = Builder::new(151 + k as u64);
        let sample: Vec<usize> = std::iter::once(steps)
            .chain(image(channels, sizes))
            .collect();
        let mut inputs = vec![g.input(&sample)];
        let state = r.state_shape(&sample).unwrap();
        if initial {
            inputs.push(g.input(&state));
            inputs.push(g.input(&state));
        }
        let taps = size.pow(spatial as u32);
        let window = || conv.window.iter().copied();
        let mut weights = vec![
            g.rng.tensor(
                &window().chain([channels, 4 * units]).collect::<Vec<_>>(),
                1.0 / ((taps * channels) as f32).sqrt(),
            ),
            g.rng.tensor(
                &window().chain([units, 4 * units]).collect::<Vec<_>>(),
                1.0 / ((taps * units) as f32).sqrt(),
            ),
        ];
        if r.use_bias {
            weights.push(g.rng.tensor(&[4 * units], 0.5));
        }
        let what = format!("conv_lstm case {k}: {}", r.name());
        let y = g.op(Op::Recurrent(r), &inputs, weights);
        let graph = g.finish(&[y]);
        let inputs = inputs_for(&graph, batch, 152 + k as u64, 1.0);
        check(&what, &graph, &inputs, &*reduction_tol(), false);
    }
}

// ---------- whole graphs ----------

#[test]
fn keep_all_trace_matches_every_node() {
    let mut g = Builder::new(91);
    let x = g.input(&[12]);
    let a = g.dense(x, 16, true, Activation::RELU);
    let b = g.dense(x, 16, false, Activation::Tanh);
    let s = g.op(Op::Merge(MergeKind::Add), &[a, b], vec![]);
    let r = g.reshape(s, &[4, 4]);
    let n = g.op(
        Op::LayerNorm(LayerNorm {
            axes: vec![2],
            epsilon: 1e-3,
            center: false,
            scale: false,
            rms_scaling: false,
        }),
        &[r],
        vec![],
    );
    let p = g.op(
        Op::Permute(Permute {
            dims: vec![2, 1],
            flatten: false,
        }),
        &[n],
        vec![],
    );
    let c = g.op(Op::Concatenate(Concatenate { axis: 2 }), &[p, r], vec![]);
    let d = g.dense(c, 3, true, Activation::Softmax);
    let graph = g.finish(&[d, a]);
    let inputs = inputs_for(&graph, 7, 92, 1.0);
    let cpu = CpuExecutor::new(graph.clone(), Precision::F32)
        .run(&inputs, Keep::All)
        .unwrap();
    for (name, mut exec) in executors(&graph, false) {
        eprintln!("[{name}] Keep::All trace");
        let trace = exec.run(&inputs, Keep::All).unwrap();
        for (i, node) in graph.nodes.iter().enumerate() {
            let gpu = trace.values[i]
                .as_ref()
                .unwrap_or_else(|| panic!("[{name}] node {} not kept", node.name));
            let cpu = cpu.values[i].as_ref().unwrap();
            compare(
                &format!("node {}", node.name),
                &name,
                gpu,
                cpu,
                &|_, b: f32| 1e-5 * (1.0 + b.abs()),
            );
        }
        // Keep::Outputs keeps only the outputs.
        let trace = exec.run(&inputs, Keep::Outputs).unwrap();
        assert_eq!(trace.values.iter().filter(|v| v.is_some()).count(), 2);
    }
}

#[test]
fn reports_device_and_rejects_bad_inputs() {
    let mut g = Builder::new(1);
    let x = g.input(&[3]);
    let y = g.dense(x, 2, true, Activation::Linear);
    let graph = g.finish(&[y]);
    for (name, mut exec) in executors(&graph, false) {
        let device = exec.device();
        eprintln!("[{name}] device() = {device}");
        assert!(device.contains(" — "), "device string '{device}'");
        let bad = vec![ArrayD::zeros(IxDyn(&[2, 4]))];
        assert!(exec.run(&bad, Keep::Outputs).is_err());
        let empty = vec![ArrayD::zeros(IxDyn(&[0, 3]))];
        let trace = exec.run(&empty, Keep::Outputs).unwrap();
        assert_eq!(trace.outputs()[0].shape(), &[0, 2]);
    }
}

#[test]
fn every_soft_tile_shape_is_correct() {
    // The register-blocked GEMM is specialised by override constants; check the shapes the
    // benchmarks try, on the adapters that run it.
    let mut g = Builder::new(5);
    let x = g.input(&[37]);
    let d = g.dense(x, 45, true, Activation::Linear);
    let graph = g.finish(&[d]);
    let inputs = inputs_for(&graph, 19, 6, 1.0);
    let tol = dense_tol(&graph, d, &inputs[0], 1.0);
    let cpu = CpuExecutor::new(graph.clone(), Precision::F32)
        .run(&inputs, Keep::Outputs)
        .unwrap();
    for ctx in gpu::test_adapters() {
        for subgroups in [false, ctx.has_subgroups()] {
            for (rows, texels) in [(1, 1), (5, 2), (16, if subgroups { 2 } else { 4 })] {
                let kind = DenseKernel::Texture {
                    subgroups,
                    tile: SoftTile { rows, texels },
                };
                let mut exec =
                    GpuExecutor::with_dense_kernel(ctx.clone(), graph.clone(), kind).unwrap();
                let trace = exec.run(&inputs, Keep::Outputs).unwrap();
                compare(
                    &format!("tile {kind:?}"),
                    &ctx.describe(),
                    trace.outputs()[0],
                    cpu.outputs()[0],
                    &*tol,
                );
            }
        }
    }
}

// ---------- per step (TimeDistributed) ----------

/// `op` applied to every step of its inputs.
fn per_step(op: Op, steps: usize) -> Op {
    Op::PerStep(Box::new(PerStep { op, steps }))
}

/// A CNN per frame (convolution, pooling, a Flatten that aliases its input's buffer) and an
/// attention core per row, each run over batch·steps samples on the GPU.
#[test]
fn per_step_ops_fold_their_steps_into_the_batch() {
    let mut g = Builder::new(301);
    let steps = 3;
    let clip = g.input(&[steps, 7, 6, 2]);
    let conv = Conv {
        filters: 4,
        window: vec![3, 3],
        strides: vec![1, 2],
        dilation: vec![1, 1],
        padding: Padding::Same,
        groups: 1,
        channels_first: false,
        use_bias: true,
        activation: Activation::RELU,
        kind: ConvKind::Standard,
    };
    let kernel = g.rng.tensor(&[3, 3, 2, 4], 0.5);
    let bias = g.rng.tensor(&[4], 0.5);
    let x = g.op(per_step(Op::Conv(conv), steps), &[clip], vec![kernel, bias]);
    let pool = Pool {
        kind: PoolKind::Max,
        window: vec![2, 2, 1],
        strides: vec![2, 2, 1],
        same: true,
        keep_only: None,
    };
    let x = g.op(per_step(Op::Pool(pool), steps), &[x], vec![]);
    let flat = Op::Reshape(Reshape { shape: vec![32] });
    let frames = g.op(per_step(flat, steps), &[x], vec![]);
    let q = g.input(&[steps, 5, 4]);
    let v = g.input(&[steps, 6, 4]);
    let attention = Attention {
        heads: 2,
        own_key: false,
        score: keqv::ops::attention::Score::Dot { scaled: false },
        scale: None,
        causal: true,
        fill: keqv::ops::attention::MaskFill::Replace(-1e9),
        zero_masked: false,
        query_mask: keqv::ops::attention::QueryMask::Scores,
        masks: Default::default(),
        emit_scores: false,
    };
    let rows = g.op(per_step(Op::Attention(attention), steps), &[q, v], vec![]);
    let graph = g.finish(&[frames, rows]);
    let inputs = inputs_for(&graph, 3, 302, 1.0);
    check(
        "per-step conv, pool, flatten and attention",
        &graph,
        &inputs,
        &*reduction_tol(),
        false,
    );
}

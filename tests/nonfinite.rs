//! NaN and ±inf flow through every op as Keras computes them, on the CPU executor (f32 and f64)
//! and on every GPU adapter (lavapipe and llvmpipe in CI; `KEQV_REQUIRE_GPU=1` makes a missing
//! adapter fail), with every dense kernel and both ways of reading elementwise inputs.
//!
//! The expected outputs are Keras's own: Keras 3.15.1 on jax and tf-keras 2.21.0 on TensorFlow
//! give the same class of result (NaN, +inf, −inf or a value) for every case here, except where
//! a case says which Keras it follows. A NaN must come out NaN and an infinity the same infinity;
//! a value must come out within 1e-4 (relative above 1).

mod common;

use std::sync::Arc;

use common::activations::relu;
use common::gpu::dense_kernels;
use common::graphs::push_node;

use keqv::exec::cpu::{CpuExecutor, Precision};
use keqv::exec::gpu::{self, DenseKernel, GpuContext, GpuExecutor};
use keqv::exec::{Executor, Keep};
use keqv::graph::{Activation, Graph, MergeKind, NodeId, Op};
use keqv::ops::window::Padding;
use keqv::ops::{
    BatchNorm, Conv, ConvKind, Dense, Dot, GroupNorm, Interpolation, L2Normalize, LayerNorm, PRelu,
    Pad, Pool, PoolKind, Resample, RmsNorm, Scale, ScaleKind, Softmax, Target,
};
use keqv::tensor::Tensor;
use ndarray::{ArrayD, IxDyn};

const N: f32 = f32::NAN;
const I: f32 = f32::INFINITY;
const NI: f32 = f32::NEG_INFINITY;

fn tensor(shape: &[usize], values: &[f32]) -> Tensor {
    ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).expect("values fill the shape")
}

/// A graph of one op on `inputs` (sample shapes), with `weights`.
fn one_op(op: Op, inputs: &[&[usize]], weights: Vec<Tensor>) -> Arc<Graph> {
    let mut graph = Graph {
        name: "nonfinite".into(),
        ..Default::default()
    };
    let mut node = |op: Op, ins: Vec<NodeId>, weights: Vec<Tensor>, shape: Vec<usize>| {
        let name = format!("n{}", graph.nodes.len());
        push_node(&mut graph, name, op, ins, weights, shape)
    };
    let ids: Vec<NodeId> = inputs
        .iter()
        .map(|s| node(Op::Input, vec![], vec![], s.to_vec()))
        .collect();
    let out_shape = op
        .output_shape(inputs)
        .unwrap_or_else(|e| panic!("bad test graph: {e}"));
    let out = node(op, ids.clone(), weights, out_shape);
    graph.inputs = ids;
    graph.outputs = vec![out];
    Arc::new(graph)
}

/// Whether `got` is what Keras gives where Keras gives `want`.
fn same_class(got: f32, want: f32) -> bool {
    if want.is_nan() {
        got.is_nan()
    } else if want.is_infinite() {
        got == want
    } else {
        (got - want).abs() <= 1e-4 * want.abs().max(1.0)
    }
}

struct Case {
    what: String,
    graph: Arc<Graph>,
    inputs: Vec<Tensor>,
    /// Keras's output, row-major, batch first.
    want: Vec<f32>,
}

impl Case {
    fn new(what: impl Into<String>, graph: Arc<Graph>, inputs: Vec<Tensor>, want: &[f32]) -> Case {
        Case {
            what: what.into(),
            graph,
            inputs,
            want: want.to_vec(),
        }
    }

    /// The elements that differ from Keras, described; empty when all match.
    fn mismatches(&self, got: &Tensor) -> Vec<String> {
        assert_eq!(got.len(), self.want.len(), "{}: output size", self.what);
        got.iter()
            .zip(&self.want)
            .enumerate()
            .filter(|(_, (&g, &w))| !same_class(g, w))
            .map(|(i, (g, w))| format!("[{i}] got {g}, Keras {w}"))
            .collect()
    }
}

/// Runs every case on the CPU (f32 and f64) and on every GPU executor; fails listing every
/// element that differs from Keras.
fn run_everywhere(cases: &[Case], all_dense: bool) {
    let mut failures = Vec::new();
    let mut record = |device: &str, case: &Case, got: &Tensor| {
        let bad = case.mismatches(got);
        if !bad.is_empty() {
            failures.push(format!("[{device}] {}: {}", case.what, bad.join(", ")));
        }
    };
    for case in cases {
        for precision in [Precision::F32, Precision::F64] {
            let trace = CpuExecutor::new(case.graph.clone(), precision)
                .run(&case.inputs, Keep::Outputs)
                .unwrap();
            record(&format!("cpu {precision:?}"), case, trace.outputs()[0]);
        }
    }
    for ctx in gpu::test_adapters() {
        for (name, kernel, windows) in gpu_variants(&ctx, all_dense) {
            for case in cases {
                let mut exec =
                    GpuExecutor::with_dense_kernel(ctx.clone(), case.graph.clone(), kernel)
                        .unwrap_or_else(|e| panic!("[{name}] {}: {e}", case.what))
                        .with_uniform_windows(windows);
                let trace = exec
                    .run(&case.inputs, Keep::Outputs)
                    .unwrap_or_else(|e| panic!("[{name}] {}: {e}", case.what));
                record(&name, case, trace.outputs()[0]);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ from Keras:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The GPU executors of an adapter: its own dense kernel with elementwise inputs read both ways,
/// and with `all_dense` every other dense kernel too.
fn gpu_variants(ctx: &Arc<GpuContext>, all_dense: bool) -> Vec<(String, DenseKernel, bool)> {
    let default = DenseKernel::for_context(ctx);
    let mut out = vec![(default, true), (default, false)];
    if all_dense {
        out.extend(
            dense_kernels(ctx)
                .into_iter()
                .filter(|k| *k != default)
                .map(|k| (k, ctx.is_software())),
        );
    }
    out.into_iter()
        .map(|(k, w)| {
            (
                format!("{} / {k:?} / uniform windows {w}", ctx.describe()),
                k,
                w,
            )
        })
        .collect()
}

// ---------- elementwise activations ----------

/// Three samples of [NaN, +inf, −inf, 1], rotated so that each special value meets every lane
/// of a four-wide vector.
fn specials() -> Tensor {
    tensor(&[3, 4], &[N, I, NI, 1.0, 1.0, N, I, NI, NI, 1.0, N, I])
}

/// Keras's outputs for `specials()`, from f(NaN), f(+inf), f(−inf), f(1).
fn rotated(at: [f32; 4]) -> Vec<f32> {
    let [n, i, ni, one] = at;
    vec![n, i, ni, one, one, n, i, ni, ni, one, n, i]
}

/// tf-keras's relu with a threshold: `x · (x > threshold)`.
fn relu_tf_keras(negative_slope: f32, max_value: Option<f32>, threshold: f32) -> Activation {
    Activation::Relu {
        negative_slope,
        max_value,
        threshold,
        threshold_by_product: true,
    }
}

/// Each activation with Keras's f(NaN), f(+inf), f(−inf), f(1).
fn activation_table() -> Vec<(Activation, [f32; 4])> {
    vec![
        (Activation::Linear, [N, I, NI, 1.0]),
        (Activation::RELU, [N, I, 0.0, 1.0]),
        // relu6 (max_value 6)
        (relu(0.0, Some(6.0), 0.0), [N, 6.0, 0.0, 1.0]),
        (relu(0.0, Some(5.0), 0.0), [N, 5.0, 0.0, 1.0]),
        // leaky_relu, LeakyReLU
        (relu(0.2, None, 0.0), [N, I, NI, 1.0]),
        (relu(0.1, None, 0.0), [N, I, NI, 1.0]),
        // Keras 3 selects 0 below the threshold (`where(x > t, x, 0)`): NaN and −inf give 0.
        (relu(0.0, None, 0.5), [0.0, I, 0.0, 1.0]),
        (relu(0.1, None, 0.5), [N, I, NI, 1.0]),
        (relu(0.1, Some(6.0), 0.5), [N, 6.0, NI, 1.0]),
        // tf-keras multiplies by `x > t`: NaN·0 and −inf·0 are NaN.
        (relu_tf_keras(0.0, None, 0.5), [N, I, N, 1.0]),
        (relu_tf_keras(0.1, None, 0.5), [N, I, N, 1.0]),
        (relu_tf_keras(0.1, Some(6.0), 0.5), [N, 6.0, N, 1.0]),
        (Activation::Sigmoid, [N, 1.0, 0.0, 0.731_058_6]),
        (Activation::Tanh, [N, 1.0, -1.0, 0.761_594_2]),
        (Activation::Elu { alpha: 1.0 }, [N, I, -1.0, 1.0]),
        (Activation::Elu { alpha: 0.7 }, [N, I, -0.7, 1.0]),
        (Activation::Selu, [N, I, -1.758_099_3, 1.050_701]),
        (Activation::Softplus, [N, I, 0.0, 1.313_261_7]),
        (Activation::Softsign, [N, N, N, 0.5]),
        (Activation::Silu, [N, I, N, 0.731_058_6]),
        (Activation::Gelu, [N, I, N, 0.841_344_7]),
        (Activation::GeluTanh, [N, I, N, 0.841_191_9]),
        (
            Activation::HardSigmoid { slope: 1.0 / 6.0 },
            [N, 1.0, 0.0, 0.666_666_7],
        ),
        (Activation::HardSigmoid { slope: 0.2 }, [N, 1.0, 0.0, 0.7]),
        (Activation::HardSilu, [N, I, N, 0.666_666_7]),
        (Activation::Exponential, [N, I, 0.0, std::f32::consts::E]),
        (Activation::Mish, [N, I, N, 0.865_098_4]),
    ]
}

#[test]
fn activations_keep_nan_and_infinities_as_keras_does() {
    let cases: Vec<Case> = activation_table()
        .into_iter()
        .map(|(act, at)| {
            Case::new(
                format!("activation {}", act.name()),
                one_op(Op::Activation(act), &[&[4]], vec![]),
                vec![specials()],
                &rotated(at),
            )
        })
        .collect();
    run_everywhere(&cases, false);
}

#[test]
fn prelu_keeps_nan_and_infinities() {
    let alpha = tensor(&[4], &[0.25; 4]);
    let case = Case::new(
        "prelu",
        one_op(Op::PRelu(PRelu::default()), &[&[4]], vec![alpha]),
        vec![specials()],
        &rotated([N, I, NI, 1.0]),
    );
    run_everywhere(&[case], false);
}

#[test]
fn pad_and_crop_move_nan_and_infinities_and_add_plain_zeros() {
    // specials() rows are [NaN, inf, −inf, 1], [1, NaN, inf, −inf], [−inf, 1, NaN, inf]: one
    // zero before, the last column cropped.
    let pad = Pad {
        before: vec![1],
        after: vec![-1],
    };
    let want = [[0.0, N, I, NI], [0.0, 1.0, N, I], [0.0, NI, 1.0, N]];
    let case = Case::new(
        "pad",
        one_op(Op::Pad(pad), &[&[4]], vec![]),
        vec![specials()],
        want.as_flattened(),
    );
    run_everywhere(&[case], false);
}

#[test]
fn dot_propagates_nan_and_infinities_through_its_sums_and_norms() {
    // A NaN, an infinity meeting a number and a zero, −inf, a zero vector. Normalized, an
    // infinite norm turns the infinity into NaN (Keras 3: x · rsqrt(inf) = inf · 0; tf-keras
    // the same) and a zero vector stays 0 (its norm floored).
    let x = tensor(
        &[4, 3],
        &[N, 1.0, 2.0, I, 1.0, 0.0, 1.0, NI, 2.0, 0.0, 0.0, 0.0],
    );
    let y = tensor(
        &[4, 3],
        &[1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 3.0],
    );
    let dot = |normalize| {
        Op::Dot(Dot {
            axes: [1, 1],
            normalize,
        })
    };
    let cases = [
        Case::new(
            "dot",
            one_op(dot(None), &[&[3], &[3]], vec![]),
            vec![x.clone(), y.clone()],
            &[N, I, NI, 0.0],
        ),
        Case::new(
            "dot normalize",
            one_op(dot(Some(1e-14)), &[&[3], &[3]], vec![]),
            vec![x, y],
            &[N, N, N, 0.0],
        ),
    ];
    run_everywhere(&cases, false);
}

#[test]
fn pooling_propagates_nan_through_max_and_mean() {
    // specials() rows [NaN, inf, −inf, 1], [1, NaN, inf, −inf], [−inf, 1, NaN, inf] as 4 steps
    // of one channel, pooled in pairs: NaN goes through max (as in jax) and through the sum.
    let pool = |kind| {
        Op::Pool(Pool {
            kind,
            window: vec![2, 1],
            strides: vec![2, 1],
            same: false,
            keep_only: None,
        })
    };
    let input = specials().into_shape_with_order(IxDyn(&[3, 4, 1])).unwrap();
    let cases = [
        Case::new(
            "max pool",
            one_op(pool(PoolKind::Max), &[&[4, 1]], vec![]),
            vec![input.clone()],
            &[N, 1.0, N, I, 1.0, N],
        ),
        Case::new(
            "average pool",
            one_op(pool(PoolKind::Average), &[&[4, 1]], vec![]),
            vec![input],
            &[N, NI, N, N, NI, N],
        ),
    ];
    run_everywhere(&cases, false);
}

#[test]
fn conv_propagates_nan_and_infinities_through_its_sums() {
    // specials() rows as 4 steps of one channel, a 2-tap kernel of ones, `valid`: each output
    // is the sum of two neighbours, NaN where either is NaN or inf meets −inf.
    let conv = Conv {
        filters: 1,
        window: vec![2],
        strides: vec![1],
        dilation: vec![1],
        padding: Padding::Valid,
        groups: 1,
        channels_first: false,
        use_bias: false,
        activation: Activation::Linear,
        kind: ConvKind::Standard,
    };
    let input = specials().into_shape_with_order(IxDyn(&[3, 4, 1])).unwrap();
    let kernel = tensor(&[2, 1, 1], &[1.0, 1.0]);
    let case = Case::new(
        "conv",
        one_op(Op::Conv(conv), &[&[4, 1]], vec![kernel]),
        vec![input],
        &[N, N, NI, N, N, N, NI, N, N],
    );
    run_everywhere(&[case], false);
}

#[test]
fn transposed_conv_propagates_nan_and_infinities_through_its_sums() {
    // specials() rows as 4 steps of one channel, a 2-tap kernel of ones, stride 1, `valid`:
    // output o (of 5) is x[o] + x[o − 1] where they exist.
    let conv = Conv {
        filters: 1,
        window: vec![2],
        strides: vec![1],
        dilation: vec![1],
        padding: Padding::Valid,
        groups: 1,
        channels_first: false,
        use_bias: false,
        activation: Activation::Linear,
        kind: ConvKind::Transpose {
            output_padding: None,
        },
    };
    let input = specials().into_shape_with_order(IxDyn(&[3, 4, 1])).unwrap();
    let kernel = tensor(&[2, 1, 1], &[1.0, 1.0]);
    let case = Case::new(
        "conv_transpose",
        one_op(Op::Conv(conv), &[&[4, 1]], vec![kernel]),
        vec![input],
        &[N, N, N, NI, 1.0, 1.0, N, N, N, NI, NI, NI, N, N, I],
    );
    run_everywhere(&[case], false);
}

#[test]
fn resampling_and_scaling_carry_nan_and_infinities() {
    // Nearest upsampling repeats each value; Rescaling x·2 + 1; Normalization (x − 1) / 2.
    let input = specials().into_shape_with_order(IxDyn(&[3, 4, 1])).unwrap();
    let upsample = Op::Resample(Resample {
        interpolation: Interpolation::Nearest,
        channels_first: false,
        fill: 0.0,
        target: Target::Factors(vec![2]),
    });
    let twice: Vec<f32> = specials().iter().flat_map(|&v| [v, v]).collect();
    let rescale = Op::Scale(Scale {
        kind: ScaleKind::Rescale {
            scale: vec![2.0],
            offset: vec![1.0],
        },
        axes: vec![],
    });
    let normalize = Op::Scale(Scale {
        kind: ScaleKind::Normalize {
            stats: Some((vec![1.0], vec![4.0])),
            invert: false,
        },
        axes: vec![],
    });
    let cases = vec![
        Case::new(
            "upsample",
            one_op(upsample, &[&[4, 1]], vec![]),
            vec![input],
            &twice,
        ),
        Case::new(
            "rescale",
            one_op(rescale, &[&[4]], vec![]),
            vec![specials()],
            &rotated([N, I, NI, 3.0]),
        ),
        Case::new(
            "normalize",
            one_op(normalize, &[&[4]], vec![]),
            vec![specials()],
            &rotated([N, I, NI, 0.0]),
        ),
    ];
    run_everywhere(&cases, false);
}

// ---------- softmax ----------

/// Rows of three logits and Keras's softmax and log-softmax of each (jax.nn.softmax; tf-keras
/// agrees where TensorFlow runs without oneDNN, see models/README.md).
fn softmax_rows() -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let rows: [([f32; 3], [f32; 3], [f32; 3]); 8] = [
        (
            [1.0, 2.0, 3.0],
            [0.090_030_57, 0.244_728_48, 0.665_240_94],
            [-2.407_606, -1.407_606, -0.407_606],
        ),
        ([1.0, N, 2.0], [N; 3], [N; 3]),
        // +inf: inf − inf is NaN, and the sum with it
        ([1.0, I, 2.0], [N; 3], [N; 3]),
        (
            [1.0, NI, 2.0],
            [0.268_941_43, 0.0, 0.731_058_6],
            [-1.313_261_7, NI, -0.313_261_7],
        ),
        ([I, I, 0.0], [N; 3], [N; 3]),
        ([NI, NI, NI], [N; 3], [N; 3]),
        ([I, NI, 1.0], [N; 3], [N; 3]),
        ([NI, 0.0, NI], [0.0, 1.0, 0.0], [NI, 0.0, NI]),
    ];
    let mut x = Vec::new();
    let mut soft = Vec::new();
    let mut log = Vec::new();
    for (r, s, l) in rows {
        x.extend(r);
        soft.extend(s);
        log.extend(l);
    }
    (x, soft, log)
}

#[test]
fn softmax_and_log_softmax_over_the_last_axis() {
    let (x, soft, log) = softmax_rows();
    let input = tensor(&[x.len() / 3, 3], &x);
    let cases = vec![
        Case::new(
            "softmax",
            one_op(Op::Activation(Activation::Softmax), &[&[3]], vec![]),
            vec![input.clone()],
            &soft,
        ),
        Case::new(
            "log_softmax",
            one_op(Op::Activation(Activation::LogSoftmax), &[&[3]], vec![]),
            vec![input],
            &log,
        ),
    ];
    run_everywhere(&cases, false);
}

#[test]
fn softmax_layer_over_another_axis() {
    // Softmax(axis=1) on [2, 2] samples: jax.nn.softmax over each column.
    let x = [1.0, 2.0, I, 0.0, 1.0, 2.0, 3.0, N, 1.0, NI, 2.0, 3.0];
    let want = [
        N,
        0.880_797,
        N,
        0.119_203, // column [1, inf]: NaN
        0.119_203,
        N,
        0.880_797,
        N, // column [2, NaN]: NaN
        0.268_941_4,
        0.0,
        0.731_058_6,
        1.0,
    ];
    let case = Case::new(
        "softmax over axis 1",
        one_op(
            Op::Softmax(Softmax {
                axes: vec![1],
                log: false,
                logsumexp: false,
            }),
            &[&[2, 2]],
            vec![],
        ),
        vec![tensor(&[3, 2, 2], &x)],
        &want,
    );
    run_everywhere(&[case], false);
}

#[test]
fn softmax_layer_over_several_axes_shifts_by_logsumexp() {
    // Softmax(axis=(1, 2)) on [2, 2] samples: exp(x − logsumexp(x)) in both Keras. Its shift is
    // the max only where finite, so a +inf gives NaN there and 0 elsewhere.
    let x = [
        1.0, 2.0, 3.0, N, //
        1.0, 2.0, I, 0.0, //
        1.0, NI, 2.0, 3.0, //
        NI, NI, NI, NI, //
        1.0, 2.0, 3.0, 4.0,
    ];
    let soft = [
        N,
        N,
        N,
        N, //
        0.0,
        0.0,
        N,
        0.0, //
        0.090_030_57,
        0.0,
        0.244_728_48,
        0.665_240_94, //
        N,
        N,
        N,
        N, //
        0.032_058_6,
        0.087_144_32,
        0.236_882_82,
        0.643_914_3,
    ];
    let log = [
        N, N, N, N, //
        NI, NI, N, NI, //
        -2.407_606, NI, -1.407_606, -0.407_606, //
        N, N, N, N, //
        -3.440_19, -2.440_19, -1.440_19, -0.440_19,
    ];
    let input = tensor(&[5, 2, 2], &x);
    let cases: Vec<Case> = [(false, &soft), (true, &log)]
        .into_iter()
        .map(|(log, want)| {
            Case::new(
                format!("softmax over axes 1, 2 (log {log})"),
                one_op(
                    Op::Softmax(Softmax {
                        axes: vec![1, 2],
                        log,
                        logsumexp: true,
                    }),
                    &[&[2, 2]],
                    vec![],
                ),
                vec![input.clone()],
                want,
            )
        })
        .collect();
    run_everywhere(&cases, false);
}

// ---------- merges ----------

#[test]
fn merges_propagate_nan_and_combine_infinities() {
    let a = [N, N, N, I, I, I, NI, NI, NI, 1.0, 1.0, 1.0, N, 2.0];
    let b = [N, 1.0, I, N, 1.0, NI, N, 1.0, I, N, I, NI, NI, 3.0];
    let table: [(MergeKind, [f32; 14]); 7] = [
        (
            MergeKind::Maximum,
            [N, N, N, N, I, I, N, 1.0, I, N, I, 1.0, N, 3.0],
        ),
        (
            MergeKind::Minimum,
            [N, N, N, N, 1.0, NI, N, NI, NI, N, 1.0, NI, N, 2.0],
        ),
        (
            MergeKind::Add,
            [N, N, N, N, I, N, N, NI, N, N, I, NI, N, 5.0],
        ),
        (
            MergeKind::Subtract,
            [N, N, N, N, I, I, N, NI, NI, N, NI, I, N, -1.0],
        ),
        (
            MergeKind::Multiply,
            [N, N, N, N, I, NI, N, NI, NI, N, I, NI, N, 6.0],
        ),
        (
            MergeKind::Average,
            [N, N, N, N, I, N, N, NI, N, N, I, NI, N, 2.5],
        ),
        (
            // a + b·(−0.5): the infinities of b change sign.
            MergeKind::ScaledAdd { scale: -0.5 },
            [N, N, N, N, I, I, N, NI, NI, N, NI, I, N, 0.5],
        ),
    ];
    let inputs = vec![tensor(&[1, 14], &a), tensor(&[1, 14], &b)];
    let cases: Vec<Case> = table
        .into_iter()
        .map(|(kind, want)| {
            Case::new(
                format!("{kind:?}"),
                one_op(Op::Merge(kind), &[&[14], &[14]], vec![]),
                inputs.clone(),
                &want,
            )
        })
        .collect();
    run_everywhere(&cases, false);
}

#[test]
fn three_way_maximum_and_minimum_keep_a_nan_from_any_input() {
    // Keras folds left to right: max(max(a, b), c).
    let a = [N, 1.0, 1.0, 2.0];
    let b = [1.0, N, 1.0, NI];
    let c = [1.0, 1.0, N, I];
    let inputs = vec![
        tensor(&[1, 4], &a),
        tensor(&[1, 4], &b),
        tensor(&[1, 4], &c),
    ];
    let cases = vec![
        Case::new(
            "maximum of three",
            one_op(Op::Merge(MergeKind::Maximum), &[&[4], &[4], &[4]], vec![]),
            inputs.clone(),
            &[N, N, N, I],
        ),
        Case::new(
            "minimum of three",
            one_op(Op::Merge(MergeKind::Minimum), &[&[4], &[4], &[4]], vec![]),
            inputs,
            &[N, N, N, NI],
        ),
    ];
    run_everywhere(&cases, false);
}

// ---------- normalizations ----------

#[test]
fn batch_norm_keeps_nan_and_infinities() {
    let w = |v: f32| tensor(&[4], &[v; 4]);
    let graph = one_op(
        Op::BatchNorm(BatchNorm {
            axes: vec![1],
            epsilon: 1e-3,
            center: true,
            scale: true,
        }),
        &[&[4]],
        vec![w(1.5), w(0.1), w(0.2), w(1.0)],
    );
    let case = Case::new(
        "batch_norm",
        graph,
        vec![specials()],
        &rotated([N, I, NI, 1.299_400_4]),
    );
    run_everywhere(&[case], false);
}

/// Rows of four that a normalisation over the last axis sees.
fn norm_rows() -> Tensor {
    tensor(
        &[7, 4],
        &[
            1.0, 2.0, 3.0, 4.0, //
            1.0, N, 3.0, 4.0, //
            1.0, I, 3.0, 4.0, //
            1.0, NI, 3.0, 4.0, //
            I, I, 3.0, 4.0, //
            I, NI, 1.0, 2.0, //
            0.0, 0.0, 0.0, 0.0,
        ],
    )
}

#[test]
fn layer_norm_gives_nan_rows_for_any_nonfinite_element() {
    let gamma = tensor(&[4], &[1.0; 4]);
    let beta = tensor(&[4], &[0.0; 4]);
    let layer_norm = |rms_scaling: bool| {
        Op::LayerNorm(LayerNorm {
            axes: vec![1],
            epsilon: 1e-3,
            center: !rms_scaling,
            scale: true,
            rms_scaling,
        })
    };
    let nan_rows = |first: [f32; 4]| {
        let mut v = first.to_vec();
        v.extend([N; 20]);
        v.extend([0.0; 4]);
        v
    };
    let cases = vec![
        Case::new(
            "layer_norm",
            one_op(layer_norm(false), &[&[4]], vec![gamma.clone(), beta]),
            vec![norm_rows()],
            &nan_rows([-1.341_1, -0.447_03, 0.447_03, 1.341_1]),
        ),
        Case::new(
            "layer_norm with rms_scaling",
            one_op(layer_norm(true), &[&[4]], vec![gamma]),
            vec![norm_rows()],
            &nan_rows([0.894_1, 1.788_1, 2.682_2, 3.576_3]),
        ),
    ];
    run_everywhere(&cases, false);
}

#[test]
fn group_norm_and_rms_norm_over_rows_with_nan_and_infinities() {
    let gamma = tensor(&[4], &[1.0; 4]);
    let beta = tensor(&[4], &[0.0; 4]);
    // One group of all four channels: layer norm's rows; NaN wherever a row is not finite.
    let mut group = vec![-1.341_1, -0.447_03, 0.447_03, 1.341_1];
    group.extend([N; 20]);
    group.extend([0.0; 4]);
    // The mean square of a row holding an infinity is inf: its finite values become 0 and its
    // infinities NaN (x · 0).
    let rms = [
        0.365_148, 0.730_297, 1.095_445, 1.460_593, //
        N, N, N, N, //
        0.0, N, 0.0, 0.0, //
        0.0, N, 0.0, 0.0, //
        N, N, 0.0, 0.0, //
        N, N, 0.0, 0.0, //
        0.0, 0.0, 0.0, 0.0,
    ];
    let cases = vec![
        Case::new(
            "group_norm",
            one_op(
                Op::GroupNorm(GroupNorm {
                    axis: 1,
                    groups: 1,
                    epsilon: 1e-3,
                    center: true,
                    scale: true,
                }),
                &[&[4]],
                vec![gamma.clone(), beta],
            ),
            vec![norm_rows()],
            &group,
        ),
        Case::new(
            "rms_norm",
            one_op(
                Op::RmsNorm(RmsNorm {
                    axes: vec![1],
                    epsilon: 1e-6,
                }),
                &[&[4]],
                vec![gamma],
            ),
            vec![norm_rows()],
            &rms,
        ),
    ];
    run_everywhere(&cases, false);
}

#[test]
fn l2_normalize_divides_by_an_infinite_norm_and_keeps_nan() {
    let want = [
        0.182_574_19,
        0.365_148_37,
        0.547_722_6,
        0.730_296_7,
        N,
        N,
        N,
        N,
        0.0,
        N,
        0.0,
        0.0,
        0.0,
        N,
        0.0,
        0.0,
        N,
        N,
        0.0,
        0.0,
        N,
        N,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
    ];
    let cases: Vec<Case> = [1e-24, 1e-12]
        .into_iter()
        .map(|floor| {
            Case::new(
                format!("l2_normalize floor {floor}"),
                one_op(
                    Op::L2Normalize(L2Normalize {
                        axes: vec![1],
                        floor,
                    }),
                    &[&[4]],
                    vec![],
                ),
                vec![norm_rows()],
                &want,
            )
        })
        .collect();
    run_everywhere(&cases, false);
}

// ---------- dense ----------

#[test]
fn dense_with_nonfinite_inputs_through_every_kernel() {
    let kernel = tensor(&[3, 3], &[1.0, -1.0, 0.5, 0.2, 0.3, -0.4, 0.1, 0.2, 0.3]);
    let bias = tensor(&[3], &[0.0; 3]);
    let x = tensor(
        &[4, 3],
        &[N, 1.0, 2.0, I, 1.0, 2.0, NI, 1.0, 2.0, 1.0, 2.0, 3.0],
    );
    let dense = |activation: Activation| {
        one_op(
            Op::Dense(Dense {
                units: 3,
                use_bias: true,
                activation,
            }),
            &[&[3]],
            vec![kernel.clone(), bias.clone()],
        )
    };
    let table: [(Activation, [f32; 12]); 5] = [
        (
            Activation::Linear,
            [N, N, N, I, NI, I, NI, I, NI, 1.7, 0.2, 0.6],
        ),
        (
            Activation::RELU,
            [N, N, N, I, 0.0, I, 0.0, I, 0.0, 1.7, 0.2, 0.6],
        ),
        (
            Activation::HardSigmoid { slope: 1.0 / 6.0 },
            [
                N,
                N,
                N,
                1.0,
                0.0,
                1.0,
                0.0,
                1.0,
                0.0,
                0.783_333_3,
                0.533_333_3,
                0.6,
            ],
        ),
        (
            Activation::Softmax,
            [
                N,
                N,
                N,
                N,
                N,
                N,
                N,
                N,
                N,
                0.642_673,
                0.143_399_7,
                0.213_927_3,
            ],
        ),
        (
            Activation::LogSoftmax,
            [
                N,
                N,
                N,
                N,
                N,
                N,
                N,
                N,
                N,
                -0.442_119_2,
                -1.942_119_2,
                -1.542_119_2,
            ],
        ),
    ];
    let cases: Vec<Case> = table
        .into_iter()
        .map(|(act, want)| {
            Case::new(
                format!("dense+{}", act.name()),
                dense(act),
                vec![x.clone()],
                &want,
            )
        })
        .collect();
    run_everywhere(&cases, true);
}

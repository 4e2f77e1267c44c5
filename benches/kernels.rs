//! Kernel speed: dense (256³, 1024³, 2048³), relu over 16M floats, relu + add (the elementwise
//! merge of a skip connection), a layer norm and ResNet50's 3×3 convolutions at batch 32, on every
//! GPU adapter found and on the CPU executor, in one run; and the large MLP (784-4096-4096-4096-10)
//! at batch 1 on the CPU beside one read of its weights (two threads summing them: the floor of
//! its latency). Throughput is reported as elements/s, where an "element" of a dense or conv bench
//! is one FLOP (2 per multiply-add), so criterion's Gelem/s reads as GFLOP/s. Every GPU figure is
//! end to end (`Executor::run`: upload, dispatches, read back).
//!
//! `cargo bench --bench kernels`; `KEQV_BENCH_QUICK=1` keeps only 1024³, `KEQV_BENCH_SIZES=4096`
//! sets the dense sizes; `KEQV_BENCH_TILES=8x2,8x3`
//! adds a dense 1024³ sweep over software-GEMM tiles (rows x 4-column texels per invocation).

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keqv::exec::cpu::{CpuExecutor, Precision};
use keqv::exec::gpu::{self, DenseKernel, GpuContext, GpuExecutor, SoftTile};
use keqv::exec::{Executor, Keep};
use keqv::graph::{Activation, Graph, MergeKind, Node, NodeId, Op, Weight};
use keqv::ops::window::Padding;
use keqv::ops::{Conv, ConvKind, Dense, LayerNorm};
use keqv::tensor::Tensor;
use ndarray::{ArrayD, Ix2, IxDyn};

fn tensor(shape: &[usize], seed: u64) -> Tensor {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            ((s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), data).unwrap()
}

fn node(name: &str, op: Op, inputs: Vec<NodeId>, weights: Vec<Tensor>, shape: Vec<usize>) -> Node {
    Node {
        name: name.into(),
        layer: name.into(),
        class: "Bench".into(),
        op,
        inputs,
        weights: weights
            .into_iter()
            .map(|v| Weight::new("w", Arc::new(v)))
            .collect(),
        shape,
        op_layer: false,
    }
}

/// Input [k] -> op chain; the last node is the output.
fn graph(input: Vec<usize>, ops: Vec<(Op, Vec<Tensor>, Vec<usize>)>) -> Arc<Graph> {
    let mut nodes = vec![node("x", Op::Input, vec![], vec![], input)];
    for (i, (op, w, shape)) in ops.into_iter().enumerate() {
        nodes.push(node(&format!("n{i}"), op, vec![NodeId(i)], w, shape));
    }
    let last = NodeId(nodes.len() - 1);
    Arc::new(Graph {
        name: "bench".into(),
        nodes,
        inputs: vec![NodeId(0)],
        outputs: vec![last],
        mappings: Vec::new(),
    })
}

fn dense_graph(k: usize, n: usize) -> Arc<Graph> {
    let op = Op::Dense(Dense {
        units: n,
        use_bias: true,
        activation: Activation::Linear,
    });
    graph(
        vec![k],
        vec![(op, vec![tensor(&[k, n], 1), tensor(&[n], 2)], vec![n])],
    )
}

/// Square dense sizes: `KEQV_BENCH_SIZES=4096,8192` names them, `KEQV_BENCH_QUICK` keeps 1024.
fn dense_sizes() -> Vec<usize> {
    if let Ok(list) = std::env::var("KEQV_BENCH_SIZES") {
        return list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("KEQV_BENCH_SIZES: sizes separated by commas")
            })
            .collect();
    }
    if std::env::var_os("KEQV_BENCH_QUICK").is_some() {
        vec![1024]
    } else {
        vec![256, 1024, 2048]
    }
}

/// Everything a bench runs on: each GPU adapter with its default kernels, then the CPU.
fn executors(graph: &Arc<Graph>) -> Vec<(String, Box<dyn Executor>)> {
    executors_on(graph, gpu::test_adapters())
}

/// The executors on `adapters`, then the CPU's.
fn executors_on(
    graph: &Arc<Graph>,
    adapters: impl IntoIterator<Item = Arc<GpuContext>>,
) -> Vec<(String, Box<dyn Executor>)> {
    // As the binary does, so that large values reuse freed memory rather than fresh pages.
    keqv::exec::cpu::keep_freed_memory();
    let mut out: Vec<(String, Box<dyn Executor>)> = Vec::new();
    for ctx in adapters {
        let exec = GpuExecutor::new(ctx.clone(), graph.clone()).expect("prepare on the GPU");
        out.push((short_name(&ctx), Box::new(exec)));
    }
    let cpu = CpuExecutor::new(graph.clone(), Precision::F32);
    out.push((format!("cpu {}", cpu.device()), Box::new(cpu)));
    out
}

fn short_name(ctx: &GpuContext) -> String {
    ctx.describe().replace(" — ", " ").replace(", software", "")
}

fn configure(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    secs: u64,
) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(secs));
}

fn dense(c: &mut Criterion) {
    let sizes = dense_sizes();
    let mut group = c.benchmark_group("dense");
    for s in sizes {
        configure(&mut group, if s >= 2048 { 6 } else { 3 });
        group.throughput(Throughput::Elements(2 * (s as u64).pow(3)));
        let g = dense_graph(s, s);
        let x = vec![tensor(&[s, s], 3)];
        for (name, mut exec) in executors(&g) {
            exec.run(&x, Keep::Outputs).expect("warm-up run");
            group.bench_with_input(BenchmarkId::new(format!("{s}^3"), &name), &x, |b, x| {
                b.iter(|| exec.run(x, Keep::Outputs).unwrap())
            });
        }
        // The reference: ndarray's own threaded matrix product, no executor around it.
        let a = x[0].view().into_dimensionality::<Ix2>().unwrap();
        let w = g.nodes[1].weights[0]
            .value
            .view()
            .into_dimensionality::<Ix2>()
            .unwrap();
        group.bench_function(BenchmarkId::new(format!("{s}^3"), "ndarray dot"), |b| {
            b.iter(|| a.dot(&w))
        });
    }
    group.finish();
}

fn tile_sweep(c: &mut Criterion) {
    let Ok(spec) = std::env::var("KEQV_BENCH_TILES") else {
        return;
    };
    let tiles: Vec<SoftTile> = spec
        .split(',')
        .filter_map(|t| {
            let (r, x) = t.trim().split_once('x')?;
            Some(SoftTile {
                rows: r.parse().ok()?,
                texels: x.parse().ok()?,
            })
        })
        .collect();
    let s = 1024;
    let g = dense_graph(s, s);
    let x = vec![tensor(&[s, s], 3)];
    let mut group = c.benchmark_group("tiles");
    configure(&mut group, 3);
    group.throughput(Throughput::Elements(2 * (s as u64).pow(3)));
    for ctx in gpu::test_adapters() {
        for subgroups in [false, true] {
            if subgroups && !ctx.has_subgroups() {
                continue;
            }
            for &tile in &tiles {
                let kind = DenseKernel::Texture { subgroups, tile };
                let mut exec =
                    GpuExecutor::with_dense_kernel(ctx.clone(), g.clone(), kind).unwrap();
                exec.run(&x, Keep::Outputs).unwrap();
                let id = format!(
                    "{} sg={subgroups} {}x{}",
                    short_name(&ctx),
                    tile.rows,
                    tile.texels
                );
                group.bench_with_input(BenchmarkId::new("1024^3", id), &x, |b, x| {
                    b.iter(|| exec.run(x, Keep::Outputs).unwrap())
                });
            }
        }
    }
    group.finish();
}

fn relu(c: &mut Criterion) {
    if std::env::var_os("KEQV_BENCH_QUICK").is_some() {
        return;
    }
    // 16 samples of 1M floats; one relu, and a chain of 8 (the difference is 7 kernels' time).
    let n = 1 << 20;
    let x = vec![tensor(&[16, n], 4)];
    let mut group = c.benchmark_group("relu_16M");
    configure(&mut group, 3);
    for chain in [1usize, 8] {
        group.throughput(Throughput::Elements((16 * n * chain) as u64));
        let ops = (0..chain)
            .map(|_| (Op::Activation(Activation::RELU), vec![], vec![n]))
            .collect();
        let g = graph(vec![n], ops);
        for (name, mut exec) in executors(&g) {
            exec.run(&x, Keep::Outputs).expect("warm-up run");
            group.bench_with_input(BenchmarkId::new(format!("x{chain}"), &name), &x, |b, x| {
                b.iter(|| exec.run(x, Keep::Outputs).unwrap())
            });
        }
    }
    group.finish();
}

fn layer_norm(c: &mut Criterion) {
    if std::env::var_os("KEQV_BENCH_QUICK").is_some() {
        return;
    }
    let (rows, f) = (4096, 1024);
    let op = Op::LayerNorm(LayerNorm {
        axes: vec![1],
        epsilon: 1e-3,
        center: true,
        scale: true,
        rms_scaling: false,
    });
    let g = graph(
        vec![f],
        vec![(op, vec![tensor(&[f], 5), tensor(&[f], 6)], vec![f])],
    );
    let x = vec![tensor(&[rows, f], 7)];
    let mut group = c.benchmark_group("layer_norm_4096x1024");
    configure(&mut group, 3);
    group.throughput(Throughput::Elements((rows * f) as u64));
    for (name, mut exec) in executors(&g) {
        exec.run(&x, Keep::Outputs).expect("warm-up run");
        group.bench_with_input(BenchmarkId::from_parameter(&name), &x, |b, x| {
            b.iter(|| exec.run(x, Keep::Outputs).unwrap())
        });
    }
    group.finish();
}

/// The skip-connection pattern, relu then add (16 samples of 1M floats): the elementwise merge.
fn residual_add(c: &mut Criterion) {
    if std::env::var_os("KEQV_BENCH_QUICK").is_some() {
        return;
    }
    let n = 1 << 20;
    let nodes = vec![
        node("x", Op::Input, vec![], vec![], vec![n]),
        node(
            "relu",
            Op::Activation(Activation::RELU),
            vec![NodeId(0)],
            vec![],
            vec![n],
        ),
        node(
            "add",
            Op::Merge(MergeKind::Add),
            vec![NodeId(0), NodeId(1)],
            vec![],
            vec![n],
        ),
    ];
    let g = Arc::new(Graph {
        name: "bench".into(),
        nodes,
        inputs: vec![NodeId(0)],
        outputs: vec![NodeId(2)],
        mappings: Vec::new(),
    });
    let x = vec![tensor(&[16, n], 8)];
    let mut group = c.benchmark_group("relu_add_16M");
    configure(&mut group, 3);
    group.throughput(Throughput::Elements((16 * n) as u64));
    for (name, mut exec) in executors(&g) {
        exec.run(&x, Keep::Outputs).expect("warm-up run");
        group.bench_with_input(BenchmarkId::from_parameter(&name), &x, |b, x| {
            b.iter(|| exec.run(x, Keep::Outputs).unwrap())
        });
    }
    group.finish();
}

/// The large MLP at batch 1 on the CPU executor, beside one read of its weights from memory (both
/// threads summing all of them, vectorised): the floor of its latency, as bytes/s.
fn mlp_batch1(c: &mut Criterion) {
    if std::env::var_os("KEQV_BENCH_QUICK").is_some() {
        return;
    }
    let widths = [784, 4096, 4096, 4096, 10];
    let ops: Vec<_> = widths
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let op = Op::Dense(Dense {
                units: w[1],
                use_bias: true,
                activation: Activation::RELU,
            });
            let seed = 10 + 2 * i as u64;
            let weights = vec![tensor(&[w[0], w[1]], seed), tensor(&[w[1]], seed + 1)];
            (op, weights, vec![w[1]])
        })
        .collect();
    let g = graph(vec![widths[0]], ops);
    let weights: Vec<Arc<Tensor>> = g
        .nodes
        .iter()
        .flat_map(|n| n.weights.iter().map(|w| w.value.clone()))
        .collect();
    let bytes: usize = weights.iter().map(|w| w.len() * 4).sum();
    let x = vec![tensor(&[1, widths[0]], 9)];
    let mut group = c.benchmark_group("mlp_batch1");
    configure(&mut group, 3);
    group.throughput(Throughput::Bytes(bytes as u64));
    keqv::exec::cpu::keep_freed_memory();
    let mut cpu = CpuExecutor::new(g.clone(), Precision::F32);
    cpu.run(&x, Keep::Outputs).expect("warm-up run");
    group.bench_function("cpu", |b| b.iter(|| cpu.run(&x, Keep::Outputs).unwrap()));
    group.bench_function("read the weights", |b| b.iter(|| read_all(&weights)));
    group.finish();
}

/// Every value of `weights` read once, in parallel, 16 lanes per thread.
fn read_all(weights: &[Arc<Tensor>]) -> f32 {
    use rayon::prelude::*;
    let slices: Vec<&[f32]> = weights.iter().map(|w| w.as_slice().unwrap()).collect();
    let lanes = |chunk: &[f32]| {
        let mut acc = [0.0f32; 16];
        for v in chunk.chunks_exact(16) {
            acc.iter_mut().zip(v).for_each(|(a, v)| *a += v);
        }
        acc.iter().sum::<f32>()
    };
    slices
        .par_iter()
        .flat_map(|s| s.par_chunks(1 << 16))
        .map(lanes)
        .sum()
}

/// ResNet50's 3×3 convolutions, one per stage (batch 32, 56² × 64 down to 7² × 512, 'same',
/// channels last), on every hardware adapter and the CPU; throughput in FLOP (2 · multiply-adds).
/// `scripts/gpu_compare.py` times the same convolutions in cuDNN.
fn conv(c: &mut Criterion) {
    if std::env::var_os("KEQV_BENCH_QUICK").is_some() {
        return;
    }
    let batch = 32;
    let mut group = c.benchmark_group("conv3x3");
    configure(&mut group, 5);
    for (side, channels) in CONV_STAGES {
        let op = Op::Conv(Conv {
            filters: channels,
            window: vec![3, 3],
            strides: vec![1, 1],
            dilation: vec![1, 1],
            padding: Padding::Same,
            groups: 1,
            channels_first: false,
            use_bias: true,
            activation: Activation::Linear,
            kind: ConvKind::Standard,
        });
        let shape = vec![side, side, channels];
        let weights = vec![
            tensor(&[3, 3, channels, channels], 20),
            tensor(&[channels], 21),
        ];
        let g = graph(shape.clone(), vec![(op, weights, shape)]);
        let x = vec![tensor(&[batch, side, side, channels], 22)];
        let flops = 2 * batch * side * side * 9 * channels * channels;
        group.throughput(Throughput::Elements(flops as u64));
        // Software adapters take minutes per sample here; BENCHMARKS.md times them on whole
        // models with `keqv bench` instead.
        let hardware = gpu::test_adapters()
            .into_iter()
            .filter(|a| !a.is_software());
        for (name, mut exec) in executors_on(&g, hardware) {
            exec.run(&x, Keep::Outputs).expect("warm-up run");
            let id = BenchmarkId::new(format!("{side}x{side}x{channels}"), &name);
            group.bench_with_input(id, &x, |b, x| {
                b.iter(|| exec.run(x, Keep::Outputs).unwrap())
            });
        }
    }
    group.finish();
}

/// (height = width, channels) of ResNet50's 3×3 convolutions, stage by stage.
const CONV_STAGES: [(usize, usize); 4] = [(56, 64), (28, 128), (14, 256), (7, 512)];

criterion_group!(
    benches,
    tile_sweep,
    dense,
    relu,
    residual_add,
    layer_norm,
    mlp_batch1,
    conv
);
criterion_main!(benches);

//! The CPU GEMM on ResNet50's convolution shapes at batch 32 (im2col rows × taps·channels ×
//! filters) and two square products, f32: keqv's `ops::gemm::gemm` (the packed AVX-512 GEMM where the CPU has it) against
//! matrixmultiply (`reference_gemm`), in one run. Throughput is in FLOP (2·M·K·N per product), so
//! criterion's Gelem/s reads as GFLOP/s.
//!
//! `cargo bench --bench cpu_gemm`; `KEQV_BENCH_QUICK=1` keeps the two square shapes.
//! `benches/elementwise_baseline.py` times numpy's matmul on the same squares.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keqv::ops::gemm::{gemm, reference_gemm};
use ndarray::Array2;

const SHAPES: [(usize, usize, usize); 8] = [
    (1024, 1024, 1024),
    (2048, 2048, 2048),
    (1568, 2048, 512),
    (1568, 4608, 512),
    (6272, 2304, 256),
    (25088, 1152, 128),
    (100352, 64, 256),
    (100352, 576, 64),
];

fn matrix(rows: usize, cols: usize, seed: u32) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        let h = (r as u32).wrapping_mul(2_654_435_761) ^ (c as u32).wrapping_mul(40_503) ^ seed;
        (h % 1000) as f32 / 1000.0 - 0.5
    })
}

fn bench(crit: &mut Criterion) {
    let quick = std::env::var_os("KEQV_BENCH_QUICK").is_some();
    let mut group = crit.benchmark_group("cpu_gemm");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    for &(m, k, n) in SHAPES.iter().take(if quick { 2 } else { SHAPES.len() }) {
        let (a, b) = (matrix(m, k, 1), matrix(k, n, 2));
        let mut c = Array2::<f32>::zeros((m, n));
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let shape = format!("{m}x{k}x{n}");
        group.bench_function(BenchmarkId::new("keqv", &shape), |bench| {
            bench.iter(|| gemm(a.view(), b.view(), &mut c.view_mut(), false))
        });
        group.bench_function(BenchmarkId::new("matrixmultiply", &shape), |bench| {
            bench.iter(|| reference_gemm(a.view(), b.view(), &mut c.view_mut(), false))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Difference metrics reduced on the GPU (two models on one device) agree with the host's
//! float64 measurement, on every adapter `test_adapters()` finds: counts, mismatches,
//! histogram, worst element, max_abs and top-1 exactly; mean_abs, max_rel and min_atol_to_pass
//! within 1e-6 relative (float32 sums and quotients), snr_db within 1e-4 dB. Elements float32
//! cannot settle are measured on the host.

mod common;

use std::sync::Arc;

use common::rng::values;
use keqv::compare::{Accumulator, Metrics, Tolerance};
use keqv::exec::gpu::reduce;
use keqv::exec::gpu::{test_adapters, GpuContext};
use keqv::exec::DeviceChoice;
use keqv::graph::build::{build, BuildOptions};
use keqv::inputs::RandomInputs;
use keqv::keras::KerasModel;
use keqv::verify::{verify, InputSource, MetricsOn, Side, Tolerances, VerifyOptions};
use ndarray::{ArrayD, IxDyn};

fn side(rel: &str) -> Side {
    let model = KerasModel::load(&common::root().join("models").join(rel), None).unwrap();
    let graph = Arc::new(build(&model, &BuildOptions::default()).unwrap());
    Side { model, graph }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()) + 1e-12
}

fn assert_same(gpu: &Metrics, host: &Metrics, what: &str) {
    assert_eq!(gpu.count, host.count, "{what}: count");
    assert_eq!(gpu.mismatches, host.mismatches, "{what}: mismatches");
    assert_eq!(gpu.nan_mismatch, host.nan_mismatch, "{what}: nan");
    assert_eq!(gpu.inf_mismatch, host.inf_mismatch, "{what}: inf");
    assert_eq!(gpu.histogram, host.histogram, "{what}: histogram");
    assert_eq!(gpu.worst_index, host.worst_index, "{what}: worst index");
    assert_eq!(gpu.max_abs, host.max_abs, "{what}: max_abs");
    assert_eq!(gpu.top1_agreement, host.top1_agreement, "{what}: top-1");
    assert_eq!(gpu.passed, host.passed, "{what}: verdict");
    assert!(
        close(gpu.mean_abs, host.mean_abs),
        "{what}: mean_abs {} vs {}",
        gpu.mean_abs,
        host.mean_abs
    );
    assert!(
        close(gpu.max_rel, host.max_rel),
        "{what}: max_rel {} vs {}",
        gpu.max_rel,
        host.max_rel
    );
    match (gpu.snr_db, host.snr_db) {
        // Decibels: float32 sums of squares move it by about 1e-5 dB.
        (Some(g), Some(h)) => assert!((g - h).abs() < 1e-4, "{what}: snr {g} vs {h}"),
        (g, h) => assert_eq!(g, h, "{what}: snr"),
    }
    match (gpu.min_atol_to_pass, host.min_atol_to_pass) {
        (Some(g), Some(h)) => assert!(close(g, h), "{what}: min_atol {g} vs {h}"),
        (g, h) => assert_eq!(g, h, "{what}: min_atol"),
    }
}

/// Model pairs with no, small, large and NaN-free but saturated differences.
const PAIRS: &[(&str, &str)] = &[
    ("tfk/a_seq_mlp.h5", "tfk/a_func_mlp.h5"),
    ("tfk/a_seq_mlp.h5", "tfk/a_seq_mlp_perturbed.h5"),
    ("tfk/c_func_skip.h5", "tfk/c_seq_skip_dropped.h5"),
    ("tfk/e_zoo.h5", "k3/e_zoo.keras"),
];

#[test]
fn verify_on_one_gpu_reduces_there_and_agrees_with_the_host() {
    for ctx in test_adapters() {
        let device = DeviceChoice::Gpu {
            backend: ctx.backend(),
            adapter: Some(ctx.info().name.clone()),
        };
        for (a, b) in PAIRS {
            let (original, converted) = (side(a), side(b));
            let options = |gpu_metrics_from| VerifyOptions {
                tolerances: Tolerances::default(),
                inputs: InputSource::Random(RandomInputs {
                    batch: 3000,
                    ..Default::default()
                }),
                chunk: 1000,
                per_layer: false,
                device_original: device.clone(),
                device_converted: device.clone(),
                gpu_metrics_from,
            };
            let on_gpu = verify(&original, &converted, &options(0)).unwrap();
            let on_host = verify(&original, &converted, &options(usize::MAX)).unwrap();
            assert_eq!(on_gpu.metrics_on, MetricsOn::Gpu);
            assert_eq!(on_host.metrics_on, MetricsOn::Host);
            assert_eq!(on_gpu.equivalent, on_host.equivalent);
            for (g, h) in on_gpu.outputs.iter().zip(&on_host.outputs) {
                let what = format!("{}: {a} vs {b}, output {}", ctx.describe(), g.name);
                assert_same(&g.metrics, &h.metrics, &what);
            }
        }
    }
}

/// Host and GPU measurements of `converted` against `original`, both (rows, 10).
fn both(
    ctx: &GpuContext,
    original: &[f32],
    converted: &[f32],
    tol: Tolerance,
) -> (Metrics, Option<Metrics>) {
    let shape = [original.len() / 10, 10];
    let tensor = |v: &[f32]| ArrayD::from_shape_vec(IxDyn(&shape), v.to_vec()).unwrap();
    let mut host = Accumulator::new(tol, true);
    host.add(&tensor(original), &tensor(converted), 0);
    let o = reduce::upload(ctx, original).unwrap();
    let c = reduce::upload(ctx, converted).unwrap();
    let gpu = match reduce::reduce(ctx, &c, &o, tol, Some(10)).unwrap() {
        Some(s) => {
            let mut acc = Accumulator::new(tol, true);
            acc.add_summary(&s, &shape, 0);
            Some(acc.finish())
        }
        None => None,
    };
    (host.finish(), gpu)
}

#[test]
fn nan_inf_and_ties_are_measured_like_the_host() {
    for ctx in test_adapters() {
        nan_inf_and_ties(&ctx);
    }
}

fn nan_inf_and_ties(ctx: &GpuContext) {
    let n = 100_000;
    let original = values(n, 1);
    let mut converted: Vec<f32> = original
        .iter()
        .zip(values(n, 2))
        .map(|(b, e)| b + e * 1e-3)
        .collect();
    // NaN against NaN and an infinity against itself match; the rest are mismatches.
    let cases: [(usize, f32, f32); 6] = [
        (10, f32::NAN, f32::NAN),
        (20, f32::INFINITY, f32::INFINITY),
        (70_000, 0.5, f32::NAN),
        (50_000, f32::NEG_INFINITY, f32::INFINITY),
        (30_000, 1.0, f32::INFINITY),
        (40_000, f32::NAN, 2.0),
    ];
    let mut original = original;
    for (i, b, a) in cases {
        original[i] = b;
        converted[i] = a;
    }
    // Two equal largest differences: the first one is the worst.
    for i in [60_123, 60_007] {
        original[i] = 0.25;
        converted[i] = 0.75;
    }
    let (host, gpu) = both(ctx, &original, &converted, Tolerance::default());
    let gpu = gpu.expect("no element lies within float32 rounding of a threshold");
    assert_same(&gpu, &host, &format!("{}: crafted", ctx.describe()));
    assert_eq!(host.nan_mismatch, 2);
    assert_eq!(host.inf_mismatch, 2);
    assert_eq!(
        host.worst_index,
        vec![3000, 0],
        "the first NaN/Inf mismatch is the worst"
    );

    let mut finite_o = values(n, 1);
    let mut finite_c = finite_o.clone();
    for i in [60_123, 60_007] {
        finite_o[i] = 0.25;
        finite_c[i] = 0.75;
    }
    let (host, gpu) = both(ctx, &finite_o, &finite_c, Tolerance::default());
    assert_same(&gpu.unwrap(), &host, &format!("{}: ties", ctx.describe()));
    assert_eq!(host.worst_index, vec![6000, 7]);
}

#[test]
fn values_float32_cannot_settle_go_back_to_the_host() {
    for ctx in test_adapters() {
        unsettled(&ctx);
    }
}

fn unsettled(ctx: &GpuContext) {
    let tol = Tolerance::default();
    let original = vec![0.0f32; 1000];
    let mut converted = original.clone();
    // At the threshold atol + rtol·|b| = 1e-5, which float32 holds only to 7 digits.
    converted[500] = 1e-5;
    assert!(
        both(ctx, &original, &converted, tol).1.is_none(),
        "at the threshold"
    );
    // A difference that overflows float32.
    let mut big = vec![0.0f32; 1000];
    big[3] = 3e38;
    let mut big_c = big.clone();
    big_c[3] = -3e38;
    assert!(
        both(ctx, &big, &big_c, tol).1.is_none(),
        "overflowing difference"
    );
}

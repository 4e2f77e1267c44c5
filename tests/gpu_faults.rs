//! GPU faults end as a device error (exit 2) with one line that says what happened and what to
//! do, on every adapter `test_adapters()` finds: a device that is lost mid-run, a wait that
//! outlasts its timeout, and a model whose buffers exceed the GPU memory budget. A model the GPU
//! cannot run yet is refused there and, under `--device auto`, runs on the CPU saying why; so does
//! a large run on a machine with no hardware GPU.

mod common;

use std::sync::Arc;

use keqv::exec::gpu::{test_adapters, GpuContext, GpuExecutor};
use keqv::exec::{auto_on, prepare, DeviceChoice, Executor, Keep, AUTO_GPU_FROM_MACS};
use keqv::graph::{Activation, Graph, Op};
use keqv::tensor::Tensor;
use keqv::Error;

const MODEL: &str = "models/tfk/c_func_skip.h5";

/// `keqv run MODEL` on one adapter with `env` set; returns (exit code, stderr).
fn run_on(ctx: &GpuContext, env: &[(&str, &str)], batch: usize) -> (Option<i32>, String) {
    let backend = ctx
        .backend()
        .expect("a test adapter has a backend")
        .to_string();
    let out = common::keqv()
        // One chunk: the whole batch in one submission, so that a wait really takes time.
        .args(["run", MODEL, "--batch", &batch.to_string()])
        .args(["--chunk", &batch.to_string(), "--device"])
        .arg(backend.to_lowercase())
        .args(["--adapter", &ctx.info().name])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_one_line_error(code: Option<i32>, stderr: &str, needle: &str, ctx: &GpuContext) {
    assert_eq!(code, Some(2), "{}: {stderr}", ctx.describe());
    assert!(stderr.contains(needle), "{}: {stderr}", ctx.describe());
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{}: {stderr}",
        ctx.describe()
    );
}

#[test]
fn a_lost_device_is_reported_as_lost() {
    let fixture = common::fixtures()
        .into_iter()
        .find(|f| f.path.ends_with("tfk/c_func_skip.h5"))
        .expect("fixture");
    let graph = Arc::new(fixture.graph().unwrap());
    let inputs = fixture.inputs(&graph);
    for shared in test_adapters() {
        // A device of its own: destroying the shared one would break the other tests.
        let ctx = Arc::new(
            GpuContext::open(shared.backend(), Some(&shared.info().name)).expect("reopen adapter"),
        );
        let mut exec = GpuExecutor::new(ctx.clone(), graph.clone()).unwrap();
        exec.run(&inputs, Keep::Outputs)
            .expect("runs before the loss");
        ctx.device().destroy();
        let err = exec
            .run(&inputs, Keep::Outputs)
            .expect_err("a run on a destroyed device must fail");
        let msg = err.to_string();
        assert!(matches!(err, Error::Device(_)), "{}: {msg}", ctx.describe());
        assert!(msg.contains("was lost"), "{}: {msg}", ctx.describe());
        assert_eq!(msg.lines().count(), 1, "{msg}");
    }
}

#[test]
fn a_wait_past_the_timeout_is_an_error_not_a_hang() {
    for ctx in test_adapters() {
        let (code, stderr) = run_on(&ctx, &[("KEQV_GPU_TIMEOUT_SECS", "0.000001")], 50_000);
        assert_one_line_error(code, &stderr, "did not finish within 0.000001 s", &ctx);
        assert!(stderr.contains("KEQV_GPU_TIMEOUT_SECS"), "{stderr}");
    }
}

#[test]
fn buffers_over_the_memory_budget_are_refused_before_allocating() {
    for ctx in test_adapters() {
        let (code, stderr) = run_on(&ctx, &[("KEQV_GPU_MEMORY_MB", "0.0001")], 8);
        assert_one_line_error(
            code,
            &stderr,
            "over the GPU memory budget of 104 bytes",
            &ctx,
        );
        assert!(stderr.contains("KEQV_GPU_MEMORY_MB"), "{stderr}");
    }
}

#[test]
fn a_small_budget_splits_the_batch_instead_of_failing() {
    for ctx in test_adapters() {
        // 0.05 MiB holds a few hundred samples of this model: 2000 samples need several chunks.
        let (code, stderr) = run_on(&ctx, &[("KEQV_GPU_MEMORY_MB", "0.05")], 2000);
        assert_eq!(code, Some(0), "{}: {stderr}", ctx.describe());
    }
}

#[test]
fn a_model_the_gpu_cannot_run_is_refused_there_and_runs_on_the_cpu_under_auto() {
    // Rank 9 with the batch: beyond the GPU kernels' index helpers.
    let sample = vec![1; 8];
    let mut graph = Graph {
        name: "deep".into(),
        ..Default::default()
    };
    let x = common::graphs::push_node(
        &mut graph,
        "x".into(),
        Op::Input,
        vec![],
        vec![],
        sample.clone(),
    );
    graph.inputs.push(x);
    let relu = Op::Activation(Activation::RELU);
    let y = common::graphs::push_node(&mut graph, "relu".into(), relu, vec![x], vec![], sample);
    graph.outputs.push(y);
    let graph = Arc::new(graph);
    let mut shape = vec![2];
    shape.extend([1; 8]);
    let input = Tensor::from_shape_vec(shape, vec![-1.5, 2.5]).unwrap();
    for ctx in test_adapters() {
        let mut gpu = GpuExecutor::new(ctx.clone(), graph.clone()).unwrap();
        let err = gpu
            .run(std::slice::from_ref(&input), Keep::Outputs)
            .expect_err("the GPU cannot run rank 9");
        let msg = err.to_string();
        assert!(
            msg.contains("layer 'x' (Test) is not on the GPU yet") && msg.contains("--device cpu"),
            "{}: {msg}",
            ctx.describe()
        );
        let own = GpuContext::open(ctx.backend(), Some(&ctx.info().name)).unwrap();
        let mut auto = auto_on(own, graph.clone()).unwrap();
        let device = auto.device();
        assert!(
            device.starts_with("cpu (f32")
                && device.contains("--device auto ran it on the CPU")
                && device.contains("cannot run layer 'x' (Test)"),
            "{device}"
        );
        let out = auto
            .run(std::slice::from_ref(&input), Keep::Outputs)
            .unwrap()
            .into_outputs();
        assert_eq!(out[0].iter().copied().collect::<Vec<f32>>(), [0.0, 2.5]);
    }
}

/// `--device auto` on a run large enough for a GPU: on the hardware GPU where the machine has
/// one, else on the CPU with the reason in the device line (CI's machines have only software
/// adapters, which auto never picks).
#[test]
fn auto_on_a_large_run_takes_the_hardware_gpu_or_says_there_is_none() {
    let mut graph = Graph {
        name: "identity".into(),
        ..Default::default()
    };
    let x = common::graphs::push_node(&mut graph, "x".into(), Op::Input, vec![], vec![], vec![4]);
    graph.inputs.push(x);
    graph.outputs.push(x);
    let exec = prepare(&DeviceChoice::Auto, Arc::new(graph), AUTO_GPU_FROM_MACS).unwrap();
    let device = exec.device();
    match GpuContext::open_hardware().unwrap() {
        Some(ctx) => assert!(device.contains(&ctx.info().name), "{device}"),
        None => assert!(
            device.starts_with("cpu (f32")
                && device
                    .contains("--device auto ran it on the CPU: no hardware GPU adapter was found"),
            "{device}"
        ),
    }
}

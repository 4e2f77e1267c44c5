//! `keqv bench MODEL`: how fast a model runs on each device — warm-up, repeated runs, min /
//! median / max, samples per second, GFLOP/s of its dense layers and the process's peak memory.

use std::time::Instant;

use serde::Serialize;

use super::{load_model, Outcome};
use crate::cli::{DeviceArgs, InputArgs, ModelArgs, OutputFormat};
use crate::config::{flags, inputs_flag};
use crate::error::{Error, Result};
use crate::exec::{prepare, Keep};
use crate::inputs::{self, InputSource};
use crate::progress::Progress;

#[derive(Serialize)]
struct DeviceTiming {
    device: String,
    batch: usize,
    runs: usize,
    min_ms: f64,
    median_ms: f64,
    max_ms: f64,
    samples_per_s: f64,
    gflops: f64,
    /// Time to prepare the model on the device (upload weights, build pipelines).
    prepare_ms: f64,
}

#[derive(Serialize)]
struct BenchReport {
    model: String,
    parameters: usize,
    macs_per_sample: u64,
    devices: Vec<DeviceTiming>,
    /// The process's peak resident memory after all runs (VmHWM), when the OS reports it.
    peak_memory_mb: Option<f64>,
}

pub struct BenchArgs<'a> {
    pub model: &'a ModelArgs,
    pub inputs: &'a InputArgs,
    pub device: &'a DeviceArgs,
    pub runs: usize,
    pub warmup: usize,
    pub format: OutputFormat,
}

pub fn bench(args: &BenchArgs) -> Result<Outcome> {
    if args.runs == 0 {
        return Err(Error::Usage("--runs must be at least 1".into()));
    }
    let model = flags::model(args.model)?;
    let source = flags::inputs(args.inputs)?;
    let devices = flags::device_list(args.device)?;
    let (_, graph) = load_model(&model, inputs_flag(&source))?;
    let batch_inputs = match &source {
        InputSource::File(path) => inputs::load(path, &graph)?,
        InputSource::Random(spec) => inputs::generate(&graph, spec)?,
    };
    let batch = batch_inputs.first().map_or(0, |t| t.shape()[0]);
    let mut timings = Vec::new();
    let total = (devices.len() * (args.warmup + args.runs)) as u64;
    let progress = Progress::new(total, "runs");
    let mut done = 0;
    let mut step = || {
        done += 1;
        progress.set(done, total);
    };
    for choice in devices {
        let start = Instant::now();
        let macs = crate::exec::run_macs(&[&graph], batch) * (args.warmup + args.runs) as u64;
        let mut exec = prepare(&choice, graph.clone(), macs)?;
        let prepare_ms = start.elapsed().as_secs_f64() * 1e3;
        for _ in 0..args.warmup {
            exec.run(&batch_inputs, Keep::Outputs)?;
            step();
        }
        let mut times: Vec<f64> = (0..args.runs)
            .map(|_| {
                let t = Instant::now();
                let elapsed = exec
                    .run(&batch_inputs, Keep::Outputs)
                    .map(|_| t.elapsed().as_secs_f64());
                step();
                elapsed
            })
            .collect::<Result<_>>()?;
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        timings.push(DeviceTiming {
            device: exec.device(),
            batch,
            runs: args.runs,
            min_ms: times[0] * 1e3,
            median_ms: median * 1e3,
            max_ms: times[times.len() - 1] * 1e3,
            samples_per_s: batch as f64 / median,
            gflops: 2.0 * graph.macs_per_sample() as f64 * batch as f64 / median / 1e9,
            prepare_ms,
        });
    }
    progress.finish();
    let report = BenchReport {
        model: model.model.display().to_string(),
        parameters: graph.parameter_count(),
        macs_per_sample: graph.macs_per_sample(),
        devices: timings,
        peak_memory_mb: peak_memory_mb(),
    };
    match args.format {
        OutputFormat::Json => println!("{}", crate::document::json(&report)),
        OutputFormat::Text => print!("{}", render(&report)),
    }
    Ok(Outcome::Success)
}

fn render(r: &BenchReport) -> String {
    let mut out = format!(
        "{}: {} parameters, {:.3} GFLOP per sample (dense layers)\n",
        r.model,
        r.parameters,
        2.0 * r.macs_per_sample as f64 / 1e9
    );
    out.push_str(&format!(
        "  {:<44} {:>6} {:>10} {:>10} {:>10} {:>12} {:>8} {:>10}\n",
        "device", "batch", "min ms", "median ms", "max ms", "samples/s", "GFLOP/s", "prepare ms"
    ));
    for d in &r.devices {
        out.push_str(&format!(
            "  {:<44} {:>6} {:>10.3} {:>10.3} {:>10.3} {:>12.1} {:>8.1} {:>10.1}\n",
            d.device,
            d.batch,
            d.min_ms,
            d.median_ms,
            d.max_ms,
            d.samples_per_s,
            d.gflops,
            d.prepare_ms
        ));
    }
    if let Some(mb) = r.peak_memory_mb {
        out.push_str(&format!("  peak memory {mb:.1} MB\n"));
    }
    out
}

/// Peak resident set size of this process, from /proc (Linux); None elsewhere.
pub fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

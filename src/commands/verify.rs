//! `keqv verify ORIGINAL CONVERTED`: the verdict, as text, JSON and JUnit, and the exit code.

use std::path::Path;

use super::{load_pair, Outcome};
use crate::cli::{checked_chunk, DeviceArgs, InputArgs, ModelArgs, OutputFormat, VerifyArgs};
use crate::error::{Error, Result};
use crate::graph::open_inputs::InputsFlag;
use crate::progress::Progress;
use crate::report;
use crate::verify::{
    verify as run_verify, verify_with_progress, InputSource, Tolerances, VerifyOptions,
    GPU_METRICS_FROM,
};

pub fn verify(args: &VerifyArgs) -> Result<Outcome> {
    let device_original = args.device.choice()?;
    let device_converted = match &args.converted_device {
        Some(d) => DeviceArgs {
            device: d.clone(),
            adapter: args.device.adapter.clone(),
        }
        .choice()?,
        None => device_original.clone(),
    };
    let options = VerifyOptions {
        tolerances: args.tolerances()?,
        inputs: input_source(&args.inputs)?,
        chunk: checked_chunk(args.chunk)?,
        // The HTML report plots the error along the graph, so it needs every layer's.
        per_layer: args.per_layer || args.html.is_some(),
        device_original,
        device_converted,
        gpu_metrics_from: GPU_METRICS_FROM,
    };
    let (original, converted) = load_pair(&args.side(false), &args.side(true), args.inputs.file())?;
    let progress = Progress::new(0, "samples");
    let report = verify_with_progress(&original, &converted, &options, &mut |done, total| {
        progress.set(done as u64, total as u64)
    })?;
    progress.finish();
    if let Some(path) = &args.junit {
        let xml = report::junit(&report, "keqv verify");
        std::fs::write(path, xml).map_err(|e| Error::io(path, e))?;
    }
    if let Some(path) = &args.html {
        let page = crate::html::verify_page(&report);
        std::fs::write(path, page).map_err(|e| Error::io(path, e))?;
    }
    match args.format {
        OutputFormat::Text => print!("{}", report::text(&report, report::Style::for_stdout())),
        OutputFormat::Json => println!("{}", report::json(&report)),
    }
    Ok(if report.equivalent {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

/// Verifies a freshly written conversion against its source with default settings, printing
/// the verdict: what `keqv convert` does after writing.
pub fn verify_after_convert(
    original: &ModelArgs,
    written: &Path,
    device: &DeviceArgs,
) -> Result<Outcome> {
    let options = VerifyOptions {
        tolerances: Tolerances::default(),
        inputs: InputSource::Random(Default::default()),
        chunk: 1024,
        per_layer: false,
        device_original: device.choice()?,
        device_converted: device.choice()?,
        gpu_metrics_from: GPU_METRICS_FROM,
    };
    let converted_args = ModelArgs {
        model: written.to_path_buf(),
        weights: None,
        ..original.clone()
    };
    let (original, converted) = load_pair(original, &converted_args, InputsFlag::NotTaken)?;
    let report = run_verify(&original, &converted, &options)?;
    print!("{}", report::text(&report, report::Style::for_stdout()));
    Ok(if report.equivalent {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

fn input_source(args: &InputArgs) -> Result<InputSource> {
    Ok(match &args.inputs {
        Some(path) => InputSource::File(path.clone()),
        None => InputSource::Random(args.random()?),
    })
}

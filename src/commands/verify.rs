//! `keqv verify ORIGINAL CONVERTED`: the verdict, as text, JSON and JUnit, and the exit code.

use std::path::Path;

use super::{load_pair, Outcome};
use crate::cli::{OutputFormat, VerifyArgs};
use crate::config::{flags, ModelConfig, Reports, VerifyCommand, VerifyConfig};
use crate::error::{Error, Result};
use crate::exec::DeviceChoice;
use crate::graph::open_inputs::InputsFlag;
use crate::progress::Progress;
use crate::report;
use crate::verify::{verify as run_verify, verify_with_progress, VerifyReport};

pub fn verify(args: &VerifyArgs) -> Result<Outcome> {
    let VerifyCommand { verify, reports } = flags::verify(args)?;
    let (original, converted) =
        load_pair(&verify.original, &verify.converted, verify.inputs_flag())?;
    let progress = Progress::new(0, "samples");
    let report = verify_with_progress(
        &original,
        &converted,
        &verify.options,
        &mut |done, total| progress.set(done as u64, total as u64),
    )?;
    progress.finish();
    write_reports(&report, &reports)?;
    Ok(outcome(&report))
}

fn write_reports(report: &VerifyReport, reports: &Reports) -> Result<()> {
    if let Some(path) = &reports.junit {
        let xml = report::junit(report, "keqv verify");
        std::fs::write(path, xml).map_err(|e| Error::io(path, e))?;
    }
    if let Some(path) = &reports.html {
        let page = crate::html::verify_page(report);
        std::fs::write(path, page).map_err(|e| Error::io(path, e))?;
    }
    match reports.format {
        OutputFormat::Text => print!("{}", report::text(report, report::Style::for_stdout())),
        OutputFormat::Json => println!("{}", report::json(report)),
    }
    Ok(())
}

/// Verifies a freshly written conversion against its source with default settings, printing
/// the verdict: what `keqv convert` does after writing.
pub fn verify_after_convert(
    original: &ModelConfig,
    written: &Path,
    device: &DeviceChoice,
) -> Result<Outcome> {
    let config =
        VerifyConfig::after_convert(original.clone(), written.to_path_buf(), device.clone());
    // convert takes no inputs file, and has already settled the open dimensions without one.
    let (original, converted) =
        load_pair(&config.original, &config.converted, InputsFlag::NotTaken)?;
    let report = run_verify(&original, &converted, &config.options)?;
    print!("{}", report::text(&report, report::Style::for_stdout()));
    Ok(outcome(&report))
}

fn outcome(report: &VerifyReport) -> Outcome {
    if report.equivalent {
        Outcome::Success
    } else {
        Outcome::Negative
    }
}

//! The command line's flags into configs: `verify`'s drafted for the one validator, and the
//! model, inputs and device flags the other commands share, through the same rules.

use std::path::PathBuf;

use super::draft::{DevicesDraft, Draft, InputsDraft, ModelDraft, ToleranceDraft};
use super::names::{Origin, Setting};
use super::{rules, validate, ModelConfig, Reports, VerifyCommand};
use crate::cli::{DeviceArgs, InputArgs, ModelArgs, VerifyArgs};
use crate::error::{Error, Result};
use crate::exec::DeviceChoice;
use crate::inputs::InputSource;

const HERE: Origin = Origin::CommandLine;

pub fn verify(args: &VerifyArgs) -> Result<VerifyCommand> {
    let side = |model: &PathBuf, weights: &Option<PathBuf>, custom: &[String]| ModelDraft {
        model: model.clone(),
        weights: weights.clone(),
        custom: custom.to_vec(),
    };
    let draft = Draft {
        origin: HERE,
        original: side(
            &args.original,
            &args.original_weights,
            &args.original_custom,
        ),
        converted: side(
            &args.converted,
            &args.converted_weights,
            &args.converted_custom,
        ),
        custom: args.custom.clone(),
        custom_files: args.custom_file.clone(),
        input_shapes: args.input_shape.clone(),
        inputs: inputs_draft(&args.inputs),
        devices: DevicesDraft {
            device: args.device.device.clone(),
            converted: args.converted_device.clone(),
            adapter: args.device.adapter.clone(),
        },
        atol: tolerances(&args.atol, Setting::Atol)?,
        rtol: tolerances(&args.rtol, Setting::Rtol)?,
        chunk: args.chunk,
        // The HTML report plots the error along the graph, so it needs every layer's.
        per_layer: args.per_layer || args.html.is_some(),
    };
    Ok(VerifyCommand {
        verify: validate(draft)?,
        reports: Reports {
            format: args.format,
            junit: args.junit.clone(),
            html: args.html.clone(),
        },
    })
}

/// One model's flags (`inspect`, `run`, `bench`, `convert`).
pub fn model(args: &ModelArgs) -> Result<ModelConfig> {
    Ok(ModelConfig {
        model: args.model.clone(),
        weights: args.weights.clone(),
        custom_files: args.custom_file.clone(),
        custom: rules::mappings(&args.custom, Setting::Custom, HERE, true)?,
        input_shapes: args.input_shape.clone(),
    })
}

pub fn inputs(args: &InputArgs) -> Result<InputSource> {
    rules::inputs(&inputs_draft(args), HERE)
}

pub fn chunk(value: usize) -> Result<usize> {
    rules::at_least_one(value, Setting::Chunk, HERE)
}

/// The one device of `--device` and `--adapter`.
pub fn device(args: &DeviceArgs) -> Result<DeviceChoice> {
    let mut choices = rules::devices(
        &[(&args.device, Setting::Device)],
        args.adapter.as_deref(),
        HERE,
    )?;
    Ok(choices.remove(0))
}

/// Every device of a comma-separated `--device` (`bench`).
pub fn device_list(args: &DeviceArgs) -> Result<Vec<DeviceChoice>> {
    let names: Vec<(&str, Setting)> = args
        .device
        .split(',')
        .map(|name| (name.trim(), Setting::Device))
        .collect();
    rules::devices(&names, args.adapter.as_deref(), HERE)
}

/// A suite's `--device` and `--adapter`: the device of the cases that name none, checked as
/// the flag it is before any case uses it.
pub fn suite_devices(args: &DeviceArgs) -> Result<DevicesDraft> {
    rules::device(&args.device, Setting::Device, HERE)?;
    Ok(DevicesDraft {
        device: args.device.clone(),
        converted: None,
        adapter: args.adapter.clone(),
    })
}

fn inputs_draft(args: &InputArgs) -> InputsDraft {
    InputsDraft {
        file: args.inputs.clone(),
        seed: args.seed,
        batch: args.batch,
        distribution: args.distribution.clone(),
    }
}

/// `[OUTPUT:]VALUE` flags; a VALUE that is no number is left for the tolerance rule to refuse.
fn tolerances(flags: &[String], setting: Setting) -> Result<Vec<ToleranceDraft>> {
    let name = HERE.name(setting);
    flags
        .iter()
        .map(|flag| {
            let (output, value) = match flag.rsplit_once(':') {
                Some((o, _)) if o.trim().is_empty() => {
                    return Err(Error::Usage(format!(
                        "{name} '{flag}' names no output: write {name} OUTPUT:VALUE, or {name} VALUE for every output"
                    )))
                }
                Some((o, v)) => (Some(o.trim().to_string()), v),
                None => (None, flag.as_str()),
            };
            Ok(ToleranceDraft {
                output,
                value: value.trim().parse().unwrap_or(f64::NAN),
                written: flag.clone(),
            })
        })
        .collect()
}

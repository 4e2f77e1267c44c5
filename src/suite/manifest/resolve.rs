//! A manifest's case resolved into what `keqv verify` runs: paths joined to the manifest's
//! folder, and every setting checked by the same rules as the command line's flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::raw::{Paths, RawCase};
use super::{Case, Verdict};
use crate::cli::{checked_chunk, is_tolerance, DeviceArgs, InputArgs, ModelArgs};
use crate::error::{Error, Result};
use crate::exec::DeviceChoice;
use crate::verify::{InputSource, Tolerances, VerifyOptions};

pub(super) fn resolve(raw: RawCase, dir: &Path, device: &DeviceArgs) -> Result<Case> {
    let original = raw
        .original
        .clone()
        .ok_or_else(|| usage("'original' (the original model's file) is missing"))?;
    let converted = raw
        .converted
        .clone()
        .ok_or_else(|| usage("'converted' (the converted model's file) is missing"))?;
    let name = raw
        .name
        .clone()
        .unwrap_or_else(|| format!("{} vs {}", original.display(), converted.display()));
    if name.trim().is_empty() {
        return Err(usage("'name' is empty"));
    }
    let original_args = model_args(
        &raw,
        dir,
        &original,
        &raw.original_weights,
        &raw.original_custom,
    );
    let converted_args = model_args(
        &raw,
        dir,
        &converted,
        &raw.converted_weights,
        &raw.converted_custom,
    );
    let inputs = input_source(&raw, dir)?;
    let tolerances = tolerances(&raw)?;
    let device_original = device_choice(raw.device.as_deref(), device)?;
    let device_converted = match raw.converted_device.as_deref() {
        Some(d) => device_choice(Some(d), device)?,
        None => device_original.clone(),
    };
    let chunk = checked_chunk(raw.chunk.unwrap_or(1024)).map_err(as_key)?;
    let expect = raw.expect.unwrap_or(Verdict::Equivalent);
    if raw.error_contains.is_some() && expect != Verdict::Error {
        return Err(usage(
            "'error_contains' only makes sense with expect = \"error\"",
        ));
    }
    Ok(Case {
        name,
        original: original_args,
        converted: converted_args,
        options: VerifyOptions {
            tolerances,
            inputs,
            chunk,
            per_layer: raw.per_layer.unwrap_or(true),
            device_original,
            device_converted,
            gpu_metrics_from: crate::verify::GPU_METRICS_FROM,
        },
        expect,
        error_contains: raw.error_contains,
    })
}

fn usage(message: &str) -> Error {
    Error::Usage(message.to_string())
}

/// A command-line check's message about a flag, told about the manifest key of that name.
fn as_key(e: Error) -> Error {
    Error::Usage(e.to_string().replace("--", ""))
}

/// One side's model: its files joined to the manifest's folder, the custom mappings of both
/// sides with its own, and the open input dimensions.
fn model_args(
    raw: &RawCase,
    dir: &Path,
    model: &Path,
    weights: &Option<PathBuf>,
    own_custom: &Option<BTreeMap<String, String>>,
) -> ModelArgs {
    let flags = |map: &Option<BTreeMap<String, String>>| -> Vec<String> {
        map.iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    };
    let custom_file: Vec<PathBuf> = raw
        .custom_file
        .clone()
        .map(Paths::into_vec)
        .unwrap_or_default()
        .into_iter()
        .map(|p| dir.join(p))
        .collect();
    let input_shape: Vec<String> = raw
        .input_shape
        .iter()
        .flatten()
        .map(|(k, dims)| {
            let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            format!("{k}={}", dims.join(","))
        })
        .collect();
    ModelArgs {
        model: dir.join(model),
        weights: weights.as_ref().map(|w| dir.join(w)),
        custom: flags(&raw.custom),
        own_custom: flags(own_custom),
        custom_file,
        input_shape,
    }
}

/// An inputs file, or random inputs by the same rules as `--seed`, `--batch`, `--distribution`.
fn input_source(raw: &RawCase, dir: &Path) -> Result<InputSource> {
    if let Some(path) = &raw.inputs {
        if raw.seed.is_some() || raw.batch.is_some() || raw.distribution.is_some() {
            return Err(usage(
                "'inputs' (a file) and 'seed'/'batch'/'distribution' (random inputs) exclude each other",
            ));
        }
        return Ok(InputSource::File(dir.join(path)));
    }
    let random = InputArgs {
        inputs: None,
        seed: raw.seed.unwrap_or(0),
        batch: raw.batch.unwrap_or(8),
        distribution: raw.distribution.clone().unwrap_or_else(|| "normal".into()),
    }
    .random()
    .map_err(as_key)?;
    Ok(InputSource::Random(random))
}

/// The case's tolerances, for every output and per output.
fn tolerances(raw: &RawCase) -> Result<Tolerances> {
    let mut tolerances = Tolerances::default();
    let check = |key: &str, v: f64| {
        if is_tolerance(v) {
            Ok(v)
        } else {
            Err(Error::Usage(format!(
                "'{key}' must be a number ≥ 0, not {v}"
            )))
        }
    };
    if let Some(a) = raw.atol {
        tolerances.default.atol = check("atol", a)?;
    }
    if let Some(r) = raw.rtol {
        tolerances.default.rtol = check("rtol", r)?;
    }
    for (output, t) in raw.outputs.iter().flatten() {
        if t.atol.is_none() && t.rtol.is_none() {
            return Err(Error::Usage(format!(
                "[case.outputs.{output}] sets neither 'atol' nor 'rtol'"
            )));
        }
        if let Some(a) = t.atol {
            tolerances.atol.push((output.clone(), check("atol", a)?));
        }
        if let Some(r) = t.rtol {
            tolerances.rtol.push((output.clone(), check("rtol", r)?));
        }
    }
    Ok(tolerances)
}

/// The case's device, else the command's. The command's `--adapter` applies to GPU devices.
fn device_choice(own: Option<&str>, command: &DeviceArgs) -> Result<DeviceChoice> {
    let device = own.unwrap_or(&command.device);
    let adapter = match device {
        "cpu" | "cpu64" => None,
        _ => command.adapter.clone(),
    };
    DeviceArgs {
        device: device.to_string(),
        adapter,
    }
    .choice()
    .map_err(|e| Error::Usage(e.to_string().replace("--device", "device")))
}

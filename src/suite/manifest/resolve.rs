//! A manifest's case resolved into what `keqv verify` runs: paths joined to the manifest's
//! folder, the keys drafted as `verify`'s flags are, and the draft checked by the same
//! validator ([`validate`]), so that a key refuses what its flag refuses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::raw::{Paths, RawCase};
use super::{Case, Verdict};
use crate::config::{
    validate, DevicesDraft, Draft, InputsDraft, ModelDraft, Origin, ToleranceDraft, DEFAULT_CHUNK,
};
use crate::error::{Error, Result};

/// `devices`: the command's `--device` and `--adapter`, for cases that name no device.
pub(super) fn resolve(raw: RawCase, dir: &Path, devices: &DevicesDraft) -> Result<Case> {
    let original = required(
        &raw.original,
        "'original' (the original model's file) is missing",
    )?;
    let converted = required(
        &raw.converted,
        "'converted' (the converted model's file) is missing",
    )?;
    let name = raw
        .name
        .clone()
        .unwrap_or_else(|| format!("{} vs {}", original.display(), converted.display()));
    if name.trim().is_empty() {
        return Err(usage("'name' is empty"));
    }
    let expect = raw.expect.unwrap_or(Verdict::Equivalent);
    if raw.error_contains.is_some() && expect != Verdict::Error {
        return Err(usage(
            "'error_contains' only makes sense with expect = \"error\"",
        ));
    }
    let verify = validate(draft(&raw, dir, devices, [original, converted])?)?;
    Ok(Case {
        name,
        verify,
        expect,
        error_contains: raw.error_contains,
    })
}

fn required<'a>(path: &'a Option<PathBuf>, missing: &str) -> Result<&'a Path> {
    path.as_deref().ok_or_else(|| usage(missing))
}

fn usage(message: &str) -> Error {
    Error::Usage(message.to_string())
}

/// The case's keys as the validator takes them, its files joined to the manifest's folder.
fn draft(
    raw: &RawCase,
    dir: &Path,
    devices: &DevicesDraft,
    [original, converted]: [&Path; 2],
) -> Result<Draft> {
    let side = |model: &Path, weights: &Option<PathBuf>, custom| ModelDraft {
        model: dir.join(model),
        weights: weights.as_ref().map(|w| dir.join(w)),
        custom: mappings(custom),
    };
    let (atol, rtol) = tolerances(raw)?;
    Ok(Draft {
        origin: Origin::Manifest,
        original: side(original, &raw.original_weights, &raw.original_custom),
        converted: side(converted, &raw.converted_weights, &raw.converted_custom),
        custom: mappings(&raw.custom),
        custom_files: raw
            .custom_file
            .clone()
            .map(Paths::into_vec)
            .unwrap_or_default()
            .into_iter()
            .map(|p| dir.join(p))
            .collect(),
        input_shapes: input_shapes(&raw.input_shape),
        inputs: InputsDraft {
            file: raw.inputs.as_ref().map(|p| dir.join(p)),
            seed: raw.seed,
            batch: raw.batch,
            distribution: raw.distribution.clone(),
        },
        devices: DevicesDraft {
            device: raw.device.clone().unwrap_or_else(|| devices.device.clone()),
            converted: raw.converted_device.clone(),
            adapter: devices.adapter.clone(),
        },
        atol,
        rtol,
        chunk: raw.chunk.unwrap_or(DEFAULT_CHUNK),
        per_layer: raw.per_layer.unwrap_or(true),
    })
}

/// `{ NAME = "builtin" }` as the flags write it: `NAME=builtin`.
fn mappings(map: &Option<BTreeMap<String, String>>) -> Vec<String> {
    map.iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// `{ tokens = [128, 64] }` as the flags write it: `tokens=128,64`.
fn input_shapes(shapes: &Option<BTreeMap<String, Vec<usize>>>) -> Vec<String> {
    shapes
        .iter()
        .flatten()
        .map(|(name, dims)| {
            let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            format!("{name}={}", dims.join(","))
        })
        .collect()
}

/// The case's `atol` and `rtol`, for every output and per output.
fn tolerances(raw: &RawCase) -> Result<(Vec<ToleranceDraft>, Vec<ToleranceDraft>)> {
    let draft = |output: Option<&String>, value: f64| ToleranceDraft {
        output: output.cloned(),
        value,
        written: value.to_string(),
    };
    let mut atol: Vec<ToleranceDraft> = raw.atol.map(|v| draft(None, v)).into_iter().collect();
    let mut rtol: Vec<ToleranceDraft> = raw.rtol.map(|v| draft(None, v)).into_iter().collect();
    for (output, t) in raw.outputs.iter().flatten() {
        if t.atol.is_none() && t.rtol.is_none() {
            return Err(Error::Usage(format!(
                "[case.outputs.{output}] sets neither 'atol' nor 'rtol'"
            )));
        }
        atol.extend(t.atol.map(|v| draft(Some(output), v)));
        rtol.extend(t.rtol.map(|v| draft(Some(output), v)));
    }
    Ok((atol, rtol))
}

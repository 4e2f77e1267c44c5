//! The one validator: a comparison's settings as written ([`Draft`], from flags or from a
//! manifest case) into a [`VerifyConfig`], each setting through its rule in [`rules`].

use super::draft::{DevicesDraft, Draft, ModelDraft, ToleranceDraft};
use super::model::ModelConfig;
use super::names::{Origin, Setting};
use super::rules;
use super::VerifyConfig;
use crate::error::Result;
use crate::exec::DeviceChoice;
use crate::verify::{Tolerances, VerifyOptions, GPU_METRICS_FROM};

pub fn validate(draft: Draft) -> Result<VerifyConfig> {
    let origin = draft.origin;
    let (device_original, device_converted) = devices(&draft.devices, origin)?;
    let options = VerifyOptions {
        tolerances: tolerances(&draft.atol, &draft.rtol, origin)?,
        inputs: rules::inputs(&draft.inputs, origin)?,
        chunk: rules::at_least_one(draft.chunk, Setting::Chunk, origin)?,
        per_layer: draft.per_layer,
        device_original,
        device_converted,
        gpu_metrics_from: GPU_METRICS_FROM,
    };
    let shared = rules::mappings(&draft.custom, Setting::Custom, origin, true)?;
    let side = |own: ModelDraft, setting| -> Result<ModelConfig> {
        let mut custom = shared.clone();
        custom.extend(rules::mappings(&own.custom, setting, origin, false)?);
        Ok(ModelConfig {
            model: own.model,
            weights: own.weights,
            custom_files: draft.custom_files.clone(),
            custom,
            input_shapes: draft.input_shapes.clone(),
        })
    };
    Ok(VerifyConfig {
        original: side(draft.original, Setting::OriginalCustom)?,
        converted: side(draft.converted, Setting::ConvertedCustom)?,
        options,
    })
}

/// Each side's device: the converted model's is the original's unless named.
fn devices(draft: &DevicesDraft, origin: Origin) -> Result<(DeviceChoice, DeviceChoice)> {
    let converted = match &draft.converted {
        Some(name) => (name.as_str(), Setting::ConvertedDevice),
        None => (draft.device.as_str(), Setting::Device),
    };
    let names = [(draft.device.as_str(), Setting::Device), converted];
    let mut choices = rules::devices(&names, draft.adapter.as_deref(), origin)?;
    let converted = choices.pop().expect("two devices");
    let original = choices.pop().expect("two devices");
    Ok((original, converted))
}

/// The tolerance of every output and those of single outputs, later ones winning.
fn tolerances(
    atol: &[ToleranceDraft],
    rtol: &[ToleranceDraft],
    origin: Origin,
) -> Result<Tolerances> {
    let mut t = Tolerances::default();
    let Tolerances {
        default,
        atol: per_atol,
        rtol: per_rtol,
    } = &mut t;
    for (drafts, setting, every, per_output) in [
        (atol, Setting::Atol, &mut default.atol, per_atol),
        (rtol, Setting::Rtol, &mut default.rtol, per_rtol),
    ] {
        for draft in drafts {
            let value = rules::tolerance(draft, setting, origin)?;
            match &draft.output {
                Some(output) => per_output.push((output.clone(), value)),
                None => *every = value,
            }
        }
    }
    Ok(t)
}

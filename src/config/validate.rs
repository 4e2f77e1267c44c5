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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::draft::InputsDraft;

    fn draft(origin: Origin) -> Draft {
        let model = |name: &str| ModelDraft {
            model: name.into(),
            weights: None,
            custom: vec!["B=relu".into()],
        };
        Draft {
            origin,
            original: model("a.keras"),
            converted: model("b.keras"),
            custom: vec!["A=identity".into()],
            custom_files: Vec::new(),
            input_shapes: vec!["x=3".into()],
            inputs: InputsDraft {
                batch: Some(5),
                distribution: Some("uniform:-1,1".into()),
                ..Default::default()
            },
            devices: DevicesDraft {
                device: "cpu".into(),
                converted: Some("cpu64".into()),
                adapter: None,
            },
            atol: vec![tolerance(Some("out"), 0.5)],
            rtol: vec![tolerance(None, 0.0)],
            chunk: 7,
            per_layer: true,
        }
    }

    fn tolerance(output: Option<&str>, value: f64) -> ToleranceDraft {
        ToleranceDraft {
            output: output.map(Into::into),
            value,
            written: value.to_string(),
        }
    }

    #[test]
    fn flags_and_manifest_keys_give_the_same_config() {
        let config = |origin| format!("{:?}", validate(draft(origin)).unwrap());
        assert_eq!(config(Origin::CommandLine), config(Origin::Manifest));
    }

    /// Each mistake is refused from either origin, named as that origin spells the setting.
    #[test]
    fn flags_and_manifest_keys_are_refused_alike() {
        type Mistake = (Setting, fn(&mut Draft));
        let mistakes: [Mistake; 11] = [
            (Setting::Chunk, |d| d.chunk = 0),
            (Setting::Batch, |d| d.inputs.batch = Some(0)),
            (Setting::Distribution, |d| {
                d.inputs.distribution = Some("uniform:1,0".into())
            }),
            (Setting::Inputs, |d| d.inputs.file = Some("x.npy".into())),
            (Setting::Device, |d| d.devices.device = "tpu".into()),
            (Setting::ConvertedDevice, |d| {
                d.devices.converted = Some("tpu".into())
            }),
            (Setting::Atol, |d| d.atol.push(tolerance(None, -1.0))),
            (Setting::Rtol, |d| {
                d.rtol.push(tolerance(Some("out"), f64::INFINITY))
            }),
            (Setting::Custom, |d| d.custom.push("A=".into())),
            (Setting::OriginalCustom, |d| {
                d.original.custom.push("=relu".into())
            }),
            (Setting::ConvertedCustom, |d| {
                d.converted.custom.push("C".into())
            }),
        ];
        for (setting, mistake) in mistakes {
            let refusal = |origin| {
                let mut d = draft(origin);
                mistake(&mut d);
                validate(d).unwrap_err().to_string()
            };
            let flag = refusal(Origin::CommandLine);
            let key = refusal(Origin::Manifest);
            assert!(
                flag.contains(Origin::CommandLine.name(setting)),
                "{setting:?}: {flag}"
            );
            assert!(
                key.contains(Origin::Manifest.name(setting)) && !key.contains("--"),
                "{setting:?}: {key}"
            );
        }
    }

    /// An adapter serves the sides on a GPU; only the command line's, given for this comparison
    /// alone, is a mistake where no side can use it.
    #[test]
    fn an_adapter_serves_the_sides_on_a_gpu() {
        let with_adapter = |origin, converted: &str| {
            let mut d = draft(origin);
            d.devices.converted = Some(converted.into());
            d.devices.adapter = Some("llvmpipe".into());
            validate(d)
        };
        for origin in [Origin::CommandLine, Origin::Manifest] {
            let options = with_adapter(origin, "gl").unwrap().options;
            assert_eq!(options.device_original, DeviceChoice::Cpu);
            assert!(matches!(
                options.device_converted,
                DeviceChoice::Gpu { adapter: Some(a), .. } if a == "llvmpipe"
            ));
        }
        let e = with_adapter(Origin::CommandLine, "cpu64").unwrap_err();
        assert!(
            e.to_string().starts_with("--adapter picks a GPU adapter"),
            "{e}"
        );
        assert!(with_adapter(Origin::Manifest, "cpu64").is_ok());
    }
}

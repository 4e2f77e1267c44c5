//! The rule of each setting, one function each, shared by the command line and suite manifests:
//! a value one accepts, the other accepts too, and both refuse the rest in the same words but
//! for the setting's name ([`Origin::name`]).

use crate::error::{Error, Result};
use crate::exec::gpu::Backend;
use crate::exec::DeviceChoice;
use crate::inputs::{Distribution, InputSource, RandomInputs};
use crate::keras::custom::Mapping;

use super::draft::{InputsDraft, ToleranceDraft};
use super::names::{Origin, Setting};

fn usage(message: String) -> Error {
    Error::Usage(message)
}

/// A count that must be at least 1 (`chunk`, `batch`).
pub fn at_least_one(value: usize, setting: Setting, origin: Origin) -> Result<usize> {
    if value == 0 {
        return Err(usage(format!(
            "{} must be at least 1",
            origin.name(setting)
        )));
    }
    Ok(value)
}

/// An inputs file, or random inputs; a random setting beside a file would be silently ignored,
/// so the two exclude each other.
pub fn inputs(draft: &InputsDraft, origin: Origin) -> Result<InputSource> {
    if let Some(file) = &draft.file {
        if draft.seed.is_some() || draft.batch.is_some() || draft.distribution.is_some() {
            let q = |s| origin.quoted(s);
            return Err(usage(format!(
                "{} (a file) and {}/{}/{} (random inputs) exclude each other",
                q(Setting::Inputs),
                q(Setting::Seed),
                q(Setting::Batch),
                q(Setting::Distribution)
            )));
        }
        return Ok(InputSource::File(file.clone()));
    }
    let defaults = RandomInputs::default();
    let batch = draft.batch.unwrap_or(defaults.batch);
    let distribution = match &draft.distribution {
        Some(text) => distribution(text, origin)?,
        None => defaults.distribution,
    };
    Ok(InputSource::Random(RandomInputs {
        seed: draft.seed.unwrap_or(defaults.seed),
        batch: at_least_one(batch, Setting::Batch, origin)?,
        distribution,
    }))
}

/// `normal`, or `uniform:LOW,HIGH` with finite LOW < HIGH.
fn distribution(text: &str, origin: Origin) -> Result<Distribution> {
    if text == "normal" {
        return Ok(Distribution::Normal);
    }
    let bad = || {
        usage(format!(
            "{} '{text}' is not 'normal' or 'uniform:LOW,HIGH'",
            origin.name(Setting::Distribution)
        ))
    };
    let range = text.strip_prefix("uniform:").ok_or_else(bad)?;
    let (low, high) = range.split_once(',').ok_or_else(bad)?;
    let low: f32 = low.trim().parse().map_err(|_| bad())?;
    let high: f32 = high.trim().parse().map_err(|_| bad())?;
    if low >= high || !low.is_finite() || !high.is_finite() {
        return Err(bad());
    }
    Ok(Distribution::Uniform { low, high })
}

/// The devices named, each on `adapter` where it runs on a GPU. An adapter on the command line
/// is given for these devices alone, so one that none of them can use is a mistake; a suite's
/// serves every case that runs on a GPU, and a case on the CPU goes without it.
pub fn devices(
    names: &[(&str, Setting)],
    adapter: Option<&str>,
    origin: Origin,
) -> Result<Vec<DeviceChoice>> {
    let choices = names
        .iter()
        .map(|(name, setting)| Ok(on_adapter(device(name, *setting, origin)?, adapter)))
        .collect::<Result<Vec<_>>>()?;
    let on_cpu = |c: &DeviceChoice| matches!(c, DeviceChoice::Cpu | DeviceChoice::CpuF64);
    if adapter.is_some() && origin == Origin::CommandLine && choices.iter().all(on_cpu) {
        return Err(usage(
            "--adapter picks a GPU adapter; it cannot be used with --device cpu".into(),
        ));
    }
    Ok(choices)
}

/// The device a name stands for, on no particular adapter.
pub fn device(name: &str, setting: Setting, origin: Origin) -> Result<DeviceChoice> {
    let gpu = |backend| DeviceChoice::Gpu {
        backend,
        adapter: None,
    };
    Ok(match name {
        "auto" => DeviceChoice::Auto,
        "cpu" => DeviceChoice::Cpu,
        "cpu64" => DeviceChoice::CpuF64,
        "gpu" => gpu(None),
        "vulkan" => gpu(Some(Backend::Vulkan)),
        "metal" => gpu(Some(Backend::Metal)),
        "dx12" => gpu(Some(Backend::Dx12)),
        "gl" => gpu(Some(Backend::Gl)),
        other => {
            return Err(usage(format!(
                "{} '{other}' is not one of auto, cpu, cpu64, gpu, vulkan, metal, dx12, gl",
                origin.name(setting)
            )))
        }
    })
}

/// `choice` on the adapter: naming one under auto asks for a GPU.
fn on_adapter(choice: DeviceChoice, adapter: Option<&str>) -> DeviceChoice {
    let Some(adapter) = adapter else {
        return choice;
    };
    match choice {
        DeviceChoice::Auto => DeviceChoice::Gpu {
            backend: None,
            adapter: Some(adapter.to_string()),
        },
        DeviceChoice::Gpu { backend, .. } => DeviceChoice::Gpu {
            backend,
            adapter: Some(adapter.to_string()),
        },
        cpu @ (DeviceChoice::Cpu | DeviceChoice::CpuF64) => cpu,
    }
}

/// A tolerance: a finite number ≥ 0.
pub fn tolerance(draft: &ToleranceDraft, setting: Setting, origin: Origin) -> Result<f64> {
    if draft.value.is_finite() && draft.value >= 0.0 {
        return Ok(draft.value);
    }
    let name = origin.name(setting);
    let written = &draft.written;
    Err(usage(match origin {
        // On the command line the number shares its text with an output name.
        Origin::CommandLine => format!("{name} '{written}' is not [OUTPUT:]VALUE with VALUE ≥ 0"),
        Origin::Manifest => format!("'{name}' must be a number ≥ 0, not {written}"),
    }))
}

/// Custom mappings `NAME=BUILTIN`; `both_models` when given for both sides of a comparison.
pub fn mappings(
    texts: &[String],
    setting: Setting,
    origin: Origin,
    both_models: bool,
) -> Result<Vec<Mapping>> {
    texts
        .iter()
        .map(|text| {
            Mapping::parse(text, both_models).ok_or_else(|| {
                let name = origin.name(setting);
                let example = match origin {
                    Origin::CommandLine => format!("{name} FeatureNormalization=l2_normalize"),
                    Origin::Manifest => {
                        format!("{name} = {{ FeatureNormalization = \"l2_normalize\" }}")
                    }
                };
                usage(format!(
                    "{name} '{text}' is not NAME=BUILTIN (for example {example})"
                ))
            })
        })
        .collect()
}

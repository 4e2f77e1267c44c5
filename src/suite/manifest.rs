//! The suite manifest: a TOML file of cases, each an original and a converted model with the
//! settings of `keqv verify` and the result the case must give.
//!
//! ```toml
//! name = "my conversions"              # optional; default: the file's name
//!
//! [defaults]                           # optional; any case key except name/original/converted
//! atol = 1e-5
//!
//! [[case]]
//! name = "mlp: seq vs functional"      # optional; default "ORIGINAL vs CONVERTED"
//! original = "k3/a_seq_mlp.keras"      # paths are relative to the manifest's folder
//! converted = "k3/a_func_mlp.keras"
//! expect = "equivalent"                # or "not-equivalent", "error" (default equivalent)
//!
//! [case.outputs.dense_1]               # per-output tolerance, by the original's output name
//! atol = 1e-3
//! ```
//!
//! Unknown keys are errors, so that a typo cannot silently loosen a case.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::{DeviceArgs, InputArgs, ModelArgs};
use crate::error::{Error, Result};
use crate::exec::DeviceChoice;
use crate::verify::{InputSource, Tolerances, VerifyOptions};

/// What a case must give: a verdict, or an error (exit code 2 of `keqv verify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Equivalent,
    #[serde(alias = "not_equivalent", alias = "not equivalent")]
    NotEquivalent,
    Error,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Equivalent => "equivalent",
            Verdict::NotEquivalent => "not equivalent",
            Verdict::Error => "error",
        })
    }
}

/// One case, resolved: paths joined to the manifest's folder, defaults applied, settings
/// validated.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub original: ModelArgs,
    pub converted: ModelArgs,
    pub options: VerifyOptions,
    pub expect: Verdict,
    /// With `expect = "error"`: text the error message must contain.
    pub error_contains: Option<String>,
}

impl Case {
    /// True when both models run on the CPU executor (so the case may run beside others).
    pub fn cpu_only(&self, auto_is_cpu: bool) -> bool {
        let cpu = |d: &DeviceChoice| match d {
            DeviceChoice::Cpu | DeviceChoice::CpuF64 => true,
            DeviceChoice::Auto => auto_is_cpu,
            DeviceChoice::Gpu { .. } => false,
        };
        cpu(&self.options.device_original) && cpu(&self.options.device_converted)
    }

    /// The files the case reads, each with the manifest key that names it.
    fn files(&self) -> Vec<(&'static str, &Path)> {
        let mut files = Vec::new();
        for (side, args) in [("original", &self.original), ("converted", &self.converted)] {
            files.push((side, args.model.as_path()));
            if let Some(w) = &args.weights {
                let key = if side == "original" {
                    "original_weights"
                } else {
                    "converted_weights"
                };
                files.push((key, w.as_path()));
            }
        }
        files.extend(
            self.original
                .custom_file
                .iter()
                .map(|f| ("custom_file", f.as_path())),
        );
        if let InputSource::File(f) = &self.options.inputs {
            files.push(("inputs", f.as_path()));
        }
        files
    }

    pub fn uses_auto(&self) -> bool {
        self.options.device_original == DeviceChoice::Auto
            || self.options.device_converted == DeviceChoice::Auto
    }
}

/// A manifest read and resolved.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The suite's name (JUnit test suite name).
    pub name: String,
    pub path: PathBuf,
    pub cases: Vec<Case>,
}

impl Manifest {
    /// Reads `path`. Cases that name no device run on `device` (the command's `--device`).
    pub fn load(path: &Path, device: &DeviceArgs) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let manifest = Manifest::parse(&text, path, device)?;
        manifest.check_files()?;
        Ok(manifest)
    }

    /// Every file a case names exists: a missing one is a mistake in the manifest, not a
    /// failed comparison.
    fn check_files(&self) -> Result<()> {
        for (i, case) in self.cases.iter().enumerate() {
            for (what, file) in case.files() {
                if !file.exists() {
                    let looked = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
                    return Err(Error::format(
                        &self.path,
                        format!(
                            "case {} ({}): {what} {} does not exist; paths are relative to the manifest's folder",
                            i + 1,
                            case.name,
                            looked.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Parses manifest text; `path` names the file in errors and its folder anchors the paths.
    pub fn parse(text: &str, path: &Path, device: &DeviceArgs) -> Result<Manifest> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            Error::format(
                path,
                format!("not a valid suite manifest: {}", one_line(&e)),
            )
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let bad = |what: String| Error::format(path, what);
        for key in [
            ("name", raw.defaults.name.is_some()),
            ("original", raw.defaults.original.is_some()),
            ("converted", raw.defaults.converted.is_some()),
        ] {
            if key.1 {
                return Err(bad(format!(
                    "[defaults] cannot set '{}': it belongs to each [[case]]",
                    key.0
                )));
            }
        }
        let mut names = HashSet::new();
        let mut cases = Vec::with_capacity(raw.cases.len());
        for (i, raw_case) in raw.cases.iter().enumerate() {
            let merged = raw_case.clone().or(&raw.defaults);
            let case = resolve(merged, dir, device)
                .map_err(|e| bad(format!("case {} ({}): {e}", i + 1, case_label(raw_case))))?;
            if !names.insert(case.name.clone()) {
                return Err(bad(format!(
                    "case {}: the name '{}' is used twice; give each case its own name",
                    i + 1,
                    case.name
                )));
            }
            cases.push(case);
        }
        let name = raw.name.unwrap_or_else(|| {
            path.file_stem()
                .map_or("keqv suite".into(), |s| s.to_string_lossy().into_owned())
        });
        Ok(Manifest {
            name,
            path: path.to_path_buf(),
            cases,
        })
    }
}

fn one_line(e: &toml::de::Error) -> String {
    // toml's messages span several lines (a caret under the offending text); keep the gist.
    let span = e.span().map(|s| format!(" (at byte {})", s.start));
    format!("{}{}", e.message().trim(), span.unwrap_or_default())
}

fn case_label(raw: &RawCase) -> String {
    raw.name.clone().unwrap_or_else(|| {
        format!(
            "{} vs {}",
            raw.original
                .as_deref()
                .map_or("?".into(), |p| p.display().to_string()),
            raw.converted
                .as_deref()
                .map_or("?".into(), |p| p.display().to_string())
        )
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: Option<String>,
    #[serde(default)]
    defaults: RawCase,
    #[serde(default, rename = "case")]
    cases: Vec<RawCase>,
}

/// Per-output tolerance.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTolerance {
    atol: Option<f64>,
    rtol: Option<f64>,
}

/// One or several paths: `custom_file = "a.json"` or `custom_file = ["a.json", "b.txt"]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum Paths {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl Paths {
    fn into_vec(self) -> Vec<PathBuf> {
        match self {
            Paths::One(p) => vec![p],
            Paths::Many(v) => v,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: Option<String>,
    original: Option<PathBuf>,
    converted: Option<PathBuf>,
    original_weights: Option<PathBuf>,
    converted_weights: Option<PathBuf>,
    /// Custom layer mappings for both models: `{ FeatureNormalization = "l2_normalize" }`.
    custom: Option<BTreeMap<String, String>>,
    original_custom: Option<BTreeMap<String, String>>,
    converted_custom: Option<BTreeMap<String, String>>,
    custom_file: Option<Paths>,
    /// Open input dimensions: `{ tokens = [128, 64] }`.
    input_shape: Option<BTreeMap<String, Vec<usize>>>,
    inputs: Option<PathBuf>,
    seed: Option<u64>,
    batch: Option<usize>,
    distribution: Option<String>,
    chunk: Option<usize>,
    atol: Option<f64>,
    rtol: Option<f64>,
    outputs: Option<BTreeMap<String, RawTolerance>>,
    device: Option<String>,
    converted_device: Option<String>,
    per_layer: Option<bool>,
    expect: Option<Verdict>,
    error_contains: Option<String>,
}

impl RawCase {
    /// This case's keys, with the defaults' where it has none (per-output tolerances and
    /// custom mappings merge, the case winning).
    fn or(self, d: &RawCase) -> RawCase {
        fn merge<V: Clone>(
            own: Option<BTreeMap<String, V>>,
            default: &Option<BTreeMap<String, V>>,
        ) -> Option<BTreeMap<String, V>> {
            match (own, default) {
                (None, d) => d.clone(),
                (Some(o), None) => Some(o),
                (Some(o), Some(d)) => {
                    let mut all = d.clone();
                    all.extend(o);
                    Some(all)
                }
            }
        }
        let d = d.clone();
        RawCase {
            name: self.name,
            original: self.original,
            converted: self.converted,
            original_weights: self.original_weights.or(d.original_weights),
            converted_weights: self.converted_weights.or(d.converted_weights),
            custom: merge(self.custom, &d.custom),
            original_custom: merge(self.original_custom, &d.original_custom),
            converted_custom: merge(self.converted_custom, &d.converted_custom),
            custom_file: self.custom_file.or(d.custom_file),
            input_shape: merge(self.input_shape, &d.input_shape),
            inputs: self.inputs.or(d.inputs),
            seed: self.seed.or(d.seed),
            batch: self.batch.or(d.batch),
            distribution: self.distribution.or(d.distribution),
            chunk: self.chunk.or(d.chunk),
            atol: self.atol.or(d.atol),
            rtol: self.rtol.or(d.rtol),
            outputs: merge_outputs(self.outputs, &d.outputs),
            device: self.device.or(d.device),
            converted_device: self.converted_device.or(d.converted_device),
            per_layer: self.per_layer.or(d.per_layer),
            expect: self.expect.or(d.expect),
            error_contains: self.error_contains.or(d.error_contains),
        }
    }
}

/// Per-output tolerances of a case over the defaults', field by field.
fn merge_outputs(
    own: Option<BTreeMap<String, RawTolerance>>,
    default: &Option<BTreeMap<String, RawTolerance>>,
) -> Option<BTreeMap<String, RawTolerance>> {
    let mut all = default.clone().unwrap_or_default();
    for (name, t) in own.into_iter().flatten() {
        let d = all.get(&name).copied().unwrap_or_default();
        all.insert(
            name,
            RawTolerance {
                atol: t.atol.or(d.atol),
                rtol: t.rtol.or(d.rtol),
            },
        );
    }
    (!all.is_empty()).then_some(all)
}

fn resolve(raw: RawCase, dir: &Path, device: &DeviceArgs) -> Result<Case> {
    let usage = |m: String| Error::Usage(m);
    let original = raw
        .original
        .ok_or_else(|| usage("'original' (the original model's file) is missing".into()))?;
    let converted = raw
        .converted
        .ok_or_else(|| usage("'converted' (the converted model's file) is missing".into()))?;
    let name = raw
        .name
        .unwrap_or_else(|| format!("{} vs {}", original.display(), converted.display()));
    if name.trim().is_empty() {
        return Err(usage("'name' is empty".into()));
    }
    let at = |p: PathBuf| dir.join(p);
    let flags = |map: &Option<BTreeMap<String, String>>| -> Vec<String> {
        map.iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    };
    let custom_file: Vec<PathBuf> = raw
        .custom_file
        .map(Paths::into_vec)
        .unwrap_or_default()
        .into_iter()
        .map(at)
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
    let side = |model: PathBuf, weights: Option<PathBuf>, own: &Option<BTreeMap<_, _>>| ModelArgs {
        model: at(model),
        weights: weights.map(at),
        custom: flags(&raw.custom),
        own_custom: flags(own),
        custom_file: custom_file.clone(),
        input_shape: input_shape.clone(),
    };
    let original_args = side(original, raw.original_weights, &raw.original_custom);
    let converted_args = side(converted, raw.converted_weights, &raw.converted_custom);

    let inputs = match raw.inputs {
        Some(path) => {
            if raw.seed.is_some() || raw.batch.is_some() || raw.distribution.is_some() {
                return Err(usage(
                    "'inputs' (a file) and 'seed'/'batch'/'distribution' (random inputs) exclude each other".into(),
                ));
            }
            InputSource::File(at(path))
        }
        None => InputSource::Random(
            InputArgs {
                inputs: None,
                seed: raw.seed.unwrap_or(0),
                batch: raw.batch.unwrap_or(8),
                distribution: raw.distribution.unwrap_or_else(|| "normal".into()),
            }
            .random()
            .map_err(|e| usage(e.to_string().replace("--", "")))?,
        ),
    };

    let mut tolerances = Tolerances::default();
    let check = |key: &str, v: f64| {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(usage(format!("'{key}' must be a number ≥ 0, not {v}")))
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
            return Err(usage(format!(
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

    let device_original = device_choice(raw.device.as_deref(), device)?;
    let device_converted = match raw.converted_device.as_deref() {
        Some(d) => device_choice(Some(d), device)?,
        None => device_original.clone(),
    };
    let chunk = raw.chunk.unwrap_or(1024);
    if chunk == 0 {
        return Err(usage("'chunk' must be at least 1".into()));
    }
    let expect = raw.expect.unwrap_or(Verdict::Equivalent);
    if raw.error_contains.is_some() && expect != Verdict::Error {
        return Err(usage(
            "'error_contains' only makes sense with expect = \"error\"".into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu() -> DeviceArgs {
        DeviceArgs {
            device: "cpu".into(),
            adapter: None,
        }
    }

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, Path::new("suites/s.toml"), &cpu())
    }

    #[test]
    fn paths_are_relative_to_the_manifest_and_defaults_apply() {
        let m = parse(
            r#"
            name = "demo"
            [defaults]
            atol = 1e-4
            custom = { A = "identity" }
            [defaults.outputs.out]
            rtol = 0.5

            [[case]]
            original = "a.keras"
            converted = "/abs/b.h5"
            converted_weights = "w.weights.h5"
            custom = { B = "relu" }
            expect = "not-equivalent"
            [case.outputs.out]
            atol = 0.1

            [[case]]
            name = "second"
            original = "a.keras"
            converted = "c.keras"
            inputs = "x.npy"
            device = "cpu64"
            expect = "error"
            error_contains = "Lambda"
            "#,
        )
        .unwrap();
        assert_eq!(m.name, "demo");
        let first = &m.cases[0];
        assert_eq!(first.name, "a.keras vs /abs/b.h5");
        assert_eq!(first.original.model, Path::new("suites/a.keras"));
        assert_eq!(first.converted.model, Path::new("/abs/b.h5"));
        assert_eq!(
            first.converted.weights.as_deref(),
            Some(Path::new("suites/w.weights.h5"))
        );
        assert_eq!(first.original.custom, vec!["A=identity", "B=relu"]);
        assert_eq!(first.expect, Verdict::NotEquivalent);
        let t = &first.options.tolerances;
        assert_eq!(t.default.atol, 1e-4);
        assert_eq!(t.for_output("out").atol, 0.1);
        assert_eq!(
            t.for_output("out").rtol,
            0.5,
            "defaults' per-output rtol kept"
        );
        assert_eq!(first.options.device_original, DeviceChoice::Cpu);
        assert!(first.options.per_layer);
        let second = &m.cases[1];
        assert!(
            matches!(&second.options.inputs, InputSource::File(p) if p == Path::new("suites/x.npy"))
        );
        assert_eq!(second.options.device_original, DeviceChoice::CpuF64);
        assert_eq!(second.error_contains.as_deref(), Some("Lambda"));
    }

    #[test]
    fn mistakes_are_refused_with_the_case_named() {
        let cases = [
            ("[[case]]\noriginal = \"a\"\nconverted = \"b\"\natoll = 1", "atoll"),
            ("[[case]]\noriginal = \"a\"", "'converted'"),
            (
                "[[case]]\noriginal = \"a\"\nconverted = \"b\"\nexpect = \"maybe\"",
                "maybe",
            ),
            (
                "[[case]]\nname = \"x\"\noriginal = \"a\"\nconverted = \"b\"\n[[case]]\nname = \"x\"\noriginal = \"a\"\nconverted = \"c\"",
                "used twice",
            ),
            (
                "[[case]]\noriginal = \"a\"\nconverted = \"b\"\ndevice = \"tpu\"",
                "tpu",
            ),
            (
                "[[case]]\noriginal = \"a\"\nconverted = \"b\"\ninputs = \"x.npy\"\nseed = 3",
                "exclude",
            ),
            ("[[case]]\noriginal = \"a\"\nconverted = \"b\"\natol = -1", "≥ 0"),
            ("[defaults]\noriginal = \"a\"", "[defaults]"),
            (
                "[[case]]\noriginal = \"a\"\nconverted = \"b\"\nerror_contains = \"x\"",
                "error_contains",
            ),
        ];
        for (text, needle) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(e.starts_with("suites/s.toml: "), "{e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }
}

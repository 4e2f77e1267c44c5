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

mod raw;
mod resolve;

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::DeviceArgs;
use crate::config::{flags, VerifyConfig};
use crate::error::{Error, Result};
use crate::exec::DeviceChoice;
use crate::verify::InputSource;
use raw::{RawCase, RawManifest};
use resolve::resolve;

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
    /// The comparison the case runs.
    pub verify: VerifyConfig,
    pub expect: Verdict,
    /// With `expect = "error"`: text the error message must contain.
    pub error_contains: Option<String>,
}

/// A case reads as the comparison it runs: `case.original`, `case.options`.
impl Deref for Case {
    type Target = VerifyConfig;

    fn deref(&self) -> &VerifyConfig {
        &self.verify
    }
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
        for (side, model) in [("original", &self.original), ("converted", &self.converted)] {
            files.push((side, model.model.as_path()));
            if let Some(w) = &model.weights {
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
                .custom_files
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
    /// Reads `path`. Cases that name no device run on `device` (the command's `--device`), and
    /// cases on a GPU on its `--adapter`.
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
        // The command's flags are checked as flags, before any case might fall back on them.
        let devices = flags::suite_devices(device)?;
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
            let case = resolve(merged, dir, &devices)
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
        let custom: Vec<String> = first
            .original
            .custom
            .iter()
            .map(|m| m.to_string())
            .collect();
        assert_eq!(custom, vec!["A=identity", "B=relu"]);
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
            (
                "[[case]]\noriginal = \"a\"\nconverted = \"b\"\nchunk = 0",
                "chunk must be at least 1",
            ),
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

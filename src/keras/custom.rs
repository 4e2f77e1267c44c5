//! User mappings from custom layers to built-in ops: `--custom FeatureNormalization=l2_normalize`,
//! or a file with one `Name=builtin` per line (`#` comments) or a JSON object.
//!
//! A name matches a layer's own name first, then its registered name (`mypkg>Name`), then its
//! class name. Which built-ins exist is decided by the graph builder.

use std::path::Path;

use serde::Serialize;

use super::LayerConfig;
use crate::error::{Error, Result};

/// One `Name=builtin` mapping and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mapping {
    pub name: String,
    pub builtin: String,
    /// The mapping file it was read from; None for a command-line flag or a manifest entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Given for both models of a comparison (`--custom`), not for this one alone
    /// (`--original-custom`): it must match a layer of either model, not of this one.
    pub both_models: bool,
}

impl Mapping {
    /// `NAME=BUILTIN`, trimmed; None when either side is empty.
    pub fn parse(text: &str, both_models: bool) -> Option<Mapping> {
        let (name, builtin) = text
            .split_once('=')
            .map(|(n, b)| (n.trim(), b.trim()))
            .filter(|(n, b)| !n.is_empty() && !b.is_empty())?;
        Some(Mapping {
            name: name.to_string(),
            builtin: builtin.to_string(),
            file: None,
            both_models,
        })
    }
}

impl std::fmt::Display for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.builtin)
    }
}

#[derive(Clone, Debug, Default)]
pub struct CustomMap {
    entries: Vec<Mapping>,
}

impl CustomMap {
    /// Adds one `Name=builtin` mapping as written on the command line, for both models of a
    /// comparison.
    pub fn add_flag(&mut self, flag: &str) -> Result<()> {
        self.add(flag, None)
    }

    /// Adds a mapping already checked (see [`Mapping::parse`]).
    pub fn push(&mut self, mapping: Mapping) {
        self.entries.push(mapping);
    }

    fn add(&mut self, flag: &str, file: Option<&Path>) -> Result<()> {
        let mapping = Mapping::parse(flag, true).ok_or_else(|| {
            Error::Usage(format!(
                "--custom '{flag}' is not NAME=BUILTIN (for example --custom FeatureNormalization=l2_normalize)"
            ))
        })?;
        self.entries.push(Mapping {
            file: file.map(|f| f.display().to_string()),
            ..mapping
        });
        Ok(())
    }

    /// Reads mappings from a file: a JSON object `{"Name": "builtin"}` or `Name=builtin` lines.
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|e| super::read_error(path, e))?;
        if text.trim_start().starts_with('{') {
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
                .map_err(|e| {
                    Error::format(
                        path,
                        format!("custom mapping file is not valid JSON ({e}); write a JSON object {{\"Name\": \"builtin\"}} or NAME=BUILTIN lines"),
                    )
                })?;
            for (name, builtin) in map {
                let builtin = builtin.as_str().ok_or_else(|| {
                    Error::format(
                        path,
                        format!("mapping for '{name}' is not a string; write it as \"{name}\": \"builtin\""),
                    )
                })?;
                self.entries.push(Mapping {
                    name,
                    builtin: builtin.to_string(),
                    file: Some(path.display().to_string()),
                    both_models: true,
                });
            }
            return Ok(());
        }
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if !line.is_empty() {
                self.add(line, Some(path)).map_err(|_| {
                    Error::format(
                        path,
                        format!(
                            "line {}: '{line}' is not NAME=BUILTIN; write one mapping per line, for example FeatureNormalization=l2_normalize",
                            n + 1
                        ),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The mapping that applies to a layer, if any, with its index in [`CustomMap::entries`].
    pub fn lookup(&self, layer: &LayerConfig) -> Option<(usize, &Mapping)> {
        let keys = [
            Some(layer.name.as_str()),
            layer.registered_name.as_deref(),
            Some(layer.class_name.as_str()),
        ];
        keys.into_iter().flatten().find_map(|k| {
            self.entries
                .iter()
                .enumerate()
                .rev()
                .find(|(_, m)| m.name == k)
        })
    }

    pub fn entries(&self) -> &[Mapping] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

//! User mappings from custom layers to built-in ops: `--custom FeatureNormalization=l2_normalize`,
//! or a file with one `Name=builtin` per line (`#` comments) or a JSON object.
//!
//! A name matches a layer's own name first, then its registered name (`mypkg>Name`), then its
//! class name. Which built-ins exist is decided by the graph builder.

use std::path::Path;

use super::LayerConfig;
use crate::error::{Error, Result};

#[derive(Clone, Debug, Default)]
pub struct CustomMap {
    entries: Vec<(String, String)>,
}

impl CustomMap {
    /// Adds one `Name=builtin` mapping as written on the command line.
    pub fn add_flag(&mut self, flag: &str) -> Result<()> {
        let (name, builtin) = flag
            .split_once('=')
            .map(|(n, b)| (n.trim(), b.trim()))
            .filter(|(n, b)| !n.is_empty() && !b.is_empty())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--custom '{flag}' is not NAME=BUILTIN (for example --custom FeatureNormalization=l2_normalize)"
                ))
            })?;
        self.entries.push((name.to_string(), builtin.to_string()));
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
                self.entries.push((name, builtin.to_string()));
            }
            return Ok(());
        }
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if !line.is_empty() {
                self.add_flag(line).map_err(|_| {
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

    /// The built-in a layer is mapped to, if any.
    pub fn lookup(&self, layer: &LayerConfig) -> Option<&str> {
        let keys = [
            Some(layer.name.as_str()),
            layer.registered_name.as_deref(),
            Some(layer.class_name.as_str()),
        ];
        keys.into_iter()
            .flatten()
            .find_map(|k| self.entries.iter().rev().find(|(n, _)| n == k))
            .map(|(_, b)| b.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

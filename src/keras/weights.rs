//! Weights in HDF5, in the two layouts Keras writes (keras-formats.md §4.4, §5, §6):
//!
//! - legacy: `model_weights/@layer_names` (or the root, for weights-only files), then for each
//!   layer `L/@weight_names`, dataset `L/<weight name>`. Names may be split into
//!   `layer_names0, layer_names1, …` fixed-length arrays; empty lists are float64 arrays.
//! - Keras 3 (`model.weights.h5`, `*.weights.h5`): `layers/<snake_case(class)>[_k]/vars/0..n`,
//!   group names counted per class in `model.layers` order; nested models recurse under
//!   `layers/<group>/layers/`.

use std::collections::HashMap;
use std::path::Path;

use hdf5::types::{FixedAscii, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Group, Location};

use super::config::{parse_json, parse_model, sniff_dialect};
use super::{dialect_of_version, Format, KerasModel, LayerConfig, ModelConfig, NamedTensor};
use crate::error::{Error, Result};
use crate::tensor::{checked_len, Tensor};

/// Reads a legacy `model.save('x.h5')` file: config and weights.
pub fn read_legacy_model(path: &Path) -> Result<KerasModel> {
    let file = open(path)?;
    let config_text = read_string(&file, "model_config")?.ok_or_else(|| {
        let hint = if has_any_attr(&file, "layer_names") || file.link_exists("layers") {
            "this is a weights-only file: pass it with --weights next to a model that has the config"
        } else {
            "it is not a Keras model saved with model.save()"
        };
        Error::format(path, format!("HDF5 file has no 'model_config' attribute; {hint}"))
    })?;
    let keras_version = read_string(&file, "keras_version")?;
    let backend = read_string(&file, "backend")?;
    let raw_config = parse_json(&config_text, path, "model_config")?;
    let dialect = keras_version
        .as_deref()
        .and_then(dialect_of_version)
        .unwrap_or_else(|| sniff_dialect(&raw_config));
    let mut model = KerasModel {
        path: path.to_path_buf(),
        format: Format::H5,
        dialect,
        keras_version,
        backend,
        model: parse_model(&raw_config, dialect, path)?,
        raw_config,
        warnings: Vec::new(),
    };
    let group = file.group("model_weights").map_err(|_| {
        Error::format(
            path,
            "HDF5 model file has no 'model_weights' group; it holds no weights",
        )
    })?;
    let mut reader = Reader::new(path, path)?;
    let layers = reader.legacy_layers(&group)?;
    assign_legacy(&mut model.model, layers, path)?;
    model.warnings.extend(reader.warnings);
    Ok(model)
}

/// Replaces the model's weights with those of a weights file in either layout.
pub fn load_weights_file(model: &mut KerasModel, path: &Path) -> Result<()> {
    let file = open(path)?;
    let mut reader = Reader::new(path, path)?;
    clear_weights(&mut model.model);
    if file.link_exists("layers") {
        let layers = file
            .group("layers")
            .map_err(|e| Error::format(path, e.to_string()))?;
        reader.v3_model(&mut model.model, &layers)?;
    } else {
        let group = if file.link_exists("model_weights") {
            file.group("model_weights")
                .map_err(|e| Error::format(path, e.to_string()))?
        } else {
            file.as_group()
                .map_err(|e| Error::format(path, e.to_string()))?
        };
        if !has_any_attr(&group, "layer_names") {
            return Err(Error::format(
                path,
                "not a Keras weights file: no 'layers' group and no 'layer_names' attribute",
            ));
        }
        let layers = reader.legacy_layers(&group)?;
        assign_legacy(&mut model.model, layers, path)?;
    }
    model.warnings.extend(reader.warnings);
    Ok(())
}

/// Reads the Keras 3 layout (`model.weights.h5` inside a `.keras`) onto the model.
pub fn read_v3_weights(model: &mut KerasModel, h5_path: &Path, shown_path: &Path) -> Result<()> {
    let file = open_as(h5_path, shown_path)?;
    let layers = file
        .group("layers")
        .map_err(|_| Error::format(shown_path, "model.weights.h5 has no 'layers' group"))?;
    let mut reader = Reader::new(shown_path, h5_path)?;
    reader.v3_model(&mut model.model, &layers)?;
    model.warnings.extend(reader.warnings);
    Ok(())
}

fn open(path: &Path) -> Result<hdf5::File> {
    open_as(path, path)
}

fn open_as(path: &Path, shown: &Path) -> Result<hdf5::File> {
    hdf5::File::open(path).map_err(|e| {
        Error::format(
            shown,
            format!(
                "cannot open as HDF5 (truncated or corrupt?): {}",
                first_line(&e.to_string())
            ),
        )
    })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn clear_weights(model: &mut ModelConfig) {
    for layer in &mut model.layers {
        layer.weights.clear();
        if let Some(nested) = &mut layer.nested {
            clear_weights(nested);
        }
    }
}

/// Reads datasets with checks, collecting warnings about conversions.
struct Reader<'a> {
    path: &'a Path,
    file_len: u64,
    warnings: Vec<String>,
}

impl<'a> Reader<'a> {
    /// `path` names the file in messages; `actual` is where its bytes are (a temporary copy of
    /// an archive member, or the same file).
    fn new(path: &'a Path, actual: &Path) -> Result<Self> {
        let file_len = std::fs::metadata(actual)
            .map_err(|e| Error::io(path, e))?
            .len();
        Ok(Reader {
            path,
            file_len,
            warnings: Vec::new(),
        })
    }

    /// Legacy layout: `(layer name, weights)` in `layer_names` order.
    fn legacy_layers(&mut self, group: &Group) -> Result<Vec<(String, Vec<NamedTensor>)>> {
        let names = read_string_list(group, "layer_names", self.path)?;
        names
            .into_iter()
            .map(|layer| {
                let g = group.group(&layer).map_err(|_| {
                    Error::format(
                        self.path,
                        format!("layer_names lists '{layer}' but there is no group '{layer}'"),
                    )
                })?;
                let weight_names = read_string_list(&g, "weight_names", self.path)?;
                let weights = weight_names
                    .iter()
                    .map(|w| {
                        let value = self.dataset(&g, w, &layer)?;
                        Ok(NamedTensor {
                            name: short_weight_name(w),
                            value,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok((layer, weights))
            })
            .collect()
    }

    /// Keras 3 layout for one model: walks its layers in config order with per-class counters.
    fn v3_model(&mut self, model: &mut ModelConfig, layers_group: &Group) -> Result<()> {
        let skip_input = model.is_sequential();
        let mut counters: HashMap<String, usize> = HashMap::new();
        for layer in &mut model.layers {
            if skip_input && layer.class_name == "InputLayer" {
                continue;
            }
            let base = snake_case(&layer.class_name);
            let k = counters.entry(base.clone()).or_insert(0);
            let group_name = if *k == 0 {
                base.clone()
            } else {
                format!("{base}_{k}")
            };
            *k += 1;
            if !layers_group.link_exists(&group_name) {
                if let Some(nested) = &layer.nested {
                    if has_weighted_layers(nested) {
                        return Err(self.missing_group(&group_name, layer));
                    }
                }
                continue;
            }
            let group = layers_group
                .group(&group_name)
                .map_err(|e| Error::format(self.path, e.to_string()))?;
            self.check_name_attr(&group, &group_name, layer)?;
            let missing_inner = self.missing_group(&format!("{group_name}/layers"), layer);
            match &mut layer.nested {
                Some(nested) => {
                    let inner = group.group("layers").map_err(|_| missing_inner)?;
                    self.v3_model(nested, &inner)?;
                }
                None => layer.weights = self.v3_vars(&group, &group_name, &layer.name)?,
            }
        }
        Ok(())
    }

    fn missing_group(&self, group: &str, layer: &LayerConfig) -> Error {
        Error::layer(
            self.path,
            &layer.name,
            layer.display_class(),
            format!("the weights file has no group 'layers/{group}' for this layer"),
        )
    }

    /// Keras 3 writes the real layer name in `vars/@name`; a mismatch means the file belongs to
    /// another model.
    fn check_name_attr(&self, group: &Group, group_name: &str, layer: &LayerConfig) -> Result<()> {
        let Ok(vars) = group.group("vars") else {
            return Ok(());
        };
        match read_string(&vars, "name")? {
            Some(name) if name != layer.name && layer.nested.is_none() => Err(Error::layer(
                self.path,
                &layer.name,
                layer.display_class(),
                format!("weights group 'layers/{group_name}' belongs to a layer named '{name}': the weights file is for a different model"),
            )),
            _ => Ok(()),
        }
    }

    /// `vars/0, vars/1, …` in numeric order.
    fn v3_vars(
        &mut self,
        group: &Group,
        group_name: &str,
        layer: &str,
    ) -> Result<Vec<NamedTensor>> {
        let Ok(vars) = group.group("vars") else {
            return Ok(Vec::new());
        };
        let names = vars
            .member_names()
            .map_err(|e| Error::format(self.path, e.to_string()))?;
        let mut indices: Vec<usize> = names.iter().filter_map(|n| n.parse().ok()).collect();
        indices.sort_unstable();
        if indices.iter().enumerate().any(|(i, &v)| i != v) {
            return Err(Error::format(
                self.path,
                format!("layers/{group_name}/vars has members {names:?}; expected 0, 1, …"),
            ));
        }
        indices
            .iter()
            .map(|i| {
                let value = self.dataset(&vars, &i.to_string(), layer)?;
                Ok(NamedTensor {
                    name: i.to_string(),
                    value,
                })
            })
            .collect()
    }

    /// One weight as f32: float16/float64 converted (with a warning), integers refused, and the
    /// size checked against the file before reading.
    fn dataset(&mut self, group: &Group, name: &str, layer: &str) -> Result<Tensor> {
        let ds = group.dataset(name).map_err(|_| {
            Error::format(
                self.path,
                format!("layer '{layer}': weight dataset '{name}' is missing"),
            )
        })?;
        let dtype = ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| {
            Error::format(self.path, format!("layer '{layer}': weight '{name}': {e}"))
        })?;
        let size = match dtype {
            TypeDescriptor::Float(size) => size as usize,
            other => {
                return Err(Error::format(
                    self.path,
                    format!("layer '{layer}': weight '{name}' has type {other}; only float weights can be used"),
                ))
            }
        };
        if size != 4 {
            self.warnings.push(format!(
                "layer '{layer}': weight '{name}' is float{} and was converted to float32",
                size * 8
            ));
        }
        let shape = ds.shape();
        let bytes = checked_len(&shape).and_then(|n| n.checked_mul(size));
        if bytes.is_none_or(|b| b as u64 > self.file_len) {
            return Err(Error::format(
                self.path,
                format!("layer '{layer}': weight '{name}' claims shape {shape:?}, larger than the file itself"),
            ));
        }
        ds.read_dyn::<f32>().map_err(|e| {
            Error::format(
                self.path,
                format!(
                    "layer '{layer}': cannot read weight '{name}': {}",
                    first_line(&e.to_string())
                ),
            )
        })
    }
}

/// Does this (nested) model have any layer that could carry weights?
fn has_weighted_layers(model: &ModelConfig) -> bool {
    model.layers.iter().any(|l| l.class_name != "InputLayer")
}

/// Puts legacy `(layer name, weights)` pairs onto the model's layers, by layer name. Weights of
/// a nested model are listed under the nested model's name, each named `…/inner_layer/var`.
fn assign_legacy(
    model: &mut ModelConfig,
    layers: Vec<(String, Vec<NamedTensor>)>,
    path: &Path,
) -> Result<()> {
    for (name, weights) in layers {
        let Some(layer) = model.layers.iter_mut().find(|l| l.name == name) else {
            if weights.is_empty() {
                continue;
            }
            let known: Vec<&str> = model.layers.iter().map(|l| l.name.as_str()).collect();
            return Err(Error::format(
                path,
                format!("the weights file has weights for layer '{name}', which the model does not have (its layers: {})", known.join(", ")),
            ));
        };
        match &mut layer.nested {
            None => layer.weights = weights,
            Some(nested) => {
                for w in weights {
                    assign_nested(nested, w, &name, path)?;
                }
            }
        }
    }
    Ok(())
}

/// A nested model's legacy weight `…/layer/var` goes to the inner layer named in its path.
fn assign_nested(
    model: &mut ModelConfig,
    weight: NamedTensor,
    outer: &str,
    path: &Path,
) -> Result<()> {
    let parts: Vec<&str> = weight.name.split('/').collect();
    for layer in &mut model.layers {
        if !parts[..parts.len().saturating_sub(1)].contains(&layer.name.as_str()) {
            continue;
        }
        let short = parts.last().copied().unwrap_or_default().to_string();
        match &mut layer.nested {
            None => layer.weights.push(NamedTensor {
                name: short,
                value: weight.value,
            }),
            Some(inner) => assign_nested(inner, weight, outer, path)?,
        }
        return Ok(());
    }
    Err(Error::format(
        path,
        format!(
            "weight '{}' of nested model '{outer}' names no layer of that model",
            weight.name
        ),
    ))
}

/// `dense/kernel:0` → `dense/kernel`; the full path is kept so nested weights can be placed.
fn short_weight_name(name: &str) -> String {
    name.strip_suffix(":0").unwrap_or(name).to_string()
}

/// Keras's `to_snake_case`: `BatchNormalization` → `batch_normalization`, `PReLU` → `p_re_lu`.
pub fn snake_case(class: &str) -> String {
    let chars: Vec<char> = class
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // Pass 1: `(.)([A-Z][a-z]+)` → `\1_\2`.
    let mut pass1: Vec<char> = Vec::with_capacity(chars.len() * 2);
    let mut i = 0;
    while i < chars.len() {
        if i > 0
            && chars[i].is_ascii_uppercase()
            && chars.get(i + 1).is_some_and(|c| c.is_ascii_lowercase())
        {
            pass1.push('_');
        }
        pass1.push(chars[i]);
        i += 1;
    }
    // Pass 2: `([a-z])([A-Z])` → `\1_\2`.
    let mut out = String::with_capacity(pass1.len() + 4);
    for (j, &c) in pass1.iter().enumerate() {
        if j > 0 && c.is_ascii_uppercase() && pass1[j - 1].is_ascii_lowercase() {
            out.push('_');
        }
        out.push(c);
    }
    out.to_lowercase()
}

fn has_any_attr(loc: &Location, name: &str) -> bool {
    let names = loc.attr_names().unwrap_or_default();
    names
        .iter()
        .any(|n| n == name || n.strip_prefix(name).is_some_and(|rest| rest == "0"))
}

/// A scalar string attribute (variable-length ASCII or UTF-8, or fixed-length).
fn read_string(loc: &Location, name: &str) -> Result<Option<String>> {
    let Ok(attr) = loc.attr(name) else {
        return Ok(None);
    };
    let list = string_values(&attr).map_err(|e| Error::Format {
        path: loc.filename().into(),
        detail: format!("attribute '{name}': {e}"),
    })?;
    Ok(list.into_iter().next())
}

/// A list-of-strings attribute, joining Keras's split `name0, name1, …` form; an empty float
/// array (Keras's empty list) reads as no strings.
fn read_string_list(loc: &Location, name: &str, path: &Path) -> Result<Vec<String>> {
    let bad =
        |e: String| Error::format(path, format!("attribute '{name}' of '{}': {e}", loc.name()));
    if let Ok(attr) = loc.attr(name) {
        return string_values(&attr).map_err(bad);
    }
    let mut all = Vec::new();
    for chunk in 0.. {
        let Ok(attr) = loc.attr(&format!("{name}{chunk}")) else {
            break;
        };
        all.extend(string_values(&attr).map_err(bad)?);
    }
    if all.is_empty() && !has_any_attr(loc, name) {
        return Err(Error::format(
            path,
            format!("'{}' has no '{name}' attribute", loc.name()),
        ));
    }
    Ok(all)
}

/// Longest fixed-length string read (longer ones are refused, not truncated).
const MAX_FIXED_STRING: usize = 4096;

fn string_values(attr: &hdf5::Attribute) -> std::result::Result<Vec<String>, String> {
    let dtype = attr
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| e.to_string())?;
    let err = |e: hdf5::Error| e.to_string();
    match dtype {
        TypeDescriptor::VarLenAscii => Ok(attr
            .read_raw::<VarLenAscii>()
            .map_err(err)?
            .iter()
            .map(|s| s.to_string())
            .collect()),
        TypeDescriptor::VarLenUnicode => Ok(attr
            .read_raw::<VarLenUnicode>()
            .map_err(err)?
            .iter()
            .map(|s| s.to_string())
            .collect()),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n)
            if n <= MAX_FIXED_STRING =>
        {
            Ok(attr
                .read_raw::<FixedAscii<MAX_FIXED_STRING>>()
                .map_err(err)?
                .iter()
                .map(|s| s.to_string())
                .collect())
        }
        TypeDescriptor::Float(_) if attr.size() == 0 => Ok(Vec::new()),
        other => Err(format!("expected strings, found {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_matches_keras() {
        for (class, want) in [
            ("Dense", "dense"),
            ("BatchNormalization", "batch_normalization"),
            ("InputLayer", "input_layer"),
            ("PReLU", "p_re_lu"),
            ("ReLU", "re_lu"),
            ("LeakyReLU", "leaky_re_lu"),
            ("ELU", "elu"),
            ("FeatureNormalization", "feature_normalization"),
            ("UnitNormalization", "unit_normalization"),
            ("GaussianNoise", "gaussian_noise"),
            ("Conv2D", "conv2d"),
        ] {
            assert_eq!(snake_case(class), want, "{class}");
        }
    }
}

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
use std::sync::Arc;

use hdf5::types::{FixedAscii, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Group, Location};

use super::config::{parse_json, parse_model, sniff_dialect};
use super::guard::{self, CrashGuard};
use super::{
    dialect_of_version, Format, KerasModel, LayerConfig, ModelConfig, NamedTensor, HDF5_SIGNATURE,
};
use crate::error::{Error, Result};
use crate::tensor::{checked_len, Tensor};

/// Reads a legacy `model.save('x.h5')` file: config and weights.
pub fn read_legacy_model(path: &Path) -> Result<KerasModel> {
    let _guard = CrashGuard::new(path);
    let file = open(path)?;
    let config_text = read_string(&file, "model_config", path)?.ok_or_else(|| {
        let hint = if has_any_attr(&file, "layer_names") || file.link_exists("layers") {
            "this is a weights-only file: pass it with --weights next to a model that has the config (for example keqv run MODEL.keras --weights FILE)"
        } else {
            "it is not a Keras model saved with model.save(): re-save the model with model.save('x.keras')"
        };
        Error::format(path, format!("HDF5 file has no 'model_config' attribute; {hint}"))
    })?;
    let keras_version = read_string(&file, "keras_version", path)?;
    let backend = read_string(&file, "backend", path)?;
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
        weights_file: None,
    };
    let group = file.group("model_weights").map_err(|_| {
        Error::format(
            path,
            "HDF5 model file has no 'model_weights' group, so it holds no weights; re-save the model with model.save() or pass its weights with --weights",
        )
    })?;
    let mut reader = Reader::new(path, path)?;
    let layers = reader.legacy_layers(&group)?;
    assign_legacy(&mut model.model, layers, path)?;
    model.warnings.extend(reader.into_warnings());
    Ok(model)
}

/// Replaces the model's weights with those of a weights file in either layout.
pub fn load_weights_file(model: &mut KerasModel, path: &Path) -> Result<()> {
    load_weights_file_as(model, path, path)
}

/// [`load_weights_file`] for a file at `actual` that messages call `shown` (an archive member).
pub fn load_weights_file_as(model: &mut KerasModel, actual: &Path, shown: &Path) -> Result<()> {
    let _guard = CrashGuard::new(shown);
    let file = open_as(actual, shown)?;
    let path = shown;
    let mut reader = Reader::new(path, actual)?;
    clear_weights(&mut model.model);
    if file.link_exists("layers") {
        let layers = file
            .group("layers")
            .map_err(|e| Error::format(path, first_line(&e.to_string()).to_string()))?;
        reader.v3_model(&mut model.model, &layers)?;
    } else {
        let group = if file.link_exists("model_weights") {
            file.group("model_weights")
                .map_err(|e| Error::format(path, first_line(&e.to_string()).to_string()))?
        } else {
            file.as_group()
                .map_err(|e| Error::format(path, first_line(&e.to_string()).to_string()))?
        };
        if !has_any_attr(&group, "layer_names") {
            return Err(Error::format(
                path,
                "not a Keras weights file: it has no 'layers' group and no 'layer_names' attribute; give a file written by save_weights() or model.save()",
            ));
        }
        let layers = reader.legacy_layers(&group)?;
        assign_legacy(&mut model.model, layers, path)?;
    }
    model.warnings.extend(reader.into_warnings());
    Ok(())
}

/// Reads the Keras 3 layout (`model.weights.h5` inside a `.keras`) onto the model.
pub fn read_v3_weights(model: &mut KerasModel, h5_path: &Path, shown_path: &Path) -> Result<()> {
    let _guard = CrashGuard::new(shown_path);
    let file = open_as(h5_path, shown_path)?;
    let layers = file
        .group("layers")
        .map_err(|_| {
            Error::format(
                shown_path,
                "model.weights.h5 has no 'layers' group, so it holds no weights; re-save the model with model.save('x.keras')",
            )
        })?;
    let mut reader = Reader::new(shown_path, h5_path)?;
    reader.v3_model(&mut model.model, &layers)?;
    model.warnings.extend(reader.into_warnings());
    Ok(())
}

fn open(path: &Path) -> Result<hdf5::File> {
    open_as(path, path)
}

/// keqv only reads model files, and HDF5's advisory lock only makes an open fail while any
/// other handle (in this process too, e.g. a file just written by `convert`) is still
/// closing; turn it off unless the user chose otherwise. HDF5 reads the variable at each open.
pub(crate) fn disable_file_locking() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("HDF5_USE_FILE_LOCKING").is_none() {
            std::env::set_var("HDF5_USE_FILE_LOCKING", "FALSE");
        }
    });
}

fn open_as(path: &Path, shown: &Path) -> Result<hdf5::File> {
    check_hdf5_header(path, shown)?;
    disable_file_locking();
    hdf5::File::open(path).map_err(|e| {
        let text = e.to_string();
        let detail = if text.contains("unable to lock file") {
            "the file is locked by another process, which may still be writing it; wait until it is closed (or set HDF5_USE_FILE_LOCKING=FALSE)".to_string()
        } else {
            format!(
                "the HDF5 library cannot open it ({}); the file is corrupt: copy it again or re-save the model",
                first_line(&text)
            )
        };
        Error::format(shown, detail)
    })
}

/// Checks the HDF5 signature and, from the superblock, that the file is as long as it says, so
/// that truncated files get a plain message instead of the HDF5 library's.
fn check_hdf5_header(path: &Path, shown: &Path) -> Result<()> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| super::read_error(shown, e))?;
    let len = file
        .metadata()
        .map_err(|e| super::read_error(shown, e))?
        .len();
    let mut head = Vec::with_capacity(64);
    file.take(64)
        .read_to_end(&mut head)
        .map_err(|e| super::read_error(shown, e))?;
    if head.is_empty() {
        return Err(Error::format(
            shown,
            "the file is empty (0 bytes); expected an HDF5 file written by Keras: check the path",
        ));
    }
    if !head.starts_with(HDF5_SIGNATURE) {
        let hint = if head.starts_with(b"PK") {
            "it is a zip archive (a .keras model?); give a .h5 file here"
        } else {
            "give a file written by Keras (model.save or save_weights)"
        };
        return Err(Error::format(
            shown,
            format!("not an HDF5 file (no HDF5 signature); {hint}"),
        ));
    }
    let truncated = |needed: u64| {
        Error::format(
            shown,
            format!(
                "the HDF5 file is truncated: it has {len} of its {needed} bytes; copy or download it again"
            ),
        )
    };
    match superblock_end(&head) {
        Some(end) if end > len => Err(truncated(end)),
        Some(_) => Ok(()),
        None if (head.len() as u64) < 64 && len < 64 => Err(Error::format(
            shown,
            format!(
                "the HDF5 file is truncated: it has only {len} bytes, less than its header; copy or download it again"
            ),
        )),
        None => Ok(()),
    }
}

/// The end of the file according to its superblock (base address + end-of-file address), for
/// superblock versions 0 to 3; None when the header is too short or not understood.
fn superblock_end(head: &[u8]) -> Option<u64> {
    let version = *head.get(8)?;
    let (offset_size, base_at) = match version {
        0 => (*head.get(13)? as usize, 24),
        1 => (*head.get(13)? as usize, 28),
        2 | 3 => (*head.get(9)? as usize, 12),
        _ => return None,
    };
    let read = |at: usize| -> Option<u64> {
        let bytes = head.get(at..at + offset_size)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        )
    };
    if !matches!(offset_size, 2 | 4 | 8) {
        return None;
    }
    let base = read(base_at)?;
    // v0/v1: base, free-space, end-of-file; v2/v3: base, superblock extension, end-of-file.
    let eof = read(base_at + 2 * offset_size)?;
    base.checked_add(eof)
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
    /// (bits, "layer 'x' weight 'y'") of weights converted to float32.
    converted: Vec<(usize, String)>,
    /// Weights holding NaN or infinite values.
    non_finite: Vec<String>,
}

impl<'a> Reader<'a> {
    /// `path` names the file in messages; `actual` is where its bytes are (a temporary copy of
    /// an archive member, or the same file).
    fn new(path: &'a Path, actual: &Path) -> Result<Self> {
        let file_len = std::fs::metadata(actual)
            .map_err(|e| super::read_error(path, e))?
            .len();
        Ok(Reader {
            path,
            file_len,
            converted: Vec::new(),
            non_finite: Vec::new(),
        })
    }

    /// Legacy layout: `(layer name, weights)` in `layer_names` order.
    fn legacy_layers(&mut self, group: &Group) -> Result<Vec<(String, Vec<NamedTensor>)>> {
        let names = read_string_list(group, "layer_names", self.path)?;
        names
            .into_iter()
            .map(|layer| {
                guard::progress(0);
                let g = group.group(&layer).map_err(|_| {
                    Error::format(
                        self.path,
                        format!("layer_names lists '{layer}' but there is no group '{layer}'; the file is incomplete: re-save the model"),
                    )
                })?;
                let weight_names = read_string_list(&g, "weight_names", self.path)?;
                let weights = weight_names
                    .iter()
                    .map(|w| {
                        let value = self.dataset(&g, w, &layer)?;
                        Ok(NamedTensor {
                            name: short_weight_name(w),
                            value: Arc::new(value),
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
        let mut used: Vec<String> = Vec::new();
        for layer in &mut model.layers {
            guard::progress(0);
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
            used.push(group_name.clone());
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
        self.check_all_used(model, layers_group, &used)
    }

    /// Weights in groups that no layer of the model maps to mean the file was saved from another
    /// model (different layers, or layers in another order); refuse rather than guess.
    fn check_all_used(
        &self,
        model: &ModelConfig,
        layers_group: &Group,
        used: &[String],
    ) -> Result<()> {
        let members = layers_group
            .member_names()
            .map_err(|e| Error::format(self.path, first_line(&e.to_string()).to_string()))?;
        let unused: Vec<String> = members
            .into_iter()
            .filter(|m| !used.contains(m))
            .filter(|m| {
                layers_group
                    .group(m)
                    .is_ok_and(|g| group_has_weights(&g, 0))
            })
            .collect();
        if unused.is_empty() {
            return Ok(());
        }
        let prefix = layers_group.name().trim_start_matches('/').to_string();
        let shown: Vec<String> = unused
            .iter()
            .take(5)
            .map(|m| format!("'{prefix}/{m}'"))
            .collect();
        Err(Error::format(
            self.path,
            format!(
                "the weights file has weights in {} that no layer of model '{}' maps to; it was saved from a different model: pass the weights saved from this model",
                shown.join(", "),
                model.name
            ),
        ))
    }

    fn missing_group(&self, group: &str, layer: &LayerConfig) -> Error {
        Error::layer(
            self.path,
            &layer.name,
            layer.display_class(),
            format!("the weights file has no group 'layers/{group}' for this layer; it was saved from a different model: pass the weights saved from this model"),
        )
    }

    /// Keras 3 writes the real layer name in `vars/@name`; a mismatch means the file belongs to
    /// another model.
    fn check_name_attr(&self, group: &Group, group_name: &str, layer: &LayerConfig) -> Result<()> {
        let Ok(vars) = group.group("vars") else {
            return Ok(());
        };
        match read_string(&vars, "name", self.path)? {
            Some(name) if name != layer.name && layer.nested.is_none() => Err(Error::layer(
                self.path,
                &layer.name,
                layer.display_class(),
                format!("weights group 'layers/{group_name}' belongs to a layer named '{name}': the weights file was saved from a different model; pass the weights saved from this model"),
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
                format!("layers/{group_name}/vars has members {names:?}, expected 0, 1, …; the file is corrupt: re-save the model"),
            ));
        }
        indices
            .iter()
            .map(|i| {
                let value = self.dataset(&vars, &i.to_string(), layer)?;
                Ok(NamedTensor {
                    name: i.to_string(),
                    value: Arc::new(value),
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
                format!(
                    "layer '{layer}': weight dataset '{}/{name}' is missing; the file is incomplete: re-save the model",
                    group.name().trim_start_matches('/')
                ),
            )
        })?;
        let dtype = ds.dtype().map_err(|e| {
            Error::format(
                self.path,
                format!(
                    "layer '{layer}': weight '{name}': cannot read its type ({}); the file is corrupt: re-save the model",
                    first_line(&e.to_string())
                ),
            )
        })?;
        // float16 has no type descriptor in this build of the HDF5 bindings; HDF5 converts it.
        let size = match dtype.to_descriptor() {
            Ok(TypeDescriptor::Float(size)) => size as usize,
            Err(_) if dtype.size() == 2 && dtype.conv_to::<f32>().is_some() && !dtype.is::<u16>() && !dtype.is::<i16>() => 2,
            Ok(other) => {
                return Err(Error::format(
                    self.path,
                    format!("layer '{layer}': weight '{name}' has type {other}; only float weights (float16, float32, float64) can be used: convert the weights to float32 and re-save"),
                ))
            }
            Err(e) => {
                return Err(Error::format(
                    self.path,
                    format!("layer '{layer}': weight '{name}' has an unsupported type ({}); only float16, float32 and float64 weights can be used", first_line(&e.to_string())),
                ))
            }
        };
        let shape = ds.shape();
        let bytes = checked_len(&shape).and_then(|n| n.checked_mul(size));
        if bytes.is_none_or(|b| b as u64 > self.file_len) {
            return Err(Error::format(
                self.path,
                format!("layer '{layer}': weight '{name}' claims shape {shape:?}, larger than the file itself; the file is corrupt: re-save the model"),
            ));
        }
        guard::progress(bytes.unwrap_or(0) as u64);
        let value = ds.read_dyn::<f32>().map_err(|e| {
            Error::format(
                self.path,
                format!(
                    "layer '{layer}': cannot read weight '{name}' ({}); the file is corrupt: re-save the model",
                    first_line(&e.to_string())
                ),
            )
        })?;
        let what = format!("layer '{layer}' weight '{name}'");
        if size != 4 {
            self.converted.push((size * 8, what.clone()));
        }
        let nan = value.iter().filter(|v| v.is_nan()).count();
        let inf = value.iter().filter(|v| v.is_infinite()).count();
        if nan + inf > 0 {
            self.non_finite
                .push(format!("{what} ({nan} NaN, {inf} infinite)"));
        }
        Ok(value)
    }

    /// What the user should know about the weights read: conversions and non-finite values.
    fn into_warnings(self) -> Vec<String> {
        let mut warnings = Vec::new();
        let list = |items: &[&String]| {
            let shown: Vec<&str> = items.iter().take(3).map(|s| s.as_str()).collect();
            let more = items.len().saturating_sub(shown.len());
            if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                shown.join(", ")
            }
        };
        for bits in [16, 64] {
            let items: Vec<&String> = self
                .converted
                .iter()
                .filter(|(b, _)| *b == bits)
                .map(|(_, w)| w)
                .collect();
            if !items.is_empty() {
                warnings.push(format!(
                    "{} weight(s) are stored as float{bits} and were converted to float32: {}",
                    items.len(),
                    list(&items)
                ));
            }
        }
        if !self.non_finite.is_empty() {
            let items: Vec<&String> = self.non_finite.iter().collect();
            warnings.push(format!(
                "{} weight(s) hold NaN or infinite values, so outputs will likely be NaN: {}",
                items.len(),
                list(&items)
            ));
        }
        warnings
    }
}

/// Does this group (a layer's, in the Keras 3 layout) hold any variable, itself or nested?
fn group_has_weights(group: &Group, depth: usize) -> bool {
    if depth > 32 {
        return true;
    }
    let vars = group
        .group("vars")
        .is_ok_and(|v| v.member_names().is_ok_and(|m| !m.is_empty()));
    vars || group.group("layers").is_ok_and(|layers| {
        layers.member_names().unwrap_or_default().iter().any(|m| {
            layers
                .group(m)
                .is_ok_and(|g| group_has_weights(&g, depth + 1))
        })
    })
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
                format!("the weights file has weights for layer '{name}', which the model does not have (its layers: {}); the weights were saved from a different model: pass the weights saved from this model", known.join(", ")),
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
fn read_string(loc: &Location, name: &str, path: &Path) -> Result<Option<String>> {
    let Ok(attr) = loc.attr(name) else {
        return Ok(None);
    };
    let list = string_values(&attr).map_err(|e| {
        Error::format(
            path,
            format!(
                "attribute '{name}' of '{}': {e}; the file is corrupt: re-save the model",
                loc.name()
            ),
        )
    })?;
    Ok(list.into_iter().next())
}

/// A list-of-strings attribute, joining Keras's split `name0, name1, …` form; an empty float
/// array (Keras's empty list) reads as no strings.
fn read_string_list(loc: &Location, name: &str, path: &Path) -> Result<Vec<String>> {
    let bad = |e: String| {
        Error::format(
            path,
            format!(
                "attribute '{name}' of '{}': {e}; the file is corrupt: re-save the model",
                loc.name()
            ),
        )
    };
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
            format!(
                "'{}' has no '{name}' attribute; the file is incomplete: re-save the model",
                loc.name()
            ),
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
        .map_err(|e| first_line(&e.to_string()).to_string())?;
    let err = |e: hdf5::Error| first_line(&e.to_string()).to_string();
    // The bindings' `as_str` trusts the bytes to be UTF-8; a corrupt file need not be.
    let text = |bytes: &[u8]| {
        String::from_utf8(bytes.to_vec()).map_err(|_| "holds a string that is not text".to_string())
    };
    match dtype {
        TypeDescriptor::VarLenAscii => attr
            .read_raw::<VarLenAscii>()
            .map_err(err)?
            .iter()
            .map(|s| text(s.as_bytes()))
            .collect(),
        TypeDescriptor::VarLenUnicode => attr
            .read_raw::<VarLenUnicode>()
            .map_err(err)?
            .iter()
            .map(|s| text(s.as_bytes()))
            .collect(),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n)
            if n <= MAX_FIXED_STRING =>
        {
            attr.read_raw::<FixedAscii<MAX_FIXED_STRING>>()
                .map_err(err)?
                .iter()
                .map(|s| text(s.as_bytes()))
                .collect()
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

//! The Keras 3 layout: `layers/<snake_case(class)>[_k]/vars/0..n` (a layer's variables and
//! its sublayers' are read in `keras3_vars.rs`), nested models under `layers/<group>/layers/`.

use std::collections::HashMap;

use hdf5::Group;

use super::reader::Reader;
use crate::error::{Error, Result};
use crate::keras::guard;
use crate::keras::h5_attrs::read_string;
use crate::keras::h5_open::first_line;
use crate::keras::{LayerConfig, ModelConfig};

impl Reader<'_> {
    /// Keras 3 layout for one model: walks its layers in config order with per-class counters.
    pub(super) fn v3_model(&mut self, model: &mut ModelConfig, layers_group: &Group) -> Result<()> {
        let mut used: Vec<String> = Vec::new();
        let names = v3_group_names(model);
        for (layer, group_name) in model.layers.iter_mut().zip(names) {
            guard::progress(0);
            let Some(group_name) = group_name else {
                continue;
            };
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
                None => layer.weights = self.v3_layer(&group, &group_name, layer)?,
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

/// Each layer's group under `layers/` in a Keras 3 file (its weights', its assets'), in config
/// order: `snake_case(class)`, then `_1`, `_2`… for later layers of the class; None for the
/// layers Keras does not track (a Sequential model's InputLayer, op layers such as `x + 3.0`).
pub(crate) fn v3_group_names(model: &ModelConfig) -> Vec<Option<String>> {
    let skip_input = model.is_sequential();
    let mut counters: HashMap<String, usize> = HashMap::new();
    model
        .layers
        .iter()
        .map(|layer| {
            if (skip_input && layer.class_name == "InputLayer") || layer.op_layer().is_some() {
                return None;
            }
            let base = snake_case(&layer.class_name);
            let k = counters.entry(base.clone()).or_insert(0);
            let name = if *k == 0 { base } else { format!("{base}_{k}") };
            *k += 1;
            Some(name)
        })
        .collect()
}

/// Does this (nested) model have any layer that could carry weights?
fn has_weighted_layers(model: &ModelConfig) -> bool {
    model.layers.iter().any(|l| l.class_name != "InputLayer")
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

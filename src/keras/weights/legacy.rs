//! The legacy layout: `layer_names`, then each layer's `weight_names` and datasets.

use std::path::Path;
use std::sync::Arc;

use hdf5::Group;

use super::legacy_names::{name_model_by_class, scope_end, under_layer};
use super::reader::Reader;
use crate::error::{Error, Result};
use crate::keras::guard;
use crate::keras::h5_attrs::read_string_list;
use crate::keras::{ModelConfig, NamedTensor};

impl Reader<'_> {
    /// Legacy layout: `(layer name, weights)` in `layer_names` order.
    pub(super) fn legacy_layers(
        &mut self,
        group: &Group,
    ) -> Result<Vec<(String, Vec<NamedTensor>)>> {
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
}

/// Puts legacy `(layer name, weights)` pairs onto the model's layers, by layer name. Weights of
/// a nested model are listed under the nested model's name, each named `…/inner_layer/var`.
pub(super) fn assign_legacy(
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
            None => {
                layer.weights = weights
                    .into_iter()
                    .map(|w| NamedTensor {
                        name: under_layer(&w.name, &name),
                        value: w.value,
                    })
                    .collect();
            }
            Some(nested) => {
                for w in weights {
                    assign_nested(nested, w, &name, path)?;
                }
            }
        }
    }
    name_model_by_class(model);
    Ok(())
}

/// A nested model's legacy weight `…/layer/var` goes to the inner layer named in its path,
/// named by its path under that layer.
fn assign_nested(
    model: &mut ModelConfig,
    weight: NamedTensor,
    outer: &str,
    path: &Path,
) -> Result<()> {
    let parts: Vec<&str> = weight.name.split('/').collect();
    for layer in &mut model.layers {
        if scope_end(&parts, &layer.name).is_none() {
            continue;
        }
        match &mut layer.nested {
            None => layer.weights.push(NamedTensor {
                name: under_layer(&weight.name, &layer.name),
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

//! Weights in HDF5, in the two layouts Keras writes (keras-formats.md §4.4, §5, §6):
//!
//! - legacy: `model_weights/@layer_names` (or the root, for weights-only files), then for each
//!   layer `L/@weight_names`, dataset `L/<weight name>`. Names may be split into
//!   `layer_names0, layer_names1, …` fixed-length arrays; empty lists are float64 arrays.
//! - Keras 3 (`model.weights.h5`, `*.weights.h5`): `layers/<snake_case(class)>[_k]/vars/0..n`,
//!   group names counted per class in `model.layers` order; a sublayer's variables under
//!   `layers/<group>/<attribute>/vars/`; nested models recurse under `layers/<group>/layers/`.
//!
//! Both name each variable the same way ([`weight_name`]: `kernel`, `cell/kernel`).

mod keras3;
mod keras3_vars;
mod legacy;
mod legacy_names;
mod names;
mod reader;
mod sublayers;

use std::path::Path;

use super::config::parse_json;
use super::guard::CrashGuard;
use super::h5_attrs::{has_any_attr, read_string};
use super::h5_image::ImageBytes;
pub(crate) use super::h5_open::disable_file_locking;
use super::h5_open::{first_line, open, open_image, H5File};
use super::{Format, KerasModel, ModelConfig};
use crate::error::{Error, Result};
pub use keras3::snake_case;
pub(crate) use keras3::v3_group_names;
use legacy::assign_legacy;
pub use names::{split_weight_name, weight_name};
use reader::Reader;
pub use sublayers::{expected_names, places, wrapped_layer, Place};

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
    let mut model = KerasModel::from_config(path, Format::H5, keras_version, backend, raw_config)?;
    let group = file.group("model_weights").map_err(|_| {
        Error::format(
            path,
            "HDF5 model file has no 'model_weights' group, so it holds no weights; re-save the model with model.save() or pass its weights with --weights",
        )
    })?;
    let mut reader = Reader::new(path, &file);
    let layers = reader.legacy_layers(&group)?;
    assign_legacy(&mut model.model, layers, path)?;
    model.warnings.extend(reader.into_warnings());
    Ok(model)
}

/// Replaces the model's weights with those of a weights file in either layout.
pub fn load_weights_file(model: &mut KerasModel, path: &Path) -> Result<()> {
    let _guard = CrashGuard::new(path);
    let file = open(path)?;
    load_weights(model, &file, path)
}

/// [`load_weights_file`] for a weights file in memory (an archive member), named `shown`.
pub(crate) fn load_weights_image(
    model: &mut KerasModel,
    bytes: ImageBytes,
    shown: &Path,
) -> Result<()> {
    let _guard = CrashGuard::new(shown);
    let file = open_image(bytes, shown)?;
    load_weights(model, &file, shown)
}

fn load_weights(model: &mut KerasModel, file: &H5File, path: &Path) -> Result<()> {
    let mut reader = Reader::new(path, file);
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

/// Reads the Keras 3 layout (`model.weights.h5` inside a `.keras`, in memory) onto the model.
pub(crate) fn read_v3_weights(
    model: &mut KerasModel,
    bytes: ImageBytes,
    shown_path: &Path,
) -> Result<()> {
    let _guard = CrashGuard::new(shown_path);
    let file = open_image(bytes, shown_path)?;
    let layers = file
        .group("layers")
        .map_err(|_| {
            Error::format(
                shown_path,
                "model.weights.h5 has no 'layers' group, so it holds no weights; re-save the model with model.save('x.keras')",
            )
        })?;
    let mut reader = Reader::new(shown_path, &file);
    reader.v3_model(&mut model.model, &layers)?;
    model.warnings.extend(reader.into_warnings());
    Ok(())
}

fn clear_weights(model: &mut ModelConfig) {
    for layer in &mut model.layers {
        layer.weights.clear();
        if let Some(nested) = &mut layer.nested {
            clear_weights(nested);
        }
    }
}

//! HDF5 writers for a Sequential model's weights, with the attribute types Keras uses
//! (keras-formats.md §3–§6): the legacy `.h5` (`model_config` + `model_weights`) and the
//! `model.weights.h5` inside a `.keras` archive (`layers/<class>_<k>/vars/<i>`, a sublayer's
//! variables at `layers/<class>_<k>/<sublayer>/vars/<i>`, a nested model's layers at
//! `layers/functional_<k>/layers/<class>_<j>/…`).
//!
//! A nested model is one layer of the legacy file: its group lists the weights of all its
//! layers, named `<layer>/<variable>` (tf-keras adds `:0`), the trainable ones first and then
//! the others (moving statistics, frozen layers), as Keras's `_legacy_weights` orders them:
//! Keras reads them back by position.
//!
//! Attribute names are ASCII-encoded, as h5py writes them; datasets are contiguous
//! little-endian float32 without timestamps.

use std::collections::HashMap;
use std::path::Path;

use hdf5::plist::CharEncoding;
use hdf5::types::{FixedAscii, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Group, Location};

use crate::error::{Error, Result};
use crate::keras::weights::{snake_case, Place};
use crate::keras::Dialect;
use crate::tensor::Tensor;

/// One layer of the Sequential model, as far as weight files care.
pub struct LayerWeights<'a> {
    pub name: &'a str,
    /// The Python class (`Dense`, `FeatureNormalization`): it names the `.keras` groups.
    pub class_name: &'a str,
    /// Where each variable goes (its sublayer group, its legacy name) and its value, in
    /// Keras's order.
    pub vars: Vec<(Place, &'a Tensor)>,
    /// Whether each variable is trainable.
    pub trainable: Vec<bool>,
    /// A nested model's layers in its `layers` order, its InputLayer first; None for a layer.
    pub layers: Option<Vec<LayerWeights<'a>>>,
    /// Whether Keras gives the layer a group of the `.keras` layout (not an op layer).
    pub tracked: bool,
}

impl<'a> LayerWeights<'a> {
    /// A layer whose variables are all trainable, or all not.
    pub fn layer(name: &'a str, class_name: &'a str, vars: Vec<(Place, &'a Tensor)>) -> Self {
        let trainable = vec![true; vars.len()];
        LayerWeights {
            name,
            class_name,
            vars,
            trainable,
            layers: None,
            tracked: true,
        }
    }

    /// The legacy `(name under the layer's group, value)` list: a layer's own variables, or a
    /// nested model's, trainable first.
    fn legacy(&self, dialect: Dialect, model_name: &str) -> Vec<(String, &'a Tensor)> {
        let suffix = match dialect {
            Dialect::Keras3 => "",
            Dialect::TfKeras2 => ":0",
        };
        let Some(layers) = &self.layers else {
            return self
                .vars
                .iter()
                .map(|(place, value)| {
                    let name = match dialect {
                        Dialect::Keras3 => format!("{model_name}/{}/{}", self.name, place.legacy),
                        Dialect::TfKeras2 => format!("{}/{}:0", self.name, place.legacy),
                    };
                    (name, *value)
                })
                .collect();
        };
        let mut out = Vec::new();
        for trainable in [true, false] {
            for layer in layers {
                for ((place, value), t) in layer.vars.iter().zip(&layer.trainable) {
                    if *t == trainable {
                        out.push((format!("{}/{}{suffix}", layer.name, place.legacy), *value));
                    }
                }
            }
        }
        out
    }
}

/// Attribute values larger than this are split into `name0, name1, …` (Keras's
/// `HDF5_OBJECT_HEADER_LIMIT`).
const HEADER_LIMIT: usize = 64512;

/// Longest layer or weight name a split attribute can hold.
const MAX_FIXED: usize = 4096;

/// What the root of a legacy file says about its writer.
pub struct Versions<'a> {
    pub keras_version: &'a str,
    pub backend: &'a str,
}

/// Writes a legacy `model.save('x.h5')` file.
pub fn write_legacy(
    path: &Path,
    model_config: &str,
    model_name: &str,
    layers: &[LayerWeights],
    dialect: Dialect,
    versions: &Versions,
) -> Result<()> {
    let fail = |e: hdf5::Error| Error::io(path, format!("cannot write HDF5: {e}"));
    crate::keras::weights::disable_file_locking();
    let file = hdf5::File::create(path).map_err(fail)?;
    utf8_scalar(&file, "keras_version", versions.keras_version).map_err(fail)?;
    utf8_scalar(&file, "backend", versions.backend).map_err(fail)?;
    let config = ascii(model_config, "model_config", path)?;
    ascii_scalar(&file, "model_config", config).map_err(fail)?;
    let group = file.create_group("model_weights").map_err(fail)?;
    let names: Vec<String> = layers.iter().map(|l| l.name.to_string()).collect();
    string_list(&group, "layer_names", &names, path)?;
    ascii_scalar(&group, "backend", ascii(versions.backend, "backend", path)?).map_err(fail)?;
    let version = ascii(versions.keras_version, "keras_version", path)?;
    ascii_scalar(&group, "keras_version", version).map_err(fail)?;
    let mut sorted: Vec<&LayerWeights> = layers.iter().collect();
    sorted.sort_by_key(|l| l.name);
    for layer in sorted {
        let g = group.create_group(layer.name).map_err(fail)?;
        let vars = layer.legacy(dialect, model_name);
        let names: Vec<String> = vars.iter().map(|(n, _)| n.clone()).collect();
        string_list(&g, "weight_names", &names, path)?;
        for (name, value) in &vars {
            dataset(&g, name, value).map_err(fail)?;
        }
    }
    let top = group
        .create_group("top_level_model_weights")
        .map_err(fail)?;
    string_list(&top, "weight_names", &[], path)?;
    file.close().map_err(fail)
}

/// Writes the `model.weights.h5` of a `.keras` archive. Keras 3 names each `vars` group with
/// the layer's name; tf-keras writes no names.
pub fn write_v3_weights(
    path: &Path,
    model_name: &str,
    layers: &[LayerWeights],
    dialect: Dialect,
) -> Result<()> {
    let fail = |e: hdf5::Error| Error::io(path, format!("cannot write HDF5: {e}"));
    crate::keras::weights::disable_file_locking();
    let file = hdf5::File::create(path).map_err(fail)?;
    // Keras saves the model's own (empty) variables first, then each layer's.
    let vars = file.create_group("vars").map_err(fail)?;
    if dialect == Dialect::Keras3 {
        utf8_scalar(&vars, "name", model_name).map_err(fail)?;
    }
    write_v3_layers(&file, layers, dialect).map_err(fail)?;
    file.close().map_err(fail)
}

/// Each layer's group under `layers/` of `parent`, named by class with a counter per class in
/// the layers' order; a nested model's own (empty) `vars` and its layers under it.
fn write_v3_layers(parent: &Group, layers: &[LayerWeights], dialect: Dialect) -> hdf5::Result<()> {
    let mut counters: HashMap<String, usize> = HashMap::new();
    for layer in layers.iter().filter(|l| l.tracked) {
        let base = snake_case(layer.class_name);
        let k = counters.entry(base.clone()).or_insert(0);
        let group_name = if *k == 0 { base } else { format!("{base}_{k}") };
        *k += 1;
        let group = parent.create_group(&format!("layers/{group_name}"))?;
        let vars = group.create_group("vars")?;
        if dialect == Dialect::Keras3 {
            utf8_scalar(&vars, "name", layer.name)?;
        }
        if let Some(inner) = &layer.layers {
            write_v3_layers(&group, inner, dialect)?;
            continue;
        }
        // A sublayer's variables go to `<sublayer group>/vars/<i>`, numbered within it.
        let mut numbered: HashMap<&str, usize> = HashMap::new();
        for (place, value) in &layer.vars {
            let i = numbered.entry(place.group.as_str()).or_insert(0);
            let at = match place.group.as_str() {
                "" => format!("vars/{i}"),
                sub => format!("{sub}/vars/{i}"),
            };
            *i += 1;
            dataset(&group, &at, value)?;
        }
    }
    Ok(())
}

/// A float32 dataset at `name` under `group` (a `/` in the name makes intermediate groups).
fn dataset(group: &Group, name: &str, value: &Tensor) -> hdf5::Result<()> {
    let (parent, leaf) = match name.rsplit_once('/') {
        Some((dir, leaf)) => (Some(dir), leaf),
        None => (None, name),
    };
    let parent = match parent {
        Some(dir) if group.link_exists(dir) => group.group(dir)?,
        Some(dir) => group.create_group(dir)?,
        None => group.clone(),
    };
    let data = value.as_standard_layout();
    parent
        .new_dataset_builder()
        .obj_track_times(false)
        .with_data(&data)
        .create(leaf)?;
    Ok(())
}

fn ascii<'s>(text: &'s str, what: &str, path: &Path) -> Result<&'s str> {
    if text.is_ascii() {
        Ok(text)
    } else {
        Err(Error::format(
            path,
            format!("{what} '{text}' is not ASCII, which a legacy .h5 file cannot hold; write a .keras file instead"),
        ))
    }
}

/// A variable-length UTF-8 string scalar (`backend`, `keras_version` on the root, `vars@name`).
fn utf8_scalar(loc: &Location, name: &str, value: &str) -> hdf5::Result<()> {
    let value: VarLenUnicode = value
        .parse()
        .map_err(|e| hdf5::Error::from(format!("{e}")))?;
    loc.new_attr::<VarLenUnicode>()
        .char_encoding(CharEncoding::Ascii)
        .create(name)?
        .write_scalar(&value)
}

/// A variable-length ASCII string scalar (`model_config`, the copies on `model_weights`).
fn ascii_scalar(loc: &Location, name: &str, value: &str) -> hdf5::Result<()> {
    let value = VarLenAscii::from_ascii(value).map_err(|e| hdf5::Error::from(format!("{e}")))?;
    loc.new_attr::<VarLenAscii>()
        .char_encoding(CharEncoding::Ascii)
        .create(name)?
        .write_scalar(&value)
}

/// Keras's `save_attributes_to_hdf5_group`: a list of names as a variable-length ASCII array,
/// an empty list as an empty float64 array, and a list over 64512 bytes (as fixed-length
/// strings of the longest name) split into `name0, name1, …` fixed-length arrays the way
/// `np.array_split` splits it.
fn string_list(loc: &Location, name: &str, values: &[String], path: &Path) -> Result<()> {
    let fail = |e: hdf5::Error| Error::io(path, format!("cannot write attribute '{name}': {e}"));
    if values.is_empty() {
        loc.new_attr::<f64>()
            .char_encoding(CharEncoding::Ascii)
            .shape([0usize])
            .create(name)
            .map_err(fail)?;
        return Ok(());
    }
    for v in values {
        ascii(v, "name", path)?;
    }
    let width = values.iter().map(String::len).max().unwrap_or(0).max(1);
    let chunks = chunk_count(values.len(), width);
    if chunks == 1 {
        let list = values
            .iter()
            .map(|v| VarLenAscii::from_ascii(v).map_err(|e| hdf5::Error::from(format!("{e}"))))
            .collect::<hdf5::Result<Vec<_>>>()
            .map_err(fail)?;
        loc.new_attr_builder()
            .char_encoding(CharEncoding::Ascii)
            .with_data(list.as_slice())
            .create(name)
            .map_err(fail)?;
        return Ok(());
    }
    if width > MAX_FIXED {
        return Err(Error::format(
            path,
            format!("a name in '{name}' is longer than {MAX_FIXED} bytes"),
        ));
    }
    let mut start = 0;
    for (i, len) in split_sizes(values.len(), chunks).into_iter().enumerate() {
        let part = values[start..start + len]
            .iter()
            .map(|v| {
                FixedAscii::<MAX_FIXED>::from_ascii(v.as_bytes())
                    .map_err(|e| hdf5::Error::from(format!("{e}")))
            })
            .collect::<hdf5::Result<Vec<_>>>()
            .map_err(fail)?;
        loc.new_attr_builder()
            .char_encoding(CharEncoding::Ascii)
            .with_data_as(part.as_slice(), &TypeDescriptor::FixedAscii(width))
            .create(format!("{name}{i}").as_str())
            .map_err(fail)?;
        start += len;
    }
    Ok(())
}

/// How many pieces Keras splits `n` names of `width` bytes into.
fn chunk_count(n: usize, width: usize) -> usize {
    let mut chunks = 1;
    while n.div_ceil(chunks) * width > HEADER_LIMIT && chunks < n {
        chunks += 1;
    }
    chunks
}

/// `np.array_split` sizes: the first `n % k` pieces get one more element.
fn split_sizes(n: usize, k: usize) -> Vec<usize> {
    (0..k).map(|i| n / k + usize::from(i < n % k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_keras() {
        // e_bignames: 301 names of 242 bytes are written as 151 + 150.
        assert_eq!(chunk_count(301, 242), 2);
        assert_eq!(split_sizes(301, 2), [151, 150]);
        assert_eq!(chunk_count(300, 10), 1);
        assert_eq!(chunk_count(1000, 242), 4);
        assert_eq!(split_sizes(1000, 4), [250, 250, 250, 250]);
    }
}

//! A `.keras` archive's assets: what Keras 3 saves beside the weights. An adapted IntegerLookup
//! keeps its vocabulary there (`assets/layers/<group>/vocabulary.txt`, one id per line, its
//! special tokens first) instead of in its config; it is read into the config's `vocabulary`,
//! as if the layer had been made with it, so the op family and `convert` see one place.

use serde_json::Value;

use super::weights::v3_group_names;
use super::{LayerConfig, ModelConfig};

/// Fills the `vocabulary` of every IntegerLookup (nested models' too) whose config has none
/// from the asset `read(member)` returns, where there is one.
pub(super) fn read_vocabularies(
    model: &mut ModelConfig,
    prefix: &str,
    read: &mut dyn FnMut(&str) -> Option<String>,
) {
    let names = v3_group_names(model);
    for (layer, group) in model.layers.iter_mut().zip(names) {
        let Some(group) = group else {
            continue;
        };
        let folder = format!("{prefix}{group}");
        if let Some(nested) = &mut layer.nested {
            read_vocabularies(nested, &format!("{folder}/layers/"), read);
        } else if layer.class_name == "IntegerLookup"
            && layer.config.get("vocabulary").is_none_or(Value::is_null)
        {
            if let Some(text) = read(&format!("{folder}/vocabulary.txt")) {
                set_vocabulary(layer, &text);
            }
        }
    }
}

/// The ids of `text` without the special tokens Keras writes first (the mask token, then the
/// OOV token once per OOV index), as Keras's `set_vocabulary` drops them; left unset where a
/// line is not an integer (the layer is then refused for having no vocabulary).
fn set_vocabulary(layer: &mut LayerConfig, text: &str) {
    // A malformed config is left for the layer's parser to refuse.
    if !layer.config.is_object() {
        return;
    }
    let Ok(mut ids) = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim().parse::<i64>())
        .collect::<Result<Vec<i64>, _>>()
    else {
        return;
    };
    let int = |key: &str| layer.config.get(key).and_then(Value::as_i64);
    let oov = layer
        .config
        .get("num_oov_indices")
        .and_then(Value::as_u64)
        .unwrap_or(1) as usize;
    let mut special: Vec<i64> = int("mask_token").into_iter().collect();
    special.extend(std::iter::repeat_n(int("oov_token").unwrap_or(-1), oov));
    if ids.starts_with(&special) {
        ids.drain(..special.len());
    }
    let vocabulary = Value::from(ids);
    layer.config["vocabulary"] = vocabulary.clone();
    if let Some(config) = layer.raw.get_mut("config").filter(|c| c.is_object()) {
        config["vocabulary"] = vocabulary;
    }
}

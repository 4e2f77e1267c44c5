//! Legacy weight names (`m/lstm/lstm_cell/kernel`, `bidi/forward_lstm/lstm_cell/bias:0`) into
//! keqv's names (`cell/kernel`, `forward_layer/cell/bias`). The legacy layout lists a layer's
//! variables in `layer.weights` order, named by variable scopes rather than by the attributes
//! the Keras 3 layout uses, so a known class's names are taken from its parts by position.

use super::names::split_weight_name;
use super::sublayers::expected_names;
use crate::keras::{LayerConfig, ModelConfig};

/// The part of a legacy name under the layer's own scope: `m_lstm/lstm/lstm_cell/kernel` of
/// layer `lstm` is `lstm_cell/kernel`, `conv1/conv/kernel:0` of tf-keras's layer `conv1/conv`
/// is `kernel:0`. A name without the layer's scope is kept whole.
pub(super) fn under_layer(full: &str, layer: &str) -> String {
    let parts: Vec<&str> = full.split('/').collect();
    match scope_end(&parts, layer) {
        Some(end) => parts[end..].join("/"),
        None => full.to_string(),
    }
}

/// Where the last scope named `layer` (its name may hold `/`) ends among the scopes of a
/// weight name split at `/` (its last part, the variable, is no scope).
pub(super) fn scope_end(parts: &[&str], layer: &str) -> Option<usize> {
    let scope: Vec<&str> = layer.split('/').collect();
    let scopes = parts.len().checked_sub(1)?;
    (0..scopes)
        .rev()
        .find(|&i| i + scope.len() <= scopes && parts[i..i + scope.len()] == scope[..])
        .map(|i| i + scope.len())
}

/// Renames a layer's weights (already relative to its scope) after its class's parts when
/// they line up role by role; otherwise (a class keqv does not know) they keep their scopes.
pub(super) fn name_by_class(layer: &mut LayerConfig) {
    let expected = expected_names(layer);
    let fits = expected.len() == layer.weights.len()
        && expected
            .iter()
            .zip(&layer.weights)
            .all(|(e, w)| split_weight_name(e).1 == split_weight_name(&w.name).1);
    if fits {
        for (w, name) in layer.weights.iter_mut().zip(expected) {
            w.name = name;
        }
    }
}

/// [`name_by_class`] for every layer of a model, nested ones included.
pub(super) fn name_model_by_class(model: &mut ModelConfig) {
    for layer in &mut model.layers {
        match &mut layer.nested {
            Some(nested) => name_model_by_class(nested),
            None => name_by_class(layer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::under_layer;

    #[test]
    fn strips_the_model_and_layer_scopes() {
        assert_eq!(
            under_layer("m_lstm/lstm/lstm_cell/kernel", "lstm"),
            "lstm_cell/kernel"
        );
        assert_eq!(under_layer("dense/kernel", "dense"), "kernel");
        assert_eq!(under_layer("inner/inner_d/bias", "inner_d"), "bias");
        assert_eq!(under_layer("kernel", "dense"), "kernel");
        assert_eq!(under_layer("other/kernel", "dense"), "other/kernel");
        // tf-keras lets a layer name hold `/` (keras.applications' DenseNet: `conv1/conv`).
        assert_eq!(under_layer("conv1/conv/kernel:0", "conv1/conv"), "kernel:0");
        assert_eq!(under_layer("m/conv1/conv/kernel", "conv1/conv"), "kernel");
        assert_eq!(under_layer("conv1/kernel", "conv1/conv"), "conv1/kernel");
    }
}

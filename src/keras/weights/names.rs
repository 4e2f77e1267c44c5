//! How keqv names a layer's variables, whichever file they were read from: the group path of
//! the sublayer holding them in the Keras 3 layout, then the variable's role (`kernel`,
//! `cell/kernel`, `forward_layer/cell/bias`, `query_dense/kernel`). Every reader and writer goes
//! through [`weight_name`] and [`split_weight_name`], so a weight read from one format is
//! written back where Keras looks for it in another.

use serde_json::Value;

/// The name of the variable `role` of the sublayer at `group` ("" for the layer's own).
pub fn weight_name(group: &str, role: &str) -> String {
    if group.is_empty() {
        role.to_string()
    } else {
        format!("{group}/{role}")
    }
}

/// A weight name back into (sublayer group, role).
pub fn split_weight_name(name: &str) -> (&str, &str) {
    name.rsplit_once('/').unwrap_or(("", name))
}

/// The roles of a layer's own variables in Keras's order, for the classes keqv knows; the
/// Keras 3 layout numbers variables, so their roles come from here.
pub fn own_roles(class: &str, config: &Value) -> Vec<&'static str> {
    let flag =
        |key: &str, default: bool| config.get(key).and_then(Value::as_bool).unwrap_or(default);
    match class {
        "Dense" | "EinsumDense" | "Conv1D" | "Conv2D" | "Conv3D" | "Conv1DTranspose"
        | "Conv2DTranspose" | "Conv3DTranspose" => vec!["kernel", "bias"],
        "Embedding" => vec!["embeddings"],
        "CuDNNLSTM" | "CuDNNGRU" => vec!["kernel", "recurrent_kernel", "bias"],
        "PReLU" => vec!["alpha"],
        "BatchNormalization" => {
            let mut names = Vec::new();
            if flag("scale", true) {
                names.push("gamma");
            }
            if flag("center", true) {
                names.push("beta");
            }
            names.extend(["moving_mean", "moving_variance"]);
            names
        }
        "LayerNormalization" => {
            let rms = flag("rms_scaling", false);
            let mut names = Vec::new();
            if flag("scale", true) || rms {
                names.push("gamma");
            }
            if flag("center", true) && !rms {
                names.push("beta");
            }
            names
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (group, role) in [
            ("", "kernel"),
            ("cell", "bias"),
            ("forward_layer/cell", "kernel"),
        ] {
            let name = weight_name(group, role);
            assert_eq!(split_weight_name(&name), (group, role));
        }
    }
}

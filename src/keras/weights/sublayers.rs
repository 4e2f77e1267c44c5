//! Where a layer class keeps its variables: its own, then those of its sublayers (an RNN's
//! `cell`, Bidirectional's `forward_layer`/`backward_layer`, MultiHeadAttention's four
//! projections), in the order Keras's `layer.weights` lists them. The Keras 3 layout stores a
//! sublayer's variables in a group named after the attribute holding it; the legacy layout in
//! a variable scope named after the sublayer (keras-formats.md §4.4, §5.1).

use serde_json::Value;

use super::keras3::snake_case;
use super::names::{own_roles, split_weight_name, weight_name};
use crate::keras::{Dialect, LayerConfig};

/// One group of variables of a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The group under the layer's, as Keras 3 writes it ("" for the layer's own variables).
    pub group: String,
    /// The same group as tf-keras writes it (private attributes: `_query_dense`).
    pub tf_group: String,
    /// The variable scope in legacy weight names (`lstm_cell`, `forward_lstm/lstm_cell`).
    pub scope: String,
    /// The same scope as tf-keras writes it (TimeDistributed's layer has none there).
    pub tf_scope: String,
    /// The variables' roles in Keras's order.
    pub roles: Vec<&'static str>,
}

/// The parts of a layer of `class` with `config`, in `layer.weights` order. A class keqv does
/// not know has only its own variables here; its sublayer groups are read in file order.
pub fn parts(class: &str, config: &Value) -> Vec<Part> {
    let bias = config
        .get("use_bias")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let with_bias = |roles: &[&'static str]| {
        let mut roles = roles.to_vec();
        if bias {
            roles.push("bias");
        }
        roles
    };
    match class {
        "LSTM" | "GRU" | "SimpleRNN" => vec![Part {
            group: "cell".into(),
            tf_group: "cell".into(),
            scope: format!("{}_cell", snake_case(class)),
            tf_scope: format!("{}_cell", snake_case(class)),
            roles: with_bias(&["kernel", "recurrent_kernel"]),
        }],
        "RNN" => rnn_cells(config),
        // tf-keras's legacy names have no cell scope: `conv_lstm2d/kernel:0`.
        "ConvLSTM1D" | "ConvLSTM2D" | "ConvLSTM3D" => vec![Part {
            group: "cell".into(),
            tf_group: "cell".into(),
            scope: "conv_lstm_cell".into(),
            tf_scope: String::new(),
            roles: with_bias(&["kernel", "recurrent_kernel"]),
        }],
        "Bidirectional" => bidirectional(config),
        "TimeDistributed" => time_distributed(config),
        "MultiHeadAttention" => [
            ("query_dense", "query"),
            ("key_dense", "key"),
            ("value_dense", "value"),
            ("output_dense", "attention_output"),
        ]
        .into_iter()
        .map(|(group, scope)| Part {
            group: group.into(),
            tf_group: format!("_{group}"),
            scope: scope.into(),
            tf_scope: scope.into(),
            roles: with_bias(&["kernel"]),
        })
        .collect(),
        _ => vec![Part {
            group: String::new(),
            tf_group: String::new(),
            scope: String::new(),
            tf_scope: String::new(),
            roles: own_roles(class, config),
        }],
    }
}

/// An RNN's cell under the group `cell`, or a StackedRNNCells' cells under `cell/cells/<c>`,
/// `<c>` the cell's class in snake case, numbered from its second use on (`lstm_cell_1`), as
/// Keras 3 names a list's items. The legacy scopes are the cells' names (under the stack's).
fn rnn_cells(config: &Value) -> Vec<Part> {
    let name = |c: &Value| {
        c.get("name")
            .and_then(Value::as_str)
            .unwrap_or("cell")
            .to_string()
    };
    let roles = |c: &Value| {
        let bias = c.get("use_bias").and_then(Value::as_bool).unwrap_or(true);
        let mut roles = vec!["kernel", "recurrent_kernel"];
        if bias {
            roles.push("bias");
        }
        roles
    };
    let Some((class, cell)) = wrapped_layer(config, "cell") else {
        return Vec::new();
    };
    if class != "StackedRNNCells" {
        return vec![Part {
            group: "cell".into(),
            tf_group: "cell".into(),
            scope: name(cell),
            tf_scope: name(cell),
            roles: roles(cell),
        }];
    }
    let stack = name(cell);
    let mut used: Vec<String> = Vec::new();
    let cells = cell
        .get("cells")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    cells
        .iter()
        .filter_map(|c| Some((c.get("class_name")?.as_str()?, c.get("config")?)))
        .map(|(class, c)| {
            let base = snake_case(class);
            let uses = used.iter().filter(|u| **u == base).count();
            used.push(base.clone());
            let item = if uses == 0 {
                base
            } else {
                format!("{base}_{uses}")
            };
            let group = format!("cell/cells/{item}");
            let scope = format!("{stack}/{}", name(c));
            Part {
                group: group.clone(),
                tf_group: group,
                scope: scope.clone(),
                tf_scope: scope,
                roles: roles(c),
            }
        })
        .collect()
}

/// A wrapper's layer under `key` (`layer`, `backward_layer`): its class and config.
pub fn wrapped_layer<'v>(config: &'v Value, key: &str) -> Option<(&'v str, &'v Value)> {
    let layer = config.get(key).filter(|v| !v.is_null())?;
    Some((layer.get("class_name")?.as_str()?, layer.get("config")?))
}

/// A wrapped layer's class, config and name, empty where the wrapper has none.
fn layer_parts<'v>(inner: Option<(&'v str, &'v Value)>) -> (&'v str, &'v Value, &'v str) {
    let (class, config) = inner.unwrap_or(("", &Value::Null));
    let name = config
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("layer");
    (class, config, name)
}

/// The wrapped layer's parts twice, under `forward_layer` and `backward_layer`; the legacy
/// scopes are `forward_<layer>` and `backward_<layer>`.
fn bidirectional(config: &Value) -> Vec<Part> {
    let forward = wrapped_layer(config, "layer");
    let backward = wrapped_layer(config, "backward_layer").or(forward);
    let side = |attr: &str, direction: &str, inner: Option<(&str, &Value)>| {
        let (class, inner_config, name) = layer_parts(inner);
        // Keras 3 writes the inner configs under their new names (`forward_lstm`); tf-keras
        // under the wrapped layer's own (`lstm`).
        let scope = if name.starts_with(&format!("{direction}_")) {
            name.to_string()
        } else {
            format!("{direction}_{name}")
        };
        parts(class, inner_config)
            .into_iter()
            .map(|p| Part {
                group: weight_name(attr, &p.group).trim_end_matches('/').into(),
                tf_group: weight_name(attr, &p.tf_group).trim_end_matches('/').into(),
                scope: weight_name(&scope, &p.scope).trim_end_matches('/').into(),
                tf_scope: weight_name(&scope, &p.tf_scope)
                    .trim_end_matches('/')
                    .into(),
                roles: p.roles,
            })
            .collect::<Vec<_>>()
    };
    let mut all = side("forward_layer", "forward", forward);
    all.extend(side("backward_layer", "backward", backward));
    all
}

/// The wrapped layer's parts under the group `layer`; the legacy scope is the wrapped layer's
/// name (Keras 3; tf-keras writes none, and both read legacy weights by position).
fn time_distributed(config: &Value) -> Vec<Part> {
    let (class, inner_config, name) = layer_parts(wrapped_layer(config, "layer"));
    parts(class, inner_config)
        .into_iter()
        .map(|p| Part {
            group: weight_name("layer", &p.group).trim_end_matches('/').into(),
            tf_group: weight_name("layer", &p.tf_group)
                .trim_end_matches('/')
                .into(),
            scope: weight_name(name, &p.scope).trim_end_matches('/').into(),
            tf_scope: p.tf_scope,
            roles: p.roles,
        })
        .collect()
}

/// Every weight name a layer of this class has, in Keras's order.
pub fn expected_names(layer: &LayerConfig) -> Vec<String> {
    parts(&layer.class_name, &layer.config)
        .iter()
        .flat_map(|p| p.roles.iter().map(|r| weight_name(&p.group, r)))
        .collect()
}

/// Where a writer puts one weight of a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The group under the layer's in the Keras 3 layout, for the target dialect.
    pub group: String,
    /// The name under the layer's scope in legacy weight names (`lstm_cell/kernel`).
    pub legacy: String,
}

/// Where each of a layer's weights goes, from its name. A variable known only by its number
/// (a class keqv does not know, read from the Keras 3 layout) is called `variable`,
/// `variable_1`, … in legacy names.
pub fn places(layer: &LayerConfig, dialect: Dialect) -> Vec<Place> {
    let parts = parts(&layer.class_name, &layer.config);
    layer
        .weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let (group, role) = split_weight_name(&w.name);
            let role = match role.parse::<usize>() {
                Err(_) if !role.is_empty() => role.to_string(),
                _ if i == 0 => "variable".to_string(),
                _ => format!("variable_{i}"),
            };
            match parts.iter().find(|p| p.group == group) {
                Some(p) => Place {
                    group: match dialect {
                        Dialect::Keras3 => p.group.clone(),
                        Dialect::TfKeras2 => p.tf_group.clone(),
                    },
                    legacy: weight_name(
                        match dialect {
                            Dialect::Keras3 => &p.scope,
                            Dialect::TfKeras2 => &p.tf_scope,
                        },
                        &role,
                    ),
                },
                None => Place {
                    group: group.to_string(),
                    legacy: weight_name(group, &role),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bidirectional_nests_the_wrapped_layer() {
        let config = json!({"layer": {"class_name": "LSTM", "config": {"name": "lstm"}}});
        let p = parts("Bidirectional", &config);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].group, "forward_layer/cell");
        assert_eq!(p[0].scope, "forward_lstm/lstm_cell");
        assert_eq!(p[1].group, "backward_layer/cell");
        assert_eq!(p[1].roles, ["kernel", "recurrent_kernel", "bias"]);
    }

    #[test]
    fn stacked_cells_are_numbered_by_class() {
        let cell = |class: &str, name: &str| json!({"class_name": class, "config": {"name": name}});
        let config = json!({"cell": {"class_name": "StackedRNNCells", "config": {
            "name": "stacked_rnn_cells",
            "cells": [cell("LSTMCell", "a"), cell("GRUCell", "b"), cell("LSTMCell", "c")]}}});
        let p = parts("RNN", &config);
        let groups: Vec<_> = p.iter().map(|p| p.group.as_str()).collect();
        assert_eq!(
            groups,
            [
                "cell/cells/lstm_cell",
                "cell/cells/gru_cell",
                "cell/cells/lstm_cell_1"
            ]
        );
        assert_eq!(p[2].scope, "stacked_rnn_cells/c");
        let single = parts("RNN", &json!({"cell": cell("GRUCell", "gru_cell_2")}));
        assert_eq!(
            (single[0].group.as_str(), single[0].scope.as_str()),
            ("cell", "gru_cell_2")
        );
    }

    #[test]
    fn attention_groups_differ_by_dialect() {
        let p = parts("MultiHeadAttention", &json!({"use_bias": false}));
        let groups: Vec<_> = p
            .iter()
            .map(|p| (p.group.as_str(), p.tf_group.as_str()))
            .collect();
        assert_eq!(groups[3], ("output_dense", "_output_dense"));
        assert_eq!(p[3].scope, "attention_output");
        assert_eq!(p[0].roles, ["kernel"]);
    }

    #[test]
    fn own_variables_have_no_group() {
        let p = parts("Dense", &json!({}));
        assert_eq!(p[0].group, "");
        assert_eq!(p[0].roles, ["kernel", "bias"]);
    }
}

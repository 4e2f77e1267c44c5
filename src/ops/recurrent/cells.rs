//! Keras's generic `RNN` layer over cells. A SimpleRNNCell, LSTMCell or GRUCell steps exactly as
//! the SimpleRNN, LSTM or GRU layer with the cell's config and the RNN's flags (the layers are
//! those cells run by an RNN), so an RNN over one cell reads as that layer. StackedRNNCells (an
//! RNN given a list of cells writes one) feeds cell k-1's output at a step to cell k at the
//! same step, and a mask keeps every cell's state on a padded step: the same as layering the
//! cells' layers over whole sequences, each but the last returning its sequence.

use serde_json::{Map, Value};

/// The cells keqv runs, each with the layer that steps as it does.
const CELL_LAYERS: &[(&str, &str)] = &[
    ("SimpleRNNCell", "SimpleRNN"),
    ("LSTMCell", "LSTM"),
    ("GRUCell", "GRU"),
];

/// The RNN's own settings, which its cells' layers take from it.
const RNN_KEYS: &[&str] = &[
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "zero_output_for_mask",
    "time_major",
];

/// One cell of an RNN as the layer it computes as: that layer's class and config.
#[derive(Clone, Debug, PartialEq)]
pub struct CellLayer {
    pub class: &'static str,
    pub config: Value,
}

/// The layers an RNN layer's `cell` computes as, in order: one for a single cell, one per
/// cell of a StackedRNNCells, each but the last returning its whole sequence and no states.
pub fn cell_layers(rnn: &Value) -> Result<Vec<CellLayer>, String> {
    let cell = rnn.get("cell").filter(|v| !v.is_null());
    let (class, config) =
        entry(cell).ok_or("RNN config has no 'cell'; the file is malformed: re-save the model")?;
    let cells: Vec<&Value> = if class == "StackedRNNCells" {
        let list = config
            .get("cells")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or(
                "StackedRNNCells config has no 'cells'; the file is malformed: re-save the model",
            )?;
        list.iter().collect()
    } else {
        cell.into_iter().collect()
    };
    let last = cells.len() - 1;
    cells
        .into_iter()
        .enumerate()
        .map(|(k, cell)| {
            let mut layer = cell_layer(rnn, cell)?;
            if k != last {
                layer.config["return_sequences"] = Value::Bool(true);
                layer.config["return_state"] = Value::Bool(false);
            }
            Ok(layer)
        })
        .collect()
}

/// The number of cells an RNN layer steps (1 unless its cell is a StackedRNNCells).
pub fn cell_count(rnn: &Value) -> usize {
    match entry(rnn.get("cell")) {
        Some(("StackedRNNCells", c)) => {
            c.get("cells").and_then(Value::as_array).map_or(1, Vec::len)
        }
        _ => 1,
    }
}

/// How many state tensors an RNN layer's cells carry: h, and c for an LSTMCell.
pub fn state_count(rnn: &Value) -> usize {
    let count = |class: &str| if class == "LSTMCell" { 2 } else { 1 };
    match entry(rnn.get("cell")) {
        Some(("StackedRNNCells", c)) => c.get("cells").and_then(Value::as_array).map_or(0, |l| {
            l.iter()
                .filter_map(|c| entry(Some(c)))
                .map(|(k, _)| count(k))
                .sum()
        }),
        Some((class, _)) => count(class),
        None => 0,
    }
}

/// A serialized cell: its class and config.
pub fn entry(v: Option<&Value>) -> Option<(&str, &Value)> {
    let v = v.filter(|v| !v.is_null())?;
    Some((v.get("class_name")?.as_str()?, v.get("config")?))
}

/// One cell with the RNN's settings, as its layer; a cell of another class (or a registered
/// class of the user's own) is refused.
fn cell_layer(rnn: &Value, cell: &Value) -> Result<CellLayer, String> {
    let (class, config) = entry(Some(cell)).ok_or(
        "RNN lists a cell without class_name and config; the file is malformed: re-save the model",
    )?;
    let registered = cell
        .get("registered_name")
        .and_then(Value::as_str)
        .filter(|r| *r != class);
    let layer = CELL_LAYERS
        .iter()
        .find(|(c, _)| *c == class && registered.is_none())
        .map(|(_, layer)| *layer)
        .ok_or_else(|| {
            format!("RNN over a {} cell is not supported; keqv runs SimpleRNNCell, LSTMCell and GRUCell cells (alone or in StackedRNNCells)", registered.unwrap_or(class))
        })?;
    let mut merged: Map<String, Value> = config.as_object().cloned().unwrap_or_default();
    for key in RNN_KEYS {
        match rnn.get(*key) {
            Some(v) => merged.insert((*key).to_string(), v.clone()),
            None => merged.remove(*key),
        };
    }
    Ok(CellLayer {
        class: layer,
        config: Value::Object(merged),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cell(class: &str, units: usize) -> Value {
        json!({"class_name": class, "config": {"name": class.to_lowercase(), "units": units}})
    }

    #[test]
    fn one_cell_is_its_layer_with_the_rnn_flags() {
        let rnn =
            json!({"return_sequences": true, "go_backwards": true, "cell": cell("GRUCell", 3)});
        let layers = cell_layers(&rnn).unwrap();
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].class, "GRU");
        assert_eq!(layers[0].config["units"], 3);
        assert_eq!(layers[0].config["go_backwards"], true);
        assert_eq!(state_count(&rnn), 1);
    }

    #[test]
    fn stacked_cells_return_sequences_but_the_last() {
        let rnn = json!({"return_sequences": false, "return_state": true, "cell": {
            "class_name": "StackedRNNCells",
            "config": {"cells": [cell("LSTMCell", 4), cell("SimpleRNNCell", 2)]}}});
        let layers = cell_layers(&rnn).unwrap();
        let flags: Vec<_> = layers
            .iter()
            .map(|l| {
                (
                    l.class,
                    l.config["return_sequences"].clone(),
                    l.config["return_state"].clone(),
                )
            })
            .collect();
        assert_eq!(
            flags,
            [
                ("LSTM", json!(true), json!(false)),
                ("SimpleRNN", json!(false), json!(true))
            ]
        );
        assert_eq!(cell_count(&rnn), 2);
        assert_eq!(state_count(&rnn), 3);
    }

    #[test]
    fn other_cells_are_refused_with_the_supported_ones() {
        let rnn = json!({"cell": cell("PeepholeLSTMCell", 3)});
        let err = cell_layers(&rnn).unwrap_err();
        assert!(
            err.contains("PeepholeLSTMCell") && err.contains("LSTMCell"),
            "{err}"
        );
    }
}

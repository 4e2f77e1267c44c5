//! Keras's wrapper layers, built from the layers they wrap. Bidirectional becomes its two
//! recurrent layers (`bi/forward_lstm`, `bi/backward_lstm`, the backward one's sequence turned
//! back into input order) and the merge of their outputs (the node named after the layer), so a
//! converted model that spells them out pairs with it layer by layer; with merge_mode None the
//! forward direction, named after the layer, and the backward one are its two outputs. TimeDistributed applies
//! its layer to every step: keqv runs the layers whose op already treats extra leading axes as
//! steps (Dense, activations, the identities).

use super::*;
use crate::keras::weights::wrapped_layer;
use crate::ops::{Concatenate, MergeKind, Recurrent};

impl Builder<'_> {
    /// A Bidirectional call: the forward and backward layers, then their merge.
    pub(super) fn bidirectional(
        &mut self,
        layer: &LayerConfig,
        name: String,
        input: NodeId,
        mask: Option<NodeId>,
    ) -> Result<Vec<NodeId>> {
        let bad = |detail: String| Error::layer(self.path, &layer.name, "Bidirectional", detail);
        let in_shape = self.nodes[input.0].shape.clone();
        let (class, forward_config) = wrapped_layer(&layer.config, "layer")
            .ok_or_else(|| bad(format!("has no wrapped layer; {MALFORMED}")))?;
        let (back_class, back_config) = match wrapped_layer(&layer.config, "backward_layer") {
            Some(backward) => (backward.0, backward.1.clone()),
            None => {
                // Keras makes the backward layer from the forward one, going the other way.
                let mut config = forward_config.clone();
                let backwards = config.get("go_backwards").and_then(Value::as_bool) == Some(true);
                config["go_backwards"] = Value::Bool(!backwards);
                (class, config)
            }
        };
        let recurrent = |class: &str, config: &Value| -> Result<Recurrent> {
            match translate(class, config, &in_shape, self.dialect).map_err(&bad)? {
                Some(Op::Recurrent(r)) if r.conv.is_none() => Ok(r),
                _ => Err(bad(format!(
                    "wraps a {class}, which keqv cannot run inside Bidirectional yet (it runs SimpleRNN, LSTM and GRU there)"
                ))),
            }
        };
        let returns_state =
            |c: &Value| c.get("return_state").and_then(Value::as_bool) == Some(true);
        if returns_state(forward_config) || returns_state(&back_config) {
            return Err(bad(
                "wraps a layer with return_state, whose states Bidirectional returns as more outputs; keqv cannot run that yet".into(),
            ));
        }
        let mut forward = recurrent(class, forward_config)?;
        let mut backward = recurrent(back_class, &back_config)?;
        let sequences = forward.return_sequences;
        if backward.return_sequences != sequences {
            return Err(bad(format!(
                "its backward layer returns {} but its forward layer {}; {MALFORMED}",
                if backward.return_sequences {
                    "sequences"
                } else {
                    "its last output"
                },
                if sequences {
                    "sequences"
                } else {
                    "its last output"
                },
            )));
        }
        // As Keras forces on both: padded steps output zeros when returning sequences.
        for r in [&mut forward, &mut backward] {
            r.zero_output_for_mask = sequences;
            r.masked = mask.is_some();
        }
        // The backward sequence is merged in input order.
        backward.reverse_output = sequences;
        let concat = Op::Concatenate(Concatenate {
            axis: if sequences { 2 } else { 1 },
        });
        // merge_mode None: both directions are the layer's outputs.
        let merge = match layer.config.get("merge_mode") {
            None => Some(concat),
            Some(Value::Null) => None,
            Some(Value::String(mode)) => Some(match mode.as_str() {
                "concat" => concat,
                "sum" => Op::Merge(MergeKind::Add),
                "mul" => Op::Merge(MergeKind::Multiply),
                "ave" => Op::Merge(MergeKind::Average),
                other => return Err(bad(format!("has merge_mode '{other}'; {MALFORMED}"))),
            }),
            Some(other) => return Err(bad(format!("has merge_mode {other}; {MALFORMED}"))),
        };
        // The file's variables: the forward layer's, then the backward layer's.
        let forward_specs = Op::Recurrent(forward.clone())
            .weights(&in_shape)
            .map_err(bad)?;
        let backward_specs = Op::Recurrent(backward.clone())
            .weights(&in_shape)
            .map_err(bad)?;
        let split = forward_specs.len();
        let expected = forward_specs.into_iter().chain(backward_specs).collect();
        let weights = self.first_weights(layer, expected, &bad)?;
        let mut sides = Vec::new();
        for (r, side, weights) in [
            (forward, "forward", weights[..split].to_vec()),
            (backward, "backward", weights[split..].to_vec()),
        ] {
            let inner_name = match side {
                "forward" => forward_config.get("name"),
                _ => back_config.get("name"),
            }
            .and_then(Value::as_str)
            .unwrap_or("layer")
            .trim_start_matches("forward_")
            .trim_start_matches("backward_")
            .to_string();
            let shape = r.output_shape(&in_shape).map_err(bad)?;
            let mut inputs = vec![input];
            inputs.extend(mask);
            // Without a merge the forward direction is the layer's first output.
            let (node_name, class) = match (&merge, side) {
                (None, "forward") => (name.clone(), "Bidirectional".to_string()),
                _ => (format!("{name}/{side}_{inner_name}"), r.name()),
            };
            sides.push(self.push(Node {
                name: node_name,
                layer: layer.name.clone(),
                class,
                op: Op::Recurrent(r),
                inputs,
                weights,
                shape,
                op_layer: false,
            })?);
        }
        self.findings.status.insert(name.clone(), Status::Runs);
        let Some(merge) = merge else {
            if let Some(mask) = mask.filter(|_| sequences) {
                for &side in &sides {
                    self.masks.insert(side, mask);
                }
            }
            return Ok(sides);
        };
        let shapes: Vec<&[usize]> = sides
            .iter()
            .map(|s| self.nodes[s.0].shape.as_slice())
            .collect();
        let shape = merge.output_shape(&shapes).map_err(bad)?;
        let id = self.push(Node {
            name,
            layer: layer.name.clone(),
            class: "Bidirectional".into(),
            op: merge,
            inputs: sides,
            weights: Vec::new(),
            shape,
            op_layer: false,
        })?;
        if let Some(mask) = mask.filter(|_| sequences) {
            self.masks.insert(id, mask);
        }
        Ok(vec![id])
    }

    /// The op of a TimeDistributed layer: its layer's, where that op runs per step as it is.
    pub(super) fn time_distributed(&self, layer: &LayerConfig, input: &[usize]) -> Result<Op> {
        let bad = |detail: String| Error::layer(self.path, &layer.name, "TimeDistributed", detail);
        let (class, config) = wrapped_layer(&layer.config, "layer")
            .ok_or_else(|| bad(format!("has no wrapped layer; {MALFORMED}")))?;
        let Some((_, step)) = input.split_first() else {
            return Err(bad(format!("needs an input of [steps, …]; {MALFORMED}")));
        };
        let op = translate(class, config, step, self.dialect)
            .map_err(bad)?
            .ok_or_else(|| bad(format!("wraps a {class}, which keqv does not run")))?;
        match op {
            Op::Dense(_) | Op::Activation(_) | Op::Identity => Ok(op),
            _ => Err(bad(format!(
                "wraps a {class}, which keqv cannot run inside TimeDistributed yet (it runs Dense, activations and the identity layers there)"
            ))),
        }
    }
}

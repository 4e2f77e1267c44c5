//! Keras's wrapper layers, built from the layers they wrap. Bidirectional becomes its two
//! recurrent layers (`bi/forward_lstm`, `bi/backward_lstm`, the backward one's sequence turned
//! back into input order) and the merge of their outputs (the node named after the layer), so a
//! converted model that spells them out pairs with it layer by layer; with merge_mode None the
//! forward direction, named after the layer, and the backward one are its two outputs. TimeDistributed applies
//! its layer to every step: the layers whose op already treats extra leading axes as rows
//! (Dense, activations, the identities) run as they are, any other as a `PerStep` op.

use super::recurrent::{file_specs, in_layer_layout};
use super::*;
use crate::keras::weights::wrapped_layer;
use crate::ops::{Concatenate, MergeKind, PerStep, Recurrent};

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
                    "wraps a {class}, which keqv cannot run inside Bidirectional yet; it runs SimpleRNN, LSTM, GRU, CuDNNLSTM, CuDNNGRU and RNN over one cell there"
                ))),
            }
        };
        let returns_state =
            |c: &Value| c.get("return_state").and_then(Value::as_bool) == Some(true);
        let states = returns_state(forward_config);
        if states != returns_state(&back_config) {
            return Err(bad(format!(
                "only one of its layers has return_state; {MALFORMED}"
            )));
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
        // The file's variables: the forward layer's, then the backward layer's (a CuDNN
        // layer's in their cuDNN layout, converted below).
        let forward_specs = file_specs(class, &forward, &in_shape).map_err(bad)?;
        let backward_specs = file_specs(back_class, &backward, &in_shape).map_err(bad)?;
        let split = forward_specs.len();
        let expected = forward_specs.into_iter().chain(backward_specs).collect();
        let weights = self.first_weights(layer, expected, &bad)?;
        let forward_weights = in_layer_layout(class, &forward, weights[..split].to_vec());
        let backward_weights = in_layer_layout(back_class, &backward, weights[split..].to_vec());
        let mut sides = Vec::new();
        for (r, side, weights) in [
            (forward, "forward", forward_weights.map_err(bad)?),
            (backward, "backward", backward_weights.map_err(bad)?),
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
        // With return_state: the forward direction's final states, then the backward one's.
        let mut state_nodes = Vec::new();
        if states {
            for &side in &sides {
                state_nodes.extend(self.state_nodes(side)?);
            }
        }
        let Some(merge) = merge else {
            if let Some(mask) = mask.filter(|_| sequences) {
                for &side in &sides {
                    self.masks.insert(side, mask);
                }
            }
            return Ok(sides.into_iter().chain(state_nodes).collect());
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
        Ok(std::iter::once(id).chain(state_nodes).collect())
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
            .ok_or_else(|| {
                bad(format!(
                    "wraps a {class}, which keqv does not run; TimeDistributed runs around the layers README 'Supported layers' lists"
                ))
            })?;
        // Dense, the activations and the identities read leading axes as rows already.
        if matches!(op, Op::Dense(_) | Op::Activation(_) | Op::Identity) {
            return Ok(op);
        }
        if op.takes_many() {
            return Err(bad(format!(
                "wraps a {class} taking several tensors; TimeDistributed applies a layer to one"
            )));
        }
        Ok(Op::PerStep(Box::new(PerStep {
            op,
            steps: input[0],
        })))
    }
}

//! A recurrent layer's extra inputs and outputs: `initial_state` (tensors after the sequence:
//! tf-keras lists them as more inputs, Keras 3 as the keyword `initial_state`) and
//! `return_state` (the final h, and an LSTM's c, as more outputs: nodes `layer/state_h` and
//! `layer/state_c` running the same layer, which the layers they feed read as Keras's
//! `initial_state` or the model as outputs).

use super::*;
use crate::ops::{recurrent, Emit};

/// Whether a layer is one of the recurrent classes.
pub(super) fn is_recurrent(layer: &LayerConfig) -> bool {
    recurrent::CLASSES.contains(&layer.class_name.as_str())
}

impl Builder<'_> {
    /// The op of a recurrent call on `inputs` (the sequence, then its initial states).
    pub(super) fn with_initial_state(
        &self,
        layer: &LayerConfig,
        op: Op,
        inputs: &[NodeId],
    ) -> Result<Op> {
        let Op::Recurrent(mut r) = op else {
            return Ok(op);
        };
        let states = inputs.len() - 1;
        if states == 0 {
            return Ok(Op::Recurrent(r));
        }
        if states != r.state_count() {
            return Err(Error::layer(
                self.path,
                &layer.name,
                layer.display_class(),
                format!(
                    "is given {states} initial state tensor(s) but carries {}; {MALFORMED}",
                    r.state_count()
                ),
            ));
        }
        let state_shape = r
            .state_shape(&self.nodes[inputs[0].0].shape)
            .map_err(|e| Error::layer(self.path, &layer.name, layer.display_class(), e))?;
        for &s in &inputs[1..] {
            if self.nodes[s.0].shape != state_shape {
                return Err(Error::layer(
                    self.path,
                    &layer.name,
                    layer.display_class(),
                    format!(
                        "is given an initial state of shape {}, not {}; {MALFORMED}",
                        describe_sample_shape(&self.nodes[s.0].shape),
                        describe_sample_shape(&state_shape)
                    ),
                ));
            }
        }
        r.initial_state = true;
        Ok(Op::Recurrent(r))
    }

    /// With `return_state`, the nodes of the layer's final states after its output `main`.
    pub(super) fn returned_states(
        &mut self,
        layer: &LayerConfig,
        main: NodeId,
    ) -> Result<Vec<NodeId>> {
        let returns = layer.config.get("return_state").and_then(Value::as_bool) == Some(true);
        let Op::Recurrent(r) = self.nodes[main.0].op.clone() else {
            return Ok(Vec::new());
        };
        if !returns {
            return Ok(Vec::new());
        }
        let outer = self.nodes[main.0].clone();
        let shape = r
            .state_shape(&self.nodes[outer.inputs[0].0].shape)
            .expect("the layer's own input, checked when built");
        let emits = [(Emit::StateH, "state_h"), (Emit::StateC, "state_c")];
        let mut out = Vec::new();
        for (emit, suffix) in emits.into_iter().take(r.state_count()) {
            let op = Op::Recurrent(recurrent::Recurrent {
                emit,
                return_sequences: false,
                zero_output_for_mask: false,
                reverse_output: false,
                ..r.clone()
            });
            out.push(self.push(Node {
                name: format!("{}/{suffix}", outer.name),
                op,
                shape: shape.clone(),
                ..outer.clone()
            })?);
        }
        Ok(out)
    }
}

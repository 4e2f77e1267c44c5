//! A recurrent layer's extra inputs and outputs: `initial_state` (tensors after the sequence:
//! tf-keras lists them as more inputs, Keras 3 as the keyword `initial_state`) and
//! `return_state` (the final h, and an LSTM's c, as more outputs: nodes `layer/state_h` and
//! `layer/state_c` running the same layer, which the layers they feed read as Keras's
//! `initial_state` or the model as outputs; a Bidirectional layer's are each direction's).

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
        if layer.config.get("return_state").and_then(Value::as_bool) != Some(true) {
            return Ok(Vec::new());
        }
        self.state_nodes(main)
    }

    /// The nodes of recurrent node `main`'s final states (`main/state_h`, `main/state_c`).
    pub(super) fn state_nodes(&mut self, main: NodeId) -> Result<Vec<NodeId>> {
        let Op::Recurrent(r) = self.nodes[main.0].op.clone() else {
            return Ok(Vec::new());
        };
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

impl Builder<'_> {
    /// An RNN over StackedRNNCells: one recurrent node per cell, each but the last returning
    /// its sequence to the next (`rnn/cell_0`, …; the last is named after the layer). Going
    /// backwards, every cell steps from the last step to the first, and the sequences between
    /// them are turned back into input order, so that the mask still lines up with them.
    pub(super) fn stacked_cells(
        &mut self,
        layer: &LayerConfig,
        name: String,
        inputs: &[NodeId],
        mask: Option<NodeId>,
    ) -> Result<Vec<NodeId>> {
        let bad = |detail: String| Error::layer(self.path, &layer.name, "RNN", detail);
        if inputs.len() != 1 {
            return Err(bad(
                "runs stacked cells from an initial_state, which keqv cannot run yet; call it without initial_state".into(),
            ));
        }
        if layer.config.get("return_state").and_then(Value::as_bool) == Some(true) {
            return Err(bad(
                "runs stacked cells with return_state (the states of every cell), which keqv cannot run yet; re-save the model with return_state=False".into(),
            ));
        }
        let cells = recurrent::cells::cell_layers(&layer.config).map_err(&bad)?;
        let mut shape = self.nodes[inputs[0].0].shape.clone();
        let mut steps = Vec::new();
        for (k, cell) in cells.iter().enumerate() {
            let Some(Op::Recurrent(mut r)) =
                translate(cell.class, &cell.config, &shape, self.dialect).map_err(&bad)?
            else {
                return Err(bad(format!("cell {k} is no recurrent cell; {MALFORMED}")));
            };
            if r.units == 0 {
                return Err(bad(format!("cell {k} has 0 units; {MALFORMED}")));
            }
            r.masked = mask.is_some();
            let last = k + 1 == cells.len();
            r.reverse_output = !last && r.go_backwards;
            let specs = Op::Recurrent(r.clone()).weights(&shape).map_err(&bad)?;
            let out = r.output_shape(&shape).map_err(&bad)?;
            steps.push((r, specs, std::mem::replace(&mut shape, out)));
        }
        let expected = steps.iter().flat_map(|(_, s, _)| s.clone()).collect();
        let mut weights = self.checked_weights(layer, expected, &bad)?.into_iter();
        let mut input = inputs[0];
        let count = steps.len();
        for (k, (r, specs, _)) in steps.into_iter().enumerate() {
            let last = k + 1 == count;
            let mut node_inputs = vec![input];
            node_inputs.extend(mask);
            let (node_name, class) = if last {
                (name.clone(), layer.display_class().to_string())
            } else {
                (format!("{name}/cell_{k}"), r.name())
            };
            let own = weights.by_ref().take(specs.len()).collect();
            input = self.push_checked(
                layer,
                &node_name,
                &class,
                Op::Recurrent(r),
                node_inputs,
                own,
                &bad,
            )?;
        }
        if let Some(out_mask) = self.output_mask(layer, input, inputs[0], mask)? {
            self.masks.insert(input, out_mask);
        }
        Ok(vec![input])
    }

    /// A CuDNN layer's weights: the file's, checked in its cuDNN layout, then laid out as the
    /// LSTM's or GRU's it computes as.
    pub(super) fn cudnn_weights(
        &self,
        layer: &LayerConfig,
        r: &recurrent::Recurrent,
        input: &[usize],
    ) -> Result<Vec<Weight>> {
        let bad =
            |detail: String| Error::layer(self.path, &layer.name, layer.display_class(), detail);
        let expected = file_specs(&layer.class_name, r, input).map_err(&bad)?;
        let file = self.checked_weights(layer, expected, &bad)?;
        in_layer_layout(&layer.class_name, r, file).map_err(bad)
    }
}

/// The variables a recurrent layer of `class` keeps in the file: a CuDNN layer's in their
/// cuDNN layout, any other's as its op reads them.
pub(super) fn file_specs(
    class: &str,
    r: &recurrent::Recurrent,
    input: &[usize],
) -> std::result::Result<Vec<WeightSpec>, String> {
    match recurrent::cudnn::cell(class) {
        Some(_) => Ok(recurrent::cudnn::file_weights(
            r,
            input.last().copied().unwrap_or(0),
        )),
        None => Op::Recurrent(r.clone()).weights(input),
    }
}

/// A recurrent layer's variables from the file (as [`file_specs`]) as its op reads them: a
/// CuDNN layer's converted. Keras refuses masks for CuDNN layers, so keqv does too.
pub(super) fn in_layer_layout(
    class: &str,
    r: &recurrent::Recurrent,
    file: Vec<Weight>,
) -> std::result::Result<Vec<Weight>, String> {
    if recurrent::cudnn::cell(class).is_none() {
        return Ok(file);
    }
    if r.masked {
        return Err(format!(
            "{class} is given a mask, which Keras's CuDNN layers refuse; remove the masking before it or use LSTM/GRU"
        ));
    }
    let [kernel, recurrent_kernel, bias] = [0, 1, 2].map(|i| &*file[i].value);
    let converted = recurrent::cudnn::to_layer_layout(r, [kernel, recurrent_kernel, bias]);
    Ok(file
        .iter()
        .zip(converted)
        .map(|(w, value)| w.laid_out(value))
        .collect())
}

//! One call of one layer: its op (or why keqv cannot run it), shape and checked weights.

use super::*;

impl Builder<'_> {
    /// One call of a layer: a node, or (nested model) its inlined subgraph.
    pub(super) fn call(
        &mut self,
        layer: &LayerConfig,
        call: usize,
        inputs: &[NodeId],
        prefix: &str,
    ) -> Result<Vec<NodeId>> {
        // Keras 3 writes `mask: null` where a layer that takes masks was called without one.
        let no_mask = layer
            .calls
            .get(call)
            .is_some_and(|c| c.kwargs.get("mask") == Some(&Value::Null));
        let mask = if no_mask {
            MaskArg::Given(None)
        } else {
            MaskArg::Implicit
        };
        self.call_with_mask(layer, call, inputs, prefix, mask)
    }

    /// [`Builder::call`] with the input mask Keras 3 recorded (`Given`), or the one Keras
    /// propagates to the inputs (`Implicit`: tf-keras files and Sequential models).
    pub(super) fn call_with_mask(
        &mut self,
        layer: &LayerConfig,
        call: usize,
        inputs: &[NodeId],
        prefix: &str,
        mask: MaskArg,
    ) -> Result<Vec<NodeId>> {
        let name = call_name(prefix, &layer.name, call);
        if let Some(nested) = &layer.nested {
            self.count_call()?;
            return self.model(nested, &format!("{name}/"), Some(inputs));
        }
        let bad =
            |detail: String| Error::layer(self.path, &layer.name, layer.display_class(), detail);
        if inputs.is_empty() {
            return Err(bad(format!("is called on no tensor; {MALFORMED}")));
        }
        let status = self.support(layer, &name)?;
        if !status.runs() || inputs.iter().any(|id| self.is_unknown(*id)) {
            return self.placeholder(layer, name, inputs, status);
        }
        // A recurrent layer's mask is its sequence's, whatever initial states follow it.
        let masked_inputs = if recurrent::is_recurrent(layer) {
            &inputs[..1]
        } else {
            inputs
        };
        let mask = match mask {
            MaskArg::Implicit => self.input_mask(layer, &name, masked_inputs)?,
            MaskArg::Given(mask) => mask,
        };
        let input_shapes: Vec<&[usize]> = inputs
            .iter()
            .map(|id| self.nodes[id.0].shape.as_slice())
            .collect();
        if layer.class_name == "Bidirectional" && inputs.len() == 1 {
            self.findings.status.insert(name.clone(), status);
            return self.bidirectional(layer, name, inputs[0], mask);
        }
        if layer.class_name == "RNN" && crate::ops::recurrent::cells::cell_count(&layer.config) > 1
        {
            self.findings.status.insert(name.clone(), status);
            return self.stacked_cells(layer, name, inputs, mask);
        }
        if layer.class_name == "EinsumDense" && inputs.len() == 1 {
            self.findings.status.insert(name.clone(), status);
            return self.einsum_dense(layer, name, inputs[0]);
        }
        if crate::ops::categorical::is_encoded(&layer.class_name, &layer.config)
            && inputs.len() == 1
        {
            self.findings.status.insert(name.clone(), status);
            return self.encoded_categorical(layer, name, inputs[0]);
        }
        let op = match layer.op_layer() {
            Some(name) => self.op_layer(layer, call, name, input_shapes[0])?,
            None if layer.class_name == "TimeDistributed" => {
                self.time_distributed(layer, input_shapes[0])?
            }
            None => self.translate(layer, input_shapes[0])?,
        };
        let op = self.with_initial_state(layer, op, inputs)?;
        if !op.takes_many() && inputs.len() != 1 {
            return Err(bad(format!(
                "takes one tensor but is called on {}; {MALFORMED}",
                inputs.len()
            )));
        }
        let mut node_inputs = inputs.to_vec();
        let op = self.with_mask(layer, op, &mut node_inputs, mask)?;
        let shape = op
            .output_shape(&input_shapes)
            .map_err(|e| bad(format!("{e}; {MALFORMED}")))?;
        if shape.contains(&0) {
            return Err(bad(format!(
                "output shape {} has a zero-sized dimension; {MALFORMED}",
                describe_sample_shape(&shape)
            )));
        }
        let weights = self.weights(layer, &op, input_shapes[0])?;
        if checked_len(&shape).is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(bad(format!(
                "output shape {} would need {} per sample; refusing to allocate it: {MALFORMED}",
                describe_sample_shape(&shape),
                human_bytes(float32_bytes(&shape))
            )));
        }
        self.findings.status.insert(name.clone(), status);
        let id = self.push(Node {
            name,
            layer: layer.name.clone(),
            class: layer.display_class().to_string(),
            op,
            inputs: node_inputs,
            weights,
            shape,
            op_layer: layer.op_layer().is_some(),
        })?;
        if let Some(out_mask) = self.output_mask(layer, id, inputs[0], mask)? {
            self.masks.insert(id, out_mask);
        }
        let mut outputs = vec![id];
        outputs.extend(self.returned_states(layer, id)?);
        Ok(outputs)
    }

    /// A Discretization or IntegerLookup encoding its indices: the index op (`layer/index`),
    /// then their encoding, named after the layer.
    fn encoded_categorical(
        &mut self,
        layer: &LayerConfig,
        name: String,
        input: NodeId,
    ) -> Result<Vec<NodeId>> {
        let bad =
            |detail: String| Error::layer(self.path, &layer.name, layer.display_class(), detail);
        let in_shape = self.nodes[input.0].shape.clone();
        let (index, encode) = crate::ops::categorical::parse_encoded(
            &layer.class_name,
            &layer.config,
            &in_shape,
            self.dialect,
        )
        .map_err(|e| bad(advised(e)))?;
        self.checked_weights(layer, Vec::new(), &bad)?;
        let class = layer.display_class();
        let index_name = format!("{name}/index");
        let x = self.push_checked(layer, &index_name, class, index, vec![input], vec![], &bad)?;
        let id = self.push_checked(layer, &name, class, encode, vec![x], vec![], &bad)?;
        let shape = &self.nodes[id.0].shape;
        if checked_len(shape).is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(bad(format!(
                "output shape {} would need {} per sample; refusing to allocate it: {MALFORMED}",
                describe_sample_shape(shape),
                human_bytes(float32_bytes(shape))
            )));
        }
        Ok(vec![id])
    }

    /// Whether keqv runs a layer (mapped or as it is), recording the mapping used and a layer
    /// it cannot run; a mapping to a name that is not a built-in is an error.
    pub(super) fn support(&mut self, layer: &LayerConfig, name: &str) -> Result<Status> {
        let (status, mapping) = classify(layer, &self.options.custom).map_err(|detail| {
            Error::layer(self.path, &layer.name, layer.display_class(), detail)
        })?;
        if let Some(i) = mapping {
            self.mapped[i].push(name.to_string());
        }
        if !status.runs() {
            self.findings.report(name, layer, &status);
        }
        Ok(status)
    }

    pub(super) fn is_unknown(&self, id: NodeId) -> bool {
        self.findings.unknown.contains(&self.nodes[id.0].name)
    }

    /// A node standing in for a layer keqv cannot run, or one whose inputs' shapes are unknown:
    /// no op, no shape, and the file's weights as they are. Its graph must never be run.
    pub(super) fn placeholder(
        &mut self,
        layer: &LayerConfig,
        name: String,
        inputs: &[NodeId],
        status: Status,
    ) -> Result<Vec<NodeId>> {
        self.findings.unknown.insert(name.clone());
        self.findings.status.insert(name.clone(), status);
        let weights = layer
            .weights
            .iter()
            .map(|w| Weight::new(&w.name, w.value.clone()))
            .collect();
        let id = self.push(Node {
            name,
            layer: layer.name.clone(),
            class: layer.display_class().to_string(),
            op: Op::Identity,
            inputs: inputs.to_vec(),
            weights,
            shape: Vec::new(),
            op_layer: layer.op_layer().is_some(),
        })?;
        Ok(vec![id])
    }

    /// The op for a layer keqv runs: its mapping's built-in, else its own class.
    pub(super) fn translate(&self, layer: &LayerConfig, input: &[usize]) -> Result<Op> {
        let bad =
            |detail: String| Error::layer(self.path, &layer.name, layer.display_class(), detail);
        let class = self
            .options
            .custom
            .lookup(layer)
            .map_or(layer.class_name.as_str(), |(_, m)| m.builtin.as_str());
        let translated =
            translate(class, &layer.config, input, self.dialect).map_err(|e| bad(advised(e)))?;
        translated.ok_or_else(|| bad(format!("class '{class}' has no op in keqv; {MALFORMED}")))
    }

    /// The op of an op layer's call: its operands (tensors and numbers, in order), settings
    /// and slices from the call as the dialect writes it.
    fn op_layer(
        &self,
        layer: &LayerConfig,
        call: usize,
        name: &str,
        input: &[usize],
    ) -> Result<Op> {
        use crate::ops::op_layers::{self, Operand};
        let bad = |detail: String| Error::layer(self.path, &layer.name, name, detail);
        let op = op_layers::canonical(name)
            .ok_or_else(|| bad("is an op keqv does not support yet".into()))?;
        let c = layer
            .calls
            .get(call)
            .ok_or_else(|| bad(format!("has no call {call}; {MALFORMED}")))?;
        let operand = |v: &Value| match v.as_f64() {
            Some(n) => Some(Operand::Constant(n as f32)),
            None if v.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") => {
                Some(Operand::Tensor)
            }
            None => None,
        };
        let (operands, params, slices): (
            Vec<Operand>,
            serde_json::Map<String, Value>,
            Option<&Value>,
        ) = if self.dialect == Dialect::TfKeras2 {
            // tf-keras: the tensor (or a constant) first, `y` a number or a keyword tensor.
            let first = c.raw_args.first().and_then(Value::as_f64);
            let mut operands = vec![match (c.args.is_empty(), first) {
                (true, Some(v)) => Operand::Constant(v as f32),
                _ => Operand::Tensor,
            }];
            if c.keywords.iter().any(|k| k.name == "y") {
                operands.push(Operand::Tensor);
            } else if let Some(y) = c.kwargs.get("y").and_then(Value::as_f64) {
                operands.push(Operand::Constant(y as f32));
            }
            (operands, c.kwargs.clone(), c.kwargs.get("slice_spec"))
        } else {
            let operands = c.raw_args.iter().filter_map(operand).collect();
            let params = layer.config.as_object().cloned().unwrap_or_default();
            (operands, params, c.raw_args.get(1))
        };
        op_layers::parse(op, &operands, &params, slices, input).map_err(|e| bad(advised(e)))
    }

    /// The layer's weights, checked against what the op needs.
    pub(super) fn weights(
        &self,
        layer: &LayerConfig,
        op: &Op,
        input: &[usize],
    ) -> Result<Vec<Weight>> {
        let path = self.path;
        let bad = |detail: String| Error::layer(path, &layer.name, layer.display_class(), detail);
        if let (Op::Recurrent(r), Some(_)) =
            (op, crate::ops::recurrent::cudnn::cell(&layer.class_name))
        {
            return self.cudnn_weights(layer, r, input);
        }
        let expected = op
            .weights(input)
            .map_err(|e| bad(format!("{e}; {MALFORMED}")))?;
        self.checked_weights(layer, expected, &bad)
    }

    /// The weights `expected` of a layer, from the file (checked) or shared with an earlier
    /// call of the layer.
    pub(super) fn checked_weights(
        &self,
        layer: &LayerConfig,
        expected: Vec<WeightSpec>,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<Vec<Weight>> {
        for WeightSpec { name, shape } in &expected {
            if checked_len(shape).is_none_or(|n| n > MAX_ELEMENTS) {
                return Err(bad(format!(
                    "weight '{name}' would have shape {shape:?}, which needs {} of memory; refusing to allocate it: {MALFORMED}",
                    human_bytes(float32_bytes(shape))
                )));
            }
        }
        // Another call of a layer already built: the same variables, which must fit this call.
        let key: *const LayerConfig = layer;
        if let Some(shared) = self.shared.borrow().get(&key) {
            for (w, WeightSpec { name, shape }) in shared.iter().zip(&expected) {
                if w.value.shape() != shape.as_slice() {
                    return Err(bad(format!(
                        "weight '{name}' has shape {:?}, but this call of the layer needs {shape:?} (a shared layer called on inputs of different shapes); {MALFORMED}",
                        w.value.shape()
                    )));
                }
            }
            return Ok(shared.clone());
        }
        let weights = self.first_weights(layer, expected, bad)?;
        self.shared.borrow_mut().insert(key, weights.clone());
        Ok(weights)
    }

    /// The weights of a layer's first call: the file's, checked, or placeholders.
    pub(super) fn first_weights(
        &self,
        layer: &LayerConfig,
        expected: Vec<WeightSpec>,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<Vec<Weight>> {
        if layer.weights.is_empty() && !expected.is_empty() {
            if let Some(budget) = self.placeholder_budget.get() {
                let needed = expected
                    .iter()
                    .map(|w| checked_len(&w.shape).unwrap_or(usize::MAX))
                    .fold(0usize, usize::saturating_add);
                if needed > budget {
                    return Err(bad(format!(
                        "placeholder weights would need {needed} more values, over the limit; {MALFORMED}"
                    )));
                }
                self.placeholder_budget.set(Some(budget - needed));
                return Ok(expected
                    .into_iter()
                    .map(|w| {
                        let zeros = crate::tensor::Tensor::zeros(IxDyn(&w.shape));
                        Weight::new(w.name, Arc::new(zeros))
                    })
                    .collect());
            }
        }
        if layer.weights.len() != expected.len() {
            let names: Vec<&str> = expected.iter().map(|w| w.name).collect();
            let detail = if layer.weights.is_empty() {
                format!(
                    "the file has no weights for this layer, which needs {}; {WEIGHTS_MISMATCH}",
                    names.join(", ")
                )
            } else {
                format!(
                    "the file has {} weight(s) for this layer, the config needs {} ({}); {WEIGHTS_MISMATCH}",
                    layer.weights.len(),
                    expected.len(),
                    names.join(", ")
                )
            };
            return Err(bad(detail));
        }
        layer
            .weights
            .iter()
            .zip(&expected)
            .map(|(w, WeightSpec { name, shape })| {
                if w.value.shape() != shape.as_slice() {
                    return Err(bad(format!(
                        "weight '{name}' has shape {:?} in the file, the config needs {:?}; {WEIGHTS_MISMATCH}",
                        w.value.shape(),
                        shape
                    )));
                }
                Ok(Weight::new(*name, w.value.clone()))
            })
            .collect()
    }

    /// Counts one layer call (a node, or a call of a nested model) against [`MAX_CALLS`].
    pub(super) fn count_call(&mut self) -> Result<()> {
        self.calls += 1;
        if self.calls > MAX_CALLS {
            return Err(self.malformed(format!(
                "the model expands to more than {MAX_CALLS} layer calls (nested models called many times each)"
            )));
        }
        Ok(())
    }

    /// A node of `layer` whose output shape follows from its op and inputs (a node of the
    /// several a layer is built as).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push_checked(
        &mut self,
        layer: &LayerConfig,
        name: &str,
        class: &str,
        op: Op,
        inputs: Vec<NodeId>,
        weights: Vec<Weight>,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<NodeId> {
        let shapes: Vec<&[usize]> = inputs
            .iter()
            .map(|id| self.nodes[id.0].shape.as_slice())
            .collect();
        let shape = op
            .output_shape(&shapes)
            .map_err(|e| bad(format!("{e}; {MALFORMED}")))?;
        self.push(Node {
            name: name.to_string(),
            layer: layer.name.clone(),
            class: class.to_string(),
            op,
            inputs,
            weights,
            shape,
            op_layer: false,
        })
    }

    /// Adds a node, refusing a second node of the same name (a layer named `a#1` next to a
    /// shared layer `a`, or `outer/x` next to a nested model `outer`) and graphs that nested
    /// models called many times each would blow up beyond any real model.
    pub(super) fn push(&mut self, node: Node) -> Result<NodeId> {
        self.count_call()?;
        self.name_bytes = self.name_bytes.saturating_add(node.name.len());
        if self.name_bytes > MAX_NAME_BYTES {
            return Err(self.malformed(format!(
                "the names of the model's layer calls take more than {} (long names nested many times)",
                human_bytes(MAX_NAME_BYTES as f64)
            )));
        }
        if !self.names.insert(node.name.clone()) {
            return Err(Error::layer(
                self.path,
                &node.layer,
                &node.class,
                format!(
                    "is called '{}' in the graph, as is another layer call (a '/' or '#' in a layer name clashes with keqv's names for nested and repeated calls); rename the layer and re-save the model",
                    node.name
                ),
            ));
        }
        self.nodes.push(node);
        Ok(NodeId(self.nodes.len() - 1))
    }
}

/// A family's reason a config cannot be read, with what to do: its own advice when it gives
/// some (`…; it runs …`), else that the config is malformed.
pub(super) fn advised(reason: String) -> String {
    if reason.contains("; ") {
        reason
    } else {
        format!("{reason}; {MALFORMED}")
    }
}

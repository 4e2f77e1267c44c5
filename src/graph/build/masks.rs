//! Keras's masks: which steps of a sequence are real. A layer that makes one (Embedding with
//! `mask_zero`, Masking) gets a mask node beside it; the layers Keras lets a mask through
//! (`supports_masking`: Dense, activations, normalization, dropout, merges, recurrent layers
//! returning sequences) hand it on; the layers that use it (recurrent layers,
//! GlobalAveragePooling1D) read it as an extra input; every other layer drops it, as Keras 3
//! does (tf-keras refuses to build such a model).

use super::*;
use crate::ops::{MakeMask, MaskedMean, MergeKind, Pool, PoolKind};

/// Where a layer call's input mask comes from.
#[derive(Clone, Copy, Debug)]
pub(super) enum MaskArg {
    /// As Keras propagates it from the inputs (tf-keras files, Sequential models).
    Implicit,
    /// As the file records it (Keras 3's `mask` keyword: a tensor, or null).
    Given(Option<NodeId>),
}

impl Builder<'_> {
    /// The mask of a layer's inputs: the one mask they carry, or (merges) their masks merged
    /// as the dialect merges them when the model runs: tf-keras ANDs the masks there are;
    /// Keras 3 ORs them, and gives none where an input has none.
    pub(super) fn input_mask(
        &mut self,
        layer: &LayerConfig,
        node_name: &str,
        inputs: &[NodeId],
    ) -> Result<Option<NodeId>> {
        let mut masks: Vec<NodeId> = inputs
            .iter()
            .filter_map(|i| self.masks.get(i).copied())
            .collect();
        let keras3 = self.dialect == Dialect::Keras3;
        if keras3 && masks.len() < inputs.len() {
            return Ok(None);
        }
        masks.dedup();
        let merge = if keras3 {
            MergeKind::Maximum
        } else {
            MergeKind::Multiply
        };
        match masks.len() {
            0 => Ok(None),
            1 => Ok(Some(masks[0])),
            _ => {
                let shape = self.nodes[masks[0].0].shape.clone();
                if masks.iter().any(|m| self.nodes[m.0].shape != shape) {
                    return Err(Error::layer(
                        self.path,
                        &layer.name,
                        layer.display_class(),
                        "merges masked tensors whose masks have other shapes, which keqv cannot run yet"
                            .to_string(),
                    ));
                }
                let name = format!("{node_name}/mask");
                let id = self.push(self.mask_node(layer, name, Op::Merge(merge), masks, shape))?;
                Ok(Some(id))
            }
        }
    }

    pub(super) fn mask_node(
        &self,
        layer: &LayerConfig,
        name: String,
        op: Op,
        inputs: Vec<NodeId>,
        shape: Vec<usize>,
    ) -> Node {
        Node {
            name,
            layer: layer.name.clone(),
            class: layer.display_class().to_string(),
            op,
            inputs,
            weights: Vec::new(),
            shape,
            op_layer: false,
        }
    }

    /// The op as it runs with the input mask `mask`: a layer that uses masks reads it as one
    /// more input; a layer that would misread masked steps is refused.
    pub(super) fn with_mask(
        &self,
        layer: &LayerConfig,
        op: Op,
        inputs: &mut Vec<NodeId>,
        mask: Option<NodeId>,
    ) -> Result<Op> {
        let Some(mask) = mask else {
            return Ok(op);
        };
        let bad = |detail: &str| {
            Error::layer(
                self.path,
                &layer.name,
                layer.display_class(),
                detail.to_string(),
            )
        };
        Ok(match op {
            Op::Recurrent(r) if r.conv.is_some() => {
                return Err(bad("receives a mask, which keqv cannot apply to a ConvLSTM yet (tf-keras applies it per step and position, Keras 3 on jax fails on it); remove the masking before it (a Masking layer, an Embedding's mask_zero, a mask argument)"))
            }
            Op::Recurrent(mut r) => {
                r.masked = true;
                inputs.push(mask);
                Op::Recurrent(r)
            }
            Op::Pool(Pool {
                kind: PoolKind::Average,
                keep_only,
                ..
            }) if layer.class_name == "GlobalAveragePooling1D" => {
                let channels_first = layer.config.get("data_format")
                    == Some(&Value::String("channels_first".into()));
                if keep_only == Some(0) || channels_first {
                    return Err(bad("averages a masked channels_first sequence, which keqv cannot run yet; use channels_last"));
                }
                inputs.push(mask);
                Op::MaskedMean(MaskedMean {
                    keepdims: keep_only.is_none(),
                })
            }
            Op::Concatenate(ref c) if c.axis + 1 != self.nodes[inputs[0].0].shape.len() + 1 => {
                return Err(bad("concatenates masked sequences along another axis than the features, which keqv cannot run yet"))
            }
            Op::Softmax(_) => {
                return Err(bad("receives a mask, which a Softmax layer adds to its input; keqv cannot run that yet"))
            }
            op => op,
        })
    }

    /// The mask of node `id`'s output, from its layer's op and the input mask.
    pub(super) fn output_mask(
        &mut self,
        layer: &LayerConfig,
        id: NodeId,
        input: NodeId,
        mask: Option<NodeId>,
    ) -> Result<Option<NodeId>> {
        let op = self.nodes[id.0].op.clone();
        let made = match &op {
            Op::Embedding(e) if e.mask_zero => Some(MakeMask::NotEqual { value: 0.0 }),
            Op::Masking(m) => Some(MakeMask::AnyNot { value: m.value }),
            _ => None,
        };
        if let Some(make) = made {
            let in_shape = self.nodes[input.0].shape.clone();
            let shape = make.output_shape(&in_shape).map_err(|e| {
                Error::layer(
                    self.path,
                    &layer.name,
                    layer.display_class(),
                    format!("{e}; {MALFORMED}"),
                )
            })?;
            let name = format!("{}/mask", self.nodes[id.0].name);
            let node = self.mask_node(layer, name, Op::MakeMask(make), vec![input], shape);
            return Ok(Some(self.push(node)?));
        }
        Ok(mask.filter(|_| passes_mask(&op)))
    }
}

/// Whether Keras hands a layer's input mask on to its output.
fn passes_mask(op: &Op) -> bool {
    match op {
        Op::Recurrent(r) => r.return_sequences,
        Op::PerStep(p) => passes_mask(&p.op),
        Op::Dense(_)
        | Op::Activation(_)
        | Op::PRelu(_)
        | Op::Identity
        | Op::Merge(_)
        | Op::Concatenate(_)
        | Op::BatchNorm(_)
        | Op::LayerNorm(_)
        | Op::L2Normalize(_)
        | Op::Scale(_)
        | Op::Masking(_) => true,
        _ => false,
    }
}

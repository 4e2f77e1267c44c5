//! A layer call that takes keyword tensors (`mha(q, value=v)`, `softmax(x, mask=m)`).
//!
//! A mask (Keras 3's `mask=`) goes to the layers that use one (`masks.rs`). No op reads other
//! keyword tensors yet, so such a call becomes a placeholder taking every tensor of the call:
//! `keqv inspect` shows them all, and pruning keeps what produces them. A layer keqv would
//! otherwise run is reported as one it cannot, naming the keyword.

use super::recurrent;
use super::*;

impl Builder<'_> {
    pub(super) fn keyword_call(
        &mut self,
        layer: &LayerConfig,
        call: usize,
        args: &CallArgs<NodeId>,
        prefix: &str,
    ) -> Result<Vec<NodeId>> {
        // tf-keras's op layers take their second operand as the keyword `y`.
        if layer.op_layer().is_some() && args.keywords.iter().all(|(k, _)| *k == "y") {
            return self.call(layer, call, &args.all(), prefix);
        }
        // Keras 3 passes a layer its input's mask as the keyword `mask`.
        if let [("mask", mask)] = args.keywords[..] {
            if takes_mask(layer) {
                let mask = MaskArg::Given(Some(mask));
                return self.call_with_mask(layer, call, &args.args, prefix, mask);
            }
        }
        // Keras 3 passes a recurrent layer its initial states as the keyword `initial_state`.
        let keyword = |name: &'static str| {
            args.keywords
                .iter()
                .filter(move |(k, _)| *k == name)
                .map(|(_, t)| *t)
        };
        if recurrent::is_recurrent(layer)
            && args
                .keywords
                .iter()
                .all(|(k, _)| matches!(*k, "initial_state" | "mask"))
        {
            let mut inputs = args.args.clone();
            inputs.extend(keyword("initial_state"));
            let mask = match keyword("mask").next() {
                Some(m) => MaskArg::Given(Some(m)),
                None => MaskArg::Implicit,
            };
            return self.call_with_mask(layer, call, &inputs, prefix, mask);
        }
        let name = call_name(prefix, &layer.name, call);
        let mut status = self.support(layer, &name)?;
        if let (true, Some((keyword, _))) = (status.runs(), args.keywords.first()) {
            status = Status::KeywordTensor(keyword.to_string());
            self.findings.report(&name, layer, &status);
        }
        self.placeholder(layer, name, &args.all(), status)
    }
}

/// Layers that read a mask keqv runs: recurrent layers (Bidirectional too),
/// GlobalAveragePooling1D, and TimeDistributed, which hands it on.
fn takes_mask(layer: &LayerConfig) -> bool {
    matches!(
        layer.class_name.as_str(),
        "SimpleRNN"
            | "LSTM"
            | "GRU"
            | "GlobalAveragePooling1D"
            | "Bidirectional"
            | "TimeDistributed"
    )
}

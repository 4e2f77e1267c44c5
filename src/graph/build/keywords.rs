//! A layer call that takes keyword tensors (`mha(q, value=v)`, `softmax(x, mask=m)`).
//!
//! No op reads keyword tensors yet, so such a call becomes a placeholder taking every tensor of
//! the call: `keqv inspect` shows them all, and pruning keeps what produces them. A layer keqv
//! would otherwise run is reported as one it cannot, naming the keyword.

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
        let name = call_name(prefix, &layer.name, call);
        let mut status = self.support(layer, &name)?;
        if let (true, Some((keyword, _))) = (status.runs(), args.keywords.first()) {
            status = Status::KeywordTensor(keyword.to_string());
            self.findings.report(&name, layer, &status);
        }
        self.placeholder(layer, name, &args.all(), status)
    }
}

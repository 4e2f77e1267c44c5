//! The model as a graph of operations: what every executor runs and every report refers to.
//!
//! Nodes are stored in a topological order (every input of a node comes before it), fixed
//! when the graph is built, so executors simply walk `nodes` front to back.

pub mod build;
pub mod keras_layers;
pub mod linear;
pub mod mappings;
pub mod open_inputs;
pub mod support;

use std::sync::Arc;

use serde::Serialize;

pub use crate::ops::{Activation, MergeKind, Op};
pub use mappings::MappingUse;

use crate::tensor::Tensor;

/// Index of a node in `Graph::nodes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NodeId(pub usize);

/// A named weight tensor; shared layers share the `Arc`.
#[derive(Clone, Debug)]
pub struct Weight {
    /// Keras's name for the variable (`kernel`, `bias`, `gamma`, …).
    pub name: String,
    /// The values the op reads.
    pub value: Arc<Tensor>,
    /// The variable as the file holds it, which is what Keras counts: `value` itself, unless
    /// keqv laid it out anew for its op (a CuDNN layer's two biases summed into one, an
    /// EinsumDense bias repeated over the kernel's output axes, a MultiHeadAttention kernel
    /// reshaped), where it is the file's tensor that `value` was made from.
    pub stored: Arc<Tensor>,
}

impl Weight {
    /// A weight the op reads as the file holds it.
    pub fn new(name: impl Into<String>, value: Arc<Tensor>) -> Self {
        Weight {
            name: name.into(),
            stored: value.clone(),
            value,
        }
    }

    /// `value`, made from this weight for an op: the file's variable stays the one counted.
    pub fn laid_out(&self, value: Tensor) -> Self {
        Weight {
            name: self.name.clone(),
            value: Arc::new(value),
            stored: self.stored.clone(),
        }
    }
}

/// How many values the file holds for `weights` (Keras's parameter count), counting each
/// variable once however many nodes read it (a shared layer, a layer's state nodes).
pub fn parameter_count<'w>(weights: impl IntoIterator<Item = &'w Weight>) -> usize {
    let mut seen = std::collections::HashSet::new();
    weights
        .into_iter()
        .filter(|w| seen.insert(Arc::as_ptr(&w.stored)))
        .map(|w| w.stored.len())
        .sum()
}

/// One application of a layer.
#[derive(Clone, Debug)]
pub struct Node {
    /// Unique within the graph: the layer path (`inner/dense`), plus `#k` for the k-th call of
    /// a shared layer after the first.
    pub name: String,
    /// The Keras layer's own name (without nesting prefix or call suffix).
    pub layer: String,
    /// The Keras class (`Dense`, `mypkg>FeatureNormalization`, …).
    pub class: String,
    pub op: Op,
    pub inputs: Vec<NodeId>,
    pub weights: Vec<Weight>,
    /// Output shape of one sample (the batch dimension is left out).
    pub shape: Vec<usize>,
    /// An op layer (`x + 3.0` written as a layer): its operands live in its call.
    pub op_layer: bool,
}

impl Node {
    pub fn weight(&self, i: usize) -> &Tensor {
        &self.weights[i].value
    }

    /// A TimeDistributed node as its wrapped op sees one step (the op and the shape without
    /// the steps axes), how many steps each sample holds, and how many axes they take;
    /// `None` for any other node.
    pub fn per_step(&self) -> Option<(Node, usize, usize)> {
        let Op::PerStep(p) = &self.op else {
            return None;
        };
        let step = Node {
            op: p.op.clone(),
            shape: self.shape[1..].to_vec(),
            ..self.clone()
        };
        Some(match step.per_step() {
            Some((inner, steps, axes)) => (inner, p.steps * steps, axes + 1),
            None => (step, p.steps, 1),
        })
    }
}

/// A model ready to run.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub inputs: Vec<NodeId>,
    pub outputs: Vec<NodeId>,
    /// Every custom mapping the graph was built with, and the nodes it applied to.
    pub mappings: Vec<MappingUse>,
}

impl Node {
    /// Whether this node is part of wrapper node `outer`'s layer (a Bidirectional's
    /// `bi/forward_lstm` of `bi`), built from the layer it wraps.
    pub fn is_inner_of(&self, outer: &Node) -> bool {
        self.layer == outer.layer
            && self
                .name
                .strip_prefix(outer.name.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// A mask keqv adds beside a layer where Keras propagates one implicitly (named
    /// `layer/mask`), rather than a layer of the file.
    pub fn is_propagated_mask(&self) -> bool {
        matches!(self.op, Op::MakeMask(_) | Op::Merge(_))
            && self.name.ends_with("/mask")
            && self.layer != "mask"
    }
}

impl Graph {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    /// The nodes keqv builds inside a layer call's node: a Bidirectional's two directions,
    /// MultiHeadAttention's projections and core (the same layer, named under the node).
    pub fn inner_nodes(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let outer = self.node(id);
        (0..self.nodes.len())
            .map(NodeId)
            .filter(move |&i| self.node(i).is_inner_of(outer))
    }

    /// The node each node is built inside (`lstm` for `lstm/state_h`, `mha` for `mha/query`),
    /// where it is: the nearest node its name is under, of the same layer.
    pub fn owners(&self) -> Vec<Option<NodeId>> {
        let by_name: std::collections::HashMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        self.nodes
            .iter()
            .map(|node| {
                let mut name = node.name.as_str();
                while let Some((outer, _)) = name.rsplit_once('/') {
                    match by_name.get(outer) {
                        Some(&j) if node.is_inner_of(&self.nodes[j]) => return Some(NodeId(j)),
                        _ => name = outer,
                    }
                }
                None
            })
            .collect()
    }

    /// The tensors node `id`'s layer call reads, as the file lists them: its inputs, an inner
    /// node standing for what the layer gives it.
    pub fn call_inputs(&self, id: NodeId) -> Vec<NodeId> {
        let node = self.node(id);
        // The tensor an inner node stands for: through the layer's inner nodes to one it reads.
        let outside = |mut t: NodeId| {
            while self.node(t).is_inner_of(node) {
                t = self.node(t).inputs[0];
            }
            t
        };
        let mut out = Vec::new();
        for &i in &node.inputs {
            if !self.node(i).is_inner_of(node) {
                out.push(i);
                continue;
            }
            match self.attention_core(node, i) {
                // MultiHeadAttention's core (behind the reshapes of attention over several
                // axes): what its projections read (the key's where the call gave a key of
                // its own), and the attention mask.
                Some((core, a)) => {
                    let core = self.node(core);
                    let read = |k: usize| outside(core.inputs[k]);
                    let (query, value, key) = (read(0), read(1), read(2));
                    out.extend([query, value]);
                    out.extend(Some(key).filter(|&k| k != value));
                    if a.masks.attention {
                        out.extend(core.inputs.last());
                    }
                }
                // A wrapper's inner layers (a Bidirectional's two directions, EinsumDense's
                // reshapes and Dense): the one tensor they read.
                None => {
                    let t = outside(i);
                    if !out.contains(&t) {
                        out.push(t);
                    }
                }
            }
        }
        out
    }

    /// The attention core among `outer`'s inner nodes from `from` down its first inputs.
    fn attention_core(
        &self,
        outer: &Node,
        from: NodeId,
    ) -> Option<(NodeId, &crate::ops::Attention)> {
        let mut t = from;
        while self.node(t).is_inner_of(outer) {
            match &self.node(t).op {
                Op::Attention(a) => return Some((t, a)),
                Op::PerStep(p) => {
                    if let Op::Attention(a) = &p.op {
                        return Some((t, a));
                    }
                }
                _ => {}
            }
            t = self.node(t).inputs[0];
        }
        None
    }

    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name).map(NodeId)
    }

    /// For each node, the nodes that consume its output (in node order, repeats kept).
    pub fn consumers(&self) -> Vec<Vec<NodeId>> {
        let mut out = vec![Vec::new(); self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            for input in &node.inputs {
                out[input.0].push(NodeId(i));
            }
        }
        out
    }

    /// For each node, the index of the last node that reads it (itself when none does): when
    /// its value may be freed.
    pub fn last_uses(&self) -> Vec<usize> {
        let mut last: Vec<usize> = (0..self.nodes.len()).collect();
        for (i, node) in self.nodes.iter().enumerate() {
            for input in &node.inputs {
                last[input.0] = last[input.0].max(i);
            }
        }
        last
    }

    /// Number of scalar weights as Keras counts them, counting a shared layer once.
    pub fn parameter_count(&self) -> usize {
        parameter_count(self.nodes.iter().flat_map(|n| &n.weights))
    }

    /// Multiply–adds per sample, the figure benchmarks turn into GFLOP/s.
    pub fn macs_per_sample(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| {
                let inputs: Vec<&[usize]> = n
                    .inputs
                    .iter()
                    .map(|i| self.nodes[i.0].shape.as_slice())
                    .collect();
                n.op.macs(&inputs, &n.shape)
            })
            .sum()
    }
}

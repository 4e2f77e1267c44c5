//! The one walk over a model's layer calls, shared by the graph builder and `convert`'s
//! analysis: it checks the model's inputs and outputs, resolves every tensor a call takes
//! (positional and keyword) to the call that produces it, and visits the calls in a topological
//! order. A missing layer, a bad call or output index, or a cycle gets the same message
//! whichever command reads the model.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;

use super::{Call, LayerConfig, ModelConfig, TensorRef};
use crate::error::{Error, Result};

/// What to do about a config that breaks Keras's own rules.
pub const MALFORMED: &str = "the model config is malformed: re-save the model with Keras";

/// The tensors one call takes, as the values the visitor made for them.
#[derive(Clone, Debug)]
pub struct CallArgs<'m, T> {
    pub args: Vec<T>,
    /// Keyword name and tensor, in the order the file lists them.
    pub keywords: Vec<(&'m str, T)>,
}

impl<T: Copy> CallArgs<'_, T> {
    /// Every tensor: the positional ones, then the keyword ones.
    pub fn all(&self) -> Vec<T> {
        let keywords = self.keywords.iter().map(|(_, t)| *t);
        self.args.iter().copied().chain(keywords).collect()
    }
}

/// What a walk builds: one value per tensor (a graph node, a topology node).
pub trait Visitor<'m> {
    type Value: Copy;

    /// An input of the outermost model.
    fn input(&mut self, layer: &'m LayerConfig, prefix: &str) -> Result<Self::Value>;

    /// One call of a layer; returns its outputs. A nested model's call walks that model with
    /// [`walk`], its inputs bound to `args`.
    fn layer_call(
        &mut self,
        layer: &'m LayerConfig,
        call: usize,
        args: CallArgs<'m, Self::Value>,
        prefix: &str,
    ) -> Result<Vec<Self::Value>>;
}

/// Walks one (possibly nested) model; `prefix` names its enclosing models for the visitor, and
/// `bound` gives the values its inputs are bound to when an enclosing model calls it. Returns
/// the model's outputs.
pub fn walk<'m, V: Visitor<'m>>(
    path: &Path,
    cfg: &'m ModelConfig,
    prefix: &str,
    bound: Option<&[V::Value]>,
    visitor: &mut V,
) -> Result<Vec<V::Value>> {
    let walk = Walk {
        path,
        cfg,
        done: HashMap::new(),
    };
    walk.run(prefix, bound, visitor)
}

struct Walk<'p, 'm, T> {
    path: &'p Path,
    cfg: &'m ModelConfig,
    /// The outputs of each call visited so far, by layer name and call index.
    done: HashMap<(&'m str, usize), Vec<T>>,
}

/// Every call of every layer but the InputLayers, with what the walk knows of its order.
struct Pending<'m> {
    calls: Vec<(&'m LayerConfig, usize)>,
    /// How many of its producers each call still waits for.
    waiting_on: Vec<usize>,
    /// The calls that take each call's outputs.
    dependents: Vec<Vec<usize>>,
}

impl<'m, T: Copy> Walk<'_, 'm, T> {
    fn run<V: Visitor<'m, Value = T>>(
        mut self,
        prefix: &str,
        bound: Option<&[T]>,
        visitor: &mut V,
    ) -> Result<Vec<T>> {
        self.check_model(bound)?;
        for (i, input) in self.cfg.inputs.iter().enumerate() {
            let layer = self.input_layer(input)?;
            let value = match bound {
                Some(values) => values[i],
                None => visitor.input(layer, prefix)?,
            };
            self.done.insert((layer.name.as_str(), 0), vec![value]);
        }
        let mut pending = self.pending()?;
        // Kahn's algorithm taking the earliest ready call in config order: Keras writes layers
        // in topological order, so that order is kept.
        let mut ready: BinaryHeap<Reverse<usize>> = (0..pending.calls.len())
            .filter(|&i| pending.waiting_on[i] == 0)
            .map(Reverse)
            .collect();
        while let Some(Reverse(i)) = ready.pop() {
            let (layer, call) = pending.calls[i];
            let args = self.args(layer, &layer.calls[call])?;
            let outputs = visitor.layer_call(layer, call, args, prefix)?;
            self.done.insert((layer.name.as_str(), call), outputs);
            for &j in &pending.dependents[i] {
                pending.waiting_on[j] -= 1;
                if pending.waiting_on[j] == 0 {
                    ready.push(Reverse(j));
                }
            }
        }
        if pending.waiting_on.iter().any(|&n| n > 0) {
            return Err(self.cycle(&pending));
        }
        self.outputs()
    }

    /// What a model needs before any call can be resolved.
    fn check_model(&self, bound: Option<&[T]>) -> Result<()> {
        let cfg = self.cfg;
        let mut names = HashSet::new();
        if let Some(dup) = cfg.layers.iter().find(|l| !names.insert(l.name.as_str())) {
            return Err(self.malformed(format!(
                "model '{}' has two layers named '{}'",
                cfg.name, dup.name
            )));
        }
        if cfg.outputs.is_empty() {
            return Err(self.malformed(format!("model '{}' has no outputs", cfg.name)));
        }
        if cfg.inputs.is_empty() {
            return Err(self.malformed(format!("model '{}' has no inputs", cfg.name)));
        }
        let mut listed = HashSet::new();
        if let Some((i, input)) = cfg
            .inputs
            .iter()
            .enumerate()
            .find(|(_, r)| !listed.insert(*r))
        {
            return Err(self.malformed(format!(
                "model '{}' lists input {} twice (inputs {} and {})",
                cfg.name,
                describe(input),
                cfg.inputs.iter().position(|r| r == input).unwrap_or(0),
                i
            )));
        }
        match bound {
            Some(values) if values.len() != cfg.inputs.len() => Err(self.malformed(format!(
                "nested model '{}' is called with {} tensor(s) but has {} input(s)",
                cfg.name,
                values.len(),
                cfg.inputs.len()
            ))),
            _ => Ok(()),
        }
    }

    fn input_layer(&self, input: &TensorRef) -> Result<&'m LayerConfig> {
        self.cfg
            .layer(&input.layer)
            .filter(|l| l.class_name == "InputLayer" && input.node == 0 && input.tensor == 0)
            .ok_or_else(|| {
                self.malformed(format!(
                    "model '{}' lists input {}, which is not an InputLayer of the model",
                    self.cfg.name,
                    describe(input)
                ))
            })
    }

    /// Every call, each tensor it takes traced to the call producing it.
    fn pending(&self) -> Result<Pending<'m>> {
        let calls: Vec<(&'m LayerConfig, usize)> = self
            .cfg
            .layers
            .iter()
            .filter(|l| l.class_name != "InputLayer")
            .flat_map(|l| (0..l.calls.len()).map(move |c| (l, c)))
            .collect();
        let index: HashMap<(&str, usize), usize> = calls
            .iter()
            .enumerate()
            .map(|(i, (l, c))| ((l.name.as_str(), *c), i))
            .collect();
        let mut pending = Pending {
            waiting_on: vec![0; calls.len()],
            dependents: vec![Vec::new(); calls.len()],
            calls,
        };
        for (i, &(layer, call)) in pending.calls.iter().enumerate() {
            for r in layer.calls[call].tensors() {
                if self.done.contains_key(&(r.layer.as_str(), r.node)) {
                    continue;
                }
                let producer = index
                    .get(&(r.layer.as_str(), r.node))
                    .ok_or_else(|| self.bad_reference(layer, r))?;
                pending.waiting_on[i] += 1;
                pending.dependents[*producer].push(i);
            }
        }
        Ok(pending)
    }

    /// The values a call takes, once every producer has been visited.
    fn args(&self, layer: &'m LayerConfig, call: &'m Call) -> Result<CallArgs<'m, T>> {
        let args = call
            .args
            .iter()
            .map(|r| self.resolve(layer, r))
            .collect::<Result<Vec<_>>>()?;
        let keywords = call
            .keywords
            .iter()
            .map(|k| Ok((k.name.as_str(), self.resolve(layer, &k.tensor)?)))
            .collect::<Result<Vec<_>>>()?;
        if let (Some(_), Some((name, _))) = (&layer.nested, keywords.first()) {
            return Err(self.at_layer(
                layer,
                format!(
                    "is a nested model called with a tensor as keyword argument '{name}', which keqv does not support; call it on positional tensors and re-save the model"
                ),
            ));
        }
        Ok(CallArgs { args, keywords })
    }

    fn resolve(&self, layer: &LayerConfig, r: &TensorRef) -> Result<T> {
        let outputs = self
            .done
            .get(&(r.layer.as_str(), r.node))
            .map_or(&[][..], Vec::as_slice);
        outputs.get(r.tensor).copied().ok_or_else(|| {
            self.at_layer(
                layer,
                format!(
                    "takes output {} of layer '{}', which has {} output(s); {MALFORMED}",
                    r.tensor,
                    r.layer,
                    outputs.len()
                ),
            )
        })
    }

    fn outputs(&self) -> Result<Vec<T>> {
        let cfg = self.cfg;
        cfg.outputs
            .iter()
            .map(|r| {
                self.done
                    .get(&(r.layer.as_str(), r.node))
                    .and_then(|outs| outs.get(r.tensor))
                    .copied()
                    .ok_or_else(|| {
                        self.malformed(format!(
                            "model '{}' output {} refers to a tensor no layer produces",
                            cfg.name,
                            describe(r)
                        ))
                    })
            })
            .collect()
    }

    /// A call that takes a tensor from a layer, or a call of it, that does not exist.
    fn bad_reference(&self, layer: &LayerConfig, r: &TensorRef) -> Error {
        let cfg = self.cfg;
        let detail = match cfg.layer(&r.layer) {
            None => format!(
                "takes input from layer '{}', which is not in the model",
                r.layer
            ),
            Some(src) if src.class_name == "InputLayer" => {
                if cfg.inputs.iter().any(|i| i.layer == r.layer) {
                    format!(
                        "takes input from call {} of InputLayer '{}', which has only call 0",
                        r.node, r.layer
                    )
                } else {
                    format!(
                        "takes input from InputLayer '{}', which is not one of the model's inputs",
                        r.layer
                    )
                }
            }
            Some(src) => format!(
                "takes input from call {} of layer '{}', which is called only {} time(s)",
                r.node,
                r.layer,
                src.calls.len()
            ),
        };
        self.at_layer(layer, format!("{detail}; {MALFORMED}"))
    }

    /// The calls left waiting once nothing more is ready: they wait on each other.
    fn cycle(&self, pending: &Pending) -> Error {
        let stuck: Vec<&str> = (0..pending.calls.len())
            .filter(|&i| pending.waiting_on[i] > 0)
            .map(|i| pending.calls[i].0.name.as_str())
            .collect();
        let more = stuck.len().saturating_sub(8);
        self.malformed(format!(
            "the layers {}{} form a cycle: each waits for another's output",
            stuck[..stuck.len().min(8)].join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ))
    }

    fn at_layer(&self, layer: &LayerConfig, detail: String) -> Error {
        Error::layer(self.path, &layer.name, layer.display_class(), detail)
    }

    fn malformed(&self, detail: String) -> Error {
        Error::format(self.path, format!("{detail}; {MALFORMED}"))
    }
}

/// `['layer', node, tensor]`, as messages show a reference.
pub fn describe(r: &TensorRef) -> String {
    format!("['{}', {}, {}]", r.layer, r.node, r.tensor)
}

#[cfg(test)]
mod tests;

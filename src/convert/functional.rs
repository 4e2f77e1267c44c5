//! A block as the nested Functional model Keras writes inside a Sequential one, in each
//! dialect and format (keras-formats.md §4.3, §7; checked against files Keras wrote):
//!
//! | | Keras 3 | tf-keras 2.x |
//! |---|---|---|
//! | `.keras` entry | `module` `keras.src.models.functional`, `registered_name` `Functional`, `build_config` `{"input_shape": null}`, `compile_config` `{}` | `module` `tf_keras.src.engine.functional`, `registered_name` `Functional`, `build_config` with the input shape |
//! | `.h5` entry | `class_name`, `config` | the same |
//! | config | `name`, `trainable`, `layers`, `input_layers` and `output_layers` as one triple | the same, the triples in lists |
//! | `.h5` inner layer | `class_name`, `config`, `name`, `inbound_nodes` | as in `.keras`: `module`, …, `build_config`, `name`, `inbound_nodes` |
//!
//! The block's layers are listed in the order Keras itself computes for the model
//! ([`super::keras_order`]): Keras numbers the weight groups and lists legacy weights in that
//! order. Each call's inbound node is the source's own, its tensors pointed at the block's
//! layers, when the source is in the target dialect; otherwise it is written anew from the
//! call's tensors and keyword arguments.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::block_plan::{Block, BlockPlan};
use super::blocks::Outlet;
use super::config::layer_entry;
use super::keras_order::{layer_order, Call};
use super::plan::CallNode;
use super::Target;
use crate::error::{Error, Result};
use crate::keras::{Dialect, Format, KerasModel, LayerConfig};

/// Whether a layer's first argument is a list of tensors even when it holds one: the merges
/// and Dot.
fn takes_a_list(class: &str) -> bool {
    crate::ops::merge::CLASSES.contains(&class) || crate::ops::dot::CLASSES.contains(&class)
}

/// A block's layers in Keras's order, each with its calls in the block (nodes, in order).
#[derive(Debug)]
pub struct Layout<'m> {
    pub layers: Vec<(&'m LayerConfig, Vec<usize>)>,
}

/// The shape (batch dimension first) and dtype of tensors of the model, as far as known.
#[derive(Debug, Default)]
pub struct Tensors {
    pub known: HashMap<Outlet, (Value, Value)>,
}

impl Tensors {
    fn get(&self, o: Outlet) -> Option<&(Value, Value)> {
        self.known.get(&o)
    }
}

/// The order the `to` Keras lists a block's layers in (its InputLayer first, left out here).
pub fn layout<'m>(plan: &BlockPlan<'m>, block: &Block, to: Dialect) -> Layout<'m> {
    let start = block.nodes.start;
    let local = |o: Outlet| {
        if o == block.input {
            0
        } else {
            o.node - start + 1
        }
    };
    let mut ids: HashMap<*const LayerConfig, usize> = HashMap::new();
    let mut layers: Vec<(&'m LayerConfig, Vec<usize>)> = Vec::new();
    let mut calls = vec![Call {
        layer: 0,
        parents: Vec::new(),
    }];
    for n in block.nodes.clone() {
        let call = &plan.flow.calls[n];
        let id = *ids.entry(call.layer as *const _).or_insert_with(|| {
            layers.push((call.layer, Vec::new()));
            layers.len()
        });
        layers[id - 1].1.push(n);
        calls.push(Call {
            layer: id,
            parents: keras_parents(call, to).into_iter().map(local).collect(),
        });
    }
    let order = layer_order(&calls, &[0], &[local(block.output)]);
    Layout {
        layers: order
            .into_iter()
            .filter(|&id| id > 0)
            .map(|id| layers[id - 1].clone())
            .collect(),
    }
}

/// A call's tensors in the order Keras flattens its arguments: the positional ones, then the
/// keyword ones, Keras 3 sorting them by name, tf-keras in the order of the call (which its
/// files keep, and the written one too).
fn keras_parents(call: &CallNode, to: Dialect) -> Vec<Outlet> {
    let mut keywords: Vec<(&str, Outlet)> = call
        .keywords
        .iter()
        .filter_map(|(k, t)| Some((*k, (*t)?)))
        .collect();
    if to == Dialect::Keras3 {
        keywords.sort_by_key(|(k, _)| *k);
    }
    call.args
        .iter()
        .copied()
        .chain(keywords.into_iter().map(|(_, t)| t))
        .collect()
}

/// Writes one block's entry of the Sequential model's `layers`.
pub struct BlockWriter<'a, 'm> {
    pub model: &'m KerasModel,
    pub plan: &'a BlockPlan<'m>,
    pub target: Target,
    pub tensors: &'a Tensors,
}

impl BlockWriter<'_, '_> {
    pub fn entry(&self, block: &Block, layout: &Layout) -> Result<Value> {
        let input_shape = self.shape(block, block.input)?;
        let mut layers = vec![self.input_entry(block, &input_shape)];
        // Each call's number among its layer's calls in the block.
        let mut numbered: HashMap<usize, (&str, usize)> = HashMap::new();
        for (layer, nodes) in &layout.layers {
            for (k, &n) in nodes.iter().enumerate() {
                numbered.insert(n, (layer.name.as_str(), k));
            }
        }
        let refer = |o: Outlet| -> (Value, usize, usize) {
            if o == block.input {
                (json!(block.input_name), 0, 0)
            } else {
                let (name, k) = numbered[&o.node];
                (json!(name), k, o.tensor)
            }
        };
        for (layer, nodes) in &layout.layers {
            let first = &self.plan.flow.calls[nodes[0]];
            let build_shape = self.build_shape(first);
            let mut e = match (self.target.dialect, self.target.format) {
                // tf-keras writes a nested model's layers the `.keras` way in `.h5` files too.
                (Dialect::TfKeras2, Format::H5) => {
                    let as_keras = Target {
                        format: Format::Keras,
                        ..self.target
                    };
                    layer_entry(self.model, layer, as_keras, build_shape)?
                }
                _ => layer_entry(self.model, layer, self.target, build_shape)?,
            };
            let inbound = nodes
                .iter()
                .map(|&n| self.inbound_node(&self.plan.flow.calls[n], &refer))
                .collect::<Result<Vec<_>>>()?;
            e["name"] = json!(layer.name);
            e["inbound_nodes"] = Value::Array(inbound);
            layers.push(e);
        }
        let (out, k, t) = refer(block.output);
        let triple = |name: Value, k: usize, t: usize| json!([name, k, t]);
        let (inputs, outputs) = match self.target.dialect {
            Dialect::Keras3 => (triple(json!(block.input_name), 0, 0), triple(out, k, t)),
            Dialect::TfKeras2 => (
                json!([triple(json!(block.input_name), 0, 0)]),
                json!([triple(out, k, t)]),
            ),
        };
        let mut config = Map::new();
        config.insert("name".into(), json!(block.name));
        config.insert("trainable".into(), json!(true));
        config.insert("layers".into(), Value::Array(layers));
        config.insert("input_layers".into(), inputs);
        config.insert("output_layers".into(), outputs);
        Ok(match (self.target.format, self.target.dialect) {
            (Format::H5, _) => json!({"class_name": "Functional", "config": config}),
            (Format::Keras, Dialect::Keras3) => json!({
                "module": "keras.src.models.functional",
                "class_name": "Functional",
                "config": config,
                "registered_name": "Functional",
                "build_config": {"input_shape": null},
                "compile_config": {},
            }),
            (Format::Keras, Dialect::TfKeras2) => json!({
                "module": "tf_keras.src.engine.functional",
                "class_name": "Functional",
                "config": config,
                "registered_name": "Functional",
                "build_config": {"input_shape": input_shape},
            }),
        })
    }

    /// The block's InputLayer, shaped like the tensor it takes.
    fn input_entry(&self, block: &Block, batch_shape: &Value) -> Value {
        let dtype = self
            .tensors
            .get(block.input)
            .map_or(json!("float32"), |(_, d)| d.clone());
        let key = match self.target.dialect {
            Dialect::Keras3 => "batch_shape",
            Dialect::TfKeras2 => "batch_input_shape",
        };
        let mut config = Map::new();
        config.insert(key.into(), batch_shape.clone());
        config.insert("dtype".into(), dtype);
        config.insert("sparse".into(), json!(false));
        config.insert("ragged".into(), json!(false));
        config.insert("name".into(), json!(block.input_name));
        config.insert("optional".into(), json!(false));
        let mut e = match (self.target.format, self.target.dialect) {
            (Format::H5, Dialect::Keras3) => json!({"class_name": "InputLayer", "config": config}),
            _ => json!({
                "module": "keras.layers",
                "class_name": "InputLayer",
                "config": config,
                "registered_name": null,
            }),
        };
        e["name"] = json!(block.input_name);
        e["inbound_nodes"] = json!([]);
        e
    }

    fn shape(&self, block: &Block, o: Outlet) -> Result<Value> {
        match self.tensors.get(o) {
            Some((shape, _)) => Ok(shape.clone()),
            None => Err(Error::format(
                &self.model.path,
                format!(
                    "cannot tell the shape of the tensor block {} takes (from {}); keqv needs to build the model to write it: map its layers with --custom, or drop --no-verify",
                    block.name,
                    self.plan.flow.topo.nodes[o.node].name
                ),
            )),
        }
    }

    /// A layer's input shape for its `build_config`, where the source has none: its one
    /// tensor's shape, or a list of them.
    fn build_shape(&self, call: &CallNode) -> Option<Value> {
        let shapes = call
            .tensors()
            .into_iter()
            .flatten()
            .map(|o| self.tensors.get(o).map(|(s, _)| s.clone()))
            .collect::<Option<Vec<_>>>()?;
        match shapes.len() {
            0 => None,
            1 if !takes_a_list(&call.layer.class_name) => shapes.into_iter().next(),
            _ => Some(Value::Array(shapes)),
        }
    }

    /// The inbound node of one call, its tensors pointed at the block's layers.
    fn inbound_node(
        &self,
        call: &CallNode,
        refer: &dyn Fn(Outlet) -> (Value, usize, usize),
    ) -> Result<Value> {
        let raw = call
            .layer
            .raw
            .get("inbound_nodes")
            .and_then(|n| n.get(call.call));
        match raw {
            Some(raw) if self.model.dialect == self.target.dialect => {
                let tensors = call.tensors();
                Ok(match self.target.dialect {
                    Dialect::Keras3 => rewrite_keras3(raw, &tensors, refer),
                    Dialect::TfKeras2 => rewrite_tf_keras(raw, call, &tensors, refer),
                })
            }
            _ => self.written_anew(call, refer),
        }
    }

    /// An inbound node from the call's tensors, for a source in the other dialect or one with
    /// no inbound nodes (a Sequential model's layers).
    fn written_anew(
        &self,
        call: &CallNode,
        refer: &dyn Fn(Outlet) -> (Value, usize, usize),
    ) -> Result<Value> {
        let layer = call.layer;
        let fail = |detail: String| {
            Error::layer(&self.model.path, &layer.name, layer.display_class(), detail)
        };
        let other = match self.model.dialect {
            Dialect::Keras3 => "--dialect keras3",
            Dialect::TfKeras2 => "--dialect tf-keras",
        };
        if layer.op_layer().is_some() && self.model.dialect != self.target.dialect {
            return Err(fail(format!(
                "is an op layer of {}, whose call keqv does not rewrite for {}: convert with {other}",
                self.model.dialect, self.target.dialect
            )));
        }
        let source = layer.calls.get(call.call);
        // Keras 3's positional arguments as written (a merge layer's list is one); tf-keras
        // takes every argument after the first by keyword (MultiHeadAttention's `value=`).
        let positional = match self.model.dialect {
            Dialect::Keras3 => source.map_or(0, |c| c.raw_args.len()),
            Dialect::TfKeras2 => 1,
        };
        if self.target.dialect == Dialect::TfKeras2 && positional > 1 {
            return Err(fail(format!(
                "is called with {positional} positional arguments, which tf-keras takes by keyword and keqv does not rename: convert with {other}"
            )));
        }
        let mut kwargs: Map<String, Value> = source.map(|c| c.kwargs.clone()).unwrap_or_default();
        if self.target.dialect == Dialect::TfKeras2 {
            // Keras 3 writes `mask: null` for layers whose tf-keras call takes no mask.
            kwargs.retain(|_, v| !v.is_null());
        }
        let tensor = |o: Outlet| -> Result<Value> {
            let (name, k, t) = refer(o);
            Ok(match self.target.dialect {
                Dialect::TfKeras2 => json!([name, k, t]),
                Dialect::Keras3 => {
                    let (shape, dtype) = self.tensors.get(o).cloned().ok_or_else(|| {
                        fail(format!(
                            "takes a tensor of {} whose shape keqv does not know; keqv needs to build the model to write it: drop --no-verify",
                            self.plan.flow.topo.nodes[o.node].name
                        ))
                    })?;
                    json!({"class_name": "__keras_tensor__",
                           "config": {"shape": shape, "dtype": dtype, "keras_history": [name, k, t]}})
                }
            })
        };
        let mut grouped: Vec<(&str, Vec<Value>)> = Vec::new();
        for (name, t) in &call.keywords {
            let Some(t) = t else { continue };
            let value = tensor(*t)?;
            match grouped.iter_mut().find(|(n, _)| n == name) {
                Some((_, values)) => values.push(value),
                None => grouped.push((name, vec![value])),
            }
        }
        for (name, mut values) in grouped {
            let value = if values.len() == 1 {
                values.remove(0)
            } else {
                Value::Array(values)
            };
            kwargs.insert(name.to_string(), value);
        }
        let args = call
            .args
            .iter()
            .map(|&o| tensor(o))
            .collect::<Result<Vec<_>>>()?;
        Ok(match self.target.dialect {
            Dialect::Keras3 => {
                let as_list = args.len() > 1 || takes_a_list(&layer.class_name);
                let args = if as_list {
                    json!([args])
                } else {
                    Value::Array(args)
                };
                json!({"args": args, "kwargs": kwargs})
            }
            Dialect::TfKeras2 => {
                let entries: Vec<Value> = args
                    .into_iter()
                    .map(|mut a| {
                        a.as_array_mut()
                            .expect("a reference")
                            .push(Value::Object(kwargs.clone()));
                        a
                    })
                    .collect();
                Value::Array(entries)
            }
        })
    }
}

/// A Keras 3 inbound node with each `__keras_tensor__`'s history replaced, in the order the
/// reader met them (the positional arguments, then the keyword ones); a keyword holding a
/// recorded mask is dropped, as Keras recomputes it.
fn rewrite_keras3(
    raw: &Value,
    tensors: &[Option<Outlet>],
    refer: &dyn Fn(Outlet) -> (Value, usize, usize),
) -> Value {
    let mut next = tensors.iter();
    let mut out = raw.clone();
    if let Some(args) = out.get_mut("args") {
        for t in keras_tensors_mut(args) {
            if let Some(Some(o)) = next.next() {
                let (name, k, i) = refer(*o);
                t["config"]["keras_history"] = json!([name, k, i]);
            }
        }
    }
    if let Some(Value::Object(kwargs)) = out.get_mut("kwargs") {
        let mut dropped = Vec::new();
        for (key, value) in kwargs.iter_mut() {
            for t in keras_tensors_mut(value) {
                match next.next() {
                    Some(Some(o)) => {
                        let (name, k, i) = refer(*o);
                        t["config"]["keras_history"] = json!([name, k, i]);
                    }
                    _ => dropped.push(key.clone()),
                }
            }
        }
        for key in dropped {
            kwargs.shift_remove(&key);
        }
    }
    out
}

/// The `__keras_tensor__` objects in a value, depth first, in order.
fn keras_tensors_mut(value: &mut Value) -> Vec<&mut Value> {
    let is_tensor =
        |v: &Value| v.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__");
    match value {
        Value::Array(items) => items.iter_mut().flat_map(keras_tensors_mut).collect(),
        Value::Object(_) if is_tensor(value) => vec![value],
        Value::Object(obj) => obj.values_mut().flat_map(keras_tensors_mut).collect(),
        _ => Vec::new(),
    }
}

/// A tf-keras inbound node (`[["layer", node, tensor, kwargs], …]`) with its references
/// replaced: each positional entry's, then the references inside each entry's kwargs (every
/// entry carries the same ones); constants kept as written.
fn rewrite_tf_keras(
    raw: &Value,
    call: &CallNode,
    tensors: &[Option<Outlet>],
    refer: &dyn Fn(Outlet) -> (Value, usize, usize),
) -> Value {
    let single = raw.get(0).is_some_and(Value::is_string);
    let mut out = if single {
        json!([raw.clone()])
    } else {
        raw.clone()
    };
    let (positional, keywords) = tensors.split_at(call.args.len().min(tensors.len()));
    let mut args = positional.iter();
    if let Value::Array(entries) = &mut out {
        for entry in entries.iter_mut() {
            let Value::Array(parts) = entry else { continue };
            if parts.first().and_then(Value::as_str) != Some("_CONSTANT_VALUE") {
                if let Some(Some(o)) = args.next() {
                    let (name, k, i) = refer(*o);
                    parts[0] = name;
                    parts[1] = json!(k);
                    parts[2] = json!(i);
                }
            }
            if let Some(Value::Object(kwargs)) = parts.get_mut(3) {
                let mut next = keywords.iter();
                let mut dropped = Vec::new();
                for (key, value) in kwargs.iter_mut() {
                    for r in references_mut(value) {
                        match next.next() {
                            Some(Some(o)) => {
                                let (name, k, i) = refer(*o);
                                r[0] = name;
                                r[1] = json!(k);
                                r[2] = json!(i);
                            }
                            _ => dropped.push(key.clone()),
                        }
                    }
                }
                for key in dropped {
                    kwargs.shift_remove(&key);
                }
            }
        }
    }
    if single {
        out[0].take()
    } else {
        out
    }
}

/// The `["layer", node, tensor]` references in a tf-keras keyword value, depth first.
fn references_mut(value: &mut Value) -> Vec<&mut Vec<Value>> {
    match value {
        Value::Array(parts) => {
            if is_reference(parts) {
                vec![parts]
            } else {
                parts.iter_mut().flat_map(references_mut).collect()
            }
        }
        Value::Object(obj) => obj.values_mut().flat_map(references_mut).collect(),
        _ => Vec::new(),
    }
}

fn is_reference(parts: &[Value]) -> bool {
    matches!(parts.len(), 3 | 4) && parts[0].is_string() && parts[1].is_u64() && parts[2].is_u64()
}

/// What is known of the model's tensors: the shapes and dtypes Keras 3 wrote into its inbound
/// nodes, else the shapes of the graph keqv built (float32, but for the model's input).
pub fn tensors(plan: &BlockPlan, graph: Option<&crate::graph::Graph>) -> Tensors {
    let mut known = HashMap::new();
    for call in &plan.flow.calls {
        let raw = call
            .layer
            .raw
            .get("inbound_nodes")
            .and_then(|n| n.get(call.call));
        let Some(Value::Object(node)) = raw else {
            continue;
        };
        let mut found = Vec::new();
        let mut node = Value::Object(node.clone());
        if let Some(args) = node.get_mut("args") {
            found.extend(keras_tensors_mut(args).into_iter().map(|t| t.clone()));
        }
        if let Some(kwargs) = node.get_mut("kwargs") {
            found.extend(keras_tensors_mut(kwargs).into_iter().map(|t| t.clone()));
        }
        for (t, o) in found.iter().zip(call.tensors()) {
            let (Some(o), Some(config)) = (o, t.get("config")) else {
                continue;
            };
            if let (Some(shape), Some(dtype)) = (config.get("shape"), config.get("dtype")) {
                known
                    .entry(o)
                    .or_insert_with(|| (shape.clone(), dtype.clone()));
            }
        }
    }
    if let Some(graph) = graph {
        for (n, node) in plan.flow.topo.nodes.iter().enumerate() {
            let Some(id) = graph.find(&node.name) else {
                continue;
            };
            let dtype = if n == plan.input {
                plan.layer(n)
                    .config
                    .get("dtype")
                    .filter(|d| d.is_string())
                    .cloned()
                    .unwrap_or(json!("float32"))
            } else {
                json!("float32")
            };
            let shape = super::config::batch_shape(&graph.node(id).shape);
            known
                .entry(Outlet { node: n, tensor: 0 })
                .or_insert((shape, dtype));
        }
    }
    Tensors { known }
}

//! Attention layer calls. Attention and AdditiveAttention are one `Attention` node over
//! `[query, value, key]`; MultiHeadAttention becomes its four projections as Dense nodes
//! (`mha/query`, `mha/key`, `mha/value`, and the output projection named after the layer)
//! around its core (`mha/attention`), so a converted model that spells them out pairs with it
//! layer by layer. The masks are the inputs' own, as both Keras versions read them at call
//! time (neither records them in the file); the output carries the query's.

use super::*;
use crate::ops::attention::{ConstantScale, MaskFill, MaskInputs, QueryMask};
use crate::ops::{Activation, Attention, Dense, MergeKind};

/// The classes built here.
pub(super) fn is_attention(layer: &LayerConfig) -> bool {
    matches!(
        layer.class_name.as_str(),
        "Attention" | "AdditiveAttention" | "MultiHeadAttention"
    )
}

/// What a MultiHeadAttention call reads, by role.
struct MhaCall {
    query: NodeId,
    value: NodeId,
    key: Option<NodeId>,
    attention_mask: Option<NodeId>,
    query_mask: Option<NodeId>,
    value_mask: Option<NodeId>,
    key_mask: Option<NodeId>,
}

impl Builder<'_> {
    pub(super) fn attention_call(
        &mut self,
        layer: &LayerConfig,
        call: usize,
        args: &CallArgs<NodeId>,
        prefix: &str,
    ) -> Result<Vec<NodeId>> {
        let name = call_name(prefix, &layer.name, call);
        let status = self.support(layer, &name)?;
        let all = args.all();
        if !status.runs() || all.iter().any(|id| self.is_unknown(*id)) {
            return self.placeholder(layer, name, &all, status);
        }
        let bad =
            |detail: String| Error::layer(self.path, &layer.name, layer.display_class(), detail);
        let kwargs = layer.calls.get(call).map(|c| &c.kwargs);
        let flag =
            |key: &str| kwargs.and_then(|k| k.get(key)).and_then(Value::as_bool) == Some(true);
        let scores = flag("return_attention_scores");
        let causal = flag("use_causal_mask");
        self.findings.status.insert(name.clone(), status);
        if layer.class_name == "MultiHeadAttention" {
            let roles = self.mha_roles(args, &bad)?;
            let read = [Some(roles.query), Some(roles.value), roles.key];
            let ids = self.multi_head_attention(layer, &name, roles, (causal, scores), &bad)?;
            // Keras 3's MultiHeadAttention clears its inputs' masks as it runs: the layers
            // called after it see none there.
            if self.dialect == Dialect::Keras3 {
                for input in read.into_iter().flatten() {
                    self.masks.remove(&input);
                }
            }
            Ok(ids)
        } else {
            self.attention_layer(layer, &name, args, (causal, scores), &bad)
        }
    }

    /// Attention or AdditiveAttention on `[query, value]` or `[query, value, key]`.
    fn attention_layer(
        &mut self,
        layer: &LayerConfig,
        name: &str,
        args: &CallArgs<NodeId>,
        (causal, scores): (bool, bool),
        bad: &dyn Fn(String) -> Error,
    ) -> Result<Vec<NodeId>> {
        if let Some((keyword, _)) = args.keywords.first() {
            return Err(bad(format!(
                "is called with the keyword tensor '{keyword}', which keqv cannot run yet; pass [query, value, key] as its one list"
            )));
        }
        let (query, value, key) = match args.args[..] {
            [q, v] => (q, v, v),
            [q, v, k] => (q, v, k),
            _ => {
                return Err(bad(format!(
                    "is called on {} tensors; it takes [query, value] or [query, value, key]; {MALFORMED}",
                    args.args.len()
                )))
            }
        };
        let Some(Op::Attention(mut a)) = translate(
            &layer.class_name,
            &layer.config,
            &self.nodes[query.0].shape,
            self.dialect,
        )
        .map_err(bad)?
        else {
            unreachable!("the attention family reads its classes")
        };
        a.causal |= causal;
        a.own_key = key != value;
        let query_mask = self.masks.get(&query).copied();
        let value_mask = self.masks.get(&value).copied();
        a.masks = MaskInputs {
            query: query_mask.is_some(),
            keys: value_mask.is_some(),
            attention: false,
        };
        let mut inputs = vec![query, value];
        inputs.extend(Some(key).filter(|&k| k != value));
        inputs.extend(query_mask);
        inputs.extend(value_mask);
        let scores_op = Op::Attention(Attention {
            emit_scores: true,
            ..a.clone()
        });
        let op = Op::Attention(a);
        let q_shape = self.nodes[query.0].shape.clone();
        let weights = self.weights(layer, &op, &q_shape)?;
        let (class, w) = (layer.display_class(), weights.clone());
        let id = self.push_checked(layer, name, class, op, inputs.clone(), w, bad)?;
        if let Some(mask) = query_mask {
            self.masks.insert(id, mask);
        }
        let mut ids = vec![id];
        if scores {
            // The attention weights, a second output: `att/scores` [tq, tk].
            let scores_name = format!("{name}/scores");
            ids.push(self.push_checked(
                layer,
                &scores_name,
                class,
                scores_op,
                inputs,
                weights,
                bad,
            )?);
        }
        Ok(ids)
    }

    /// Query, value, key and masks of a MultiHeadAttention call, positional (Keras 3) or by
    /// keyword (tf-keras writes every tensor after the query as one).
    fn mha_roles(&self, args: &CallArgs<NodeId>, bad: &dyn Fn(String) -> Error) -> Result<MhaCall> {
        const ROLES: [&str; 7] = [
            "query",
            "value",
            "key",
            "query_mask",
            "value_mask",
            "key_mask",
            "attention_mask",
        ];
        let mut by_role: [Option<NodeId>; 7] = [None; 7];
        if args.args.len() > 3 {
            return Err(bad(format!(
                "is called on {} positional tensors; keqv reads query, value and key positionally and the masks by keyword",
                args.args.len()
            )));
        }
        for (slot, &id) in by_role.iter_mut().zip(&args.args) {
            *slot = Some(id);
        }
        for &(keyword, id) in &args.keywords {
            let Some(i) = ROLES.iter().position(|r| *r == keyword) else {
                return Err(bad(format!(
                    "is called with the keyword tensor '{keyword}', which MultiHeadAttention does not take; {MALFORMED}"
                )));
            };
            if by_role[i].replace(id).is_some() {
                return Err(bad(format!("is given its {keyword} twice; {MALFORMED}")));
            }
        }
        let [Some(query), Some(value), key, query_mask, value_mask, key_mask, attention_mask] =
            by_role
        else {
            return Err(bad(format!(
                "is called without a query and a value; {MALFORMED}"
            )));
        };
        let own = |id: Option<NodeId>| id.and_then(|id| self.masks.get(&id).copied());
        Ok(MhaCall {
            query,
            value,
            key,
            attention_mask,
            query_mask: query_mask.or(own(Some(query))),
            value_mask: value_mask.or(own(Some(value))),
            key_mask: key_mask.or(own(key.filter(|&k| k != value))),
        })
    }

    fn multi_head_attention(
        &mut self,
        layer: &LayerConfig,
        name: &str,
        call: MhaCall,
        (causal, scores): (bool, bool),
        bad: &dyn Fn(String) -> Error,
    ) -> Result<Vec<NodeId>> {
        let shape = |id: NodeId| self.nodes[id.0].shape.clone();
        let key = call.key.unwrap_or(call.value);
        let (q_shape, k_shape, v_shape) = (shape(call.query), shape(key), shape(call.value));
        let rank = q_shape.len();
        if rank < 2 || k_shape.len() != rank || v_shape.len() != rank {
            return Err(bad(format!(
                "attends over inputs of shapes {}, {} and {}; MultiHeadAttention needs a query, key and value of one rank with an axis to attend over; {MALFORMED}",
                describe_sample_shape(&q_shape),
                describe_sample_shape(&k_shape),
                describe_sample_shape(&v_shape)
            )));
        }
        let config = MhaConfig::read(&layer.config, q_shape[rank - 1]).map_err(bad)?;
        let axes = AttentionAxes::read(&layer.config, rank).map_err(bad)?;
        let MhaConfig {
            heads,
            key_dim,
            value_dim,
            out_dim,
            use_bias,
        } = config;
        let sequence = axes.is_sequence();
        if !sequence {
            let masked = call.query_mask.or(call.value_mask).or(call.key_mask);
            let with: Vec<&str> = [
                (call.attention_mask.is_some(), "an attention_mask"),
                (
                    masked.is_some(),
                    "the mask of its query, value or key (an Embedding's mask_zero, a Masking layer, query_mask/value_mask/key_mask)",
                ),
                (causal, "use_causal_mask=True"),
                (scores, "return_attention_scores=True"),
            ]
            .into_iter()
            .filter_map(|(set, what)| set.then_some(what))
            .collect();
            if !with.is_empty() {
                return Err(bad(format!(
                    "attends over the axes {:?} of its {}-axis inputs with {}, which keqv cannot run yet; it runs MultiHeadAttention over other axes than a sequence's without masks, causal masks or returned scores",
                    axes.attend.iter().map(|a| a + 1).collect::<Vec<_>>(),
                    rank + 1,
                    with.join(" and ")
                )));
            }
        }
        let tk = k_shape[..rank - 1].iter().product();
        let dims = [
            (q_shape[rank - 1], key_dim),
            (k_shape[rank - 1], key_dim),
            (v_shape[rank - 1], value_dim),
            (heads * value_dim, out_dim),
        ];
        let mut expected = Vec::new();
        for (k, (&(kernel, bias), (input, dim))) in PROJECTION_WEIGHTS.iter().zip(dims).enumerate()
        {
            let output = k == 3;
            expected.push(WeightSpec::new(
                kernel,
                if output {
                    vec![heads, value_dim, dim]
                } else {
                    vec![input, heads, dim]
                },
            ));
            if use_bias {
                expected.push(WeightSpec::new(
                    bias,
                    if output { vec![dim] } else { vec![heads, dim] },
                ));
            }
        }
        let weights = self.checked_weights(layer, expected, bad)?;
        let per = if use_bias { 2 } else { 1 };
        // Kernels as matrices: [in, heads, dim] → [in, heads·dim] for the projections,
        // [heads, dim, out] → [heads·dim, out] for the output; biases flat.
        let dense = |units: usize, weights: &[Weight]| {
            let op = Op::Dense(Dense {
                units,
                use_bias,
                activation: Activation::Linear,
            });
            let flat = weights
                .iter()
                .map(|w| {
                    let n = w.value.len();
                    let dims = match w.value.ndim() {
                        3 => vec![n / units, units],
                        _ => vec![n],
                    };
                    w.laid_out(
                        w.value
                            .as_ref()
                            .clone()
                            .into_shape_with_order(IxDyn(&dims))
                            .expect("the same values"),
                    )
                })
                .collect::<Vec<_>>();
            (op, flat)
        };
        let mut projected = Vec::new();
        for (k, (role, input)) in [("query", call.query), ("key", key), ("value", call.value)]
            .into_iter()
            .enumerate()
        {
            let dim = if role == "value" { value_dim } else { key_dim };
            let (op, w) = dense(heads * dim, &weights[k * per..(k + 1) * per]);
            let node_name = format!("{name}/{role}");
            projected.push(self.push_checked(
                layer,
                &node_name,
                "EinsumDense",
                op,
                vec![input],
                w,
                bad,
            )?);
        }
        let keys_mask = match (call.value_mask, call.key_mask) {
            (Some(v), Some(k)) if v != k => {
                let both = Op::Merge(MergeKind::Multiply);
                let name = format!("{name}/keys/mask");
                Some(self.push(self.mask_node(layer, name, both, vec![v, k], vec![tk]))?)
            }
            (v, k) => v.or(k),
        };
        // Keras 3 on sequences calls jax's dot_product_attention, except with dropout or when
        // it returns its scores, where it scales the query and masks with its Softmax layer as
        // tf-keras's einsums do.
        let dropout = layer
            .config
            .get("dropout")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let keras3_einsums =
            self.dialect == Dialect::Keras3 && (dropout > 0.0 || scores || !sequence);
        let core = Attention {
            heads,
            own_key: true,
            score: crate::ops::attention::Score::Dot { scaled: false },
            scale: Some(ConstantScale {
                value: 1.0 / (key_dim as f32).sqrt(),
                on_query: self.dialect == Dialect::TfKeras2 || keras3_einsums,
            }),
            causal,
            fill: match self.dialect {
                Dialect::Keras3 if keras3_einsums => MaskFill::Replace(-1e9),
                Dialect::Keras3 => MaskFill::Replace(-0.7 * f32::MAX),
                Dialect::TfKeras2 if robust_masking(&layer.config) => MaskFill::Replace(-1e9),
                Dialect::TfKeras2 => MaskFill::Add(-1e9),
            },
            zero_masked: keras3_einsums,
            query_mask: QueryMask::Scores,
            masks: MaskInputs {
                query: call.query_mask.is_some(),
                keys: keys_mask.is_some(),
                attention: call.attention_mask.is_some(),
            },
            emit_scores: false,
        };
        // The core reads them in call order: query, value, key.
        let mut inputs = vec![projected[0], projected[2], projected[1]];
        if !sequence {
            for (input, role) in inputs.iter_mut().zip(["query", "value", "key"]) {
                *input =
                    self.attention_rows(layer, &format!("{name}/{role}/rows"), *input, &axes, bad)?;
            }
        }
        inputs.extend(call.query_mask);
        inputs.extend(keys_mask);
        inputs.extend(call.attention_mask);
        let core_name = format!("{name}/attention");
        let class = Op::Attention(core.clone()).name();
        let scores_op = Op::Attention(Attention {
            emit_scores: true,
            ..core.clone()
        });
        // Attending over some axes only: the core runs once per position of the others.
        let others = self.nodes[inputs[0].0].shape.len() == 3;
        let core_op = match others {
            true => Op::PerStep(Box::new(crate::ops::PerStep {
                steps: self.nodes[inputs[0].0].shape[0],
                op: Op::Attention(core),
            })),
            false => Op::Attention(core),
        };
        let mut core_id = self.push_checked(
            layer,
            &core_name,
            &class,
            core_op,
            inputs.clone(),
            Vec::new(),
            bad,
        )?;
        if !sequence {
            let back = format!("{name}/attention/back");
            core_id = self.attention_unrows(layer, &back, core_id, &q_shape, &axes, bad)?;
        }
        let (op, w) = dense(out_dim, &weights[3 * per..]);
        let id = self.push_checked(
            layer,
            name,
            layer.display_class(),
            op,
            vec![core_id],
            w,
            bad,
        )?;
        if let Some(mask) = call.query_mask {
            self.masks.insert(id, mask);
        }
        let mut ids = vec![id];
        if scores {
            // The attention weights, a second output: `mha/scores` [heads, tq, tk].
            let class = scores_op.name();
            let scores_name = format!("{name}/scores");
            ids.push(self.push_checked(
                layer,
                &scores_name,
                &class,
                scores_op,
                inputs,
                Vec::new(),
                bad,
            )?);
        }
        Ok(ids)
    }
}

impl Builder<'_> {
    /// A projected `[…, heads·dim]` tensor as the rows the core attends over: the axes it does
    /// not attend over first (Permute), then those it does, flattened into one (Reshape):
    /// `[others, attended, heads·dim]`, or `[attended, heads·dim]` where it attends over all.
    fn attention_rows(
        &mut self,
        layer: &LayerConfig,
        name: &str,
        input: NodeId,
        axes: &AttentionAxes,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<NodeId> {
        let shape = self.nodes[input.0].shape.clone();
        let order = axes.order();
        let mut x = input;
        if !is_identity(&order) {
            let dims = order.iter().map(|a| a + 1).collect();
            x = self.push_permute(layer, name, dims, x, bad)?;
        }
        let size = |set: &[usize]| set.iter().map(|&a| shape[a]).product::<usize>();
        let mut rows = Vec::new();
        if !axes.other.is_empty() {
            rows.push(size(&axes.other));
        }
        rows.extend([size(&axes.attend), shape[shape.len() - 1]]);
        let reshape = Op::Reshape(crate::ops::Reshape { shape: rows });
        self.push_checked(layer, name, "Reshape", reshape, vec![x], vec![], bad)
    }

    /// The core's rows given back the query's axes (Reshape, then the inverse Permute).
    fn attention_unrows(
        &mut self,
        layer: &LayerConfig,
        name: &str,
        input: NodeId,
        query: &[usize],
        axes: &AttentionAxes,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<NodeId> {
        let features = *self.nodes[input.0].shape.last().expect("rows");
        let order = axes.order();
        let permuted: Vec<usize> = order[..order.len() - 1]
            .iter()
            .map(|&a| query[a])
            .chain([features])
            .collect();
        let reshape = Op::Reshape(crate::ops::Reshape { shape: permuted });
        let x = self.push_checked(layer, name, "Reshape", reshape, vec![input], vec![], bad)?;
        if is_identity(&order) {
            return Ok(x);
        }
        let mut inverse = vec![0; order.len()];
        for (j, &a) in order.iter().enumerate() {
            inverse[a] = j + 1;
        }
        self.push_permute(layer, name, inverse, x, bad)
    }

    /// A Permute node `name/permute` of `input` (output axis i+1 takes input axis `dims[i]`).
    fn push_permute(
        &mut self,
        layer: &LayerConfig,
        name: &str,
        dims: Vec<usize>,
        input: NodeId,
        bad: &dyn Fn(String) -> Error,
    ) -> Result<NodeId> {
        let permute = Op::Permute(crate::ops::Permute {
            dims,
            flatten: false,
        });
        let name = format!("{name}/permute");
        self.push_checked(layer, &name, "Permute", permute, vec![input], vec![], bad)
    }
}

fn is_identity(order: &[usize]) -> bool {
    order.iter().enumerate().all(|(i, &a)| i == a)
}

/// The sample axes (the feature axis excluded) a MultiHeadAttention attends over jointly,
/// and the others, each of whose positions it attends within separately.
struct AttentionAxes {
    attend: Vec<usize>,
    other: Vec<usize>,
    /// The inputs' sample rank, the feature axis included.
    rank: usize,
}

impl AttentionAxes {
    /// Keras's `attention_axes` (batch-inclusive, negative from the end of the projected
    /// tensor, which has one axis more) for inputs of sample rank `rank`; by default every
    /// axis between the batch and the features.
    fn read(config: &Value, rank: usize) -> std::result::Result<Self, String> {
        let all: Vec<usize> = (0..rank - 1).collect();
        let attend = match config.get("attention_axes") {
            None | Some(Value::Null) => all.clone(),
            Some(v) => {
                let list = match v {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                let mut axes = Vec::new();
                for a in &list {
                    let Some(a) = a.as_i64() else {
                        return Err(format!("has attention_axes {v}; {MALFORMED}"));
                    };
                    // Keras: `axis if axis >= 0 else (rank - 1) + axis` on the projected rank.
                    let axis = if a >= 0 { a } else { rank as i64 + 1 + a };
                    if axis < 1 || axis >= rank as i64 {
                        return Err(format!(
                            "has attention_axes {v}, which names the batch or the feature axis of its {}-axis inputs; {MALFORMED}",
                            rank + 1
                        ));
                    }
                    axes.push(axis as usize - 1);
                }
                axes.sort_unstable();
                axes.dedup();
                axes
            }
        };
        let other = all.into_iter().filter(|a| !attend.contains(a)).collect();
        Ok(AttentionAxes {
            attend,
            other,
            rank,
        })
    }

    /// Attending over the one step axis of `[steps, features]` inputs.
    fn is_sequence(&self) -> bool {
        self.rank == 2
    }

    /// The sample axes in rows order: the others, the attended, the features.
    fn order(&self) -> Vec<usize> {
        self.other
            .iter()
            .chain(&self.attend)
            .copied()
            .chain([self.rank - 1])
            .collect()
    }
}

/// MultiHeadAttention's variables, kernel and bias of each projection, in Keras's order.
const PROJECTION_WEIGHTS: [(&str, &str); 4] = [
    ("query_dense/kernel", "query_dense/bias"),
    ("key_dense/kernel", "key_dense/bias"),
    ("value_dense/kernel", "value_dense/bias"),
    ("output_dense/kernel", "output_dense/bias"),
];

/// tf-keras's `softmax_robust_masking`: masked scores replaced rather than added to.
fn robust_masking(config: &Value) -> bool {
    config
        .get("softmax_robust_masking")
        .and_then(Value::as_bool)
        == Some(true)
}

/// The MultiHeadAttention config keqv reads.
struct MhaConfig {
    heads: usize,
    key_dim: usize,
    value_dim: usize,
    out_dim: usize,
    use_bias: bool,
}

impl MhaConfig {
    fn read(config: &Value, query_dim: usize) -> std::result::Result<Self, String> {
        use crate::ops::fields::{bool_field, usize_field};
        let heads = usize_field(config, "num_heads")?.ok_or("the config has no 'num_heads'")?;
        let key_dim = usize_field(config, "key_dim")?.ok_or("the config has no 'key_dim'")?;
        let value_dim = usize_field(config, "value_dim")?.unwrap_or(key_dim);
        if heads == 0 || key_dim == 0 || value_dim == 0 {
            return Err("the config has zero heads or a zero key or value size".into());
        }
        let out_dim = match config.get("output_shape") {
            None | Some(Value::Null) => query_dim,
            Some(v) => match v.as_u64().or_else(|| match v.as_array().map(Vec::as_slice) {
                Some([d]) => d.as_u64(),
                _ => None,
            }) {
                Some(d) if d > 0 => d as usize,
                _ => {
                    return Err(format!(
                        "has output_shape {v}; keqv runs MultiHeadAttention with one output feature axis; it runs an output_shape of one positive size"
                    ))
                }
            },
        };
        for (key, what) in [
            ("use_gate", "a gate"),
            ("sliding_window", "a sliding window"),
        ] {
            if config
                .get(key)
                .is_some_and(|v| !v.is_null() && *v != Value::Bool(false))
            {
                return Err(format!(
                    "has {what}, which keqv cannot run yet; it runs MultiHeadAttention without {key}"
                ));
            }
        }
        Ok(MhaConfig {
            heads,
            key_dim,
            value_dim,
            out_dim,
            use_bias: bool_field(config, "use_bias", true)?,
        })
    }
}

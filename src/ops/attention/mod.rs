//! Attention: the scores of queries against keys, a masked softmax over the keys, and the
//! values averaged with those weights. One `Attention` op is the Attention and
//! AdditiveAttention layers, and MultiHeadAttention's core, whose four projections the graph
//! builder makes Dense nodes (`graph/build/attention.rs`): a `[steps, heads·key_dim]`
//! projection is the `[steps, heads, key_dim]` tensor Keras's EinsumDense makes, in the same
//! memory order.
//!
//! Each Keras version fills masked scores its own way, and the way decides what NaN, infinities
//! and fully masked rows give: Keras 3 on jax (MultiHeadAttention) replaces them with
//! −0.7·f32::MAX, tf-keras's MultiHeadAttention and both versions' Attention layers add −1e9.

mod cpu;

use ndarray::ArrayD;
use serde::Serialize;
use serde_json::Value;

use super::fields::bool_field;
use super::{Op, Real, WeightSpec};
use crate::keras::Dialect;

/// Inputs, in Keras's call order: query `[tq, heads·dk]`, value `[tk, heads·dv]`, key
/// `[tk, heads·dk]` where `own_key` (else the value is the key), then the masks `masks` says the
/// op reads (1.0 real, 0.0 masked; anything not 0 counts as real, as Keras casts to bool).
/// Output `[tq, heads·dv]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attention {
    pub heads: usize,
    pub own_key: bool,
    pub score: Score,
    /// MultiHeadAttention's constant 1/√key_dim and where it multiplies.
    pub scale: Option<ConstantScale>,
    /// Query step t sees key steps ≤ t only (`use_causal_mask`).
    pub causal: bool,
    pub fill: MaskFill,
    /// A masked score's weight is 0 after the softmax (Keras 3's Softmax layer, which its
    /// MultiHeadAttention uses with dropout or when it returns its scores): a fully masked row
    /// averages nothing.
    pub zero_masked: bool,
    pub query_mask: QueryMask,
    pub masks: MaskInputs,
    /// The node gives the attention weights rather than the weighted values
    /// (`return_attention_scores`): `[heads, tq, tk]` for MultiHeadAttention's core (the op
    /// with a constant scale), `[tq, tk]` for the Attention layers.
    pub emit_scores: bool,
}

/// How a query and a key make a score.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    /// q·k, times the learned scalar `scale` when `scaled` (Attention's `use_scale`).
    Dot { scaled: bool },
    /// concat_score_weight · Σ tanh(scale·(q + k)) (Attention's `score_mode="concat"`).
    Concat { scaled: bool },
    /// Σ scale · tanh(q + k), `scale` a learned vector when `scaled` (AdditiveAttention).
    Additive { scaled: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ConstantScale {
    pub value: f32,
    /// tf-keras scales the query before the product, Keras 3 the scores after it.
    pub on_query: bool,
}

/// What a masked score becomes before the softmax.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskFill {
    /// This value, whatever the score was (NaN included).
    Replace(f32),
    /// The score plus this value.
    Add(f32),
}

/// How the query's mask applies.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryMask {
    /// A masked query step masks its whole row of scores (MultiHeadAttention).
    Scores,
    /// A masked query step's output is 0 (Keras 3's Attention layers).
    ZeroOutput,
    /// The output is multiplied by the mask, so NaN stays NaN (tf-keras's Attention layers).
    MultiplyOutput,
}

/// The masks that follow query, value and key among the inputs, in this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MaskInputs {
    /// `[tq]`
    pub query: bool,
    /// `[tk]`: the value's mask, and the key's where it has its own (the graph builder
    /// multiplies them into one).
    pub keys: bool,
    /// `[tq, tk]`, MultiHeadAttention's `attention_mask`.
    pub attention: bool,
}

impl MaskInputs {
    pub fn count(&self) -> usize {
        [self.query, self.keys, self.attention]
            .iter()
            .filter(|&&m| m)
            .count()
    }
}

pub const CLASSES: &[&str] = &["Attention", "AdditiveAttention"];

/// The Attention or AdditiveAttention layer; the graph builder adds causality and masks from
/// the call.
pub fn parse(class: &str, config: &Value, dialect: Dialect) -> Result<Op, String> {
    let score = if class == "AdditiveAttention" {
        Score::Additive {
            scaled: bool_field(config, "use_scale", true)?,
        }
    } else {
        let scaled = bool_field(config, "use_scale", false)?;
        match config.get("score_mode").and_then(Value::as_str) {
            None | Some("dot") => Score::Dot { scaled },
            Some("concat") => Score::Concat { scaled },
            Some(other) => return Err(format!("Attention has score_mode '{other}'")),
        }
    };
    Ok(Op::Attention(Attention {
        heads: 1,
        own_key: false,
        score,
        scale: None,
        causal: bool_field(config, "causal", false)?,
        fill: MaskFill::Add(-1e9),
        zero_masked: false,
        query_mask: match dialect {
            Dialect::Keras3 => QueryMask::ZeroOutput,
            Dialect::TfKeras2 => QueryMask::MultiplyOutput,
        },
        masks: MaskInputs::default(),
        emit_scores: false,
    }))
}

impl Attention {
    pub fn name(&self) -> String {
        if self.emit_scores {
            return "attention_scores".into();
        }
        let base = match self.score {
            _ if self.heads > 1 || self.scale.is_some() => "multi_head_attention",
            Score::Dot { .. } => "dot_attention",
            Score::Concat { .. } => "concat_attention",
            Score::Additive { .. } => "additive_attention",
        };
        if self.causal {
            format!("{base}+causal")
        } else {
            base.into()
        }
    }

    /// Query, value, key and the masks.
    pub fn arity(&self) -> usize {
        2 + usize::from(self.own_key) + self.masks.count()
    }

    /// Where the masks start among the inputs.
    pub fn first_mask(&self) -> usize {
        2 + usize::from(self.own_key)
    }

    pub fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        if inputs.len() != self.arity() {
            return Err(format!(
                "attention takes {} tensors (query, value, {}and {} mask(s)), not {}",
                self.arity(),
                if self.own_key { "key " } else { "" },
                self.masks.count(),
                inputs.len()
            ));
        }
        let (q, v) = (inputs[0], inputs[1]);
        let k = if self.own_key { inputs[2] } else { v };
        let ([tq, dq], [tk, dk], [tv, dv]) = (q, k, v) else {
            return Err(
                "attention needs query, key and value of [steps, features]; it runs no other rank yet"
                    .into(),
            );
        };
        if dq != dk {
            return Err(format!(
                "the query has {dq} features and the key {dk}; they must match"
            ));
        }
        if tk != tv {
            return Err(format!(
                "the key has {tk} steps and the value {tv}; they must match"
            ));
        }
        if dq % self.heads != 0 || dv % self.heads != 0 {
            return Err(format!(
                "{dq} query and {dv} value features do not split into {} heads",
                self.heads
            ));
        }
        let wanted = [
            (self.masks.query, "query", vec![*tq]),
            (self.masks.keys, "key", vec![*tk]),
            (self.masks.attention, "attention", vec![*tq, *tk]),
        ];
        let present = wanted.iter().filter(|(present, ..)| *present);
        for ((_, what, shape), m) in present.zip(&inputs[self.first_mask()..]) {
            if *m != shape.as_slice() {
                return Err(format!(
                    "the {what} mask has shape {m:?}, the attention needs {shape:?}"
                ));
            }
        }
        Ok(if self.emit_scores {
            self.scores_shape(*tq, *tk)
        } else {
            vec![*tq, *dv]
        })
    }

    /// The sample shape of the scores: `[tq, tk]` for an Attention layer (one head, no
    /// constant scale), `[heads, tq, tk]` for MultiHeadAttention's core.
    pub fn scores_shape(&self, tq: usize, tk: usize) -> Vec<usize> {
        if self.heads == 1 && self.scale.is_none() {
            vec![tq, tk]
        } else {
            vec![self.heads, tq, tk]
        }
    }

    /// The learned weights, given the query's sample shape.
    pub fn weights(&self, query: &[usize]) -> Vec<WeightSpec> {
        let dim = query.last().copied().unwrap_or(0);
        match self.score {
            Score::Dot { scaled: true } => vec![WeightSpec::new("scale", vec![])],
            Score::Dot { scaled: false } => Vec::new(),
            Score::Concat { scaled } => {
                let mut w = Vec::new();
                if scaled {
                    w.push(WeightSpec::new("scale", vec![]));
                }
                w.push(WeightSpec::new("concat_score_weight", vec![]));
                w
            }
            Score::Additive { scaled: true } => vec![WeightSpec::new("scale", vec![dim])],
            Score::Additive { scaled: false } => Vec::new(),
        }
    }

    /// The two products: tq·tk scores of dk each, and tq·dv outputs of tk each.
    pub fn macs(&self, inputs: &[&[usize]]) -> u64 {
        match inputs {
            [[tq, dq], [tk, dv], ..] => (tq * tk * (dq + dv)) as u64,
            _ => 0,
        }
    }

    pub fn eval<T: Real>(&self, inputs: &[&ArrayD<T>], weights: &[&ArrayD<T>]) -> ArrayD<T> {
        cpu::attention(self, inputs, weights)
    }
}

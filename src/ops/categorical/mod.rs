//! Categorical preprocessing: CategoryEncoding (integer ids → one-hot, multi-hot or counts),
//! Discretization (values → bucket ids by the boundaries in its config) and IntegerLookup
//! (integer ids → their index in the vocabulary in its config). Ids are truncated to integers,
//! as Keras casts them; an id is exact up to 2^24, as every keqv value is a float32.
//! StringLookup and TextVectorization are not read: keqv has no string tensors.
//!
//! Discretization and IntegerLookup with output_mode one_hot, multi_hot or count encode their
//! indices as Keras does, with the function CategoryEncoding calls, over as many tokens as
//! there are indices: [`parse_encoded`] reads such a layer as its index op and that encoding.

mod cpu;

use ndarray::ArrayD;
use serde::Serialize;
use serde_json::Value;

use super::fields::{bool_field, usize_field};
use super::{Op, Real};
use crate::keras::Dialect;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Categorical {
    /// CategoryEncoding.
    Encode(Encoding),
    /// Discretization with `output_mode="int"`: the number of boundaries at or below each
    /// value (`bins[i-1] <= x < bins[i]` gives i); NaN lands past the last boundary, as in Keras.
    Bucketize { boundaries: Vec<f32> },
    /// IntegerLookup with `output_mode="int"`.
    Lookup(Lookup),
}

/// CategoryEncoding: each id in `0..tokens` marks its column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Encoding {
    pub tokens: usize,
    pub mode: EncodeMode,
    /// What an id outside `0..tokens` does. Keras 3 (jax's one-hot) leaves it out; tf-keras
    /// refuses the whole batch, where keqv makes NaN the row the id would count in. A NaN id
    /// (which no Keras integer input holds) gives NaN in both.
    pub out_of_range: OutOfRange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodeMode {
    /// A row per id (the id's own axis of 1 replaced, or a new axis).
    OneHot,
    /// A row per last-axis run of ids: 1 where any id names the column.
    MultiHot,
    /// The same, counting the ids.
    Count,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutOfRange {
    Ignored,
    Nan,
}

/// IntegerLookup's index of an id: 0 for the mask token (when there is one), then
/// `oov_indices` indices for ids outside the vocabulary (`floormod(id, oov_indices)`), then
/// the vocabulary in its order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Lookup {
    pub vocabulary: Vec<f32>,
    pub oov_indices: usize,
    pub mask_token: Option<f32>,
}

pub const CLASSES: &[&str] = &["CategoryEncoding", "Discretization", "IntegerLookup"];

/// Classes keqv cannot run in principle: their tensors are strings.
pub const STRING_CLASSES: &[&str] = &["StringLookup", "TextVectorization"];

/// Reads a layer of `class` whose input sample has shape `input`.
pub fn parse(class: &str, config: &Value, input: &[usize], dialect: Dialect) -> Result<Op, String> {
    if bool_field(config, "sparse", false)? {
        return Err(format!(
            "{class} with sparse=True is not supported (keqv has dense tensors only); save the model with sparse=False"
        ));
    }
    let kind = match class {
        "CategoryEncoding" => {
            let encoding = parse_encoding(config, dialect)?;
            one_axis_of_ids(class, encoding.mode, input)?;
            Categorical::Encode(encoding)
        }
        "Discretization" => {
            int_output(class, config)?;
            Categorical::Bucketize {
                boundaries: numbers(config, "bin_boundaries").map_err(|e| {
                    format!("Discretization: {e}; keqv reads the boundaries from the config (bin_boundaries=[...]), not from an adapted layer's state")
                })?,
            }
        }
        _ => Categorical::Lookup(parse_lookup(config)?),
    };
    Ok(Op::Categorical(kind))
}

fn parse_encoding(config: &Value, dialect: Dialect) -> Result<Encoding, String> {
    let tokens = usize_field(config, "num_tokens")?
        .filter(|&n| n > 0)
        .ok_or("CategoryEncoding has no positive 'num_tokens' in its config")?;
    let mode = match config.get("output_mode").and_then(Value::as_str) {
        Some("one_hot") => EncodeMode::OneHot,
        Some("multi_hot") | None => EncodeMode::MultiHot,
        Some("count") => EncodeMode::Count,
        Some(other) => {
            return Err(format!(
                "CategoryEncoding output_mode '{other}' is not supported (one_hot, multi_hot, count are)"
            ))
        }
    };
    let out_of_range = match dialect {
        Dialect::Keras3 => OutOfRange::Ignored,
        Dialect::TfKeras2 => OutOfRange::Nan,
    };
    Ok(Encoding {
        tokens,
        mode,
        out_of_range,
    })
}

fn parse_lookup(config: &Value) -> Result<Lookup, String> {
    int_output("IntegerLookup", config)?;
    if bool_field(config, "invert", false)? {
        return Err("IntegerLookup with invert=True (indices back to ids) is not supported; keqv runs IntegerLookup from ids to indices: compare the model without the inverting layer".into());
    }
    let vocabulary = numbers(config, "vocabulary").map_err(|e| {
        format!("IntegerLookup: {e}, nor does the file hold an adapted vocabulary keqv reads (a Keras 3 .keras archive's assets); make the layer with vocabulary=[...]")
    })?;
    let oov_indices = usize_field(config, "num_oov_indices")?.unwrap_or(1);
    if oov_indices == 0 {
        return Err("IntegerLookup with num_oov_indices=0 is not supported (Keras refuses ids outside the vocabulary there); use 1 or more".into());
    }
    // Keras 3 may hash ids over several OOV indices instead (`oov_method="hash"`).
    let method = config.get("oov_method").and_then(Value::as_str);
    if oov_indices > 1 && method.is_some_and(|m| m != "floormod") {
        return Err(format!(
            "IntegerLookup with oov_method '{}' is not supported (only 'floormod'); re-save the model with oov_method='floormod' or num_oov_indices=1",
            method.unwrap_or_default()
        ));
    }
    let mask_token = match config.get("mask_token") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_f64().ok_or(format!(
            "IntegerLookup's 'mask_token' is {v}, not an integer"
        ))? as f32),
    };
    Ok(Lookup {
        vocabulary,
        oov_indices,
        mask_token,
    })
}

/// Refuses an `output_mode` other than "int": [`parse_encoded`] reads the encoded ones.
fn int_output(class: &str, config: &Value) -> Result<(), String> {
    match encoded_mode(class, config)? {
        None => Ok(()),
        Some(_) => Err(format!(
            "{class} with output_mode {} runs only as a layer called by itself, not inside a wrapper; call it directly",
            config["output_mode"]
        )),
    }
}

/// The encoding of a Discretization or IntegerLookup `output_mode` (None for "int").
fn encoded_mode(class: &str, config: &Value) -> Result<Option<EncodeMode>, String> {
    Ok(match config.get("output_mode").and_then(Value::as_str) {
        None | Some("int") => None,
        Some("one_hot") => Some(EncodeMode::OneHot),
        Some("multi_hot") => Some(EncodeMode::MultiHot),
        Some("count") => Some(EncodeMode::Count),
        Some("tf_idf") => {
            return Err(format!(
                "{class} output_mode 'tf_idf' is not supported: keqv does not weigh counts by idf_weights; make the layer with output_mode 'int', 'one_hot', 'multi_hot' or 'count'"
            ))
        }
        Some(other) => {
            return Err(format!(
                "{class} output_mode '{other}' is not one Keras has (int, one_hot, multi_hot, count, tf_idf)"
            ))
        }
    })
}

/// Refuses multi_hot and count on samples that are not one axis of ids. Keras reduces the
/// one-hot rows over the axis after the batch (`encode_categorical_inputs`): a sample's ids
/// where it has one axis, but the batch itself where each sample is one id (one row for the
/// whole batch), and a sample's first axis where it has several (Keras 3; tf-keras refuses
/// those).
fn one_axis_of_ids(class: &str, mode: EncodeMode, input: &[usize]) -> Result<(), String> {
    if mode == EncodeMode::OneHot || input.len() == 1 {
        return Ok(());
    }
    let name = Categorical::Encode(Encoding {
        tokens: 0,
        mode,
        out_of_range: OutOfRange::Ignored,
    })
    .name();
    Err(match input {
        [] => format!(
            "{class} output_mode '{name}' on one id per sample is not supported: Keras encodes such ids across the whole batch, into one row; keqv runs it on samples of one axis of ids: give it [batch, ids]"
        ),
        _ => format!(
            "{class} output_mode '{name}' on samples of shape {input:?} is not supported: Keras 3 encodes along their first axis rather than per run of ids, and tf-keras refuses them; keqv runs it on samples of one axis of ids: reshape them to one axis before it"
        ),
    })
}

/// Whether a layer of `class` with `config` encodes its indices (Discretization or IntegerLookup
/// with output_mode one_hot, multi_hot, count or tf_idf): one to read with [`parse_encoded`].
pub fn is_encoded(class: &str, config: &Value) -> bool {
    matches!(class, "Discretization" | "IntegerLookup")
        && config
            .get("output_mode")
            .and_then(Value::as_str)
            .is_some_and(|m| m != "int")
}

/// A Discretization or IntegerLookup whose output_mode encodes its indices, as Keras computes
/// it: the index op (the layer with output_mode "int"), then CategoryEncoding's encoding of
/// the indices over every index the layer gives (Discretization: a bucket per boundary and
/// one more; IntegerLookup: its mask index, OOV indices and vocabulary, or `max_tokens` with
/// `pad_to_max_tokens`).
pub fn parse_encoded(
    class: &str,
    config: &Value,
    input: &[usize],
    dialect: Dialect,
) -> Result<(Op, Op), String> {
    let mode = encoded_mode(class, config)?.ok_or(format!(
        "{class} has output_mode 'int'; the model config is malformed: re-save the model with Keras"
    ))?;
    one_axis_of_ids(class, mode, input)?;
    let mut int = config.clone();
    int["output_mode"] = Value::String("int".into());
    let index = parse(class, &int, input, dialect)?;
    if let Op::Categorical(Categorical::Lookup(Lookup {
        mask_token: Some(_),
        ..
    })) = index
    {
        return Err(format!(
            "IntegerLookup with a mask_token and output_mode {} is not supported yet (Keras leaves the mask token out of the encoding and numbers the OOV indices from 0 there); make the layer without mask_token, or with output_mode 'int'",
            config["output_mode"]
        ));
    }
    let tokens = match &index {
        Op::Categorical(Categorical::Bucketize { boundaries }) => boundaries.len() + 1,
        Op::Categorical(Categorical::Lookup(l)) => {
            let indices = l.vocabulary.len() + l.oov_indices + usize::from(l.mask_token.is_some());
            if bool_field(config, "pad_to_max_tokens", false)? {
                let max = usize_field(config, "max_tokens")?.ok_or(
                    "IntegerLookup has pad_to_max_tokens but no 'max_tokens' in its config",
                )?;
                if max < indices {
                    return Err(format!(
                        "IntegerLookup has max_tokens {max}, fewer than its {indices} indices"
                    ));
                }
                max
            } else {
                indices
            }
        }
        _ => return Err(format!("{class} does not encode its output")),
    };
    let encode = Categorical::Encode(Encoding {
        tokens,
        mode,
        out_of_range: match dialect {
            Dialect::Keras3 => OutOfRange::Ignored,
            Dialect::TfKeras2 => OutOfRange::Nan,
        },
    });
    Ok((index, Op::Categorical(encode)))
}

/// A config list of numbers (a vocabulary, boundaries).
fn numbers(config: &Value, key: &str) -> Result<Vec<f32>, String> {
    match config.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_f64()
                    .map(|f| f as f32)
                    .ok_or(format!("'{key}' holds {v}, not a number"))
            })
            .collect(),
        None | Some(Value::Null) => Err(format!("its config has no '{key}' list")),
        Some(other) => Err(format!("'{key}' is {other}, not a list of numbers")),
    }
}

impl Categorical {
    pub fn name(&self) -> String {
        match self {
            Categorical::Encode(e) => match e.mode {
                EncodeMode::OneHot => "one_hot".into(),
                EncodeMode::MultiHot => "multi_hot".into(),
                EncodeMode::Count => "count".into(),
            },
            Categorical::Bucketize { .. } => "bucketize".into(),
            Categorical::Lookup(_) => "lookup".into(),
        }
    }

    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        let Categorical::Encode(e) = self else {
            return Ok(input.to_vec());
        };
        let keeps_last = e.mode == EncodeMode::OneHot && input.last().is_some_and(|&d| d != 1);
        let mut out = input.to_vec();
        if !keeps_last {
            out.pop();
        }
        out.push(e.tokens);
        Ok(out)
    }

    /// The bucket boundaries or the vocabulary: the table the GPU kernel searches.
    pub fn table(&self) -> &[f32] {
        match self {
            Categorical::Encode(_) => &[],
            Categorical::Bucketize { boundaries } => boundaries,
            Categorical::Lookup(l) => &l.vocabulary,
        }
    }

    /// How many ids each output row of an encoding reads: all of a row's last axis for
    /// multi-hot and counts, one for one-hot (1 where the input has no axis).
    pub fn ids_per_row(&self, input: &[usize]) -> usize {
        match self {
            Categorical::Encode(e) if e.mode != EncodeMode::OneHot => {
                input.last().copied().unwrap_or(1)
            }
            _ => 1,
        }
    }

    /// The ids `0..n` that random inputs should draw for this op's input, where only some
    /// make sense: an encoding's tokens; up to a lookup's largest (non-negative) vocabulary id,
    /// so that most draws are in the vocabulary and some are not.
    pub fn token_range(&self) -> Option<usize> {
        match self {
            Categorical::Encode(e) => Some(e.tokens),
            Categorical::Lookup(l) => l
                .vocabulary
                .iter()
                .copied()
                .reduce(f32::max)
                .filter(|&top| top >= 0.0)
                .map(|top| top as usize + 1),
            Categorical::Bucketize { .. } => None,
        }
    }

    pub fn eval<T: Real>(&self, x: &ArrayD<T>, out_shape: &[usize]) -> ArrayD<T> {
        match self {
            Categorical::Encode(e) => {
                cpu::encode(e, x, self.ids_per_row(&x.shape()[1..]), out_shape)
            }
            Categorical::Bucketize { boundaries } => x.mapv(|v| cpu::bucket(boundaries, v)),
            Categorical::Lookup(l) => x.mapv(|v| cpu::lookup(l, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_k3(class: &str, config: Value) -> Result<Op, String> {
        parse(class, &config, &[5], Dialect::Keras3)
    }

    #[test]
    fn options_keqv_cannot_honour_are_refused_with_the_reason() {
        let refused = [
            (
                "CategoryEncoding",
                json!({"num_tokens": 4, "sparse": true}),
                "sparse",
            ),
            (
                "CategoryEncoding",
                json!({"num_tokens": 4, "output_mode": "tf_idf"}),
                "tf_idf",
            ),
            (
                "Discretization",
                json!({"num_bins": 4, "bin_boundaries": null}),
                "bin_boundaries",
            ),
            // An encoded output is read with its encoding (`parse_encoded`), not as one op.
            (
                "Discretization",
                json!({"bin_boundaries": [0.0], "output_mode": "one_hot"}),
                "runs only as a layer called by itself",
            ),
            (
                "IntegerLookup",
                json!({"vocabulary": [1, 2], "output_mode": "tf_idf", "idf_weights": [1, 1]}),
                "does not weigh counts by idf_weights",
            ),
            (
                "CategoryEncoding",
                json!({"num_tokens": 4, "output_mode": "count"}),
                "",
            ),
            (
                "IntegerLookup",
                json!({"vocabulary": [1, 2], "invert": true}),
                "invert",
            ),
            (
                "IntegerLookup",
                json!({"vocabulary": "vocab.txt"}),
                "vocabulary",
            ),
            (
                "IntegerLookup",
                json!({"vocabulary": [1], "num_oov_indices": 0}),
                "num_oov_indices",
            ),
            (
                "IntegerLookup",
                json!({"vocabulary": [1], "num_oov_indices": 2, "oov_method": "hash"}),
                "oov_method",
            ),
        ];
        for (class, config, says) in refused {
            if says.is_empty() {
                assert!(parse_k3(class, config).is_ok());
                continue;
            }
            let err = parse_k3(class, config.clone()).unwrap_err();
            assert!(err.contains(says), "{class} {config}: {err}");
        }
    }

    /// multi_hot and count reduce over the axis after the batch in Keras: a sample's ids only
    /// where the sample is one axis of them.
    #[test]
    fn multi_hot_and_count_need_a_sample_of_one_axis_of_ids() {
        for mode in ["multi_hot", "count"] {
            let config = json!({"num_tokens": 4, "output_mode": mode});
            let err = |input: &[usize]| {
                parse("CategoryEncoding", &config, input, Dialect::Keras3).unwrap_err()
            };
            assert!(err(&[]).contains("across the whole batch"), "{}", err(&[]));
            assert!(err(&[2, 3]).contains("along their first axis"));
            assert!(parse("CategoryEncoding", &config, &[3], Dialect::TfKeras2).is_ok());
            let lookup = json!({"vocabulary": [7, 3], "output_mode": mode});
            let err = parse_encoded("IntegerLookup", &lookup, &[2, 3], Dialect::Keras3);
            assert!(err.unwrap_err().contains("along their first axis"));
        }
        let one_hot = json!({"num_tokens": 4, "output_mode": "one_hot"});
        for input in [&[][..], &[2, 3]] {
            assert!(parse("CategoryEncoding", &one_hot, input, Dialect::Keras3).is_ok());
        }
    }

    #[test]
    fn encoded_outputs_are_the_indices_encoded_over_every_index() {
        let tokens = |class: &str, config: Value| {
            let (index, encode) = parse_encoded(class, &config, &[5], Dialect::TfKeras2).unwrap();
            assert!(matches!(
                index,
                Op::Categorical(Categorical::Bucketize { .. } | Categorical::Lookup(_))
            ));
            match encode {
                Op::Categorical(Categorical::Encode(e)) => (e.tokens, e.mode),
                other => panic!("{other:?}"),
            }
        };
        let bins = json!({"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "count"});
        assert_eq!(tokens("Discretization", bins), (4, EncodeMode::Count));
        let lookup =
            json!({"vocabulary": [7, 3, 12], "num_oov_indices": 2, "output_mode": "multi_hot"});
        assert_eq!(tokens("IntegerLookup", lookup), (5, EncodeMode::MultiHot));
        let padded = json!({"vocabulary": [7, 3], "max_tokens": 9, "pad_to_max_tokens": true,
                            "output_mode": "one_hot"});
        assert_eq!(tokens("IntegerLookup", padded), (9, EncodeMode::OneHot));
        // Keras leaves the mask token out of an encoding; keqv does not run that yet.
        let masked = json!({"vocabulary": [7, 3], "mask_token": 0, "output_mode": "count"});
        let err = parse_encoded("IntegerLookup", &masked, &[5], Dialect::Keras3).unwrap_err();
        assert!(err.contains("mask_token"), "{err}");
        assert!(is_encoded(
            "Discretization",
            &json!({"output_mode": "one_hot"})
        ));
        assert!(!is_encoded("IntegerLookup", &json!({"output_mode": "int"})));
        assert!(!is_encoded(
            "CategoryEncoding",
            &json!({"output_mode": "count"})
        ));
    }

    #[test]
    fn keras_rules_at_the_edges() {
        let l = Lookup {
            vocabulary: vec![7.0, 3.0],
            oov_indices: 2,
            mask_token: Some(0.0),
        };
        // mask 0, OOV 1..=2 by floormod, then the vocabulary.
        let got: Vec<f32> = [0.0f32, 7.0, 3.0, 4.0, 5.0, -3.0, 3.9]
            .iter()
            .map(|&v| cpu::lookup(&l, v))
            .collect();
        assert_eq!(got, [0.0, 3.0, 4.0, 1.0, 2.0, 2.0, 4.0]);
        assert!(cpu::lookup(&l, f32::NAN).is_nan());
        let bounds = [-1.0, 0.0, 0.5];
        let got: Vec<f32> = [-2.0f32, -1.0, 0.0, 0.4, 0.5, f32::INFINITY, f32::NAN]
            .iter()
            .map(|&v| cpu::bucket(&bounds, v))
            .collect();
        assert_eq!(got, [0.0, 1.0, 2.0, 2.0, 3.0, 3.0, 3.0]);
    }

    #[test]
    fn encodings_leave_out_or_poison_ids_outside_the_tokens() {
        let ids = ndarray::arr2(&[[0.0f32, 2.0, 2.0], [1.0, 5.0, 0.0]]).into_dyn();
        let count = |out_of_range| {
            let op = Categorical::Encode(Encoding {
                tokens: 3,
                mode: EncodeMode::Count,
                out_of_range,
            });
            op.eval(&ids, &[2, 3])
        };
        let kept = count(OutOfRange::Ignored);
        assert_eq!(kept.as_slice().unwrap(), &[1.0, 0.0, 2.0, 1.0, 1.0, 0.0]);
        let poisoned = count(OutOfRange::Nan);
        assert_eq!(&poisoned.as_slice().unwrap()[..3], &[1.0, 0.0, 2.0]);
        assert!(poisoned.as_slice().unwrap()[3..].iter().all(|v| v.is_nan()));
    }
}

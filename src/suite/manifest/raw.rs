//! The manifest as TOML spells it, before its cases are resolved: every key optional, unknown
//! keys refused, a case's keys over the defaults'.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::Verdict;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) defaults: RawCase,
    #[serde(default, rename = "case")]
    pub(super) cases: Vec<RawCase>,
}

/// Per-output tolerance.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTolerance {
    pub(super) atol: Option<f64>,
    pub(super) rtol: Option<f64>,
}

/// One or several paths: `custom_file = "a.json"` or `custom_file = ["a.json", "b.txt"]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Paths {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl Paths {
    pub(super) fn into_vec(self) -> Vec<PathBuf> {
        match self {
            Paths::One(p) => vec![p],
            Paths::Many(v) => v,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCase {
    pub(super) name: Option<String>,
    pub(super) original: Option<PathBuf>,
    pub(super) converted: Option<PathBuf>,
    pub(super) original_weights: Option<PathBuf>,
    pub(super) converted_weights: Option<PathBuf>,
    /// Custom layer mappings for both models: `{ FeatureNormalization = "l2_normalize" }`.
    pub(super) custom: Option<BTreeMap<String, String>>,
    pub(super) original_custom: Option<BTreeMap<String, String>>,
    pub(super) converted_custom: Option<BTreeMap<String, String>>,
    pub(super) custom_file: Option<Paths>,
    /// Open input dimensions: `{ tokens = [128, 64] }`.
    pub(super) input_shape: Option<BTreeMap<String, Vec<usize>>>,
    pub(super) inputs: Option<PathBuf>,
    pub(super) seed: Option<u64>,
    pub(super) batch: Option<usize>,
    pub(super) distribution: Option<String>,
    pub(super) chunk: Option<usize>,
    pub(super) atol: Option<f64>,
    pub(super) rtol: Option<f64>,
    pub(super) outputs: Option<BTreeMap<String, RawTolerance>>,
    pub(super) device: Option<String>,
    pub(super) converted_device: Option<String>,
    pub(super) per_layer: Option<bool>,
    pub(super) expect: Option<Verdict>,
    pub(super) error_contains: Option<String>,
}

impl RawCase {
    /// This case's keys, with the defaults' where it has none (per-output tolerances and
    /// custom mappings merge, the case winning).
    pub(super) fn or(self, d: &RawCase) -> RawCase {
        fn merge<V: Clone>(
            own: Option<BTreeMap<String, V>>,
            default: &Option<BTreeMap<String, V>>,
        ) -> Option<BTreeMap<String, V>> {
            match (own, default) {
                (None, d) => d.clone(),
                (Some(o), None) => Some(o),
                (Some(o), Some(d)) => {
                    let mut all = d.clone();
                    all.extend(o);
                    Some(all)
                }
            }
        }
        let d = d.clone();
        RawCase {
            name: self.name,
            original: self.original,
            converted: self.converted,
            original_weights: self.original_weights.or(d.original_weights),
            converted_weights: self.converted_weights.or(d.converted_weights),
            custom: merge(self.custom, &d.custom),
            original_custom: merge(self.original_custom, &d.original_custom),
            converted_custom: merge(self.converted_custom, &d.converted_custom),
            custom_file: self.custom_file.or(d.custom_file),
            input_shape: merge(self.input_shape, &d.input_shape),
            inputs: self.inputs.or(d.inputs),
            seed: self.seed.or(d.seed),
            batch: self.batch.or(d.batch),
            distribution: self.distribution.or(d.distribution),
            chunk: self.chunk.or(d.chunk),
            atol: self.atol.or(d.atol),
            rtol: self.rtol.or(d.rtol),
            outputs: merge_outputs(self.outputs, &d.outputs),
            device: self.device.or(d.device),
            converted_device: self.converted_device.or(d.converted_device),
            per_layer: self.per_layer.or(d.per_layer),
            expect: self.expect.or(d.expect),
            error_contains: self.error_contains.or(d.error_contains),
        }
    }
}

/// Per-output tolerances of a case over the defaults', field by field.
fn merge_outputs(
    own: Option<BTreeMap<String, RawTolerance>>,
    default: &Option<BTreeMap<String, RawTolerance>>,
) -> Option<BTreeMap<String, RawTolerance>> {
    let mut all = default.clone().unwrap_or_default();
    for (name, t) in own.into_iter().flatten() {
        let d = all.get(&name).copied().unwrap_or_default();
        all.insert(
            name,
            RawTolerance {
                atol: t.atol.or(d.atol),
                rtol: t.rtol.or(d.rtol),
            },
        );
    }
    (!all.is_empty()).then_some(all)
}

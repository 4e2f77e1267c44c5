//! Shared by the integration tests: the fixture manifest written by models/generate.py, the
//! keqv binary and seeded random data.

#![allow(dead_code)]

pub mod activations;
pub mod cli;
pub mod converted;
pub mod files;
pub mod gpu;
pub mod graphs;
pub mod keras;
pub mod rng;

#[allow(unused_imports)]
pub use cli::{fixture, keqv};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use keqv::graph::build::{build, BuildOptions};
use keqv::graph::Graph;
use keqv::keras::KerasModel;
use keqv::npy;
use keqv::tensor::Tensor;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Fixture {
    pub model: String,
    pub writer: String,
    pub path: String,
    pub format: String,
    pub input: String,
    pub expected: String,
    pub weights: Option<String>,
    pub custom: HashMap<String, String>,
    pub runnable: bool,
    pub chain: bool,
    pub notes: String,
    /// The directory the manifest's paths are relative to.
    #[serde(skip, default = "root")]
    pub base: PathBuf,
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> Vec<Fixture> {
    let text =
        std::fs::read_to_string(root().join("models/fixtures.json")).expect("models/fixtures.json");
    serde_json::from_str(&text).expect("manifest parses")
}

/// Where models/generate_applications.py wrote the keras.applications models (generated in CI,
/// never committed): `KEQV_APPLICATIONS`, else target/applications.
pub fn applications_dir() -> PathBuf {
    std::env::var_os("KEQV_APPLICATIONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/applications"))
}

/// The keras.applications manifest, its paths relative to its directory; None when it was
/// not generated.
pub fn applications() -> Option<Vec<Fixture>> {
    let dir = applications_dir();
    let text = std::fs::read_to_string(dir.join("applications.json")).ok()?;
    let mut all: Vec<Fixture> = serde_json::from_str(&text).expect("manifest parses");
    for f in &mut all {
        f.base = dir.clone();
    }
    Some(all)
}

impl Fixture {
    pub fn id(&self) -> String {
        format!(
            "{}/{}.{}{}",
            self.writer,
            self.model,
            self.format,
            if self.weights.is_some() {
                "+weights"
            } else {
                ""
            }
        )
    }

    pub fn options(&self) -> BuildOptions {
        let mut options = BuildOptions::default();
        for (name, builtin) in &self.custom {
            options
                .custom
                .add_flag(&format!("{name}={builtin}"))
                .unwrap();
        }
        options
    }

    pub fn load(&self) -> keqv::Result<KerasModel> {
        let weights = self.weights.as_ref().map(|w| self.base.join(w));
        KerasModel::load(&self.base.join(&self.path), weights.as_deref())
    }

    pub fn graph(&self) -> keqv::Result<Graph> {
        build(&self.load()?, &self.options())
    }

    /// The inputs in the graph's input order (an .npz is keyed by input layer name).
    pub fn inputs(&self, graph: &Graph) -> Vec<Tensor> {
        named_arrays(
            &self.base.join(&self.input),
            &graph
                .inputs
                .iter()
                .map(|id| graph.node(*id).name.clone())
                .collect::<Vec<_>>(),
        )
    }

    /// Keras's outputs in the graph's output order.
    pub fn expected(&self, graph: &Graph) -> Vec<Tensor> {
        named_arrays(
            &self.base.join(&self.expected),
            &graph
                .outputs
                .iter()
                .map(|id| graph.node(*id).layer.clone())
                .collect::<Vec<_>>(),
        )
    }
}

fn named_arrays(path: &Path, names: &[String]) -> Vec<Tensor> {
    if path.extension().is_some_and(|e| e == "npz") {
        let arrays = npy::read_npz(path).unwrap();
        names
            .iter()
            .map(|n| {
                arrays
                    .iter()
                    .find(|(k, _)| k == n)
                    .unwrap_or_else(|| panic!("{} has no '{n}'", path.display()))
                    .1
                    .clone()
            })
            .collect()
    } else {
        vec![npy::read_npy(path).unwrap()]
    }
}

/// Largest |a − b| and whether every element meets |a − b| ≤ atol + rtol·|b| — where Keras
/// gave NaN only NaN passes, and where it gave an infinity only the same infinity (the rule of
/// keqv's own comparison). Elements that match that way count as 0; a NaN or infinity against
/// anything else as an infinite difference.
pub fn within(actual: &Tensor, expected: &Tensor, atol: f32, rtol: f32) -> (f32, bool) {
    assert_eq!(actual.shape(), expected.shape(), "output shapes differ");
    let mut max = 0f32;
    let mut ok = true;
    for (&a, &b) in actual.iter().zip(expected.iter()) {
        let d = if b.is_nan() || a.is_nan() {
            if a.is_nan() && b.is_nan() {
                0.0
            } else {
                f32::INFINITY
            }
        } else if b.is_infinite() || a.is_infinite() {
            if a == b {
                0.0
            } else {
                f32::INFINITY
            }
        } else {
            (a - b).abs()
        };
        max = max.max(d);
        ok &= d == 0.0 || (d.is_finite() && d <= atol + rtol * b.abs());
    }
    (max, ok)
}

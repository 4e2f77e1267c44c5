//! Model inputs: read from `.npy`/`.npz`, or generated from a seed.
//!
//! Random inputs come from SplitMix64 with a Box–Muller transform, written out here so that a
//! seed recorded in a CI suite gives the same inputs with every keqv version, whatever a random
//! number crate later changes.

use std::path::Path;

use ndarray::IxDyn;

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::npy;
use crate::tensor::{checked_len, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Standard normal.
    Normal,
    /// Uniform on [low, high).
    Uniform { low: f32, high: f32 },
}

/// How to make inputs when none are given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomInputs {
    pub seed: u64,
    pub batch: usize,
    pub distribution: Distribution,
}

impl Default for RandomInputs {
    fn default() -> Self {
        RandomInputs {
            seed: 0,
            batch: 8,
            distribution: Distribution::Normal,
        }
    }
}

/// Largest input batch generated at once (elements), to refuse absurd requests up front.
const MAX_GENERATED: usize = 1 << 31;

/// One tensor per graph input; input `i` uses its own stream so adding inputs does not shift
/// the values of the others.
pub fn generate(graph: &Graph, spec: &RandomInputs) -> Result<Vec<Tensor>> {
    graph
        .inputs
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let node = graph.node(*id);
            let shape: Vec<usize> = std::iter::once(spec.batch)
                .chain(node.shape.iter().copied())
                .collect();
            let len = checked_len(&shape)
                .filter(|&n| n <= MAX_GENERATED)
                .ok_or_else(|| {
                    Error::Input(format!(
                        "input '{}' of shape {shape:?} is too large to generate",
                        node.name
                    ))
                })?;
            let mut rng =
                SplitMix64::new(spec.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let values = (0..len).map(|_| rng.sample(spec.distribution)).collect();
            Ok(Tensor::from_shape_vec(IxDyn(&shape), values).expect("length matches shape"))
        })
        .collect()
}

/// Reads inputs for `graph`: a `.npy` for a single-input model, or a `.npz` whose arrays are
/// matched to inputs by name, else by position.
pub fn load(path: &Path, graph: &Graph) -> Result<Vec<Tensor>> {
    let names: Vec<&str> = graph
        .inputs
        .iter()
        .map(|id| graph.node(*id).layer.as_str())
        .collect();
    let is_npz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
    let tensors = if is_npz {
        let arrays = npy::read_npz(path)?;
        match_by_name(arrays, &names, path)?
    } else {
        if names.len() != 1 {
            return Err(Error::Input(format!(
                "{}: the model has {} inputs ({}); give an .npz with one array per input name",
                path.display(),
                names.len(),
                names.join(", ")
            )));
        }
        vec![npy::read_npy(path)?]
    };
    check_shapes(&tensors, graph, path)?;
    Ok(tensors)
}

fn match_by_name(
    arrays: Vec<(String, Tensor)>,
    names: &[&str],
    path: &Path,
) -> Result<Vec<Tensor>> {
    if names.iter().all(|n| arrays.iter().any(|(k, _)| k == n)) {
        return Ok(names
            .iter()
            .map(|n| {
                arrays
                    .iter()
                    .find(|(k, _)| k == n)
                    .expect("checked")
                    .1
                    .clone()
            })
            .collect());
    }
    if arrays.len() == names.len() {
        return Ok(arrays.into_iter().map(|(_, t)| t).collect());
    }
    let keys: Vec<&str> = arrays.iter().map(|(k, _)| k.as_str()).collect();
    Err(Error::Input(format!(
        "{}: has arrays [{}] but the model's inputs are [{}]; name the arrays after the inputs",
        path.display(),
        keys.join(", "),
        names.join(", ")
    )))
}

fn check_shapes(tensors: &[Tensor], graph: &Graph, path: &Path) -> Result<()> {
    let batch = tensors.first().and_then(|t| t.shape().first().copied());
    for (t, id) in tensors.iter().zip(&graph.inputs) {
        let node = graph.node(*id);
        let fits = t.ndim() == node.shape.len() + 1 && t.shape()[1..] == node.shape[..];
        if !fits {
            return Err(Error::Input(format!(
                "{}: input '{}' has shape {:?}; the model expects (batch, {})",
                path.display(),
                node.layer,
                t.shape(),
                node.shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if t.shape().first().copied() != batch {
            return Err(Error::Input(format!(
                "{}: the inputs have different batch sizes",
                path.display()
            )));
        }
    }
    Ok(())
}

struct SplitMix64 {
    state: u64,
    spare: Option<f32>,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64 {
            state: seed,
            spare: None,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on [0, 1) with 53 random bits.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn sample(&mut self, distribution: Distribution) -> f32 {
        match distribution {
            Distribution::Uniform { low, high } => low + (high - low) * self.unit() as f32,
            Distribution::Normal => {
                if let Some(v) = self.spare.take() {
                    return v;
                }
                let u1 = 1.0 - self.unit(); // (0, 1]: ln never sees 0
                let u2 = self.unit();
                let r = (-2.0 * u1.ln()).sqrt();
                let theta = std::f64::consts::TAU * u2;
                self.spare = Some((r * theta.sin()) as f32);
                (r * theta.cos()) as f32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_samples_have_unit_variance_and_are_reproducible() {
        let mut a = SplitMix64::new(7);
        let xs: Vec<f32> = (0..100_000)
            .map(|_| a.sample(Distribution::Normal))
            .collect();
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / xs.len() as f32;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
        let mut b = SplitMix64::new(7);
        assert_eq!(b.sample(Distribution::Normal), xs[0]);
    }

    #[test]
    fn uniform_samples_stay_in_range() {
        let mut r = SplitMix64::new(1);
        let d = Distribution::Uniform {
            low: -2.0,
            high: 3.0,
        };
        assert!((0..10_000)
            .map(|_| r.sample(d))
            .all(|v| (-2.0..3.0).contains(&v)));
    }
}

//! Model inputs: read from `.npy`/`.npz`, or generated from a seed.
//!
//! Random inputs come from SplitMix64 with a Box–Muller transform, written out here so that a
//! seed recorded in a CI suite gives the same inputs with every keqv version, whatever a random
//! number crate later changes.

use std::path::{Path, PathBuf};

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

/// Where a batch of inputs comes from.
#[derive(Clone, Debug)]
pub enum InputSource {
    File(PathBuf),
    Random(RandomInputs),
}

/// Inputs from a file (sliced per chunk) or generated per chunk from the seed, so that a batch
/// streams through a model a chunk at a time.
pub struct InputFeed {
    file: Option<Vec<Tensor>>,
    random: RandomInputs,
    pub batch: usize,
    pub description: String,
    /// Conversions of the file's arrays to the float32 the models run in ("input 'x':
    /// float64 cast to float32", "input 'ids': int64 cast to float32").
    pub casts: Vec<String>,
}

impl InputFeed {
    pub fn new(source: &InputSource, graph: &Graph) -> Result<Self> {
        match source {
            InputSource::File(path) => {
                let tensors = load(path, graph)?;
                let batch = tensors.first().map_or(0, |t| t.shape()[0]);
                Ok(InputFeed {
                    file: Some(tensors),
                    random: RandomInputs::default(),
                    batch,
                    description: format!("{} ({batch} samples)", path.display()),
                    casts: casts(path, graph)?,
                })
            }
            InputSource::Random(spec) => {
                check_generable(graph, spec.batch)?;
                Ok(InputFeed {
                    file: None,
                    random: *spec,
                    batch: spec.batch,
                    casts: Vec::new(),
                    description: random_description(graph, spec),
                })
            }
        }
    }

    /// Samples `start .. start + count`, one tensor per graph input.
    pub fn chunk(&self, graph: &Graph, start: usize, count: usize) -> Result<Vec<Tensor>> {
        match &self.file {
            Some(tensors) => Ok(tensors
                .iter()
                .map(|t| {
                    t.slice_axis(ndarray::Axis(0), ndarray::Slice::from(start..start + count))
                        .to_owned()
                })
                .collect()),
            None => generate_range(graph, &self.random, start, count),
        }
    }
}

/// The arrays of an inputs file that are not float32, each named with its cast and its dtype
/// as NumPy names it: the models run in float32, so a float64 input loses precision (and a
/// float16 one gains none); integer and bool inputs (token ids, masks) are exact: a file with
/// an integer that f32 cannot hold is refused when it is read.
fn casts(path: &Path, graph: &Graph) -> Result<Vec<String>> {
    let dtypes = if is_zip(path)? {
        npy::read_npz_dtypes(path)?
    } else {
        let name = graph
            .inputs
            .first()
            .map_or(String::new(), |id| graph.node(*id).layer.clone());
        vec![(name, npy::read_npy_dtype(path)?)]
    };
    Ok(dtypes
        .into_iter()
        .filter(|(_, dtype)| *dtype != "float32")
        .map(|(name, dtype)| format!("input '{name}': {dtype} cast to float32"))
        .collect())
}

/// Refuses, before anything runs, a random batch whose element positions do not fit the
/// generator's 64-bit counter.
fn check_generable(graph: &Graph, batch: usize) -> Result<()> {
    for id in &graph.inputs {
        let node = graph.node(*id);
        let fits = checked_len(&node.shape)
            .and_then(|n| (n as u64).checked_mul(batch as u64))
            .is_some();
        if !fits {
            return Err(Error::Usage(format!(
                "--batch {batch}: input '{}' is {}, and that many samples of it are more than keqv can generate; use a smaller --batch",
                node.name,
                crate::tensor::describe_sample_shape(&node.shape)
            )));
        }
    }
    Ok(())
}

/// How random inputs are drawn, naming the token-id inputs.
fn random_description(graph: &Graph, spec: &RandomInputs) -> String {
    let mut text = match spec.distribution {
        Distribution::Normal => format!("random normal, seed {}, batch {}", spec.seed, spec.batch),
        Distribution::Uniform { low, high } => format!(
            "random uniform [{low}, {high}), seed {}, batch {}",
            spec.seed, spec.batch
        ),
    };
    for id in &graph.inputs {
        if let Some(vocabulary) = token_vocabulary(graph, *id) {
            let name = &graph.node(*id).name;
            text.push_str(&format!(
                "; '{name}' token ids uniform in [0, {vocabulary})"
            ));
        }
    }
    text
}

/// For an input an Embedding (or a CategoryEncoding, an IntegerLookup) reads: the ids every
/// such layer it feeds has rows for (the smallest `input_dim`, `num_tokens`, or the largest
/// vocabulary id + 1). Random values there are token ids, not normal draws, which would
/// mostly fall outside the table.
fn token_vocabulary(graph: &Graph, input: crate::graph::NodeId) -> Option<usize> {
    graph
        .nodes
        .iter()
        .filter(|n| n.inputs.first() == Some(&input))
        .filter_map(|n| match &n.op {
            crate::graph::Op::Embedding(e) => Some(e.input_dim),
            crate::graph::Op::Categorical(c) => c.token_range(),
            _ => None,
        })
        .min()
}

/// Largest input batch generated at once (elements), to refuse absurd requests up front.
const MAX_GENERATED: usize = 1 << 31;

/// One tensor per graph input; input `i` uses its own stream so adding inputs does not shift
/// the values of the others.
pub fn generate(graph: &Graph, spec: &RandomInputs) -> Result<Vec<Tensor>> {
    generate_range(graph, spec, 0, spec.batch)
}

/// Samples `start .. start + count` of the batch `generate` would make: every element is a
/// function of (seed, input, position), so a batch streamed in chunks equals the whole batch.
pub fn generate_range(
    graph: &Graph,
    spec: &RandomInputs,
    start: usize,
    count: usize,
) -> Result<Vec<Tensor>> {
    graph
        .inputs
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let node = graph.node(*id);
            let shape: Vec<usize> = std::iter::once(count)
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
            let per_sample: usize = node.shape.iter().product();
            let stream = Stream::new(spec.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            // Element positions run up to (start + count)·per_sample, which must fit a u64.
            let first = start
                .checked_add(count)
                .and_then(|end| (end as u64).checked_mul(per_sample as u64))
                .map(|_| start as u64 * per_sample as u64)
                .ok_or_else(|| {
                    Error::Input(format!(
                        "input '{}': samples up to {start} + {count} are beyond any random batch keqv can generate; use a smaller --batch",
                        node.name
                    ))
                })?;
            let mut values = Vec::new();
            values.try_reserve_exact(len).map_err(|_| {
                Error::Input(format!(
                    "input '{}': {count} samples of shape {} take {}, which cannot be allocated here; use a smaller --chunk",
                    node.name,
                    crate::tensor::describe_sample_shape(&node.shape),
                    crate::error::human_bytes(len as f64 * 4.0)
                ))
            })?;
            match token_vocabulary(graph, *id) {
                Some(vocabulary) => values.extend(
                    (0..len as u64).map(|k| stream.token(first + k, vocabulary)),
                ),
                None => values
                    .extend((0..len as u64).map(|k| stream.sample(first + k, spec.distribution))),
            }
            Ok(Tensor::from_shape_vec(IxDyn(&shape), values).expect("length matches shape"))
        })
        .collect()
}

/// Reads inputs for `graph`: a `.npy` for a single-input model, or a `.npz` whose arrays are
/// matched to inputs by name (or, for NumPy's unnamed `arr_0, arr_1, …`, by position). An
/// `.npz` is told from a `.npy` by its content, whatever its extension.
pub fn load(path: &Path, graph: &Graph) -> Result<Vec<Tensor>> {
    let names: Vec<&str> = graph
        .inputs
        .iter()
        .map(|id| graph.node(*id).layer.as_str())
        .collect();
    let tensors = read_matched(path, &names, npy::read_npy, npy::read_npz)?;
    check_shapes(&tensors, graph, path)?;
    Ok(tensors)
}

/// The shapes (batch first) of the arrays `load` would give inputs named `names`, read from
/// the file's headers only.
pub fn file_shapes(path: &Path, names: &[&str]) -> Result<Vec<Vec<usize>>> {
    read_matched(path, names, npy::read_npy_shape, npy::read_npz_shapes)
}

/// One `T` per input name from `path`: `one(path)` for a `.npy` (a single-input model only),
/// else `all(path)` of an `.npz` matched by name.
fn read_matched<T: Clone>(
    path: &Path,
    names: &[&str],
    one: impl FnOnce(&Path) -> Result<T>,
    all: impl FnOnce(&Path) -> Result<Vec<(String, T)>>,
) -> Result<Vec<T>> {
    if is_zip(path)? {
        return match_by_name(all(path)?, names, path);
    }
    if names.len() != 1 {
        return Err(Error::Input(format!(
            "{}: the model has {} inputs ({}); give an .npz with one array per input name (numpy.savez(FILE, {}))",
            path.display(),
            names.len(),
            names.join(", "),
            names.iter().map(|n| format!("{n}=…")).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(vec![one(path)?])
}

/// Whether the file starts like a zip archive (an `.npz`).
fn is_zip(path: &Path) -> Result<bool> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| crate::keras::read_error(path, e))?;
    let mut head = Vec::with_capacity(2);
    file.take(2)
        .read_to_end(&mut head)
        .map_err(|e| crate::keras::read_error(path, e))?;
    Ok(head == b"PK")
}

fn match_by_name<T: Clone>(
    arrays: Vec<(String, T)>,
    names: &[&str],
    path: &Path,
) -> Result<Vec<T>> {
    let find = |key: &str| {
        arrays
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, t)| t.clone())
    };
    if let Some(found) = names.iter().map(|n| find(n)).collect::<Option<Vec<_>>>() {
        // An array named after no input is a typo or the wrong file, never to be ignored.
        if let Some((extra, _)) = arrays.iter().find(|(k, _)| !names.contains(&k.as_str())) {
            return Err(Error::Input(format!(
                "{}: array '{extra}' is no input of the model (its inputs are [{}]); remove it, or name it after the input it feeds",
                path.display(),
                names.join(", ")
            )));
        }
        return Ok(found);
    }
    // `numpy.savez(file, x, y)` names the arrays arr_0, arr_1, … in argument order.
    let positional = arrays.len() == names.len()
        && (0..names.len()).all(|i| arrays.iter().any(|(k, _)| *k == format!("arr_{i}")));
    if positional {
        return Ok((0..names.len())
            .map(|i| find(&format!("arr_{i}")).expect("checked"))
            .collect());
    }
    let keys: Vec<&str> = arrays.iter().map(|(k, _)| k.as_str()).collect();
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !keys.contains(n))
        .collect();
    Err(Error::Input(format!(
        "{}: has no array named {} (it has [{}]; the model's inputs are [{}]); name the arrays after the inputs: numpy.savez(FILE, {})",
        path.display(),
        missing
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", "),
        keys.join(", "),
        names.join(", "),
        names.iter().map(|n| format!("{n}=…")).collect::<Vec<_>>().join(", ")
    )))
}

fn check_shapes(tensors: &[Tensor], graph: &Graph, path: &Path) -> Result<()> {
    let batch = tensors.first().and_then(|t| t.shape().first().copied());
    for (t, id) in tensors.iter().zip(&graph.inputs) {
        let node = graph.node(*id);
        let fits = t.ndim() == node.shape.len() + 1 && t.shape()[1..] == node.shape[..];
        if !fits {
            let want: Vec<String> = node.shape.iter().map(|d| d.to_string()).collect();
            return Err(Error::Input(format!(
                "{}: input '{}' has shape {:?}; the model expects (batch, {}): give an array of shape (N, {})",
                path.display(),
                node.layer,
                t.shape(),
                want.join(", "),
                want.join(", ")
            )));
        }
        if t.shape().first().copied() != batch {
            let sizes: Vec<String> = tensors
                .iter()
                .zip(&graph.inputs)
                .map(|(t, id)| {
                    let n = t.shape().first().map_or("none".into(), |b| b.to_string());
                    format!("'{}' {n}", graph.node(*id).layer)
                })
                .collect();
            return Err(Error::Input(format!(
                "{}: the inputs have different batch sizes ({}); give every input the same number of samples",
                path.display(),
                sizes.join(", ")
            )));
        }
    }
    if batch == Some(0) {
        return Err(Error::Input(format!(
            "{}: the inputs hold 0 samples (batch size 0); give at least one sample",
            path.display()
        )));
    }
    Ok(())
}

/// SplitMix64 as a random-access stream: draw `n` is `mix(seed + (n + 1)·γ)`.
#[derive(Clone, Copy)]
struct Stream {
    seed: u64,
}

impl Stream {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    fn new(seed: u64) -> Self {
        Stream { seed }
    }

    fn draw(&self, n: u64) -> u64 {
        let mut z = self
            .seed
            .wrapping_add(n.wrapping_add(1).wrapping_mul(Self::GAMMA));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on [0, 1) with 53 random bits.
    fn unit(&self, n: u64) -> f64 {
        (self.draw(n) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Element `k` as a token id, uniform in `0..vocabulary`.
    fn token(&self, k: u64, vocabulary: usize) -> f32 {
        ((self.unit(k) * vocabulary as f64) as usize).min(vocabulary - 1) as f32
    }

    /// Element `k`: normal values come in Box–Muller pairs (cos for even k, sin for odd k).
    fn sample(&self, k: u64, distribution: Distribution) -> f32 {
        match distribution {
            Distribution::Uniform { low, high } => low + (high - low) * self.unit(k) as f32,
            Distribution::Normal => {
                let pair = k & !1;
                let u1 = 1.0 - self.unit(pair); // (0, 1]: ln never sees 0
                let u2 = self.unit(pair + 1);
                let r = (-2.0 * u1.ln()).sqrt();
                let theta = std::f64::consts::TAU * u2;
                (if k.is_multiple_of(2) {
                    r * theta.cos()
                } else {
                    r * theta.sin()
                }) as f32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_samples_have_unit_variance_and_are_reproducible() {
        let stream = Stream::new(7);
        let xs: Vec<f32> = (0..100_000)
            .map(|k| stream.sample(k, Distribution::Normal))
            .collect();
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / xs.len() as f32;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
        assert_eq!(
            Stream::new(7).sample(12_345, Distribution::Normal),
            xs[12_345]
        );
    }

    #[test]
    fn uniform_samples_stay_in_range() {
        let stream = Stream::new(1);
        let d = Distribution::Uniform {
            low: -2.0,
            high: 3.0,
        };
        assert!((0..10_000)
            .map(|k| stream.sample(k, d))
            .all(|v| (-2.0..3.0).contains(&v)));
    }
}

//! A batch run a chunk at a time: inputs from an [`InputFeed`], one chunk through the
//! executor, its outputs handed to a [`ChunkSink`] (a `.npy`/`.npz` being written, a running
//! summary) and dropped before the next chunk. Memory therefore depends on the chunk size, not
//! on the batch.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{human_bytes, Error, Result};
use crate::exec::{Executor, Keep};
use crate::graph::Graph;
use crate::inputs::InputFeed;
use crate::npy::{self, NpyWriter, NpzArchive};
use crate::tensor::{checked_len, Tensor};

/// Takes the outputs of one chunk after another, in order.
pub trait ChunkSink {
    /// `outputs` follow `graph.outputs`, each with the chunk's samples as axis 0.
    fn take(&mut self, outputs: &[Tensor]) -> Result<()>;
}

/// Runs `feed`'s whole batch through `executor`, `chunk` samples at a time, handing each
/// chunk's outputs to `sink`; calls `progress(samples done, batch)` after each chunk.
pub fn run_chunks(
    executor: &mut dyn Executor,
    graph: &Graph,
    feed: &InputFeed,
    chunk: usize,
    sink: &mut dyn ChunkSink,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<()> {
    let chunk = chunk.max(1);
    let mut start = 0;
    while start < feed.batch {
        let count = chunk.min(feed.batch - start);
        let inputs = feed.chunk(graph, start, count)?;
        let outputs = executor.run(&inputs, Keep::Outputs)?.into_outputs();
        drop(inputs);
        sink.take(&outputs)?;
        start += count;
        progress(start, feed.batch);
    }
    Ok(())
}

/// Refuses a chunk whose tensors this process cannot allocate, before anything runs: the most
/// values alive at once while the CPU executor walks the graph (each freed after its last
/// reader), plus the largest one again for an op's scratch, `value_bytes` each, is reserved and
/// released. An allocation that fails later would abort the process instead of ending it with
/// a message.
pub fn check_chunk_memory(graph: &Graph, chunk: usize, value_bytes: usize) -> Result<()> {
    let per_sample = peak_values_per_sample(graph);
    let bytes = per_sample
        .checked_mul(chunk)
        .and_then(|n| n.checked_mul(value_bytes));
    let fits = bytes.is_some_and(|b| Vec::<u8>::new().try_reserve_exact(b).is_ok());
    if fits {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "--chunk {chunk}: one chunk of '{}' needs about {} of memory ({} values per sample), which cannot be allocated here; use a smaller --chunk",
        graph.name,
        human_bytes(per_sample as f64 * chunk as f64 * value_bytes as f64),
        per_sample
    )))
}

fn peak_values_per_sample(graph: &Graph) -> usize {
    let size = |i: usize| checked_len(&graph.nodes[i].shape).unwrap_or(usize::MAX);
    let last = graph.last_uses();
    let mut live = 0usize;
    let mut peak = 0usize;
    for (i, node) in graph.nodes.iter().enumerate() {
        live = live.saturating_add(size(i));
        peak = peak.max(live);
        for input in &node.inputs {
            if last[input.0] == i && !graph.outputs.contains(input) {
                live = live.saturating_sub(size(input.0));
            }
        }
    }
    let largest = (0..graph.nodes.len()).map(size).max().unwrap_or(0);
    peak.saturating_add(largest)
}

/// The outputs of a run being written: one output to a `.npy`, several (or a `.npz` path) to a
/// `.npz` keyed by output layer name. Each array streams chunk by chunk into its `.npy`, whose
/// header already states the whole batch; a `.npz`'s arrays stream into temporary `.npy` files
/// beside it, copied into the archive one after another at the end. The file is written under
/// a temporary name and renamed into place when complete, so a run that fails leaves no
/// half-written file and keeps what was there before.
pub struct OutputFile {
    path: PathBuf,
    arrays: Vec<NpyWriter<Target>>,
    /// For a `.npz`: the archive and the member names; None for a `.npy`.
    npz: Option<(Target, Vec<String>)>,
}

impl OutputFile {
    /// Creates `path` for `batch` samples of `graph`'s outputs, refusing up front sizes no file
    /// can have and outputs the disk has no room for.
    pub fn create(path: &Path, graph: &Graph, batch: usize) -> Result<Self> {
        let is_npz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
        if graph.outputs.len() != 1 && !is_npz {
            return Err(Error::Usage(format!(
                "the model has {} outputs: write them to an .npz file, not {}",
                graph.outputs.len(),
                path.display()
            )));
        }
        let shapes: Vec<Vec<usize>> = graph
            .outputs
            .iter()
            .map(|id| {
                std::iter::once(batch)
                    .chain(graph.node(*id).shape.iter().copied())
                    .collect()
            })
            .collect();
        let needed = shapes
            .iter()
            .try_fold(0u64, |sum, s| sum.checked_add(npy::npy_len(s)?))
            // A .npz holds its arrays twice while it is being assembled.
            .and_then(|sum| if is_npz { sum.checked_mul(2) } else { Some(sum) })
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{}: the outputs of {batch} samples are too large for any file; use a smaller --batch",
                    path.display()
                ))
            })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let write_error = |e: std::io::Error| npy::io_write_error(path, e);
        let target = Target::open(path, &dir).map_err(write_error)?;
        if matches!(target, Target::Renamed(_)) {
            if let Some(free) = free_bytes(&dir).filter(|&free| free < needed) {
                return Err(Error::Usage(format!(
                    "{}: the outputs of {batch} samples take {}{} and the disk has {} free; use a smaller --batch, or write somewhere with more room",
                    path.display(),
                    human_bytes(needed as f64),
                    if is_npz { " (twice the arrays, while the .npz is assembled)" } else { "" },
                    human_bytes(free as f64)
                )));
            }
        }
        if !is_npz {
            return Ok(OutputFile {
                path: path.to_path_buf(),
                arrays: vec![NpyWriter::new(target, &shapes[0]).map_err(write_error)?],
                npz: None,
            });
        }
        let arrays = shapes
            .iter()
            .map(|shape| {
                let member = Target::Anonymous(tempfile::tempfile_in(&dir)?);
                NpyWriter::new(member, shape)
            })
            .collect::<std::io::Result<_>>()
            .map_err(write_error)?;
        let names = graph
            .outputs
            .iter()
            .map(|id| graph.node(*id).layer.clone())
            .collect();
        Ok(OutputFile {
            path: path.to_path_buf(),
            arrays,
            npz: Some((target, names)),
        })
    }

    /// Completes the file: every sample must have been written.
    pub fn finish(self) -> Result<()> {
        let path = &self.path;
        let write_error = |e: std::io::Error| npy::io_write_error(path, e);
        let target = match self.npz {
            None => {
                let array = self.arrays.into_iter().next().expect("one array");
                array.finish().map_err(write_error)?
            }
            Some((target, names)) => {
                let mut archive = NpzArchive::new(target);
                for (array, name) in self.arrays.into_iter().zip(&names) {
                    let mut member = array.finish().map_err(write_error)?;
                    member.seek(SeekFrom::Start(0)).map_err(write_error)?;
                    archive
                        .add(name, &mut member)
                        .map_err(|e| zip_error(path, e))?;
                }
                archive.finish().map_err(|e| zip_error(path, e))?
            }
        };
        target.complete(path).map_err(write_error)
    }
}

impl ChunkSink for OutputFile {
    fn take(&mut self, outputs: &[Tensor]) -> Result<()> {
        for (array, t) in self.arrays.iter_mut().zip(outputs) {
            array
                .write_chunk(t)
                .map_err(|e| npy::io_write_error(&self.path, e))?;
        }
        Ok(())
    }
}

/// Where an output's bytes go.
enum Target {
    /// A file beside the output, renamed onto it when complete, removed if the run fails.
    Renamed(tempfile::NamedTempFile),
    /// The output itself, when it exists and is not a regular file (`/dev/null`, a pipe):
    /// nothing may be renamed onto it.
    Direct(File),
    /// A temporary file with no name (a `.npz` member).
    Anonymous(File),
}

impl Target {
    fn open(path: &Path, dir: &Path) -> std::io::Result<Self> {
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Ok(Target::Direct(File::create(path)?));
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix(".keqv-output-");
        // The mode a plain File::create would give (the umask applies), not 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        Ok(Target::Renamed(builder.tempfile_in(dir)?))
    }

    /// Puts the written bytes in place.
    fn complete(self, path: &Path) -> std::io::Result<()> {
        match self {
            Target::Renamed(file) => file.persist(path).map(drop).map_err(|e| e.error),
            Target::Direct(_) | Target::Anonymous(_) => Ok(()),
        }
    }

    fn file(&mut self) -> &mut File {
        match self {
            Target::Renamed(file) => file.as_file_mut(),
            Target::Direct(file) | Target::Anonymous(file) => file,
        }
    }
}

impl std::io::Write for Target {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file().flush()
    }
}

impl std::io::Read for Target {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file().read(buf)
    }
}

impl Seek for Target {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.file().seek(pos)
    }
}

fn zip_error(path: &Path, err: zip::result::ZipError) -> Error {
    match err {
        zip::result::ZipError::Io(e) => npy::io_write_error(path, e),
        other => npy::write_error(path, other),
    }
}

/// Bytes free for this user on the file system holding `dir`; None where that is unknown.
#[cfg(unix)]
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a valid NUL-terminated path and a buffer statvfs fills on success.
    let stats = unsafe {
        if libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) != 0 {
            return None;
        }
        stats.assume_init()
    };
    (stats.f_bavail as u64).checked_mul(stats.f_frsize as u64)
}

#[cfg(not(unix))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

/// Minimum, mean and maximum of the finite values of each output, and how many are NaN or
/// infinite, gathered chunk by chunk.
pub struct Summary {
    outputs: Vec<Stats>,
}

#[derive(Clone, Copy)]
struct Stats {
    min: f32,
    max: f32,
    sum: f64,
    finite: u64,
    non_finite: u64,
}

impl Summary {
    pub fn new(outputs: usize) -> Self {
        Summary {
            outputs: vec![
                Stats {
                    min: f32::INFINITY,
                    max: f32::NEG_INFINITY,
                    sum: 0.0,
                    finite: 0,
                    non_finite: 0,
                };
                outputs
            ],
        }
    }

    /// One line per output: `name: shape [batch, …], min …, mean …, max …[, N NaN/Inf]`.
    pub fn lines(&self, graph: &Graph, batch: usize) -> Vec<String> {
        graph
            .outputs
            .iter()
            .zip(&self.outputs)
            .map(|(id, s)| {
                let node = graph.node(*id);
                let shape: Vec<usize> = std::iter::once(batch)
                    .chain(node.shape.iter().copied())
                    .collect();
                let mean = s.sum / s.finite.max(1) as f64;
                format!(
                    "{}: shape {shape:?}, min {:.6}, mean {mean:.6}, max {:.6}{}",
                    node.name,
                    s.min,
                    s.max,
                    if s.non_finite > 0 {
                        format!(", {} NaN/Inf", s.non_finite)
                    } else {
                        String::new()
                    }
                )
            })
            .collect()
    }
}

impl ChunkSink for Summary {
    fn take(&mut self, outputs: &[Tensor]) -> Result<()> {
        for (s, t) in self.outputs.iter_mut().zip(outputs) {
            for &v in t.iter() {
                if v.is_finite() {
                    s.min = s.min.min(v);
                    s.max = s.max.max(v);
                    s.sum += v as f64;
                    s.finite += 1;
                } else {
                    s.non_finite += 1;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::cpu::{CpuExecutor, Precision};
    use crate::graph::{Node, NodeId, Op};
    use crate::inputs::{InputSource, RandomInputs};
    use std::sync::Arc;

    /// input (3) → identity.
    fn tiny_graph() -> Arc<Graph> {
        let input = Node {
            name: "x".into(),
            layer: "x".into(),
            class: "InputLayer".into(),
            op: Op::Input,
            inputs: Vec::new(),
            weights: Vec::new(),
            shape: vec![3],
            op_layer: false,
        };
        let output = Node {
            name: "y".into(),
            layer: "y".into(),
            class: "Activation".into(),
            op: Op::Activation(crate::graph::Activation::Linear),
            inputs: vec![NodeId(0)],
            weights: Vec::new(),
            shape: vec![3],
            op_layer: false,
        };
        Arc::new(Graph {
            name: "tiny".into(),
            nodes: vec![input, output],
            inputs: vec![NodeId(0)],
            outputs: vec![NodeId(1)],
            mappings: Vec::new(),
        })
    }

    /// Records the rows of every chunk it is given.
    struct Rows(Vec<usize>);

    impl ChunkSink for Rows {
        fn take(&mut self, outputs: &[Tensor]) -> Result<()> {
            self.0.push(outputs[0].shape()[0]);
            Ok(())
        }
    }

    #[test]
    fn a_sink_never_sees_more_than_one_chunk_at_once() {
        let graph = tiny_graph();
        let spec = RandomInputs {
            batch: 10,
            ..RandomInputs::default()
        };
        let feed = InputFeed::new(&InputSource::Random(spec), &graph).unwrap();
        let mut exec = CpuExecutor::new(graph.clone(), Precision::F32);
        let mut rows = Rows(Vec::new());
        let mut calls = Vec::new();
        run_chunks(
            &mut exec,
            &graph,
            &feed,
            3,
            &mut rows,
            &mut |done, total| calls.push((done, total)),
        )
        .unwrap();
        assert_eq!(rows.0, vec![3, 3, 3, 1]);
        assert_eq!(calls, vec![(3, 10), (6, 10), (9, 10), (10, 10)]);
    }

    #[test]
    fn a_streamed_summary_equals_one_over_the_whole_batch() {
        let graph = tiny_graph();
        let mut whole = Summary::new(1);
        let mut chunked = Summary::new(1);
        let t = Tensor::from_shape_vec(
            ndarray::IxDyn(&[4, 3]),
            vec![
                1.0,
                -2.0,
                f32::NAN,
                4.0,
                0.5,
                f32::INFINITY,
                3.0,
                -7.0,
                2.0,
                0.0,
                1.0,
                9.0,
            ],
        )
        .unwrap();
        whole.take(std::slice::from_ref(&t)).unwrap();
        for i in 0..4 {
            let row = t.slice_axis(ndarray::Axis(0), ndarray::Slice::from(i..i + 1));
            chunked.take(&[row.to_owned()]).unwrap();
        }
        assert_eq!(whole.lines(&graph, 4), chunked.lines(&graph, 4));
        assert_eq!(
            whole.lines(&graph, 4),
            vec!["y: shape [4, 3], min -7.000000, mean 1.150000, max 9.000000, 2 NaN/Inf"]
        );
    }

    #[test]
    fn the_peak_counts_values_alive_together() {
        // x (3) and y (3) are alive together, plus the largest again.
        assert_eq!(peak_values_per_sample(&tiny_graph()), 9);
        assert!(check_chunk_memory(&tiny_graph(), 1 << 20, 4).is_ok());
        let err = check_chunk_memory(&tiny_graph(), usize::MAX / 2, 4).unwrap_err();
        assert!(err.to_string().contains("use a smaller --chunk"), "{err}");
    }
}

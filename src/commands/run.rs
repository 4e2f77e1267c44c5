//! `keqv run MODEL`: runs a model on given or seeded random inputs and writes its outputs, a
//! chunk at a time: each chunk's outputs go straight into the `.npy`/`.npz` (or into the
//! printed summary), so memory does not grow with the batch.

use std::path::Path;

use super::{load_model, Outcome};
use crate::cli::{DeviceArgs, InputArgs, ModelArgs};
use crate::config::{flags, inputs_flag};
use crate::error::Result;
use crate::exec::{prepare, DeviceChoice};
use crate::inputs::InputFeed;
use crate::progress::Progress;
use crate::stream::{check_chunk_memory, run_chunks, OutputFile, Summary};

pub fn run(
    model_args: &ModelArgs,
    input_args: &InputArgs,
    device: &DeviceArgs,
    output: Option<&Path>,
    chunk: usize,
) -> Result<Outcome> {
    let chunk = flags::chunk(chunk)?;
    let choice = flags::device(device)?;
    let source = flags::inputs(input_args)?;
    let model_config = flags::model(model_args)?;
    let (model, graph) = load_model(&model_config, inputs_flag(&source))?;
    for warning in &model.warnings {
        eprintln!("keqv: warning: {}: {warning}", model.path.display());
    }
    let feed = InputFeed::new(&source, &graph)?;
    let value_bytes = if choice == DeviceChoice::CpuF64 { 8 } else { 4 };
    check_chunk_memory(&graph, chunk.min(feed.batch), value_bytes)?;
    let mut file = output
        .map(|path| OutputFile::create(path, &graph, feed.batch))
        .transpose()?;
    let macs = crate::exec::run_macs(&[&graph], feed.batch);
    let mut executor = prepare(&choice, graph.clone(), macs)?;
    let mut summary = Summary::new(graph.outputs.len());
    let progress = Progress::new(feed.batch as u64, "samples");
    let sink: &mut dyn crate::stream::ChunkSink = match &mut file {
        Some(file) => file,
        None => &mut summary,
    };
    run_chunks(
        executor.as_mut(),
        &graph,
        &feed,
        chunk,
        sink,
        &mut |done, total| progress.set(done as u64, total as u64),
    )?;
    progress.finish();
    eprintln!("ran {} on {}", graph.name, executor.device());
    match file {
        Some(file) => file.finish()?,
        None => {
            for line in summary.lines(&graph, feed.batch) {
                println!("{line}");
            }
        }
    }
    Ok(Outcome::Success)
}

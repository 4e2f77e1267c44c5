//! One module per subcommand. Each returns the process outcome; main maps it to an exit code.

pub mod adapters;
pub mod bench;
pub mod convert;
pub mod inspect;
pub mod run;
pub mod suite;
pub mod verify;

use std::path::Path;
use std::sync::Arc;

use crate::cli::{Command, OutputFormat};
use crate::config::ModelConfig;
use crate::error::Result;
use crate::graph::build::{build, BuildOptions};
use crate::graph::mappings;
use crate::graph::open_inputs::{settle, InputsFlag};
use crate::graph::Graph;
use crate::keras::KerasModel;
use crate::verify::Side;

/// What a command concluded, beyond "it ran".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success, or "equivalent".
    Success,
    /// A definite negative answer: not equivalent, not convertible.
    Negative,
}

/// Reads a model file and builds its graph, with the user's weights and mappings; `inputs`
/// may settle the dimensions its inputs leave open. Every mapping must apply to one of its
/// layers.
pub fn load_model(config: &ModelConfig, inputs: InputsFlag) -> Result<(KerasModel, Arc<Graph>)> {
    let model = KerasModel::load(&config.model, config.weights.as_deref())?;
    let graph = build(&model, &config.build_options(&model, inputs)?)?;
    mappings::check_one(&model.path, &graph)?;
    Ok((model, Arc::new(graph)))
}

/// Reads and builds two models fed the same inputs (verify's original and converted). They
/// share the input shapes (the original's), each of which must name an input of either model.
pub fn load_pair(
    original: &ModelConfig,
    converted: &ModelConfig,
    inputs: InputsFlag,
) -> Result<(Side, Side)> {
    let model_o = KerasModel::load(&original.model, original.weights.as_deref())?;
    let model_c = KerasModel::load(&converted.model, converted.weights.as_deref())?;
    let (custom_o, custom_c) = (original.custom_map()?, converted.custom_map()?);
    let mut shapes = settle(&[&model_o, &model_c], &original.input_shapes, inputs)?;
    let side = |model: KerasModel, custom, input_shapes| -> Result<Side> {
        let graph = build(
            &model,
            &BuildOptions {
                custom,
                input_shapes,
            },
        )?;
        Ok(Side {
            model,
            graph: Arc::new(graph),
        })
    };
    let shapes_c = shapes.pop().expect("two models");
    let shapes_o = shapes.pop().expect("two models");
    Ok((
        side(model_o, custom_o, shapes_o)?,
        side(model_c, custom_c, shapes_c)?,
    ))
}

/// After an error, the machine-readable reports the command was asked for still appear, each
/// saying what went wrong: JSON on stdout (`--format json`), and the `--junit`, `--json` and
/// `--html` files. A report that cannot be written is named on stderr.
pub fn write_error_reports(command: &Command, message: &str) {
    let (json_stdout, junit, json, html, title) = match command {
        Command::Verify(a) => (
            a.format == OutputFormat::Json,
            a.junit.as_deref(),
            None,
            a.html.as_deref(),
            "keqv verify".to_string(),
        ),
        Command::Suite(a) => (
            false,
            a.junit.as_deref(),
            a.json.as_deref(),
            a.html.as_deref(),
            format!(
                "keqv suite {}",
                a.manifest.file_stem().unwrap_or_default().to_string_lossy()
            ),
        ),
        Command::Inspect { format, .. }
        | Command::Bench { format, .. }
        | Command::Adapters { format } => (
            *format == OutputFormat::Json,
            None,
            None,
            None,
            String::new(),
        ),
        Command::Run { .. } | Command::Convert { .. } => (false, None, None, None, String::new()),
    };
    if json_stdout {
        println!("{}", crate::document::error_json(message));
    }
    let files = [
        (junit, crate::document::error_junit(&title, message)),
        (json, crate::document::error_json(message)),
        (html, crate::html::error_page(&title, message)),
    ];
    for (path, text) in files {
        if let Some(path) = path {
            write_report(path, &text);
        }
    }
}

fn write_report(path: &Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        eprintln!(
            "keqv: error: {}: the error report could not be written: {e}",
            path.display()
        );
    }
}

//! One module per subcommand. Each returns the process outcome; main maps it to an exit code.

pub mod adapters;
pub mod bench;
pub mod convert;
pub mod inspect;
pub mod run;
pub mod suite;
pub mod verify;

use std::sync::Arc;

use crate::cli::ModelArgs;
use crate::error::Result;
use crate::graph::build::build;
use crate::graph::Graph;
use crate::keras::KerasModel;

/// What a command concluded, beyond "it ran".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success, or "equivalent".
    Success,
    /// A definite negative answer: not equivalent, not convertible.
    Negative,
}

/// Reads a model file and builds its graph, with the user's weights and mappings.
pub fn load_model(args: &ModelArgs) -> Result<(KerasModel, Arc<Graph>)> {
    let model = KerasModel::load(&args.model, args.weights.as_deref())?;
    let graph = build(&model, &args.build_options()?)?;
    Ok((model, Arc::new(graph)))
}

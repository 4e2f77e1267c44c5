//! `keqv convert MODEL -o OUT`: writes a model whose graph is a chain as a Sequential model
//! (`.keras` or legacy `.h5`, Keras 3 or tf-keras dialect), then verifies the written file
//! against the original. A model that is not a chain is explained, node by node (exit 1).

use std::path::Path;

use super::verify::verify_after_convert;
use super::Outcome;
use crate::cli::{DeviceArgs, ModelArgs};
use crate::config::{flags, ModelConfig};
use crate::convert::plan::{analyze, Analysis};
use crate::convert::{input_shapes, write, Target, TargetDialect};
use crate::error::{Error, Result};
use crate::graph::build::{build, BuildOptions};
use crate::graph::mappings;
use crate::graph::open_inputs::{settle, InputsFlag};
use crate::keras::KerasModel;

const UNVERIFIABLE: &str = "keqv cannot run this model, so it cannot verify a conversion of it: \
    map the layer with --custom, or pass --no-verify to convert it without verifying";

/// The switches of `keqv convert`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// Write without verifying the result.
    pub no_verify: bool,
    /// Replace an existing output file.
    pub force: bool,
}

pub fn convert(
    model_args: &ModelArgs,
    output: &Path,
    dialect: TargetDialect,
    switches: Flags,
    device: &DeviceArgs,
) -> Result<Outcome> {
    let Flags { no_verify, force } = switches;
    let target = Target::for_path(output, dialect.into())?;
    let config = flags::model(model_args)?;
    let device = (!no_verify).then(|| flags::device(device)).transpose()?;
    refuse_overwriting_source(&config, output)?;
    if output.exists() && !force {
        return Err(Error::Usage(format!(
            "{}: the output file exists; pass --force to replace it (check the order: keqv convert MODEL -o OUT)",
            output.display()
        )));
    }
    let model = KerasModel::load(&config.model, config.weights.as_deref())?;
    let plan = match analyze(&model)? {
        Analysis::NotChain(problems) => return Ok(not_a_chain(&config, &problems)),
        Analysis::Chain(plan) => plan,
    };
    // A chain keqv cannot run can still be converted, only not verified.
    // Mistaken flags are errors; a model keqv cannot build (open input dimensions nothing
    // settles included) is one it cannot verify.
    let custom = config.custom_map()?;
    let built = match settle(&[&model], &config.input_shapes, InputsFlag::NotTaken) {
        Err(e @ Error::Usage(_)) => return Err(e),
        Err(e) => Err(e),
        Ok(mut shapes) => build(
            &model,
            &BuildOptions {
                custom,
                input_shapes: shapes.remove(0),
            },
        ),
    };
    let graph = match built {
        Ok(graph) => {
            mappings::check_one(&model.path, &graph)?;
            Some(graph)
        }
        Err(_) if no_verify => None,
        Err(e) => return Err(Error::Usage(format!("{e}; {UNVERIFIABLE}"))),
    };
    let shapes = input_shapes(&plan, graph.as_ref());
    write(&model, &plan, target, &shapes, output)?;
    let layers = plan.steps.len();
    println!(
        "wrote {}: Sequential '{}' with {} layers after its input ({target})",
        output.display(),
        model.model.name,
        layers
    );
    for warning in &model.warnings {
        println!("warning: {warning}");
    }
    let Some(device) = device else {
        println!("not verified (--no-verify)");
        return Ok(Outcome::Success);
    };
    verify_after_convert(&config, output, &device)
}

fn not_a_chain(config: &ModelConfig, problems: &[String]) -> Outcome {
    println!(
        "{} cannot be a Sequential model, so nothing was written:",
        config.model.display()
    );
    for p in problems {
        println!("  - {p}");
    }
    Outcome::Negative
}

/// Writing over the model being converted (or its weights) would destroy it.
fn refuse_overwriting_source(config: &ModelConfig, output: &Path) -> Result<()> {
    let Ok(out) = output.canonicalize() else {
        return Ok(());
    };
    let sources = std::iter::once(&config.model).chain(config.weights.as_ref());
    for source in sources {
        if source.canonicalize().is_ok_and(|s| s == out) {
            return Err(Error::Usage(format!(
                "{}: the output is the model being converted; write to another file",
                output.display()
            )));
        }
    }
    Ok(())
}

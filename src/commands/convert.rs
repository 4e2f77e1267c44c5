//! `keqv convert MODEL -o OUT`: writes a model whose graph is a chain as a Sequential model
//! (`.keras` or legacy `.h5`, Keras 3 or tf-keras dialect), then verifies the written file
//! against the original. A model that is not a chain is explained, node by node (exit 1), and
//! offered `--blocks`, which writes it as a Sequential model of layers and blocks, listed with
//! why each block could not be flattened.

use std::path::Path;

use super::verify::verify_after_convert;
use super::Outcome;
use crate::cli::{DeviceArgs, ModelArgs};
use crate::config::{flags, ModelConfig};
use crate::convert::block_plan::{analyze_blocks, BlockAnalysis, BlockPlan, Entry};
use crate::convert::plan::{analyze, Analysis};
use crate::convert::{input_shapes, write, write_blocks, Target, TargetDialect};
use crate::error::{Error, Result};
use crate::graph::build::{build, BuildOptions};
use crate::graph::mappings;
use crate::graph::open_inputs::{settle, InputsFlag};
use crate::graph::Graph;
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
    /// Write a model that is not a chain as a Sequential model of layers and blocks.
    pub blocks: bool,
}

pub fn convert(
    model_args: &ModelArgs,
    output: &Path,
    dialect: TargetDialect,
    switches: Flags,
    device: &DeviceArgs,
) -> Result<Outcome> {
    let Flags {
        no_verify,
        force,
        blocks,
    } = switches;
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
        Analysis::NotChain(problems) if !blocks => {
            let graph = graph(&config, &model, true).ok().flatten();
            return Ok(not_a_chain(
                &config,
                &model,
                graph.as_ref(),
                target,
                &problems,
            ));
        }
        Analysis::NotChain(_) => {
            let graph = graph(&config, &model, no_verify)?;
            let plan = match analyze_blocks(&model, graph.as_ref(), target.dialect)? {
                BlockAnalysis::Refused(reasons) => return Ok(no_blocks(&config, &reasons)),
                BlockAnalysis::Blocks(plan) => plan,
            };
            write_blocks(&model, &plan, graph.as_ref(), target, output)?;
            print!("{}", blocks_report(output, &model, &plan, target));
            return finish(&config, &model, output, device);
        }
        Analysis::Chain(plan) => plan,
    };
    let graph = graph(&config, &model, no_verify)?;
    let shapes = input_shapes(&plan, graph.as_ref());
    write(&model, &plan, target, &shapes, output)?;
    let layers = plan.steps.len();
    println!(
        "wrote {}: Sequential '{}' with {} layers after its input ({target})",
        output.display(),
        model.model.name,
        layers
    );
    finish(&config, &model, output, device)
}

/// The model built by keqv, to verify the conversion with. A chain keqv cannot run can still
/// be converted, only not verified. Mistaken flags are errors; a model keqv cannot build (open
/// input dimensions nothing settles included) is one it cannot verify.
fn graph(config: &ModelConfig, model: &KerasModel, no_verify: bool) -> Result<Option<Graph>> {
    let custom = config.custom_map()?;
    let built = match settle(&[model], &config.input_shapes, InputsFlag::NotTaken) {
        Err(e @ Error::Usage(_)) => return Err(e),
        Err(e) => Err(e),
        Ok(mut shapes) => build(
            model,
            &BuildOptions {
                custom,
                input_shapes: shapes.remove(0),
            },
        ),
    };
    match built {
        Ok(graph) => {
            mappings::check_one(&model.path, &graph)?;
            Ok(Some(graph))
        }
        Err(_) if no_verify => Ok(None),
        Err(e) => Err(Error::Usage(format!("{e}; {UNVERIFIABLE}"))),
    }
}

/// After writing: the model's warnings, then the verdict of the written file against it.
fn finish(
    config: &ModelConfig,
    model: &KerasModel,
    output: &Path,
    device: Option<crate::exec::DeviceChoice>,
) -> Result<Outcome> {
    for warning in &model.warnings {
        println!("warning: {warning}");
    }
    let Some(device) = device else {
        println!("not verified (--no-verify)");
        return Ok(Outcome::Success);
    };
    verify_after_convert(config, output, &device)
}

/// What `--blocks` wrote: each entry of the Sequential model, and for each block its layers
/// and why they could not be flattened.
pub fn blocks_report(
    output: &Path,
    model: &KerasModel,
    plan: &BlockPlan,
    target: Target,
) -> String {
    let blocks = plan.blocks().count();
    let mut text = format!(
        "wrote {}: Sequential '{}' with {} layers after its input, {} of them {} ({target})\n",
        output.display(),
        model.model.name,
        plan.entries.len(),
        blocks,
        if blocks == 1 { "a block" } else { "blocks" },
    );
    let names: Vec<&str> = plan
        .entries
        .iter()
        .map(|e| match e {
            Entry::Layer(n) => plan.layer(*n).name.as_str(),
            Entry::Block(b) => b.name.as_str(),
        })
        .collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let number = plan.entries.len().to_string().len();
    for (i, (entry, name)) in plan.entries.iter().zip(&names).enumerate() {
        let what = match entry {
            Entry::Layer(n) => plan.layer(*n).display_class().to_string(),
            Entry::Block(b) => {
                let layers: Vec<&str> = b
                    .nodes
                    .clone()
                    .map(|n| plan.flow.topo.nodes[n].name.as_str())
                    .collect();
                format!(
                    "block of {} layers: {}",
                    layers.len(),
                    shortened(&layers, 8)
                )
            }
        };
        text += &format!("  {:>number$}  {name:<width$}  {what}\n", i + 1);
        if let Entry::Block(b) = entry {
            for reason in &b.reasons {
                text += &format!("  {:number$}  {:width$}    {reason}\n", "", "");
            }
        }
    }
    text
}

/// At most `max` names, then how many more.
fn shortened(names: &[&str], max: usize) -> String {
    if names.len() <= max {
        return names.join(", ");
    }
    format!(
        "{}, … ({} more)",
        names[..max - 1].join(", "),
        names.len() - (max - 1)
    )
}

/// `--blocks` on a model that cannot be a Sequential model even of blocks (exit 1).
fn no_blocks(config: &ModelConfig, reasons: &[String]) -> Outcome {
    println!(
        "{} cannot be a Sequential model, even of blocks, so nothing was written:",
        config.model.display()
    );
    for r in reasons {
        println!("  - {r}");
    }
    Outcome::Negative
}

fn not_a_chain(
    config: &ModelConfig,
    model: &KerasModel,
    graph: Option<&Graph>,
    target: Target,
    problems: &[String],
) -> Outcome {
    println!(
        "{} cannot be a Sequential model, so nothing was written:",
        config.model.display()
    );
    for p in problems {
        println!("  - {p}");
    }
    if let Ok(BlockAnalysis::Blocks(plan)) = analyze_blocks(model, graph, target.dialect) {
        let blocks = plan.blocks().count();
        println!(
            "pass --blocks to write it as a Sequential model of {} layers, {} of them {} of nested layers",
            plan.entries.len(),
            blocks,
            if blocks == 1 { "a block" } else { "blocks" }
        );
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

//! `keqv inspect MODEL`: format, dialect, inputs and outputs, the layer table with whether keqv
//! runs each layer, and whether the model is a plain chain (and if not, why). It inspects every
//! model keqv can parse, including ones it cannot run: what a layer that cannot run (or one
//! downstream of it, or of an input whose open dimensions nothing settles) makes unknowable is
//! shown as `-`.

use serde::Serialize;

use super::Outcome;
use crate::cli::{ModelArgs, OutputFormat};
use crate::config::flags;
use crate::error::Result;
use crate::graph::linear::chain_problems;
use crate::graph::mappings;
use crate::graph::open_inputs::InputsFlag;
use crate::graph::support::{survey, Status, Survey};
use crate::graph::NodeId;
use crate::keras::{Format, KerasModel};

#[derive(Serialize)]
struct Summary {
    path: String,
    format: Format,
    dialect: String,
    keras_version: Option<String>,
    backend: Option<String>,
    name: String,
    class: String,
    parameters: usize,
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
    layers: Vec<Layer>,
    chain: bool,
    chain_problems: Vec<String>,
    /// Whether keqv can run the model: every layer runs and no input dimension is left open.
    runnable: bool,
    /// Inputs whose open dimensions nothing settled, and the flag that settles each.
    open_inputs: Vec<String>,
    warnings: Vec<String>,
    /// The layers that cannot run, as the summary line names them.
    #[serde(skip)]
    cannot_run: Vec<String>,
}

#[derive(Serialize)]
struct Tensor {
    name: String,
    /// The batch first; None for a dimension left open, or the whole shape where it is unknown.
    shape: Option<Vec<Option<usize>>>,
}

#[derive(Serialize)]
struct Layer {
    name: String,
    class: String,
    /// None where keqv cannot tell (the layer, or one it depends on, does not run).
    op: Option<String>,
    output_shape: Option<Vec<Option<usize>>>,
    parameters: usize,
    inbound: Vec<String>,
    /// `cpu+gpu`, `unsupported`, `custom: map it`, `Lambda: refused` or `mapped → BUILTIN`.
    status: String,
}

pub fn inspect(args: &ModelArgs, format: OutputFormat) -> Result<Outcome> {
    let config = flags::model(args)?;
    let model = KerasModel::load(&config.model, config.weights.as_deref())?;
    let survey = survey(
        &model,
        &config.build_options(&model, InputsFlag::Inspected)?,
    )?;
    mappings::check_one(&model.path, &survey.graph)?;
    let summary = summarize(&model, &survey);
    match format {
        OutputFormat::Json => println!("{}", crate::document::json(&summary)),
        OutputFormat::Text => print!("{}", render(&summary)),
    }
    Ok(Outcome::Success)
}

fn summarize(model: &KerasModel, survey: &Survey) -> Summary {
    let graph = &survey.graph;
    let shape_of = |id: &NodeId| {
        let node = graph.node(*id);
        if survey.known(&node.name) {
            return Some(batch_shape(&node.shape));
        }
        let open = survey
            .findings
            .open_inputs
            .iter()
            .find(|i| i.name == node.name);
        open.map(|i| {
            std::iter::once(None)
                .chain(i.dims.iter().copied())
                .collect()
        })
    };
    let tensor = |id: &NodeId| Tensor {
        name: graph.node(*id).name.clone(),
        shape: shape_of(id),
    };
    let problems = chain_problems(graph);
    Summary {
        path: model.path.display().to_string(),
        format: model.format,
        dialect: model.dialect.to_string(),
        keras_version: model.keras_version.clone(),
        backend: model.backend.clone(),
        name: model.model.name.clone(),
        class: model.model.class_name.clone(),
        parameters: graph.parameter_count(),
        inputs: graph.inputs.iter().map(tensor).collect(),
        outputs: graph.outputs.iter().map(tensor).collect(),
        layers: graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let known = survey.known(&n.name);
                Layer {
                    name: n.name.clone(),
                    class: n.class.clone(),
                    op: known.then(|| n.op.name()),
                    output_shape: shape_of(&NodeId(i)),
                    parameters: if n.name.contains('#') {
                        0
                    } else {
                        // A node counts its inner nodes' variables (a Bidirectional's two
                        // directions), each once (a layer's state nodes share its own), as
                        // Keras counts the layer's.
                        crate::graph::parameter_count(
                            std::iter::once(NodeId(i))
                                .chain(graph.inner_nodes(NodeId(i)))
                                .flat_map(|m| &graph.node(m).weights),
                        )
                    },
                    inbound: graph
                        .call_inputs(NodeId(i))
                        .iter()
                        .map(|id| graph.node(*id).name.clone())
                        .collect(),
                    status: survey.status(&n.name).label(),
                }
            })
            .collect(),
        chain: problems.is_empty(),
        chain_problems: problems,
        runnable: survey.runnable() && survey.findings.open_inputs.is_empty(),
        open_inputs: survey
            .findings
            .open_inputs
            .iter()
            .map(|i| i.advice.clone())
            .collect(),
        warnings: model.warnings.clone(),
        cannot_run: survey
            .findings
            .unrunnable
            .iter()
            .map(|u| {
                let why = match &u.status {
                    Status::Lambda => "refused".to_string(),
                    Status::Custom => {
                        format!("custom: map it with --custom {}=BUILTIN", u.map_name)
                    }
                    Status::KeywordTensor(keyword) => {
                        format!("called with a tensor as keyword '{keyword}': unsupported")
                    }
                    _ => "unsupported".to_string(),
                };
                format!("'{}' ({}): {why}", u.name, u.class)
            })
            .collect(),
    }
}

/// The summary line: whether keqv runs the model, and if not, which layers stop it.
fn runs_line(s: &Summary) -> String {
    match (s.cannot_run.len(), s.open_inputs.is_empty()) {
        (0, true) => "runs in keqv: yes".into(),
        (0, false) => {
            "runs in keqv: yes, once the open input dimensions are settled (see 'open' above)"
                .into()
        }
        (1, _) => format!("runs in keqv: no (1 layer cannot run: {})", s.cannot_run[0]),
        (n, _) => format!(
            "runs in keqv: no ({n} layers cannot run: {})",
            s.cannot_run.join(", ")
        ),
    }
}

fn batch_shape(sample: &[usize]) -> Vec<Option<usize>> {
    std::iter::once(None)
        .chain(sample.iter().map(|&d| Some(d)))
        .collect()
}

fn render(s: &Summary) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let format = match s.format {
        Format::Keras => ".keras archive",
        Format::H5 => "legacy .h5",
    };
    let version = s
        .keras_version
        .as_deref()
        .map(|v| format!(", written by Keras {v}"))
        .unwrap_or_default();
    let shape = |t: &Tensor| describe_shape(t.shape.as_deref());
    let tensors = |ts: &[Tensor]| {
        ts.iter()
            .map(|t| format!("{} {}", t.name, shape(t)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "{}", s.path);
    let _ = writeln!(out, "  format   {format}, {} dialect{version}", s.dialect);
    let _ = writeln!(
        out,
        "  model    {} ({}), {} layers, {} parameters",
        s.name,
        s.class,
        s.layers.len(),
        s.parameters
    );
    let _ = writeln!(out, "  inputs   {}", tensors(&s.inputs));
    let _ = writeln!(out, "  outputs  {}", tensors(&s.outputs));
    for open in &s.open_inputs {
        let _ = writeln!(out, "  open     {open}");
    }
    for w in &s.warnings {
        let _ = writeln!(out, "  warning  {w}");
    }
    let _ = writeln!(out);
    let rows: Vec<[String; 7]> = s
        .layers
        .iter()
        .map(|l| {
            [
                l.name.clone(),
                l.class.clone(),
                l.op.clone().unwrap_or_else(|| "-".into()),
                describe_shape(l.output_shape.as_deref()),
                l.parameters.to_string(),
                l.inbound.join(", "),
                l.status.clone(),
            ]
        })
        .collect();
    let header = [
        "layer",
        "class",
        "op",
        "output shape",
        "params",
        "inbound",
        "status",
    ]
    .map(String::from);
    out.push_str(&table(&header, &rows));
    let _ = writeln!(out);
    if s.chain {
        let _ = writeln!(out, "chain: yes (it can be written as a Sequential model)");
    } else {
        let _ = writeln!(out, "chain: no; it cannot be a Sequential model because:");
        for p in &s.chain_problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    let _ = writeln!(out, "{}", runs_line(s));
    out
}

/// A shape as `(None, 4, 8)`, open dimensions as `None`; `-` when it is unknown.
fn describe_shape(shape: Option<&[Option<usize>]>) -> String {
    shape.map_or("-".into(), crate::report::shape_text)
}

/// Left-aligned columns, numbers right-aligned, two spaces apart.
pub fn table<const N: usize>(header: &[String], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 4 {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        format!("  {}\n", parts.join("  ").trim_end())
    };
    let mut out = line(header);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

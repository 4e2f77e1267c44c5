//! `keqv inspect MODEL`: format, dialect, inputs and outputs, the layer table, and whether the
//! model is a plain chain (and if not, why).

use serde::Serialize;

use super::{load_model, Outcome};
use crate::cli::{ModelArgs, OutputFormat};
use crate::error::Result;
use crate::graph::linear::chain_problems;
use crate::graph::open_inputs::InputsFlag;
use crate::graph::Graph;
use crate::keras::{Format, KerasModel};
use crate::tensor::describe_sample_shape;

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
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct Tensor {
    name: String,
    shape: Vec<Option<usize>>,
}

#[derive(Serialize)]
struct Layer {
    name: String,
    class: String,
    op: String,
    output_shape: Vec<Option<usize>>,
    parameters: usize,
    inbound: Vec<String>,
}

pub fn inspect(args: &ModelArgs, format: OutputFormat) -> Result<Outcome> {
    let (model, graph) = load_model(args, InputsFlag::NotTaken)?;
    let summary = summarize(&model, &graph);
    match format {
        OutputFormat::Json => println!("{}", crate::document::json(&summary)),
        OutputFormat::Text => print!("{}", render(&summary)),
    }
    Ok(Outcome::Success)
}

fn summarize(model: &KerasModel, graph: &Graph) -> Summary {
    let tensor = |id: &crate::graph::NodeId| {
        let node = graph.node(*id);
        Tensor {
            name: node.name.clone(),
            shape: batch_shape(&node.shape),
        }
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
            .map(|n| Layer {
                name: n.name.clone(),
                class: n.class.clone(),
                op: n.op.name(),
                output_shape: batch_shape(&n.shape),
                parameters: if n.name.contains('#') {
                    0
                } else {
                    n.weights.iter().map(|w| w.value.len()).sum()
                },
                inbound: n
                    .inputs
                    .iter()
                    .map(|id| graph.node(*id).name.clone())
                    .collect(),
            })
            .collect(),
        chain: problems.is_empty(),
        chain_problems: problems,
        warnings: model.warnings.clone(),
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
    let shape = |t: &Tensor| {
        describe_sample_shape(
            &t.shape[1..]
                .iter()
                .map(|d| d.unwrap_or(0))
                .collect::<Vec<_>>(),
        )
    };
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
    for w in &s.warnings {
        let _ = writeln!(out, "  warning  {w}");
    }
    let _ = writeln!(out);
    let rows: Vec<[String; 6]> = s
        .layers
        .iter()
        .map(|l| {
            let sample: Vec<usize> = l.output_shape[1..].iter().map(|d| d.unwrap_or(0)).collect();
            [
                l.name.clone(),
                l.class.clone(),
                l.op.clone(),
                describe_sample_shape(&sample),
                l.parameters.to_string(),
                l.inbound.join(", "),
            ]
        })
        .collect();
    let header = ["layer", "class", "op", "output shape", "params", "inbound"].map(String::from);
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
    out
}

/// Left-aligned columns, numbers right-aligned, two spaces apart.
pub fn table(header: &[String], rows: &[[String; 6]]) -> String {
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

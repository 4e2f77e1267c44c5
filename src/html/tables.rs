//! The tables of a verify report: its facts, the per-output metrics, the per-layer errors and
//! the layer pairing.

use std::fmt::Write;

use super::e;
use crate::compare::Metrics;
use crate::report::{self, sci, xml as esc};
use crate::verify::per_layer::LayerReport;
use crate::verify::{OutputReport, SideInfo, VerifyReport};

pub(super) fn fact(out: &mut String, key: &str, value_html: &str) {
    let _ = writeln!(out, "<tr><th>{key}</th><td>{value_html}</td></tr>");
}

pub(super) fn side(s: &SideInfo) -> String {
    let writer = match &s.keras_version {
        Some(v) if v.starts_with("2.") => format!("tf-keras {v}"),
        Some(v) => format!("Keras {v}"),
        None => format!("{} dialect", s.dialect),
    };
    let format = match s.format {
        crate::keras::Format::Keras => ".keras",
        crate::keras::Format::H5 => ".h5",
    };
    format!(
        "<code>{}</code> ({format}, {}, {} layers, {})",
        esc(&s.path),
        esc(&writer),
        s.layers,
        if s.chain { "a chain" } else { "not a chain" }
    )
}

pub(super) fn outputs_table(outputs: &[OutputReport]) -> String {
    let mut out = String::from(
        "<table class=\"outputs\">\n<tr><th>output</th><th>shape</th><th>atol</th><th>rtol</th><th>max_abs</th><th>max_rel</th><th>mean_abs</th><th>snr</th><th>mismatches</th><th>min_atol to pass</th><th>top-1</th><th>worst element</th><th>verdict</th></tr>\n",
    );
    for o in outputs {
        let m = &o.metrics;
        let name = if o.name == o.converted_name {
            esc(&o.name)
        } else {
            format!("{} ↔ {}", esc(&o.name), esc(&o.converted_name))
        };
        let (class, word) = if m.passed {
            ("pass", "pass")
        } else {
            ("fail", "FAIL")
        };
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{:?}: {} vs {}</td><td class=\"{class}\">{word}</td></tr>",
            report::shape_text(&o.shape),
            e(o.tolerance.atol),
            e(o.tolerance.rtol),
            sci(m.max_abs),
            sci(m.max_rel),
            sci(m.mean_abs),
            report::snr(m),
            report::mismatches(m),
            m.min_atol_to_pass.map_or("none".into(), sci),
            report::top1(m),
            m.worst_index,
            report::value(m.worst_original),
            report::value(m.worst_converted),
        );
    }
    out.push_str("</table>\n");
    out
}

pub(super) fn layers_table(layers: &[LayerReport]) -> String {
    let mut out = format!(
        "<details class=\"layers\"><summary>{} layer pair(s)</summary>\n<table class=\"layers\">\n<tr><th>layer (converted ↔ original)</th><th>class</th><th>own max_abs</th><th>accumulated max_abs</th><th></th></tr>\n",
        layers.len()
    );
    for l in layers {
        let name = if l.original == l.converted {
            esc(&l.converted)
        } else {
            format!("{} ↔ {}", esc(&l.converted), esc(&l.original))
        };
        let cell = |m: &Option<Metrics>| m.as_ref().map_or("-".into(), |m| sci(m.max_abs));
        let flag = if let Some(wiring) = l
            .rewired
            .as_ref()
            .filter(|_| l.own_fails() || l.accumulated_fails())
        {
            format!("<span class=\"fail\">rewired here</span>: {}", esc(wiring))
        } else if l.own_fails() {
            "<span class=\"fail\">diverges here</span>".to_string()
        } else if l.accumulated_fails() {
            "<span class=\"warn\">inherited</span>".to_string()
        } else {
            l.note.as_deref().map(esc).unwrap_or_default()
        };
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{flag}</td></tr>",
            esc(&l.class),
            cell(&l.own),
            cell(&l.accumulated)
        );
    }
    out.push_str("</table></details>\n");
    out
}

/// The JSON name of a unit enum value ("weights", "identical").
fn tag<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub(super) fn structure(report: &VerifyReport) -> String {
    let s = &report.structure;
    let mut out = format!(
        "<details class=\"structure\"><summary>{} layer pair(s); {} only in the original, {} only in the converted</summary>\n<table class=\"pairs\">\n<tr><th>original</th><th>converted</th><th>matched by</th><th>weights</th><th>op change</th></tr>\n",
        s.pairs.len(),
        s.missing.len(),
        s.extra.len()
    );
    for p in &s.pairs {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.original),
            esc(&p.converted),
            tag(&p.matched_by),
            tag(&p.weights),
            p.op_change.as_deref().map(esc).unwrap_or_default()
        );
    }
    out.push_str("</table>\n");
    if !s.missing.is_empty() {
        let _ = writeln!(
            out,
            "<p>only in the original: {}</p>",
            esc(&s.missing.join(", "))
        );
    }
    if !s.extra.is_empty() {
        let _ = writeln!(
            out,
            "<p>only in the converted: {}</p>",
            esc(&s.extra.join(", "))
        );
    }
    out.push_str("</details>\n");
    out
}

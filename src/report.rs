//! Rendering a verify report: text for people, JSON and JUnit XML for CI.

use std::fmt::Write;

use crate::compare::{Metrics, Tolerance};
use crate::verify::{per_layer::LayerReport, MetricsOn, SideInfo, VerifyReport};

/// ANSI colour, used only when asked (a terminal without NO_COLOR).
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Colour on a terminal, unless NO_COLOR is set (any value, per no-color.org).
    pub fn for_stdout() -> Self {
        use std::io::IsTerminal;
        Style {
            color: std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn good(&self, text: &str) -> String {
        self.paint("1;32", text)
    }

    fn bad(&self, text: &str) -> String {
        self.paint("1;31", text)
    }

    fn warn(&self, text: &str) -> String {
        self.paint("33", text)
    }
}

pub fn json(report: &VerifyReport) -> String {
    crate::document::json(report)
}

pub fn text(report: &VerifyReport, style: Style) -> String {
    let mut out = String::new();
    let verdict = if report.equivalent {
        style.good("EQUIVALENT")
    } else {
        style.bad("NOT EQUIVALENT")
    };
    let _ = writeln!(out, "{verdict}");
    let s = &report.structure;
    let _ = writeln!(out, "  original   {}", side(&s.original));
    let _ = writeln!(out, "  converted  {}", side(&s.converted));
    let metrics = match report.metrics_on {
        MetricsOn::Gpu => " (differences reduced on the GPU)",
        MetricsOn::Host => "",
    };
    let _ = writeln!(out, "  device     {}{metrics}", report.device);
    for (key, text) in report.assumptions.lines() {
        let _ = writeln!(out, "  {key:<10} {text}");
    }
    let _ = writeln!(out, "  tolerance  {}", describe_tolerance(report.tolerance));
    for f in &report.findings {
        let _ = writeln!(out, "  {} {f}", style.bad("finding:"));
    }
    for w in &report.warnings {
        let _ = writeln!(out, "  {} {w}", style.warn("warning:"));
    }
    let _ = writeln!(out);
    if report.outputs.is_empty() {
        let _ = writeln!(
            out,
            "no output pair could be compared: their signatures differ (findings above)"
        );
    } else {
        out.push_str(&outputs_table(report, style));
    }
    let _ = writeln!(out);
    out.push_str(&structure_lines(report));
    if let Some(layers) = &report.layers {
        let _ = writeln!(out);
        out.push_str(&layers_table(layers, style));
    }
    match (&report.first_divergence, &report.layers) {
        (Some(d), _) => {
            let what = match (&d.rewired, d.own_fails()) {
                (Some(wiring), _) => format!(" is wired differently ({wiring}), and its error"),
                (None, true) => ": its own error".into(),
                (None, false) => ": the accumulated error".into(),
            };
            let m = d
                .own
                .as_ref()
                .filter(|_| d.own_fails())
                .or(d.accumulated.as_ref());
            let detail = m
                .map(|m| format!(": max_abs {:.3e} at {:?}", m.max_abs, m.worst_index))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "\n{} {} ({}) ↔ {}{what} exceeds the tolerance{detail}",
                style.bad("first divergence:"),
                d.converted,
                d.class,
                d.original
            );
        }
        (None, Some(_)) if report.findings.is_empty() => {
            let _ = writeln!(out, "\nno layer exceeds the tolerance");
        }
        (None, Some(_)) => {
            let _ = writeln!(
                out,
                "\nno paired layer exceeds the tolerance: the models differ in what they output (findings above), not in a layer both have"
            );
        }
        _ => {}
    }
    out
}

/// A model's value for people: the shortest text that reads back as the same float32 (the
/// precision the models ran in), not the 17 digits of its float64 copy.
pub(crate) fn value(x: f64) -> String {
    format!("{}", x as f32)
}

/// A metric for people: `0` when exact, else three significant digits.
pub(crate) fn sci(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else {
        format!("{x:.2e}")
    }
}

fn side(s: &SideInfo) -> String {
    let format = match s.format {
        crate::keras::Format::Keras => ".keras",
        crate::keras::Format::H5 => ".h5",
    };
    let writer = match &s.keras_version {
        Some(v) if v.starts_with("2.") => format!("tf-keras {v}"),
        Some(v) => format!("Keras {v}"),
        None => format!("{} dialect", s.dialect),
    };
    let chain = if s.chain { "a chain" } else { "not a chain" };
    format!(
        "{}  ({format}, {writer}, {} layers, {chain})",
        s.path, s.layers
    )
}

fn describe_tolerance(t: Tolerance) -> String {
    format!(
        "|a − b| ≤ {:e} + {:e}·|b| (b: the original)",
        t.atol, t.rtol
    )
}

/// An output's shape for people: "(None, 10)".
pub(crate) fn shape_text(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape
        .iter()
        .map(|d| d.map_or("None".into(), |d| d.to_string()))
        .collect();
    format!("({})", dims.join(", "))
}

/// "3/80", with the NaN/Inf mismatches among them when there are any.
pub(crate) fn mismatches(m: &Metrics) -> String {
    let mut text = format!("{}/{}", m.mismatches, m.count);
    if m.nan_mismatch + m.inf_mismatch > 0 {
        text.push_str(&format!(
            " ({} NaN, {} Inf)",
            m.nan_mismatch, m.inf_mismatch
        ));
    }
    text
}

/// Top-1 agreement as a percentage, "-" for outputs that are not class scores.
pub(crate) fn top1(m: &Metrics) -> String {
    m.top1_agreement
        .map_or("-".into(), |t| format!("{:.1}%", t * 100.0))
}

/// The signal-to-noise ratio for people: "41.3 dB", "∞" for identical outputs, "-" without a
/// finite pair.
pub(crate) fn snr(m: &Metrics) -> String {
    match m.snr_db {
        Some(db) => format!("{db:.1} dB"),
        None if m.max_abs == 0.0 => "∞".into(),
        None => "-".into(),
    }
}

fn outputs_table(report: &VerifyReport, style: Style) -> String {
    let header = [
        "output",
        "shape",
        "max_abs",
        "max_rel",
        "mean_abs",
        "snr",
        "mismatches",
        "min_atol",
        "top-1",
        "verdict",
    ];
    let rows: Vec<Vec<String>> = report
        .outputs
        .iter()
        .map(|o| {
            let m = &o.metrics;
            let name = if o.name == o.converted_name {
                o.name.clone()
            } else {
                format!("{} ↔ {}", o.name, o.converted_name)
            };
            vec![
                name,
                shape_text(&o.shape),
                sci(m.max_abs),
                sci(m.max_rel),
                sci(m.mean_abs),
                snr(m),
                mismatches(m),
                m.min_atol_to_pass.map_or("none".into(), sci),
                top1(m),
                if m.passed {
                    "pass".into()
                } else {
                    "FAIL".into()
                },
            ]
        })
        .collect();
    let mut out = columns(&header, &rows, |row, col, cell| {
        match (col, row.map(|r| r[9].as_str())) {
            (9, Some("pass")) => style.good(cell),
            (9, Some(_)) => style.bad(cell),
            _ => cell.to_string(),
        }
    });
    for o in report.outputs.iter().filter(|o| !o.metrics.passed) {
        let m = &o.metrics;
        let _ = writeln!(
            out,
            "  worst element of {} at {:?}: original {}, converted {}",
            o.name,
            m.worst_index,
            value(m.worst_original),
            value(m.worst_converted)
        );
    }
    out
}

fn structure_lines(report: &VerifyReport) -> String {
    let s = &report.structure;
    let mut out = String::new();
    let count = |by: &str| {
        s.pairs
            .iter()
            .filter(|p| format!("{:?}", p.matched_by).to_lowercase() == by)
            .count()
    };
    let weighted: Vec<_> = s
        .pairs
        .iter()
        .filter(|p| p.weights != crate::verify::pairing::WeightState::None)
        .collect();
    let identical = weighted
        .iter()
        .filter(|p| p.weights == crate::verify::pairing::WeightState::Identical)
        .count();
    let _ = writeln!(
        out,
        "layers: {} paired ({} by name, {} by weights, {} by position, {} by inputs); weights bit-identical in {}/{} weighted pairs",
        s.pairs.len(),
        count("name"),
        count("weights"),
        count("position"),
        count("inputs"),
        identical,
        weighted.len()
    );
    for p in s
        .pairs
        .iter()
        .filter(|p| p.weights == crate::verify::pairing::WeightState::Different)
    {
        let _ = writeln!(out, "  weights differ: {} ↔ {}", p.original, p.converted);
    }
    if !s.missing.is_empty() {
        let _ = writeln!(out, "  only in the original: {}", s.missing.join(", "));
    }
    if !s.extra.is_empty() {
        let _ = writeln!(out, "  only in the converted: {}", s.extra.join(", "));
    }
    out
}

fn layers_table(layers: &[LayerReport], style: Style) -> String {
    let header = [
        "layer (converted ↔ original)",
        "class",
        "own max_abs",
        "accumulated max_abs",
        "",
    ];
    let rows: Vec<Vec<String>> = layers
        .iter()
        .map(|l| {
            let name = if l.original == l.converted {
                l.converted.clone()
            } else {
                format!("{} ↔ {}", l.converted, l.original)
            };
            let cell = |m: &Option<Metrics>| m.as_ref().map_or("-".into(), |m| sci(m.max_abs));
            let flag = if l.rewired.is_some() && (l.own_fails() || l.accumulated_fails()) {
                "rewired here"
            } else if l.own_fails() {
                "diverges here"
            } else if l.accumulated_fails() {
                "inherited"
            } else {
                ""
            };
            vec![
                name,
                l.class.clone(),
                cell(&l.own),
                cell(&l.accumulated),
                flag.into(),
            ]
        })
        .collect();
    columns(&header, &rows, |_, col, cell| match (col, cell) {
        (4, "diverges here" | "rewired here") => style.bad(cell),
        (4, "inherited") => style.warn(cell),
        _ => cell.to_string(),
    })
}

/// Aligned columns, two spaces apart; `paint` may colour a cell after its width is measured.
fn columns(
    header: &[&str],
    rows: &[Vec<String>],
    paint: impl Fn(Option<&Vec<String>>, usize, &str) -> String,
) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |row: Option<&Vec<String>>, cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                format!("{}{}", paint(row, i, c), " ".repeat(pad))
            })
            .collect();
        format!("  {}\n", parts.join("  ").trim_end())
    };
    let mut out = line(None, header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(Some(row), row.clone()));
    }
    out
}

/// JUnit XML: one test suite, one test case per output (plus one per finding), the metrics in
/// the failure message.
pub fn junit(report: &VerifyReport, suite: &str) -> String {
    let mut cases = String::new();
    let mut failures = 0;
    for o in &report.outputs {
        let m = &o.metrics;
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"{}\">",
            xml(suite),
            xml(&o.name)
        );
        if !m.passed {
            failures += 1;
            let msg = format!(
                "max_abs {:.3e}, max_rel {:.3e}, mean_abs {:.3e}, snr {}, {} of {} elements mismatch ({} NaN, {} Inf), worst at {:?}: original {} vs converted {}, min_atol_to_pass {}",
                m.max_abs, m.max_rel, m.mean_abs, snr(m), m.mismatches, m.count, m.nan_mismatch, m.inf_mismatch, m.worst_index,
                value(m.worst_original), value(m.worst_converted),
                m.min_atol_to_pass.map_or("none".into(), |a| format!("{a:.3e}"))
            );
            let _ = write!(
                cases,
                "<failure message=\"{}\" type=\"not-equivalent\"/>",
                xml(&msg)
            );
        }
        cases.push_str("</testcase>\n");
    }
    for f in &report.findings {
        failures += 1;
        let _ = writeln!(
            cases,
            "    <testcase classname=\"{}\" name=\"signature\"><failure message=\"{}\" type=\"not-equivalent\"/></testcase>",
            xml(suite),
            xml(f)
        );
    }
    let tests = report.outputs.len() + report.findings.len();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">\n{}{cases}  </testsuite>\n</testsuites>\n",
        xml(suite),
        junit_properties(report)
    )
}

/// The comparison's premises as JUnit properties: files, devices, tolerance, assumptions.
fn junit_properties(report: &VerifyReport) -> String {
    let s = &report.structure;
    let mut facts = vec![
        ("original", s.original.path.clone()),
        ("converted", s.converted.path.clone()),
        ("device.original", report.devices.original.clone()),
        ("device.converted", report.devices.converted.clone()),
        ("tolerance", describe_tolerance(report.tolerance)),
    ];
    facts.extend(report.assumptions.lines());
    let mut out = String::from("    <properties>\n");
    for (name, value) in facts {
        let _ = writeln!(
            out,
            "      <property name=\"{}\" value=\"{}\"/>",
            xml(name),
            xml(&value)
        );
    }
    out.push_str("    </properties>\n");
    out
}

pub fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

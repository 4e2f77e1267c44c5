//! Rendering a suite run: one line per finished case, the summary table, JUnit XML (one test
//! case per case, the metrics in the failure message) and JSON.

use std::fmt::Write;

use super::manifest::Verdict;
use super::run::{CaseResult, SuiteReport};
use crate::report::{sci, xml, Style};
use crate::verify::{OutputReport, VerifyReport};

/// The largest max_abs over the outputs of a report.
pub fn max_abs(report: &VerifyReport) -> Option<f64> {
    report
        .outputs
        .iter()
        .map(|o| o.metrics.max_abs)
        .reduce(f64::max)
}

/// A short name of the device that ran a case: "cpu", "llvmpipe/Vulkan", "cpu / llvmpipe/GL"
/// when the sides ran on different devices.
pub fn short_device(device: &str) -> String {
    let one = |d: &str| {
        let name = d.split(" (").next().unwrap_or(d);
        let name = name.split(" — ").next().unwrap_or(name).trim();
        match d.split_once(" — ") {
            Some((_, rest)) => format!("{name}/{}", rest.split(',').next().unwrap_or(rest).trim()),
            None => name.to_string(),
        }
    };
    device.split(" / ").map(one).collect::<Vec<_>>().join(" / ")
}

/// The metrics of one output on one line, as in `keqv verify --junit`.
pub fn output_metrics(o: &OutputReport) -> String {
    let m = &o.metrics;
    let name = if o.name == o.converted_name {
        o.name.clone()
    } else {
        format!("{} ↔ {}", o.name, o.converted_name)
    };
    format!(
        "{name}: {}; max_abs {:.3e}, max_rel {:.3e}, mean_abs {:.3e}, {} of {} elements mismatch ({} NaN, {} Inf), worst at {:?}: original {} vs converted {}, min_atol_to_pass {} (atol {:e}, rtol {:e})",
        if m.passed { "pass" } else { "FAIL" },
        m.max_abs,
        m.max_rel,
        m.mean_abs,
        m.mismatches,
        m.count,
        m.nan_mismatch,
        m.inf_mismatch,
        m.worst_index,
        crate::report::value(m.worst_original),
        crate::report::value(m.worst_converted),
        m.min_atol_to_pass.map_or("none".into(), |a| format!("{a:.3e}")),
        o.tolerance.atol,
        o.tolerance.rtol,
    )
}

/// Everything measured in a case, one fact a line: findings, per-output metrics, the first
/// divergent layer, warnings; or the error.
pub fn details(result: &CaseResult) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(reason) = &result.reason {
        lines.push(reason.clone());
    }
    if let Some(e) = &result.error {
        lines.push(format!("error: {e}"));
    }
    if let Some(r) = &result.report {
        lines.push(format!("device: {}", r.device));
        lines.extend(
            r.assumptions
                .lines()
                .into_iter()
                .map(|(key, text)| format!("{key}: {text}")),
        );
        lines.extend(r.findings.iter().map(|f| format!("finding: {f}")));
        lines.extend(r.outputs.iter().map(output_metrics));
        if let Some(d) = &r.first_divergence {
            let m = d
                .own
                .as_ref()
                .filter(|_| d.own_fails())
                .or(d.accumulated.as_ref());
            lines.push(format!(
                "first divergence: {} ({}) ↔ {}{}",
                d.converted,
                d.class,
                d.original,
                m.map(|m| format!(", max_abs {:.3e} at {:?}", m.max_abs, m.worst_index))
                    .unwrap_or_default()
            ));
        }
        lines.extend(r.warnings.iter().map(|w| format!("warning: {w}")));
    }
    lines
}

/// What a case gave, briefly: "not equivalent (max_abs 2.81e-1, first divergence dense_2)".
pub fn brief(result: &CaseResult) -> String {
    match (&result.report, &result.error) {
        (Some(r), _) => {
            let mut text = result.result.to_string();
            let mut facts = Vec::new();
            if let Some(m) = max_abs(r) {
                facts.push(format!("max_abs {}", sci(m)));
            }
            if !r.findings.is_empty() {
                facts.push(format!("{} finding(s)", r.findings.len()));
            }
            if let Some(d) = r.first_divergence.as_ref().filter(|_| !r.equivalent) {
                facts.push(format!("first divergence {}", d.converted));
            }
            if !facts.is_empty() {
                text.push_str(&format!(" ({})", facts.join(", ")));
            }
            text
        }
        (None, Some(e)) => format!("error: {e}"),
        (None, None) => result.result.to_string(),
    }
}

/// The line printed as a case finishes when there is no progress bar.
pub fn progress_line(done: usize, total: usize, result: &CaseResult, style: Style) -> String {
    let width = total.to_string().len();
    let status = if result.passed {
        paint(style, "1;32", "ok  ")
    } else {
        paint(style, "1;31", "FAIL")
    };
    let mut line = format!(
        "[{done:>width$}/{total}] {status} {}: {} ({:.1}s)",
        result.name,
        brief(result),
        result.duration_s
    );
    if let Some(reason) = &result.reason {
        line.push_str(&format!(" — {reason}"));
    }
    line
}

fn paint(style: Style, code: &str, text: &str) -> String {
    if style.color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The summary table, the details of every failed case, and the closing count line.
pub fn summary(report: &SuiteReport, style: Style) -> String {
    let header = [
        "case", "expected", "got", "max_abs", "device", "time", "result",
    ];
    let rows: Vec<Vec<String>> = report
        .cases
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.expect.to_string(),
                c.result.to_string(),
                c.report.as_ref().and_then(max_abs).map_or("-".into(), sci),
                c.report
                    .as_ref()
                    .map_or("-".into(), |r| short_device(&r.device)),
                format!("{:.1}s", c.duration_s),
                if c.passed { "ok".into() } else { "FAIL".into() },
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String], colour: Option<&str>| {
        let last = cells.len() - 1;
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| match (i == last, colour) {
                (true, Some(code)) => paint(style, code, c),
                (true, None) => c.clone(),
                _ => format!("{c}{}", " ".repeat(w - c.chars().count())),
            })
            .collect();
        format!("  {}\n", parts.join("  "))
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}), shard {}: {} case(s) in {:.1}s",
        report.suite, report.manifest, report.shard, report.total, report.duration_s
    );
    out.push_str(&line(
        &header.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        None,
    ));
    for row in &rows {
        let colour = if row[6] == "ok" { "1;32" } else { "1;31" };
        out.push_str(&line(row, Some(colour)));
    }
    let failed: Vec<&CaseResult> = report.cases.iter().filter(|c| !c.passed).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\n{}", paint(style, "1;31", "failed cases:"));
        for c in failed {
            let _ = writeln!(out, "  {}", c.name);
            for l in details(c) {
                let _ = writeln!(out, "    {l}");
            }
        }
    }
    let _ = writeln!(
        out,
        "\nsuite: {} passed, {} failed",
        report.total - report.failed,
        report.failed
    );
    out
}

pub fn json(report: &SuiteReport) -> String {
    crate::document::json(report)
}

/// JUnit XML: one test suite, one test case per case. An unmet expectation is a `<failure>`
/// (an unexpected error an `<error>`) whose message says what was expected and what the case
/// gave, with the metrics; a passing case's measurements are in its `<system-out>`.
pub fn junit(report: &SuiteReport) -> String {
    let mut cases = String::new();
    let (mut failures, mut errors) = (0, 0);
    for c in &report.cases {
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
            xml(&report.suite),
            xml(&c.name),
            c.duration_s
        );
        let lines = details(c);
        if !c.passed {
            let unexpected_error = c.result == Verdict::Error && c.expect != Verdict::Error;
            let (tag, kind) = if unexpected_error {
                errors += 1;
                ("error", "error")
            } else {
                failures += 1;
                ("failure", "unexpected-result")
            };
            let _ = write!(
                cases,
                "\n      <{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>",
                xml(&lines.join("; ")),
                xml(&lines.join("\n"))
            );
        }
        let mut out = format!(
            "expected: {}\ngot: {}\noriginal: {}\nconverted: {}\n",
            c.expect,
            brief(c),
            c.original,
            c.converted
        );
        if c.passed {
            // A failed case's measurements are in its failure's text already.
            for l in &lines {
                out.push_str(l);
                out.push('\n');
            }
        }
        let _ = write!(cases, "\n      <system-out>{}</system-out>", xml(&out));
        cases.push_str("\n    </testcase>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"keqv suite\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">\n  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{time:.3}\">\n    <properties>\n      <property name=\"manifest\" value=\"{manifest}\"/>\n      <property name=\"shard\" value=\"{shard}\"/>\n    </properties>\n{cases}  </testsuite>\n</testsuites>\n",
        tests = report.total,
        time = report.duration_s,
        name = xml(&report.suite),
        manifest = xml(&report.manifest),
        shard = report.shard,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_shortened_for_the_table() {
        assert_eq!(short_device("cpu (f32, 2 threads)"), "cpu");
        assert_eq!(
            short_device("llvmpipe (LLVM 15.0.6, 256 bits) — Vulkan, software"),
            "llvmpipe/Vulkan"
        );
        assert_eq!(
            short_device("cpu (f32, 2 threads) / llvmpipe (LLVM 15.0.6, 256 bits) — GL, software"),
            "cpu / llvmpipe/GL"
        );
        assert_eq!(
            short_device("NVIDIA H100 — Vulkan, discrete"),
            "NVIDIA H100/Vulkan"
        );
    }
}

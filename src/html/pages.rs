//! The pages themselves: a verify run's, and a suite run's with every case in it.

use std::fmt::Write;

use super::e;
use super::frame::page;
use super::plots::{histogram_figure, layer_plot};
use super::tables::{fact, layers_table, outputs_table, side, structure};
use crate::report::{sci, xml as esc};
use crate::suite::report::{brief, details, max_abs, short_device};
use crate::suite::{CaseResult, SuiteReport};
use crate::verify::VerifyReport;

/// The page of one `keqv verify` run.
pub fn verify_page(report: &VerifyReport) -> String {
    let (class, verdict) = verdict(report.equivalent);
    let s = &report.structure;
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<header><h1>keqv verify</h1><p class=\"verdict {class}\" id=\"verdict\">{verdict}</p></header>"
    );
    body.push_str(&verify_body(report, "r", 2));
    page(
        &format!(
            "keqv verify: {verdict} — {} vs {}",
            s.original.path, s.converted.path
        ),
        &body,
    )
}

/// The page of one `keqv suite` run: the summary table, then every case.
pub fn suite_page(suite: &SuiteReport) -> String {
    let mut body = String::new();
    let (class, word) = if suite.passed {
        ("pass", "PASSED")
    } else {
        ("fail", "FAILED")
    };
    let summary = if suite.passed {
        format!(
            "{} of {} case(s) meet their expectation",
            suite.total, suite.total
        )
    } else {
        format!(
            "{} of {} case(s) do not meet their expectation",
            suite.failed, suite.total
        )
    };
    let _ = writeln!(
        body,
        "<header><h1>keqv suite: {}</h1><p class=\"verdict {class}\" id=\"verdict\">{word}</p> <span class=\"summary\">{summary}</span></header>",
        esc(&suite.suite)
    );
    let mut devices: Vec<String> = suite
        .cases
        .iter()
        .filter_map(|c| c.report.as_ref().map(|r| r.device.clone()))
        .collect();
    devices.sort();
    devices.dedup();
    body.push_str("<table class=\"facts\">\n");
    fact(&mut body, "manifest", &esc(&suite.manifest));
    fact(&mut body, "shard", &suite.shard.to_string());
    fact(
        &mut body,
        "cases",
        &format!(
            "{} passed, {} failed",
            suite.total - suite.failed,
            suite.failed
        ),
    );
    fact(&mut body, "time", &format!("{:.1} s", suite.duration_s));
    fact(
        &mut body,
        "devices",
        &devices
            .iter()
            .map(|d| esc(d))
            .collect::<Vec<_>>()
            .join("<br>"),
    );
    body.push_str("</table>\n<h2>Cases</h2>\n<table class=\"cases\">\n<tr><th>#</th><th>case</th><th>expected</th><th>got</th><th>max_abs</th><th>device</th><th>time</th><th>result</th></tr>\n");
    for (i, c) in suite.cases.iter().enumerate() {
        let (row, class, word) = case_marks(c.passed);
        let _ = writeln!(
            body,
            "<tr class=\"case-row {row}\"><td class=\"num\">{}</td><td><a href=\"#case-{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{:.1}s</td><td class=\"result {class}\">{word}</td></tr>",
            i + 1,
            i + 1,
            esc(&c.name),
            c.expect,
            c.result,
            c.report.as_ref().and_then(max_abs).map_or("-".into(), sci),
            c.report.as_ref().map_or("-".into(), |r| esc(&short_device(&r.device))),
            c.duration_s
        );
    }
    body.push_str("</table>\n");
    for (i, c) in suite.cases.iter().enumerate() {
        body.push_str(&case_section(c, i + 1));
    }
    page(
        &format!("keqv suite: {} — {word} ({summary})", suite.suite),
        &body,
    )
}

fn case_section(c: &CaseResult, number: usize) -> String {
    let mut out = String::new();
    let (row, class, word) = case_marks(c.passed);
    let _ = write!(
        out,
        "<section class=\"case {row}\" id=\"case-{number}\">\n<h2>{number}. {} <span class=\"badge {class}\">{word}</span></h2>\n",
        esc(&c.name)
    );
    let _ = writeln!(
        out,
        "<p>expected <b>{}</b>, got <b>{}</b> in {:.2} s</p>",
        c.expect,
        // An error is shown in full below.
        esc(&if c.error.is_some() {
            c.result.to_string()
        } else {
            brief(c)
        }),
        c.duration_s
    );
    if let Some(reason) = &c.reason {
        let _ = writeln!(out, "<p class=\"reason fail\">{}</p>", esc(reason));
    }
    if let Some(e) = &c.error {
        let _ = writeln!(out, "<pre class=\"error\">{}</pre>", esc(e));
    }
    match &c.report {
        Some(r) => {
            let open = if c.passed { "" } else { " open" };
            let _ = writeln!(
                out,
                "<details{open}><summary>report: metrics, error histograms, per-layer error, structure</summary>"
            );
            out.push_str(&verify_body(r, &format!("c{number}"), 3));
            out.push_str("</details>\n");
        }
        None => {
            let _ = writeln!(
                out,
                "<p class=\"note\">original {}<br>converted {}</p>",
                esc(&c.original),
                esc(&c.converted)
            );
            if c.error.is_none() {
                for line in details(c) {
                    let _ = writeln!(out, "<p>{}</p>", esc(&line));
                }
            }
        }
    }
    out.push_str("</section>\n");
    out
}

/// A case's row class, result class and word, by whether it met its expectation.
fn case_marks(passed: bool) -> (&'static str, &'static str, &'static str) {
    if passed {
        ("met", "pass", "ok")
    } else {
        ("unmet", "fail", "FAIL")
    }
}

fn verdict(equivalent: bool) -> (&'static str, &'static str) {
    if equivalent {
        ("pass", "EQUIVALENT")
    } else {
        ("fail", "NOT EQUIVALENT")
    }
}

/// Everything about one verify run below its verdict; `id` prefixes element ids, `h` is the
/// heading level of its sections.
fn verify_body(report: &VerifyReport, id: &str, h: u8) -> String {
    let mut out = String::new();
    let (class, word) = verdict(report.equivalent);
    let s = &report.structure;
    out.push_str("<table class=\"facts\">\n");
    if h > 2 {
        fact(
            &mut out,
            "verdict",
            &format!("<span class=\"{class}\">{word}</span>"),
        );
    }
    fact(&mut out, "original", &side(&s.original));
    fact(&mut out, "converted", &side(&s.converted));
    fact(&mut out, "device", &esc(&report.device));
    for (key, text) in report.assumptions.lines() {
        fact(&mut out, key, &esc(&text));
    }
    fact(
        &mut out,
        "tolerance",
        &format!(
            "|a − b| ≤ {} + {}·|b| (b: the original)",
            e(report.tolerance.atol),
            e(report.tolerance.rtol)
        ),
    );
    out.push_str("</table>\n");
    if !report.findings.is_empty() {
        out.push_str("<ul class=\"findings\">\n");
        for f in &report.findings {
            let _ = writeln!(out, "<li class=\"fail\">finding: {}</li>", esc(f));
        }
        out.push_str("</ul>\n");
    }
    if !report.warnings.is_empty() {
        out.push_str("<ul class=\"warnings\">\n");
        for w in &report.warnings {
            let _ = writeln!(out, "<li>warning: {}</li>", esc(w));
        }
        out.push_str("</ul>\n");
    }

    let _ = writeln!(out, "<h{h}>Outputs</h{h}>");
    out.push_str(&outputs_table(&report.outputs));

    let _ = writeln!(out, "<h{h}>Absolute errors |a − b|</h{h}>");
    if report.outputs.is_empty() {
        out.push_str("<p class=\"note\">No output pair could be compared.</p>\n");
    }
    for (i, o) in report.outputs.iter().enumerate() {
        out.push_str(&histogram_figure(o, &format!("{id}-hist-{i}")));
    }

    let _ = writeln!(out, "<h{h}>Per-layer error</h{h}>");
    match &report.layers {
        Some(layers) if !layers.is_empty() => {
            out.push_str(&layer_plot(
                layers,
                report.tolerance.atol,
                report.first_divergence.as_ref(),
                &format!("{id}-layers"),
            ));
            match &report.first_divergence {
                Some(d) => {
                    let what = if d.own_fails() {
                        "its own error"
                    } else {
                        "the accumulated error"
                    };
                    let _ = writeln!(
                        out,
                        "<p class=\"divergence fail\">first divergence: {} ({}) ↔ {}: {what} exceeds the tolerance</p>",
                        esc(&d.converted),
                        esc(&d.class),
                        esc(&d.original)
                    );
                }
                None => out.push_str("<p class=\"pass\">no layer exceeds the tolerance</p>\n"),
            }
            out.push_str(&layers_table(layers));
        }
        Some(_) => out.push_str("<p class=\"note\">No layer pair to compare.</p>\n"),
        None => out.push_str(
            "<p class=\"note\">Not measured: run with --per-layer (keqv verify) or per_layer = true (suite manifests).</p>\n",
        ),
    }

    let _ = writeln!(out, "<h{h}>Structure</h{h}>");
    out.push_str(&structure(report));
    out
}

//! Self-contained HTML reports for `keqv verify --html` and `keqv suite --html`: one file with
//! inline CSS and inline SVG (no script, no font, no image, nothing fetched), readable offline
//! and in a CI artifact viewer.
//!
//! A verify report shows the verdict, the facts (files, device, inputs, tolerance), the
//! per-output metrics, a histogram of |a − b| per output over the fixed log-scale bins of
//! [`Histogram`], the per-layer error along the graph as a plot (own and accumulated max_abs,
//! log scale, the tolerance and the first divergence marked) with its table, and the layer
//! pairing. A suite report shows the summary table and every case's report.

use std::fmt::Write;

use crate::compare::{Histogram, Metrics, HISTOGRAM_BINS};
use crate::report::{self, sci, xml as esc};
use crate::suite::report::{brief, details, max_abs, short_device};
use crate::suite::{CaseResult, SuiteReport};
use crate::verify::per_layer::LayerReport;
use crate::verify::{OutputReport, SideInfo, VerifyReport};

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
        let (row, class, word) = if c.passed {
            ("met", "pass", "ok")
        } else {
            ("unmet", "fail", "FAIL")
        };
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
    let (row, class, word) = if c.passed {
        ("met", "pass", "ok")
    } else {
        ("unmet", "fail", "FAIL")
    };
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

/// A tolerance for people: `0`, `1e-5`, `2.5e-3`.
fn e(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else {
        format!("{x:e}")
    }
}

fn fact(out: &mut String, key: &str, value_html: &str) {
    let _ = writeln!(out, "<tr><th>{key}</th><td>{value_html}</td></tr>");
}

fn side(s: &SideInfo) -> String {
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

fn outputs_table(outputs: &[OutputReport]) -> String {
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

/// Where a bin stands against the tolerance's atol, for its colour.
fn bin_class(i: usize, atol: f64) -> &'static str {
    match Histogram::range(i) {
        None => "bin-over",
        Some((0.0, 0.0)) => "bin-zero",
        Some((_, high)) if high <= atol => "bin-under",
        Some((low, _)) if low >= atol => "bin-over",
        Some(_) => "bin-edge",
    }
}

/// The x position of `atol` on the histogram's axis, as a fraction of a bin past bin 0's start.
fn atol_position(atol: f64) -> f64 {
    if atol <= 0.0 {
        return 1.0;
    }
    let bin = Histogram::bin_of(atol);
    let frac = match Histogram::range(bin) {
        Some((low, high)) if low > 0.0 && high.is_finite() => (atol / low).log10(),
        _ => 0.5,
    };
    bin as f64 + frac.clamp(0.0, 1.0)
}

fn histogram_figure(o: &OutputReport, id: &str) -> String {
    let m: &Metrics = &o.metrics;
    let h = &m.histogram;
    let atol = o.tolerance.atol;
    let (width, height) = (660.0, 230.0);
    let (left, right, top, bottom) = (50.0, 10.0, 18.0, 58.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let bin_w = plot_w / HISTOGRAM_BINS as f64;
    let max = h.counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"histogram\" id=\"{id}\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"histogram of |a − b| of {}\">",
        esc(&o.name)
    );
    // y axis: 0, half, max.
    for frac in [0.0, 0.5, 1.0] {
        let y = top + plot_h * (1.0 - frac);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + plot_w,
            left - 6.0,
            y + 3.5,
            (max * frac).round()
        );
    }
    for (i, &count) in h.counts.iter().enumerate() {
        let x = left + i as f64 * bin_w;
        let bar_h = count as f64 / max * plot_h;
        let label = Histogram::label(i);
        let range = match Histogram::range(i) {
            Some((0.0, 0.0)) => "exactly equal".to_string(),
            Some((low, high)) if high.is_infinite() => format!("≥ {low:e}"),
            Some((0.0, high)) => format!("(0, {high:e})"),
            Some((low, high)) => format!("[{low:e}, {high:e})"),
            None => "NaN/Inf mismatches".to_string(),
        };
        let _ = write!(
            svg,
            "<rect class=\"bar {}\" data-bin=\"{i}\" data-count=\"{count}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar_h:.1}\"><title>{}: {count} element(s)</title></rect>",
            bin_class(i, atol),
            x + 3.0,
            top + plot_h - bar_h,
            bin_w - 6.0,
            esc(&range)
        );
        if count > 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{count}</text>",
                x + bin_w / 2.0,
                top + plot_h - bar_h - 3.0
            );
        }
        let (lx, ly) = (x + bin_w / 2.0 + 3.0, top + plot_h + 12.0);
        let _ = write!(
            svg,
            "<text x=\"{lx:.1}\" y=\"{ly:.1}\" text-anchor=\"end\" transform=\"rotate(-40 {lx:.1} {ly:.1})\">{}</text>",
            esc(&label)
        );
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>",
        top + plot_h,
        left + plot_w,
        top + plot_h
    );
    let ax = left + atol_position(atol) * bin_w;
    let _ = write!(
        svg,
        "<line class=\"atol\" x1=\"{ax:.1}\" y1=\"{top}\" x2=\"{ax:.1}\" y2=\"{:.1}\"/><text class=\"atol-label\" x=\"{:.1}\" y=\"{:.1}\">atol {}</text>",
        top + plot_h,
        ax + 3.0,
        top + 8.0,
        e(atol)
    );
    svg.push_str("</svg>");
    let exact = h.counts[0];
    let over: usize = (0..HISTOGRAM_BINS)
        .filter(|&i| bin_class(i, atol) == "bin-over")
        .map(|i| h.counts[i])
        .sum();
    format!(
        "<figure class=\"histogram\">{svg}<figcaption>|a − b| of output <b>{}</b>: {} element(s), {exact} exactly equal, {over} in bins at or above atol {}, {} mismatch(es) under the tolerance; max_abs {}.</figcaption></figure>\n",
        esc(&o.name),
        m.count,
        e(atol),
        m.mismatches,
        sci(m.max_abs)
    )
}

/// The own and accumulated max_abs of every layer, in the converted model's order, on a log
/// scale (exact zeros on the bottom line), with the atol line and the first divergence.
/// The geometry of the per-layer plot: a log-scale y axis whose bottom line (one decade below
/// the smallest value) stands for exact zeros, and one x slot per layer pair.
struct LogPlot {
    n: usize,
    left: f64,
    top: f64,
    plot_w: f64,
    plot_h: f64,
    floor: f64,
    high: f64,
}

impl LogPlot {
    const WIDTH: f64 = 760.0;
    const HEIGHT: f64 = 320.0;

    /// Axis range for `values` (and `atol`, so that its line is always on the plot).
    fn new(n: usize, values: impl Iterator<Item = f64>, atol: f64) -> LogPlot {
        let (left, right, top, bottom) = (56.0, 16.0, 36.0, 112.0);
        let positive: Vec<f64> = values
            .chain((atol > 0.0).then_some(atol))
            .filter(|v| *v > 0.0 && v.is_finite())
            .collect();
        let (low, high) = if positive.is_empty() {
            (-6.0, 0.0)
        } else {
            let min = positive.iter().copied().fold(f64::INFINITY, f64::min);
            let max = positive.iter().copied().fold(0.0, f64::max);
            let low = min.log10().floor().clamp(-15.0, 15.0);
            (low, max.log10().ceil().clamp(low + 1.0, 16.0))
        };
        LogPlot {
            n,
            left,
            top,
            plot_w: Self::WIDTH - left - right,
            plot_h: Self::HEIGHT - top - bottom,
            floor: low - 1.0,
            high,
        }
    }

    fn y_of(&self, v: f64) -> f64 {
        let l = if v > 0.0 {
            v.log10().max(self.floor)
        } else {
            self.floor
        };
        self.top + self.plot_h * (1.0 - (l - self.floor) / (self.high - self.floor))
    }

    fn x_of(&self, i: usize) -> f64 {
        self.left + (i as f64 + 0.5) * self.plot_w / self.n as f64
    }

    fn bottom(&self) -> f64 {
        self.top + self.plot_h
    }

    fn right(&self) -> f64 {
        self.left + self.plot_w
    }

    /// Decade grid lines with their labels, and the two axes.
    fn axes(&self) -> String {
        let mut svg = String::new();
        let step = (((self.high - self.floor) / 8.0).ceil() as i64).max(1);
        let mut k = self.floor as i64;
        while k as f64 <= self.high {
            let y = self.y_of(10f64.powi(k as i32));
            let label = if k as f64 == self.floor {
                "0".to_string()
            } else {
                format!("1e{k}")
            };
            let _ = write!(
                svg,
                "<line class=\"grid\" x1=\"{}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
                self.left,
                self.right(),
                self.left - 6.0,
                y + 3.5
            );
            k += step;
        }
        let (l, t, b, r) = (self.left, self.top, self.bottom(), self.right());
        let _ = write!(
            svg,
            "<line class=\"axis\" x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{b:.1}\"/><line class=\"axis\" x1=\"{l}\" y1=\"{b:.1}\" x2=\"{r:.1}\" y2=\"{b:.1}\"/>"
        );
        svg
    }

    /// One series (`class` "own" or "acc"): a line through the layers that have a value, and a
    /// point per layer, red where it exceeds the tolerance.
    fn series(
        &self,
        layers: &[LayerReport],
        class: &str,
        value: impl Fn(&LayerReport) -> Option<f64>,
    ) -> String {
        let mut path = String::new();
        let mut pen_down = false;
        for (i, l) in layers.iter().enumerate() {
            match value(l) {
                Some(v) => {
                    let pen = if pen_down { "L" } else { "M" };
                    let _ = write!(path, "{pen}{:.1} {:.1} ", self.x_of(i), self.y_of(v));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let mut svg = String::new();
        if !path.is_empty() {
            let _ = write!(svg, "<path class=\"{class}\" d=\"{}\"/>", path.trim_end());
        }
        for (i, l) in layers.iter().enumerate() {
            let Some(v) = value(l) else { continue };
            let fails = match class {
                "own" => l.own_fails(),
                _ => l.accumulated_fails(),
            };
            let _ = write!(
                svg,
                "<circle class=\"{class}-pt{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\"><title>{} ↔ {} ({}): {} max_abs {}</title></circle>",
                if fails { " fails" } else { "" },
                self.x_of(i),
                self.y_of(v),
                if fails { 4 } else { 3 },
                esc(&l.converted),
                esc(&l.original),
                esc(&l.class),
                if class == "own" { "own" } else { "accumulated" },
                sci(v)
            );
        }
        svg
    }

    /// The converted layers' names under the x axis (at most about 40 of them).
    fn layer_names(&self, layers: &[LayerReport]) -> String {
        let mut svg = String::new();
        let every = self.n.div_ceil(40).max(1);
        for (i, l) in layers.iter().enumerate().filter(|(i, _)| i % every == 0) {
            let (x, y) = (self.x_of(i), self.bottom() + 10.0);
            let mut name: String = l.converted.chars().take(22).collect();
            if l.converted.chars().count() > 22 {
                name.push('…');
            }
            let _ = write!(
                svg,
                "<text class=\"layer-name\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"end\" transform=\"rotate(-50 {x:.1} {y:.1})\">{}<title>{}</title></text>",
                esc(&name),
                esc(&l.converted)
            );
        }
        svg
    }
}

fn layer_plot(layers: &[LayerReport], atol: f64, first: Option<&LayerReport>, id: &str) -> String {
    let own = |l: &LayerReport| l.own.as_ref().map(|m| m.max_abs);
    let acc = |l: &LayerReport| l.accumulated.as_ref().map(|m| m.max_abs);
    let values = layers.iter().flat_map(|l| [own(l), acc(l)]).flatten();
    let plot = LogPlot::new(layers.len(), values, atol);
    let (w, h) = (LogPlot::WIDTH, LogPlot::HEIGHT);
    let mut svg = format!(
        "<svg class=\"layer-plot\" id=\"{id}\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"per-layer max_abs along the graph\">"
    );
    svg.push_str(&plot.axes());
    if atol > 0.0 {
        let y = plot.y_of(atol);
        let _ = write!(
            svg,
            "<line class=\"atol\" x1=\"{}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/><text class=\"atol-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">atol {}</text>",
            plot.left,
            plot.right(),
            plot.right() - 2.0,
            y - 3.0,
            e(atol)
        );
    }
    let diverging = first.and_then(|d| {
        let i = layers
            .iter()
            .position(|l| l.converted == d.converted && l.original == d.original)?;
        Some((i, d))
    });
    if let Some((i, d)) = diverging {
        let x = plot.x_of(i);
        let _ = write!(
            svg,
            "<line class=\"divergence\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><text class=\"divergence-label\" x=\"{:.1}\" y=\"{:.1}\">first divergence: {}</text>",
            plot.top,
            plot.bottom(),
            x + 3.0,
            plot.top - 6.0,
            esc(&d.converted)
        );
    }
    svg.push_str(&plot.series(layers, "acc", acc));
    svg.push_str(&plot.series(layers, "own", own));
    svg.push_str(&plot.layer_names(layers));
    // Legend, above the plot on the left (the first divergence's label is on the next line).
    let lx = plot.left;
    let _ = write!(
        svg,
        "<g class=\"legend\"><line class=\"acc\" x1=\"{lx:.1}\" y1=\"10\" x2=\"{:.1}\" y2=\"10\"/><text x=\"{:.1}\" y=\"13\">accumulated</text><line class=\"own\" x1=\"{:.1}\" y1=\"10\" x2=\"{:.1}\" y2=\"10\"/><text x=\"{:.1}\" y=\"13\">own (original's inputs fed in)</text></g>",
        lx + 18.0,
        lx + 22.0,
        lx + 95.0,
        lx + 113.0,
        lx + 117.0
    );
    svg.push_str("</svg>");
    format!(
        "<figure class=\"layer-plot\">{svg}<figcaption>max |a − b| of each paired layer along the converted model's graph (log scale; the bottom line is exactly 0). <i>Accumulated</i>: the converted model's value against the original's; <i>own</i>: the converted layer run on the original's inputs to it, the error it adds by itself. Red points exceed the tolerance.</figcaption></figure>\n"
    )
}

fn layers_table(layers: &[LayerReport]) -> String {
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

fn structure(report: &VerifyReport) -> String {
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

const CSS: &str = r#"
:root { --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif;
       margin: 24px auto; max-width: 1180px; padding: 0 16px; color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin-top: 18px; }
code, td.num, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 13px; }
.verdict { display: inline-block; margin: 4px 8px 4px 0; font-weight: 700; font-size: 18px; padding: 6px 14px;
           border-radius: 6px; color: #fff; }
.verdict.pass { background: var(--pass); color: #fff; }
.verdict.fail, .verdict.error { background: var(--fail); color: #fff; }
.summary { font-size: 16px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
.pass { color: var(--pass); font-weight: 600; }
.fail { color: var(--fail); font-weight: 600; }
.warn, ul.warnings li { color: var(--warn); }
tr.case-row.unmet td { background: #fff5f5; }
.badge { font-size: 13px; padding: 1px 8px; border-radius: 10px; color: #fff; vertical-align: middle; }
.badge.pass { background: var(--pass); color: #fff; }
.badge.fail { background: var(--fail); color: #fff; }
section.case { border-top: 1px solid var(--line); margin-top: 24px; }
.note { color: var(--muted); }
pre.error { white-space: pre-wrap; background: #fff5f5; border: 1px solid #ffcecb; padding: 8px; }
details { margin: 8px 0; }
details > summary { cursor: pointer; font-weight: 600; }
figure { margin: 12px 0; }
figcaption { color: var(--muted); font-size: 12px; max-width: 760px; }
svg { background: #fff; display: block; }
svg text { font: 10px ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; fill: #1f2328; }
.bar.bin-zero, .bar.bin-under { fill: #2da44e; }
.bar.bin-edge { fill: #d4a72c; }
.bar.bin-over { fill: #cf222e; }
line.axis { stroke: #57606a; }
line.grid { stroke: #eaeef2; }
line.atol { stroke: #9a6700; stroke-dasharray: 4 3; stroke-width: 1.5; }
text.atol-label { fill: #9a6700; }
path.acc, line.acc { stroke: #0969da; fill: none; stroke-width: 1.6; }
path.own, line.own { stroke: #bc4c00; fill: none; stroke-width: 1.6; stroke-dasharray: 5 3; }
circle.acc-pt { fill: #0969da; }
circle.own-pt { fill: #bc4c00; }
circle.fails { fill: #cf222e; stroke: #fff; stroke-width: 1; }
line.divergence { stroke: #cf222e; stroke-width: 1.2; }
text.divergence-label { fill: #cf222e; font-weight: 700; }
@media print { details { display: block; } }
"#;

/// The page of a command that ended in an error.
pub fn error_page(title: &str, message: &str) -> String {
    page(
        title,
        &format!(
            "<header><h1>{}</h1><p class=\"verdict error\" id=\"verdict\">ERROR</p></header>\n<p id=\"error\">{}</p>\n<p>Nothing was compared: keqv stopped with exit code 2.</p>\n",
            esc(title),
            esc(message)
        ),
    )
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"keqv {}\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}<footer class=\"note\"><p>Written by keqv {}. An element passes when |a − b| ≤ atol + rtol·|b|, b the original's value; NaN matches only NaN, ±inf only the same infinity.</p></footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        esc(title),
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atol_is_placed_inside_its_decade() {
        // Bin 7 is [1e-5, 1e-4): 1e-5 sits at its left edge, 3e-5 about half way.
        assert_eq!(atol_position(1e-5), 7.0);
        assert!((atol_position(3.162e-5) - 7.5).abs() < 1e-3);
        assert_eq!(atol_position(0.0), 1.0, "right after the exact-zero bin");
        assert_eq!(bin_class(0, 1e-5), "bin-zero");
        assert_eq!(bin_class(6, 1e-5), "bin-under");
        assert_eq!(bin_class(7, 1e-5), "bin-over");
        assert_eq!(bin_class(7, 3e-5), "bin-edge");
        assert_eq!(bin_class(Histogram::NONFINITE, 1e-5), "bin-over");
    }
}

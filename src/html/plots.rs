//! The inline SVG plots: the histogram of |a − b| of an output, and the per-layer error along
//! the graph on a log scale.

use std::fmt::Write;

use super::e;
use crate::compare::{Histogram, Metrics, HISTOGRAM_BINS};
use crate::report::{sci, xml as esc};
use crate::verify::per_layer::LayerReport;
use crate::verify::OutputReport;

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

pub(super) fn histogram_figure(o: &OutputReport, id: &str) -> String {
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

/// The own and accumulated max_abs of every layer, in the converted model's order, on a log
/// scale (exact zeros on the bottom line), with the atol line and the first divergence.
pub(super) fn layer_plot(
    layers: &[LayerReport],
    atol: f64,
    first: Option<&LayerReport>,
    id: &str,
) -> String {
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

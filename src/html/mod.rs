//! Self-contained HTML reports for `keqv verify --html` and `keqv suite --html`: one file with
//! inline CSS and inline SVG (no script, no font, no image, nothing fetched), readable offline
//! and in a CI artifact viewer.
//!
//! A verify report shows the verdict, the facts (files, device, inputs, tolerance), the
//! per-output metrics, a histogram of |a − b| per output over the fixed log-scale bins of
//! [`Histogram`](crate::compare::Histogram), the per-layer error along the graph as a plot (own
//! and accumulated max_abs, log scale, the tolerance and the first divergence marked) with its
//! table, and the layer pairing. A suite report shows the summary table and every case's report.
//!
//! `pages` builds the pages from `tables` and `plots` and puts them in the `frame`.

mod frame;
mod pages;
mod plots;
mod tables;

pub use frame::error_page;
pub use pages::{suite_page, verify_page};

/// A tolerance for people: `0`, `1e-5`, `2.5e-3`.
fn e(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else {
        format!("{x:e}")
    }
}

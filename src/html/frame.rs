//! The frame around every page: the head with its inline style sheet, and the footer.

use crate::report::xml as esc;

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

pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"keqv {}\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}<footer class=\"note\"><p>Written by keqv {}. An element passes when |a − b| ≤ atol + rtol·|b|, b the original's value; NaN matches only NaN, ±inf only the same infinity.</p></footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        esc(title),
        env!("CARGO_PKG_VERSION")
    )
}

//! `keqv suite MANIFEST.toml`: run a conversion regression suite (or one shard of it), with a
//! progress bar on a terminal and one line per case otherwise; print the summary table; write
//! JUnit XML, JSON and HTML on request. Success only when every case meets its expectation.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Outcome;
use crate::cli::SuiteArgs;
use crate::error::{Error, Result};
use crate::report::Style;
use crate::suite::{report, run_cases, Manifest, Shard, SuiteReport};

pub fn suite(args: &SuiteArgs) -> Result<Outcome> {
    if args.jobs == 0 {
        return Err(Error::Usage("--jobs must be at least 1".into()));
    }
    let shard: Shard = match &args.shard {
        Some(text) => text.parse()?,
        None => Shard::ALL,
    };
    let manifest = Manifest::load(&args.manifest, &args.device)?;
    let selected: Vec<_> = manifest
        .cases
        .iter()
        .filter(|c| {
            args.filter
                .as_ref()
                .is_none_or(|f| c.name.contains(f.as_str()))
        })
        .cloned()
        .collect();
    let matched = selected.len();
    let cases = shard.select(selected);

    if args.list {
        for case in &cases {
            println!("{}", case.name);
        }
        return Ok(Outcome::Success);
    }
    if cases.is_empty() {
        return Err(no_case(args, &manifest, matched, shard));
    }

    let style = Style::for_stdout();
    let start = Instant::now();
    let total = cases.len();
    let bar = std::io::stderr().is_terminal().then(|| progress_bar(total));
    let mut done = 0;
    let results = run_cases(&cases, args.jobs, |result| {
        done += 1;
        match &bar {
            Some(bar) => {
                if !result.passed {
                    bar.println(report::progress_line(
                        done,
                        total,
                        result,
                        Style { color: true },
                    ));
                }
                bar.set_message(result.name.clone());
                bar.inc(1);
            }
            None => println!("{}", report::progress_line(done, total, result, style)),
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    let mut suite = SuiteReport::new(
        &manifest.name,
        &manifest.path.display().to_string(),
        shard,
        results,
    );
    suite.duration_s = start.elapsed().as_secs_f64();
    if let Some(path) = &args.junit {
        write(path, &report::junit(&suite))?;
    }
    if let Some(path) = &args.json {
        write(path, &report::json(&suite))?;
    }
    if let Some(path) = &args.html {
        write(path, &crate::html::suite_page(&suite))?;
    }
    println!();
    print!("{}", report::summary(&suite, style));
    // A case whose own settings are wrong (a tolerance for an output that does not exist, a
    // mapping that matches no layer) is a broken manifest, not a failed comparison.
    if let Some((i, c)) = suite
        .cases
        .iter()
        .enumerate()
        .find(|(_, c)| c.settings_error && !c.passed)
    {
        return Err(Error::format(
            &manifest.path,
            format!(
                "case {} ({}): {}; fix the manifest",
                i + 1,
                c.name,
                c.error.as_deref().unwrap_or_default()
            ),
        ));
    }
    Ok(if suite.passed {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

/// Why a suite selected no case: running nothing must not look like a green run.
fn no_case(args: &SuiteArgs, manifest: &Manifest, matched: usize, shard: Shard) -> Error {
    let total = manifest.cases.len();
    let why = if total == 0 {
        "the manifest has no [[case]]".to_string()
    } else if matched == 0 {
        format!(
            "--filter '{}' matches none of its {total} case names (keqv suite {} --list shows them)",
            args.filter.as_deref().unwrap_or_default(),
            manifest.path.display()
        )
    } else {
        format!("shard {shard} of {matched} case(s) is empty; use at most {matched} shards")
    };
    Error::format(&manifest.path, format!("no case to run: {why}"))
}

fn progress_bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

//! Replays every fuzz corpus entry (`fuzz/corpus/<target>/`) and every input a fuzzer once
//! crashed on (`fuzz/regressions/<target>/`) through the code the fuzz targets run, so that
//! `cargo test` catches a regression without cargo-fuzz. Errors are fine; a panic is not.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
            continue;
        };
        files.extend(
            entries
                .map(|e| e.expect("a readable corpus folder").path())
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8]), at_least: usize) {
    let files = inputs(target);
    assert!(
        files.len() >= at_least,
        "fuzz/corpus/{target} holds {} files; expected at least {at_least}",
        files.len()
    );
    let failed: Vec<String> = files
        .iter()
        .filter(|file| {
            let data = std::fs::read(file).expect("a readable corpus file");
            catch_unwind(AssertUnwindSafe(|| run(&data))).is_err()
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} {target} inputs panicked:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

#[test]
fn config_to_graph_corpus() {
    replay("config_to_graph", harness::config_to_graph, 20);
}

#[test]
fn npy_corpus() {
    replay("npy", harness::npy, 5);
}

#[test]
fn keras_archive_corpus() {
    replay("keras_archive", harness::keras_archive, 5);
}

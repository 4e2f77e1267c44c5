//! `keqv run` streams the batch through the model in chunks (`--chunk`): the files it writes
//! do not depend on the chunk size, and batches too large for the disk or for memory end with
//! one line and exit code 2 before anything is allocated.

mod common;

use std::ffi::OsString;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use common::fixture;

fn keqv(args: &[OsString]) -> Output {
    common::keqv().args(args).output().unwrap()
}

fn args(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    list.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// Runs keqv expecting exit code 0; returns stdout.
fn keqv_ok(args: &[OsString]) -> String {
    let out = keqv(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "keqv {args:?}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Expects exit code 2 and exactly one `keqv: error: …` line on stderr; returns it.
fn one_error_line(args: &[OsString], out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "keqv {args:?}: expected exit code 2\nstderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "keqv {args:?}: expected one line:\n{stderr}"
    );
    assert!(lines[0].starts_with("keqv: error: "), "{}", lines[0]);
    for noise in ["panicked", "RUST_BACKTRACE", "memory allocation"] {
        assert!(!lines[0].contains(noise), "{}", lines[0]);
    }
    lines[0].to_string()
}

/// `keqv run --device cpu MODEL --output OUT` plus `extra`; returns the bytes of OUT.
fn written(model: &Path, out: &Path, extra: &[&str]) -> Vec<u8> {
    let mut a = args(&[&"run", &"--device", &"cpu", &model, &"--output", &out]);
    a.extend(extra.iter().map(OsString::from));
    keqv_ok(&a);
    std::fs::read(out).unwrap()
}

#[test]
fn a_chunked_run_writes_the_same_files_as_a_whole_one() {
    let dir = tempfile::tempdir().unwrap();
    let npy_model = fixture("k3/a_seq_mlp.keras");
    let npz_model = fixture("k3/h_two_heads.keras");
    for (model, name, inputs) in [
        (&npy_model, "out.npy", None),
        (&npz_model, "out.npz", None),
        (
            &npy_model,
            "file.npy",
            Some(fixture("inputs/a_seq_mlp.npy")),
        ),
    ] {
        let source: Vec<String> = match &inputs {
            Some(path) => vec!["--inputs".into(), path.display().to_string()],
            None => vec!["--batch".into(), "10".into()],
        };
        let source: Vec<&str> = source.iter().map(String::as_str).collect();
        let whole = written(model, &dir.path().join(format!("whole_{name}")), &source);
        let mut chunked_args = source.clone();
        chunked_args.extend(["--chunk", "3"]);
        let chunked = written(
            model,
            &dir.path().join(format!("chunked_{name}")),
            &chunked_args,
        );
        assert_eq!(whole, chunked, "{name}: --chunk 3 wrote other bytes");
    }

    // Read back with keqv's own reader: the header states the whole batch.
    let back = keqv::npy::read_npy(&dir.path().join("chunked_out.npy")).unwrap();
    assert_eq!(back.shape(), &[10, 10]);
    let arrays = keqv::npy::read_npz(&dir.path().join("chunked_out.npz")).unwrap();
    let shapes: Vec<(&str, &[usize])> = arrays
        .iter()
        .map(|(name, t)| (name.as_str(), t.shape()))
        .collect();
    assert_eq!(shapes, vec![("out", &[10, 10][..]), ("aux", &[10, 3][..])]);
    let back = keqv::npy::read_npy(&dir.path().join("chunked_file.npy")).unwrap();
    assert_eq!(back.shape(), &[8, 10]);
}

#[test]
fn the_summary_is_the_same_in_chunks() {
    let model = fixture("k3/h_two_heads.keras");
    let base = args(&[&"run", &"--device", &"cpu", &model, &"--batch", &"10"]);
    let whole = keqv_ok(&base);
    let mut chunked = base.clone();
    chunked.extend(args(&[&"--chunk", &"3"]));
    assert_eq!(whole, keqv_ok(&chunked));
    assert!(whole.contains("shape [10, 10]"), "{whole}");
}

#[test]
fn a_batch_too_large_for_the_disk_is_refused_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("huge.npy");
    let model = fixture("k3/a_seq_mlp.keras");
    let huge = (1u64 << 40).to_string();
    let a = args(&[
        &"run",
        &"--device",
        &"cpu",
        &model,
        &"--batch",
        &huge,
        &"-o",
        &out,
    ]);
    let line = one_error_line(&a, &keqv(&a));
    assert!(line.contains("huge.npy"), "{line}");
    assert!(line.contains("40.0 TiB"), "{line}");
    assert!(line.contains("use a smaller --batch"), "{line}");
    assert!(!out.exists(), "a refused run leaves no file behind");

    let a = args(&[&"run", &"--device", &"cpu", &model, &"--chunk", &"0"]);
    let line = one_error_line(&a, &keqv(&a));
    assert!(line.contains("--chunk must be at least 1"), "{line}");
}

#[test]
fn a_failed_run_keeps_what_the_output_held_and_leaves_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.npy");
    std::fs::write(&out, b"before").unwrap();
    let model = fixture("k3/a_seq_mlp.keras");
    // The output is opened before the device, which then fails.
    let a = args(&[
        &"run",
        &"--device",
        &"gpu",
        &"--adapter",
        &"no adapter is named this",
        &model,
        &"-o",
        &out,
    ]);
    let result = keqv(&a);
    assert_eq!(result.status.code(), Some(2));
    assert_eq!(std::fs::read(&out).unwrap(), b"before");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("out.npy")]);
}

/// keqv with its address space limited to `limit` bytes, as on a machine with that much
/// memory: an allocation beyond it fails at once instead of swapping.
#[cfg(target_os = "linux")]
fn keqv_limited(args: &[OsString], limit: u64) -> Output {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("keqv"));
    command.args(args);
    // SAFETY: setrlimit is async-signal-safe, and nothing else runs in the child before exec.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Command::from_std(command)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

/// A batch just under what keqv used to generate at once (2^31 input values) made it ask for
/// the whole batch in memory and abort with "memory allocation of … failed". Streamed, it
/// holds one chunk; a chunk this process cannot hold is refused with one line.
#[cfg(target_os = "linux")]
#[test]
fn a_batch_just_under_the_old_limit_never_aborts() {
    const LIMIT: u64 = 2 << 30;
    let model = fixture("k3/a_seq_mlp.keras");
    let batch = ((1usize << 31) - 1) / 784;
    let n = batch.to_string();

    // The whole batch as one chunk: refused up front.
    let a = args(&[
        &"run",
        &"--device",
        &"cpu",
        &model,
        &"--batch",
        &n,
        &"--chunk",
        &n,
    ]);
    let line = one_error_line(&a, &keqv_limited(&a, LIMIT));
    assert!(line.contains("use a smaller --chunk"), "{line}");

    // Streamed, nothing large is allocated: the run gets as far as writing its output, where
    // this one fails at once (a full disk).
    let a = args(&[
        &"run",
        &"--device",
        &"cpu",
        &model,
        &"--batch",
        &n,
        &"-o",
        &"/dev/full",
    ]);
    let line = one_error_line(&a, &keqv_limited(&a, LIMIT));
    assert!(line.contains("/dev/full"), "{line}");
    assert!(line.contains("free some room"), "{line}");
}

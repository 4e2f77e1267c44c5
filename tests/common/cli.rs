//! Running the keqv binary as users do, from the repository root.

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;

/// The keqv binary, started in the repository root; a run that hangs fails after five minutes.
pub fn keqv() -> Command {
    let mut cmd = Command::cargo_bin("keqv").unwrap();
    cmd.current_dir(super::root())
        .timeout(Duration::from_secs(300));
    cmd
}

/// A file under models/, by its path there.
pub fn fixture(rel: &str) -> PathBuf {
    super::root().join("models").join(rel)
}

//! Helpers shared by the integration tests: the real `sequoia` binary and the sample data.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `sequoia` binary, with no store or log level taken from the environment.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sequoia"));
    c.env_remove("SEQUOIA_STORE").env_remove("SEQUOIA_LOG");
    c
}

/// A file of `tests/data`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// `sequoia --store STORE ARGS...`, whatever its exit status.
pub fn run(store: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Like [`run`], asserting success.
pub fn ok(store: &Path, args: &[&str]) -> Output {
    let out = run(store, args);
    assert!(
        out.status.success(),
        "sequoia {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Like [`run`], asserting failure.
pub fn fails(store: &Path, args: &[&str]) -> Output {
    let out = run(store, args);
    assert!(
        !out.status.success(),
        "sequoia {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

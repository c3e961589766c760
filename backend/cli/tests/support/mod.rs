//! Running the `proard` binary as a user does, for the integration tests.

use std::process::{Command, Output};

pub fn proard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_proard")).args(args).output().expect("proard runs")
}

/// Stdout of a run that must succeed.
pub fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A failure must be one clear message on stderr and a non-zero exit, never a panic.
pub fn failure(args: &[&str]) -> String {
    let output = proard(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{args:?} should fail");
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}:\n{stderr}");
    stderr
}

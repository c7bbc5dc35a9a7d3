//! The reference C programs of the interop tests: compiled with `cc` at
//! test time against a Debian library (installed by `scripts/test`),
//! then run as filters from stdin to stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Compiles `tests/{source}` with `-l{library}` (Debian `{package}`)
/// into `{name}` in the test scratch folder; returns the program.
pub(crate) fn compile(source: &str, name: &str, library: &str, package: &str) -> PathBuf {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(source);
    let binary = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let output = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&binary)
        .arg(&source)
        .arg(format!("-l{library}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run `cc` to build {}: {e}", source.display()));
    assert!(
        output.status.success(),
        "compiling {} failed (is {package} installed? scripts/test installs it):\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    binary
}

/// Runs `program` with `args` on `input`; returns what it wrote, after
/// asserting that it succeeded (`what` names the run in the failure).
pub(crate) fn run(program: &Path, args: &[&str], input: Vec<u8>, what: &str) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

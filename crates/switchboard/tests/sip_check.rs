//! `switchboard sip check` run as operators run it: the real binary on files.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const INVITE: &str = "INVITE sip:+15551230000@sbc.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: <sip:+15551230000@sbc.example.net>\r\n\
From: \"Alice\" <sip:+15559870000@carrier.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@192.0.2.1:5060>\r\n\
Content-Length: 0\r\n\
\r\n";

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-sip-check-{}-{test}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn check(files: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["sip", "check"])
        .args(files)
        .output()
        .unwrap()
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn valid_message_is_ok_and_exits_zero() {
    let dir = scratch_dir("valid");
    let good = write(&dir, "good.sip", INVITE.as_bytes());
    let output = check(&[&good]);
    assert_eq!(
        stdout_lines(&output),
        vec![format!("{}: ok", good.display())]
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn invalid_messages_are_named_with_a_reason_and_exit_one() {
    let dir = scratch_dir("invalid");
    let good = write(&dir, "good.sip", INVITE.as_bytes());
    let bad_version = write(
        &dir,
        "badvers.sip",
        INVITE.replace("SIP/2.0\r\n", "SIP/7.0\r\n").as_bytes(),
    );
    let long_body = write(
        &dir,
        "clen.sip",
        INVITE
            .replace("Content-Length: 0", "Content-Length: 9999")
            .as_bytes(),
    );
    let bad_cseq = write(
        &dir,
        "cseq.sip",
        INVITE
            .replace("CSeq: 314159 INVITE", "CSeq: -1 INVITE")
            .as_bytes(),
    );
    let output = check(&[&good, &bad_version, &long_body, &bad_cseq]);
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0], format!("{}: ok", good.display()));
    for (line, path) in lines[1..].iter().zip([&bad_version, &long_body, &bad_cseq]) {
        let prefix = format!("{}: invalid: ", path.display());
        assert!(line.starts_with(&prefix), "{line}");
        assert!(line.len() > prefix.len(), "reason missing: {line}");
    }
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn typed_headers_are_checked_not_only_the_framing() {
    let dir = scratch_dir("typed");
    let bad_expires = write(
        &dir,
        "expires.sip",
        INVITE
            .replace("Content-Length: 0", "Expires: soon\r\nContent-Length: 0")
            .as_bytes(),
    );
    let output = check(&[&bad_expires]);
    let lines = stdout_lines(&output);
    assert!(lines[0].contains("invalid"), "{lines:?}");
    assert!(
        lines[0].to_ascii_lowercase().contains("expires"),
        "{lines:?}"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn oversized_file_is_invalid_without_being_read_whole() {
    let dir = scratch_dir("oversized");
    let mut huge = INVITE
        .replace("Content-Length: 0", "Content-Length: 200000")
        .into_bytes();
    huge.extend(std::iter::repeat_n(b'x', 200_000));
    let big = write(&dir, "big.sip", &huge);
    let output = check(&[&big]);
    let lines = stdout_lines(&output);
    assert!(
        lines[0].starts_with(&format!("{}: invalid: ", big.display())),
        "{lines:?}"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn unreadable_file_exits_two() {
    let dir = scratch_dir("unreadable");
    let missing = dir.join("does-not-exist.sip");
    let output = check(&[&missing]);
    let lines = stdout_lines(&output);
    assert!(
        lines[0].starts_with(&format!("{}: unreadable: ", missing.display())),
        "{lines:?}"
    );
    assert_eq!(output.status.code(), Some(2));
}

/// The README's quick-start command: every RFC 4475 message that must parse
/// is reported ok, and the run exits 0.
#[test]
fn readme_quick_start_passes_on_the_valid_torture_messages() {
    let valid = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sip/rfc4475/valid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&valid)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sip"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 13,
        "expected the 13 RFC 4475 §3.1.1 messages"
    );
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let output = check(&refs);
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), files.len());
    assert!(
        lines.iter().all(|line| line.ends_with(": ok")),
        "{lines:#?}"
    );
    assert_eq!(output.status.code(), Some(0));
}

//! `switchboard sip check`: parse captured messages fully and report each.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bytes::Bytes;

/// What a run of `sip check` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) ok: usize,
    pub(crate) invalid: usize,
    pub(crate) unreadable: usize,
}

impl Summary {
    /// 0 when every file held a valid message, 2 if any file could not be
    /// read, else 1.
    pub(crate) fn exit_code(&self) -> ExitCode {
        if self.unreadable > 0 {
            ExitCode::from(2)
        } else if self.invalid > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// The verdict on one message.
#[derive(Debug)]
enum Verdict {
    Ok,
    Invalid(String),
}

/// Checks every file and writes one line per file to `out`.
pub(crate) fn check_files(
    files: &[PathBuf],
    limits: &sip::Limits,
    out: &mut impl Write,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    for path in files {
        match read_bounded(path, limits.max_message_size) {
            Ok(bytes) => match check_message(bytes, limits) {
                Verdict::Ok => {
                    summary.ok += 1;
                    writeln!(out, "{}: ok", path.display())?;
                }
                Verdict::Invalid(reason) => {
                    summary.invalid += 1;
                    writeln!(out, "{}: invalid: {reason}", path.display())?;
                }
            },
            Err(err) => {
                summary.unreadable += 1;
                writeln!(out, "{}: unreadable: {err:#}", path.display())?;
            }
        }
    }
    Ok(summary)
}

/// Reads at most one byte more than `max` so an oversized file is reported
/// by the parser's size limit without being read whole.
fn read_bounded(path: &Path, max: usize) -> anyhow::Result<Bytes> {
    let file = File::open(path).context("cannot open")?;
    let mut buf = Vec::new();
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    file.take(cap)
        .read_to_end(&mut buf)
        .context("cannot read")?;
    Ok(Bytes::from(buf))
}

fn check_message(bytes: Bytes, limits: &sip::Limits) -> Verdict {
    match sip::Message::parse_with(bytes, limits) {
        Ok(message) => match message.validate() {
            Ok(()) => Verdict::Ok,
            Err(err) => Verdict::Invalid(err.to_string()),
        },
        Err(err) => Verdict::Invalid(err.to_string()),
    }
}

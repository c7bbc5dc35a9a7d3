//! The switchboard binary: command line, configuration and (with later
//! issues) the sockets and tasks that drive the sans-IO protocol crates.

mod api;
mod cdr;
mod center;
mod contact;
mod demo;
mod emulate;
mod graph;
mod metrics;
mod pii;
mod relay;
mod serve;
mod sip_check;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// switchboard: a multi-tenant SBC and contact center for Microsoft Teams.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the SBC and an emulated Teams on loopback with embedded
    /// defaults (examples/teams.toml); call it with SIPp.
    Demo {
        /// Where generated test certificates are kept.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run the SBC: carrier trunks <-> Teams Direct Routing.
    Serve {
        /// The TOML configuration (see examples/).
        #[arg(long)]
        config: PathBuf,
        /// Print phone numbers, SIP URIs and addresses in logs (personal
        /// data; off by default).
        #[arg(long)]
        log_pii: bool,
        /// Worker threads (default: one per core; 1 runs everything on one
        /// thread, which costs the least CPU per call on small machines).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
    },
    /// Emulate Microsoft services on loopback (for tests and demos).
    Emulate {
        #[command(subcommand)]
        service: EmulateCommand,
    },
    /// SIP tools for operators.
    Sip {
        #[command(subcommand)]
        command: SipCommand,
    },
    /// Call detail records of the contact center.
    Cdr {
        #[command(subcommand)]
        command: CdrCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CdrCommand {
    /// Print the CDRs of the event log that FILE's `[contact_center]
    /// data_dir` holds: caller, DID, tenant, flow path, queue, wait,
    /// agent, talk and hold time, outcome, transfer target.
    Export {
        /// The TOML configuration `serve` runs with.
        #[arg(long)]
        config: PathBuf,
        /// Only calls that ended at or after this time (RFC 3339, e.g.
        /// 2026-11-25T00:00:00Z, or seconds since the Unix epoch).
        #[arg(long)]
        since: Option<String>,
        /// csv (RFC 4180, a header line) or json (one object per line).
        #[arg(long, value_enum, default_value_t = cdr::Format::Csv)]
        format: cdr::Format,
    },
}

#[derive(Debug, Subcommand)]
enum EmulateCommand {
    /// Teams Direct Routing SIP proxies (sip, sip2, sip3.pstnhub...), from
    /// the `[emulator]` section of FILE.
    Teams {
        /// The TOML configuration (e.g. examples/teams.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Write the emulator's test CA and certificates into its `cert_dir`.
    Certs {
        /// The TOML configuration (e.g. examples/teams.toml).
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum SipCommand {
    /// Lint captured SIP messages: each FILE holds one message as a UDP
    /// datagram would carry it. Prints `FILE: ok` or `FILE: invalid: REASON`;
    /// exits 1 if any message is invalid, 2 if a file cannot be read.
    Check {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Largest message accepted, in bytes.
        #[arg(long, default_value_t = sip::Limits::default().max_message_size)]
        max_message_size: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { data_dir } => {
            let data_dir = data_dir.unwrap_or_else(demo::default_data_dir);
            run_async(async move { demo::run(&data_dir).await })
        }
        Command::Serve {
            config,
            log_pii,
            threads,
        } => {
            pii::show(log_pii);
            run_async_on(threads.map(usize::from), serve::run(&config))
        }
        Command::Emulate {
            service: EmulateCommand::Teams { config },
        } => run_async(emulate::teams(&config)),
        Command::Emulate {
            service: EmulateCommand::Certs { config },
        } => match emulate::certs(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("switchboard: {err:#}");
                ExitCode::FAILURE
            }
        },
        Command::Cdr {
            command:
                CdrCommand::Export {
                    config,
                    since,
                    format,
                },
        } => run_once(cdr::export(&config, since.as_deref(), format)),
        Command::Sip {
            command:
                SipCommand::Check {
                    files,
                    max_message_size,
                },
        } => {
            let limits = sip::Limits {
                max_message_size,
                ..sip::Limits::default()
            };
            let mut stdout = std::io::stdout().lock();
            match sip_check::check_files(&files, &limits, &mut stdout) {
                Ok(summary) => summary.exit_code(),
                Err(err) => {
                    eprintln!("switchboard: {err:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// Runs a short job (no logging set up) on a one-thread runtime.
fn run_once(job: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(job),
        Err(err) => Err(err.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("switchboard: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a long-lived subcommand on a tokio runtime with logging to stderr
/// (`RUST_LOG` filters, default `info`).
fn run_async(job: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    run_async_on(None, job)
}

/// [`run_async`] on `threads` worker threads (one: everything on the
/// calling thread, no cross-thread wake-ups; default: one per core).
fn run_async_on(
    threads: Option<usize>,
    job: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match threads {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("switchboard: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(job) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("switchboard: {err:#}");
            ExitCode::FAILURE
        }
    }
}

//! `switchboard cdr export`: the contact center's call detail records
//! from its event log.

use std::path::Path;

use anyhow::{bail, Context};
use store::{CdrQuery, SqliteStore, Store};

use crate::center::CenterConfig;

/// Output formats of `cdr export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// RFC 4180 CSV with a header line.
    Csv,
    /// One JSON object per line.
    Json,
}

/// CDRs fetched per query.
const PAGE: u32 = 1000;

/// Prints the CDRs of the store `config` names, oldest first.
pub(crate) async fn export(
    config: &Path,
    since: Option<&str>,
    format: Format,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read config {}", config.display()))?;
    let sbc = sbc::Config::from_toml_str(&text, &config.display().to_string())?;
    let Some(raw) = sbc.contact_center.clone() else {
        bail!("{} has no [contact_center] section", config.display());
    };
    let tenants = sbc
        .tenants
        .iter()
        .map(|(name, tenant)| (name.as_str().to_owned(), tenant.teams_tenant_id.clone()))
        .collect();
    let center = CenterConfig::from_value(raw, &tenants, Path::new("."))?;
    if !center.database.exists() {
        bail!(
            "no event log at {} (has serve run?)",
            center.database.display()
        );
    }
    let since_unix_ms = match since {
        Some(text) => Some(
            store::parse_time(text)
                .with_context(|| format!("--since {text}: not RFC 3339 nor Unix seconds"))?,
        ),
        None => None,
    };
    let store = SqliteStore::open(&center.database)
        .await
        .with_context(|| format!("opening {}", center.database.display()))?;
    let mut out = std::io::stdout().lock();
    let mut after_seq = None;
    let mut first = true;
    loop {
        let page = store
            .cdrs(CdrQuery {
                since_unix_ms,
                tenant: None,
                after_seq,
                limit: Some(PAGE),
            })
            .await?;
        for bad in &page.bad_rows {
            eprintln!("switchboard: skipped a bad CDR row: {bad:?}");
        }
        match format {
            Format::Csv if first => store::export_csv(&mut out, &page.cdrs)?,
            Format::Csv => store::export_csv_rows(&mut out, &page.cdrs)?,
            Format::Json => store::export_json(&mut out, &page.cdrs)?,
        }
        first = false;
        match page.cdrs.last() {
            Some(last) if page.cdrs.len() == PAGE as usize => after_seq = Some(last.completed_seq),
            _ => break,
        }
    }
    store.close().await;
    Ok(())
}

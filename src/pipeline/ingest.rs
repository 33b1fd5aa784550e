//! The `ingest` stage: InvoiceCloud's exports into the outbox
//! ([`crate::pump::ingest`] applies the rules and owns the transaction).

use super::StageSummary;
use crate::config::Config;
use crate::pump::ingest::{self, IngestError};
use crate::pump::rules::RuleSettings;
use crate::store::Store;
use crate::{Error, ExitCode, Result};

pub use crate::pump::ingest::IngestSummary;

/// Takes `files` (always read), or else the new export files of `[paths]
/// exports`, into the outbox. A file that cannot be read is said on stderr
/// and counted; the others are still taken.
pub fn run(
    config: &Config,
    store: &mut Store,
    files: &[std::path::PathBuf],
) -> Result<IngestSummary> {
    let rules = RuleSettings::from_config(config);
    let summary =
        ingest::run(store, &rules, files, &config.paths.exports).map_err(|e| match e {
            IngestError::Store(s) => Error::Store(s),
            IngestError::Read { path, source } => Error::Read { path, source },
        })?;
    for u in &summary.unreadable {
        eprintln!(
            "daffron-bridge: error: {}",
            crate::terminal::escape(&u.to_string())
        );
    }
    Ok(summary)
}

impl StageSummary for IngestSummary {
    fn stage(&self) -> &'static str {
        "ingest"
    }
    fn exit_code(&self) -> ExitCode {
        IngestSummary::exit_code(self)
    }
    fn text(&self) -> String {
        IngestSummary::text(self)
    }
    fn json(&self) -> serde_json::Value {
        IngestSummary::json(self)
    }
}

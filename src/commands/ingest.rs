//! `ingest [FILE...]`: InvoiceCloud's exports (`payments.csv`,
//! `events.csv`) into the outbox (`crate::pump::ingest`). Without FILEs, the
//! new files of `[paths] exports`.
//!
//! Exit codes: 0 every row taken (or already there); 1 a row was refused, a
//! key conflicted, or a rule refused an item; 2 configuration or a file that
//! cannot be read.

use std::path::PathBuf;

use super::{Format, Globals};
use crate::pump::ingest;
use crate::pump::rules::RuleSettings;
use crate::store::Store;
use crate::{ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Export files; the kind is told by the header row. Default: the new
    /// files (payments*.csv, events*.csv) in `[paths] exports`.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// `text` (one line per problem, then per file) or `json` (one object).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let config = g.load_config()?;
    let mut store = Store::open(&g.state_path(&config))?;
    let rules = RuleSettings::from_config(&config);
    let summary = ingest::run(&mut store, &rules, &args.files, &config.paths.exports).map_err(
        |e| match e {
            ingest::IngestError::Store(s) => crate::Error::Store(s),
            ingest::IngestError::Read { path, source } => crate::Error::Read { path, source },
        },
    )?;
    super::print(args.format, &summary.text(), &summary.json());
    Ok(summary.exit_code())
}

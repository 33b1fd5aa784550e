//! `ingest [FILE...]`: InvoiceCloud's exports (`payments.csv`,
//! `events.csv`) into the outbox ([`crate::pipeline::ingest`]). Without
//! FILEs, the new files of `[paths] exports`.
//!
//! Exit codes: 0 every row taken (or already there); 1 a row was refused, a
//! key conflicted, or a rule refused an item; 2 configuration or a file that
//! cannot be read.

use std::path::PathBuf;

use super::{Format, Globals};
use crate::pipeline;
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
    let summary = pipeline::ingest::run(&config, &mut store, &args.files)?;
    Ok(pipeline::emit(&summary, args.format))
}

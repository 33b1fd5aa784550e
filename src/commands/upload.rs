//! `upload FILE...`: send BIF files to InvoiceCloud's UploadInvoiceFile.
//!
//! The stage is [`crate::pipeline::upload`]: each file is validated and
//! transformed exactly as `transform` would (an invalid file is never
//! uploaded), keyed by the sha256 of the transformed bytes so the same
//! content is never uploaded twice (unless `--again`), and every attempt is
//! recorded in the state file. With the demo configuration (`[sandbox]
//! embedded = true`) the local sandbox runs in-process and receives them.
//!
//! Exit codes: 0 every file uploaded or already uploaded; 1 a file was
//! invalid, InvoiceCloud rejected it, or its upload is unknown (sent
//! without a usable answer: `--again` or `--confirm` settles it); 2 usage or
//! configuration (HTTP 401/403/404 included); 3 InvoiceCloud could not be
//! reached after retries, or another `run`/`pull`/`upload` holds the lock:
//! the file is left for the next run.

use std::path::PathBuf;

use super::{Format, Globals};
use crate::pipeline::{self, Uploader};
use crate::store::{StateLock, Store};
use crate::{ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// BIF files to upload (typically from the inbox).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Upload even if InvoiceCloud already accepted the same content, or an
    /// earlier upload of it is unknown (sent without a usable answer).
    #[arg(long, conflicts_with = "confirm")]
    pub again: bool,

    /// Send nothing: record that InvoiceCloud holds these files (after an
    /// unknown upload, checked on InvoiceCloud's portal).
    #[arg(long)]
    pub confirm: bool,

    /// Output format: one line per file, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let mut config = g.load_config()?;
    // The demo configuration sends to its in-process sandbox.
    let _sandbox = crate::sandbox::embedded::start(&mut config)?;
    let uploader = Uploader::from_config(&config, crate::bif::layout_for(&config)?)?;
    let state = g.state_path(&config);
    // The lock `run` holds while it uploads: two uploads of one file at
    // once would each see it unsent.
    let _lock = StateLock::pull(&state)?;
    let mut store = Store::open(&state)?;
    let summary = if args.confirm {
        pipeline::upload::confirm(&uploader, &args.files, &mut store)?
    } else {
        pipeline::upload::files(&uploader, &args.files, &mut store, args.again)?
    };
    Ok(pipeline::emit(&summary, args.format))
}

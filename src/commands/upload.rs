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
//! invalid or InvoiceCloud rejected it; 2 usage or configuration; 3
//! InvoiceCloud could not be reached after retries: the file is left for the
//! next run.

use std::path::PathBuf;

use super::{Format, Globals};
use crate::pipeline::{self, Uploader};
use crate::store::Store;
use crate::{ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// BIF files to upload (typically from the inbox).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Upload even if InvoiceCloud already accepted the same content.
    #[arg(long)]
    pub again: bool,

    /// Output format: one line per file, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let mut config = g.load_config()?;
    // The demo configuration sends to its in-process sandbox.
    let _sandbox = crate::sandbox::embedded::start(&mut config)?;
    let uploader = Uploader::from_config(&config, crate::bif::layout_for(&config)?)?;
    let mut store = Store::open(&g.state_path(&config))?;
    let summary = pipeline::upload::files(&uploader, &args.files, &mut store, args.again)?;
    Ok(pipeline::emit(&summary, args.format))
}

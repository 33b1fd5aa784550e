//! `upload FILE...`: send BIF files to InvoiceCloud's UploadInvoiceFile
//! (issue 4, item 5).
//!
//! Each file is validated and transformed exactly as `transform` would
//! (`crate::bif::transform`): an invalid file is never uploaded. What is sent
//! is keyed by the sha256 of the transformed bytes, so the same content is
//! never uploaded twice (unless `--again`), whatever its name. Every attempt
//! is recorded in the state file.
//!
//! Exit codes: 0 every file uploaded or already uploaded; 1 a file was
//! invalid or InvoiceCloud rejected it; 2 usage or configuration; 3
//! InvoiceCloud could not be reached after retries: the file is left for the
//! next run.

use std::path::PathBuf;

use serde::Serialize;

use super::{Format, Globals};
use crate::pipeline::{UploadResult, Uploader};
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

#[derive(Serialize)]
struct Output<'a> {
    files: &'a [UploadResult],
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let config = g.load_config()?;
    let uploader = Uploader::from_config(&config, crate::bif::layout_for(&config)?)?;
    let mut store = Store::open(&g.state_path(&config))?;
    let mut results = Vec::new();
    for path in &args.files {
        results.push(uploader.upload(path, &mut store, args.again)?);
    }
    print(&results, args.format);
    Ok(exit_code(&results))
}

/// The worst outcome's exit code.
pub fn exit_code(results: &[UploadResult]) -> ExitCode {
    results.iter().fold(ExitCode::Success, |code, r| {
        code.worst(r.outcome.exit_code())
    })
}

/// A line per file, or one JSON object `{"files":[...]}`.
pub fn print(results: &[UploadResult], format: Format) {
    match format {
        Format::Json => match serde_json::to_string(&Output { files: results }) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("daffron-bridge: cannot print JSON: {e}"),
        },
        Format::Text => {
            for r in results {
                println!("{}", r.text_line());
            }
        }
    }
}

//! `pdf-link FILE [--invoice N]`: the remote PDF URL of each invoice
//! (`crate::pdf_link`; setting 20 base URL, 119 version, 131 BCTR modifier).
//! Output (D17): text `INVOICE URL` a line; JSON
//! `{"links":[{"invoice","account","version","url"}]}`. The file is validated
//! first; an invalid file gives no links (exit 1).

use std::path::PathBuf;

use super::{Format, Globals};
use crate::bif::{self, ValidateOptions};
use crate::{Error, ExitCode, Result, pdf_link};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The BIF file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Only this InvoiceNumber.
    #[arg(long, value_name = "N")]
    pub invoice: Option<String>,

    /// `text`: `INVOICE URL` a line; `json`: one object,
    /// `{"links":[{"invoice","account","version","url"}]}` (D17).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let config = g.load_config()?;
    let base = config.require_remote_pdf_url("pdf-link")?.to_string();
    let layout = bif::layout_for(&config)?;
    let bytes = std::fs::read(&args.file).map_err(|source| Error::Read {
        path: args.file.clone(),
        source,
    })?;
    let name = args.file.display().to_string();
    let report = bif::validate_bytes(
        &name,
        &bytes,
        &layout,
        &ValidateOptions::from_config(&config),
    );
    if !report.valid {
        eprint!("{}", crate::terminal::escape(&report.render_text()));
        eprintln!("{name}: no links: the file is not valid");
        return Ok(ExitCode::InputErrors);
    }
    let invoices =
        bif::read_invoices(&bytes, &layout).map_err(|e| Error::Usage(format!("{name}: {e}")))?;
    let mut links = pdf_link::links(&invoices, &config.settings, &base);
    if let Some(n) = &args.invoice {
        links.retain(|l| &l.invoice == n);
        if links.is_empty() {
            return Err(Error::Usage(format!(
                "invoice {n} is not in {name}; `pdf-link {name}` lists them all"
            )));
        }
    }
    match args.format {
        Format::Json => println!("{}", serde_json::json!({ "links": links })),
        Format::Text => {
            for l in &links {
                println!("{} {}", l.invoice, l.url);
            }
        }
    }
    Ok(ExitCode::Success)
}

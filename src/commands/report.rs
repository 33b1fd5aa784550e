//! `report`: the reconciliation report of a run or a night, from the state
//! file, as text, JSON, CSV or one self-contained HTML page
//! ([`crate::report`]). Reads only; works while a run is going.

use std::path::PathBuf;

use super::Globals;
use crate::report::{self, Scope};
use crate::store::Store;
use crate::{Error, ExitCode, Result};

/// The forms of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// For a terminal: headline, sections, what needs a person.
    Text,
    /// The report model, versioned (`report_version`); README documents it.
    Json,
    /// One table for a spreadsheet, a `section` column to filter on.
    Csv,
    /// One self-contained page (inline CSS and SVG, no script), printable.
    Html,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The report of one run (its id, as `run` prints it). Default: the
    /// latest run.
    #[arg(long, value_name = "ID", conflicts_with = "date")]
    pub run: Option<i64>,

    /// The report of a night: every run started that date in the biller's
    /// timezone.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,

    /// The report's form.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Write to FILE (whole or not at all) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let config = g.load_config()?;
    let state = g.state_path(&config);
    if !state.exists() {
        return Err(report::ReportError::NoRunYet.into());
    }
    let store = Store::open(&state)?;
    let scope = match (&args.run, &args.date) {
        (Some(id), _) => Scope::Run(*id),
        (None, Some(date)) => {
            let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| {
                Error::Usage(format!(
                    "--date `{date}` is not a date: give YYYY-MM-DD, e.g. 2026-11-27"
                ))
            })?;
            Scope::Night(d.format("%Y-%m-%d").to_string())
        }
        (None, None) => report::latest(&store)?,
    };
    let r = report::build(&config, &store, &scope)?;
    let bytes = match args.format {
        // Names, addresses and server messages come from outside: printed
        // escaped, like every other command's text.
        ReportFormat::Text => crate::terminal::escape(&report::text::render(&r))
            .into_owned()
            .into_bytes(),
        ReportFormat::Json => {
            let mut v = serde_json::to_vec_pretty(&r)
                .map_err(|e| Error::Usage(format!("cannot write JSON: {e}")))?;
            v.push(b'\n');
            v
        }
        ReportFormat::Csv => report::csv::render(&r),
        ReportFormat::Html => report::html::render(&r).into_bytes(),
    };
    match &args.output {
        Some(path) => {
            crate::atomic_file::write(path, &bytes).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
            eprintln!("daffron-bridge: report written to {}", path.display());
        }
        None => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)
                .and_then(|()| out.flush())
                .map_err(|source| Error::Write {
                    path: PathBuf::from("<stdout>"),
                    source,
                })?;
        }
    }
    Ok(ExitCode::Success)
}

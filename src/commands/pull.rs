//! `pull`: take new BIF files from the SFTP folder (`[sftp]`) or the local
//! drop box (`[dropbox]`) into the inbox, judge them, archive or quarantine
//! them, and feed the account directory (issue 4). The guarantees are in
//! `crate::intake`; this module picks the source and the checks and prints
//! one line (or one JSON object) per file.
//!
//! Exit codes: 0 every file taken or nothing to do; 1 some file quarantined
//! or refused; 2 configuration (host key, credentials, folders); 3 server
//! unreachable, connection lost or another pull running: work pending,
//! nothing lost.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Format, Globals};
use crate::intake::{self, IntakeSummary, Outcome};
use crate::pipeline;
use crate::store::{StateLock, Store};
use crate::{ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Output format: one line per file, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let config = g.load_config()?;
    let layout = crate::bif::layout_for(&config)?;
    let state = g.state_path(&config);
    let _lock = StateLock::pull(&state)?;
    let mut store = Store::open(&state)?;
    let summary = pipeline::pull(&config, &layout, &mut store)?;
    print(&summary, args.format);
    finish(summary)
}

/// The exit code of a pull: the error where intake stopped (3 when it was
/// transient), else 1 when a file was quarantined or refused.
pub fn finish(summary: IntakeSummary) -> Result<ExitCode> {
    let code = if summary.count("quarantined") + summary.count("refused") > 0 {
        ExitCode::InputErrors
    } else {
        ExitCode::Success
    };
    match summary.stopped {
        Some(e) => Err(e.into()),
        None => Ok(code),
    }
}

#[derive(Serialize)]
pub struct Stopped {
    message: String,
    transient: bool,
}

/// The JSON form of a pull (`pull --format json`, and `run`'s `pull`).
#[derive(Serialize)]
pub struct JsonSummary<'a> {
    source: &'a str,
    files: &'a [intake::FileOutcome],
    counts: BTreeMap<&'static str, usize>,
    stopped: Option<Stopped>,
}

const WORDS: [&str; 5] = [
    "taken",
    "already_taken",
    "still_settling",
    "quarantined",
    "refused",
];

fn counts(s: &IntakeSummary) -> BTreeMap<&'static str, usize> {
    WORDS.iter().map(|w| (*w, s.count(w))).collect()
}

/// The JSON form of a pull.
pub fn json_summary(s: &IntakeSummary) -> JsonSummary<'_> {
    JsonSummary {
        source: &s.source,
        files: &s.files,
        counts: counts(s),
        stopped: s.stopped.as_ref().map(|e| Stopped {
            message: e.to_string(),
            transient: e.is_transient(),
        }),
    }
}

/// Prints a pull's outcome: a line per file and a count, or one JSON object.
pub fn print(s: &IntakeSummary, format: Format) {
    let counts = counts(s);
    match format {
        Format::Json => match serde_json::to_string(&json_summary(s)) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("daffron-bridge: cannot print JSON: {e}"),
        },
        Format::Text => {
            println!("pull from {}", s.source);
            for f in &s.files {
                let word = f.outcome.word().replace('_', " ");
                let sha = f
                    .sha256
                    .as_deref()
                    .map(|h| format!("  sha256 {}", &h[..h.len().min(12)]))
                    .unwrap_or_default();
                let detail = match &f.outcome {
                    Outcome::Taken { path, changes } => {
                        let c: Vec<String> =
                            changes.iter().map(|(k, v)| format!("{v} {k}")).collect();
                        let accounts = if c.is_empty() {
                            "no account changes".to_string()
                        } else {
                            format!("accounts: {}", c.join(", "))
                        };
                        format!("-> {}  {accounts}", path.display())
                    }
                    Outcome::AlreadyTaken { verdict } => {
                        format!("({} earlier; not processed again)", verdict.as_str())
                    }
                    Outcome::StillSettling { reason } => format!("({reason}; next run)"),
                    Outcome::Quarantined { path, report } => {
                        format!("-> {}  (report {})", path.display(), report.display())
                    }
                    Outcome::Refused { reason } => format!("(name {reason}; left on the server)"),
                };
                println!("  {word:<15} {}  {} bytes{sha}  {detail}", f.name, f.size);
            }
            let summary: Vec<String> = counts
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(w, n)| format!("{n} {}", w.replace('_', " ")))
                .collect();
            if summary.is_empty() {
                println!("nothing new");
            } else {
                println!("{}", summary.join(", "));
            }
        }
    }
}

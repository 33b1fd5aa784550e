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
use crate::bif::layout::Layout;
use crate::config::Config;
use crate::intake::{self, Admission, IntakeOptions, IntakeSummary, Outcome, PullLock};
use crate::store::Store;
use crate::transport::{DropboxSource, SftpSource, Source};
use crate::{Error, ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Output format: one line per file, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The checks `pull` runs on every downloaded file: the BIF validator with
/// this biller's rules.
pub fn admission(config: &Config, layout: &Layout) -> Box<dyn Admission> {
    Box::new(intake::ValidatorAdmission::from_config(
        config,
        layout.clone(),
    ))
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let config = g.load_config()?;
    let layout = crate::bif::layout_for(&config)?;
    if config.sftp.is_some() && config.dropbox.is_some() {
        return Err(Error::Usage(format!(
            "configuration {}: `pull` reads either [sftp] or [dropbox]; remove one of them",
            config.origin
        )));
    }
    let state = g.state_path(&config);
    let _lock = PullLock::acquire(&state)?;
    let mut store = Store::open(&state)?;

    let (source, settle_seconds, keep_originals): (
        std::result::Result<Box<dyn Source>, crate::transport::TransportError>,
        u64,
        bool,
    ) = match (&config.sftp, &config.dropbox) {
        (Some(s), _) => {
            let password = s
                .password
                .as_ref()
                .map(|p| p.expose("[sftp] password"))
                .transpose()?;
            (
                SftpSource::connect(s, password.as_deref()).map(|c| Box::new(c) as Box<dyn Source>),
                s.settle_seconds,
                false,
            )
        }
        (None, Some(d)) => (
            Ok(Box::new(DropboxSource::new(d)) as Box<dyn Source>),
            d.settle_seconds,
            d.keep_originals,
        ),
        (None, None) => {
            config.require_sftp("pull")?;
            return Err(Error::Usage("`pull` needs [sftp] or [dropbox]".into()));
        }
    };

    let summary = match source {
        Ok(mut source) => {
            let opts = IntakeOptions {
                bid: config.biller.bid,
                inbox: config.paths.inbox.clone(),
                quarantine: config.paths.quarantine.clone(),
                settle_seconds,
                layout: layout.clone(),
                keep_originals,
            };
            let checks = admission(&config, &layout);
            intake::run(source.as_mut(), &mut store, checks.as_ref(), &opts)
        }
        Err(e) => IntakeSummary {
            source: config
                .sftp
                .as_ref()
                .map(|s| format!("sftp://{}@{}:{}{}", s.user, s.host, s.port, s.remote_dir))
                .unwrap_or_default(),
            files: Vec::new(),
            stopped: Some(e.into()),
        },
    };

    print(&summary, args.format);
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
struct Stopped {
    message: String,
    transient: bool,
}

#[derive(Serialize)]
struct JsonSummary<'a> {
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

fn print(s: &IntakeSummary, format: Format) {
    let counts: BTreeMap<&'static str, usize> = WORDS.iter().map(|w| (*w, s.count(w))).collect();
    match format {
        Format::Json => {
            let j = JsonSummary {
                source: &s.source,
                files: &s.files,
                counts,
                stopped: s.stopped.as_ref().map(|e| Stopped {
                    message: e.to_string(),
                    transient: e.is_transient(),
                }),
            };
            match serde_json::to_string(&j) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("daffron-bridge: cannot print JSON: {e}"),
            }
        }
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

//! The `pull` stage: new BIF files from `[sftp]` or `[dropbox]` into the
//! inbox, judged by the BIF validator with this biller's rules, archived or
//! quarantined, feeding the account directory. The guarantees (exactly
//! once, never half a file) are in [`crate::intake`]; this module picks the
//! source and the checks and says what happened.
//!
//! Exit codes: 0 every file taken or nothing new; 1 a file quarantined or
//! refused; 2 configuration (host key, credentials, folders); 3 the server
//! unreachable or the connection lost: the work waits, nothing is lost.

use std::collections::BTreeMap;

use serde::Serialize;

use super::StageSummary;
use crate::bif::Layout;
use crate::config::Config;
use crate::intake::{self, FileOutcome, IntakeOptions, IntakeSummary, Outcome};
use crate::transport::{DropboxSource, SftpSource, Source};
use crate::{Error, ExitCode, Result};

/// Takes new files from `[sftp]` or `[dropbox]` (exactly one must be
/// configured). The caller holds the pull lock.
///
/// A source that cannot be reached, or lost half-way, is not an `Err`: the
/// summary keeps where intake stopped with what it did before, and the stop
/// is said on stderr now.
pub fn run(
    config: &Config,
    layout: &Layout,
    store: &mut crate::store::Store,
) -> Result<PullSummary> {
    let (source, settle_seconds, keep_originals, max_file_bytes) =
        match (&config.sftp, &config.dropbox) {
            // Both at once is refused when the configuration is read.
            (Some(s), _) => {
                let password = s
                    .password
                    .as_ref()
                    .map(|p| p.expose("[sftp] password"))
                    .transpose()?;
                let source = SftpSource::connect(s, password.as_deref())
                    .map(|c| Box::new(c) as Box<dyn Source>);
                (source, s.settle_seconds, false, s.max_file_bytes)
            }
            (None, Some(d)) => (
                Ok(Box::new(DropboxSource::new(d)) as Box<dyn Source>),
                d.settle_seconds,
                d.keep_originals,
                d.max_file_bytes,
            ),
            (None, None) => {
                return Err(Error::Usage(format!(
                    "configuration {}: `pull` needs an [sftp] or a [dropbox] section",
                    config.origin
                )));
            }
        };
    let intake = match source {
        Ok(mut source) => {
            let opts = IntakeOptions {
                bid: config.biller.bid,
                inbox: config.paths.inbox.clone(),
                quarantine: config.paths.quarantine.clone(),
                settle_seconds,
                layout: layout.clone(),
                keep_originals,
                max_file_bytes,
            };
            let checks = intake::ValidatorAdmission::from_config(config, layout.clone());
            intake::run(source.as_mut(), store, &checks, &opts)
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
    let summary = PullSummary::from(intake);
    if let Some(line) = summary.stopped_line() {
        crate::commands::say_error(&line);
    }
    Ok(summary)
}

/// What a pull did: a line per listed file, and where it stopped if it did.
#[derive(Debug)]
pub struct PullSummary {
    /// `sftp://user@host:port/dir` or `dropbox:/dir`.
    pub source: String,
    pub files: Vec<FileOutcome>,
    /// Why intake could not go through the whole listing; the files not
    /// reached wait for the next run.
    pub stopped: Option<Error>,
}

impl From<IntakeSummary> for PullSummary {
    fn from(s: IntakeSummary) -> Self {
        PullSummary {
            source: s.source,
            files: s.files,
            stopped: s.stopped.map(Error::from),
        }
    }
}

/// The outcome words, in the order `counts` lists them.
const WORDS: [&str; 5] = [
    "taken",
    "already_taken",
    "still_settling",
    "quarantined",
    "refused",
];

/// `pull --format json`, and `run`'s `pull`.
#[derive(Serialize)]
struct Json<'a> {
    source: &'a str,
    files: &'a [FileOutcome],
    counts: BTreeMap<&'static str, usize>,
    stopped: Option<Stopped>,
}

#[derive(Serialize)]
struct Stopped {
    message: String,
    transient: bool,
}

impl PullSummary {
    /// How many files had the outcome `word` (`taken`, `quarantined`, ...).
    pub fn count(&self, word: &str) -> usize {
        self.files
            .iter()
            .filter(|f| f.outcome.word() == word)
            .count()
    }

    fn counts(&self) -> BTreeMap<&'static str, usize> {
        WORDS.iter().map(|w| (*w, self.count(w))).collect()
    }

    /// The stderr line of a pull that stopped half-way.
    pub fn stopped_line(&self) -> Option<String> {
        self.stopped.as_ref().map(crate::commands::error_line)
    }
}

impl StageSummary for PullSummary {
    fn stage(&self) -> &'static str {
        "pull"
    }

    /// Where intake stopped decides (3 when transient, 2 for a host key or
    /// credentials); else 1 when a file was quarantined or refused.
    fn exit_code(&self) -> ExitCode {
        let files = if self.count("quarantined") + self.count("refused") > 0 {
            ExitCode::InputErrors
        } else {
            ExitCode::Success
        };
        match &self.stopped {
            Some(e) => files.worst(e.exit_code()),
            None => files,
        }
    }

    fn text(&self) -> String {
        let mut lines = vec![format!("pull from {}", self.source)];
        for f in &self.files {
            let word = f.outcome.word().replace('_', " ");
            let sha = f
                .sha256
                .as_deref()
                .map(|h| format!("  sha256 {}", &h[..h.len().min(12)]))
                .unwrap_or_default();
            let detail = match &f.outcome {
                Outcome::Taken { path, changes } => {
                    let c: Vec<String> = changes.iter().map(|(k, v)| format!("{v} {k}")).collect();
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
                Outcome::TooLarge { reason, report, .. } => {
                    format!("({reason})  (report {})", report.display())
                }
                Outcome::Refused { reason } => format!("(name {reason}; left on the server)"),
            };
            let size = f
                .size
                .map(|n| format!("{n} bytes"))
                .unwrap_or_else(|| "size unknown".into());
            lines.push(format!("  {word:<15} {}  {size}{sha}  {detail}", f.name));
        }
        let counts: Vec<String> = self
            .counts()
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(w, n)| format!("{n} {}", w.replace('_', " ")))
            .collect();
        if counts.is_empty() {
            lines.push("nothing new".into());
        } else {
            lines.push(counts.join(", "));
        }
        lines.join("\n")
    }

    fn json(&self) -> serde_json::Value {
        let json = Json {
            source: &self.source,
            files: &self.files,
            counts: self.counts(),
            stopped: self.stopped.as_ref().map(|e| Stopped {
                message: e.to_string(),
                transient: e.exit_code() == ExitCode::Transient,
            }),
        };
        super::to_json(&json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::IntakeError;
    use crate::transport::TransportError;

    fn lost() -> IntakeError {
        TransportError::Lost {
            target: "sftp://u@h:22/out".into(),
            during: "download".into(),
            message: "reset".into(),
        }
        .into()
    }

    fn file(name: &str, outcome: Outcome) -> FileOutcome {
        FileOutcome {
            name: name.into(),
            size: Some(10),
            sha256: Some("ab".repeat(32)),
            outcome,
        }
    }

    #[test]
    fn a_stop_half_way_owns_the_exit_code_and_the_stderr_line() {
        let s = PullSummary::from(IntakeSummary {
            source: "sftp://u@h:22/out".into(),
            files: vec![file(
                "2661_11252026.BIF",
                Outcome::Refused {
                    reason: "has ..".into(),
                },
            )],
            stopped: Some(lost()),
        });
        // Transient outranks the refused file: work waits for the next run.
        assert_eq!(s.exit_code(), ExitCode::Transient);
        let line = s.stopped_line().unwrap();
        assert!(line.starts_with("daffron-bridge: error: connection to sftp://u@h:22/out lost"));
        let j = s.json();
        assert_eq!(j["stopped"]["transient"], true, "{j}");
        assert_eq!(j["counts"]["refused"], 1, "{j}");
        let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["source", "files", "counts", "stopped"]);
        assert_eq!(s.text().lines().last(), Some("1 refused"));
    }

    #[test]
    fn nothing_new_is_success() {
        let s = PullSummary::from(IntakeSummary {
            source: "dropbox:/x".into(),
            ..IntakeSummary::default()
        });
        assert_eq!(s.stage(), "pull");
        assert_eq!(s.exit_code(), ExitCode::Success);
        assert_eq!(s.text(), "pull from dropbox:/x\nnothing new");
        assert!(s.stopped_line().is_none());
        assert!(s.json()["stopped"].is_null());
    }
}

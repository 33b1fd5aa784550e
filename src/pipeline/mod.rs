//! The nightly job's data path, one module per stage (like Vector's
//! sources, transforms and sinks). A stage returns a summary that owns its
//! JSON, its text and its exit code ([`StageSummary`]); a command loads the
//! configuration, takes its locks, calls the stage and [`emit`]s the
//! summary, and `run` is a list of stages.
//!
//! | stage | module | summary | what it does | guarantees live in |
//! |---|---|---|---|---|
//! | `pull` | [`pull`] | [`PullSummary`] | SFTP or drop box → validated → inbox or quarantine | [`crate::intake`] |
//! | `upload` | [`upload`] | [`UploadSummary`] | inbox → transformed → InvoiceCloud UploadInvoiceFile, retried by `[pump]`'s call policy | [`upload`], [`crate::invoicecloud`], [`crate::retry`] |
//! | `ingest` | [`ingest`] | [`ingest::IngestSummary`] | payments.csv / events.csv → the outbox, rules applied | [`crate::pump::ingest`] |
//! | `sweep` | [`sweep`] | [`sweep::SweepSummary`] | the outbox → Daffron's MultiSpeak endpoints, batched, retried | [`crate::pump::sweep`] |
//! | `verify` | [`verify`] | [`verify::VerifySummary`] | the accounts paid in the run → RTDR: does the balance show the payment | [`verify`] |
//! | `report` | [`report`] | [`report::ReportSummary`] | the run's reconciliation report → `[paths] reports` (HTML, JSON) | [`crate::report`] |
//!
//! Not here: the locks (`crate::store::StateLock`, taken by the commands),
//! the demo's in-process sandbox ([`crate::sandbox::embedded`]), the wire
//! forms ([`crate::invoicecloud`], [`crate::multispeak`]).
//!
//! # The stage contract
//!
//! - A stage module has an entry function taking what it reads (the typed
//!   [`crate::config::Config`], the layout, the [`crate::store::Store`]) and
//!   returning `Result<ItsSummary>`.
//! - `Err` is for what stops the whole command before the stage could say
//!   anything about its work (configuration, the state file); the command
//!   ends with [`crate::Error::exit_code`]. Everything else is in the
//!   summary: per-item outcomes, and a stop half-way (a source or endpoint
//!   that cannot be reached) together with what was done before it.
//! - The summary implements [`StageSummary`]: its name (the command's name
//!   and its key in `run --format json`), its exit code (the worst of its
//!   outcomes, `interface.md` §3), its text for people and its JSON object.
//!   These are the outside of the product: tests hold them exactly.
//! - An error met on the way (a stop, a file that cannot be read) is said on
//!   stderr by the stage when it happens, as [`crate::commands::error_line`]
//!   writes it, and kept in the summary, whose exit code counts it. stdout
//!   carries only the summary.
//! - A stage with nothing to do still returns a summary, so `run` always
//!   shows every stage.
//! - JSON objects print their keys in the order the code writes them
//!   (serde_json's `preserve_order`): a summary's fields in struct order,
//!   `run`'s stages in the order they ran.
//! - One exception, kept from before stages: under `run`, `"upload"` is the
//!   bare array of file results, not `upload`'s `{"files":[...]}`
//!   ([`upload::Scope::Pending`]). A new stage puts under `run` exactly what
//!   its own command prints.
//!
//! # Adding a stage
//!
//! 1. `src/pipeline/<stage>.rs`: the entry function and a summary that
//!    implements [`StageSummary`]; a row in the table above.
//! 2. `src/commands/<stage>.rs`: load the configuration, start
//!    [`crate::sandbox::embedded`] if the stage calls out, take the stage's
//!    lock (`StateLock::sweep` for a sweep), call the stage, [`emit`].
//! 3. `src/commands/run.rs`: add a `stage(...)` call, in the order of the
//!    night. Under `run` an `Err` does not stop the night: it becomes a
//!    [`FailedStage`] (said on stderr, counted in the exit code) and the
//!    next stage runs, so a stage's `Err` is still "this stage could do
//!    nothing", never "stop everything".

use crate::ExitCode;
use crate::commands::Format;

pub mod ingest;
pub mod progress;
pub mod pull;
pub mod report;
pub mod sweep;
pub mod upload;
pub mod verify;

pub use pull::PullSummary;
pub use upload::{UploadResult, UploadResultKind, UploadSummary, Uploader};

/// What one stage of the pipeline reports: the one thing a command prints
/// and the one thing `run` collects per stage.
pub trait StageSummary {
    /// The stage's name, also its key in `run --format json`: "pull", "upload", ...
    fn stage(&self) -> &'static str;
    /// The exit code this stage's outcome asks for (interface.md §3).
    fn exit_code(&self) -> crate::ExitCode;
    /// Lines for people (no trailing newline needed on the last).
    fn text(&self) -> String;
    /// The stage's JSON object, as `<command> --format json` prints it.
    fn json(&self) -> serde_json::Value;
}

/// Prints a summary in the chosen format on stdout and returns its exit code.
pub fn emit(summary: &dyn StageSummary, format: crate::commands::Format) -> crate::ExitCode {
    match format {
        Format::Text => print_text(&summary.text()),
        Format::Json => println!("{}", summary.json()),
    }
    summary.exit_code()
}

/// Prints text lines, escaped ([`crate::terminal::escape`]: they hold
/// names and messages from outside), adding the last newline when it is
/// missing; nothing at all for empty text (not a blank line).
pub(crate) fn print_text(text: &str) {
    let text = text.trim_end_matches('\n');
    if !text.is_empty() {
        println!("{}", crate::terminal::escape(text));
    }
}

/// A summary's serde form as a JSON value. Summaries are plain data with
/// string keys, so this does not fail; were it to, the failure is said on
/// stderr and the value is `null`, and the exit code still stands.
pub fn to_json(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|e| {
        eprintln!("daffron-bridge: cannot print JSON: {e}");
        serde_json::Value::Null
    })
}

/// A stage of `run` that ended in an `Err`: the night goes on, and the
/// stage shows as failed with its error and exit code.
#[derive(Debug)]
pub struct FailedStage {
    pub stage: &'static str,
    pub error: crate::Error,
}

impl StageSummary for FailedStage {
    fn stage(&self) -> &'static str {
        self.stage
    }
    fn exit_code(&self) -> ExitCode {
        self.error.exit_code()
    }
    fn text(&self) -> String {
        let line = crate::commands::error_line(&self.error);
        let cause = line.trim_start_matches("daffron-bridge: error: ");
        format!("{}: failed: {cause}", self.stage)
    }
    fn json(&self) -> serde_json::Value {
        let line = crate::commands::error_line(&self.error);
        serde_json::json!({
            "failed": true,
            "error": line.trim_start_matches("daffron-bridge: error: "),
            "exit_code": self.exit_code() as u8,
        })
    }
}

/// The exit code of several stages (or items): the worst one.
pub fn worst(codes: impl IntoIterator<Item = ExitCode>) -> ExitCode {
    codes
        .into_iter()
        .fold(ExitCode::Success, |worst, code| worst.worst(code))
}

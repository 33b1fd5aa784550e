//! `run`: the nightly job (`interface.md` §3), a list of stages of
//! [`crate::pipeline`] run in order: pull (SFTP or drop box → validated →
//! inbox or quarantine), upload of every accepted file InvoiceCloud has
//! not settled yet (including files whose upload failed on an earlier
//! night), ingest of the new exports into the outbox, and a sweep of the
//! outbox to Daffron. Verification and the report join the list when they
//! are built.
//!
//! Each stage's summary prints itself: its text in turn, or one JSON object
//! with each stage's object under its name (`{"pull":{...},"upload":[...]}`).
//!
//! With the embedded demo configuration (`[sandbox] embedded = true`) the
//! local sandbox runs in-process and every endpoint points at it, so
//! `daffron-bridge run` in a fresh checkout works end to end.
//!
//! Exit code: the worst of the stages': 1 a file was quarantined or
//! rejected; 3 a source or endpoint was unreachable and work is pending.

use super::{Format, Globals};
use crate::pipeline::{self, StageSummary};
use crate::store::{StateLock, Store};
use crate::{ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Output format: text for people and logs, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let mut config = g.load_config()?;
    let sandbox = crate::sandbox::embedded::start(&mut config)?;
    let layout = crate::bif::layout_for(&config)?;
    let state = g.state_path(&config);

    // Under the pull lock: a second `run` started by an impatient scheduler
    // exits 3 instead of racing this one.
    let _lock = StateLock::pull(&state)?;
    let _sweep_lock = StateLock::sweep(&state)?;
    let mut store = Store::open(&state)?;

    // A stage that stopped half-way does not stop the night: the pull's
    // files taken before the stop are still uploaded.
    let stages: Vec<Box<dyn StageSummary>> = vec![
        Box::new(pipeline::pull::run(&config, &layout, &mut store)?),
        Box::new(pipeline::upload::pending(&config, &layout, &mut store)?),
        Box::new(pipeline::ingest::run(&config, &mut store, &[])?),
        Box::new(pipeline::sweep::run(&config, &mut store)?),
    ];
    if let Some(s) = sandbox {
        s.shutdown();
    }
    Ok(print(&stages, args.format))
}

/// Prints every stage's summary (text in turn, or one JSON object keyed by
/// stage) and returns the worst exit code.
fn print(stages: &[Box<dyn StageSummary>], format: Format) -> ExitCode {
    match format {
        Format::Text => {
            for s in stages {
                pipeline::print_text(&s.text());
            }
        }
        Format::Json => {
            let night: serde_json::Map<String, serde_json::Value> = stages
                .iter()
                .map(|s| (s.stage().to_string(), s.json()))
                .collect();
            println!("{}", serde_json::Value::Object(night));
        }
    }
    pipeline::worst(stages.iter().map(|s| s.exit_code()))
}

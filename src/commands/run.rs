//! `run`: the nightly job (`interface.md` §3), a list of stages of
//! [`crate::pipeline`] run in order: pull (SFTP or drop box → validated →
//! inbox or quarantine), upload of every accepted file InvoiceCloud has
//! not settled yet (including files whose upload failed on an earlier
//! night), ingest of the new exports into the outbox, a sweep of the
//! outbox to Daffron, verification of the paid accounts' balances, and the
//! night's report (HTML and JSON in `[paths] reports`).
//!
//! Each run gets an id and a row in the state file, with each stage's
//! outcome, counts (its JSON) and timing, so `report --run ID` can say what
//! any night did. A stage that fails does not stop the ones after it: an
//! unreachable SFTP server still leaves the sweep to post the payments.
//!
//! Each stage's summary prints itself: its text in turn, or one JSON object
//! with each stage's object under its name (`{"run":7,"pull":{...},...}`);
//! then one line with the run's id, outcome and where the report is.
//!
//! With the embedded demo configuration (`[sandbox] embedded = true`) the
//! local sandbox runs in-process and every endpoint points at it, so
//! `daffron-bridge run` in a fresh checkout works end to end.
//!
//! Exit code: the worst of the stages': 1 a file was quarantined, an item
//! refused, rejected or dead, or a balance did not reflect a payment; 3 a
//! source or endpoint was unreachable and work is pending.

use std::time::Instant;

use super::{Format, Globals};
use crate::pipeline::{self, StageSummary};
use crate::store::runs::StageRow;
use crate::store::{StateLock, Store};
use crate::{Error, ExitCode, Result};

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

    // Under the pull and sweep locks: a second `run` started by an
    // impatient scheduler (or a `sweep` by hand) exits 3 instead of racing
    // this one.
    let _lock = StateLock::pull(&state)?;
    let _sweep_lock = StateLock::sweep(&state)?;
    let mut store = Store::open(&state)?;
    let started = Instant::now();
    let night = crate::report::night_of(&config, chrono::Utc::now());
    let run_id = store.start_run(&night)?;

    let mut n = Night {
        run: run_id,
        store: &mut store,
        stages: Vec::new(),
    };
    n.stage("pull", |s| pipeline::pull::run(&config, &layout, s));
    n.stage("upload", |s| pipeline::upload::pending(&config, &layout, s));
    n.stage("ingest", |s| pipeline::ingest::run(&config, s, &[]));
    let mut sweep = None;
    n.stage("sweep", |s| {
        let r = pipeline::sweep::run(&config, s)?;
        sweep = Some(r.sweep_id);
        Ok(r)
    });
    n.stage("verify", |s| {
        pipeline::verify::run(&config, s, Some(run_id), sweep)
    });
    let so_far = n.exit_code();
    let mut report = None;
    n.stage("report", |s| {
        let r = pipeline::report::run(&config, s, run_id, so_far)?;
        report = Some(r.html.clone());
        Ok(r)
    });
    let code = n.exit_code();
    let stages = n.stages;

    let json = night_json(run_id, &stages);
    if let Err(e) = store.finish_run(run_id, code as i64, &json.to_string()) {
        super::say_error(&super::error_line(&Error::from(e)));
    }
    // The metrics come from the finished run in the state file, whether or
    // not the report stage could write its files: a night whose report
    // failed still replaces the last night's figures, so monitoring never
    // reads a stale success.
    if let Some(path) = &config.paths.metrics {
        let scope = crate::report::Scope::Run(run_id);
        let written = crate::report::build(&config, &store, &scope)
            .map_err(Error::from)
            .and_then(|r| {
                let text = crate::report::metrics::render(&r);
                crate::atomic_file::write_readable(path, text.as_bytes()).map_err(|source| {
                    Error::Write {
                        path: path.clone(),
                        source,
                    }
                })
            });
        if let Err(e) = written {
            super::say_error(&super::error_line(&e));
        }
    }
    if let Some(s) = sandbox {
        s.shutdown();
    }

    match args.format {
        Format::Text => {
            for s in &stages {
                pipeline::print_text(&s.text());
            }
            let report = report
                .map(|html| format!("; report {}", html.display()))
                .unwrap_or_default();
            println!(
                "run {run_id}: exit {} ({}) in {:.1}s{report}",
                code as u8,
                code.words(),
                started.elapsed().as_secs_f64()
            );
        }
        Format::Json => println!("{json}"),
    }
    Ok(code)
}

/// The stages of one run, each recorded in the state file as it ends.
struct Night<'a> {
    run: i64,
    store: &'a mut Store,
    stages: Vec<Box<dyn StageSummary>>,
}

impl Night<'_> {
    /// Runs one stage. An `Err` does not end the night: it becomes the
    /// stage's summary (said on stderr, with its exit code) and the next
    /// stage runs.
    fn stage<S: StageSummary + 'static>(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&mut Store) -> Result<S>,
    ) {
        let started_at = crate::store::now_rfc3339();
        let t = Instant::now();
        let summary: Box<dyn StageSummary> = match f(self.store) {
            Ok(s) => Box::new(s),
            Err(error) => {
                super::say_error(&super::error_line(&error));
                Box::new(pipeline::FailedStage { stage: name, error })
            }
        };
        let row = StageRow {
            stage: name.to_string(),
            started_at,
            millis: i64::try_from(t.elapsed().as_millis()).unwrap_or(i64::MAX),
            exit_code: summary.exit_code() as i64,
            summary: summary.json().to_string(),
        };
        if let Err(e) = self.store.record_stage(self.run, &row) {
            super::say_error(&super::error_line(&Error::from(e)));
        }
        self.stages.push(summary);
    }

    fn exit_code(&self) -> ExitCode {
        pipeline::worst(self.stages.iter().map(|s| s.exit_code()))
    }
}

/// The run as one JSON object: its id, then each stage's object under its
/// name, in the order they ran.
fn night_json(run: i64, stages: &[Box<dyn StageSummary>]) -> serde_json::Value {
    let mut night = serde_json::Map::new();
    night.insert("run".into(), run.into());
    for s in stages {
        night.insert(s.stage().to_string(), s.json());
    }
    serde_json::Value::Object(night)
}

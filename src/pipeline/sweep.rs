//! The `sweep` stage: post what the outbox holds to Daffron
//! ([`crate::pump::sweep`] owns the order of commits and calls).

use std::io::Write;
use std::path::Path;

use super::StageSummary;
use crate::config::Config;
use crate::pump::rules::RuleSettings;
use crate::pump::service::{DryRun, Endpoints};
use crate::pump::sweep::{SweepOptions, Sweeper};
use crate::retry::{Clock, SystemClock};
use crate::store::Store;
use crate::{Error, ExitCode, Result};

pub use crate::pump::sweep::SweepSummary;

/// One sweep over the biller's pump endpoints (settings 11, 14, 17). The
/// caller holds the sweep lock.
pub fn run(config: &Config, store: &mut Store) -> Result<SweepSummary> {
    run_with_clock(config, store, &SystemClock)
}

/// [`run`] on a given clock (tests).
pub fn run_with_clock(
    config: &Config,
    store: &mut Store,
    clock: &dyn Clock,
) -> Result<SweepSummary> {
    let rules = RuleSettings::from_config(config);
    let endpoints = Endpoints::from_config(config)?;
    let summary = Sweeper::new(
        store,
        &endpoints,
        clock,
        &rules,
        SweepOptions::from_config(config),
    )
    .run()?;
    for r in &summary.routes {
        if let Some(why) = &r.stopped {
            eprintln!(
                "daffron-bridge: error: {} (setting {}): {}",
                r.route.map(|r| r.as_str()).unwrap_or("?"),
                r.setting,
                crate::terminal::escape(why)
            );
        }
    }
    Ok(summary)
}

/// The same sweep against a private copy of the state file, every call
/// printed on `out` (the header's Pwd as `***`) instead of sent and
/// answered "accepted": what a real sweep would send, in its order, with
/// nothing changed.
pub fn dry_run(config: &Config, state: &Path, out: Box<dyn Write + Send>) -> Result<SweepSummary> {
    let dir = tempfile::tempdir().map_err(|source| Error::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    let copy = dir.path().join("dry-run.sqlite");
    {
        let store = Store::open(state)?;
        store
            .conn()
            .execute("VACUUM INTO ?1", [copy.display().to_string()])
            .map_err(|e| store.err(e))?;
    }
    let mut store = Store::open(&copy)?;
    let rules = RuleSettings::from_config(config);
    let dry = DryRun::new(config, out);
    let mut summary = Sweeper::new(
        &mut store,
        &dry,
        &SystemClock,
        &rules,
        SweepOptions::from_config(config),
    )
    .run()?;
    summary.dry_run = true;
    summary.calls_printed = dry.calls();
    Ok(summary)
}

impl StageSummary for SweepSummary {
    fn stage(&self) -> &'static str {
        "sweep"
    }
    fn exit_code(&self) -> ExitCode {
        SweepSummary::exit_code(self)
    }
    fn text(&self) -> String {
        SweepSummary::text(self)
    }
    fn json(&self) -> serde_json::Value {
        SweepSummary::json(self)
    }
}

//! `sweep [--dry-run]`: post what the outbox holds to Daffron
//! (`crate::pump::sweep`, where the order of commits and calls is written
//! down).
//!
//! `--dry-run` runs the same sweep against a private copy of the state file
//! with every call printed instead of sent (answered "accepted"), so it shows
//! exactly what would go, in what order, and changes nothing.
//!
//! Exit codes: 0 done; 1 an item was rejected or went dead; 2 configuration
//! (an endpoint setting missing, HTTP 4xx); 3 an endpoint unreachable or
//! refusing every call, or another sweep running: work waits, nothing lost.

use serde_json::json;

use super::{Format, Globals};
use crate::pump::rules::RuleSettings;
use crate::pump::service::{DryRun, Endpoints};
use crate::pump::sweep::{SweepOptions, Sweeper};
use crate::retry::SystemClock;
use crate::store::{StateLock, Store};
use crate::{Error, ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Print the SOAP each call would carry (passwords as ***) and change
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// `text` for people, `json` for programs (one object).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let mut config = g.load_config()?;
    let state = g.state_path(&config);
    let rules = RuleSettings::from_config(&config);
    let opts = SweepOptions::from_config(&config);
    if args.dry_run {
        let dir = tempfile::tempdir().map_err(|source| Error::Write {
            path: std::env::temp_dir(),
            source,
        })?;
        let copy = dir.path().join("dry-run.sqlite");
        {
            let store = Store::open(&state)?;
            store
                .conn()
                .execute("VACUUM INTO ?1", [copy.display().to_string()])
                .map_err(|e| store.err(e))?;
        }
        let mut store = Store::open(&copy)?;
        let dry = DryRun::new(&config, Box::new(std::io::stdout()));
        let mut summary = Sweeper::new(&mut store, &dry, &SystemClock, &rules, opts).run()?;
        summary.dry_run = true;
        let text = format!(
            "dry run: {} call(s) printed; nothing was sent and the state file is unchanged\n{}",
            dry.calls(),
            summary.text()
        );
        eprint!("{text}");
        return Ok(ExitCode::Success);
    }
    let _lock = StateLock::sweep(&state)?;
    let sandbox = crate::pipeline::start_embedded_sandbox(&mut config)?;
    let endpoints = Endpoints::from_config(&config)?;
    let mut store = Store::open(&state)?;
    let summary = Sweeper::new(&mut store, &endpoints, &SystemClock, &rules, opts).run()?;
    if let Some(s) = sandbox {
        s.shutdown();
    }
    super::print(args.format, &summary.text(), &json!(summary.json()));
    Ok(summary.exit_code())
}

//! `sweep [--dry-run]`: post what the outbox holds to Daffron
//! ([`crate::pipeline::sweep`]; the order of commits and calls is written
//! down in [`crate::pump::sweep`]).
//!
//! `--dry-run` runs the same sweep against a private copy of the state file
//! with every call printed instead of sent (answered "accepted"), so it shows
//! exactly what would go, in what order, and changes nothing. The SOAP goes
//! to stdout, the summary to stderr.
//!
//! Exit codes: 0 done; 1 an item was rejected or went dead; 2 configuration
//! (an endpoint setting missing, HTTP 4xx); 3 an endpoint unreachable or
//! refusing every call, or another sweep running: work waits, nothing lost.

use super::{Format, Globals};
use crate::pipeline;
use crate::store::{StateLock, Store};
use crate::{ExitCode, Result};

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
    if args.dry_run {
        let summary = pipeline::sweep::dry_run(&config, &state, Box::new(std::io::stdout()))?;
        eprint!("{}", crate::terminal::escape(&summary.text()));
        return Ok(ExitCode::Success);
    }
    let _lock = StateLock::sweep(&state)?;
    let sandbox = crate::sandbox::embedded::start(&mut config)?;
    let mut store = Store::open(&state)?;
    let summary = pipeline::sweep::run(&config, &mut store)?;
    if let Some(s) = sandbox {
        s.shutdown();
    }
    Ok(pipeline::emit(&summary, args.format))
}

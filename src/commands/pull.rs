//! `pull`: take new BIF files from the SFTP folder (`[sftp]`) or the local
//! drop box (`[dropbox]`) into the inbox, judge them, archive or quarantine
//! them, and feed the account directory. The stage is
//! [`crate::pipeline::pull`]; this command takes the pull lock and prints
//! its summary: a line per file, or one JSON object.
//!
//! Exit codes: 0 every file taken or nothing to do; 1 some file quarantined
//! or refused; 2 configuration (host key, credentials, folders); 3 server
//! unreachable, connection lost or another pull running: work pending,
//! nothing lost.

use super::{Format, Globals};
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
    let summary = pipeline::pull::run(&config, &layout, &mut store)?;
    Ok(pipeline::emit(&summary, args.format))
}

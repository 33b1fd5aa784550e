//! `doctor`: check a biller's setup against the real endpoints and servers
//! before the first night, changing nothing ([`crate::doctor`] makes the
//! checks and owns their text, JSON and exit code).
//!
//! With the demo configuration (`[sandbox] embedded = true`) the local
//! sandbox runs in-process and every endpoint points at it, as for `run`.
//!
//! Exit codes: 0 every check passed; 1 something was refused (a method not
//! listed, credentials, a folder that cannot be written); 2 configuration
//! (a secret's variable unset, a host key not listed, a URL or the layout
//! wrong); 3 something could not be reached.

use super::{Format, Globals};
use crate::doctor::{self, Options};
use crate::pipeline::StageSummary;
use crate::{ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The account (base-sub or base+sub) asked for on the RTDR endpoint
    /// (setting 8) to check the credentials; default 0, which the server
    /// must authenticate but need not know.
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,

    /// `text`: one line per check, green or red on a terminal (not with
    /// NO_COLOR); `json`: one object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let account = match &args.account {
        Some(a) => Some(crate::rtdr::account_id(a)?),
        None => None,
    };
    let mut config = g.load_config()?;
    // The demo's sandbox answers from its seeds in memory: doctor changes
    // nothing, not even the demo's sandbox state file.
    config.sandbox.state = None;
    let sandbox = crate::sandbox::embedded::start(&mut config)?;
    let state = g.state_path(&config);
    let summary = doctor::run(&config, &state, &Options { account });
    if let Some(s) = sandbox {
        s.shutdown();
    }
    match args.format {
        Format::Text => {
            crate::pipeline::print_text(&summary.text_colored(crate::terminal::stdout_colour()))
        }
        Format::Json => println!("{}", summary.json()),
    }
    Ok(summary.exit_code())
}

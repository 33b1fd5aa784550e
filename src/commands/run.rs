//! `run`: the nightly job (`interface.md` §3). Today it chains the stages
//! that exist: pull (SFTP or drop box → validated → inbox or quarantine),
//! then upload of every accepted file InvoiceCloud has not settled yet
//! (including files whose upload failed on an earlier night). The data pump
//! stages (ingest, sweep) and the report join the chain when they are built.
//!
//! With the embedded demo configuration (`[sandbox] embedded = true`) the
//! local sandbox runs in-process and every endpoint points at it, so
//! `daffron-bridge run` in a fresh checkout works end to end.
//!
//! Exit codes: the worst of the stages': 1 a file was quarantined or
//! rejected; 3 a source or endpoint was unreachable and work is pending.

use serde::Serialize;

use super::{Format, Globals};
use crate::pipeline::{self, UploadResult, Uploader};
use crate::store::{StateLock, Store};
use crate::{Error, ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Output format: text for people and logs, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Serialize)]
struct Output<'a> {
    pull: super::pull::JsonSummary<'a>,
    upload: &'a [UploadResult],
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let mut config = g.load_config()?;
    let sandbox = crate::sandbox::embedded::start(&mut config)?;
    let layout = crate::bif::layout_for(&config)?;
    let state = g.state_path(&config);

    // Pull under the overlap lock: a second `run` started by an impatient
    // scheduler exits 3 instead of racing this one.
    let _lock = StateLock::pull(&state)?;
    let mut store = Store::open(&state)?;
    let pulled = pipeline::pull(&config, &layout, &mut store)?;

    // Upload what was accepted, tonight or on a night whose upload failed.
    // A pull that stopped half-way still uploads what it took.
    let mut uploads = Vec::new();
    let mut unreadable = ExitCode::Success;
    let pending = store.pending_uploads()?;
    if !pending.is_empty() {
        let uploader = Uploader::from_config(&config, layout)?;
        for file in pending {
            match uploader.upload(&file.local_path, &mut store, false) {
                Ok(r) => uploads.push(r),
                // One inbox file gone missing must not hold back the others.
                Err(e @ Error::Read { .. }) => {
                    eprintln!("daffron-bridge: error: {e}; not uploaded");
                    unreadable = unreadable.worst(e.exit_code());
                }
                Err(e) => return Err(e),
            }
        }
    }
    if let Some(s) = sandbox {
        s.shutdown();
    }

    match args.format {
        Format::Text => {
            super::pull::print(&pulled, Format::Text);
            if uploads.is_empty() {
                println!("upload: nothing to upload");
            } else {
                println!("upload to InvoiceCloud");
                super::upload::print(&uploads, Format::Text);
            }
        }
        Format::Json => {
            let out = Output {
                pull: super::pull::json_summary(&pulled),
                upload: &uploads,
            };
            match serde_json::to_string(&out) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("daffron-bridge: cannot print JSON: {e}"),
            }
        }
    }
    let upload_code = super::upload::exit_code(&uploads).worst(unreadable);
    match super::pull::finish(pulled) {
        Ok(code) => Ok(code.worst(upload_code)),
        Err(e) => {
            eprintln!("daffron-bridge: error: {e}");
            Ok(e.exit_code().worst(upload_code))
        }
    }
}

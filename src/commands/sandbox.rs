//! `sandbox`: run the local stand-in for Daffron's MultiSpeak CB server and
//! InvoiceCloud's UploadInvoiceFile until killed. The first stdout line is
//! `listening on http://ADDR`, so a test can bind port 0 and read it.
//!
//! The global `--state FILE` is, for this command, the sandbox's own JSON
//! state snapshot (accounts, balances, payments, comments, paperless), with
//! its log of changes `FILE.log` beside it ([`crate::sandbox::persist`]),
//! not the pipeline's SQLite state.

use std::io::Write as _;
use std::path::PathBuf;

use super::Globals;
use crate::sandbox::{FaultSpec, Sandbox, SandboxError, SandboxOptions};
use crate::{Error, ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8083", value_name = "ADDR")]
    pub listen: String,

    /// A BIF file whose invoices seed accounts (repeatable).
    #[arg(long = "seed", value_name = "FILE.BIF")]
    pub seeds: Vec<PathBuf>,

    /// Faults to inject, e.g. "latency=200ms@0.1,http500@0.05,item_failure=account:35909001".
    #[arg(long, value_name = "SPEC", default_value = "")]
    pub faults: String,

    /// Seed of the fault generator (same seed and requests, same faults).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub fault_seed: u64,

    /// Append a JSON line per request to FILE (credentials are never written).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,

    /// The UserID MultiSpeak requests must carry.
    #[arg(long, default_value = "InvoiceCloud", value_name = "NAME")]
    pub user: String,

    /// Environment variable holding the Pwd MultiSpeak requests must carry.
    /// Without it any UserID/Pwd is accepted.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,

    /// Environment variable holding the WebServiceKey uploads must carry.
    /// Without it any key is accepted.
    #[arg(long, value_name = "VAR")]
    pub ic_key_env: Option<String>,

    /// A BillerGUID uploads may name (repeatable); the seeds' FH BillerGuids
    /// are known too.
    #[arg(long = "biller-guid", value_name = "GUID")]
    pub biller_guids: Vec<String>,

    /// Leave a MultiSpeak method out, as a server lacking it would
    /// (repeatable; e.g. CommitPaymentTransaction): GetMethods does not list
    /// it and a call of it gets a SOAP Fault.
    #[arg(long = "without-method", value_name = "METHOD")]
    pub without_methods: Vec<String>,
}

fn env_secret(flag: &str, var: &Option<String>) -> Result<Option<String>> {
    match var {
        None => Ok(None),
        Some(v) => std::env::var(v).map(Some).map_err(|_| {
            Error::Usage(format!(
                "{flag} {v}: the environment variable {v} is not set; export it first"
            ))
        }),
    }
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let faults = FaultSpec::parse(&args.faults).map_err(SandboxError::Faults)?;
    let password = env_secret("--password-env", &args.password_env)?;
    if password.is_none() {
        tracing::warn!("no --password-env: the sandbox accepts any UserID/Pwd");
    }
    let opts = SandboxOptions {
        listen: args.listen.clone(),
        state: g.state.clone(),
        seeds: args.seeds.clone(),
        faults,
        fault_seed: args.fault_seed,
        journal: args.journal.clone(),
        user_id: args.user.clone(),
        password,
        web_service_key: env_secret("--ic-key-env", &args.ic_key_env)?,
        biller_guids: args.biller_guids.clone(),
        max_request_bytes: None,
        without_methods: args.without_methods.clone(),
    };
    // Its state and journal may go into a folder not made yet (`demo/`).
    for file in [&opts.state, &opts.journal].into_iter().flatten() {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    let handle = Sandbox::start(opts)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {}", handle.url());
    let _ = out.flush();
    drop(out);
    eprintln!(
        "daffron-bridge sandbox: MultiSpeak CB at {0}/ (any path), InvoiceCloud upload at {0}/portal/webservices/CloudInvoicing.asmx; Ctrl-C stops",
        handle.url()
    );
    handle.wait();
    Ok(ExitCode::Success)
}

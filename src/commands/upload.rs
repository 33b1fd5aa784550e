//! `upload FILE...`: send BIF files to InvoiceCloud's UploadInvoiceFile
//! (issue 4, item 5).
//!
//! Each file is validated and transformed exactly as `transform` would
//! (`crate::bif::transform`): an invalid file is never uploaded. What is sent
//! is keyed by the sha256 of the transformed bytes, so the same content is
//! never uploaded twice (unless `--again`), whatever its name. Every attempt
//! is recorded in the state file.
//!
//! Exit codes: 0 every file uploaded or already uploaded; 1 a file was
//! invalid or InvoiceCloud rejected it; 2 usage or configuration; 3
//! InvoiceCloud could not be reached after retries: the file is left for the
//! next run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Format, Globals};
use crate::bif::{self, ValidateOptions};
use crate::invoicecloud;
use crate::multispeak::CallError;
use crate::store::{Store, UploadOutcome};
use crate::transport::http::{HttpClient, HttpOptions};
use crate::{Error, ExitCode, Result};

/// Tries per file within one run before it is left for the next run.
const ATTEMPTS: u32 = 3;

/// The wait before the second try; it doubles before each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// BIF files to upload (typically from the inbox).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Upload even if InvoiceCloud already accepted the same content.
    #[arg(long)]
    pub again: bool,

    /// Output format: one line per file, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// InvoiceCloud answered Success=true.
    Uploaded,
    /// InvoiceCloud accepted the same content before; nothing was sent.
    AlreadyUploaded,
    /// The file failed validation; nothing was sent.
    Invalid,
    /// InvoiceCloud answered Success=false, or a SOAP Fault.
    Rejected,
    /// No usable answer after the retries: left for the next run.
    Failed,
}

impl Outcome {
    fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Uploaded | Outcome::AlreadyUploaded => ExitCode::Success,
            Outcome::Invalid | Outcome::Rejected => ExitCode::InputErrors,
            Outcome::Failed => ExitCode::Transient,
        }
    }
}

/// One file's line in the output.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    pub path: String,
    pub name: String,
    /// sha256 of the bytes sent (the transformed file); empty when invalid.
    pub sha256: String,
    pub outcome: Outcome,
    pub attempts: u32,
    /// InvoiceCloud's message, the failure, or the validation summary.
    pub message: String,
}

#[derive(Serialize)]
struct Output<'a> {
    files: &'a [FileResult],
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let config = g.load_config()?;
    let ic = config.require_invoicecloud("upload")?;
    let key = ic
        .web_service_key
        .expose("[invoicecloud] web_service_key")?;
    let layout = bif::layout_for(&config)?;
    let opts = ValidateOptions::from_config(&config);
    let mut store = Store::open(&g.state_path(&config))?;
    let http = HttpClient::new(&HttpOptions::with_timeout_seconds(
        config.pump.timeout_seconds,
    ));
    let target = Target {
        http: &http,
        url: &ic.upload_url,
        biller_guid: config.biller.guid.to_string().to_uppercase(),
        key: &key,
    };

    let mut results = Vec::new();
    let mut code = ExitCode::Success;
    for path in &args.files {
        let r = upload_one(path, &layout, &opts, &mut store, &target, args.again)?;
        code = code.worst(r.outcome.exit_code());
        results.push(r);
    }

    match args.format {
        Format::Json => {
            let s = serde_json::to_string(&Output { files: &results }).unwrap_or_default();
            println!("{s}");
        }
        Format::Text => {
            for r in &results {
                println!("{}", text_line(r));
            }
        }
    }
    Ok(code)
}

/// Where and as whom files are sent.
struct Target<'a> {
    http: &'a HttpClient,
    url: &'a str,
    biller_guid: String,
    key: &'a str,
}

fn upload_one(
    path: &Path,
    layout: &bif::Layout,
    opts: &ValidateOptions,
    store: &mut Store,
    target: &Target<'_>,
    again: bool,
) -> Result<FileResult> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut result = FileResult {
        path: path.display().to_string(),
        name: name.clone(),
        sha256: String::new(),
        outcome: Outcome::Invalid,
        attempts: 0,
        message: String::new(),
    };
    let (report, out) = bif::transform::transform_checked(&name, &bytes, layout, opts);
    let Some(out) = out else {
        result.message = format!(
            "{} error(s); not uploaded (see `daffron-bridge validate {}`)",
            report.error_count,
            path.display()
        );
        return Ok(result);
    };
    result.sha256 = format!("{:x}", Sha256::digest(&out));
    if !again && store.was_uploaded(&result.sha256)? {
        result.outcome = Outcome::AlreadyUploaded;
        result.message =
            "InvoiceCloud accepted this content before; use --again to send it anyway".into();
        return Ok(result);
    }

    let mut backoff = FIRST_BACKOFF;
    let answer = loop {
        result.attempts += 1;
        let sent = invoicecloud::upload(
            target.http,
            target.url,
            &target.biller_guid,
            target.key,
            &name,
            &out,
        );
        match sent {
            Err(e) if e.is_retryable() && result.attempts < ATTEMPTS => {
                tracing::warn!(
                    "{name}: upload attempt {} failed: {e}; retrying",
                    result.attempts
                );
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            other => break other,
        }
    };
    let (outcome, stored, message) = match answer {
        Ok(a) if a.success => (Outcome::Uploaded, UploadOutcome::Accepted, a.message),
        Ok(a) => (Outcome::Rejected, UploadOutcome::Rejected, a.message),
        Err(e @ (CallError::Fault(_) | CallError::Rejected(_))) => {
            (Outcome::Rejected, UploadOutcome::Rejected, e.to_string())
        }
        Err(e) => (
            Outcome::Failed,
            UploadOutcome::Failed,
            format!("{e}; left for the next run"),
        ),
    };
    store.record_upload(&name, &result.sha256, stored, &message)?;
    result.outcome = outcome;
    result.message = message;
    Ok(result)
}

fn text_line(r: &FileResult) -> String {
    let what = match r.outcome {
        Outcome::Uploaded => "uploaded",
        Outcome::AlreadyUploaded => "already uploaded",
        Outcome::Invalid => "invalid",
        Outcome::Rejected => "rejected by InvoiceCloud",
        Outcome::Failed => "failed",
    };
    if r.message.is_empty() {
        format!("{}: {what}", r.path)
    } else {
        format!("{}: {what}: {}", r.path, r.message)
    }
}

//! The nightly pipeline's stages, as plain functions and types over the
//! typed configuration and the state file. Commands (`pull`, `upload`,
//! `run`) call these; each stage can run alone, and `run` chains them.
//!
//! | stage | what it does | guarantees live in |
//! |---|---|---|
//! | [`pull`] | SFTP or drop box → validated → inbox or quarantine | [`crate::intake`] |
//! | [`Uploader`] | inbox → transformed → InvoiceCloud UploadInvoiceFile | here, [`crate::invoicecloud`] |

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bif::{self, Layout, ValidateOptions};
use crate::config::Config;
use crate::intake::{self, IntakeOptions, IntakeSummary};
use crate::invoicecloud;
use crate::multispeak::CallError;
use crate::store::{Store, UploadOutcome};
use crate::transport::http::{HttpClient, HttpOptions};
use crate::transport::{DropboxSource, SftpSource, Source};
use crate::{Error, ExitCode, Result};

/// Takes new files from `[sftp]` or `[dropbox]` (exactly one must be
/// configured) into the inbox, judged by the BIF validator with this
/// biller's rules. The caller holds the pull lock.
///
/// A source that cannot be reached is not an `Err`: the summary says where
/// intake stopped (`stopped`), with what it did before.
pub fn pull(config: &Config, layout: &Layout, store: &mut Store) -> Result<IntakeSummary> {
    let (source, settle_seconds, keep_originals) = match (&config.sftp, &config.dropbox) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage(format!(
                "configuration {}: `pull` reads either [sftp] or [dropbox]; remove one of them",
                config.origin
            )));
        }
        (Some(s), None) => {
            let password = s
                .password
                .as_ref()
                .map(|p| p.expose("[sftp] password"))
                .transpose()?;
            let source =
                SftpSource::connect(s, password.as_deref()).map(|c| Box::new(c) as Box<dyn Source>);
            (source, s.settle_seconds, false)
        }
        (None, Some(d)) => (
            Ok(Box::new(DropboxSource::new(d)) as Box<dyn Source>),
            d.settle_seconds,
            d.keep_originals,
        ),
        (None, None) => {
            return Err(Error::Usage(format!(
                "configuration {}: `pull` needs an [sftp] or a [dropbox] section",
                config.origin
            )));
        }
    };
    let mut source = match source {
        Ok(s) => s,
        Err(e) => {
            return Ok(IntakeSummary {
                source: config
                    .sftp
                    .as_ref()
                    .map(|s| format!("sftp://{}@{}:{}{}", s.user, s.host, s.port, s.remote_dir))
                    .unwrap_or_default(),
                files: Vec::new(),
                stopped: Some(e.into()),
            });
        }
    };
    let opts = IntakeOptions {
        bid: config.biller.bid,
        inbox: config.paths.inbox.clone(),
        quarantine: config.paths.quarantine.clone(),
        settle_seconds,
        layout: layout.clone(),
        keep_originals,
    };
    let checks = intake::ValidatorAdmission::from_config(config, layout.clone());
    Ok(intake::run(source.as_mut(), store, &checks, &opts))
}

/// Tries per file within one run before it is left for the next run.
const UPLOAD_ATTEMPTS: u32 = 3;

/// The wait before the second try; it doubles before each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// What happened to one file sent to InvoiceCloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadResultKind {
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

impl UploadResultKind {
    /// The exit code this outcome asks for (`interface.md` §3).
    pub fn exit_code(self) -> ExitCode {
        match self {
            UploadResultKind::Uploaded | UploadResultKind::AlreadyUploaded => ExitCode::Success,
            UploadResultKind::Invalid | UploadResultKind::Rejected => ExitCode::InputErrors,
            UploadResultKind::Failed => ExitCode::Transient,
        }
    }

    /// The words people read.
    pub fn words(self) -> &'static str {
        match self {
            UploadResultKind::Uploaded => "uploaded",
            UploadResultKind::AlreadyUploaded => "already uploaded",
            UploadResultKind::Invalid => "invalid",
            UploadResultKind::Rejected => "rejected by InvoiceCloud",
            UploadResultKind::Failed => "failed",
        }
    }
}

/// One file's upload, as printed and reported.
#[derive(Debug, Clone, Serialize)]
pub struct UploadResult {
    pub path: String,
    pub name: String,
    /// sha256 of the bytes sent (the transformed file); empty when invalid.
    pub sha256: String,
    pub outcome: UploadResultKind,
    pub attempts: u32,
    /// InvoiceCloud's message, the failure, or the validation summary.
    pub message: String,
}

impl UploadResult {
    /// `PATH: outcome: message`.
    pub fn text_line(&self) -> String {
        if self.message.is_empty() {
            format!("{}: {}", self.path, self.outcome.words())
        } else {
            format!("{}: {}: {}", self.path, self.outcome.words(), self.message)
        }
    }
}

/// Sends BIF files to InvoiceCloud's UploadInvoiceFile.
///
/// Every file is validated and transformed exactly as `transform` writes it
/// (an invalid file is never sent). The sha256 of the transformed bytes is
/// the idempotency key: the same content is never uploaded twice unless
/// `again` is set. Every attempt is recorded in the state file.
pub struct Uploader {
    http: HttpClient,
    url: String,
    biller_guid: String,
    web_service_key: String,
    layout: Layout,
    opts: ValidateOptions,
}

impl Uploader {
    /// From `[invoicecloud]` (required) and the biller's validation rules.
    pub fn from_config(config: &Config, layout: Layout) -> Result<Uploader> {
        let ic = config.require_invoicecloud("upload")?;
        Ok(Uploader {
            http: HttpClient::new(&HttpOptions::with_timeout_seconds(
                config.pump.timeout_seconds,
            )),
            url: ic.upload_url.clone(),
            biller_guid: config.biller.guid.to_string().to_uppercase(),
            web_service_key: ic
                .web_service_key
                .expose("[invoicecloud] web_service_key")?,
            opts: ValidateOptions::from_config(config),
            layout,
        })
    }

    /// Uploads one file. `Err` only when the file cannot be read or the
    /// state file cannot be written; every answer is an [`UploadResult`].
    pub fn upload(&self, path: &Path, store: &mut Store, again: bool) -> Result<UploadResult> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let mut result = UploadResult {
            path: path.display().to_string(),
            name: name.clone(),
            sha256: String::new(),
            outcome: UploadResultKind::Invalid,
            attempts: 0,
            message: String::new(),
        };
        let (report, out) =
            bif::transform::transform_checked(&name, &bytes, &self.layout, &self.opts);
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
            result.outcome = UploadResultKind::AlreadyUploaded;
            result.message =
                "InvoiceCloud accepted this content before; use --again to send it anyway".into();
            return Ok(result);
        }

        let mut backoff = FIRST_BACKOFF;
        let answer = loop {
            result.attempts += 1;
            let sent = invoicecloud::upload(
                &self.http,
                &self.url,
                &self.biller_guid,
                &self.web_service_key,
                &name,
                &out,
            );
            match sent {
                Err(e) if e.is_retryable() && result.attempts < UPLOAD_ATTEMPTS => {
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
            Ok(a) if a.success => (
                UploadResultKind::Uploaded,
                UploadOutcome::Accepted,
                a.message,
            ),
            Ok(a) => (
                UploadResultKind::Rejected,
                UploadOutcome::Rejected,
                a.message,
            ),
            Err(e @ (CallError::Fault(_) | CallError::Rejected(_))) => (
                UploadResultKind::Rejected,
                UploadOutcome::Rejected,
                e.to_string(),
            ),
            Err(e) => (
                UploadResultKind::Failed,
                UploadOutcome::Failed,
                format!("{e}; left for the next run"),
            ),
        };
        let source_sha = format!("{:x}", Sha256::digest(&bytes));
        store.record_upload(&name, &result.sha256, &source_sha, stored, &message)?;
        result.outcome = outcome;
        result.message = message;
        Ok(result)
    }
}

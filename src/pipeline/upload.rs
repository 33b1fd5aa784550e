//! The `upload` stage: BIF files → validated and transformed exactly as
//! `transform` writes them → InvoiceCloud's UploadInvoiceFile (its wire
//! form is [`crate::invoicecloud`]).
//!
//! An invalid file is never sent. The sha256 of the transformed bytes is the
//! idempotency key: the same content is never uploaded twice unless asked
//! to, whatever its name. Every attempt is recorded in the state file.
//!
//! ## Never silently twice
//! UploadInvoiceFile has no idempotency key of its own: InvoiceCloud takes a
//! resent file as a second file. So:
//! 1. the attempt is recorded (`sending`) and committed (synchronous FULL)
//!    *before* the request leaves;
//! 2. only a failure where nothing reached the server (it could not
//!    connect) is tried again (`[pump]`'s call policy) and left pending;
//! 3. a request that went out without a usable answer (a timeout, a cut
//!    connection, HTTP 5xx, garbage), and an attempt a crash left
//!    `sending`, is **unknown**: InvoiceCloud may hold the file. It is not
//!    sent again by itself (unless `[invoicecloud] resend_unknown`); every
//!    `run` shows it with the commands that settle it (`upload --again`
//!    after checking the portal, or `upload --confirm`);
//! 4. HTTP 401, 403 and 404 are the configuration (URL or key): exit 2, and
//!    the file stays pending for the run after the fix.
//!
//! Two entry points: [`files`] for `upload FILE...`, and [`pending`] for
//! `run`, which sends every accepted file InvoiceCloud has not settled yet
//! (including those whose upload failed on an earlier night).
//!
//! Exit codes: 0 every file uploaded or already uploaded; 1 a file invalid,
//! rejected by InvoiceCloud, or its upload unknown (a person decides); 2 a
//! file that cannot be read, or the endpoint refused the configuration
//! (HTTP 401/403/404); 3 InvoiceCloud could not be reached after the
//! retries: the file waits for the next run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::StageSummary;
use crate::bif::{self, Layout, ValidateOptions};
use crate::config::Config;
use crate::invoicecloud;
use crate::multispeak::CallError;
use crate::retry::{Clock, RetryAction, RetryPolicy, SystemClock};
use crate::store::{Store, UploadOutcome};
use crate::transport::http::{HttpClient, HttpOptions};
use crate::{Error, ExitCode, Result};

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
    /// Nothing reached InvoiceCloud after the retries: left for the next run.
    Failed,
    /// Sent, but no usable answer (or a crash while it was out): InvoiceCloud
    /// may hold the file. Not sent again until a person says so.
    Unknown,
    /// The endpoint refused the request itself (HTTP 401, 403, 404): the
    /// URL or the key is wrong. The file stays pending.
    Configuration,
}

impl UploadResultKind {
    /// The exit code this outcome asks for (`interface.md` §3).
    pub fn exit_code(self) -> ExitCode {
        match self {
            UploadResultKind::Uploaded | UploadResultKind::AlreadyUploaded => ExitCode::Success,
            UploadResultKind::Invalid | UploadResultKind::Rejected | UploadResultKind::Unknown => {
                ExitCode::InputErrors
            }
            UploadResultKind::Configuration => ExitCode::Usage,
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
            UploadResultKind::Unknown => "UNKNOWN whether InvoiceCloud has it",
            UploadResultKind::Configuration => "refused by the endpoint (configuration)",
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
///
/// A call that fails for a transient reason is tried again by `[pump]`'s
/// call policy ([`crate::config::PumpConfig::call_policy`]), pausing on the
/// uploader's clock: the real one, or one a test injects so that nothing
/// really sleeps.
pub struct Uploader {
    http: HttpClient,
    url: String,
    biller_guid: String,
    web_service_key: String,
    layout: Layout,
    opts: ValidateOptions,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    /// `[invoicecloud] resend_unknown`.
    resend_unknown: bool,
    destination: Destination,
}

impl Uploader {
    /// From `[invoicecloud]` (required) and the biller's validation rules.
    pub fn from_config(config: &Config, layout: Layout) -> Result<Uploader> {
        let ic = config.require_invoicecloud("upload")?;
        Ok(Uploader {
            http: HttpClient::new(&HttpOptions::invoicecloud(config)?),
            resend_unknown: ic.resend_unknown,
            url: ic.upload_url.clone(),
            biller_guid: config.biller.guid.to_string().to_uppercase(),
            web_service_key: ic
                .web_service_key
                .expose("[invoicecloud] web_service_key")?,
            opts: ValidateOptions::from_config(config),
            layout,
            policy: config.pump.call_policy(),
            clock: Arc::new(SystemClock),
            destination: Destination::of(config),
        })
    }

    /// Pauses between tries on `clock` instead of the system clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Uploader {
        self.clock = clock;
        self
    }

    /// Retries by `policy` instead of `[pump]`'s call policy (tests that
    /// want exact delays set `Jitter::None`).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Uploader {
        self.policy = policy;
        self
    }

    /// Uploads one file. `Err` only when the file cannot be read or the
    /// state file cannot be written; every answer is an [`UploadResult`].
    pub fn upload(&self, path: &Path, store: &mut Store, again: bool) -> Result<UploadResult> {
        let (bytes, name) = read_named(path)?;
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
        if !again
            && !self.resend_unknown
            && let Some((last, why)) = store.last_upload(&result.sha256)?
            && last.is_unknown()
        {
            result.outcome = UploadResultKind::Unknown;
            result.message = unknown_message(path, &why);
            return Ok(result);
        }
        let source_sha = format!("{:x}", Sha256::digest(&bytes));
        // On disk before the request leaves: a crash while it is out leaves
        // this row `sending`, which the next run reads as unknown.
        let attempt = store.begin_upload(&name, &result.sha256, &source_sha)?;

        let resend_unknown = self.resend_unknown;
        let retried = self.policy.run(
            self.clock.as_ref(),
            &mut rand::rng(),
            |_| {
                invoicecloud::upload(
                    &self.http,
                    &self.url,
                    &self.biller_guid,
                    &self.web_service_key,
                    &name,
                    &out,
                )
            },
            |e| RetryAction::for_upload(e, resend_unknown),
            |n, e, pause| {
                tracing::warn!("{name}: upload attempt {n} failed: {e}; retrying in {pause:?}")
            },
        );
        result.attempts = retried.tries;
        let (outcome, stored, message) = match retried.result {
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
            Err(e @ CallError::Rejected(401 | 403 | 404)) => (
                UploadResultKind::Configuration,
                UploadOutcome::Configuration,
                format!(
                    "{e} and [invoicecloud] web_service_key; nothing was taken, the file stays pending"
                ),
            ),
            Err(e @ (CallError::Fault(_) | CallError::Rejected(_))) => (
                UploadResultKind::Rejected,
                UploadOutcome::Rejected,
                e.to_string(),
            ),
            Err(e) if e.nothing_sent() => (
                UploadResultKind::Failed,
                UploadOutcome::Failed,
                format!("{e}; nothing reached InvoiceCloud, left for the next run"),
            ),
            Err(e) if resend_unknown && e.is_retryable() => (
                UploadResultKind::Failed,
                UploadOutcome::Failed,
                format!(
                    "{e}; it may have reached InvoiceCloud, and is sent again on the next run ([invoicecloud] resend_unknown)"
                ),
            ),
            Err(e) => (
                UploadResultKind::Unknown,
                UploadOutcome::Unknown,
                format!("sent, but {e}"),
            ),
        };
        store.finish_upload(attempt, stored, &message)?;
        result.outcome = outcome;
        result.message = match outcome {
            UploadResultKind::Unknown => unknown_message(path, &message),
            _ => message,
        };
        Ok(result)
    }

    /// Records that InvoiceCloud holds this file without sending it (`upload
    /// --confirm`): a person checked the portal after an unknown upload.
    pub fn confirm(&self, path: &Path, store: &mut Store) -> Result<UploadResult> {
        let (bytes, name) = read_named(path)?;
        let (report, out) =
            bif::transform::transform_checked(&name, &bytes, &self.layout, &self.opts);
        let Some(out) = out else {
            return Ok(UploadResult {
                path: path.display().to_string(),
                name,
                sha256: String::new(),
                outcome: UploadResultKind::Invalid,
                attempts: 0,
                message: format!("{} error(s); nothing recorded", report.error_count),
            });
        };
        let sha256 = format!("{:x}", Sha256::digest(&out));
        let source_sha = format!("{:x}", Sha256::digest(&bytes));
        let message = "confirmed by a person: InvoiceCloud holds this file (not sent)";
        store.record_upload(
            &name,
            &sha256,
            &source_sha,
            UploadOutcome::Accepted,
            message,
        )?;
        Ok(UploadResult {
            path: path.display().to_string(),
            name,
            sha256,
            outcome: UploadResultKind::AlreadyUploaded,
            attempts: 0,
            message: message.into(),
        })
    }
}

/// What a person reads about an unknown upload: why, and the two commands
/// that settle it.
fn unknown_message(path: &Path, why: &str) -> String {
    let why = if why.is_empty() {
        "the process stopped while the request was out"
    } else {
        why
    };
    format!(
        "{why}. InvoiceCloud may hold this file; it is not sent again by itself. Check InvoiceCloud's portal, then either `daffron-bridge upload --again {p}` (not there: send it) or `daffron-bridge upload --confirm {p}` (there: record it)",
        p = path.display()
    )
}

/// Uploads the files named on the command line (`upload FILE...`), in
/// order. A file that cannot be read stops the command (exit 2): the person
/// who named it is there to fix it.
pub fn files(
    uploader: &Uploader,
    paths: &[PathBuf],
    store: &mut Store,
    again: bool,
) -> Result<UploadSummary> {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        files.push(uploader.upload(path, store, again)?);
    }
    Ok(UploadSummary {
        files,
        unreadable: Vec::new(),
        scope: Scope::Named,
        destination: uploader.destination,
    })
}

/// Records the files named on the command line as held by InvoiceCloud,
/// sending nothing (`upload --confirm FILE...`).
pub fn confirm(uploader: &Uploader, paths: &[PathBuf], store: &mut Store) -> Result<UploadSummary> {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        files.push(uploader.confirm(path, store)?);
    }
    Ok(UploadSummary {
        files,
        unreadable: Vec::new(),
        scope: Scope::Named,
        destination: uploader.destination,
    })
}

/// Uploads every accepted file InvoiceCloud has not settled yet, oldest
/// first (`run`). `[invoicecloud]` is needed only when there is something
/// to send. An inbox file gone missing is said on stderr and counted (exit
/// 2) but does not hold back the others.
pub fn pending(config: &Config, layout: &Layout, store: &mut Store) -> Result<UploadSummary> {
    let mut summary = UploadSummary {
        files: Vec::new(),
        unreadable: Vec::new(),
        scope: Scope::Pending,
        destination: Destination::of(config),
    };
    let pending = store.pending_uploads()?;
    if pending.is_empty() {
        return Ok(summary);
    }
    let uploader = Uploader::from_config(config, layout.clone())?;
    let bar = super::progress::bar("upload", pending.len() as u64);
    for file in pending {
        bar.inc(1);
        bar.set_message(file.name.clone());
        match uploader.upload(&file.local_path, store, false) {
            Ok(r) => summary.files.push(r),
            Err(e @ Error::Read { .. }) => {
                crate::commands::say_error(&format!(
                    "{}; not uploaded",
                    crate::commands::error_line(&e)
                ));
                summary.unreadable.push(e);
            }
            Err(e) => return Err(e),
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// A file's bytes and the name InvoiceCloud gets for it (its file name).
fn read_named(path: &Path) -> Result<(Vec<u8>, String)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok((bytes, name))
}

/// Which files an upload was asked for; it decides how the summary reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Named on the command line: `upload FILE...`.
    Named,
    /// Whatever is pending in the state file: `run`'s upload.
    Pending,
}

/// What an upload stage did: one result per file sent or looked at.
#[derive(Debug)]
pub struct UploadSummary {
    pub files: Vec<UploadResult>,
    /// Pending files that could not be read (already said on stderr).
    pub unreadable: Vec<Error>,
    pub scope: Scope,
    /// Where the files went; the text says so when it was not InvoiceCloud.
    pub destination: Destination,
}

/// Where uploads go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Destination {
    #[default]
    InvoiceCloud,
    /// The demo configuration's in-process sandbox (`[sandbox] embedded`):
    /// nothing left the machine.
    LocalSandbox,
}

impl Destination {
    fn of(config: &Config) -> Destination {
        if config.sandbox.embedded {
            Destination::LocalSandbox
        } else {
            Destination::InvoiceCloud
        }
    }

    /// The heading of the summary's text.
    fn heading(self) -> &'static str {
        match self {
            Destination::InvoiceCloud => "upload to InvoiceCloud",
            Destination::LocalSandbox => {
                "upload to the local sandbox, not InvoiceCloud (the demo configuration: nothing left this machine)"
            }
        }
    }
}

/// `upload --format json`.
#[derive(Serialize)]
struct Json<'a> {
    files: &'a [UploadResult],
}

impl StageSummary for UploadSummary {
    fn stage(&self) -> &'static str {
        "upload"
    }

    /// The worst outcome of any file, an unreadable one included.
    fn exit_code(&self) -> ExitCode {
        super::worst(
            self.files
                .iter()
                .map(|r| r.outcome.exit_code())
                .chain(self.unreadable.iter().map(Error::exit_code)),
        )
    }

    /// A line per file; under `run` a heading first, or one line saying
    /// there was nothing to send.
    fn text(&self) -> String {
        let lines = self.files.iter().map(UploadResult::text_line);
        let heading = std::iter::once(self.destination.heading().to_string());
        match self.scope {
            Scope::Named if self.destination == Destination::InvoiceCloud => {
                lines.collect::<Vec<_>>().join("\n")
            }
            Scope::Pending if self.files.is_empty() => "upload: nothing to upload".into(),
            Scope::Named | Scope::Pending => heading.chain(lines).collect::<Vec<_>>().join("\n"),
        }
    }

    /// `{"files":[...]}`; under `run` the bare array of results, the shape
    /// `run --format json` has had since before stages (its `"upload"`).
    fn json(&self) -> serde_json::Value {
        match self.scope {
            Scope::Named => super::to_json(&Json { files: &self.files }),
            Scope::Pending => super::to_json(&self.files),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::{Jitter, ManualClock};
    use crate::sandbox::{FaultSpec, Sandbox, SandboxHandle, SandboxOptions};
    use std::time::Duration;

    /// The demo biller, whose sample file is uploaded.
    const GUID: &str = "3F358D04-4273-4551-BB14-B9F719EC0A61";
    const SAMPLE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/outbound/2661_11262026.BIF"
    );

    /// A sandbox injecting `faults`, and an uploader pointed at it that
    /// sleeps on a manual clock.
    fn world(faults: &str) -> (SandboxHandle, Uploader, Arc<ManualClock>) {
        world_with(faults, "")
    }

    /// The same, with more `[invoicecloud]` lines.
    fn world_with(faults: &str, ic: &str) -> (SandboxHandle, Uploader, Arc<ManualClock>) {
        let sandbox = Sandbox::start(SandboxOptions {
            faults: FaultSpec::parse(faults).unwrap(),
            biller_guids: vec![GUID.into()],
            ..SandboxOptions::default()
        })
        .unwrap();
        let uploader = uploader_at(sandbox.url(), ic);
        (sandbox, uploader.0, uploader.1)
    }

    /// An uploader sending to `url`, sleeping on a manual clock.
    fn uploader_at(url: &str, ic: &str) -> (Uploader, Arc<ManualClock>) {
        let config = Config::parse(
            &format!(
                "[biller]\nbid = 2661\nname = \"Lowell Light & Power\"\nguid = \"{GUID}\"\n\
                 [invoicecloud]\nupload_url = \"{url}/portal/webservices/CloudInvoicing.asmx\"\n\
                 web_service_key = \"k\"\n{ic}\n[pump]\ntimeout_seconds = 5\n"
            ),
            "test.toml",
            Path::new("/"),
        )
        .unwrap();
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let uploader = Uploader::from_config(&config, Layout::embedded())
            .unwrap()
            .with_clock(clock.clone());
        (uploader, clock)
    }

    fn exact(tries: u32) -> RetryPolicy {
        RetryPolicy {
            tries,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(4),
            jitter: Jitter::None,
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        (dir, store)
    }

    #[test]
    fn an_answer_that_is_not_usable_is_unknown_and_never_sent_again_by_itself() {
        let (sandbox, uploader, clock) = world("http500@first:2");
        let uploader = uploader.with_policy(exact(3));
        let (_dir, mut store) = store();
        let r = uploader
            .upload(Path::new(SAMPLE), &mut store, false)
            .unwrap();
        assert_eq!(r.outcome, UploadResultKind::Unknown, "{r:?}");
        assert_eq!(r.attempts, 1);
        assert!(clock.slept().is_empty());
        assert!(r.message.contains("upload --again"), "{}", r.message);
        assert!(r.message.contains("upload --confirm"), "{}", r.message);
        assert_eq!(r.outcome.exit_code(), ExitCode::InputErrors);
        // The next run shows it again and sends nothing.
        let again = uploader
            .upload(Path::new(SAMPLE), &mut store, false)
            .unwrap();
        assert_eq!(again.outcome, UploadResultKind::Unknown, "{again:?}");
        assert_eq!(again.attempts, 0);
        assert_eq!(sandbox.journal().len(), 1);
        // A person checked: not there. --again sends it.
        let sent = uploader
            .upload(Path::new(SAMPLE), &mut store, true)
            .unwrap();
        assert_eq!(sent.outcome, UploadResultKind::Unknown, "{sent:?}");
        let sent = uploader
            .upload(Path::new(SAMPLE), &mut store, true)
            .unwrap();
        assert_eq!(sent.outcome, UploadResultKind::Uploaded, "{sent:?}");
        assert_eq!(sandbox.journal().len(), 3);
    }

    #[test]
    fn resend_unknown_retries_on_the_clock_without_sleeping() {
        let (sandbox, uploader, clock) = world_with("http500@first:2", "resend_unknown = true");
        let uploader = uploader.with_policy(exact(3));
        let (_dir, mut store) = store();
        let started = std::time::Instant::now();
        let r = uploader
            .upload(Path::new(SAMPLE), &mut store, false)
            .unwrap();
        assert_eq!(r.outcome, UploadResultKind::Uploaded, "{r:?}");
        assert_eq!(r.attempts, 3);
        assert_eq!(
            clock.slept(),
            [Duration::from_millis(500), Duration::from_millis(1000)]
        );
        assert!(started.elapsed() < Duration::from_millis(1500), "it slept");
        let faults: Vec<Option<String>> = sandbox.journal().into_iter().map(|e| e.fault).collect();
        assert_eq!(
            faults,
            [Some("http500".into()), Some("http500".into()), None]
        );
    }

    #[test]
    fn nothing_reached_the_server_is_retried_then_left_pending() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (uploader, clock) = uploader_at(&format!("http://127.0.0.1:{port}"), "");
        let (_dir, mut store) = store();
        let r = uploader
            .upload(Path::new(SAMPLE), &mut store, false)
            .unwrap();
        assert_eq!(r.outcome, UploadResultKind::Failed, "{r:?}");
        // [pump] defaults: 3 tries, pauses of at most 0.5 s then 1 s.
        assert_eq!(r.attempts, 3);
        let slept = clock.slept();
        assert_eq!(slept.len(), 2, "{slept:?}");
        assert!(slept[0] <= Duration::from_millis(500), "{slept:?}");
        assert!(slept[1] <= Duration::from_millis(1000), "{slept:?}");
        // Left for the next run, not settled, not unknown.
        assert!(!store.was_uploaded(&r.sha256).unwrap());
        assert_eq!(
            store.last_upload(&r.sha256).unwrap().map(|(o, _)| o),
            Some(UploadOutcome::Failed)
        );
    }

    #[test]
    fn an_attempt_left_sending_by_a_crash_is_unknown() {
        let (sandbox, uploader, _clock) = world("");
        let (_dir, mut store) = store();
        let out = bif::transform::transform_checked(
            "2661_11262026.BIF",
            &std::fs::read(SAMPLE).unwrap(),
            &Layout::embedded(),
            &uploader.opts,
        )
        .1
        .unwrap();
        let sha = format!("{:x}", Sha256::digest(&out));
        store
            .begin_upload("2661_11262026.BIF", &sha, "raw")
            .unwrap();
        let r = uploader
            .upload(Path::new(SAMPLE), &mut store, false)
            .unwrap();
        assert_eq!(r.outcome, UploadResultKind::Unknown, "{r:?}");
        assert!(
            r.message.contains("stopped while the request was out"),
            "{}",
            r.message
        );
        assert!(sandbox.journal().is_empty());
        // The person confirms: it is settled, and nothing is sent.
        let c = uploader.confirm(Path::new(SAMPLE), &mut store).unwrap();
        assert_eq!(c.outcome, UploadResultKind::AlreadyUploaded);
        assert!(store.was_uploaded(&sha).unwrap());
        assert!(sandbox.journal().is_empty());
    }

    #[test]
    fn a_fault_is_final_and_not_retried() {
        let (sandbox, uploader, clock) = world("fault@always");
        let uploader = uploader.with_policy(exact(5));
        let (_dir, mut store) = store();
        let r = uploader
            .upload(Path::new(SAMPLE), &mut store, false)
            .unwrap();
        assert_eq!(r.outcome, UploadResultKind::Rejected, "{r:?}");
        assert_eq!(r.attempts, 1);
        assert!(clock.slept().is_empty());
        assert_eq!(sandbox.journal().len(), 1);
    }

    fn result(outcome: UploadResultKind) -> UploadResult {
        UploadResult {
            path: "inbox/2661_11262026.BIF".into(),
            name: "2661_11262026.BIF".into(),
            sha256: "ab".repeat(32),
            outcome,
            attempts: 1,
            message: "m".into(),
        }
    }

    #[test]
    fn the_summary_reads_as_the_command_or_as_runs_stage() {
        let named = UploadSummary {
            files: vec![result(UploadResultKind::Uploaded)],
            unreadable: Vec::new(),
            scope: Scope::Named,
            destination: Destination::InvoiceCloud,
        };
        assert_eq!(named.text(), "inbox/2661_11262026.BIF: uploaded: m");
        assert_eq!(named.json()["files"][0]["outcome"], "uploaded");
        let keys: Vec<String> = named.json()["files"][0]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            ["path", "name", "sha256", "outcome", "attempts", "message"]
        );

        let pending = UploadSummary {
            scope: Scope::Pending,
            ..named
        };
        assert_eq!(
            pending.text(),
            "upload to InvoiceCloud\ninbox/2661_11262026.BIF: uploaded: m"
        );
        assert_eq!(pending.json()[0]["outcome"], "uploaded");
        // The demo's uploads go to its local sandbox, and the text says so.
        let local = UploadSummary {
            destination: Destination::LocalSandbox,
            ..pending
        };
        assert_eq!(
            local.text(),
            "upload to the local sandbox, not InvoiceCloud (the demo configuration: nothing left this machine)\ninbox/2661_11262026.BIF: uploaded: m"
        );
        let named_local = UploadSummary {
            scope: Scope::Named,
            ..local
        };
        assert!(
            named_local
                .text()
                .starts_with("upload to the local sandbox")
        );
        let none = UploadSummary {
            files: Vec::new(),
            unreadable: Vec::new(),
            scope: Scope::Pending,
            destination: Destination::InvoiceCloud,
        };
        assert_eq!(none.text(), "upload: nothing to upload");
        assert_eq!(none.json(), serde_json::json!([]));
        assert_eq!(none.exit_code(), ExitCode::Success);
    }

    #[test]
    fn the_worst_file_decides_and_an_unreadable_one_counts() {
        let s = UploadSummary {
            files: vec![
                result(UploadResultKind::Rejected),
                result(UploadResultKind::Failed),
                result(UploadResultKind::Uploaded),
            ],
            unreadable: Vec::new(),
            scope: Scope::Pending,
            destination: Destination::InvoiceCloud,
        };
        assert_eq!(s.exit_code(), ExitCode::Transient);
        let s = UploadSummary {
            files: vec![result(UploadResultKind::Invalid)],
            unreadable: vec![Error::Read {
                path: "inbox/gone.BIF".into(),
                source: std::io::ErrorKind::NotFound.into(),
            }],
            scope: Scope::Pending,
            destination: Destination::InvoiceCloud,
        };
        assert_eq!(s.exit_code(), ExitCode::Usage);
    }
}

//! `doctor`: a biller's configuration checked against the real world before
//! its first night, changing nothing there.
//!
//! Each check is one line naming the setting it checks, what it found and,
//! when it failed, what to do. The [`DoctorSummary`] owns its text, its JSON
//! and its exit code, like a stage of [`crate::pipeline`].
//!
//! | check | what is done | changes |
//! |---|---|---|
//! | `config`, `layout` | the file loaded; the BIF layout (`[paths] layout`) loaded | nothing |
//! | `clock` | the local clock against a server's HTTP `Date`; the biller's time and offset (logTime) | nothing |
//! | `folder` | each local folder written or read: a file made and removed, or its nearest parent when it does not exist yet | nothing left |
//! | `sftp.*` | connect, host key in `known_hosts`, login, `remote_dir` listed, `archive_dir` / `failed_dir` take a file (made and removed) | nothing left |
//! | `dropbox.*` | the drop box read, its archive and failed folders written (as `folder`) | nothing left |
//! | `multispeak.*` | per configured endpoint (settings 8, 11, 14, 17): PingURL, TLS (https), GetMethods lists the method the setting is for, and a call the server must authenticate that changes nothing (an empty CommitPaymentTransaction / ModifyCBDataForCustomer / WriteAccountHistoryComments; GetPayableItemsList of one account for 8) | nothing |
//! | `invoicecloud.*` | the key's variable set; the upload URL answers a GET | nothing |
//!
//! Status and exit code: `ok` 0; `refused` 1 (the other side said no: a
//! method not listed, credentials or a login refused, a folder that cannot
//! be written, the clock off); `config` 2 (the file or what it names is
//! wrong: a secret's variable unset, a host key not listed, a URL that is
//! not a MultiSpeak endpoint, TLS, the layout); `unreachable` 3. The exit
//! code is the worst ([`ExitCode::worst`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ExitCode;
use crate::config::{Config, Endpoint, SftpConfig};
use crate::multispeak::outcome::Transient;
use crate::multispeak::request::MsgHeader;
use crate::multispeak::{CallError, MultiSpeakClient, Operation};
use crate::pipeline::StageSummary;
use crate::transport::http::{HttpClient, HttpError, HttpOptions};
use crate::transport::sftp::Writable;
use crate::transport::{SftpSource, Source, TransportError};

/// The largest difference between the local clock and a server's that
/// passes: logTimes and file ages are compared across machines.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(120);

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// The other side said no (exit 1).
    Refused,
    /// The configuration, or a file it names, is wrong (exit 2).
    Config,
    /// Could not be reached (exit 3).
    Unreachable,
}

impl Status {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Status::Ok => ExitCode::Success,
            Status::Refused => ExitCode::InputErrors,
            Status::Config => ExitCode::Usage,
            Status::Unreachable => ExitCode::Transient,
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A stable id: `multispeak.methods`, `sftp.host_key`, `folder`, ...
    pub check: &'static str,
    /// The setting checked, as people write it: `setting 11`, `[sftp]
    /// archive_dir`, `[paths] inbox`.
    pub setting: String,
    pub status: Status,
    /// What was found.
    pub message: String,
    /// What to do; set on every check that did not pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(check: &'static str, setting: impl Into<String>, message: impl Into<String>) -> Check {
        Check {
            check,
            setting: setting.into(),
            status: Status::Ok,
            message: message.into(),
            fix: None,
        }
    }

    fn failed(
        check: &'static str,
        setting: impl Into<String>,
        status: Status,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            check,
            setting: setting.into(),
            status,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Every check, in the order made.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DoctorSummary {
    pub checks: Vec<Check>,
}

impl DoctorSummary {
    /// The text, with `ok` in green and `FAIL` in red when `color`.
    pub fn text_colored(&self, color: bool) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.setting.chars().count())
            .max()
            .unwrap_or(0);
        let mut s = String::new();
        for c in &self.checks {
            let label = match (c.status, color) {
                (Status::Ok, false) => "ok  ".to_string(),
                (Status::Ok, true) => "\x1b[32mok\x1b[0m  ".to_string(),
                (_, false) => "FAIL".to_string(),
                (_, true) => "\x1b[31mFAIL\x1b[0m".to_string(),
            };
            s.push_str(&format!("{label}  {:<width$}  {}", c.setting, c.message));
            if let Some(fix) = &c.fix {
                s.push_str(" -> ");
                s.push_str(fix);
            }
            s.push('\n');
        }
        let failed = self.failed();
        s.push_str(&if failed == 0 {
            format!("doctor: all {} checks passed", self.checks.len())
        } else {
            format!("doctor: {failed} of {} checks failed", self.checks.len())
        });
        s
    }

    fn failed(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status != Status::Ok)
            .count()
    }
}

impl StageSummary for DoctorSummary {
    fn stage(&self) -> &'static str {
        "doctor"
    }

    fn exit_code(&self) -> ExitCode {
        crate::pipeline::worst(self.checks.iter().map(|c| c.status.exit_code()))
    }

    fn text(&self) -> String {
        self.text_colored(false)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "checks": crate::pipeline::to_json(&self.checks),
            "counts": {"ok": self.checks.len() - self.failed(), "failed": self.failed()},
        })
    }
}

/// What the checks may be told.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The account GetPayableItemsList asks for on setting 8; `None` asks
    /// for account `0`, which the server must still authenticate.
    pub account: Option<String>,
}

/// Runs every check that the configuration calls for.
pub fn run(config: &Config, state: &Path, opts: &Options) -> DoctorSummary {
    let mut checks = vec![Check::ok(
        "config",
        "[biller]",
        format!(
            "configuration {} loaded: BID {}, {}",
            config.origin, config.biller.bid, config.biller.name
        ),
    )];
    checks.push(layout(config));
    let http = HttpClient::new(&HttpOptions::with_timeout_seconds(
        config.pump.timeout_seconds,
    ));
    checks.push(clock(config, &http));
    checks.extend(folders(config, state));
    if let Some(sftp) = &config.sftp {
        checks.extend(sftp_checks(sftp));
    }
    if let Some(d) = &config.dropbox {
        checks.push(readable("dropbox.dir", "[dropbox] dir", &d.dir));
        checks.push(writable(
            "dropbox.archive_dir",
            "[dropbox] archive_dir",
            &d.archive_dir,
        ));
        checks.push(writable(
            "dropbox.failed_dir",
            "[dropbox] failed_dir",
            &d.failed_dir,
        ));
    }
    let s = &config.settings;
    for (id, endpoint, op) in [
        (8, &s.rtdr, Operation::GetPayableItemsList),
        (11, &s.payments, Operation::CommitPaymentTransaction),
        (14, &s.paperless, Operation::ModifyCBDataForCustomer),
        (17, &s.autopay, Operation::WriteAccountHistoryComments),
    ] {
        if let Some(ep) = endpoint {
            checks.extend(endpoint_checks(config, &http, id, ep, op, opts));
        }
    }
    if let Some(ic) = &config.invoicecloud {
        checks.extend(invoicecloud_checks(
            &http,
            &ic.upload_url,
            &ic.web_service_key,
        ));
    }
    DoctorSummary { checks }
}

fn layout(config: &Config) -> Check {
    let setting = "[paths] layout";
    let from = config
        .paths
        .layout
        .as_ref()
        .map_or("the embedded specs/bif-layout.csv".to_string(), |p| {
            p.display().to_string()
        });
    match crate::bif::layout_for(config) {
        Ok(_) => Check::ok("layout", setting, format!("BIF layout loaded from {from}")),
        Err(e) => Check::failed(
            "layout",
            setting,
            Status::Config,
            format!("the BIF layout cannot be used: {e}"),
            "fix the file, or remove [paths] layout to use the embedded one",
        ),
    }
}

/// The local clock against a server's `Date` (InvoiceCloud's, else the
/// first MultiSpeak endpoint's), and the biller's local time and offset,
/// which every logTime carries.
fn clock(config: &Config, http: &HttpClient) -> Check {
    let setting = "[biller] timezone";
    let now = chrono::Utc::now();
    let local = now.with_timezone(&config.biller.timezone);
    let here = format!(
        "clock {} UTC; {} time {} ({}), the offset logTimes carry",
        now.format("%Y-%m-%d %H:%M:%S"),
        config.biller.name,
        local.format("%Y-%m-%d %H:%M:%S %:z"),
        config.biller.timezone
    );
    let s = &config.settings;
    let server = config
        .invoicecloud
        .as_ref()
        .map(|ic| ic.upload_url.clone())
        .or_else(|| {
            [&s.rtdr, &s.payments, &s.paperless, &s.autopay]
                .into_iter()
                .flatten()
                .next()
                .map(|e| e.url.clone())
        });
    let Some(url) = server else {
        return Check::ok(
            "clock",
            setting,
            format!("{here}; no server to compare with"),
        );
    };
    let theirs = http
        .look(&url)
        .ok()
        .and_then(|l| l.date)
        .and_then(|d| chrono::DateTime::parse_from_rfc2822(&d).ok());
    let Some(theirs) = theirs else {
        return Check::ok(
            "clock",
            setting,
            format!("{here}; {url} gave no time to compare with"),
        );
    };
    let skew = (now - theirs.with_timezone(&chrono::Utc))
        .num_seconds()
        .unsigned_abs();
    if skew <= MAX_CLOCK_SKEW.as_secs() {
        Check::ok(
            "clock",
            setting,
            format!("{here}; within {skew} s of {url}"),
        )
    } else {
        Check::failed(
            "clock",
            setting,
            Status::Refused,
            format!("{here}; {skew} s off the clock of {url}"),
            "set the clock right (systemd-timesyncd or chrony)",
        )
    }
}

fn folders(config: &Config, state: &Path) -> Vec<Check> {
    let p = &config.paths;
    let mut out = vec![
        writable("folder", "[paths] inbox", &p.inbox),
        writable("folder", "[paths] quarantine", &p.quarantine),
        writable("folder", "[paths] reports", &p.reports),
        readable("folder", "[paths] exports", &p.exports),
    ];
    let state_dir = state
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut check = writable("folder", "[paths] state", &state_dir);
    check.message = format!("state file {}: {}", state.display(), check.message);
    out.push(check);
    out
}

/// A local folder `pull`, `run` or a report writes to: a file made in it and
/// removed; where it does not exist yet, its nearest existing parent.
fn writable(check: &'static str, setting: &str, dir: &Path) -> Check {
    let mut probe = dir.to_path_buf();
    while !probe.exists() {
        match probe.parent() {
            Some(p) if !p.as_os_str().is_empty() => probe = p.to_path_buf(),
            _ => {
                probe = PathBuf::from(".");
                break;
            }
        }
    }
    if !probe.is_dir() {
        return Check::failed(
            check,
            setting,
            Status::Config,
            format!("{} is not a folder", probe.display()),
            format!("point {setting} at a folder"),
        );
    }
    match tempfile::Builder::new()
        .prefix(".daffron-bridge-doctor-")
        .tempfile_in(&probe)
    {
        Ok(f) => {
            drop(f);
            if probe == dir {
                Check::ok(check, setting, format!("{} is writable", dir.display()))
            } else {
                Check::ok(
                    check,
                    setting,
                    format!(
                        "{} does not exist yet; made on first use ({} is writable)",
                        dir.display(),
                        probe.display()
                    ),
                )
            }
        }
        Err(e) => Check::failed(
            check,
            setting,
            Status::Refused,
            format!("cannot write in {}: {e}", probe.display()),
            format!(
                "give the user that runs daffron-bridge write permission on {}",
                probe.display()
            ),
        ),
    }
}

/// A local folder that is read: listed when it exists.
fn readable(check: &'static str, setting: &str, dir: &Path) -> Check {
    if !dir.exists() {
        return Check::ok(
            check,
            setting,
            format!("{} does not exist yet; nothing to read", dir.display()),
        );
    }
    match std::fs::read_dir(dir) {
        Ok(entries) => Check::ok(
            check,
            setting,
            format!(
                "{} is readable ({} entries)",
                dir.display(),
                entries.count()
            ),
        ),
        Err(e) => Check::failed(
            check,
            setting,
            Status::Refused,
            format!("cannot list {}: {e}", dir.display()),
            format!(
                "give the user that runs daffron-bridge read permission on {}",
                dir.display()
            ),
        ),
    }
}

/// The SFTP server: connect, host key, login, the three folders. A step
/// that fails ends the SFTP checks (the later ones need it).
fn sftp_checks(cfg: &SftpConfig) -> Vec<Check> {
    let mut out = Vec::new();
    let target = format!("{}@{}:{}", cfg.user, cfg.host, cfg.port);
    let password = match &cfg.password {
        None => None,
        Some(secret) => match secret.expose("[sftp] password") {
            Ok(p) => Some(p),
            Err(e) => {
                out.push(Check::failed(
                    "sftp.password",
                    "[sftp] password",
                    Status::Config,
                    e.to_string(),
                    "export the variable in the environment daffron-bridge runs in",
                ));
                None
            }
        },
    };
    let src = match SftpSource::connect(cfg, password.as_deref()) {
        Ok(src) => {
            out.push(Check::ok(
                "sftp.host_key",
                "[sftp] known_hosts",
                format!(
                    "{target}: the server's host key is listed in {}",
                    cfg.known_hosts.display()
                ),
            ));
            out.push(Check::ok(
                "sftp.login",
                "[sftp] user",
                format!("logged in to {target}"),
            ));
            src
        }
        Err(e) => {
            out.extend(sftp_connect_failed(cfg, &target, e));
            return out;
        }
    };
    let mut src = src;
    match src.list() {
        Ok(files) => out.push(Check::ok(
            "sftp.remote_dir",
            "[sftp] remote_dir",
            format!("{} listed: {} file(s)", cfg.remote_dir, files.len()),
        )),
        Err(e) => {
            out.push(sftp_failed(
                "sftp.remote_dir",
                "[sftp] remote_dir",
                e,
                &cfg.user,
            ));
            return out;
        }
    }
    for (check, setting, dir) in [
        ("sftp.archive_dir", "[sftp] archive_dir", &cfg.archive_dir),
        ("sftp.failed_dir", "[sftp] failed_dir", &cfg.failed_dir),
    ] {
        out.push(match src.probe_writable(dir) {
            Ok(Writable::Yes) => Check::ok(
                check,
                setting,
                format!("{dir} takes files (a test file made and removed)"),
            ),
            Ok(Writable::WillBeCreated) => Check::ok(
                check,
                setting,
                format!("{dir} does not exist yet; pull makes it (its parent takes files)"),
            ),
            Err(e) => sftp_failed(check, setting, e, &cfg.user),
        });
    }
    out
}

/// The lines for a connection that did not get through: which step failed.
fn sftp_connect_failed(cfg: &SftpConfig, target: &str, e: TransportError) -> Vec<Check> {
    match e {
        TransportError::Unreachable { .. } | TransportError::Lost { .. } => vec![Check::failed(
            "sftp.connect",
            "[sftp] host, port",
            Status::Unreachable,
            e.to_string(),
            format!(
                "check that the SFTP server is up and that {}:{} is right and open to this machine",
                cfg.host, cfg.port
            ),
        )],
        TransportError::HostKeyUnknown { .. }
        | TransportError::HostKeyChanged { .. }
        | TransportError::KnownHosts { .. } => vec![Check::failed(
            "sftp.host_key",
            "[sftp] known_hosts",
            Status::Config,
            e.to_string(),
            "list the server's key in known_hosts once its fingerprint is confirmed",
        )],
        TransportError::Auth { .. } => vec![
            Check::ok(
                "sftp.host_key",
                "[sftp] known_hosts",
                format!(
                    "{target}: the server's host key is listed in {}",
                    cfg.known_hosts.display()
                ),
            ),
            Check::failed(
                "sftp.login",
                "[sftp] user",
                Status::Refused,
                e.to_string(),
                "check [sftp] user, key_file or password with the server's owner",
            ),
        ],
        other => vec![sftp_failed("sftp.connect", "[sftp] host", other, &cfg.user)],
    }
}

fn sftp_failed(check: &'static str, setting: &str, e: TransportError, user: &str) -> Check {
    let (status, fix) = if e.is_transient() {
        (
            Status::Unreachable,
            "the connection broke: try again; if it keeps breaking, ask the server's owner"
                .to_string(),
        )
    } else {
        (
            Status::Refused,
            format!(
                "ask the server's owner to let user {user} list and write there, or fix {setting}"
            ),
        )
    };
    Check::failed(check, setting, status, e.to_string(), fix)
}

/// One MultiSpeak endpoint group: PingURL, TLS, GetMethods, credentials.
fn endpoint_checks(
    config: &Config,
    http: &HttpClient,
    id: u32,
    ep: &Endpoint,
    op: Operation,
    opts: &Options,
) -> Vec<Check> {
    let mut out = Vec::new();
    let url_setting = format!("setting {id}");
    let cred_setting = format!("settings {}, {}", id + 1, id + 2);
    let user = ep.user.clone().unwrap_or_default();
    let password = match &ep.password {
        None => Some(String::new()),
        Some(secret) => match secret.expose(&format!("advanced setting {}", id + 2)) {
            Ok(p) => Some(p),
            Err(e) => {
                out.push(Check::failed(
                    "multispeak.password",
                    format!("setting {}", id + 2),
                    Status::Config,
                    e.to_string(),
                    "export the variable in the environment daffron-bridge runs in",
                ));
                None
            }
        },
    };
    let client = MultiSpeakClient::new(
        http.clone(),
        &ep.url,
        MsgHeader {
            user_id: user.clone(),
            pwd: password.clone().unwrap_or_default(),
            app_name: config.pump.app_name.clone(),
            app_version: config.pump.app_version.clone(),
            company: config.pump.company.clone(),
        },
        config.settings.service_version,
    );

    let started = Instant::now();
    let ping = client.ping_url();
    let ms = started.elapsed().as_millis();
    let https = ep.url.starts_with("https://");
    match &ping {
        Ok(errors) if errors.is_empty() => out.push(Check::ok(
            "multispeak.ping",
            url_setting.clone(),
            format!("PingURL answered by {} in {ms} ms", ep.url),
        )),
        Ok(errors) => out.push(Check::failed(
            "multispeak.ping",
            url_setting.clone(),
            Status::Refused,
            format!(
                "PingURL at {} answered with errors: {}",
                ep.url,
                errors
                    .iter()
                    .map(|e| e.error_string.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            "ask Daffron what the server reports",
        )),
        Err(e) if https && tls_failure(e) => {
            out.push(Check::failed(
                "multispeak.tls",
                url_setting.clone(),
                Status::Config,
                format!("TLS with {} failed: {e}", ep.url),
                "the server's certificate must be valid for its host name and trusted by this machine",
            ));
            return out;
        }
        Err(e) => {
            let unreachable = call_failed("multispeak.ping", &url_setting, "PingURL", &ep.url, e);
            let stop = unreachable.status == Status::Unreachable;
            out.push(unreachable);
            if stop {
                // Nothing more can be learnt from a server that is not there.
                return out;
            }
        }
    }
    if https {
        out.push(Check::ok(
            "multispeak.tls",
            url_setting.clone(),
            format!("TLS with {}: certificate accepted", host_of(&ep.url)),
        ));
    }

    out.push(match client.get_methods() {
        Ok(methods) => {
            let listed = methods.iter().any(|m| {
                Operation::from_name(m.trim()).is_some_and(|o| o == op)
                    || m.trim().eq_ignore_ascii_case(op.name())
            });
            if listed {
                Check::ok(
                    "multispeak.methods",
                    url_setting.clone(),
                    format!("GetMethods lists {}", op.name()),
                )
            } else {
                Check::failed(
                    "multispeak.methods",
                    url_setting.clone(),
                    Status::Refused,
                    format!(
                        "GetMethods at {} does not list {}, which setting {id} is for (it lists {})",
                        ep.url,
                        op.name(),
                        if methods.is_empty() {
                            "nothing".to_string()
                        } else {
                            methods.join(", ")
                        }
                    ),
                    format!(
                        "ask Daffron to enable {} for user {user} on this endpoint, or correct setting {id}",
                        op.name()
                    ),
                )
            }
        }
        Err(e) => call_failed("multispeak.methods", &url_setting, "GetMethods", &ep.url, &e),
    });

    if password.is_some() {
        out.push(credentials(&client, id, &cred_setting, &user, op, opts));
    }
    out
}

/// A call the server must authenticate, which changes nothing: the
/// endpoint's own operation with no items, or (setting 8) the balance of
/// one account.
fn credentials(
    client: &MultiSpeakClient,
    id: u32,
    setting: &str,
    user: &str,
    op: Operation,
    opts: &Options,
) -> Check {
    let account = opts.account.as_deref().unwrap_or("0");
    let (result, what) = match op {
        Operation::GetPayableItemsList => (
            client.get_payable_items_list(account).map(|_| ()),
            format!("GetPayableItemsList of account {account}"),
        ),
        Operation::CommitPaymentTransaction => (
            client.commit_payment_transaction(&[]).map(|_| ()),
            "an empty CommitPaymentTransaction (nothing posted)".to_string(),
        ),
        Operation::ModifyCBDataForCustomer => (
            client.modify_cb_data_for_customer(&[]).map(|_| ()),
            "an empty ModifyCBDataForCustomer (nothing changed)".to_string(),
        ),
        Operation::WriteAccountHistoryComments => (
            client.write_account_history_comments(&[]).map(|_| ()),
            "an empty WriteAccountHistoryComments (nothing written)".to_string(),
        ),
    };
    let fix = format!(
        "check the user (setting {}) and the password (setting {}) with Daffron",
        id + 1,
        id + 2
    );
    match result {
        Ok(()) => Check::ok(
            "multispeak.credentials",
            setting,
            format!("user {user} accepted: {what} answered"),
        ),
        // Setting 8 only: a server that authenticated the call may still
        // not know the account asked for.
        Err(CallError::Fault(f))
            if op == Operation::GetPayableItemsList
                && !looks_like_auth(&f.string)
                && unknown_account(&f.string) =>
        {
            Check::ok(
                "multispeak.credentials",
                setting,
                format!(
                    "user {user} accepted: {what} answered that the account is unknown ({})",
                    f.string
                ),
            )
        }
        Err(CallError::Fault(f)) => Check::failed(
            "multispeak.credentials",
            setting,
            Status::Refused,
            format!("the server refused user {user} and its password: {what} got {f}"),
            fix,
        ),
        Err(e) => call_failed("multispeak.credentials", setting, &what, client.url(), &e),
    }
}

fn looks_like_auth(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "authent",
        "password",
        "pwd",
        "userid",
        "credential",
        "login",
        "unauthori",
        "denied",
    ]
    .iter()
    .any(|w| t.contains(w))
}

fn unknown_account(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    ["not found", "unknown", "no such", "does not exist"]
        .iter()
        .any(|w| t.contains(w))
}

/// A call that failed as a whole, as a line: unreachable (3), not a
/// MultiSpeak endpoint or a wrong path (2), refused by a Fault (1).
fn call_failed(check: &'static str, setting: &str, what: &str, url: &str, e: &CallError) -> Check {
    let (status, fix) = match e {
        CallError::Transient(Transient::Garbage(_)) => (
            Status::Config,
            format!("{url} answers, but not as a MultiSpeak 3.0 CB server: correct {setting}"),
        ),
        CallError::Transient(_) => (
            Status::Unreachable,
            format!("check that the server is up and that {setting} names the right host and port"),
        ),
        CallError::Rejected(_) => (
            Status::Config,
            format!("correct the path of the URL in {setting}"),
        ),
        CallError::Fault(_) => (
            Status::Refused,
            "ask Daffron why the server refuses it".to_string(),
        ),
    };
    Check::failed(check, setting, status, format!("{what} at {url}: {e}"), fix)
}

fn tls_failure(e: &CallError) -> bool {
    crate::transport::http::is_tls_failure(&e.to_string())
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

fn invoicecloud_checks(http: &HttpClient, url: &str, key: &crate::config::Secret) -> Vec<Check> {
    let mut out = Vec::new();
    let setting = "[invoicecloud] upload_url";
    match key.expose("[invoicecloud] web_service_key") {
        Ok(_) => out.push(Check::ok(
            "invoicecloud.key",
            "[invoicecloud] web_service_key",
            "the web service key is set",
        )),
        Err(e) => out.push(Check::failed(
            "invoicecloud.key",
            "[invoicecloud] web_service_key",
            Status::Config,
            e.to_string(),
            "export the variable in the environment daffron-bridge runs in",
        )),
    }
    let started = Instant::now();
    out.push(match http.look(url) {
        Ok(l) if l.status == 404 => Check::failed(
            "invoicecloud.reachable",
            setting,
            Status::Config,
            format!("{url} answered HTTP 404: there is no service at that path"),
            format!("correct {setting}"),
        ),
        Ok(l) => Check::ok(
            "invoicecloud.reachable",
            setting,
            format!(
                "{url} answered (HTTP {}) in {} ms",
                l.status,
                started.elapsed().as_millis()
            ),
        ),
        Err(e) => {
            let tls = crate::transport::http::is_tls_failure(&e.to_string());
            let (status, fix) = match (&e, tls) {
                (_, true) => (
                    Status::Config,
                    "the server's certificate must be valid for its host name and trusted by this machine".to_string(),
                ),
                (HttpError::BadUrl { .. }, _) => (Status::Config, format!("correct {setting}")),
                _ => (
                    Status::Unreachable,
                    "check that this machine can reach InvoiceCloud (proxy, firewall)".to_string(),
                ),
            };
            Check::failed("invoicecloud.reachable", setting, status, e.to_string(), fix)
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: Status) -> Check {
        Check {
            check: "x",
            setting: "setting 8".into(),
            status,
            message: "m".into(),
            fix: (status != Status::Ok).then(|| "f".into()),
        }
    }

    #[test]
    fn the_exit_code_is_the_worst_check() {
        let s = |v: &[Status]| DoctorSummary {
            checks: v.iter().map(|&st| check(st)).collect(),
        };
        assert_eq!(s(&[Status::Ok]).exit_code(), ExitCode::Success);
        assert_eq!(
            s(&[Status::Ok, Status::Refused]).exit_code(),
            ExitCode::InputErrors
        );
        assert_eq!(
            s(&[Status::Refused, Status::Unreachable]).exit_code(),
            ExitCode::Transient
        );
        assert_eq!(
            s(&[Status::Unreachable, Status::Config]).exit_code(),
            ExitCode::Usage
        );
    }

    #[test]
    fn colour_only_when_asked() {
        let s = DoctorSummary {
            checks: vec![check(Status::Ok), check(Status::Refused)],
        };
        let plain = s.text_colored(false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(
            plain.starts_with("ok    setting 8  m\nFAIL  setting 8  m -> f\n"),
            "{plain}"
        );
        assert!(plain.ends_with("doctor: 1 of 2 checks failed"), "{plain}");
        let coloured = s.text_colored(true);
        assert!(coloured.contains("\x1b[32mok\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[31mFAIL\x1b[0m"), "{coloured}");
    }

    #[test]
    fn a_missing_folder_is_judged_by_its_parent_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let c = writable("folder", "[paths] inbox", &dir.path().join("a/b"));
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(c.message.contains("does not exist yet"), "{c:?}");
        let c = writable("folder", "[paths] inbox", dir.path());
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let c = writable("folder", "[paths] inbox", &file);
        assert_eq!(c.status, Status::Config, "{c:?}");
    }

    #[test]
    fn auth_words_and_unknown_accounts() {
        assert!(looks_like_auth(
            "authentication failed: the UserID or Pwd of MultiSpeakMsgHeader is wrong"
        ));
        assert!(!looks_like_auth("account 0 not found"));
        assert!(unknown_account("account 0 not found"));
        assert_eq!(
            host_of("https://cb.example.com:8443/x/CB"),
            "cb.example.com:8443"
        );
    }
}

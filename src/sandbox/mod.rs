//! A local stand-in for Daffron's MultiSpeak CB server and InvoiceCloud's
//! UploadInvoiceFile, for tests and implementers' dry runs.
//!
//! It is a real HTTP server (tiny_http) on a loopback port. Any path is a
//! MultiSpeak CB endpoint (the operation is read from the request element,
//! falling back to SOAPAction); a path ending in `CloudInvoicing.asmx` is
//! InvoiceCloud's upload. It keeps accounts and balances ([`state`]; on disk
//! as a snapshot and a log of effects, [`persist`]), applies posted
//! payments, refuses duplicate transactionIds as Milsoft does (D15), checks
//! the configured UserID/Pwd and WebServiceKey, injects faults on demand
//! ([`faults`]) and journals every request without credentials.
//!
//! `GET /_sandbox/state` answers the state as JSON, for tests and demos that
//! look without stopping it.
//!
//! In-process use: [`Sandbox::start`] returns a [`SandboxHandle`] with the
//! URL, the journal, the state and `shutdown()`.

pub mod embedded;
pub mod faults;
pub mod invoicecloud;
pub mod persist;
pub mod state;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::multispeak::response::{self, Envelope, parse_amount};
use crate::multispeak::xml::{Element, esc};
use crate::multispeak::{NS, Operation, Probe, SOAP_NS, TenderKind};
use faults::Injector;
pub use faults::{FaultKind, FaultSpec};
use persist::{LogLine, StateLog};
use state::{Applied, Effect, State};

/// The largest request read (uploads carry whole BIF files in base64).
pub const MAX_REQUEST_BYTES: u64 = 256 * 1024 * 1024;

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox cannot listen on {addr}: {message}")]
    Bind { addr: String, message: String },
    #[error("{0}")]
    Seed(String),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("cannot open the sandbox journal {}: {source}", path.display())]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--faults: {0}")]
    Faults(String),
}

/// How to start a sandbox.
#[derive(Clone, Default)]
pub struct SandboxOptions {
    /// `127.0.0.1:0` picks a free port.
    pub listen: String,
    /// JSON state snapshot: loaded (with its log `FILE.log`) when it
    /// exists, compacted at start; each change is appended to the log.
    pub state: Option<PathBuf>,
    /// BIF files whose invoices seed accounts.
    pub seeds: Vec<PathBuf>,
    pub faults: FaultSpec,
    pub fault_seed: u64,
    /// JSON-lines journal file (appended).
    pub journal: Option<PathBuf>,
    /// The UserID accepted in MultiSpeakMsgHeader.
    pub user_id: String,
    /// The Pwd accepted; `None` accepts any credentials.
    pub password: Option<String>,
    /// The WebServiceKey UploadInvoiceFile accepts; `None` accepts any.
    pub web_service_key: Option<String>,
    /// Biller GUIDs UploadInvoiceFile accepts, besides the seeds' FH ones.
    pub biller_guids: Vec<String>,
    /// The largest request body taken; `None` is [`MAX_REQUEST_BYTES`].
    pub max_request_bytes: Option<u64>,
    /// Methods to leave out (standard 3.0 names, e.g.
    /// `CommitPaymentTransaction`): GetMethods does not list them and a call
    /// of one is answered with a SOAP Fault, as by a server that lacks it.
    pub without_methods: Vec<String>,
}

impl std::fmt::Debug for SandboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxOptions")
            .field("listen", &self.listen)
            .field("state", &self.state)
            .field("seeds", &self.seeds)
            .field("faults", &self.faults)
            .field("fault_seed", &self.fault_seed)
            .field("journal", &self.journal)
            .field("user_id", &self.user_id)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field(
                "web_service_key",
                &self.web_service_key.as_ref().map(|_| "<redacted>"),
            )
            .field("biller_guids", &self.biller_guids)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("without_methods", &self.without_methods)
            .finish()
    }
}

/// An uploaded file as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// One journal line. Never holds a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// RFC 3339, UTC.
    pub time: String,
    /// The MultiSpeak operation, `UploadInvoiceFile`, or `unknown`.
    pub operation: String,
    /// base+sub account ids the request named, in order.
    pub accounts: Vec<String>,
    /// `ok`, `partial` (some item was refused: an errorObject, or a tender
    /// responseCode other than Success, duplicate payments included),
    /// `fault`, `rejected`, or the injected fault's name.
    pub outcome: String,
    /// Per-item outcomes of a batch: `accepted`, `duplicate` (a payment's
    /// transactionId already posted, refused; or a comment already held,
    /// answered as success), `unchanged` (EBILL set to the flag it already
    /// had, answered as success), `failure: ...`, `error: ...`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// The injected fault, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<UploadedFile>,
    /// A short reason for a Fault or rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

struct Shared {
    opts: SandboxOptions,
    live: Mutex<Live>,
    injector: Mutex<Injector>,
    journal: Mutex<(Vec<JournalEntry>, Option<std::fs::File>)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Journals a request: its line is written in one `write`, so a sandbox
    /// killed with `kill -9` leaves no half line for the next run to extend.
    fn record(&self, e: JournalEntry) {
        let mut j = lock(&self.journal);
        if let Some(f) = j.1.as_mut()
            && let Ok(mut line) = serde_json::to_string(&e)
        {
            line.push('\n');
            let _ = f.write_all(line.as_bytes());
        }
        j.0.push(e);
    }
}

/// The state and the log it is kept in, behind one lock, so the log's
/// order is the order the state changed in.
struct Live {
    state: State,
    log: Option<StateLog>,
}

impl Live {
    /// Logs one request's effects (none: nothing to write).
    fn log(&mut self, time: String, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        if let Some(log) = self.log.as_mut()
            && let Err(e) = log.append(&LogLine { time, effects })
        {
            tracing::warn!("{}", error_chain(&e));
        }
    }
}

/// An error and its sources on one line, for a warning.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Starts sandboxes.
pub struct Sandbox;

/// A running sandbox. Dropping it shuts it down.
pub struct SandboxHandle {
    url: String,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds, seeds and starts serving on worker threads.
    pub fn start(mut opts: SandboxOptions) -> Result<SandboxHandle, SandboxError> {
        if opts.listen.is_empty() {
            opts.listen = "127.0.0.1:0".into();
        }
        let (mut st, generation) = match &opts.state {
            Some(p) if p.exists() => persist::load(p)?,
            _ => (State::default(), 0),
        };
        for seed in &opts.seeds {
            st.seed(seed).map_err(SandboxError::Seed)?;
        }
        for g in &opts.biller_guids {
            st.biller_guids.insert(g.trim().to_ascii_uppercase());
        }
        let log = match &opts.state {
            Some(p) => Some(StateLog::compact(&st, p, generation + 1)?),
            None => None,
        };
        let journal_file = match &opts.journal {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|source| SandboxError::Journal {
                        path: p.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        let server = tiny_http::Server::http(&opts.listen).map_err(|e| SandboxError::Bind {
            addr: opts.listen.clone(),
            message: e.to_string(),
        })?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| SandboxError::Bind {
                addr: opts.listen.clone(),
                message: "not an IP address".into(),
            })?;
        let url = format!("http://{addr}");
        let shared = Arc::new(Shared {
            injector: Mutex::new(Injector::new(opts.faults.clone(), opts.fault_seed)),
            live: Mutex::new(Live { state: st, log }),
            journal: Mutex::new((Vec::new(), journal_file)),
            opts,
        });
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..4)
            .map(|_| {
                let (server, shared, stop) = (server.clone(), shared.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match server.recv_timeout(Duration::from_millis(50)) {
                            Ok(Some(rq)) => handle(&shared, rq),
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        Ok(SandboxHandle {
            url,
            shared,
            stop,
            workers,
        })
    }
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT`. Any path under it is a CB endpoint;
    /// `{url}/portal/webservices/CloudInvoicing.asmx` is the upload.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far, in order.
    pub fn journal(&self) -> Vec<JournalEntry> {
        lock(&self.shared.journal).0.clone()
    }

    /// A copy of the accounts and balances.
    pub fn state(&self) -> State {
        lock(&self.shared.live).state.clone()
    }

    /// Stops serving and waits for the workers.
    pub fn shutdown(mut self) {
        self.stop_workers();
    }

    /// Serves until the process is killed.
    pub fn wait(mut self) {
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }

    fn stop_workers(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn entry(operation: &str, accounts: Vec<String>, outcome: &str) -> JournalEntry {
    JournalEntry {
        time: now(),
        operation: operation.to_string(),
        accounts,
        outcome: outcome.to_string(),
        items: Vec::new(),
        fault: None,
        file: None,
        message: None,
    }
}

/// An answer to send.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
}

fn xml_reply(status: u16, body: String) -> Reply {
    Reply {
        status,
        content_type: "text/xml; charset=utf-8",
        body,
    }
}

/// A SOAP 1.1 envelope around `body`.
pub fn envelope(body: &str) -> String {
    crate::multispeak::request::soap_envelope("", body)
}

/// A SOAP 1.1 Fault envelope.
pub fn fault_envelope(code: &str, text: &str) -> String {
    envelope(&format!(
        "<soap:Fault><faultcode>{}</faultcode><faultstring>{}</faultstring></soap:Fault>",
        esc(code),
        esc(text)
    ))
}

/// The one GET path: the state as JSON.
pub const STATE_PATH: &str = "/_sandbox/state";

/// A GET is for looking: `/_sandbox/state` answers the state as JSON, and
/// InvoiceCloud's `....asmx` a short page, as an ASMX service answers a
/// browser (so `doctor` can see it is there); any other path 404. It is
/// neither journaled nor counted by fault rules, so looking does not change
/// which faults a run gets. The state holds no password or key, so none can
/// show here.
fn get(shared: &Shared, url: &str) -> Reply {
    let path = url.split_once('?').map_or(url, |(p, _)| p);
    if path.to_ascii_lowercase().ends_with(".asmx") {
        return Reply {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: "CloudInvoicing (daffron-bridge sandbox): POST UploadInvoiceFile here".into(),
        };
    }
    if path != STATE_PATH {
        return Reply {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            body: format!(
                "sandbox: GET serves only {STATE_PATH}; MultiSpeak and InvoiceCloud calls are POSTs"
            ),
        };
    }
    match serde_json::to_string(&lock(&shared.live).state) {
        Ok(body) => Reply {
            status: 200,
            content_type: "application/json",
            body,
        },
        Err(e) => Reply {
            status: 500,
            content_type: "text/plain; charset=utf-8",
            body: format!("sandbox: the state cannot be written as JSON: {e}"),
        },
    }
}

fn handle(shared: &Shared, mut rq: tiny_http::Request) {
    if *rq.method() == tiny_http::Method::Get {
        let reply = get(shared, rq.url());
        respond(rq, reply);
        return;
    }
    let path = rq.url().to_string();
    let action = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv("SOAPAction"))
        .map(|h| h.value.as_str().trim_matches('"').to_string())
        .unwrap_or_default();
    let is_ic = path.to_ascii_lowercase().contains("cloudinvoicing.asmx")
        || action.ends_with("/UploadInvoiceFile");
    let limit = shared.opts.max_request_bytes.unwrap_or(MAX_REQUEST_BYTES);
    // The size is checked before anything is parsed.
    let body = match read_body(&mut rq, limit) {
        Err(unread) => Body::Unread(unread),
        Ok(bytes) if is_ic => Body::Upload(bytes),
        Ok(bytes) => Body::Soap(Box::new(response::read_envelope(&bytes))),
    };
    let action_op = || action.rsplit('/').next().and_then(Operation::from_name);
    let unknown = || ("unknown".to_string(), Vec::new());
    let (op_name, accounts) = match &body {
        _ if is_ic => ("UploadInvoiceFile".to_string(), Vec::new()),
        Body::Unread(_) => (
            action_op().map_or("unknown", Operation::name).to_string(),
            Vec::new(),
        ),
        Body::Soap(parsed) => match parsed.as_ref() {
            Ok(env) => match Operation::from_name(&env.body.name).or_else(action_op) {
                Some(op) => (op.name().to_string(), accounts_of(op, &env.body)),
                None => (env.body.name.clone(), Vec::new()),
            },
            Err(_) => unknown(),
        },
        Body::Upload(_) => unknown(),
    };

    let decided = lock(&shared.injector).next_request();
    if !decided.latency.is_zero() {
        std::thread::sleep(decided.latency);
    }
    // `lost` answers after processing; the other kinds instead of it.
    let lost = decided.replace == Some(FaultKind::Lost);
    if let Some(kind) = decided.replace.filter(|_| !lost) {
        let mut e = entry(&op_name, accounts, kind.name());
        e.fault = Some(kind.name().to_string());
        shared.record(e);
        let reply = match kind {
            FaultKind::Drop => {
                drop_connection(rq);
                return;
            }
            FaultKind::Http500 => Reply {
                status: 500,
                content_type: "text/plain; charset=utf-8",
                body: "sandbox: injected HTTP 500 (no SOAP Fault)".into(),
            },
            FaultKind::Fault => xml_reply(
                500,
                fault_envelope("soap:Server", "sandbox: injected SOAP Fault"),
            ),
            // Malformed (latency and item_failure never replace an
            // answer; lost was filtered out above).
            _ => xml_reply(
                200,
                format!(
                    "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body><{op_name}Response xmlns=\"{NS}\"><broken"
                ),
            ),
        };
        respond(rq, reply);
        return;
    }

    let (reply, mut e) = match body {
        Body::Unread(unread) => {
            let msg = unread.to_string();
            let mut e = entry(&op_name, accounts, "fault");
            e.message = Some(msg.clone());
            (xml_reply(500, fault_envelope("soap:Client", &msg)), e)
        }
        Body::Upload(bytes) => invoicecloud::upload(shared, &bytes),
        Body::Soap(parsed) => match *parsed {
            Ok(env) => multispeak(shared, &env, &op_name, accounts),
            Err(err) => {
                let mut e = entry("unknown", accounts, "fault");
                e.message = Some(format!("not a SOAP 1.1 envelope: {err}"));
                (
                    xml_reply(
                        500,
                        fault_envelope("soap:Client", &format!("not a SOAP 1.1 envelope: {err}")),
                    ),
                    e,
                )
            }
        },
    };
    e.time = now();
    if !decided.latency.is_zero() {
        e.fault = Some(FaultKind::Latency.name().to_string());
        e.message = Some(format!("answered after {} ms", decided.latency.as_millis()));
    }
    if lost {
        e.fault = Some(FaultKind::Lost.name().to_string());
        e.message = Some(format!(
            "processed, then the answer was broken off{}",
            e.message
                .take()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ));
    }
    shared.record(e);
    if lost {
        drop_connection(rq);
    } else {
        respond(rq, reply);
    }
}

/// A POST's body, as far as it was taken.
enum Body {
    /// Too large or unreadable: answered with a SOAP Fault, never parsed.
    Unread(Unread),
    /// An InvoiceCloud upload, parsed by [`invoicecloud::upload`].
    Upload(Vec<u8>),
    /// Boxed: an envelope is large beside the other variants.
    Soap(Box<Result<Envelope, response::ResponseError>>),
}

/// Why a request's body was not taken.
#[derive(Debug, thiserror::Error)]
enum Unread {
    #[error("the request is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the request could not be read")]
    Read(#[source] std::io::Error),
}

/// Reads the body, refusing one larger than `limit` bytes: at once when
/// its Content-Length says so (tiny_http skips that body itself), else
/// after `limit + 1` bytes. The rest of a refused chunked body is read and
/// thrown away, so the client, still sending, gets the answer instead of a
/// reset connection.
fn read_body(rq: &mut tiny_http::Request, limit: u64) -> Result<Vec<u8>, Unread> {
    if rq.body_length().is_some_and(|n| n as u64 > limit) {
        return Err(Unread::TooLarge { limit });
    }
    let mut body = Vec::new();
    let reader = rq.as_reader();
    reader
        .take(limit + 1)
        .read_to_end(&mut body)
        .map_err(Unread::Read)?;
    if body.len() as u64 > limit {
        let _ = std::io::copy(reader, &mut std::io::sink());
        return Err(Unread::TooLarge { limit });
    }
    Ok(body)
}

/// Sends the answer, written whole in one go. tiny_http's own `respond`
/// writes the head, then the body, on a socket with Nagle's algorithm on:
/// the body then waits for the client's delayed ACK of the head, about 40 ms
/// per answer on Linux, which capped the sandbox near 2,000 payments/s.
fn respond(rq: tiny_http::Request, r: Reply) {
    let capacity = (r.body.len() + 1024).min(1 << 20);
    let mut resp = tiny_http::Response::from_string(r.body).with_status_code(r.status);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", r.content_type) {
        resp = resp.with_header(h);
    }
    let version = rq.http_version().clone();
    let headers = rq.headers().to_vec();
    let head_only = *rq.method() == tiny_http::Method::Head;
    let mut w = std::io::BufWriter::with_capacity(capacity, rq.into_writer());
    let _ = resp.raw_print(&mut w, version, &headers, head_only, None);
    let _ = w.flush();
}

/// Breaks the answer off: a chunked 200 whose second chunk header is not a
/// chunk size, so the client's reading fails at once, as when a proxy drops
/// the connection mid-answer.
fn drop_connection(rq: tiny_http::Request) {
    let mut w = rq.into_writer();
    let _ = w.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n<soap:Envelope x\r\nconnection dropped\r\n",
    );
    let _ = w.flush();
}

/// The account ids a request names, for the journal.
fn accounts_of(op: Operation, body: &Element) -> Vec<String> {
    let t = |e: &Element, n: &str| e.child_text(NS, n).unwrap_or("").to_string();
    match op {
        Operation::GetPayableItemsList => vec![t(body, "accountNumber")],
        Operation::CommitPaymentTransaction => body
            .child(NS, "transactions")
            .map(|l| {
                l.children_named(NS, "paymentTransaction")
                    .map(|p| t(p, "accountNumber"))
                    .collect()
            })
            .unwrap_or_default(),
        Operation::ModifyCBDataForCustomer => body
            .child(NS, "customerData")
            .map(|l| {
                l.children_named(NS, "customer")
                    .map(|c| c.attr("objectID").unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default(),
        Operation::WriteAccountHistoryComments => body
            .child(NS, "comments")
            .map(|l| {
                l.children_named(NS, "historyComment")
                    .map(|h| t(h, "customerID"))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn multispeak(
    shared: &Shared,
    env: &Envelope,
    op_name: &str,
    accounts: Vec<String>,
) -> (Reply, JournalEntry) {
    let fault = |msg: &str, code: &str| {
        let mut e = entry(op_name, accounts.clone(), "fault");
        e.message = Some(msg.to_string());
        (xml_reply(500, fault_envelope(code, msg)), e)
    };
    let probe = Probe::from_name(op_name);
    let standard = Operation::from_name(op_name)
        .map(Operation::name)
        .or_else(|| probe.map(Probe::name));
    let served = standard.filter(|m| !shared.opts.without_methods.iter().any(|w| w == m));
    let Some(standard) = served else {
        return fault(
            &format!(
                "the sandbox does not serve the operation {}",
                standard.unwrap_or(op_name)
            ),
            "soap:Client",
        );
    };
    if env.body.ns.as_deref() != Some(NS) {
        return fault(
            &format!("the request element must be in namespace {NS}"),
            "soap:Client",
        );
    }
    // Discovery calls are answered without credentials, as servers that
    // keep them open for monitoring do; every other call is checked below.
    if let Some(p) = probe {
        let body = probe_answer(&shared.opts.without_methods, p, op_name);
        return (
            xml_reply(200, envelope(&body)),
            entry(op_name, accounts, "ok"),
        );
    }
    let Some(op) = Operation::from_name(standard) else {
        return fault(
            &format!("the sandbox does not serve the operation {standard}"),
            "soap:Client",
        );
    };
    if let Some(pwd) = &shared.opts.password {
        let h = env
            .header
            .as_ref()
            .and_then(|h| h.child(NS, "MultiSpeakMsgHeader"));
        let user_ok = h.and_then(|h| h.attr("UserID")) == Some(shared.opts.user_id.as_str());
        let pwd_ok = h.and_then(|h| h.attr("Pwd")) == Some(pwd.as_str());
        if !(user_ok && pwd_ok) {
            return fault(
                "authentication failed: the UserID or Pwd of MultiSpeakMsgHeader is wrong",
                "soap:Client",
            );
        }
    }
    let mut live = lock(&shared.live);
    let mut ch = Changes {
        state: &mut live.state,
        time: now(),
        effects: Vec::new(),
    };
    let result = match op {
        Operation::GetPayableItemsList => payable_items(ch.state, &env.body),
        Operation::CommitPaymentTransaction => commit_payments(shared, &mut ch, &env.body),
        Operation::ModifyCBDataForCustomer => paperless(shared, &mut ch, &env.body),
        Operation::WriteAccountHistoryComments => comments(shared, &mut ch, &env.body),
    };
    // Logged before the answer goes out: an answered change is on disk.
    let (time, effects) = (ch.time, ch.effects);
    live.log(time, effects);
    match result {
        Ok(a) => {
            let mut e = entry(op_name, accounts, if a.refused { "partial" } else { "ok" });
            e.items = a.items;
            (xml_reply(200, envelope(&a.body)), e)
        }
        Err(msg) => {
            drop(live);
            fault(&msg, "soap:Client")
        }
    }
}

/// The answer to PingURL (an empty ArrayOfErrorObject: all is well) or
/// GetMethods (every operation served, less those left out), named as the
/// request named it (`GetMethods`, or the 3.0 AC stub's `Methods`).
fn probe_answer(without: &[String], p: Probe, name: &str) -> String {
    let result = match p {
        Probe::PingURL => String::new(),
        Probe::GetMethods => [Probe::PingURL.name(), Probe::GetMethods.name()]
            .into_iter()
            .chain(Operation::ALL.map(Operation::name))
            .filter(|m| !without.iter().any(|w| w == m))
            .map(|m| format!("<string>{m}</string>"))
            .collect(),
    };
    format!("<{name}Response xmlns=\"{NS}\"><{name}Result>{result}</{name}Result></{name}Response>")
}

/// An operation's answer: the SOAP body, the journal's per-item outcomes,
/// and whether any item was refused on the wire (the journal's `partial`).
struct Answer {
    body: String,
    items: Vec<String>,
    refused: bool,
}

/// An [`Answer`], or the message of a SOAP Fault refusing the whole request.
type OpResult = Result<Answer, String>;

/// One request's changes: applied to the state as they are made, and kept
/// for the state log.
struct Changes<'a> {
    state: &'a mut State,
    /// The sandbox's clock when the request was handled.
    time: String,
    effects: Vec<Effect>,
}

impl Changes<'_> {
    /// Applies `effect`; keeps it for the log when it changed the state.
    /// `None` when its account does not exist.
    fn apply(&mut self, effect: Effect) -> Option<Applied> {
        let applied = self.state.apply(&self.time, &effect)?;
        if applied.changed() {
            self.effects.push(effect);
        }
        Some(applied)
    }
}

fn payable_items(st: &State, body: &Element) -> OpResult {
    let account = body.child_text(NS, "accountNumber").unwrap_or("");
    let acct = st
        .accounts
        .get(account)
        .ok_or_else(|| format!("account {account} not found"))?;
    let mut out =
        format!("<GetPayableItemsListResponse xmlns=\"{NS}\"><GetPayableItemsListResult>");
    for (i, it) in acct.items.iter().enumerate() {
        out.push_str(&format!(
            "<payableItem objectID=\"{}-{}\">",
            esc(account),
            i + 1
        ));
        let mut exts = String::new();
        if i == 0 {
            if let Some((bal, days)) = acct.prepaid {
                exts.push_str(&format!(
                    "<extensionsItem><extName>remainingBalance</extName><extValue>{bal}</extValue><extType>decimal</extType></extensionsItem><extensionsItem><extName>remainingDays</extName><extValue>{days}</extValue><extType>decimal</extType></extensionsItem>"
                ));
            }
            if acct.prevent_credit_card {
                exts.push_str("<extensionsItem><extName>preventCreditCard</extName><extValue>Y</extValue><extType>string</extType></extensionsItem>");
            }
        }
        if !exts.is_empty() {
            out.push_str(&format!("<extensionsList>{exts}</extensionsList>"));
        }
        out.push_str(&format!(
            "<pastDueAmount>{}</pastDueAmount><currentAmount>{}</currentAmount><description>{}</description><dueDate>{}T00:00:00</dueDate></payableItem>",
            it.past_due_amount,
            it.current_amount,
            esc(&it.description),
            esc(&it.due_date)
        ));
    }
    out.push_str("<allowableTransactionTypes>");
    let types: &[&str] = if acct.cash_only {
        &["Cash Only"]
    } else {
        &["Credit Card", "ACH", "eCheck", "Cash"]
    };
    for t in types {
        out.push_str(&format!("<transactionType>{t}</transactionType>"));
    }
    out.push_str(
        "</allowableTransactionTypes></GetPayableItemsListResult></GetPayableItemsListResponse>",
    );
    Ok(Answer {
        body: out,
        items: Vec::new(),
        refused: false,
    })
}

fn commit_payments(shared: &Shared, ch: &mut Changes, body: &Element) -> OpResult {
    let mut out = format!(
        "<CommitPaymentTransactionResponse xmlns=\"{NS}\"><CommitPaymentTransactionResult>"
    );
    let mut items = Vec::new();
    let mut refused = false;
    let list = body.child(NS, "transactions");
    for pt in list
        .iter()
        .flat_map(|l| l.children_named(NS, "paymentTransaction"))
    {
        let account = pt.child_text(NS, "accountNumber").unwrap_or("").to_string();
        let Some((kind, tender)) = pt.children.iter().find_map(|c| {
            TenderKind::from_element(&c.name)
                .filter(|_| c.ns.as_deref() == Some(NS))
                .and_then(|k| c.child(NS, "tender").map(|t| (k, t)))
        }) else {
            return Err(format!(
                "a paymentTransaction for account {account} has no tender"
            ));
        };
        let exts = response::extensions(tender);
        let txn = exts
            .iter()
            .find(|e| e.name == "transactionId")
            .map(|e| e.value.clone());
        let amount_text = tender.child_text(NS, "amount").unwrap_or("");
        let amount = parse_amount(amount_text);
        let auth = tender
            .child_text(NS, "authorizationCode")
            .unwrap_or("")
            .to_string();
        let item_fault = lock(&shared.injector).next_item_fault(&account);
        let injected = item_fault == Some(FaultKind::ItemFailure);
        let unanswered = item_fault == Some(FaultKind::ItemUnanswered);
        let (code, error): (&str, Option<String>) = if injected {
            ("Failure", Some("sandbox: injected item failure".into()))
        } else if !ch.state.accounts.contains_key(&account) {
            ("Failure", Some(format!("account {account} not found")))
        } else if amount.is_none_or(|a| a <= Decimal::ZERO) {
            (
                "Error",
                Some(format!("amount `{amount_text}` is not a positive amount")),
            )
        } else if let (Some(t), Some(amount)) = (txn.filter(|t| !t.is_empty()), amount) {
            let effect = Effect::Payment {
                account: account.clone(),
                transaction_id: t.clone(),
                tender: kind.code().to_string(),
                amount,
                unapplied: item_fault == Some(FaultKind::Unapplied),
            };
            match ch.apply(effect) {
                Some(Applied::New | Applied::Repeated) => ("Success", None),
                Some(Applied::OutOfRange) => (
                    "Error",
                    Some(format!(
                        "amount `{amount_text}` is out of range for the account's balance"
                    )),
                ),
                Some(Applied::Duplicate) => (
                    "Failure",
                    Some(format!(
                        "Duplicate payment: transactionId {t} was already posted"
                    )),
                ),
                None => ("Failure", Some(format!("account {account} not found"))),
            }
        } else {
            (
                "Error",
                Some("the transactionId extension is missing".into()),
            )
        };
        refused |= error.is_some();
        items.push(match (&error, code) {
            _ if unanswered => "unanswered".to_string(),
            (None, _) => "accepted".to_string(),
            (Some(e), _) if e.starts_with("Duplicate") => "duplicate".to_string(),
            (Some(e), c) => format!("{}: {e}", c.to_ascii_lowercase()),
        });
        if unanswered {
            continue;
        }
        let err_attr = error
            .map(|e| format!(" errorString=\"{}\"", esc(&e)))
            .unwrap_or_default();
        out.push_str(&format!(
            "<paymentTransaction><accountNumber>{}</accountNumber><{el}><tender{err_attr}><amount>{}</amount><authorizationCode>{}</authorizationCode><responseCode>{code}</responseCode></tender></{el}></paymentTransaction>",
            esc(&account),
            esc(amount_text),
            esc(&auth),
            el = kind.element()
        ));
    }
    out.push_str("</CommitPaymentTransactionResult></CommitPaymentTransactionResponse>");
    Ok(Answer {
        body: out,
        items,
        refused,
    })
}

/// The answer of a batch that reports refusals as errorObjects.
fn error_objects(op: Operation, errors: &[(String, String)], items: Vec<String>) -> Answer {
    let mut out = format!(
        "<{}Response xmlns=\"{NS}\"><{}Result>",
        op.name(),
        op.name()
    );
    for (id, msg) in errors {
        out.push_str(&format!(
            "<errorObject objectID=\"{}\" errorString=\"{}\"/>",
            esc(id),
            esc(msg)
        ));
    }
    out.push_str(&format!("</{}Result></{}Response>", op.name(), op.name()));
    Answer {
        body: out,
        items,
        refused: !errors.is_empty(),
    }
}

fn paperless(shared: &Shared, ch: &mut Changes, body: &Element) -> OpResult {
    let mut errors = Vec::new();
    let mut items = Vec::new();
    for c in body
        .child(NS, "customerData")
        .iter()
        .flat_map(|l| l.children_named(NS, "customer"))
    {
        let id = c.attr("objectID").unwrap_or("").to_string();
        let ebill = response::extensions(c)
            .into_iter()
            .find(|e| e.name == "EBILL")
            .map(|e| e.value);
        let injected = lock(&shared.injector).next_item(&id);
        let result = if injected {
            Err("sandbox: injected item failure".to_string())
        } else if !ch.state.accounts.contains_key(&id) {
            Err(format!("customer {id} not found"))
        } else {
            match ebill.as_deref() {
                Some(v @ ("Y" | "N")) => {
                    let effect = Effect::Paperless {
                        account: id.clone(),
                        value: v == "Y",
                    };
                    match ch.apply(effect) {
                        Some(Applied::Repeated) => Ok("unchanged"),
                        Some(_) => Ok("accepted"),
                        None => Err(format!("customer {id} not found")),
                    }
                }
                _ => Err("the EBILL extension must be Y or N".to_string()),
            }
        };
        item_result(&mut items, &mut errors, id, result);
    }
    Ok(error_objects(
        Operation::ModifyCBDataForCustomer,
        &errors,
        items,
    ))
}

/// Notes one item's result for the journal (`accepted`, `duplicate`, ...),
/// and its errorObject if refused.
fn item_result(
    items: &mut Vec<String>,
    errors: &mut Vec<(String, String)>,
    id: String,
    result: Result<&str, String>,
) {
    match result {
        Ok(outcome) => items.push(outcome.to_string()),
        Err(e) => {
            items.push(format!("failure: {e}"));
            errors.push((id, e));
        }
    }
}

fn comments(shared: &Shared, ch: &mut Changes, body: &Element) -> OpResult {
    let mut errors = Vec::new();
    let mut items = Vec::new();
    for h in body
        .child(NS, "comments")
        .iter()
        .flat_map(|l| l.children_named(NS, "historyComment"))
    {
        let t = |n: &str| h.child_text(NS, n).unwrap_or("").to_string();
        let (id, loc, time, text) = (
            t("customerID"),
            t("serviceLocationID"),
            t("logTime"),
            t("comment"),
        );
        let injected = lock(&shared.injector).next_item(&id);
        let result = if injected {
            Err("sandbox: injected item failure".to_string())
        } else if loc.is_empty() {
            Err("serviceLocationID is required".to_string())
        } else if chrono::DateTime::parse_from_rfc3339(&time).is_err() {
            Err(format!("logTime `{time}` is not a date-time with offset"))
        } else if text.chars().count() > 70 {
            Err("comment is longer than 70 characters".to_string())
        } else {
            let effect = Effect::Comment {
                account: id.clone(),
                service_location_id: loc,
                log_time: time,
                comment: text,
            };
            // An identical comment is a resend: answered as success, kept once.
            match ch.apply(effect) {
                Some(Applied::New | Applied::Repeated) => Ok("accepted"),
                Some(Applied::Duplicate) => Ok("duplicate"),
                Some(Applied::OutOfRange) => Err("out of range".to_string()),
                None => Err(format!("customer {id} not found")),
            }
        };
        item_result(&mut items, &mut errors, id, result);
    }
    Ok(error_objects(
        Operation::WriteAccountHistoryComments,
        &errors,
        items,
    ))
}

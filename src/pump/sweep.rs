//! The sweep: send what the outbox holds, in batches, and record what
//! Daffron said of each item.
//!
//! ## The order of commits and calls (crash safety)
//!
//! For every batch:
//! 1. **commit A**: the items become `in_flight`, their attempt is counted,
//!    and the call and its items are recorded. The state file is opened with
//!    `synchronous=FULL`, so this is on disk before step 2. (On the payments
//!    route one commit A may lease the next few batches at once; each of
//!    their calls leaves after it.)
//! 2. **the call** leaves the machine.
//! 3. **commit B**: the call's answer, each item's outcome and its new state
//!    (`posted`, `duplicate`, `rejected`, `retrying`, `dead`), and for
//!    paperless what Daffron was last told (D9).
//!
//! A retry of the same batch (a transient failure) or a half of it (a SOAP
//! Fault, see below) is another call: its own commit before it leaves and
//! its own commit after.
//!
//! What a crash leaves, and what the next sweep does:
//! - before commit A: nothing was sent, nothing recorded;
//! - between A and B: the items stay `in_flight` (a call recorded without
//!   an answer may never have left: one commit A can lease several). They
//!   are due at once and sent again with their *frozen payload* (same
//!   transactionId, same logTime): a payment Daffron took is answered
//!   "duplicate" (D15) and counts as posted; a paperless flag set twice is
//!   the same flag; a comment is the same bytes;
//! - after B: done.
//!
//! Nothing is lost (an item leaves `in_flight` only in commit B) and nothing
//! takes effect twice (every resend is recognisable as one).
//!
//! ## Retries
//! - A call that fails whole for a transient reason (connect, timeout, HTTP
//!   5xx, garbage) is tried again within the sweep (`[pump] call_tries`,
//!   `retry_pause_ms`, full jitter). Still failing, the route is given up for
//!   this sweep: its batch goes `retrying`, the rest stays `pending`.
//! - A SOAP Fault refuses a whole call, often because of one bad item. A
//!   batch that faults is halved and each half sent (keeping a D12 group
//!   whole), down to single items, so one bad item does not hold back the
//!   others. Three single-item calls faulting in a row with no success
//!   between mean the endpoint refuses everything (credentials?): the route
//!   is given up for this sweep.
//! - An item without a final answer (`unknown`, or its call failed) goes
//!   `retrying` with a next-attempt time (`[pump] backoff_seconds`, doubling,
//!   full jitter, at most `max_backoff_seconds`), and `dead` once it has had
//!   `max_attempts` attempts. Each sweep sends an item at most once.

use std::collections::{BTreeMap, HashSet};
use std::ops::Not;
use std::sync::{Mutex, mpsc};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::ingest::directory_location;
use super::rules::RuleSettings;
use super::rules::paperless::{self, Candidate, Plan};
use super::service::{CallReport, Deliver, outcome_word};
use super::{ItemState, Kind, Route};
use crate::ExitCode;
use crate::multispeak::outcome::{CallError, ItemOutcome};
use crate::retry::{Clock, RetryAction, RetryPolicy};
use crate::store::outbox::{self, CallEnd, DueItem, NewCall};
use crate::store::{Store, StoreError};

/// How a sweep behaves (from `[pump]`).
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub batch_size: usize,
    /// Calls in flight at once on the payments endpoint (the ordered
    /// routes always send one at a time).
    pub parallel_calls: usize,
    pub max_attempts: u32,
    /// Within the sweep: one call failing whole, transiently.
    pub call_policy: RetryPolicy,
    /// Across sweeps: when an item without a final answer is due again.
    pub item_policy: RetryPolicy,
}

impl SweepOptions {
    pub fn from_config(config: &crate::config::Config) -> SweepOptions {
        SweepOptions {
            batch_size: config.pump.batch_size,
            parallel_calls: config.pump.parallel_calls,
            max_attempts: config.pump.max_attempts,
            call_policy: config.pump.call_policy(),
            item_policy: config.pump.item_policy(),
        }
    }
}

/// What a sweep did on one route.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RouteSummary {
    pub route: Option<Route>,
    /// The endpoint's URL setting (11, 14, 17).
    pub setting: u32,
    pub configured: bool,
    pub calls: u64,
    /// Items carried by at least one call.
    pub sent: u64,
    pub posted: u64,
    pub duplicate: u64,
    pub rejected: u64,
    pub retrying: u64,
    pub dead: u64,
    /// Settled without a call (D9).
    pub skipped: u64,
    /// Open items left for a later sweep (not due, held back, or the route
    /// was given up).
    pub left: u64,
    /// Why the route was given up for this sweep, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Whether `stopped` is a configuration problem (HTTP 4xx, no endpoint).
    #[serde(skip)]
    pub stopped_by_config: bool,
    /// The sum of the payments posted in this sweep (never the fees).
    pub posted_amount: rust_decimal::Decimal,
    /// Items this sweep left rejected or dead, with why (the first 100).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// An item that needs a person after this sweep.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub id: i64,
    pub kind: Kind,
    pub key: String,
    pub account: String,
    pub state: ItemState,
    pub reason: String,
}

/// Problems kept per route in a summary.
const MAX_PROBLEMS: usize = 100;

/// What a sweep did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SweepSummary {
    pub sweep_id: i64,
    pub dry_run: bool,
    /// Calls printed by a dry run.
    #[serde(skip_serializing_if = "is_zero")]
    pub calls_printed: u64,
    /// Held items released because a BIF brought their location (D10).
    pub released: u64,
    /// Items still held after the sweep.
    pub held: u64,
    pub routes: Vec<RouteSummary>,
    pub seconds: f64,
}

impl SweepSummary {
    /// 0 all good; 1 an item was rejected or went dead; 2 an endpoint is
    /// missing or refused as misconfigured; 3 an endpoint was unreachable or
    /// refused everything and work waits for the next sweep.
    pub fn exit_code(&self) -> ExitCode {
        let mut code = ExitCode::Success;
        for r in &self.routes {
            if r.rejected + r.dead > 0 {
                code = code.worst(ExitCode::InputErrors);
            }
            if r.stopped.is_some() {
                code = code.worst(if r.stopped_by_config {
                    ExitCode::Usage
                } else {
                    ExitCode::Transient
                });
            }
        }
        code
    }

    pub fn route(&self, route: Route) -> Option<&RouteSummary> {
        self.routes.iter().find(|r| r.route == Some(route))
    }

    /// A line per route, the problems, and where the route stopped.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if self.dry_run {
            s.push_str(&format!(
                "dry run: {} call(s) printed above; nothing was sent and the state file is unchanged\n",
                self.calls_printed
            ));
        }
        if self.released > 0 {
            s.push_str(&format!(
                "released {} held item(s): a BIF brought their service location (D10)\n",
                self.released
            ));
        }
        for r in &self.routes {
            let name = r.route.map(Route::as_str).unwrap_or("?");
            if !r.configured && r.left == 0 {
                continue;
            }
            let mut parts = Vec::new();
            for (n, w) in [
                (r.posted, "posted"),
                (r.duplicate, "already in Daffron (duplicate)"),
                (r.rejected, "rejected"),
                (r.retrying, "retrying"),
                (r.dead, "dead"),
                (r.skipped, "skipped (D9)"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {w}"));
                }
            }
            let what = if r.sent == 0 && r.skipped == 0 {
                "nothing due".to_string()
            } else {
                format!(
                    "{} item(s) in {} call(s): {}",
                    r.sent,
                    r.calls,
                    parts.join(", ")
                )
            };
            let amount = if r.posted_amount.is_zero() {
                String::new()
            } else {
                format!(", {} posted", r.posted_amount)
            };
            s.push_str(&format!(
                "{name} (setting {}): {what}{amount}; {} open\n",
                r.setting, r.left
            ));
            for p in &r.problems {
                s.push_str(&format!(
                    "  {} {} {} ({}): {}: {}\n",
                    p.kind.as_str(),
                    p.id,
                    p.key,
                    p.account,
                    p.state.as_str(),
                    p.reason
                ));
            }
            if let Some(why) = &r.stopped {
                s.push_str(&format!("  stopped: {why}\n"));
            }
        }
        if self.held > 0 {
            s.push_str(&format!(
                "{} item(s) held for a service location (D10): `daffron-bridge outbox list --status held`\n",
                self.held
            ));
        }
        s
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What the answer (or the lack of one) means for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Posted,
    Duplicate(String),
    Rejected(String),
    /// No final answer: retrying, or dead after `max_attempts`.
    Again(String),
}

/// Why a sweep of one route stopped early.
#[derive(Debug, Clone)]
struct Stop {
    why: String,
    config: bool,
}

/// A failed try, for the retry policy.
#[derive(Debug)]
enum TryError {
    Call(CallError),
    Store(StoreError),
}

/// Runs sweeps over one state file.
pub struct Sweeper<'a> {
    store: &'a mut Store,
    deliver: &'a dyn Deliver,
    clock: &'a dyn Clock,
    rules: &'a RuleSettings,
    opts: SweepOptions,
    rng: StdRng,
    sweep_id: i64,
    /// The route being swept, on a terminal (hidden elsewhere).
    bar: indicatif::ProgressBar,
}

impl<'a> Sweeper<'a> {
    pub fn new(
        store: &'a mut Store,
        deliver: &'a dyn Deliver,
        clock: &'a dyn Clock,
        rules: &'a RuleSettings,
        opts: SweepOptions,
    ) -> Self {
        Sweeper {
            store,
            deliver,
            clock,
            rules,
            opts,
            rng: StdRng::from_rng(&mut rand::rng()),
            sweep_id: 0,
            bar: indicatif::ProgressBar::hidden(),
        }
    }

    /// Seeds the jitter (tests).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = StdRng::seed_from_u64(seed);
        self
    }

    fn ctx(&self) -> Ctx<'a> {
        Ctx {
            deliver: self.deliver,
            clock: self.clock,
            rules: self.rules,
            opts: self.opts.clone(),
            sweep_id: self.sweep_id,
            bar: self.bar.clone(),
        }
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        self.store.err(e)
    }

    /// One sweep over every route.
    pub fn run(&mut self) -> Result<SweepSummary, StoreError> {
        let started = std::time::Instant::now();
        let now = self.clock.now_text();
        self.sweep_id = outbox::start_sweep(self.store.conn(), &now).map_err(|e| self.err(e))?;
        let mut summary = SweepSummary {
            sweep_id: self.sweep_id,
            ..SweepSummary::default()
        };
        summary.released = self.release_held()?;
        for route in Route::ALL {
            let mut rs = RouteSummary {
                route: Some(route),
                setting: route.url_setting(),
                configured: self.deliver.has(route),
                ..RouteSummary::default()
            };
            if rs.configured {
                self.bar = crate::pipeline::progress::bar(route.as_str(), self.open_count(route)?);
                if route.ordered() {
                    self.sweep_ordered(route, &mut rs)?;
                } else {
                    self.sweep_unordered(route, &mut rs)?;
                }
            }
            self.bar.finish_and_clear();
            rs.left = self.open_count(route)?;
            if !rs.configured && rs.left > 0 {
                rs.stopped = Some(format!(
                    "{} item(s) wait for the {} endpoint, but advanced setting {} ({}) is not configured",
                    rs.left,
                    route.as_str(),
                    route.url_setting(),
                    crate::config::setting_name(route.url_setting()).unwrap_or("?")
                ));
                rs.stopped_by_config = true;
            }
            summary.routes.push(rs);
        }
        summary.held = self
            .store
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE settled_at IS NULL AND state = 'held'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| self.err(e))? as u64;
        summary.seconds = started.elapsed().as_secs_f64();
        let json = serde_json::to_string(&summary).unwrap_or_default();
        outbox::finish_sweep(
            self.store.conn(),
            self.sweep_id,
            &self.clock.now_text(),
            &json,
        )
        .map_err(|e| self.err(e))?;
        Ok(summary)
    }

    fn open_count(&self, route: Route) -> Result<u64, StoreError> {
        self.store
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM outbox INDEXED BY outbox_open
                 WHERE route = ?1 AND settled_at IS NULL",
                [route.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// D10: held comments whose account now has a location in the account
    /// directory become pending.
    fn release_held(&mut self) -> Result<u64, StoreError> {
        let held = outbox::held_items(self.store.conn()).map_err(|e| self.err(e))?;
        if held.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now_text();
        let err = crate::store::err_for(self.store.path());
        let tx = self.store.conn_mut().transaction().map_err(&err)?;
        let mut released = 0;
        for h in held {
            if directory_location(&tx, &h.account).map_err(&err)?.is_some() {
                outbox::release(&tx, h.id, &now).map_err(&err)?;
                released += 1;
            }
        }
        tx.commit().map_err(&err)?;
        Ok(released)
    }

    /// Payments: independent items, in id order, D12 groups kept whole,
    /// with up to `[pump] parallel_calls` calls in flight. This thread owns
    /// the state file (one writer) and the calls are made by helper threads,
    /// so while a batch is out the next one is picked, its payloads built
    /// and its commit A written. The commit B of an answered batch rides
    /// along with the next commit A (one transaction, one sync per batch).
    /// A batch whose call fails whole is finished here, by the same retry
    /// and halving rules as one sent alone.
    fn sweep_unordered(&mut self, route: Route, rs: &mut RouteSummary) -> Result<(), StoreError> {
        let depth = self.opts.parallel_calls.max(1);
        let ctx = self.ctx();
        let (jobs, job_queue) = mpsc::channel::<Job>();
        let job_queue = Mutex::new(job_queue);
        let (answers, answered) = mpsc::channel::<(u64, CallReport)>();
        let (prepared_tx, prepared) = mpsc::sync_channel::<Result<Prepared, StoreError>>(2);
        let path = self.store.path().to_path_buf();
        let mut feeder = Feeder {
            after: 0,
            taken: HashSet::new(),
            now: self.clock.now_secs(),
        };
        let batch_size = self.opts.batch_size;
        std::thread::scope(|scope| {
            // Picks batches and builds their payloads on its own (reading)
            // connection, ahead of the writer.
            let rules = ctx.rules;
            scope.spawn(move || {
                let store = match Store::open(&path) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = prepared_tx.send(Err(e));
                        return;
                    }
                };
                loop {
                    let next = match feeder.next(&store, route, batch_size) {
                        Ok(Some(batch)) => {
                            let (ready, refused) = build_payloads(&store, batch, rules);
                            Ok(Prepared { ready, refused })
                        }
                        Ok(None) => break,
                        Err(e) => Err(e),
                    };
                    let failed = next.is_err();
                    if prepared_tx.send(next).is_err() || failed {
                        break;
                    }
                }
            });
            for _ in 0..depth {
                let (job_queue, answers, deliver) = (&job_queue, answers.clone(), ctx.deliver);
                scope.spawn(move || {
                    loop {
                        let job = job_queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok(job) = job else { break };
                        let report = deliver.deliver(route, &job.items, job.message_id);
                        if answers.send((job.seq, report)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(answers);
            let result = self.pipeline(&ctx, route, depth, &jobs, &answered, prepared, rs);
            drop(jobs);
            result
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn pipeline(
        &mut self,
        ctx: &Ctx<'_>,
        route: Route,
        depth: usize,
        jobs: &mpsc::Sender<Job>,
        answered: &mpsc::Receiver<(u64, CallReport)>,
        prepared: mpsc::Receiver<Result<Prepared, StoreError>>,
        rs: &mut RouteSummary,
    ) -> Result<(), StoreError> {
        let mut flights: BTreeMap<u64, Flight> = BTreeMap::new();
        let mut staged: Vec<Staged> = Vec::new();
        let mut seq = 0u64;
        let mut exhausted = false;
        // Once the endpoint has answered a call, up to two batches per
        // caller are leased: a caller finishing one finds the next already
        // leased, and leasing waits until a caller's worth of room is free,
        // so that one commit A (one sync of the log) leases several batches
        // (measured: 12% off a sweep of 100,000 payments). Until then, one
        // batch per caller, so that an endpoint that is down or refuses
        // everything has as few items as possible leased to it.
        let mut answered_once = false;
        while !(flights.is_empty() && (exhausted || rs.stopped.is_some())) {
            let (max_flights, refill_at) = if answered_once {
                (2 * depth, depth)
            } else {
                (depth, 1)
            };
            let room = max_flights.saturating_sub(flights.len());
            if room >= refill_at && !exhausted && rs.stopped.is_none() {
                let mut lease: Vec<(Vec<DueItem>, uuid::Uuid)> = Vec::new();
                let mut refused = Vec::new();
                while lease.len() < room {
                    let Ok(next) = prepared.recv() else {
                        exhausted = true;
                        break;
                    };
                    let next = next?;
                    refused.extend(next.refused);
                    if !next.ready.is_empty() {
                        lease.push((next.ready, uuid::Uuid::new_v4()));
                    }
                }
                if lease.is_empty() {
                    ctx.refuse_now(self.store, refused, rs)?;
                    continue;
                }
                let call_ids = ctx.commit_a(
                    self.store,
                    &mut self.rng,
                    route,
                    &lease,
                    refused,
                    &mut staged,
                    rs,
                )?;
                for ((batch, message_id), call_id) in lease.into_iter().zip(call_ids) {
                    rs.sent += batch.len() as u64;
                    rs.calls += 1;
                    ctx.bar.set_position(rs.sent);
                    let batch = std::sync::Arc::new(batch);
                    seq += 1;
                    let job = Job {
                        seq,
                        items: batch.clone(),
                        message_id,
                    };
                    if jobs.send(job).is_err() {
                        // No caller is left (the queue outlives them, so
                        // this does not happen): lease nothing more; what
                        // was leased stays in flight for the next sweep.
                        rs.stopped = Some("the sweep's calling threads stopped".into());
                        break;
                    }
                    flights.insert(seq, Flight { batch, call_id });
                }
            }
            if flights.is_empty() {
                continue;
            }
            let Ok((seq, report)) = answered.recv() else {
                break;
            };
            let Some(flight) = flights.remove(&seq) else {
                continue;
            };
            let done = DoneCall {
                call_id: flight.call_id,
                ids: flight.batch.iter().map(|i| i.id).collect(),
                report: report.clone(),
            };
            answered_once |= report.result.is_ok();
            match &report.result {
                Ok(outcomes) => staged.push(Staged {
                    verdicts: outcomes
                        .iter()
                        .cloned()
                        .map(Verdict::of)
                        .map(Some)
                        .collect(),
                    batch: flight.batch,
                    calls: Calls {
                        lease: None,
                        done: vec![done],
                    },
                }),
                Err(e) if rs.stopped.is_some() => {
                    // The route was given up while this leased batch was
                    // queued or out: its failure is recorded, not retried or
                    // halved (a dead endpoint must not get a round of
                    // retries per batch left), and its items wait for the
                    // next sweep.
                    let why = e.to_string();
                    staged.push(Staged {
                        verdicts: vec![Some(Verdict::Again(why)); flight.batch.len()],
                        batch: flight.batch,
                        calls: Calls {
                            lease: None,
                            done: vec![done],
                        },
                    });
                }
                Err(_) => {
                    // The slow path: retried or halved here, then settled
                    // with whatever else is waiting for its commit B.
                    let batch = flight.batch;
                    let mut calls = Calls {
                        lease: None,
                        done: vec![done],
                    };
                    let mut verdicts: Vec<Option<Verdict>> = vec![None; batch.len()];
                    let mut faults_in_a_row = 0u32;
                    let mut stop: Option<Stop> = None;
                    let mut part = Part {
                        verdicts: &mut verdicts,
                        faults_in_a_row: &mut faults_in_a_row,
                        stop: &mut stop,
                        calls: &mut calls,
                    };
                    ctx.send_part(
                        self.store,
                        &mut self.rng,
                        route,
                        &batch,
                        0,
                        &mut part,
                        Some(report),
                        rs,
                    )?;
                    staged.push(Staged {
                        batch,
                        verdicts,
                        calls,
                    });
                    ctx.commit_staged(self.store, &mut self.rng, &mut staged, &stop, rs)?;
                    if let Some(stop) = stop {
                        rs.stopped = Some(stop.why);
                        rs.stopped_by_config = stop.config;
                    }
                }
            }
        }
        ctx.commit_staged(self.store, &mut self.rng, &mut staged, &None, rs)
    }

    /// Paperless and comments: per account, in the order things happened;
    /// an earlier item not yet settled holds the later ones back.
    fn sweep_ordered(&mut self, route: Route, rs: &mut RouteSummary) -> Result<(), StoreError> {
        let mut taken: HashSet<i64> = HashSet::new();
        loop {
            let now = self.clock.now_secs();
            let open = outbox::open_items(self.store.conn(), route).map_err(|e| self.err(e))?;
            let held: BTreeMap<String, i64> = outbox::held_accounts(self.store.conn(), route)
                .map_err(|e| self.err(e))?
                .into_iter()
                .collect();
            let mut by_account: BTreeMap<String, Vec<DueItem>> = BTreeMap::new();
            for item in open {
                by_account
                    .entry(item.account.clone())
                    .or_default()
                    .push(item);
            }
            let mut send: Vec<DueItem> = Vec::new();
            let mut skips: Vec<(i64, String)> = Vec::new();
            for (account, items) in by_account {
                let first_held = held.get(&account).copied();
                let items: Vec<DueItem> = items
                    .into_iter()
                    .filter(|i| first_held.is_none_or(|h| i.id < h))
                    .collect();
                if items.is_empty() {
                    continue;
                }
                if route == Route::Paperless {
                    let told =
                        outbox::told(self.store.conn(), &account).map_err(|e| self.err(e))?;
                    let cands: Vec<Candidate> = items
                        .iter()
                        .map(|i| Candidate {
                            id: i.id,
                            key: i.key.clone(),
                            enroll: i.desired.as_deref() == Some("Y"),
                            occurred: i.occurred,
                            in_flight: i.state == ItemState::InFlight,
                            due: !taken.contains(&i.id) && i.next_attempt_at <= now,
                        })
                        .collect();
                    for (id, plan) in paperless::plan(&cands, told.as_ref()) {
                        match plan {
                            Plan::Send if !taken.contains(&id) => {
                                if let Some(i) = items.iter().find(|i| i.id == id) {
                                    send.push(i.clone());
                                }
                            }
                            Plan::Skip(why) => skips.push((id, why)),
                            _ => {}
                        }
                    }
                } else {
                    // The earliest open item of the account, if it may go now.
                    let first = &items[0];
                    let due = first.state == ItemState::InFlight || first.next_attempt_at <= now;
                    if due && !taken.contains(&first.id) {
                        send.push(first.clone());
                    }
                }
            }
            if !skips.is_empty() {
                self.skip(&skips)?;
                rs.skipped += skips.len() as u64;
            }
            if send.is_empty() {
                if skips.is_empty() {
                    return Ok(());
                }
                continue;
            }
            send.sort_by_key(|i| i.id);
            for chunk in send.chunks(self.opts.batch_size) {
                for i in chunk {
                    taken.insert(i.id);
                }
                let ctx = self.ctx();
                if let Some(stop) =
                    ctx.send_batch(self.store, &mut self.rng, route, chunk.to_vec(), rs)?
                {
                    rs.stopped = Some(stop.why);
                    rs.stopped_by_config = stop.config;
                    return Ok(());
                }
            }
        }
    }

    fn skip(&mut self, skips: &[(i64, String)]) -> Result<(), StoreError> {
        let now = self.clock.now_text();
        let err = crate::store::err_for(self.store.path());
        let tx = self.store.conn_mut().transaction().map_err(&err)?;
        for (id, why) in skips {
            outbox::settle(&tx, *id, ItemState::Skipped, why, 0, &now).map_err(&err)?;
        }
        tx.commit().map_err(&err)
    }
}

/// What sending a batch needs besides the state file: shared by the sweep's
/// workers (each with its own connection to the state file).
#[derive(Clone)]
struct Ctx<'a> {
    deliver: &'a dyn Deliver,
    clock: &'a dyn Clock,
    rules: &'a RuleSettings,
    opts: SweepOptions,
    sweep_id: i64,
    bar: indicatif::ProgressBar,
}

impl Ctx<'_> {
    /// A call of this sweep about to be recorded.
    fn new_call<'c>(
        &self,
        route: Route,
        url: &'c str,
        message_id: &'c str,
        started_at: &'c str,
        items: usize,
    ) -> NewCall<'c> {
        NewCall {
            sweep_id: self.sweep_id,
            route,
            url,
            message_id,
            started_at,
            items,
        }
    }

    /// Leases a batch (commit A), sends it, halving on Faults, and records
    /// every item's outcome (commit B). `Some(stop)` when the route should
    /// be given up for this sweep.
    fn send_batch(
        &self,
        store: &mut Store,
        rng: &mut StdRng,
        route: Route,
        batch: Vec<DueItem>,
        rs: &mut RouteSummary,
    ) -> Result<Option<Stop>, StoreError> {
        let batch = self.with_payloads(store, batch, rs)?;
        if batch.is_empty() {
            return Ok(None);
        }
        rs.sent += batch.len() as u64;
        self.bar.set_position(rs.sent);
        let mut calls = Calls {
            lease: Some(
                batch
                    .iter()
                    .map(|i| (i.id, i.frozen.not().then(|| i.wire.clone())))
                    .collect(),
            ),
            done: Vec::new(),
        };
        let mut verdicts: Vec<Option<Verdict>> = vec![None; batch.len()];
        let mut faults_in_a_row = 0u32;
        let mut stop: Option<Stop> = None;
        let mut part = Part {
            verdicts: &mut verdicts,
            faults_in_a_row: &mut faults_in_a_row,
            stop: &mut stop,
            calls: &mut calls,
        };
        self.send_part(store, rng, route, &batch, 0, &mut part, None, rs)?;
        let mut staged = vec![Staged {
            batch: std::sync::Arc::new(batch),
            verdicts,
            calls,
        }];
        self.commit_staged(store, rng, &mut staged, &stop, rs)?;
        Ok(stop)
    }

    /// Commit A of pipelined batches: each batch's call recorded and its
    /// items leased onto it (payloads frozen), together with the commit B
    /// of batches answered since. FULL: the calls leave after this returns.
    #[allow(clippy::too_many_arguments)]
    fn commit_a(
        &self,
        store: &mut Store,
        rng: &mut StdRng,
        route: Route,
        batches: &[(Vec<DueItem>, uuid::Uuid)],
        refused: Vec<(DueItem, String)>,
        staged: &mut Vec<Staged>,
        rs: &mut RouteSummary,
    ) -> Result<Vec<i64>, StoreError> {
        let err = crate::store::err_for(store.path());
        let started = self.clock.now_text();
        let url = self.deliver.url(route);
        let tx = store.conn_mut().transaction().map_err(&err)?;
        for st in staged.drain(..) {
            self.settle_batch(&tx, rng, &st.batch, st.verdicts, &st.calls, &None, rs)
                .map_err(&err)?;
        }
        self.refuse(&tx, refused, rs).map_err(&err)?;
        let mut call_ids = Vec::with_capacity(batches.len());
        for (batch, message_id) in batches {
            let mid = message_id.to_string();
            let call = self.new_call(route, &url, &mid, &started, batch.len());
            let call_id = outbox::start_call(&tx, &call, &[]).map_err(&err)?;
            let items: Vec<(i64, Option<&str>)> = batch
                .iter()
                .map(|i| (i.id, i.frozen.not().then_some(i.wire.as_str())))
                .collect();
            outbox::lease(&tx, call_id, &items, &started).map_err(&err)?;
            call_ids.push(call_id);
        }
        tx.commit().map_err(&err)?;
        Ok(call_ids)
    }

    /// Commit B of every staged batch, in one transaction.
    ///
    /// It need not reach the disk before the sweep goes on: the next
    /// outside effect is a call, whose commit A is FULL and syncs the log
    /// with this transaction in it. A power cut that loses commit B leaves
    /// these items in flight, and the next sweep resends them (same payload,
    /// answered "duplicate").
    fn commit_staged(
        &self,
        store: &mut Store,
        rng: &mut StdRng,
        staged: &mut Vec<Staged>,
        stop: &Option<Stop>,
        rs: &mut RouteSummary,
    ) -> Result<(), StoreError> {
        if staged.is_empty() {
            return Ok(());
        }
        let err = crate::store::err_for(store.path());
        let _ = store.conn().pragma_update(None, "synchronous", "NORMAL");
        let tx = store.conn_mut().transaction().map_err(&err)?;
        for st in staged.drain(..) {
            self.settle_batch(&tx, rng, &st.batch, st.verdicts, &st.calls, stop, rs)
                .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        let _ = store.conn().pragma_update(None, "synchronous", "FULL");
        Ok(())
    }

    /// What commit B writes, in the caller's transaction: the record of the
    /// batch's calls, every leased item's new state (it leaves in_flight
    /// here), and for paperless what Daffron was last told (D9).
    #[allow(clippy::too_many_arguments)]
    fn settle_batch(
        &self,
        conn: &rusqlite::Connection,
        rng: &mut StdRng,
        batch: &[DueItem],
        verdicts: Vec<Option<Verdict>>,
        calls: &Calls,
        stop: &Option<Stop>,
        rs: &mut RouteSummary,
    ) -> rusqlite::Result<()> {
        let now = self.clock.now_text();
        let now_secs = self.clock.now_secs();
        let (max_attempts, item_policy) = (self.opts.max_attempts, &self.opts.item_policy);
        let not_sent = stop
            .as_ref()
            .map(|s| format!("not sent: {}", s.why))
            .unwrap_or_else(|| "not sent".into());
        for c in &calls.done {
            record_call(conn, c)?;
        }
        let mut posted: Vec<i64> = Vec::with_capacity(batch.len());
        for (item, verdict) in batch.iter().zip(verdicts) {
            let attempts = item.attempts + 1;
            let verdict = verdict.unwrap_or_else(|| Verdict::Again(not_sent.clone()));
            let (state, reason, next) = match verdict {
                Verdict::Posted => (ItemState::Posted, String::new(), 0),
                Verdict::Duplicate(r) => (ItemState::Duplicate, r, 0),
                Verdict::Rejected(r) => (ItemState::Rejected, r, 0),
                Verdict::Again(r) if attempts >= max_attempts => (
                    ItemState::Dead,
                    format!("no final answer after {attempts} attempt(s); last: {r}"),
                    0,
                ),
                Verdict::Again(r) => {
                    let delay = item_policy.backoff(attempts, rng);
                    (
                        ItemState::Retrying,
                        r,
                        now_secs.saturating_add(delay.as_secs() as i64),
                    )
                }
            };
            if state == ItemState::Posted {
                posted.push(item.id);
            } else {
                outbox::settle(conn, item.id, state, &reason, next, &now)?;
            }
            if state.is_posted() && item.kind == Kind::Paperless {
                outbox::set_told(
                    conn,
                    &item.account,
                    item.desired.as_deref() == Some("Y"),
                    item.id,
                    &now,
                )?;
            }
            if state.needs_person() && rs.problems.len() < MAX_PROBLEMS {
                rs.problems.push(Problem {
                    id: item.id,
                    kind: item.kind,
                    key: item.key.clone(),
                    account: item.account.clone(),
                    state,
                    reason: reason.clone(),
                });
            }
            match state {
                ItemState::Posted => rs.posted += 1,
                ItemState::Duplicate => rs.duplicate += 1,
                ItemState::Rejected => rs.rejected += 1,
                ItemState::Dead => rs.dead += 1,
                _ => rs.retrying += 1,
            }
            if state.is_posted()
                && item.kind == Kind::Payment
                && let Some(a) = amount_of(&item.wire)
            {
                rs.posted_amount += a;
            }
        }
        outbox::settle_many(conn, &posted, ItemState::Posted, "", 0, &now)?;
        Ok(())
    }

    /// Gives every item of a batch its payload: the frozen one, or (first
    /// lease) the one the rules build now ([`super::payload`]). An item the
    /// rules now refuse is settled `rejected` with why and left out.
    fn with_payloads(
        &self,
        store: &mut Store,
        batch: Vec<DueItem>,
        rs: &mut RouteSummary,
    ) -> Result<Vec<DueItem>, StoreError> {
        let (ready, refused) = build_payloads(store, batch, self.rules);
        if !refused.is_empty() {
            let err = crate::store::err_for(store.path());
            let tx = store.conn_mut().transaction().map_err(&err)?;
            self.refuse(&tx, refused, rs).map_err(&err)?;
            tx.commit().map_err(&err)?;
        }
        Ok(ready)
    }

    /// [`Ctx::refuse`] in a transaction of its own.
    fn refuse_now(
        &self,
        store: &mut Store,
        refused: Vec<(DueItem, String)>,
        rs: &mut RouteSummary,
    ) -> Result<(), StoreError> {
        if refused.is_empty() {
            return Ok(());
        }
        let err = crate::store::err_for(store.path());
        let tx = store.conn_mut().transaction().map_err(&err)?;
        self.refuse(&tx, refused, rs).map_err(&err)?;
        tx.commit().map_err(&err)
    }

    /// Settles items the rules refuse a payload, in the caller's transaction.
    fn refuse(
        &self,
        conn: &rusqlite::Connection,
        refused: Vec<(DueItem, String)>,
        rs: &mut RouteSummary,
    ) -> rusqlite::Result<()> {
        let now = self.clock.now_text();
        for (item, why) in refused {
            outbox::settle(conn, item.id, ItemState::Rejected, &why, 0, &now)?;
            rs.rejected += 1;
            if rs.problems.len() < MAX_PROBLEMS {
                rs.problems.push(Problem {
                    id: item.id,
                    kind: item.kind,
                    key: item.key.clone(),
                    account: item.account.clone(),
                    state: ItemState::Rejected,
                    reason: why,
                });
            }
        }
        Ok(())
    }

    /// Sends `items` (at `offset` in the batch) as one call, with in-sweep
    /// retries; on a Fault, halves it. Fills the verdicts.
    #[allow(clippy::too_many_arguments)]
    fn send_part(
        &self,
        store: &mut Store,
        rng: &mut StdRng,
        route: Route,
        items: &[DueItem],
        offset: usize,
        part: &mut Part<'_>,
        first: Option<CallReport>,
        rs: &mut RouteSummary,
    ) -> Result<(), StoreError> {
        if items.is_empty() || part.stop.is_some() {
            return Ok(());
        }
        let report = self.call_with_retries(store, rng, route, items, part.calls, first, rs)?;
        match report.result {
            Ok(outcomes) => {
                if outcomes.iter().any(ItemOutcome::is_posted) {
                    *part.faults_in_a_row = 0;
                }
                for (i, o) in outcomes.into_iter().enumerate() {
                    part.verdicts[offset + i] = Some(Verdict::of(o));
                }
            }
            Err(CallError::Fault(f)) => {
                let why = f.to_string();
                match split_point(items) {
                    Some(mid) => {
                        let (left, right) = items.split_at(mid);
                        self.send_part(store, rng, route, left, offset, part, None, rs)?;
                        self.send_part(store, rng, route, right, offset + mid, part, None, rs)?;
                    }
                    None => {
                        for v in &mut part.verdicts[offset..offset + items.len()] {
                            *v = Some(Verdict::Again(why.clone()));
                        }
                        *part.faults_in_a_row += 1;
                        if *part.faults_in_a_row >= 3 {
                            *part.stop = Some(Stop {
                                why: format!(
                                    "the endpoint refused {} calls in a row with a SOAP Fault \
                                     (check the user and password, settings {} and {}): {why}",
                                    part.faults_in_a_row,
                                    route.url_setting() + 1,
                                    route.url_setting() + 2
                                ),
                                config: false,
                            });
                        }
                    }
                }
            }
            Err(e) => {
                let why = e.to_string();
                for v in &mut part.verdicts[offset..offset + items.len()] {
                    *v = Some(Verdict::Again(why.clone()));
                }
                *part.stop = Some(Stop {
                    config: matches!(e, CallError::Rejected(_)),
                    why,
                });
            }
        }
        Ok(())
    }

    /// One call, tried again within the sweep while it fails transiently.
    /// `first`: the answer of a first try already made (and recorded).
    #[allow(clippy::too_many_arguments)]
    fn call_with_retries(
        &self,
        store: &mut Store,
        rng: &mut StdRng,
        route: Route,
        items: &[DueItem],
        calls: &mut Calls,
        mut first: Option<CallReport>,
        rs: &mut RouteSummary,
    ) -> Result<CallReport, StoreError> {
        let policy = self.opts.call_policy.clone();
        let clock = self.clock;
        let mut rng = StdRng::from_rng(rng);
        let mut last: Option<CallReport> = None;
        let retried = policy.run(
            clock,
            &mut rng,
            |_| {
                let report = match first.take() {
                    Some(r) => r,
                    None => {
                        rs.calls += 1;
                        self.one_call(store, route, items, calls)
                            .map_err(TryError::Store)?
                    }
                };
                match &report.result {
                    Err(e) => {
                        let e = e.clone();
                        last = Some(report);
                        Err(TryError::Call(e))
                    }
                    Ok(_) => Ok(report),
                }
            },
            |e| match e {
                TryError::Call(c) => RetryAction::for_call(c),
                TryError::Store(_) => RetryAction::DontRetry,
            },
            |n, e, delay| {
                if let TryError::Call(c) = e {
                    tracing::warn!(
                        "{} call, try {n}: {c}; trying again in {} ms",
                        route.operation().name(),
                        delay.as_millis()
                    );
                }
            },
        );
        match retried.result {
            Ok(r) => Ok(r),
            Err(TryError::Store(e)) => Err(e),
            Err(TryError::Call(e)) => Ok(last.unwrap_or(CallReport {
                millis: 0,
                http_status: None,
                result: Err(e),
                answer: None,
            })),
        }
    }

    /// Records the call (and, for the batch's first call, the lease) in one
    /// commit before it leaves; makes it; keeps its answer for commit B.
    fn one_call(
        &self,
        store: &mut Store,
        route: Route,
        items: &[DueItem],
        calls: &mut Calls,
    ) -> Result<CallReport, StoreError> {
        let message_id = uuid::Uuid::new_v4();
        let mid = message_id.to_string();
        let started = self.clock.now_text();
        let url = self.deliver.url(route);
        let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
        let err = crate::store::err_for(store.path());
        let tx = store.conn_mut().transaction().map_err(&err)?;
        let call = self.new_call(route, &url, &mid, &started, items.len());
        let call_id = match calls.lease.take() {
            // The batch's first call: its items are leased onto it.
            Some(lease) => {
                let call_id = outbox::start_call(&tx, &call, &[]).map_err(&err)?;
                let items: Vec<(i64, Option<&str>)> =
                    lease.iter().map(|(id, w)| (*id, w.as_deref())).collect();
                outbox::lease(&tx, call_id, &items, &started).map_err(&err)?;
                call_id
            }
            None => outbox::start_call(&tx, &call, &ids).map_err(&err)?,
        };
        tx.commit().map_err(&err)?;
        let report = self.deliver.deliver(route, items, message_id);
        calls.done.push(DoneCall {
            call_id,
            ids,
            report: report.clone(),
        });
        Ok(report)
    }
}

/// A batch handed to a calling thread.
struct Job {
    seq: u64,
    items: std::sync::Arc<Vec<DueItem>>,
    message_id: uuid::Uuid,
}

/// A batch whose call is out.
struct Flight {
    batch: std::sync::Arc<Vec<DueItem>>,
    call_id: i64,
}

/// An answered batch waiting for its commit B.
struct Staged {
    batch: std::sync::Arc<Vec<DueItem>>,
    verdicts: Vec<Option<Verdict>>,
    calls: Calls,
}

/// Gives every item its payload: the frozen one, or (first lease) the one
/// the rules build now ([`super::payload`]); the items the rules now refuse
/// come back apart, with why. Reads only.
fn build_payloads(
    store: &Store,
    batch: Vec<DueItem>,
    rules: &RuleSettings,
) -> (Vec<DueItem>, Vec<(DueItem, String)>) {
    let mut ready = Vec::with_capacity(batch.len());
    let mut refused = Vec::new();
    for mut item in batch {
        if !item.frozen {
            match super::payload::build(store.conn(), &item, rules) {
                Ok(w) => item.wire = w,
                Err(why) => {
                    refused.push((item, why));
                    continue;
                }
            }
        }
        ready.push(item);
    }
    (ready, refused)
}

/// A batch picked and given its payloads, ready to lease.
struct Prepared {
    ready: Vec<DueItem>,
    refused: Vec<(DueItem, String)>,
}

/// Picks the payments route's batches: due items in id order above a
/// cursor, each D12 group whole, each item at most once a sweep.
struct Feeder {
    after: i64,
    taken: HashSet<i64>,
    now: i64,
}

impl Feeder {
    fn next(
        &mut self,
        store: &Store,
        route: Route,
        batch_size: usize,
    ) -> Result<Option<Vec<DueItem>>, StoreError> {
        loop {
            let due = outbox::due_after(store.conn(), route, self.after, self.now, batch_size)
                .map_err(|e| store.err(e))?;
            if due.is_empty() {
                return Ok(None);
            }
            let mut batch: Vec<DueItem> = Vec::new();
            for item in due {
                if self.taken.contains(&item.id) {
                    self.after = item.id;
                    continue;
                }
                let unit = match &item.batch_group {
                    Some(g) => outbox::due_in_group(store.conn(), route, g, self.now)
                        .map_err(|e| store.err(e))?
                        .into_iter()
                        .filter(|i| !self.taken.contains(&i.id))
                        .collect(),
                    None => vec![item.clone()],
                };
                if !batch.is_empty() && batch.len() + unit.len() > batch_size {
                    break;
                }
                self.after = item.id;
                for u in unit {
                    self.taken.insert(u.id);
                    batch.push(u);
                }
            }
            if !batch.is_empty() {
                return Ok(Some(batch));
            }
        }
    }
}

impl Verdict {
    fn of(o: ItemOutcome) -> Verdict {
        match o {
            ItemOutcome::Accepted => Verdict::Posted,
            ItemOutcome::Duplicate(r) => Verdict::Duplicate(r),
            ItemOutcome::Rejected(r) => Verdict::Rejected(r),
            ItemOutcome::Unknown(r) => Verdict::Again(r),
        }
    }
}

/// The calls of one batch: the lease still to commit with the first, and
/// those made, whose end is recorded in commit B.
struct Calls {
    /// Items to mark in flight with the first call, and the payloads to
    /// freeze (first lease).
    lease: Option<Vec<(i64, Option<String>)>>,
    done: Vec<DoneCall>,
}

struct DoneCall {
    call_id: i64,
    ids: Vec<i64>,
    report: CallReport,
}

/// What halving a batch shares between its parts.
struct Part<'p> {
    verdicts: &'p mut Vec<Option<Verdict>>,
    faults_in_a_row: &'p mut u32,
    stop: &'p mut Option<Stop>,
    calls: &'p mut Calls,
}

/// A call's end and what it said of each item, in the record.
fn record_call(conn: &rusqlite::Connection, c: &DoneCall) -> rusqlite::Result<()> {
    let (outcome, detail, per_item): (&str, String, Vec<(i64, &str, String)>) =
        match &c.report.result {
            Ok(outcomes) => {
                let per = c
                    .ids
                    .iter()
                    .zip(outcomes)
                    .map(|(id, o)| {
                        let (w, r) = outcome_word(o);
                        (*id, w, r)
                    })
                    .collect();
                // A clean call leaves no rows: it is its items' last call.
                let clean = outcomes.iter().all(|o| *o == ItemOutcome::Accepted);
                if clean {
                    ("ok", String::new(), Vec::new())
                } else {
                    ("partial", String::new(), per)
                }
            }
            Err(e) => {
                let word = match e {
                    CallError::Transient(_) => "transient",
                    CallError::Fault(_) => "fault",
                    CallError::Rejected(_) => "http_error",
                };
                let why = e.to_string();
                (
                    word,
                    why.clone(),
                    c.ids
                        .iter()
                        .map(|id| (*id, "failed", why.clone()))
                        .collect(),
                )
            }
        };
    let per_ref: Vec<(i64, &str, &str)> = per_item
        .iter()
        .map(|(id, w, r)| (*id, *w, r.as_str()))
        .collect();
    outbox::finish_call(
        conn,
        c.call_id,
        &CallEnd {
            millis: c.report.millis,
            http_status: c.report.http_status,
            outcome,
            detail: &detail,
            answer: c.report.answer.as_deref(),
        },
        &per_ref,
    )
}

/// Where to halve a faulted batch without splitting a D12 group; `None`
/// for a single item or a single group.
fn split_point(part: &[DueItem]) -> Option<usize> {
    if part.len() < 2 {
        return None;
    }
    let boundary = |i: usize| {
        part[i - 1].batch_group.is_none() || part[i - 1].batch_group != part[i].batch_group
    };
    let mid = part.len() / 2;
    (0..part.len())
        .flat_map(|d| [mid.checked_sub(d), mid.checked_add(d)])
        .flatten()
        .find(|&i| i > 0 && i < part.len() && boundary(i))
}

/// The amount in a payment's payload, for the summary's sum.
fn amount_of(wire: &str) -> Option<rust_decimal::Decimal> {
    let start = wire.find("<amount>")? + "<amount>".len();
    let end = start + wire[start..].find("</amount>")?;
    wire[start..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multispeak::SoapFault;
    use crate::multispeak::outcome::Transient;
    use crate::pump::ingest;
    use crate::pump::rules::payment::tests::settings;
    use crate::retry::{Jitter, ManualClock};
    use std::sync::Mutex;
    use std::time::Duration;

    type Responder = dyn Fn(Route, &[DueItem]) -> Result<Vec<ItemOutcome>, CallError> + Sync;

    /// A call as the scripted deliverer saw it: route, keys, payloads.
    type SeenCall = (Route, Vec<String>, Vec<String>);

    /// A deliverer that answers from a closure and remembers every call.
    struct Scripted<'f> {
        respond: &'f Responder,
        calls: Mutex<Vec<SeenCall>>,
    }

    impl<'f> Scripted<'f> {
        fn new(respond: &'f Responder) -> Self {
            Scripted {
                respond,
                calls: Mutex::new(Vec::new()),
            }
        }
        /// The keys of each call.
        fn keys(&self) -> Vec<Vec<String>> {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .map(|c| c.1.clone())
                .collect()
        }
        fn wires(&self) -> Vec<String> {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .flat_map(|c| c.2.clone())
                .collect()
        }
    }

    impl Deliver for Scripted<'_> {
        fn has(&self, _: Route) -> bool {
            true
        }
        fn url(&self, r: Route) -> String {
            format!("http://test/{}", r.as_str())
        }
        fn deliver(&self, route: Route, items: &[DueItem], _: uuid::Uuid) -> CallReport {
            self.calls.lock().unwrap().push((
                route,
                items.iter().map(|i| i.key.clone()).collect(),
                items.iter().map(|i| i.wire.clone()).collect(),
            ));
            CallReport {
                millis: 1,
                http_status: Some(200),
                result: (self.respond)(route, items),
                answer: None,
            }
        }
    }

    fn accept_all(_: Route, items: &[DueItem]) -> Result<Vec<ItemOutcome>, CallError> {
        Ok(vec![ItemOutcome::Accepted; items.len()])
    }

    fn opts(batch: usize, max_attempts: u32) -> SweepOptions {
        SweepOptions {
            batch_size: batch,
            parallel_calls: 1,
            max_attempts,
            call_policy: RetryPolicy {
                tries: 3,
                first_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(4),
                jitter: Jitter::None,
            },
            item_policy: RetryPolicy {
                tries: max_attempts,
                first_delay: Duration::ZERO,
                max_delay: Duration::ZERO,
                jitter: Jitter::None,
            },
        }
    }

    const PAY_HEADER: &str = "payment_guid,account_number,invoice_number,tender,amount,fee,auth_code,payment_source_id,group_key,paid_at\n";

    fn payments(n: usize) -> String {
        let mut s = PAY_HEADER.to_string();
        for i in 0..n {
            s.push_str(&format!(
                "g{i:03},1000{}-001,INV{i},CC,1{i}.00,0,A{i},0,,2026-11-26T08:00:00-06:00\n",
                i % 10
            ));
        }
        s
    }

    struct World {
        _dir: tempfile::TempDir,
        store: Store,
        rules: RuleSettings,
        clock: ManualClock,
    }

    fn world(csv: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let rules = settings();
        ingest::ingest(&mut store, "x.csv", csv.as_bytes(), &rules, false).unwrap();
        World {
            _dir: dir,
            store,
            rules,
            clock: ManualClock::new(chrono::Utc::now()),
        }
    }

    impl World {
        fn sweep(&mut self, d: &dyn Deliver, o: SweepOptions) -> SweepSummary {
            Sweeper::new(&mut self.store, d, &self.clock, &self.rules, o)
                .with_seed(1)
                .run()
                .unwrap()
        }
        fn state(&self, key: &str) -> (ItemState, String, u32) {
            let r = self.store.outbox_item(key).unwrap().unwrap();
            (r.state, r.reason, r.attempts)
        }
    }

    #[test]
    fn every_item_posted_once_in_batches_and_a_second_sweep_sends_nothing() {
        let mut w = world(&payments(5));
        let d = Scripted::new(&accept_all);
        let s = w.sweep(&d, opts(2, 8));
        assert_eq!(
            d.keys().iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        let p = s.route(Route::Payments).unwrap();
        assert_eq!((p.sent, p.posted, p.calls, p.left), (5, 5, 3, 0));
        assert_eq!(p.posted_amount.to_string(), "60.00");
        assert_eq!(s.exit_code(), ExitCode::Success);
        let again = Scripted::new(&accept_all);
        w.sweep(&again, opts(2, 8));
        assert!(again.keys().is_empty());
    }

    #[test]
    fn payments_with_calls_in_parallel_each_go_once_and_failures_take_the_slow_path() {
        let mut w = world(&payments(50));
        // Every 4th call fails whole once: those batches are retried here.
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let respond = move |_: Route, items: &[DueItem]| {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n % 4 == 3 {
                Err(CallError::Transient(Transient::Status(503)))
            } else {
                Ok(vec![ItemOutcome::Accepted; items.len()])
            }
        };
        let d = Scripted::new(&respond);
        let mut o = opts(4, 8);
        o.parallel_calls = 3;
        let s = w.sweep(&d, o);
        let p = s.route(Route::Payments).unwrap();
        assert_eq!((p.sent, p.posted, p.left), (50, 50, 0), "{p:?}");
        let mut keys: Vec<String> = d.keys().into_iter().flatten().collect();
        let sent = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 50);
        assert!(sent > 50, "the failed calls were sent again");
        assert_eq!(s.exit_code(), ExitCode::Success);
    }

    /// Leasing ahead starts only once the endpoint has answered, and what
    /// was leased ahead of an endpoint that then goes down waits for the
    /// next sweep: nothing left in flight, nothing lost.
    #[test]
    fn batches_are_leased_ahead_only_after_an_answer_and_none_is_lost_when_the_endpoint_drops() {
        let mut w = world(&payments(40));
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let respond = move |_: Route, items: &[DueItem]| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                Ok(vec![ItemOutcome::Accepted; items.len()])
            } else {
                Err(CallError::Transient(Transient::Status(503)))
            }
        };
        let d = Scripted::new(&respond);
        let mut o = opts(4, 8);
        o.parallel_calls = 2;
        let s = w.sweep(&d, o);
        let p = s.route(Route::Payments).unwrap();
        assert_eq!(p.posted, 8, "{p:?}");
        // After the answers, up to two batches per caller were leased.
        assert!(p.retrying >= 4 && p.retrying <= 16, "{p:?}");
        assert_eq!(p.posted + p.left, 40, "{p:?}");
        // Two good calls; the first failing batch tried 3 times before the
        // route was given up; each batch leased ahead of that goes once and
        // is not retried (at most two per caller).
        assert!(d.keys().len() <= 2 + 3 + 4, "{} calls", d.keys().len());
        let in_flight = w
            .store
            .outbox_list(&outbox::Filter {
                states: vec![ItemState::InFlight],
                ..Default::default()
            })
            .unwrap();
        assert!(in_flight.is_empty(), "{in_flight:?}");
        assert_eq!(s.exit_code(), ExitCode::Transient);
    }

    #[test]
    fn items_left_in_flight_by_a_killed_sweep_are_sent_again_byte_for_byte() {
        let mut w = world(&payments(3));
        // A sweep leased g000 and g001 (commit A) and was killed before
        // commit B.
        let first = outbox::due_after(w.store.conn(), Route::Payments, 0, i64::MAX, 2).unwrap();
        let wires: Vec<String> = first
            .iter()
            .map(|i| crate::pump::payload::build(w.store.conn(), i, &w.rules).unwrap())
            .collect();
        let t = "2026-11-26T00:00:00Z";
        let sweep = outbox::start_sweep(w.store.conn(), t).unwrap();
        let call = NewCall {
            sweep_id: sweep,
            route: Route::Payments,
            url: "http://test/payments",
            message_id: "m-1",
            started_at: t,
            items: 2,
        };
        let call = outbox::start_call(w.store.conn(), &call, &[]).unwrap();
        outbox::lease(
            w.store.conn(),
            call,
            &[
                (first[0].id, Some(&wires[0])),
                (first[1].id, Some(&wires[1])),
            ],
            t,
        )
        .unwrap();
        assert_eq!(w.state("g000").0, ItemState::InFlight);
        let seen = w.store.outbox_attempts(first[0].id).unwrap();
        assert_eq!(
            (seen.len(), seen[0].outcome.as_deref()),
            (1, None),
            "{seen:?}"
        );
        // Daffron had taken g000 before the kill: it answers duplicate (D15).
        let respond = |_: Route, items: &[DueItem]| {
            Ok(items
                .iter()
                .map(|i| {
                    if i.key == "g000" {
                        ItemOutcome::Duplicate("Duplicate payment: transactionId g000".into())
                    } else {
                        ItemOutcome::Accepted
                    }
                })
                .collect())
        };
        let d = Scripted::new(&respond);
        let s = w.sweep(&d, opts(10, 8));
        assert_eq!(d.wires()[0], wires[0], "the same bytes as the first send");
        assert_eq!(w.state("g000").0, ItemState::Duplicate);
        assert_eq!(
            w.state("g000").2,
            2,
            "two attempts: the killed one and this one"
        );
        assert_eq!(w.state("g001").0, ItemState::Posted);
        assert_eq!(s.route(Route::Payments).unwrap().duplicate, 1);
    }

    #[test]
    fn a_fault_is_halved_down_to_the_bad_item_and_the_others_go() {
        let mut w = world(&payments(8));
        let respond = |_: Route, items: &[DueItem]| {
            if items.iter().any(|i| i.key == "g005") {
                Err(CallError::Fault(SoapFault {
                    code: "soap:Server".into(),
                    string: "NullReferenceException".into(),
                    detail: String::new(),
                }))
            } else {
                Ok(vec![ItemOutcome::Accepted; items.len()])
            }
        };
        let d = Scripted::new(&respond);
        let s = w.sweep(&d, opts(8, 8));
        let p = s.route(Route::Payments).unwrap();
        assert_eq!((p.posted, p.retrying), (7, 1));
        assert!(p.stopped.is_none());
        let (state, reason, _) = w.state("g005");
        assert_eq!(state, ItemState::Retrying);
        assert!(reason.contains("NullReferenceException"), "{reason}");
        // 8 -> 4+4 -> (2+2) -> (1+1): 1 + 2 + 2 + 2 calls.
        assert_eq!(d.keys().len(), 7, "{:?}", d.keys());
    }

    #[test]
    fn an_endpoint_that_faults_everything_is_given_up_after_three_single_items() {
        let mut w = world(&payments(20));
        let respond = |_: Route, _: &[DueItem]| {
            Err(CallError::Fault(SoapFault {
                code: "soap:Client".into(),
                string: "authentication failed".into(),
                detail: String::new(),
            }))
        };
        let d = Scripted::new(&respond);
        let s = w.sweep(&d, opts(8, 8));
        let p = s.route(Route::Payments).unwrap();
        assert!(
            p.stopped.as_deref().unwrap().contains("settings 12 and 13"),
            "{p:?}"
        );
        assert!(d.keys().len() <= 8, "bounded: {:?}", d.keys());
        assert_eq!(p.retrying, 8, "the leased batch waits");
        assert_eq!(p.left, 20, "nothing lost: 8 retrying, 12 pending");
        assert_eq!(w.state("g010").0, ItemState::Pending);
        assert_eq!(s.exit_code(), ExitCode::Transient);
    }

    #[test]
    fn transient_failures_are_retried_within_the_sweep_then_the_route_waits() {
        let mut w = world(&payments(3));
        let respond = |_: Route, _: &[DueItem]| Err(CallError::Transient(Transient::Status(503)));
        let d = Scripted::new(&respond);
        let s = w.sweep(&d, opts(2, 8));
        assert_eq!(
            d.keys().len(),
            3,
            "three tries of the first batch, then stop"
        );
        assert_eq!(
            w.clock.slept(),
            vec![Duration::from_millis(500), Duration::from_millis(1000)]
        );
        assert_eq!(w.state("g000").0, ItemState::Retrying);
        assert!(w.state("g000").1.contains("HTTP 503"));
        assert_eq!(w.state("g002").0, ItemState::Pending, "never leased");
        assert_eq!(s.exit_code(), ExitCode::Transient);
    }

    #[test]
    fn a_partly_refused_batch_retries_only_its_retryable_items_and_dead_letters_them() {
        let mut w = world(&payments(3));
        let respond = |_: Route, items: &[DueItem]| {
            Ok(items
                .iter()
                .map(|i| match i.key.as_str() {
                    "g000" => ItemOutcome::Accepted,
                    "g001" => ItemOutcome::Rejected("account closed".into()),
                    _ => ItemOutcome::Unknown("no entry for this payment".into()),
                })
                .collect())
        };
        let d = Scripted::new(&respond);
        let s = w.sweep(&d, opts(10, 3));
        assert_eq!(s.exit_code(), ExitCode::InputErrors);
        assert_eq!(w.state("g001").0, ItemState::Rejected);
        assert_eq!(w.state("g002").0, ItemState::Retrying);
        w.sweep(&d, opts(10, 3));
        w.sweep(&d, opts(10, 3));
        let keys = d.keys();
        assert_eq!(keys[1], vec!["g002"], "only the unknown one is sent again");
        assert_eq!(keys[2], vec!["g002"]);
        let (state, reason, attempts) = w.state("g002");
        assert_eq!((state, attempts), (ItemState::Dead, 3));
        assert!(
            reason.contains("after 3 attempt(s)") && reason.contains("no entry"),
            "{reason}"
        );
        // A fourth sweep sends nothing.
        w.sweep(&d, opts(10, 3));
        assert_eq!(d.keys().len(), 3);
        // A person replays it: a fresh budget, sent again.
        w.store
            .outbox_act(
                w.store.outbox_item("g002").unwrap().unwrap().id,
                crate::store::outbox::PersonAction::Replay,
                "ops",
                "Daffron fixed the account",
            )
            .unwrap()
            .unwrap();
        w.sweep(&d, opts(10, 3));
        assert_eq!(d.keys().len(), 4);
    }

    #[test]
    fn a_retrying_item_waits_for_its_next_attempt_time() {
        let mut w = world(&payments(1));
        let unknown =
            |_: Route, items: &[DueItem]| Ok(vec![ItemOutcome::Unknown("?".into()); items.len()]);
        let d = Scripted::new(&unknown);
        let mut o = opts(10, 8);
        o.item_policy.first_delay = Duration::from_secs(60);
        o.item_policy.max_delay = Duration::from_secs(3600);
        w.sweep(&d, o.clone());
        w.sweep(&d, o.clone());
        assert_eq!(d.keys().len(), 1, "not due yet");
        w.clock.advance(Duration::from_secs(61));
        w.sweep(&d, o);
        assert_eq!(d.keys().len(), 2);
    }

    #[test]
    fn d12_a_group_goes_in_one_call_even_past_the_batch_size() {
        let mut csv = PAY_HEADER.to_string();
        csv.push_str("a,1-1,I,CC,1,0,A,0,,2026-11-26T08:00:00-06:00\n");
        for g in ["b", "c", "d"] {
            csv.push_str(&format!(
                "{g},2-1,I,ACH,1,0,AP,0,857725-12345,2026-11-26T06:00:00-06:00\n"
            ));
        }
        csv.push_str("e,3-1,I,CC,1,0,E,0,,2026-11-26T08:00:00-06:00\n");
        let mut w = world(&csv);
        let d = Scripted::new(&accept_all);
        w.sweep(&d, opts(2, 8));
        assert_eq!(
            d.keys(),
            vec![vec!["a"], vec!["b", "c", "d"], vec!["e"]],
            "the group is neither split nor joined to others past the batch size"
        );
    }

    const EVENT_HEADER: &str =
        "event_id,kind,action,account_number,service_location_id,occurred_at\n";

    #[test]
    fn comments_of_one_account_go_in_order_and_wait_for_an_earlier_one() {
        let csv = format!(
            "{EVENT_HEADER}e1,AUTOPAY,ON,1-1,77,2026-11-26T08:00:00Z\ne2,AUTOPAY,OFF,1-1,77,2026-11-26T09:00:00Z\ne3,AUTOPAY,ON,2-1,78,2026-11-26T09:00:00Z\n"
        );
        let mut w = world(&csv);
        let fail_e1 = |_: Route, items: &[DueItem]| {
            Ok(items
                .iter()
                .map(|i| {
                    if i.key == "e1" {
                        ItemOutcome::Unknown("lost".into())
                    } else {
                        ItemOutcome::Accepted
                    }
                })
                .collect())
        };
        let d = Scripted::new(&fail_e1);
        w.sweep(&d, opts(10, 8));
        assert_eq!(d.keys(), vec![vec!["e1", "e3"]], "one per account per call");
        assert_eq!(w.state("e2").0, ItemState::Pending, "held back behind e1");
        let ok = Scripted::new(&accept_all);
        w.sweep(&ok, opts(10, 8));
        assert_eq!(ok.keys(), vec![vec!["e1"], vec!["e2"]]);
        assert!(ok.wires()[1].contains("<comment>AUTOPAY OFF</comment>"));
    }

    #[test]
    fn d9_paperless_is_not_sent_again_when_daffron_already_has_it() {
        let mut w = world(&format!(
            "{EVENT_HEADER}p1,PAPERLESS,ENROLL,1-1,,2026-11-26T08:00:00Z\n"
        ));
        let d = Scripted::new(&accept_all);
        w.sweep(&d, opts(10, 8));
        assert_eq!(w.state("p1").0, ItemState::Posted);
        ingest::ingest(
            &mut w.store,
            "y.csv",
            format!("{EVENT_HEADER}p2,PAPERLESS,ENROLL,1-1,,2026-11-27T08:00:00Z\np3,PAPERLESS,UNENROLL,2-1,,2026-11-27T08:00:00Z\n").as_bytes(),
            &w.rules,
            false,
        )
        .unwrap();
        let s = w.sweep(&d, opts(10, 8));
        let (state, reason, _) = w.state("p2");
        assert_eq!(state, ItemState::Skipped);
        assert!(reason.contains("last told EBILL=Y"), "{reason}");
        assert_eq!(w.state("p3").0, ItemState::Posted, "unknown state: sent");
        assert_eq!(s.route(Route::Paperless).unwrap().skipped, 1);
    }

    #[test]
    fn d10_a_held_comment_is_released_once_a_bif_brings_the_location() {
        let mut w = world(&format!(
            "{EVENT_HEADER}h1,AUTOPAY,ON,35909-001,,2026-11-26T08:00:00Z\nh2,AUTOPAY,OFF,35909-001,55,2026-11-26T09:00:00Z\n"
        ));
        let d = Scripted::new(&accept_all);
        w.sweep(&d, opts(10, 8));
        assert_eq!(w.state("h1").0, ItemState::Held);
        assert_eq!(
            w.state("h2").0,
            ItemState::Pending,
            "waits behind the held h1"
        );
        assert!(d.keys().is_empty());
        // A BIF brings the account's location.
        w.store
            .conn()
            .execute_batch(
                "INSERT INTO taken_files (id, name, sha256, size, source, verdict, local_path, taken_at)
                   VALUES (1, 'f', 's', 1, 'x', 'accepted', 'p', 't');
                 INSERT INTO accounts VALUES ('35909-001', '35909001', '35909', '001', '321045080002',
                   'N', '', '', '', '', '', '', '', 'I', '2026-11-26', 1, 't', 't', NULL);",
            )
            .unwrap();
        let s = w.sweep(&d, opts(10, 8));
        assert_eq!(s.released, 1);
        assert_eq!(d.keys(), vec![vec!["h1"], vec!["h2"]]);
        assert!(d.wires()[0].contains("<serviceLocationID>321045080002</serviceLocationID>"));
        assert!(d.wires()[1].contains("<serviceLocationID>55</serviceLocationID>"));
    }
}

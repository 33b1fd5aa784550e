//! The reconciliation report analysts read the morning after: did every
//! bill go out, did every payment reach Daffron, and what needs a person.
//!
//! One model ([`Report`], built from the state file by [`build`]) and four
//! renderings of it: JSON (the model itself, versioned by
//! [`REPORT_VERSION`]), text ([`text`]), CSV ([`csv`]) and one
//! self-contained HTML page ([`html`]). [`metrics`] writes a run's counters
//! in the Prometheus text format.
//!
//! # What a report covers
//!
//! A [`Scope`]: one run (its start to its end), or one night (every run
//! started that date in the biller's timezone, from the first start to the
//! last end). What happened inside the window is counted from the state
//! file: files taken, uploads, export files ingested, outbox items settled,
//! account changes, the runs' verifications. What needs a person and what
//! is still pending are the state as it is now, whatever the window: a dead
//! item from last week still needs a person today.
//!
//! Amounts are decimal strings (cents in the state file, never a float);
//! fees are shown apart and are never part of a posted amount (D7).

use std::collections::BTreeMap;

use rusqlite::params;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::Config;
use crate::store::runs::{RunRow, Verification, VerifyOutcome};
use crate::store::{Store, StoreError};

pub mod csv;
pub mod html;
pub mod metrics;
pub mod text;

/// The JSON shape's version: raised on any change a reader could trip on
/// (a key renamed, removed or given another meaning); new keys do not
/// raise it.
pub const REPORT_VERSION: u32 = 1;

/// At most this many rows of one list (account changes, items needing a
/// person); the counts are always whole, and `*_more` says how many rows
/// were left out.
pub const LIST_LIMIT: usize = 500;

/// Which window a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One run, by id.
    Run(i64),
    /// Every run started on a date (`YYYY-MM-DD`, biller's timezone).
    Night(String),
}

/// Why a report cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "there is no run {0} in the state file; `daffron-bridge report` without --run shows the latest"
    )]
    NoSuchRun(i64),
    #[error(
        "no run started on {0} (biller's timezone); the nightly job records a run each night it runs"
    )]
    NoRunThatNight(String),
    #[error("the state file holds no run yet: run `daffron-bridge run` first")]
    NoRunYet,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The whole report: what [`build`] reads and every rendering shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub report_version: u32,
    pub biller: Biller,
    pub scope: ScopeInfo,
    pub generated_at: String,
    /// `ok`: nothing needs a person and nothing is pending for a failure;
    /// `attention`: something needs a person; `incomplete`: a run or a
    /// stage did not finish (killed; configuration, a source or endpoint
    /// unreachable, the state file), work is pending.
    pub status: &'static str,
    /// One line saying what the night did.
    pub headline: String,
    pub runs: Vec<RunInfo>,
    pub files: Files,
    pub uploads: Uploads,
    pub exports: Vec<ExportFile>,
    pub pump: Pump,
    pub account_changes: AccountChanges,
    pub verification: VerificationInfo,
    pub attention: Attention,
    pub pending: Pending,
}

#[derive(Debug, Clone, Serialize)]
pub struct Biller {
    pub bid: u32,
    pub name: String,
    pub timezone: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScopeInfo {
    /// `run` or `night`.
    pub kind: &'static str,
    pub run: Option<i64>,
    pub night: String,
    /// The window, RFC 3339 UTC, both ends included.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `None`: still running, or killed before it finished.
    pub exit_code: Option<i64>,
    pub stages: Vec<StageInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageInfo {
    pub stage: String,
    pub exit_code: i64,
    pub seconds: f64,
    /// `ok`, `input_errors` (1), `failed` (2) or `unreachable` (3).
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Files {
    pub received: u64,
    pub accepted: u64,
    pub quarantined: u64,
    /// Invoices of the accepted files and their TotalAmountDue.
    pub invoices: u64,
    pub amount: Decimal,
    pub list: Vec<FileRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileRow {
    pub name: String,
    pub verdict: String,
    pub size: u64,
    pub taken_at: String,
    pub invoices: Option<u64>,
    /// The invoices' TotalAmountDue summed; for an accepted file validation
    /// held it equal to the FH total.
    pub total: Option<String>,
    /// A quarantined file's errors: `{"count","by_code","first"}`.
    pub errors: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Uploads {
    /// Attempts by outcome (`accepted`, `rejected`, `failed`, ...).
    pub by_outcome: BTreeMap<String, u64>,
    pub list: Vec<UploadRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadRow {
    pub file: String,
    pub outcome: String,
    pub at: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportFile {
    pub name: String,
    pub kind: Option<String>,
    pub rows: u64,
    pub taken: u64,
    pub already: u64,
    pub refused: u64,
    pub conflicts: u64,
    pub ingested_at: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Pump {
    /// Items settled in the window, by kind and state.
    pub settled: Vec<KindState>,
    /// Payments posted (or answered duplicate, D15) in the window.
    pub posted_payments: u64,
    pub posted_amount: Decimal,
    /// Fees of those payments: shown apart, never posted (D7).
    pub posted_fees: Decimal,
    pub duplicates: u64,
    pub by_tender: Vec<TenderRow>,
    /// Grouped autopay payments (D12) settled in the window.
    pub autopay_groups: Vec<GroupRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindState {
    pub kind: String,
    pub state: String,
    pub count: u64,
    /// Payments and scheduled payments; zero for the others.
    pub amount: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenderRow {
    pub tender: String,
    pub payment_mode: String,
    pub count: u64,
    pub amount: Decimal,
    pub fees: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupRow {
    pub group: String,
    pub account: String,
    pub payments: u64,
    pub amount: Decimal,
    /// The states of its payments, comma-separated (one call, so normally one).
    pub states: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountChanges {
    pub by_kind: BTreeMap<String, u64>,
    pub list: Vec<ChangeRow>,
    pub list_more: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeRow {
    pub account: String,
    pub kind: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub file: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerificationInfo {
    pub asked: u64,
    pub ok: u64,
    pub mismatch: u64,
    pub not_checked: u64,
    pub unreachable: u64,
    pub accounts: Vec<Verification>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Attention {
    /// Every item needing a person, counted by what it is.
    pub counts: BTreeMap<&'static str, u64>,
    pub items: Vec<AttentionItem>,
    pub items_more: u64,
}

/// One thing a person must deal with, and the command that does.
#[derive(Debug, Clone, Serialize)]
pub struct AttentionItem {
    /// `dead`, `rejected`, `held`, `conflict`, `mismatch`, `quarantined`,
    /// `upload_rejected`, `upload_unknown`, `upload_configuration`,
    /// `not_uploaded`.
    pub what: &'static str,
    pub kind: String,
    pub account: String,
    /// A payment_guid, event_id or file name.
    pub key: String,
    pub amount: Option<Decimal>,
    pub reason: String,
    pub since: String,
    pub command: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Pending {
    pub count: u64,
    pub amount: Decimal,
    /// Open items (pending, in flight, retrying) by age since they were
    /// taken in: `< 1 day`, `1-3 days`, `3-7 days`, `> 7 days`.
    pub aging: Vec<AgeBucket>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgeBucket {
    pub age: &'static str,
    pub count: u64,
    pub amount: Decimal,
}

fn cents(c: Option<i64>) -> Decimal {
    Decimal::new(c.unwrap_or(0), 2)
}

fn outcome_word(code: i64) -> &'static str {
    match code {
        0 => "ok",
        1 => "input_errors",
        3 => "unreachable",
        _ => "failed",
    }
}

/// The runs of a scope (`Err` when there is none) and its window.
fn runs_of(store: &Store, scope: &Scope) -> Result<(Vec<RunRow>, ScopeInfo), ReportError> {
    let ids = match scope {
        Scope::Run(id) => vec![*id],
        Scope::Night(night) => store.runs_of_night(night)?,
    };
    let mut runs = Vec::new();
    for id in ids {
        match store.run(id)? {
            Some(r) => runs.push(r),
            None => return Err(ReportError::NoSuchRun(id)),
        }
    }
    let (Some(first), Some(last)) = (runs.first(), runs.last()) else {
        return Err(match scope {
            Scope::Night(n) => ReportError::NoRunThatNight(n.clone()),
            Scope::Run(id) => ReportError::NoSuchRun(*id),
        });
    };
    // A run still going (the report stage of `run` itself) or killed ends now.
    let to = last
        .finished_at
        .clone()
        .unwrap_or_else(crate::store::now_rfc3339);
    let info = ScopeInfo {
        kind: match scope {
            Scope::Run(_) => "run",
            Scope::Night(_) => "night",
        },
        run: match scope {
            Scope::Run(id) => Some(*id),
            Scope::Night(_) => None,
        },
        night: first.night.clone(),
        from: first.started_at.clone(),
        to,
    };
    Ok((runs, info))
}

/// The scope `report` means with no --run and no --date: the latest run.
pub fn latest(store: &Store) -> Result<Scope, ReportError> {
    store
        .latest_run()?
        .map(Scope::Run)
        .ok_or(ReportError::NoRunYet)
}

/// Builds the report of `scope` from the state file.
pub fn build(config: &Config, store: &Store, scope: &Scope) -> Result<Report, ReportError> {
    let (runs, window) = runs_of(store, scope)?;
    let q = Queries {
        store,
        from: &window.from,
        to: &window.to,
    };
    let run_ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
    let files = q.files()?;
    let uploads = q.uploads()?;
    let exports = q.exports()?;
    let pump = q.pump()?;
    let account_changes = q.account_changes()?;
    let verification = verification(store.verifications(&run_ids)?);
    let attention = q.attention(&files, &verification, &set_aside(&runs), config)?;
    let pending = q.pending()?;

    let runs: Vec<RunInfo> = runs
        .into_iter()
        .map(|r| RunInfo {
            id: r.id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            exit_code: r.exit_code,
            stages: r
                .stages
                .into_iter()
                .map(|s| StageInfo {
                    outcome: outcome_word(s.exit_code),
                    stage: s.stage,
                    exit_code: s.exit_code,
                    seconds: s.millis as f64 / 1000.0,
                })
                .collect(),
        })
        .collect();
    let mut report = Report {
        report_version: REPORT_VERSION,
        biller: Biller {
            bid: config.biller.bid,
            name: config.biller.name.clone(),
            timezone: config.biller.timezone.name().to_string(),
        },
        scope: window,
        generated_at: crate::store::now_rfc3339(),
        status: "ok",
        headline: String::new(),
        runs,
        files,
        uploads,
        exports,
        pump,
        account_changes,
        verification,
        attention,
        pending,
    };
    report.conclude();
    Ok(report)
}

/// Files the runs' `pull` set aside for their size (over `max_file_bytes`):
/// nothing of them was taken, so they have no row of their own, only the
/// pull stage's summary; each is a quarantined file a person must deal
/// with (its invoices were not billed).
fn set_aside(runs: &[RunRow]) -> Vec<AttentionItem> {
    let mut items = Vec::new();
    for stage in runs.iter().flat_map(|r| &r.stages) {
        if stage.stage != "pull" {
            continue;
        }
        let Ok(summary) = serde_json::from_str::<serde_json::Value>(&stage.summary) else {
            continue;
        };
        let files = summary["files"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for f in files
            .iter()
            .filter(|f| f["issue"] == crate::intake::too_large::ISSUE)
        {
            let text = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            items.push(AttentionItem {
                what: "quarantined",
                kind: "bif".into(),
                account: String::new(),
                key: text("name"),
                amount: None,
                reason: format!(
                    "{}: {}; its invoices were not uploaded",
                    crate::intake::too_large::ISSUE,
                    text("reason")
                ),
                since: stage.started_at.clone(),
                command: format!(
                    "read {}; raise [sftp] max_file_bytes (or [dropbox]) if the file is genuine, or ask Daffron for a smaller one",
                    text("report")
                ),
            });
        }
    }
    items
}

impl Report {
    /// Derives `status` and `headline` from the runs and what needs a
    /// person; called again by whoever changes the runs (the night's own
    /// report stage marks its run finished before it writes the files).
    pub fn conclude(&mut self) {
        self.status = status(&self.runs, &self.attention);
        self.headline = headline(self);
    }
}

/// `incomplete` when a run did not finish (killed, or still running) or
/// one of its stages could not finish its work (configuration, a server
/// unreachable, the state file): work is pending however clean the rest
/// looks; else `attention` when something needs a person; else `ok`.
fn status(runs: &[RunInfo], attention: &Attention) -> &'static str {
    let unfinished = runs
        .iter()
        .any(|r| r.exit_code.is_none() || r.stages.iter().any(|s| s.exit_code >= 2));
    if unfinished {
        "incomplete"
    } else if attention.items_more > 0 || !attention.items.is_empty() {
        "attention"
    } else {
        "ok"
    }
}

fn headline(r: &Report) -> String {
    let scope = match r.scope.run {
        Some(id) => format!("Run {id} ({})", r.scope.night),
        None => format!("Night of {}", r.scope.night),
    };
    let need: u64 = r.attention.counts.values().sum();
    let status = match r.status {
        "ok" => "all done".to_string(),
        "incomplete" => format!(
            "incomplete: a run or one of its stages did not finish (see the runs), work is pending; {need} item(s) need a person"
        ),
        _ => format!("{need} item(s) need a person"),
    };
    format!(
        "{scope}: {} file(s) received, {} invoice(s) for {}; {} payment(s) for {} posted to Daffron; {status}",
        r.files.received,
        r.files.invoices,
        r.files.amount,
        r.pump.posted_payments,
        r.pump.posted_amount,
    )
}

fn verification(accounts: Vec<Verification>) -> VerificationInfo {
    let mut v = VerificationInfo::default();
    for a in &accounts {
        v.asked += 1;
        match a.outcome {
            VerifyOutcome::Ok => v.ok += 1,
            VerifyOutcome::Mismatch => v.mismatch += 1,
            VerifyOutcome::NotChecked => v.not_checked += 1,
            VerifyOutcome::Unreachable => v.unreachable += 1,
        }
    }
    v.accounts = accounts;
    v
}

/// The report's read-only queries over one window.
struct Queries<'a> {
    store: &'a Store,
    from: &'a str,
    to: &'a str,
}

impl Queries<'_> {
    fn rows<T>(
        &self,
        sql: &str,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let conn = self.store.conn();
        let mut stmt = conn.prepare(sql).map_err(|e| self.store.err(e))?;
        stmt.query_map(params![self.from, self.to], f)
            .and_then(|rows| rows.collect())
            .map_err(|e| self.store.err(e))
    }

    fn files(&self) -> Result<Files, StoreError> {
        let list = self.rows(
            "SELECT name, verdict, size, taken_at, invoices, total, errors FROM taken_files
             WHERE taken_at BETWEEN ?1 AND ?2 ORDER BY id",
            |r| {
                let errors: Option<String> = r.get(6)?;
                Ok(FileRow {
                    name: r.get(0)?,
                    verdict: r.get(1)?,
                    size: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    taken_at: r.get(3)?,
                    invoices: r
                        .get::<_, Option<i64>>(4)?
                        .and_then(|n| u64::try_from(n).ok()),
                    total: r.get(5)?,
                    errors: errors.and_then(|e| serde_json::from_str(&e).ok()),
                })
            },
        )?;
        let mut f = Files::default();
        for row in &list {
            f.received += 1;
            if row.verdict == "accepted" {
                f.accepted += 1;
                f.invoices += row.invoices.unwrap_or(0);
                let total = row.total.as_deref().and_then(|t| t.parse().ok());
                f.amount = f
                    .amount
                    .checked_add(total.unwrap_or_default())
                    .unwrap_or(f.amount);
            } else {
                f.quarantined += 1;
            }
        }
        f.list = list;
        Ok(f)
    }

    fn uploads(&self) -> Result<Uploads, StoreError> {
        let list = self.rows(
            "SELECT file_name, outcome, at, message FROM uploads
             WHERE at BETWEEN ?1 AND ?2 ORDER BY id",
            |r| {
                Ok(UploadRow {
                    file: r.get(0)?,
                    outcome: r.get(1)?,
                    at: r.get(2)?,
                    message: r.get(3)?,
                })
            },
        )?;
        let mut u = Uploads::default();
        for row in &list {
            *u.by_outcome.entry(row.outcome.clone()).or_default() += 1;
        }
        u.list = list;
        Ok(u)
    }

    fn exports(&self) -> Result<Vec<ExportFile>, StoreError> {
        self.rows(
            "SELECT name, kind, rows, taken, already, refused, conflicts, ingested_at
             FROM export_files WHERE ingested_at BETWEEN ?1 AND ?2 ORDER BY id",
            |r| {
                let n = |i| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                Ok(ExportFile {
                    name: r.get(0)?,
                    kind: r.get(1)?,
                    rows: n(2)?,
                    taken: n(3)?,
                    already: n(4)?,
                    refused: n(5)?,
                    conflicts: n(6)?,
                    ingested_at: r.get(7)?,
                })
            },
        )
    }

    fn pump(&self) -> Result<Pump, StoreError> {
        let mut p = Pump {
            settled: self.rows(
                "SELECT kind, state, COUNT(*), SUM(amount_cents) FROM outbox
                 WHERE settled_at BETWEEN ?1 AND ?2 GROUP BY kind, state ORDER BY kind, state",
                |r| {
                    Ok(KindState {
                        kind: r.get(0)?,
                        state: r.get(1)?,
                        count: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                        amount: cents(r.get(3)?),
                    })
                },
            )?,
            by_tender: self.rows(
                "SELECT COALESCE(tender, ''), COALESCE(payment_mode, ''), COUNT(*),
                        SUM(amount_cents), SUM(fee_cents) FROM outbox
                 WHERE kind = 'payment' AND (state = 'posted' OR state = 'duplicate')
                   AND settled_at BETWEEN ?1 AND ?2
                 GROUP BY 1, 2 ORDER BY 1, 2",
                |r| {
                    Ok(TenderRow {
                        tender: r.get(0)?,
                        payment_mode: r.get(1)?,
                        count: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                        amount: cents(r.get(3)?),
                        fees: cents(r.get(4)?),
                    })
                },
            )?,
            autopay_groups: self.rows(
                "SELECT batch_group, MIN(account), COUNT(*), SUM(amount_cents),
                        GROUP_CONCAT(DISTINCT state) FROM outbox
                 WHERE batch_group IS NOT NULL AND settled_at BETWEEN ?1 AND ?2
                 GROUP BY batch_group ORDER BY MIN(id)",
                |r| {
                    Ok(GroupRow {
                        group: r.get(0)?,
                        account: r.get(1)?,
                        payments: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                        amount: cents(r.get(3)?),
                        states: r.get(4)?,
                    })
                },
            )?,
            ..Pump::default()
        };
        for t in &p.by_tender {
            p.posted_payments += t.count;
            p.posted_amount += t.amount;
            p.posted_fees += t.fees;
        }
        p.duplicates = p
            .settled
            .iter()
            .filter(|s| s.kind == "payment" && s.state == "duplicate")
            .map(|s| s.count)
            .sum();
        Ok(p)
    }

    fn account_changes(&self) -> Result<AccountChanges, StoreError> {
        let by_kind = self.rows(
            "SELECT c.kind, COUNT(*) FROM account_changes c JOIN taken_files f ON f.id = c.file_id
             WHERE f.taken_at BETWEEN ?1 AND ?2 GROUP BY c.kind ORDER BY c.kind",
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
        )?;
        let list = self.rows(
            &format!(
                "SELECT c.account, c.kind, c.old_value, c.new_value, f.name
                 FROM account_changes c JOIN taken_files f ON f.id = c.file_id
                 WHERE f.taken_at BETWEEN ?1 AND ?2 ORDER BY c.id LIMIT {LIST_LIMIT}"
            ),
            |r| {
                Ok(ChangeRow {
                    account: r.get(0)?,
                    kind: r.get(1)?,
                    old: r.get(2)?,
                    new: r.get(3)?,
                    file: r.get(4)?,
                })
            },
        )?;
        let total: i64 = by_kind.iter().map(|(_, n)| n).sum();
        Ok(AccountChanges {
            by_kind: by_kind
                .into_iter()
                .map(|(k, n)| (k, u64::try_from(n).unwrap_or(0)))
                .collect(),
            list_more: u64::try_from(total)
                .unwrap_or(0)
                .saturating_sub(list.len() as u64),
            list,
        })
    }

    /// What needs a person now: problem items whatever their age,
    /// conflicts and quarantined files of the window, files not uploaded,
    /// the window's verification mismatches.
    fn attention(
        &self,
        files: &Files,
        verification: &VerificationInfo,
        set_aside: &[AttentionItem],
        config: &Config,
    ) -> Result<Attention, StoreError> {
        let mut items: Vec<AttentionItem> = self.rows(
            "SELECT state, kind, account, key, amount_cents, reason, updated_at FROM outbox
             WHERE (state = 'dead' OR state = 'rejected' OR state = 'held') AND ?1 <= ?2
             ORDER BY id",
            |r| {
                let state: String = r.get(0)?;
                let key: String = r.get(3)?;
                let (what, command) = match state.as_str() {
                    "dead" => (
                        "dead",
                        format!(
                            "daffron-bridge outbox show {key}; then outbox replay {key} --reason \"...\" once Daffron can take it, or outbox cancel {key} --reason \"...\""
                        ),
                    ),
                    "rejected" => (
                        "rejected",
                        format!(
                            "daffron-bridge outbox show {key}; once its cause is dealt with, outbox replay {key} --reason \"...\"; or outbox cancel {key} --reason \"...\""
                        ),
                    ),
                    _ => (
                        "held",
                        format!(
                            "released by the sweep after a BIF brings the account's service location; or daffron-bridge outbox cancel {key} --reason \"...\""
                        ),
                    ),
                };
                let amount: Option<i64> = r.get(4)?;
                Ok(AttentionItem {
                    what,
                    kind: r.get(1)?,
                    account: r.get(2)?,
                    key,
                    amount: amount.map(|c| Decimal::new(c, 2)),
                    reason: r.get(5)?,
                    since: r.get(6)?,
                    command,
                })
            },
        )?;
        items.extend(self.rows(
            "SELECT o.kind, o.account, o.key, c.record, c.at FROM outbox_conflicts c
             JOIN outbox o ON o.id = c.item_id WHERE c.at BETWEEN ?1 AND ?2 ORDER BY c.id",
            |r| {
                let key: String = r.get(2)?;
                Ok(AttentionItem {
                    what: "conflict",
                    kind: r.get(0)?,
                    account: r.get(1)?,
                    amount: None,
                    reason: "the same key came again with other content; the first was kept and the second never sent".into(),
                    since: r.get(4)?,
                    command: format!(
                        "daffron-bridge outbox show {key}: compare with InvoiceCloud; post by hand at Daffron if the second was right"
                    ),
                    key,
                })
            },
        )?);
        let quarantine = config.paths.quarantine.display();
        for f in files.list.iter().filter(|f| f.verdict != "accepted") {
            let count = f
                .errors
                .as_ref()
                .and_then(|e| e["count"].as_u64())
                .unwrap_or(0);
            items.push(AttentionItem {
                what: "quarantined",
                kind: "bif".into(),
                account: String::new(),
                key: f.name.clone(),
                amount: None,
                reason: format!("{count} validation error(s); its invoices were not uploaded"),
                since: f.taken_at.clone(),
                command: format!(
                    "read {quarantine}/{}.errors.txt; ask Daffron for a corrected file (`daffron-bridge validate` it first)",
                    f.name
                ),
            });
        }
        items.extend_from_slice(set_aside);
        // Accepted files whose upload is not settled, by their last attempt.
        let uploads = self.rows(
            "SELECT t.name, t.local_path, t.taken_at, u.outcome, u.message, u.at
             FROM taken_files t LEFT JOIN uploads u ON u.id =
                 (SELECT MAX(id) FROM uploads WHERE source_sha256 = t.sha256)
             WHERE t.verdict = 'accepted' AND ?1 <= ?2
               AND (u.outcome IS NULL OR u.outcome <> 'accepted')
             ORDER BY t.id",
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            },
        )?;
        for (name, path, taken_at, outcome, message, at) in uploads {
            let message = message.unwrap_or_default();
            let (what, reason, command) = match outcome.as_deref() {
                Some("rejected") => (
                    "upload_rejected",
                    format!("InvoiceCloud refused it: {message}"),
                    format!(
                        "ask Daffron for a corrected file; or, once the cause is fixed at InvoiceCloud, daffron-bridge upload --again {path}"
                    ),
                ),
                Some("unknown" | "sending") => (
                    "upload_unknown",
                    format!(
                        "sent, but no usable answer came ({message}): InvoiceCloud may hold it, so it is not sent again by itself"
                    ),
                    format!(
                        "look for it on InvoiceCloud's portal; then daffron-bridge upload --confirm {path} (it is there) or daffron-bridge upload --again {path} (it is not)"
                    ),
                ),
                Some("configuration") => (
                    "upload_configuration",
                    format!("InvoiceCloud refused the request itself: {message}"),
                    format!(
                        "check [invoicecloud] upload_url and web_service_key; the next run sends {name} again"
                    ),
                ),
                _ => (
                    "not_uploaded",
                    if message.is_empty() {
                        "accepted but not sent to InvoiceCloud yet; the next run sends it"
                            .to_string()
                    } else {
                        format!(
                            "InvoiceCloud could not be reached ({message}); the next run sends it again"
                        )
                    },
                    format!("nothing, or now: daffron-bridge upload {path}"),
                ),
            };
            items.push(AttentionItem {
                what,
                kind: "bif".into(),
                account: String::new(),
                key: name,
                amount: None,
                reason,
                since: at.unwrap_or(taken_at),
                command,
            });
        }
        for v in verification
            .accounts
            .iter()
            .filter(|v| v.outcome == VerifyOutcome::Mismatch)
        {
            items.push(AttentionItem {
                what: "mismatch",
                kind: "payment".into(),
                account: v.account.clone(),
                key: v.account.clone(),
                amount: v.posted.parse().ok(),
                reason: v.detail.clone(),
                since: self.to.to_string(),
                command: format!(
                    "daffron-bridge balance {0}; daffron-bridge outbox list --account {0}",
                    v.account
                ),
            });
        }
        let mut a = Attention::default();
        for i in &items {
            *a.counts.entry(i.what).or_default() += 1;
        }
        if items.len() > LIST_LIMIT {
            a.items_more = (items.len() - LIST_LIMIT) as u64;
            items.truncate(LIST_LIMIT);
        }
        a.items = items;
        Ok(a)
    }

    /// The open items (pending, in flight, retrying) by age at the window's
    /// end.
    fn pending(&self) -> Result<Pending, StoreError> {
        const BUCKETS: [(&str, i64); 4] = [
            ("< 1 day", 86_400),
            ("1-3 days", 3 * 86_400),
            ("3-7 days", 7 * 86_400),
            ("> 7 days", i64::MAX),
        ];
        let rows = self.rows(
            "SELECT CAST(strftime('%s', ?2) AS INTEGER) - CAST(strftime('%s', created_at) AS INTEGER),
                    amount_cents
             FROM outbox WHERE settled_at IS NULL AND state <> 'held' AND ?1 <= ?2",
            |r| Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get::<_, Option<i64>>(1)?)),
        )?;
        let mut p = Pending {
            aging: BUCKETS
                .iter()
                .map(|(age, _)| AgeBucket {
                    age,
                    count: 0,
                    amount: Decimal::ZERO,
                })
                .collect(),
            ..Pending::default()
        };
        for (age, amount) in rows {
            let i = BUCKETS
                .iter()
                .position(|(_, max)| age < *max)
                .unwrap_or(BUCKETS.len() - 1);
            p.aging[i].count += 1;
            p.aging[i].amount += cents(amount);
            p.count += 1;
            p.amount += cents(amount);
        }
        Ok(p)
    }
}

/// The night a moment falls in: its date in the biller's timezone.
pub fn night_of(config: &Config, at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&config.biller.timezone)
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(exit_code: Option<i64>, stages: &[i64]) -> RunInfo {
        RunInfo {
            id: 1,
            started_at: String::new(),
            finished_at: exit_code.map(|_| String::new()),
            exit_code,
            stages: stages
                .iter()
                .map(|&c| StageInfo {
                    stage: "pull".into(),
                    exit_code: c,
                    outcome: outcome_word(c),
                    seconds: 0.0,
                })
                .collect(),
        }
    }

    /// A night that did not do its work is never `ok`, whatever else it
    /// shows: a stage refused by its configuration or the state file (2),
    /// a server unreachable (3), a run killed before it finished.
    #[test]
    fn a_night_that_did_not_finish_its_work_is_incomplete() {
        let none = Attention::default();
        assert_eq!(status(&[run(Some(0), &[0, 0])], &none), "ok");
        assert_eq!(status(&[run(Some(1), &[1, 0])], &none), "ok");
        assert_eq!(status(&[run(Some(2), &[0, 2])], &none), "incomplete");
        assert_eq!(status(&[run(Some(3), &[3, 0])], &none), "incomplete");
        assert_eq!(status(&[run(None, &[0])], &none), "incomplete");
        let some = Attention {
            items_more: 1,
            ..Attention::default()
        };
        assert_eq!(status(&[run(Some(1), &[1])], &some), "attention");
    }
}

//! Export rows → outbox items, with the seed's rules applied once, here.
//!
//! One file is one transaction: its good rows all appear in the outbox, or
//! (on a crash) none of them, and the file's record with them. Keys make it
//! idempotent: a `payment_guid` or `event_id` already in the outbox with the
//! same content is counted as `already`; with other content it is a
//! `conflict`, reported and never overwritten. "The same content" is the
//! same values ([`exports::RowDigest`], kept with every item); a conflict
//! keeps the row not taken, as JSON.
//!
//! What is decided at ingest and kept with the item: whether it is sent at
//! all (skips: D11, features; rule refusals: D8 over 70, D4 no
//! transactionId; held: D10), and a payment's every field (D2-D4, D6, D7:
//! account, tender, amount, authorizationCode, paymentMode, transactionId,
//! billerReference). The payload itself is written when the item is first
//! leased ([`super::payload`]: amounts per setting 35, D1; an event's
//! comment from its record) and frozen then. Decided by the
//! sweep: D9 (against what Daffron was last told when it is sent) and the
//! release of held items (D10, once a BIF brings the location).

use chrono::{DateTime, FixedOffset};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::exports::{self, EventAction, EventRow, ExportKind, IssueCode, PaymentRow, RowIssue};
use super::rules::{self, Decision, RuleSettings, autopay, paperless, payment, scheduled};
use super::{ItemState, Kind};
use crate::multispeak::{self, request};

use crate::store::outbox::{self, ExportFileCounts, Inserted, NewItem};
use crate::store::{Store, StoreError};

/// What one file gave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileReport {
    pub path: String,
    /// `payments` or `events`; `null` when the header says neither.
    pub kind: Option<ExportKind>,
    pub sha256: String,
    /// Data rows read.
    pub rows: u64,
    /// New items, in any state.
    pub taken: u64,
    /// Keys already in the outbox with the same content.
    pub already: u64,
    /// Of the new items: pending, held, skipped, rejected by a rule.
    pub pending: u64,
    pub held: u64,
    pub skipped: u64,
    pub rejected: u64,
    /// Rows with errors (not taken).
    pub refused: u64,
    /// Keys already in the outbox with other content (not taken).
    pub conflicts: u64,
    /// Every problem, `validate`-style.
    pub issues: Vec<RowIssue>,
    /// The exports folder held this content before: not read again.
    pub seen_before: bool,
}

impl FileReport {
    /// Anything refused: a row error, a conflict, or a rule's refusal.
    pub fn has_errors(&self) -> bool {
        self.refused + self.conflicts + self.rejected > 0
            || self.issues.iter().any(|i| !i.code.is_warning())
    }
}

/// Unix seconds of a timestamp.
fn secs(t: &DateTime<FixedOffset>) -> i64 {
    t.timestamp()
}

pub(crate) fn sha_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn to_cents(d: rust_decimal::Decimal) -> Option<i64> {
    let mut c = d.checked_mul(rust_decimal::Decimal::ONE_HUNDRED)?;
    c.rescale(0);
    i64::try_from(c.mantissa()).ok()
}

/// The outbox item for a payment row (D1-D7, D11, D12).
pub fn payment_item(row: &PaymentRow, s: &RuleSettings) -> NewItem {
    let mut item = NewItem {
        source: "payment",
        key: row.payment_guid.clone(),
        kind: Kind::Payment,
        account: row.account.clone(),
        ms_id: multispeak::account_id(&row.account).unwrap_or_default(),
        match_key: String::new(),
        tender: Some(row.tender.0.code()),
        payment_mode: None,
        auth_code: None,
        biller_ref: None,
        amount_cents: to_cents(row.amount),
        fee_cents: to_cents(row.fee),
        batch_group: payment::batch_group(row, s),
        desired: None,
        occurred: secs(&row.paid_at),
        digest: row.digest(),
        // Not stored: the payload needs only the decided columns.
        record: String::new(),
        state: ItemState::Pending,
        reason: String::new(),
        file_id: None,
        line: None,
    };
    match payment::transaction(row, s) {
        Decision::Send(t) => {
            item.match_key = t.transaction_id;
            item.payment_mode = Some(t.payment_mode);
            item.auth_code = Some(t.authorization_code);
            item.biller_ref = t.biller_reference;
        }
        Decision::Skip(why) => (item.state, item.reason) = (ItemState::Skipped, why),
        Decision::Reject(why) | Decision::Hold(why) => {
            (item.state, item.reason) = (ItemState::Rejected, why)
        }
    }
    item
}

/// The comment an event asks for (autopay, scheduled), or the decision not
/// to send it.
pub fn comment_text(row: &EventRow, s: &RuleSettings) -> Decision<String> {
    match &row.action {
        EventAction::Autopay { on } => Decision::Send(autopay::comment(*on)),
        EventAction::ScheduledPayment(sp) => {
            if !s.scheduled_payments {
                return Decision::Skip(scheduled::not_enabled_reason());
            }
            match scheduled::comment(sp) {
                Ok(t) => Decision::Send(t),
                Err(why) => Decision::Reject(why),
            }
        }
        EventAction::Paperless { .. } => Decision::Skip(String::new()),
    }
}

/// A comment's payload at a location (D10), or `None` when it has none.
pub fn comment_wire(
    row: &EventRow,
    s: &RuleSettings,
    text: &str,
    directory_location: Option<&str>,
) -> Option<String> {
    let location =
        autopay::service_location(row.service_location_id.as_deref(), directory_location)?;
    let customer = multispeak::account_id(&row.account)?;
    Some(request::comment_item(&rules::history_comment(
        &customer,
        &location,
        row.occurred_at,
        s.timezone,
        text.to_string(),
    )))
}

/// The outbox item for an event row (D8, D9's payload, D10).
/// `directory_location` is the account's Custom4 from the account directory.
pub fn event_item(row: &EventRow, s: &RuleSettings, directory_location: Option<&str>) -> NewItem {
    let record = serde_json::to_string(row).unwrap_or_default();
    let kind = match row.action {
        EventAction::Paperless { .. } => Kind::Paperless,
        EventAction::Autopay { .. } => Kind::Autopay,
        EventAction::ScheduledPayment(_) => Kind::Scheduled,
    };
    let ms_id = multispeak::account_id(&row.account).unwrap_or_default();
    let mut item = NewItem {
        source: "event",
        key: row.event_id.clone(),
        kind,
        account: row.account.clone(),
        ms_id,
        match_key: String::new(),
        tender: None,
        payment_mode: None,
        auth_code: None,
        biller_ref: None,
        amount_cents: match &row.action {
            EventAction::ScheduledPayment(sp) => to_cents(sp.amount),
            _ => None,
        },
        fee_cents: None,
        batch_group: None,
        desired: None,
        occurred: secs(&row.occurred_at),
        digest: row.digest(),
        record,
        state: ItemState::Pending,
        reason: String::new(),
        file_id: None,
        line: None,
    };
    match &row.action {
        EventAction::Paperless { enroll } => item.desired = Some(paperless::flag(*enroll)),
        _ => match comment_text(row, s) {
            Decision::Send(_) => {
                let located = autopay::service_location(
                    row.service_location_id.as_deref(),
                    directory_location,
                )
                .is_some();
                if !located {
                    (item.state, item.reason) = (ItemState::Held, autopay::held_reason());
                }
            }
            Decision::Skip(why) => (item.state, item.reason) = (ItemState::Skipped, why),
            Decision::Reject(why) | Decision::Hold(why) => {
                (item.state, item.reason) = (ItemState::Rejected, why)
            }
        },
    }
    item
}

/// The account directory's location (Custom4) for a base-sub account (D10).
pub fn directory_location(conn: &Connection, account: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT location FROM accounts WHERE account = ?1")?
        .query_row(params![account], |r| r.get::<_, String>(0))
        .optional()
        .map(|l| l.filter(|l| !l.trim().is_empty()))
}

/// Takes one export file's content into the outbox, in one transaction.
/// `only_new`: skip content this state file has ingested before (the
/// exports-folder scan); explicit files are always read (keys keep it
/// idempotent).
pub fn ingest(
    store: &mut Store,
    path: &str,
    bytes: &[u8],
    s: &RuleSettings,
    only_new: bool,
) -> Result<FileReport, StoreError> {
    let mut report = FileReport {
        path: path.to_string(),
        ..FileReport::default()
    };
    // The content's digest tells a file seen before (the folder scan);
    // otherwise the reading thread computes it once it has read the rows.
    if only_new {
        report.sha256 = sha_hex(bytes);
        if outbox::export_file_by_sha(store.conn(), &report.sha256)
            .map_err(|e| store.err(e))?
            .is_some()
        {
            report.seen_before = true;
            return Ok(report);
        }
    }
    let known_sha = (!report.sha256.is_empty()).then(|| report.sha256.clone());
    let now = crate::store::now_rfc3339();
    let name = std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    let err = crate::store::err_for(store.path());
    let tx = store.conn_mut().transaction().map_err(&err)?;
    let file_id = outbox::start_export_file(&tx, &name, path, &now).map_err(&err)?;
    let mut taker = Taker {
        tx: &tx,
        inserter: outbox::Inserter::new(&tx).map_err(&err)?,
        file_id,
        now: &now,
        report: &mut report,
        issues: Vec::new(),
    };

    // Payments are read and given their rules' decisions on a second
    // thread, in chunks, while this one inserts them: a night's export of
    // 100,000 payments is taken in the time SQLite needs, not that plus
    // the parsing.
    //
    // Inserted chunks go back to the reading thread to be freed there:
    // glibc frees memory into the arena of the thread that allocated it,
    // under that arena's lock, so freeing the items here made the two
    // threads wait on each other's allocations (a quarter of the time,
    // measured).
    type Chunk = Vec<(u64, PaymentRow, NewItem)>;
    let (chunks, taken_chunks) = std::sync::mpsc::sync_channel::<Chunk>(4);
    let (spent_chunks, spent) = std::sync::mpsc::channel::<Chunk>();
    let (file, events, sha256) = std::thread::scope(|scope| -> Result<_, StoreError> {
        let reader = scope.spawn(move || {
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut events = Vec::new();
            let file = exports::read_each(bytes, |row| match row {
                exports::Usable::Payment(p) => {
                    let item = payment_item(&p.row, s);
                    chunk.push((p.line, p.row, item));
                    if chunk.len() == CHUNK {
                        let next = match spent.try_recv() {
                            Ok(mut used) => {
                                used.clear();
                                used
                            }
                            Err(_) => Vec::with_capacity(CHUNK),
                        };
                        let full = std::mem::replace(&mut chunk, next);
                        let _ = chunks.send(full);
                    }
                }
                exports::Usable::Event(e) => events.push(e),
            });
            if !chunk.is_empty() {
                let _ = chunks.send(chunk);
            }
            let sha256 = known_sha.unwrap_or_else(|| sha_hex(bytes));
            (file, events, sha256)
        });
        let mut failed = None;
        for mut chunk in taken_chunks.iter() {
            for (line, row, item) in chunk.iter_mut() {
                if failed.is_none()
                    && let Err(e) = taker.take(*line, item, Source::Payment(row))
                {
                    failed = Some(e);
                }
            }
            let _ = spent_chunks.send(chunk);
        }
        let read = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match failed {
            Some(e) => Err(err(e)),
            None => Ok(read),
        }
    })?;

    // Events in the order they happened, so ids follow occurrence within a
    // file (the ordered routes send in id order).
    let mut events: Vec<exports::Lined<EventRow>> = events;
    events.sort_by_key(|e| (secs(&e.row.occurred_at), e.line));
    for e in &events {
        let loc = match e.row.action {
            EventAction::Paperless { .. } => None,
            _ if e.row.service_location_id.is_some() => None,
            _ => directory_location(&tx, &e.row.account).map_err(&err)?,
        };
        taker
            .take(
                e.line,
                &mut event_item(&e.row, s, loc.as_deref()),
                Source::Event(&e.row),
            )
            .map_err(&err)?;
    }

    let mut issues = std::mem::take(&mut taker.issues);
    drop(taker);
    report.kind = file.kind;
    report.rows = file.rows;
    report.refused = file.refused() as u64;
    issues.extend(file.issues);
    issues.sort_by_key(|i| (i.line.unwrap_or(0), i.column.unwrap_or(0)));
    let counts = ExportFileCounts {
        rows: report.rows,
        taken: report.taken,
        already: report.already,
        refused: report.refused,
        conflicts: report.conflicts,
    };
    let issues_json = serde_json::to_string(&issues).unwrap_or_else(|_| "[]".into());
    outbox::finish_export_file(
        &tx,
        file_id,
        &sha256,
        file.kind.map(|k| k.as_str()),
        &counts,
        &issues_json,
    )
    .map_err(&err)?;
    tx.commit().map_err(&err)?;
    report.issues = issues;
    report.sha256 = sha256;
    Ok(report)
}

/// Payments handed from the reading thread to the inserting one at a time.
const CHUNK: usize = 1024;

/// Inserts items into the outbox within a file's transaction and counts
/// what happened to each.
struct Taker<'t> {
    tx: &'t Connection,
    inserter: outbox::Inserter<'t>,
    file_id: i64,
    now: &'t str,
    report: &'t mut FileReport,
    issues: Vec<RowIssue>,
}

impl Taker<'_> {
    fn take(&mut self, line: u64, item: &mut NewItem, row: Source<'_>) -> rusqlite::Result<()> {
        item.file_id = Some(self.file_id);
        item.line = Some(line);
        match self.inserter.insert(item, self.now)? {
            Inserted::New(_) => {
                self.report.taken += 1;
                match item.state {
                    ItemState::Held => self.report.held += 1,
                    ItemState::Skipped => self.report.skipped += 1,
                    ItemState::Rejected => {
                        self.report.rejected += 1;
                        self.issues.push(RowIssue {
                            line: Some(line),
                            column: None,
                            field: None,
                            code: IssueCode::RefusedByRule,
                            value: item.key.clone(),
                            message: item.reason.clone(),
                        });
                    }
                    _ => self.report.pending += 1,
                }
            }
            Inserted::Taken { digest, record, .. }
                if row.same_content(item, digest.as_deref(), record.as_deref()) =>
            {
                self.report.already += 1
            }
            Inserted::Taken { id: existing, .. } => {
                self.report.conflicts += 1;
                outbox::record_conflict(self.tx, existing, item, &row.json(), self.now)?;
                let field = if item.source == "payment" {
                    "payment_guid"
                } else {
                    "event_id"
                };
                self.issues.push(RowIssue {
                    line: Some(line),
                    column: None,
                    field: Some(field.to_string()),
                    code: IssueCode::Conflict,
                    value: item.key.clone(),
                    message: format!(
                        "{field} {} is already in the outbox (item {existing}) with other content; \
                         the first is kept and this row is not taken",
                        item.key
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The export row an item came from: what a conflict records, and what
/// tells a repeat from a conflict for an item stored before rows had
/// digests.
#[derive(Clone, Copy)]
enum Source<'r> {
    Payment(&'r PaymentRow),
    Event(&'r EventRow),
}

impl Source<'_> {
    /// The row as JSON, as a conflict records it.
    fn json(self) -> String {
        match self {
            Source::Payment(r) => serde_json::to_string(r),
            Source::Event(r) => serde_json::to_string(r),
        }
        .unwrap_or_default()
    }

    /// Whether the item already held under `item`'s key has its content:
    /// the same digest, or (an item taken before migration 6, which has
    /// none) a stored record with that digest.
    fn same_content(self, item: &NewItem, digest: Option<&[u8]>, record: Option<&str>) -> bool {
        match (digest, record) {
            (Some(d), _) => d == item.digest,
            (None, Some(r)) => match self {
                Source::Payment(_) => serde_json::from_str::<PaymentRow>(r).map(|r| r.digest()),
                Source::Event(_) => serde_json::from_str::<EventRow>(r).map(|r| r.digest()),
            }
            .is_ok_and(|d| d == item.digest),
            (None, None) => false,
        }
    }
}

/// Why a file could not be ingested at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an `ingest` did: one report per file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    pub files: Vec<FileReport>,
    /// Files that could not be read (each message names the file).
    pub unreadable: Vec<String>,
}

impl IngestSummary {
    /// 0 every row taken (or already there); 1 a row was refused, a key
    /// conflicted or a rule refused an item; 2 a file could not be read.
    pub fn exit_code(&self) -> crate::ExitCode {
        let mut code = crate::ExitCode::Success;
        if self.files.iter().any(FileReport::has_errors) {
            code = code.worst(crate::ExitCode::InputErrors);
        }
        if !self.unreadable.is_empty() {
            code = code.worst(crate::ExitCode::Usage);
        }
        code
    }

    /// Every issue as `FILE:LINE: ...`, then a line per file.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for f in &self.files {
            if f.seen_before {
                continue;
            }
            for i in &f.issues {
                s.push_str(&i.text_line(&f.path));
                s.push('\n');
            }
        }
        for f in &self.files {
            if f.seen_before {
                s.push_str(&format!("{}: already ingested (same content)\n", f.path));
                continue;
            }
            let kind = f.kind.map(|k| k.as_str()).unwrap_or("not an export");
            let states: Vec<String> = [
                (f.pending, "pending"),
                (f.held, "held"),
                (f.skipped, "skipped"),
                (f.rejected, "rejected by a rule"),
            ]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("{n} {w}"))
            .collect();
            let mut parts = vec![if states.is_empty() {
                format!("{} new", f.taken)
            } else {
                format!("{} new ({})", f.taken, states.join(", "))
            }];
            for (n, w) in [
                (f.already, "already in the outbox"),
                (f.refused, "refused"),
                (f.conflicts, "conflicting"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {w}"));
                }
            }
            s.push_str(&format!(
                "{}: {kind}, {} row(s): {}\n",
                f.path,
                f.rows,
                parts.join(", ")
            ));
        }
        for u in &self.unreadable {
            s.push_str(&format!("error: {u}\n"));
        }
        if self.files.is_empty() && self.unreadable.is_empty() {
            s.push_str("ingest: no new export files\n");
        }
        s
    }

    /// `{"files":[...],"unreadable":[...]}`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The export files of a folder, in name order: `*.csv` (any case) whose
/// name starts with `payments` or `events`. Hidden and partial files
/// (`.name`, `*.tmp`, `*.part`) are left alone.
pub fn export_files_in(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_ascii_lowercase();
        let wanted =
            (name.starts_with("payments") || name.starts_with("events")) && name.ends_with(".csv");
        if wanted && e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// `ingest [FILE...]`: the files given (always read), or else the new
/// files of `[paths] exports` (content already ingested is skipped).
pub fn run(
    store: &mut Store,
    s: &RuleSettings,
    files: &[std::path::PathBuf],
    exports_dir: &std::path::Path,
) -> Result<IngestSummary, IngestError> {
    let (paths, only_new) = if files.is_empty() {
        let found = export_files_in(exports_dir).map_err(|source| IngestError::Read {
            path: exports_dir.to_path_buf(),
            source,
        })?;
        (found, true)
    } else {
        (files.to_vec(), false)
    };
    let mut summary = IngestSummary::default();
    let bar = crate::pipeline::progress::bar("ingest", paths.len() as u64);
    for p in paths {
        bar.inc(1);
        bar.set_message(p.display().to_string());
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) => {
                summary
                    .unreadable
                    .push(format!("cannot read {}: {e}", p.display()));
                continue;
            }
        };
        let name = p.display().to_string();
        let report = store.with_bulk_cache(|store| ingest(store, &name, &bytes, s, only_new))?;
        summary.files.push(report);
    }
    bar.finish_and_clear();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pump::rules::payment::tests::{row, settings};

    #[test]
    fn a_payment_row_becomes_a_pending_item_with_its_rule_decisions() {
        let item = payment_item(&row(), &settings());
        assert_eq!(item.state, ItemState::Pending);
        assert_eq!(item.match_key, "e4deba7f-86e7-4850-8226-d6a2fbfb0ab6");
        assert_eq!(item.payment_mode.as_deref(), Some("WEB"));
        assert_eq!(item.amount_cents, Some(23210));
        assert_eq!(item.fee_cents, Some(295));
        assert_eq!(item.ms_id, "35909001");
    }

    /// A payment's record is not stored (its digest is); an item taken
    /// before digests existed (migration 6) still tells a repeat from a
    /// conflict, by its stored record.
    #[test]
    fn repeats_and_conflicts_are_told_by_digest_and_by_old_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let tx = store.conn_mut().transaction().unwrap();
        let now = "2026-11-27T00:00:00.000Z";
        let (first_row, s) = (row(), settings());
        let first = payment_item(&first_row, &s);
        let mut other_row = row();
        other_row.amount = rust_decimal::Decimal::new(99, 0);
        let other = payment_item(&other_row, &s);
        let mut ins = outbox::Inserter::new(&tx).unwrap();
        let Inserted::New(id) = ins.insert(&first, now).unwrap() else {
            panic!("not new")
        };
        let records: i64 = tx
            .query_row("SELECT count(*) FROM outbox_records", [], |r| r.get(0))
            .unwrap();
        assert_eq!(records, 0, "a payment's record is not kept whole");
        let told = |ins: &mut outbox::Inserter<'_>, item: &NewItem, row: &PaymentRow| {
            let Inserted::Taken {
                id: taken,
                digest,
                record,
            } = ins.insert(item, now).unwrap()
            else {
                panic!("inserted again")
            };
            assert_eq!(taken, id);
            Source::Payment(row).same_content(item, digest.as_deref(), record.as_deref())
        };
        assert!(told(&mut ins, &first, &first_row), "a repeat");
        assert!(!told(&mut ins, &other, &other_row), "a conflict");
        // As a state file from before migration 6 holds it: no digest, the
        // record stored whole.
        tx.execute("UPDATE outbox SET digest = NULL", []).unwrap();
        tx.execute(
            "INSERT INTO outbox_records (item_id, record) VALUES (?1, ?2)",
            params![id, serde_json::to_string(&first_row).unwrap()],
        )
        .unwrap();
        assert!(told(&mut ins, &first, &first_row), "a repeat");
        assert!(!told(&mut ins, &other, &other_row), "a conflict");
    }

    /// The digest is of values: what the CSV wrote around a value does not
    /// count, how it wrote the value does.
    #[test]
    fn a_row_digest_is_of_its_values() {
        let a = row();
        assert_eq!(a.digest(), row().digest());
        let mut b = row();
        b.amount = rust_decimal::Decimal::new(232100, 3); // 232.100
        assert_ne!(a.digest(), b.digest(), "232.1 written otherwise");
        let mut c = row();
        c.kiosk_id = Some(String::new());
        assert_ne!(
            a.digest(),
            c.digest(),
            "an empty value is not an absent one"
        );
        let mut d = row();
        d.paid_at = d
            .paid_at
            .with_timezone(&chrono::FixedOffset::east_opt(0).unwrap());
        assert_ne!(a.digest(), d.digest(), "the same instant at another offset");
    }

    #[test]
    fn cents_are_exact() {
        use std::str::FromStr;
        let d = |s| rust_decimal::Decimal::from_str(s).unwrap();
        assert_eq!(to_cents(d("232.1")), Some(23210));
        assert_eq!(to_cents(d("0.01")), Some(1));
        assert_eq!(to_cents(d("5")), Some(500));
    }
}

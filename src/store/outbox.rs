//! The data pump's tables (migration 3): the outbox and its state
//! transitions, the calls and attempts that carried each item, and what
//! Daffron was last told (D9).
//!
//! Only transitions live here; *when* each one is committed relative to a
//! call leaving the machine is the sweep's business (`crate::pump::sweep`),
//! which is where that order is written down. Every function takes a plain
//! `&Connection`, so the caller decides the transaction (a `Transaction`
//! dereferences to one).

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError};
use crate::pump::rules::paperless::Told;
use crate::pump::{ItemState, Kind, Route};

type R<T> = Result<T, rusqlite::Error>;

/// A new item for the outbox, with its rules already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    /// `payment` or `event`: the key's namespace.
    pub source: &'static str,
    pub key: String,
    pub kind: Kind,
    pub account: String,
    pub ms_id: String,
    pub match_key: String,
    pub tender: Option<&'static str>,
    pub payment_mode: Option<String>,
    /// A payment's authorizationCode as sent (D4).
    pub auth_code: Option<String>,
    /// A kiosk payment's billerReference (D6).
    pub biller_ref: Option<String>,
    /// In cents: exact sums in SQL, never a float.
    pub amount_cents: Option<i64>,
    pub fee_cents: Option<i64>,
    pub batch_group: Option<String>,
    pub desired: Option<&'static str>,
    pub occurred: i64,
    /// The export row as JSON, where it is stored ([`NewItem::keeps_record`]):
    /// an event's payload is built from it when it is first leased. Empty
    /// for a payment.
    pub record: String,
    /// The export row's content digest (`pump::exports::RowDigest`): what
    /// tells a repeat (same digest) from a conflict (another one).
    pub digest: [u8; 16],
    pub state: ItemState,
    pub reason: String,
    pub file_id: Option<i64>,
    pub line: Option<u64>,
}

impl NewItem {
    /// Whether the item's export row is stored whole (`outbox_records`).
    /// An event's is: its payload is built from it. A payment's is not: its
    /// payload needs only the columns decided at ingest, and a night's
    /// hundred thousand payments would write their rows a second time, as
    /// JSON, for nobody to read (half the state file's bytes and a third of the
    /// ingest's time, measured). Where a payment came from stays known: its
    /// file (`export_files`, with the content's SHA-256) and line.
    pub fn keeps_record(&self) -> bool {
        self.kind != Kind::Payment
    }
}

/// What inserting an item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New(i64),
    /// The key was already there: nothing changed. What that item holds,
    /// for the caller to tell a repeat from a conflict: its digest, or
    /// (items taken before migration 6, which have none) its record.
    Taken {
        id: i64,
        digest: Option<Vec<u8>>,
        record: Option<String>,
    },
}

/// Inserts items into the outbox, each unless its key is already there.
/// Never overwrites. Holds its statements for a whole file's rows: looking
/// a statement up in the connection's cache hashes its text, once a row.
pub struct Inserter<'c> {
    conn: &'c Connection,
    insert: rusqlite::CachedStatement<'c>,
    record: rusqlite::CachedStatement<'c>,
    existing: rusqlite::CachedStatement<'c>,
}

impl<'c> Inserter<'c> {
    pub fn new(conn: &'c Connection) -> R<Inserter<'c>> {
        Ok(Inserter {
            conn,
            insert: conn.prepare_cached(
                "INSERT INTO outbox (source, key, kind, route, account, ms_id, match_key, tender,
                    payment_mode, amount_cents, fee_cents, batch_group, desired, occurred,
                    state, reason, file_id, line, created_at, updated_at, settled_at, auth_code,
                    biller_ref, digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                    ?15, ?16, ?17, ?18, ?19, ?19, ?20, ?21, ?22, ?23)
                 ON CONFLICT (source, key) DO NOTHING",
            )?,
            record: conn
                .prepare_cached("INSERT INTO outbox_records (item_id, record) VALUES (?1, ?2)")?,
            existing: conn.prepare_cached(
                "SELECT o.id, o.digest, r.record FROM outbox o
                 LEFT JOIN outbox_records r ON r.item_id = o.id
                 WHERE o.source = ?1 AND o.key = ?2",
            )?,
        })
    }

    /// Inserts `item` unless its key is taken, and says which it was.
    pub fn insert(&mut self, item: &NewItem, now: &str) -> R<Inserted> {
        let settled = (!item.state.is_open()).then_some(now);
        let n = self.insert.execute(params![
            item.source,
            item.key,
            item.kind.as_str(),
            item.kind.route().as_str(),
            item.account,
            item.ms_id,
            item.match_key,
            item.tender,
            item.payment_mode,
            item.amount_cents,
            item.fee_cents,
            item.batch_group,
            item.desired,
            item.occurred,
            item.state.as_str(),
            item.reason,
            item.file_id,
            item.line.map(|l| l as i64),
            now,
            settled,
            item.auth_code,
            item.biller_ref,
            &item.digest[..],
        ])?;
        if n == 1 {
            let id = self.conn.last_insert_rowid();
            if item.keeps_record() {
                self.record.execute(params![id, item.record])?;
            }
            return Ok(Inserted::New(id));
        }
        self.existing
            .query_row(params![item.source, item.key], |r| {
                Ok(Inserted::Taken {
                    id: r.get(0)?,
                    digest: r.get(1)?,
                    record: r.get(2)?,
                })
            })
    }
}

/// Records a key seen again with other content: `record`, the export row
/// that was not taken, as JSON.
pub fn record_conflict(
    conn: &Connection,
    existing: i64,
    item: &NewItem,
    record: &str,
    now: &str,
) -> R<()> {
    conn.prepare_cached(
        "INSERT INTO outbox_conflicts (item_id, file_id, line, record, at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        existing,
        item.file_id,
        item.line.map(|l| l as i64),
        record,
        now
    ])?;
    Ok(())
}

/// An export file's row in `export_files`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportFileCounts {
    pub rows: u64,
    pub taken: u64,
    pub already: u64,
    pub refused: u64,
    pub conflicts: u64,
}

/// Whether a file with these bytes was ingested before (its id).
pub fn export_file_by_sha(conn: &Connection, sha256: &str) -> R<Option<i64>> {
    conn.query_row(
        "SELECT id FROM export_files WHERE sha256 = ?1 ORDER BY id LIMIT 1",
        params![sha256],
        |r| r.get(0),
    )
    .optional()
}

/// Starts an export file's row; its digest and counts come with
/// [`finish_export_file`], in the same transaction.
pub fn start_export_file(conn: &Connection, name: &str, path: &str, now: &str) -> R<i64> {
    conn.execute(
        "INSERT INTO export_files (name, path, sha256, ingested_at) VALUES (?1, ?2, '', ?3)",
        params![name, path, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn finish_export_file(
    conn: &Connection,
    id: i64,
    sha256: &str,
    kind: Option<&str>,
    c: &ExportFileCounts,
    issues_json: &str,
) -> R<()> {
    conn.execute(
        "UPDATE export_files SET rows = ?2, taken = ?3, already = ?4, refused = ?5,
            conflicts = ?6, issues = ?7, kind = ?8, sha256 = ?9 WHERE id = ?1",
        params![
            id,
            c.rows as i64,
            c.taken as i64,
            c.already as i64,
            c.refused as i64,
            c.conflicts as i64,
            issues_json,
            kind,
            sha256
        ],
    )?;
    Ok(())
}

/// An item a sweep may send: its payload and what answers are matched by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueItem {
    pub id: i64,
    pub key: String,
    pub kind: Kind,
    pub account: String,
    pub ms_id: String,
    pub match_key: String,
    pub tender: Option<String>,
    /// The payload; empty until the item is first leased (built then from
    /// the payment's decided columns, or an event's `record`).
    pub wire: String,
    /// Whether `wire` is the frozen payload (the item was leased before).
    pub frozen: bool,
    /// An event's export row (empty for a payment, whose payload needs only
    /// its columns).
    pub record: String,
    pub batch_group: Option<String>,
    pub desired: Option<String>,
    pub occurred: i64,
    pub state: ItemState,
    pub attempts: u32,
    pub next_attempt_at: i64,
    /// A payment's decided fields (D3, D4, D6), and its amount in cents.
    pub payment_mode: Option<String>,
    pub auth_code: Option<String>,
    pub biller_ref: Option<String>,
    pub amount_cents: Option<i64>,
}

const DUE_COLUMNS: &str = "id, key, kind, account, ms_id, match_key, tender, \
     (SELECT wire FROM outbox_payloads p WHERE p.item_id = outbox.id), batch_group, \
     desired, occurred, state, attempts, next_attempt_at, \
     CASE WHEN kind = 'payment' THEN '' \
          ELSE (SELECT record FROM outbox_records r WHERE r.item_id = outbox.id) END, \
     payment_mode, auth_code, biller_ref, amount_cents";

fn due_item(r: &rusqlite::Row<'_>) -> R<DueItem> {
    let kind: String = r.get(2)?;
    let state: String = r.get(11)?;
    Ok(DueItem {
        id: r.get(0)?,
        key: r.get(1)?,
        kind: Kind::parse(&kind).unwrap_or(Kind::Payment),
        account: r.get(3)?,
        ms_id: r.get(4)?,
        match_key: r.get(5)?,
        tender: r.get(6)?,
        frozen: r.get::<_, Option<String>>(7)?.is_some(),
        wire: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
        batch_group: r.get(8)?,
        desired: r.get(9)?,
        occurred: r.get(10)?,
        state: ItemState::parse(&state).unwrap_or(ItemState::Pending),
        attempts: r.get(12)?,
        next_attempt_at: r.get(13)?,
        record: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
        payment_mode: r.get(15)?,
        auth_code: r.get(16)?,
        biller_ref: r.get(17)?,
        amount_cents: r.get(18)?,
    })
}

/// Up to `limit` items of `route` that may be sent now (pending, retrying
/// and due, or left in flight by a killed sweep), with ids above `after`,
/// in id order, along the index of open items.
pub fn due_after(
    conn: &Connection,
    route: Route,
    after: i64,
    now: i64,
    limit: usize,
) -> R<Vec<DueItem>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {DUE_COLUMNS} FROM outbox INDEXED BY outbox_open
         WHERE route = ?1 AND settled_at IS NULL AND id > ?2 AND state <> 'held'
           AND next_attempt_at <= ?3
         ORDER BY id LIMIT ?4"
    ))?;
    st.query_map(params![route.as_str(), after, now, limit as i64], due_item)?
        .collect()
}

/// The due items of one D12 group (any id), for keeping a group in one call.
pub fn due_in_group(conn: &Connection, route: Route, group: &str, now: i64) -> R<Vec<DueItem>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {DUE_COLUMNS} FROM outbox INDEXED BY outbox_group
         WHERE route = ?1 AND batch_group = ?2 AND settled_at IS NULL AND state <> 'held'
           AND next_attempt_at <= ?3
         ORDER BY id"
    ))?;
    st.query_map(params![route.as_str(), group, now], due_item)?
        .collect()
}

/// Every open item of `route` that has a payload (pending, in flight,
/// retrying: due or not), in id order. For the ordered routes, whose volumes
/// are small.
pub fn open_items(conn: &Connection, route: Route) -> R<Vec<DueItem>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {DUE_COLUMNS} FROM outbox INDEXED BY outbox_open
         WHERE route = ?1 AND settled_at IS NULL AND state <> 'held'
         ORDER BY id"
    ))?;
    st.query_map(params![route.as_str()], due_item)?.collect()
}

/// Accounts with a held item on `route`, with the smallest held id of each:
/// an item of such an account after that id must wait (order).
pub fn held_accounts(conn: &Connection, route: Route) -> R<Vec<(String, i64)>> {
    let mut st = conn.prepare_cached(
        "SELECT account, MIN(id) FROM outbox INDEXED BY outbox_open
         WHERE route = ?1 AND settled_at IS NULL AND state = 'held' GROUP BY account",
    )?;
    st.query_map(params![route.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// A held item and what is needed to build its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldItem {
    pub id: i64,
    pub kind: Kind,
    pub account: String,
    pub record: String,
}

pub fn held_items(conn: &Connection) -> R<Vec<HeldItem>> {
    let mut st = conn.prepare_cached(
        "SELECT id, kind, account, (SELECT record FROM outbox_records r WHERE r.item_id = outbox.id)
         FROM outbox WHERE settled_at IS NULL AND state = 'held' ORDER BY id",
    )?;
    st.query_map([], |r| {
        let kind: String = r.get(1)?;
        Ok(HeldItem {
            id: r.get(0)?,
            kind: Kind::parse(&kind).unwrap_or(Kind::Autopay),
            account: r.get(2)?,
            record: r.get(3)?,
        })
    })?
    .collect()
}

/// A held item becomes pending (it has what it waited for).
pub fn release(conn: &Connection, id: i64, now: &str) -> R<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'pending', reason = '', updated_at = ?2
         WHERE id = ?1 AND state = 'held'",
    )?
    .execute(params![id, now])?;
    Ok(())
}

/// Starts a sweep's row.
pub fn start_sweep(conn: &Connection, now: &str) -> R<i64> {
    conn.execute("INSERT INTO sweeps (started_at) VALUES (?1)", params![now])?;
    Ok(conn.last_insert_rowid())
}

pub fn finish_sweep(conn: &Connection, id: i64, now: &str, summary_json: &str) -> R<()> {
    conn.execute(
        "UPDATE sweeps SET finished_at = ?2, summary = ?3 WHERE id = ?1",
        params![id, now, summary_json],
    )?;
    Ok(())
}

/// Marks items in flight on `call`, and counts the attempt: done in the
/// transaction committed *before* the call is sent. An item's first lease
/// freezes its payload (`None`: it has one already).
pub fn lease(conn: &Connection, call: i64, items: &[(i64, Option<&str>)], now: &str) -> R<()> {
    let ids: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
    conn.prepare_cached(
        "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1, updated_at = ?2,
            last_call = ?3
         WHERE id IN (SELECT value FROM json_each(?1))",
    )?
    .execute(params![id_list(&ids), now, call])?;
    let mut freeze =
        conn.prepare_cached("INSERT INTO outbox_payloads (item_id, wire) VALUES (?1, ?2)")?;
    for (id, wire) in items {
        if let Some(w) = wire {
            freeze.execute(params![id, w])?;
        }
    }
    Ok(())
}

/// Ids as a JSON array, for `IN (SELECT value FROM json_each(?))`: one
/// statement for a whole batch instead of one per item.
fn id_list(ids: &[i64]) -> String {
    let mut s = String::with_capacity(ids.len() * 8 + 2);
    s.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.to_string());
    }
    s.push(']');
    s
}

/// A call about to be made.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    pub sweep_id: i64,
    pub route: Route,
    pub url: &'a str,
    pub message_id: &'a str,
    pub started_at: &'a str,
    /// How many items it carries.
    pub items: usize,
}

/// Records a call about to be made. The items it carries point at it (their
/// `last_call`): through [`lease`] for a batch's first call, through
/// `items` here for a retry or a half of a batch.
pub fn start_call(conn: &Connection, call: &NewCall<'_>, items: &[i64]) -> R<i64> {
    conn.prepare_cached(
        "INSERT INTO pump_calls (sweep_id, route, operation, url, message_id, started_at, items)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        call.sweep_id,
        call.route.as_str(),
        call.route.operation().name(),
        call.url,
        call.message_id,
        call.started_at,
        call.items as i64
    ])?;
    let call_id = conn.last_insert_rowid();
    if !items.is_empty() {
        conn.prepare_cached(
            "UPDATE outbox SET last_call = ?2 WHERE id IN (SELECT value FROM json_each(?1))",
        )?
        .execute(params![id_list(items), call_id])?;
    }
    Ok(call_id)
}

/// How a call ended.
#[derive(Debug, Clone)]
pub struct CallEnd<'a> {
    pub millis: u64,
    pub http_status: Option<u16>,
    /// `ok`, `partial`, `transient`, `fault`, `http_error`.
    pub outcome: &'a str,
    pub detail: &'a str,
    /// What Daffron answered, kept when it was not a clean success.
    pub answer: Option<&'a str>,
}

/// Records a call's end and what it said of each item (`(item, outcome,
/// reason)`; none for a call answered `ok`).
pub fn finish_call(
    conn: &Connection,
    call_id: i64,
    end: &CallEnd<'_>,
    items: &[(i64, &str, &str)],
) -> R<()> {
    conn.prepare_cached(
        "UPDATE pump_calls SET millis = ?2, http_status = ?3, outcome = ?4, detail = ?5,
            answer = ?6 WHERE id = ?1",
    )?
    .execute(params![
        call_id,
        end.millis as i64,
        end.http_status,
        end.outcome,
        end.detail,
        end.answer
    ])?;
    let mut st = conn.prepare_cached(
        "INSERT INTO pump_attempts (item_id, call_id, position, outcome, reason)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (position, (id, outcome, reason)) in items.iter().enumerate() {
        st.execute(params![id, call_id, position as i64, outcome, reason])?;
    }
    Ok(())
}

/// Moves an item to `state` with its reason. `next_attempt_at` matters for
/// `retrying` only.
pub fn settle(
    conn: &Connection,
    id: i64,
    state: ItemState,
    reason: &str,
    next_attempt_at: i64,
    now: &str,
) -> R<()> {
    let settled = (!state.is_open()).then_some(now);
    conn.prepare_cached(
        "UPDATE outbox SET state = ?2, reason = ?3, next_attempt_at = ?4, updated_at = ?5,
            settled_at = COALESCE(?6, settled_at) WHERE id = ?1",
    )?
    .execute(params![
        id,
        state.as_str(),
        reason,
        next_attempt_at,
        now,
        settled
    ])?;
    Ok(())
}

/// [`settle`] for many items that end the same way, in one statement.
pub fn settle_many(
    conn: &Connection,
    ids: &[i64],
    state: ItemState,
    reason: &str,
    next_attempt_at: i64,
    now: &str,
) -> R<()> {
    let settled = (!state.is_open()).then_some(now);
    conn.prepare_cached(
        "UPDATE outbox SET state = ?2, reason = ?3, next_attempt_at = ?4, updated_at = ?5,
            settled_at = COALESCE(?6, settled_at) WHERE id IN (SELECT value FROM json_each(?1))",
    )?
    .execute(params![
        id_list(ids),
        state.as_str(),
        reason,
        next_attempt_at,
        now,
        settled
    ])?;
    Ok(())
}

/// D9: what Daffron last confirmed for an account's paperless flag.
pub fn told(conn: &Connection, account: &str) -> R<Option<Told>> {
    conn.prepare_cached("SELECT enrolled, item_id, at FROM paperless_told WHERE account = ?1")?
        .query_row(params![account], |r| {
            Ok(Told {
                enrolled: r.get(0)?,
                item_id: r.get(1)?,
                at: r.get(2)?,
            })
        })
        .optional()
}

pub fn set_told(conn: &Connection, account: &str, enrolled: bool, item_id: i64, at: &str) -> R<()> {
    conn.prepare_cached(
        "INSERT INTO paperless_told (account, enrolled, item_id, at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account) DO UPDATE SET enrolled = ?2, item_id = ?3, at = ?4",
    )?
    .execute(params![account, enrolled, item_id, at])?;
    Ok(())
}

// ---- for people: list, show, replay, cancel ---------------------------------

/// An item as `outbox list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemRow {
    pub id: i64,
    pub kind: Kind,
    pub key: String,
    pub account: String,
    pub state: ItemState,
    pub reason: String,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<rust_decimal::Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee: Option<rust_decimal::Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_mode: Option<String>,
    /// RFC 3339, UTC: when it happened at InvoiceCloud.
    pub occurred_at: String,
    /// RFC 3339, UTC; `None` unless retrying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Which items to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub states: Vec<ItemState>,
    pub kinds: Vec<Kind>,
    pub account: Option<String>,
    pub limit: Option<usize>,
}

fn utc(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn item_row(r: &rusqlite::Row<'_>) -> R<ItemRow> {
    let kind: String = r.get(1)?;
    let state: String = r.get(4)?;
    let state = ItemState::parse(&state).unwrap_or(ItemState::Pending);
    let next: i64 = r.get(11)?;
    Ok(ItemRow {
        id: r.get(0)?,
        kind: Kind::parse(&kind).unwrap_or(Kind::Payment),
        key: r.get(2)?,
        account: r.get(3)?,
        state,
        reason: r.get(5)?,
        attempts: r.get(6)?,
        amount: r.get::<_, Option<i64>>(7)?.map(cents),
        fee: r.get::<_, Option<i64>>(8)?.map(cents),
        tender: r.get(9)?,
        payment_mode: r.get(10)?,
        next_attempt_at: (state == ItemState::Retrying).then(|| utc(next)),
        occurred_at: utc(r.get(12)?),
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
    })
}

/// Cents as a decimal amount.
pub fn cents(c: i64) -> rust_decimal::Decimal {
    rust_decimal::Decimal::new(c, 2)
}

const ROW_COLUMNS: &str = "id, kind, key, account, state, reason, attempts, amount_cents, fee_cents, tender, \
     payment_mode, next_attempt_at, occurred, created_at, updated_at";

impl Store {
    /// Items matching `f`, oldest first.
    pub fn outbox_list(&self, f: &Filter) -> Result<Vec<ItemRow>, StoreError> {
        let mut sql = format!("SELECT {ROW_COLUMNS} FROM outbox WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        if !f.states.is_empty() {
            let marks = vec!["?"; f.states.len()].join(", ");
            sql.push_str(&format!(" AND state IN ({marks})"));
            args.extend(f.states.iter().map(|s| s.as_str().to_string()));
        }
        if !f.kinds.is_empty() {
            let marks = vec!["?"; f.kinds.len()].join(", ");
            sql.push_str(&format!(" AND kind IN ({marks})"));
            args.extend(f.kinds.iter().map(|k| k.as_str().to_string()));
        }
        if let Some(a) = &f.account {
            sql.push_str(" AND account = ?");
            args.push(a.clone());
        }
        sql.push_str(" ORDER BY id");
        if let Some(n) = f.limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let conn = self.conn();
        let mut st = conn.prepare(&sql).map_err(|e| self.err(e))?;
        st.query_map(rusqlite::params_from_iter(args.iter()), item_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))
    }

    /// One item by id, or by its key (payment_guid or event_id).
    pub fn outbox_item(&self, id_or_key: &str) -> Result<Option<ItemRow>, StoreError> {
        let conn = self.conn();
        let by_id = id_or_key.parse::<i64>().ok();
        conn.query_row(
            &format!(
                "SELECT {ROW_COLUMNS} FROM outbox WHERE id = ?1 OR key = ?2 ORDER BY id LIMIT 1"
            ),
            params![by_id, id_or_key],
            item_row,
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Counts per kind and state, with the sum of amounts and fees.
    pub fn outbox_counts(&self) -> Result<Vec<StateCount>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT kind, state, COUNT(*), COALESCE(SUM(amount_cents), 0), COALESCE(SUM(fee_cents), 0)
                 FROM outbox GROUP BY kind, state",
            )
            .map_err(|e| self.err(e))?;
        let rows: Vec<(String, String, i64, i64, i64)> = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        let mut out: Vec<StateCount> = rows
            .into_iter()
            .filter_map(|(kind, state, n, a, f)| {
                Some(StateCount {
                    kind: Kind::parse(&kind)?,
                    state: ItemState::parse(&state)?,
                    count: n as u64,
                    amount: cents(a),
                    fee: cents(f),
                })
            })
            .collect();
        out.sort_by_key(|c| (c.kind, c.state));
        Ok(out)
    }

    /// Every call that carried an item, oldest first.
    pub fn outbox_attempts(&self, item_id: i64) -> Result<Vec<Attempt>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT c.id, c.sweep_id, c.operation, c.url, c.message_id, c.started_at, c.millis,
                        c.http_status, c.outcome, c.detail, c.answer, a.position, a.outcome, a.reason,
                        c.items
                 FROM pump_attempts a JOIN pump_calls c ON c.id = a.call_id
                 WHERE a.item_id = ?1
                 UNION ALL
                 SELECT c.id, c.sweep_id, c.operation, c.url, c.message_id, c.started_at, c.millis,
                        c.http_status, c.outcome, c.detail, c.answer, -1,
                        CASE WHEN c.outcome = 'ok' THEN 'accepted' END, '', c.items
                 FROM outbox o JOIN pump_calls c ON c.id = o.last_call
                 WHERE o.id = ?1 AND NOT EXISTS
                   (SELECT 1 FROM pump_attempts a WHERE a.item_id = o.id AND a.call_id = o.last_call)
                 ORDER BY 1",
            )
            .map_err(|e| self.err(e))?;
        st.query_map(params![item_id], |r| {
            Ok(Attempt {
                call_id: r.get(0)?,
                sweep_id: r.get(1)?,
                operation: r.get(2)?,
                url: r.get(3)?,
                message_id: r.get(4)?,
                at: r.get(5)?,
                millis: r.get(6)?,
                http_status: r.get(7)?,
                call_outcome: r.get(8)?,
                call_detail: r.get(9)?,
                answer: r.get(10)?,
                position: r.get(11)?,
                outcome: r.get(12)?,
                reason: r.get(13)?,
                items_in_call: r.get(14)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// The payload an item was (or will be) sent with.
    pub fn outbox_wire(&self, item_id: i64) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT wire FROM outbox_payloads WHERE item_id = ?1",
                params![item_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// What people did to an item.
    pub fn outbox_actions(&self, item_id: i64) -> Result<Vec<Action>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT action, from_state, by, reason, at FROM outbox_actions WHERE item_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        st.query_map(params![item_id], |r| {
            Ok(Action {
                action: r.get(0)?,
                from_state: r.get(1)?,
                by: r.get(2)?,
                reason: r.get(3)?,
                at: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// A person puts a dead or rejected item back (a fresh attempt budget),
    /// or retires an open or failed one for good; recorded with who and why.
    /// Returns the state it left, or `Err(message)` when the action does not
    /// apply to its state.
    pub fn outbox_act(
        &mut self,
        item_id: i64,
        action: PersonAction,
        by: &str,
        reason: &str,
    ) -> Result<Result<ItemState, String>, StoreError> {
        let now = super::now_rfc3339();
        let err = crate::store::err_for(self.path());
        let tx = self.conn_mut().transaction().map_err(&err)?;
        let row: Option<(String, i64)> = tx
            .query_row(
                "SELECT state, (SELECT COUNT(*) FROM pump_attempts a WHERE a.item_id = o.id)
                 FROM outbox o WHERE id = ?1",
                params![item_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&err)?;
        let Some((state, calls)) = row else {
            return Ok(Err(format!("no outbox item {item_id}")));
        };
        let from = ItemState::parse(&state).unwrap_or(ItemState::Pending);
        let (to, name) = match action {
            PersonAction::Replay => {
                if !matches!(from, ItemState::Dead | ItemState::Rejected) {
                    return Ok(Err(format!(
                        "item {item_id} is {}; only dead or rejected items are replayed",
                        from.as_str()
                    )));
                }
                if from == ItemState::Rejected && calls == 0 {
                    return Ok(Err(format!(
                        "item {item_id} was refused by a rule when it was taken in, not by Daffron; \
                         a replay would be refused again: fix the export row and ingest it under a new key"
                    )));
                }
                (ItemState::Pending, "replay")
            }
            PersonAction::Cancel => {
                if from == ItemState::InFlight {
                    return Ok(Err(format!(
                        "item {item_id} is in flight: a call may have carried it to Daffron; \
                         run `sweep` first, then decide"
                    )));
                }
                if from.is_posted() || from == ItemState::Cancelled {
                    return Ok(Err(format!(
                        "item {item_id} is {}; there is nothing to cancel",
                        from.as_str()
                    )));
                }
                (ItemState::Cancelled, "cancel")
            }
        };
        tx.execute(
            "UPDATE outbox SET state = ?2, reason = ?3, attempts = CASE WHEN ?2 = 'pending' THEN 0 ELSE attempts END,
                next_attempt_at = 0, updated_at = ?4,
                settled_at = CASE WHEN ?2 = 'pending' THEN NULL ELSE ?4 END
             WHERE id = ?1",
            params![
                item_id,
                to.as_str(),
                format!("{name} by {by}: {reason}"),
                now
            ],
        )
        .map_err(&err)?;
        tx.execute(
            "INSERT INTO outbox_actions (item_id, action, from_state, by, reason, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![item_id, name, from.as_str(), by, reason, now],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(Ok(from))
    }
}

/// `replay` or `cancel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonAction {
    Replay,
    Cancel,
}

/// Items of one kind in one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateCount {
    pub kind: Kind,
    pub state: ItemState,
    pub count: u64,
    /// Sum of amounts (payments, scheduled payments).
    pub amount: rust_decimal::Decimal,
    /// Sum of fees (payments): never sent to Daffron.
    pub fee: rust_decimal::Decimal,
}

/// One call that carried an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub call_id: i64,
    pub sweep_id: i64,
    pub operation: String,
    pub url: String,
    pub message_id: String,
    pub at: String,
    pub millis: Option<i64>,
    pub http_status: Option<u16>,
    pub call_outcome: Option<String>,
    pub call_detail: String,
    pub answer: Option<String>,
    /// The item's place in the call (0-based); -1 when not recorded (a
    /// call answered `ok`, or never answered).
    pub position: i64,
    /// `None`: the call's answer was never recorded (a killed sweep).
    pub outcome: Option<String>,
    pub reason: String,
    pub items_in_call: i64,
}

/// A person's action on an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub action: String,
    pub from_state: String,
    pub by: String,
    pub reason: String,
    pub at: String,
}

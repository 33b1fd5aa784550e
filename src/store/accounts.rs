//! The account directory: every account of every accepted BIF file, with its
//! location (Custom4), customer details and latest invoice, and a change log
//! per file for the report.
//!
//! Why it exists: the data pump must send `serviceLocationID` with autopay
//! and scheduled-payment comments (D10, seed: "location must be sent"), and
//! the payment exports do not carry it; the latest invoice's Custom4 does.
//!
//! Decisions:
//! - *Latest wins.* A row is replaced only by an invoice whose date is the
//!   same or later than the one it holds, so a late re-run of an old file
//!   does not roll an account back. Within one file, an account's latest
//!   invoice (then its last line) stands for it.
//! - *Accounts gone are never deleted.* A billing-cycle file need not list
//!   every account (cycles bill different routes on different days), so an
//!   account of the directory missing from a file is only logged as `absent`
//!   in that file's change log; its row stays for the pump.

use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashSet};

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::{Store, StoreError, now_rfc3339};
use crate::bif::invoice::Invoice;

/// What changed for one account in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// First seen in this file.
    New,
    /// In the directory but not in this file (kept; see the module doc).
    Absent,
    Name,
    /// Address lines, city, state or zip.
    Address,
    Phone,
    Email,
    /// Custom4, the service location.
    Location,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::New => "new",
            ChangeKind::Absent => "absent",
            ChangeKind::Name => "name",
            ChangeKind::Address => "address",
            ChangeKind::Phone => "phone",
            ChangeKind::Email => "email",
            ChangeKind::Location => "location",
        }
    }

    fn parse(s: &str) -> Option<ChangeKind> {
        Some(match s {
            "new" => ChangeKind::New,
            "absent" => ChangeKind::Absent,
            "name" => ChangeKind::Name,
            "address" => ChangeKind::Address,
            "phone" => ChangeKind::Phone,
            "email" => ChangeKind::Email,
            "location" => ChangeKind::Location,
            _ => return None,
        })
    }
}

/// One line of a change log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountChange {
    /// base-sub.
    pub account: String,
    pub kind: ChangeKind,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// What one file changed in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ChangeLog {
    pub changes: Vec<AccountChange>,
}

impl ChangeLog {
    /// How many changes of this kind.
    pub fn count(&self, kind: ChangeKind) -> usize {
        self.changes.iter().filter(|c| c.kind == kind).count()
    }

    /// Counts by kind, for one-line summaries.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for c in &self.changes {
            *m.entry(c.kind.as_str()).or_insert(0) += 1;
        }
        m
    }
}

/// A directory row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRow {
    /// base-sub, `35909-001`.
    pub account: String,
    /// base+sub, the MultiSpeak account id (D2).
    pub ms_id: String,
    pub base: String,
    pub sub: String,
    /// Custom4 of the latest invoice: the serviceLocationID (D10).
    pub location: String,
    pub name: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub phone: String,
    pub email: String,
    pub invoice_number: String,
    /// YYYY-MM-DD.
    pub invoice_date: String,
    /// The file the row comes from.
    pub source_file: String,
    pub first_seen: String,
    pub updated_at: String,
}

impl AccountRow {
    fn address(&self) -> String {
        join_address(
            &self.address1,
            &self.address2,
            &self.city,
            &self.state,
            &self.zip,
        )
    }
}

fn join_address(a1: &str, a2: &str, city: &str, state: &str, zip: &str) -> String {
    let mut parts: Vec<&str> = [a1, a2, city]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let tail = format!("{state} {zip}");
    let tail = tail.trim();
    if !tail.is_empty() {
        parts.push(tail);
    }
    parts.join(", ")
}

const COLUMNS: &str = "a.account, a.ms_id, a.base, a.sub, a.location, a.name, a.address1, \
    a.address2, a.city, a.state, a.zip, a.phone, a.email, a.invoice_number, a.invoice_date, \
    f.name, a.first_seen, a.updated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        account: r.get(0)?,
        ms_id: r.get(1)?,
        base: r.get(2)?,
        sub: r.get(3)?,
        location: r.get(4)?,
        name: r.get(5)?,
        address1: r.get(6)?,
        address2: r.get(7)?,
        city: r.get(8)?,
        state: r.get(9)?,
        zip: r.get(10)?,
        phone: r.get(11)?,
        email: r.get(12)?,
        invoice_number: r.get(13)?,
        invoice_date: r.get(14)?,
        source_file: r.get(15)?,
        first_seen: r.get(16)?,
        updated_at: r.get(17)?,
    })
}

fn select(tx: &rusqlite::Connection, account: &str) -> rusqlite::Result<Option<AccountRow>> {
    tx.query_row(
        &format!(
            "SELECT {COLUMNS} FROM accounts a JOIN taken_files f ON f.id = a.source_file_id
             WHERE a.account = ?1"
        ),
        params![account],
        row,
    )
    .optional()
}

/// The account's base and sub: Custom2 and Custom3 where the IH has them,
/// else the two halves of the CR AccountNumber.
fn base_sub(inv: &Invoice) -> (String, String) {
    let acct = &inv.customer.account_number;
    let (b, s) = acct.split_once('-').unwrap_or((acct.as_str(), ""));
    let base = if inv.custom2.is_empty() {
        b
    } else {
        &inv.custom2
    };
    let sub = if inv.custom3.is_empty() {
        s
    } else {
        &inv.custom3
    };
    (base.to_string(), sub.to_string())
}

/// Feeds the invoices of the accepted file `file_id` to the directory inside
/// `tx` and records and returns the change log.
pub(crate) fn upsert(
    tx: &Transaction<'_>,
    file_id: i64,
    _file_name: &str,
    invoices: &[Invoice],
) -> rusqlite::Result<ChangeLog> {
    // The latest invoice of each account in this file.
    let mut latest: BTreeMap<&str, &Invoice> = BTreeMap::new();
    for inv in invoices {
        let key = inv.customer.account_number.as_str();
        if key.is_empty() {
            continue;
        }
        match latest.get(key) {
            Some(prev) if (prev.invoice_date, prev.line) > (inv.invoice_date, inv.line) => {}
            _ => {
                latest.insert(key, inv);
            }
        }
    }

    // What the account owes by this file: the TotalAmountDue of all its
    // invoices of the latest date (a file may bill one account twice).
    let mut due: BTreeMap<&str, Decimal> = BTreeMap::new();
    for inv in invoices {
        let key = inv.customer.account_number.as_str();
        if latest
            .get(key)
            .is_some_and(|l| l.invoice_date == inv.invoice_date)
        {
            let sum = due.entry(key).or_default();
            *sum = sum.checked_add(inv.total_amount_due).unwrap_or(*sum);
        }
    }

    let now = now_rfc3339();
    let mut log = ChangeLog::default();
    for (account, inv) in &latest {
        let c = &inv.customer;
        let (base, sub) = base_sub(inv);
        let date = inv.invoice_date.format("%Y-%m-%d").to_string();
        let old = select(tx, account)?;
        if let Some(old) = &old {
            if old.invoice_date > date {
                // An older invoice than the one the directory holds.
                continue;
            }
            let mut diff = |kind, was: String, now: String| {
                if was != now {
                    log.changes.push(AccountChange {
                        account: account.to_string(),
                        kind,
                        old: Some(was),
                        new: Some(now),
                    });
                }
            };
            diff(ChangeKind::Name, old.name.clone(), c.name.clone());
            diff(
                ChangeKind::Address,
                old.address(),
                join_address(&c.address1, &c.address2, &c.city, &c.state, &c.zip),
            );
            diff(ChangeKind::Phone, old.phone.clone(), c.phone.clone());
            diff(ChangeKind::Email, old.email.clone(), c.email.clone());
            diff(
                ChangeKind::Location,
                old.location.clone(),
                inv.custom4.clone(),
            );
        } else {
            log.changes.push(AccountChange {
                account: account.to_string(),
                kind: ChangeKind::New,
                old: None,
                new: Some(c.name.clone()),
            });
        }
        tx.execute(
            "INSERT INTO accounts (account, ms_id, base, sub, location, name, address1, address2,
                 city, state, zip, phone, email, invoice_number, invoice_date, source_file_id,
                 first_seen, updated_at, amount_due)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?17, ?18)
             ON CONFLICT (account) DO UPDATE SET
                 ms_id = excluded.ms_id, base = excluded.base, sub = excluded.sub,
                 location = excluded.location, name = excluded.name,
                 address1 = excluded.address1, address2 = excluded.address2,
                 city = excluded.city, state = excluded.state, zip = excluded.zip,
                 phone = excluded.phone, email = excluded.email,
                 invoice_number = excluded.invoice_number, invoice_date = excluded.invoice_date,
                 source_file_id = excluded.source_file_id, updated_at = excluded.updated_at,
                 amount_due = excluded.amount_due",
            params![
                account,
                inv.multispeak_account(),
                base,
                sub,
                inv.custom4,
                c.name,
                c.address1,
                c.address2,
                c.city,
                c.state,
                c.zip,
                c.phone,
                c.email,
                inv.invoice_number,
                date,
                file_id,
                now,
                due.get(account).copied().unwrap_or(inv.total_amount_due).to_string(),
            ],
        )?;
    }

    // Accounts gone: logged, never deleted.
    let present: HashSet<&str> = latest.keys().copied().collect();
    {
        let mut stmt = tx.prepare("SELECT account FROM accounts ORDER BY account")?;
        let all = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for a in all {
            let a = a?;
            if !present.contains(a.as_str()) {
                log.changes.push(AccountChange {
                    account: a,
                    kind: ChangeKind::Absent,
                    old: None,
                    new: None,
                });
            }
        }
    }

    let mut ins = tx.prepare(
        "INSERT INTO account_changes (file_id, account, kind, old_value, new_value)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for c in &log.changes {
        ins.execute(params![file_id, c.account, c.kind.as_str(), c.old, c.new])?;
    }
    Ok(log)
}

impl Store {
    /// Feeds the invoices of the already recorded file `file_id` to the
    /// directory, in one transaction. Intake uses [`Store::take_file`], which
    /// records the file and its accounts together.
    pub fn upsert_accounts(
        &mut self,
        file_id: i64,
        invoices: &[Invoice],
    ) -> Result<ChangeLog, StoreError> {
        let path = self.path().to_path_buf();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn_mut().transaction().map_err(err)?;
        let name: String = tx
            .query_row(
                "SELECT name FROM taken_files WHERE id = ?1",
                params![file_id],
                |r| r.get(0),
            )
            .map_err(err)?;
        let log = upsert(&tx, file_id, &name, invoices).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(log)
    }

    /// An account by base-sub (`35909-001`) or by its MultiSpeak id
    /// (`35909001`, D2).
    pub fn account(&self, account: &str) -> Result<Option<AccountRow>, StoreError> {
        let found = select(self.conn(), account).map_err(|e| self.err(e))?;
        if found.is_some() || account.contains('-') {
            return Ok(found);
        }
        self.conn()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM accounts a JOIN taken_files f ON f.id = a.source_file_id
                     WHERE a.ms_id = ?1 ORDER BY a.account LIMIT 1"
                ),
                params![account],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The service location (Custom4 of the latest invoice) of an account,
    /// when the directory knows it and it is not empty (D10).
    pub fn location_for(&self, account: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .account(account)?
            .map(|a| a.location)
            .filter(|l| !l.is_empty()))
    }

    /// How many accounts the directory holds.
    pub fn account_count(&self) -> Result<u64, StoreError> {
        self.conn()
            .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| self.err(e))
    }

    /// The change log recorded for a file.
    pub fn change_log(&self, file_id: i64) -> Result<ChangeLog, StoreError> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT account, kind, old_value, new_value FROM account_changes
                 WHERE file_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![file_id], |r| {
                let kind: String = r.get(1)?;
                Ok(AccountChange {
                    account: r.get(0)?,
                    kind: ChangeKind::parse(&kind).ok_or_else(|| {
                        rusqlite::Error::FromSqlConversionFailure(
                            1,
                            rusqlite::types::Type::Text,
                            format!("unknown change kind `{kind}`").into(),
                        )
                    })?,
                    old: r.get(2)?,
                    new: r.get(3)?,
                })
            })
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(ChangeLog { changes: rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bif::invoice::{Customer, read_invoices};
    use crate::bif::layout::Layout;
    use crate::store::files::{FileVerdict, TakenFile};
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    fn inv(acct: &str, loc: &str, date: (i32, u32, u32), email: &str, no: &str) -> Invoice {
        let (b, s) = acct.split_once('-').unwrap();
        Invoice {
            line: 2,
            invoice_number: no.into(),
            invoice_date: NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
            due_date: NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
            total_amount_due: Decimal::new(100, 0),
            custom2: b.into(),
            custom3: s.into(),
            custom4: loc.into(),
            custom9: String::new(),
            custom10: format!("{b}-{no}"),
            past_due: None,
            invoice_type: String::new(),
            customer: Customer {
                account_number: acct.into(),
                name: "JANE DOE".into(),
                address1: "12 MAIN ST".into(),
                city: "LOWELL".into(),
                state: "MI".into(),
                zip: "49331".into(),
                phone: "6165550100".into(),
                email: email.into(),
                ..Customer::default()
            },
            details: vec![],
        }
    }

    fn take(s: &mut Store, name: &str, invoices: &[Invoice]) -> (i64, ChangeLog) {
        let f = TakenFile {
            name: name.into(),
            sha256: format!("sha-{name}"),
            size: 1,
            mtime: None,
            source: "test".into(),
            verdict: FileVerdict::Accepted,
            local_path: name.into(),
            figures: Default::default(),
        };
        let (id, log) = s.take_file(&f, Some(invoices)).unwrap();
        (id, log.unwrap())
    }

    #[test]
    fn directory_records_new_changed_and_absent_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let (_, log) = take(
            &mut s,
            "2661_11012026.BIF",
            &[
                inv("35909-001", "3210450", (2026, 11, 1), "a@x.com", "1"),
                inv("35910-002", "3210451", (2026, 11, 1), "b@x.com", "2"),
            ],
        );
        assert_eq!(log.count(ChangeKind::New), 2);
        assert_eq!(log.changes.len(), 2);
        assert_eq!(s.account_count().unwrap(), 2);
        assert_eq!(
            s.location_for("35909-001").unwrap().as_deref(),
            Some("3210450")
        );
        // By MultiSpeak id too (D2).
        assert_eq!(
            s.location_for("35909001").unwrap().as_deref(),
            Some("3210450")
        );
        assert_eq!(s.location_for("99999-001").unwrap(), None);

        let (id2, log) = take(
            &mut s,
            "2661_12012026.BIF",
            &[inv("35909-001", "3210999", (2026, 12, 1), "new@x.com", "7")],
        );
        assert_eq!(log.count(ChangeKind::Email), 1);
        assert_eq!(log.count(ChangeKind::Location), 1);
        assert_eq!(log.count(ChangeKind::Absent), 1);
        assert_eq!(log.count(ChangeKind::New), 0);
        let absent = log
            .changes
            .iter()
            .find(|c| c.kind == ChangeKind::Absent)
            .unwrap();
        assert_eq!(absent.account, "35910-002");
        // Absent accounts stay in the directory.
        assert_eq!(s.account_count().unwrap(), 2);
        let a = s.account("35909-001").unwrap().unwrap();
        assert_eq!(a.email, "new@x.com");
        assert_eq!(a.invoice_number, "7");
        assert_eq!(a.invoice_date, "2026-12-01");
        assert_eq!(a.source_file, "2661_12012026.BIF");
        assert_eq!(s.change_log(id2).unwrap(), log);
    }

    #[test]
    fn an_older_invoice_does_not_roll_the_directory_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        take(
            &mut s,
            "2661_12012026.BIF",
            &[inv("35909-001", "NEW", (2026, 12, 1), "new@x.com", "7")],
        );
        let (_, log) = take(
            &mut s,
            "2661_11012026.BIF",
            &[inv("35909-001", "OLD", (2026, 11, 1), "old@x.com", "1")],
        );
        assert!(log.changes.is_empty(), "{log:?}");
        assert_eq!(s.location_for("35909-001").unwrap().as_deref(), Some("NEW"));
    }

    #[test]
    fn within_a_file_the_latest_invoice_of_an_account_stands() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let mut late = inv("35909-001", "LATE", (2026, 12, 1), "x@x.com", "9");
        late.line = 2;
        let mut early = inv("35909-001", "EARLY", (2026, 11, 1), "x@x.com", "8");
        early.line = 5;
        take(&mut s, "2661_12012026.BIF", &[late, early]);
        assert_eq!(
            s.location_for("35909-001").unwrap().as_deref(),
            Some("LATE")
        );
    }

    #[test]
    fn upsert_accounts_works_on_a_recorded_file_and_reads_real_bif() {
        let bif = "FH|3F358D04-4273-4551-BB14-B9F719EC0A61|11/26/2026|1|100.00\n\
IH|R|00000000-0000-0000-0000-000000000000|1001|11/20/2026|12/10/2026|100.00|35909|001|3210450||35909-1001\n\
CR|35909-001|JANE DOE|12 MAIN ST||LOWELL|MI|49331|616-555-0100|jane@example.com\n";
        let invoices = read_invoices(bif.as_bytes(), &Layout::embedded()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let id = s
            .record_taken_file(&TakenFile {
                name: "2661_11262026.BIF".into(),
                sha256: "aa".into(),
                size: bif.len() as u64,
                mtime: None,
                source: "test".into(),
                verdict: FileVerdict::Accepted,
                local_path: "x".into(),
                figures: Default::default(),
            })
            .unwrap();
        let log = s.upsert_accounts(id, &invoices).unwrap();
        assert_eq!(log.count(ChangeKind::New), 1);
        let a = s.account("35909-001").unwrap().unwrap();
        assert_eq!(
            (a.base.as_str(), a.sub.as_str(), a.ms_id.as_str()),
            ("35909", "001", "35909001")
        );
        assert_eq!(a.address(), "12 MAIN ST, LOWELL, MI 49331");
        assert!(s.upsert_accounts(id + 100, &invoices).is_err());
    }
}

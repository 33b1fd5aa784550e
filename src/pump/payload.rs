//! An item's payload: the XML element the sweep sends for it, built from
//! its export record by the seed's rules when it is first leased, then
//! frozen (stored with the item and never rebuilt), so a resend after a
//! crash or a lost answer is the same bytes: the same transactionId (D4,
//! D15) and the same logTime (D8).
//!
//! Building it at the first lease instead of at ingest keeps the nightly
//! ingest of large exports to what must be decided then (whether an item is
//! sent at all) and stores each payload once.

use rusqlite::Connection;

use super::exports::{EventAction, EventRow, PaymentRow};
use super::ingest::{comment_text, comment_wire, directory_location, payment_item};
use super::rules::{Decision, RuleSettings, paperless, payment};
use super::{ItemState, Kind};
use crate::multispeak::{PaymentTransaction, TenderKind, request};
use crate::store::outbox::{DueItem, NewItem};

/// The payload of an item, or why it cannot have one now (its record is
/// unreadable, or a rule refuses it under the current settings).
pub fn build(conn: &Connection, item: &DueItem, s: &RuleSettings) -> Result<String, String> {
    match item.kind {
        Kind::Payment => decided_payment(&Decided::of_due(item), s),
        Kind::Paperless | Kind::Autopay | Kind::Scheduled => {
            let row: EventRow = serde_json::from_str(&item.record)
                .map_err(|e| format!("the stored event record cannot be read: {e}"))?;
            let dir = if row.service_location_id.is_some() {
                None
            } else {
                directory_location(conn, &row.account).map_err(|e| e.to_string())?
            };
            event(&row, s, dir.as_deref())
        }
    }
}

/// A payment's fields as decided at ingest (D2-D4, D6, D7) and kept in
/// the outbox's columns: what its payload is built from.
struct Decided<'a> {
    tender: Option<&'a str>,
    amount_cents: Option<i64>,
    transaction_id: &'a str,
    account_id: &'a str,
    authorization_code: Option<&'a str>,
    payment_mode: Option<&'a str>,
    biller_reference: Option<&'a str>,
}

impl<'a> Decided<'a> {
    fn of_due(i: &'a DueItem) -> Decided<'a> {
        Decided {
            tender: i.tender.as_deref(),
            amount_cents: i.amount_cents,
            transaction_id: &i.match_key,
            account_id: &i.ms_id,
            authorization_code: i.auth_code.as_deref(),
            payment_mode: i.payment_mode.as_deref(),
            biller_reference: i.biller_ref.as_deref(),
        }
    }

    fn of_new(i: &'a NewItem) -> Decided<'a> {
        Decided {
            tender: i.tender,
            amount_cents: i.amount_cents,
            transaction_id: &i.match_key,
            account_id: &i.ms_id,
            authorization_code: i.auth_code.as_deref(),
            payment_mode: i.payment_mode.as_deref(),
            biller_reference: i.biller_ref.as_deref(),
        }
    }
}

/// A payment's `paymentTransaction` from the fields decided at ingest
/// (D2-D4, D6, D7), its amount written per setting 35 (D1).
fn decided_payment(d: &Decided<'_>, s: &RuleSettings) -> Result<String, String> {
    let tender = d
        .tender
        .and_then(|t| TenderKind::ALL.into_iter().find(|k| k.code() == t))
        .ok_or("the payment has no tender")?;
    let cents = d.amount_cents.ok_or("the payment has no amount")?;
    if d.transaction_id.is_empty() {
        return Err("the payment has no transactionId (D4)".into());
    }
    let t = PaymentTransaction {
        account_number: d.account_id.to_string(),
        tender,
        amount: rust_decimal::Decimal::new(cents, 2),
        authorization_code: d.authorization_code.unwrap_or_default().to_string(),
        payment_mode: d.payment_mode.unwrap_or_default().to_string(),
        transaction_id: d.transaction_id.to_string(),
        biller_reference: d.biller_reference.map(str::to_string),
    };
    Ok(payment::wire(&t, s.service_version))
}

/// A payment's `paymentTransaction` from its export row, the way the sweep
/// builds it: the row's outbox item decided at ingest (D2-D4, D6, D7, D11,
/// D12), then its payload from those columns (D1). `Err` with why when the
/// rules skip or refuse it.
pub fn payment(row: &PaymentRow, s: &RuleSettings) -> Result<String, String> {
    let item = payment_item(row, s);
    if item.state != ItemState::Pending {
        return Err(item.reason);
    }
    decided_payment(&Decided::of_new(&item), s)
}

/// An event's `customer` (paperless) or `historyComment` (autopay,
/// scheduled: D8, D10), the account's location coming from the event or
/// else `directory_location`.
pub fn event(
    row: &EventRow,
    s: &RuleSettings,
    directory_location: Option<&str>,
) -> Result<String, String> {
    if let EventAction::Paperless { enroll } = row.action {
        return paperless::item(&row.account, enroll)
            .map(|c| request::paperless_item(&c))
            .ok_or_else(|| format!("account `{}` is not base-sub", row.account));
    }
    let text = match comment_text(row, s) {
        Decision::Send(t) => t,
        Decision::Skip(why) | Decision::Reject(why) | Decision::Hold(why) => return Err(why),
    };
    comment_wire(row, s, &text, directory_location).ok_or_else(super::rules::autopay::held_reason)
}

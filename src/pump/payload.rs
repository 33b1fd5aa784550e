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

use super::Kind;
use super::exports::{EventAction, EventRow, PaymentRow};
use super::ingest::{comment_text, comment_wire, directory_location};
use super::rules::{Decision, RuleSettings, paperless, payment};
use crate::multispeak::{PaymentTransaction, TenderKind, request};
use crate::store::outbox::DueItem;

/// The payload of an item, or why it cannot have one now (its record is
/// unreadable, or a rule refuses it under the current settings).
pub fn build(conn: &Connection, item: &DueItem, s: &RuleSettings) -> Result<String, String> {
    match item.kind {
        Kind::Payment => decided_payment(item, s),
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

/// A payment's `paymentTransaction` from the fields decided at ingest
/// (D2-D4, D6, D7), its amount written per setting 35 (D1).
fn decided_payment(item: &DueItem, s: &RuleSettings) -> Result<String, String> {
    let tender = item
        .tender
        .as_deref()
        .and_then(|t| TenderKind::ALL.into_iter().find(|k| k.code() == t))
        .ok_or("the payment has no tender")?;
    let cents = item.amount_cents.ok_or("the payment has no amount")?;
    if item.match_key.is_empty() {
        return Err("the payment has no transactionId (D4)".into());
    }
    let t = PaymentTransaction {
        account_number: item.ms_id.clone(),
        tender,
        amount: rust_decimal::Decimal::new(cents, 2),
        authorization_code: item.auth_code.clone().unwrap_or_default(),
        payment_mode: item.payment_mode.clone().unwrap_or_default(),
        transaction_id: item.match_key.clone(),
        biller_reference: item.biller_ref.clone(),
    };
    Ok(payment::wire(&t, s.service_version))
}

/// A payment's `paymentTransaction` (D1-D7) from its export row.
pub fn payment(row: &PaymentRow, s: &RuleSettings) -> Result<String, String> {
    match payment::transaction(row, s) {
        Decision::Send(t) => Ok(payment::wire(&t, s.service_version)),
        Decision::Skip(why) | Decision::Reject(why) | Decision::Hold(why) => Err(why),
    }
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

//! Payments → CommitPaymentTransaction: D2-D4, D6, D7, D11, D12 (D1 applies
//! when the payload is written, [`crate::multispeak::amount`]).

use crate::config::ServiceVersion;
use crate::multispeak::{self, PaymentTransaction, TenderKind};
use crate::pump::exports::PaymentRow;

use super::{Decision, RuleSettings};

/// Daffron's authorizationCode field holds at most 50 characters (D4).
pub const MAX_AUTHORIZATION_CODE_CHARS: usize = 50;

/// D11: where setting 131 `SkipDonationTypes` is set, a payment of a
/// `Donation` invoice is recorded as skipped, not posted (INT-8007, BID
/// 2495). The invoice type is matched without regard to case.
pub fn skip_donation(row: &PaymentRow, s: &RuleSettings) -> Option<String> {
    let donation = row
        .invoice_type
        .as_deref()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("donation"));
    (s.skip_donation_types && donation).then(|| {
        "a Donation payment; setting 131 Daffron.DataPumpConfigs.SkipDonationTypes keeps it from Daffron (D11)".to_string()
    })
}

/// D3: the paymentMode of setting 64 (cards) or 65 (ACH and eCheck) for the
/// payment's InvoiceCloud source id; a source with no entry, and cash, get
/// `[pump] default_payment_mode` (`OBD` since the 2023-03-02 change).
pub fn payment_mode(tender: TenderKind, payment_source_id: u32, s: &RuleSettings) -> String {
    let map = match tender {
        TenderKind::CreditCard => Some(&s.cc_modes),
        TenderKind::Ach | TenderKind::ECheck => Some(&s.ach_modes),
        TenderKind::Cash => None,
    };
    map.and_then(|m| m.get(payment_source_id))
        .unwrap_or(&s.default_payment_mode)
        .to_string()
}

/// D4: the authorizationCode is the processor's approval code cut to 50
/// characters (characters, not bytes: a cut never splits one). ITG-3305
/// undid ITG-3014's GUID suffix here.
pub fn authorization_code(auth_code: &str) -> String {
    if auth_code.len() <= MAX_AUTHORIZATION_CODE_CHARS {
        return auth_code.to_string(); // no more characters than bytes
    }
    match auth_code.char_indices().nth(MAX_AUTHORIZATION_CODE_CHARS) {
        Some((cut, _)) => auth_code[..cut].to_string(),
        None => auth_code.to_string(),
    }
}

/// D4: the `transactionId` extension, by which Milsoft detects a payment
/// sent twice (D15): the full approval code, or the PaymentGUID where
/// setting 131 has `UsePaymentGuidAsTransactionId` (ITG-3305). `None` when
/// it would be empty: such a payment could not be told apart from a resend.
pub fn transaction_id(row: &PaymentRow, s: &RuleSettings) -> Option<String> {
    let id = if s.use_payment_guid_as_transaction_id {
        row.payment_guid.trim()
    } else {
        row.auth_code.trim()
    };
    (!id.is_empty()).then(|| id.to_string())
}

/// D6: a kiosk payment carries the `billerReference` extension with the
/// kiosk id (Dynatouch).
pub fn biller_reference(row: &PaymentRow) -> Option<String> {
    row.kiosk_id.clone().filter(|k| !k.trim().is_empty())
}

/// D12: payments of one grouped autopay charge (the same Custom10 group_key
/// and paid_at) go to Daffron in one CommitPaymentTransaction call, one
/// paymentTransaction each. Only for billers with `autopay_grouping`
/// (EBPP-8383); for the others a group_key is kept for the report only.
pub fn batch_group(row: &PaymentRow, s: &RuleSettings) -> Option<String> {
    if !s.autopay_grouping {
        return None;
    }
    row.group_key
        .as_deref()
        .filter(|g| !g.trim().is_empty())
        .map(|g| format!("{}|{}", g.trim(), row.paid_at.to_rfc3339()))
}

/// D7 and the rest: the paymentTransaction for a row, or why it is not
/// sent. The tender goes in its own container element (`CC`
/// creditCardPayment, `ACH` achPayment, `ECHECK` eCheckPayment, `CASH`
/// cashPayment) and the amount is the payment only, never the fee.
pub fn transaction(row: &PaymentRow, s: &RuleSettings) -> Decision<PaymentTransaction> {
    if let Some(why) = skip_donation(row, s) {
        return Decision::Skip(why);
    }
    let Some(account_number) = multispeak::account_id(&row.account) else {
        return Decision::Reject(format!("account `{}` is not base-sub", row.account));
    };
    let Some(transaction_id) = transaction_id(row, s) else {
        return Decision::Reject(
            "the transactionId would be empty: the payment has no auth_code and setting 131 \
             Daffron.DataPumpConfigs.UsePaymentGuidAsTransactionId is not set, so Daffron could \
             not tell a resend from a new payment (D4)"
                .into(),
        );
    };
    let tender = row.tender.0;
    Decision::Send(PaymentTransaction {
        account_number,
        tender,
        amount: row.amount,
        authorization_code: authorization_code(&row.auth_code),
        payment_mode: payment_mode(tender, row.payment_source_id, s),
        transaction_id,
        biller_reference: biller_reference(row),
    })
}

/// The payload as sent: [`transaction`] written per setting 35 (D1).
pub fn wire(t: &PaymentTransaction, version: ServiceVersion) -> String {
    multispeak::request::payment_item(t, version)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::PaymentModeMap;
    use crate::pump::exports::TenderCode;
    use chrono::DateTime;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    pub(crate) fn settings() -> RuleSettings {
        RuleSettings {
            service_version: ServiceVersion::V2,
            cc_modes: PaymentModeMap::parse("0(WEB)|2(CSRWEB)|8(POS)").unwrap(),
            ach_modes: PaymentModeMap::parse("0(EFT)|2(CSREFT)").unwrap(),
            default_payment_mode: "OBD".into(),
            skip_donation_types: true,
            use_payment_guid_as_transaction_id: true,
            scheduled_payments: true,
            autopay_grouping: true,
            timezone: chrono_tz::America::Chicago,
        }
    }

    pub(crate) fn row() -> PaymentRow {
        PaymentRow {
            payment_guid: "e4deba7f-86e7-4850-8226-d6a2fbfb0ab6".into(),
            account: "35909-001".into(),
            invoice_number: "1000000259773".into(),
            invoice_type: None,
            tender: TenderCode(TenderKind::CreditCard),
            amount: Decimal::from_str("232.10").unwrap(),
            fee: Decimal::from_str("2.95").unwrap(),
            auth_code: "A01 - Approved (EXACT MATCH)".into(),
            payment_source_id: 0,
            kiosk_id: None,
            group_key: None,
            paid_at: DateTime::parse_from_rfc3339("2026-11-27T14:03:00-06:00").unwrap(),
        }
    }

    fn sent(r: &PaymentRow, s: &RuleSettings) -> PaymentTransaction {
        match transaction(r, s) {
            Decision::Send(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn d3_modes_by_tender_and_source_else_default() {
        let s = settings();
        assert_eq!(payment_mode(TenderKind::CreditCard, 2, &s), "CSRWEB");
        assert_eq!(payment_mode(TenderKind::Ach, 0, &s), "EFT");
        assert_eq!(payment_mode(TenderKind::ECheck, 2, &s), "CSREFT");
        assert_eq!(payment_mode(TenderKind::ECheck, 8, &s), "OBD");
        assert_eq!(payment_mode(TenderKind::CreditCard, 5, &s), "OBD");
        assert_eq!(payment_mode(TenderKind::Cash, 0, &s), "OBD");
    }

    #[test]
    fn d4_authorization_code_cut_to_50_chars_and_transaction_id_per_131() {
        let long = "É".repeat(60);
        assert_eq!(authorization_code(&long).chars().count(), 50);
        assert_eq!(authorization_code("short"), "short");
        let mut s = settings();
        let mut r = row();
        r.auth_code = long.clone();
        let t = sent(&r, &s);
        assert_eq!(t.transaction_id, r.payment_guid);
        assert_eq!(t.authorization_code.chars().count(), 50);
        s.use_payment_guid_as_transaction_id = false;
        // The full approval code, not the cut one.
        assert_eq!(sent(&r, &s).transaction_id, long);
        r.auth_code = String::new();
        assert!(matches!(transaction(&r, &s), Decision::Reject(m) if m.contains("D4")));
    }

    #[test]
    fn d6_kiosk_and_d7_tender_amount_without_fee() {
        let s = settings();
        let mut r = row();
        r.kiosk_id = Some("BHappy".into());
        r.tender = TenderCode(TenderKind::ECheck);
        let t = sent(&r, &s);
        assert_eq!(t.biller_reference.as_deref(), Some("BHappy"));
        assert_eq!(t.tender, TenderKind::ECheck);
        assert_eq!(t.amount, r.amount);
        assert_eq!(t.account_number, "35909001");
        let w = wire(&t, s.service_version);
        assert!(w.contains("<eCheckPayment><tender>"), "{w}");
        assert!(w.contains("<amount>232.10</amount>"), "{w}");
        assert!(!w.contains("2.95"), "the fee is never sent: {w}");
    }

    #[test]
    fn d11_donations_skipped_only_with_the_setting() {
        let mut s = settings();
        let mut r = row();
        r.invoice_type = Some("donation".into());
        assert!(matches!(transaction(&r, &s), Decision::Skip(m) if m.contains("D11")));
        s.skip_donation_types = false;
        assert!(matches!(transaction(&r, &s), Decision::Send(_)));
    }

    #[test]
    fn d12_groups_by_key_and_time_with_the_feature() {
        let mut s = settings();
        let mut r = row();
        assert_eq!(batch_group(&r, &s), None);
        r.group_key = Some("857725-12345".into());
        assert_eq!(
            batch_group(&r, &s).as_deref(),
            Some("857725-12345|2026-11-27T14:03:00-06:00")
        );
        s.autopay_grouping = false;
        assert_eq!(batch_group(&r, &s), None);
    }
}

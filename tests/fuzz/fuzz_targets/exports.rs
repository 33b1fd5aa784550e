//! Fuzzes the reader of InvoiceCloud's exports (`payments.csv`,
//! `events.csv`) and everything a row it accepts goes through: any bytes
//! through `exports::read` must never panic and must give a consistent
//! account (every row seen is either usable or refused, at its own line);
//! every usable row must become an outbox item and a payload without a
//! panic, its stored record must read back as the same row (the sweep builds
//! the payload from it), and every payload must be well-formed XML.
//! Run: cargo +nightly fuzz run --fuzz-dir tests/fuzz exports
#![no_main]

use daffron_bridge::config::{PaymentModeMap, ServiceVersion};
use daffron_bridge::multispeak::xml;
use daffron_bridge::pump::exports::{self, EventRow, IssueCode, PaymentRow};
use daffron_bridge::pump::rules::RuleSettings;
use daffron_bridge::pump::{ingest, payload};
use libfuzzer_sys::fuzz_target;

/// The rules' test settings (`rules::payment::tests::settings`), and the
/// same with every switch the other way, so both transactionId sources,
/// both amount forms and the feature gates are all reached.
fn settings() -> [RuleSettings; 2] {
    let on = RuleSettings {
        service_version: ServiceVersion::V2,
        cc_modes: PaymentModeMap::parse("0(WEB)|2(CSRWEB)|8(POS)").unwrap(),
        ach_modes: PaymentModeMap::parse("0(EFT)|2(CSREFT)").unwrap(),
        default_payment_mode: "OBD".into(),
        skip_donation_types: true,
        use_payment_guid_as_transaction_id: true,
        scheduled_payments: true,
        autopay_grouping: true,
        timezone: chrono_tz::America::Chicago,
    };
    let off = RuleSettings {
        service_version: ServiceVersion::V1,
        skip_donation_types: false,
        use_payment_guid_as_transaction_id: false,
        scheduled_payments: false,
        autopay_grouping: false,
        timezone: chrono_tz::Pacific::Chatham,
        ..on.clone()
    };
    [on, off]
}

/// XML 1.0's `Char`: what a document may hold at all, escaped or not.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A payload is one element: well-formed on its own.
fn well_formed(what: &str, payload: &str) {
    if let Some(c) = payload.chars().find(|c| !xml_char(*c)) {
        panic!("{what} payload holds {c:?}, which XML 1.0 forbids: {payload:?}");
    }
    let doc = format!("<fuzz>{payload}</fuzz>");
    match xml::parse(doc.as_bytes()) {
        Ok(root) => assert_eq!(root.children.len(), 1, "{what} payload: {payload:?}"),
        Err(e) => panic!("{what} payload is not well-formed ({e}): {payload:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let file = exports::read(data);

    // The account of rows: every data row seen is usable or refused, once.
    let usable = (file.payments.len() + file.events.len()) as u64;
    assert!(file.rows >= usable);
    assert!(file.refused() as u64 <= file.rows);
    assert_eq!(
        file.refused() as u64 + usable,
        file.rows,
        "a row neither usable nor refused, or two rows at one line: {:?}",
        file.issues
    );
    assert!(file.payments.is_empty() || file.events.is_empty());
    for i in &file.issues {
        match (i.code, i.line) {
            (_, None) => {}
            // The header's own warnings are at its line.
            (IssueCode::UnknownColumn, Some(l)) => assert!(l >= 1, "{i:?}"),
            (_, Some(l)) => assert!(l >= 2, "a row issue before the first data row: {i:?}"),
        }
    }
    let lines: Vec<u64> = file
        .payments
        .iter()
        .map(|p| p.line)
        .chain(file.events.iter().map(|e| e.line))
        .collect();
    assert!(lines.iter().all(|&l| l >= 2), "{lines:?}");
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
    for l in &lines {
        assert!(
            !file
                .issues
                .iter()
                .any(|i| i.line == Some(*l) && !i.code.is_warning()),
            "a usable row at line {l} has an error: {:?}",
            file.issues
        );
    }

    for s in &settings() {
        for p in &file.payments {
            // A payment's row is not stored; its JSON (what a conflict
            // records, and what items from before migration 6 hold) reads
            // back as the same row with the same digest.
            let item = ingest::payment_item(&p.row, s);
            assert!(item.record.is_empty());
            assert_eq!(item.digest, p.row.digest());
            let json = serde_json::to_string(&p.row).unwrap();
            let back: PaymentRow = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("record {json:?} unreadable: {e}"));
            assert_eq!(back, p.row);
            assert_eq!(back.digest(), item.digest);
            if let Ok(x) = payload::payment(&p.row, s) {
                well_formed("payment", &x);
            }
        }
        for e in &file.events {
            for dir in [None, Some("321000070000")] {
                let item = ingest::event_item(&e.row, s, dir);
                let back: EventRow = serde_json::from_str(&item.record)
                    .unwrap_or_else(|err| panic!("record {:?} unreadable: {err}", item.record));
                assert_eq!(back, e.row);
                assert_eq!(back.digest(), item.digest);
                if let Ok(x) = payload::event(&e.row, s, dir) {
                    well_formed("event", &x);
                }
            }
        }
    }
});

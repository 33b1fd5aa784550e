//! Every reader of outside XML (MultiSpeak answers and requests,
//! InvoiceCloud's UploadInvoiceFile), on arbitrary bytes: must never panic.
//! And the XML reader's memory budget: the input's first byte picks how
//! often the rest is repeated inside one root element (up to ~2 MB, far past
//! the budget's 64 KiB slack); a tree the reader returns must cost no more
//! than its budget, counted the way the reader counts it.
//! Run: cargo +nightly fuzz run --fuzz-dir tests/fuzz multispeak_answers
#![no_main]

use daffron_bridge::multispeak::Operation;
use daffron_bridge::multispeak::response::{self, Answer};
use daffron_bridge::multispeak::xml;
use libfuzzer_sys::fuzz_target;

/// The most bytes a repeated document may have here (answers are read up
/// to 16 MiB; 2 MB keeps thousands of runs a second).
const REPEATED_MAX: usize = 2 << 20;

fn within_budget(doc: &[u8]) {
    if let Ok(root) = xml::parse(doc) {
        let limit = doc.len() * xml::BUDGET_FACTOR + xml::BUDGET_SLACK;
        let spent = root.tree_cost();
        assert!(
            spent <= limit,
            "a tree of {spent} bytes from {} bytes of XML (budget {limit})",
            doc.len()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = xml::parse(data);
    within_budget(data);
    let _ = response::read_envelope(data);
    if let Ok(Answer::Ok(list)) = response::parse_payable_items_list(data) {
        let _ = daffron_bridge::rtdr::balance("1", &list);
    }
    let _ = response::parse_payment_answers(data);
    let _ = daffron_bridge::invoicecloud::parse_upload_answer(data);
    let _ = daffron_bridge::invoicecloud::parse_upload_request(data);
    for op in Operation::ALL {
        let _ = response::parse_error_objects(data, op);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = daffron_bridge::sandbox::FaultSpec::parse(s);
        let _ = daffron_bridge::rtdr::account_id(s);
        let _ = daffron_bridge::multispeak::request::redact(s);
    }
    // The budget: the rest repeated inside one root, with a long namespace.
    if let Some((&n, fragment)) = data.split_first()
        && !fragment.is_empty()
    {
        let reps = (usize::from(n) * 64 + 1)
            .min(REPEATED_MAX / fragment.len())
            .max(1);
        let ns = "urn:x".repeat(usize::from(n % 16) * 50);
        let mut doc = format!("<r xmlns=\"{ns}\">").into_bytes();
        for _ in 0..reps {
            doc.extend_from_slice(fragment);
        }
        doc.extend_from_slice(b"</r>");
        within_budget(&doc);
        let _ = response::parse_payment_answers(&doc);
    }
});

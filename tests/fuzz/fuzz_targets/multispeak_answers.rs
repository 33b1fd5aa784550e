//! Every reader of outside XML (MultiSpeak answers and requests,
//! InvoiceCloud's UploadInvoiceFile), on arbitrary bytes: must never panic.
//! Run: cargo +nightly fuzz run --fuzz-dir tests/fuzz multispeak_answers
#![no_main]

use daffron_bridge::multispeak::response::{self, Answer};
use daffron_bridge::multispeak::{Operation, xml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xml::parse(data);
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
});

//! Fuzzes the BIF parser and validator: any bytes, cut into chunks at a
//! fuzzer-chosen size (with the duplicate index spilled to disk), must give
//! the same verdict as the whole file, and nothing may panic (parser,
//! validator, typed reader, transform).
#![no_main]

use daffron_bridge::bif::transform::{parse_records, transform_bytes};
use daffron_bridge::bif::validate::{ValidateOptions, validate_bytes};
use daffron_bridge::bif::{Layout, read_invoices};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let layout = Layout::embedded();
    let whole = validate_bytes(
        "2661_11262026.BIF",
        bytes,
        &layout,
        &ValidateOptions {
            max_errors: 20,
            ..ValidateOptions::default()
        },
    );
    let chunked = validate_bytes(
        "2661_11262026.BIF",
        bytes,
        &layout,
        &ValidateOptions {
            max_errors: 20,
            block_size: usize::from(cut) + 1,
            // Every InvoiceNumber key spills to its own run: the on-disk
            // duplicate index must agree with the in-memory one.
            dup_budget: 24,
            ..ValidateOptions::default()
        },
    );
    assert_eq!(whole.errors, chunked.errors);
    assert_eq!(whole.warnings, chunked.warnings);
    assert_eq!(
        (whole.error_count, whole.warning_count, whole.invoices, whole.lines),
        (chunked.error_count, chunked.warning_count, chunked.invoices, chunked.lines)
    );
    let _ = read_invoices(bytes, &layout);
    let _ = parse_records(bytes);
    if whole.valid {
        let t = transform_bytes(bytes, &layout);
        assert_eq!(t, transform_bytes(&t, &layout));
    }
});

//! Fuzzes the BIF parser and validator: any bytes, checked whole by the
//! fastest engine this CPU has and cut into chunks at a fuzzer-chosen size
//! by the portable one (with the duplicate index spilled to disk), must
//! give the same verdict both ways, and nothing may panic (parser,
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
            // The SIMD lane may only ever accept what the scalar checks
            // accept, with the same values.
            portable: true,
            ..ValidateOptions::default()
        },
    );
    assert_eq!(whole.errors, chunked.errors);
    assert_eq!(whole.warnings, chunked.warnings);
    assert_eq!(
        (
            whole.error_count,
            whole.warning_count,
            whole.invoices,
            whole.lines,
            whole.rows,
            whole.total_amount
        ),
        (
            chunked.error_count,
            chunked.warning_count,
            chunked.invoices,
            chunked.lines,
            chunked.rows,
            chunked.total_amount
        )
    );
    let _ = read_invoices(bytes, &layout);
    let _ = parse_records(bytes);
    if whole.valid {
        let t = transform_bytes(bytes, &layout);
        assert_eq!(t, transform_bytes(&t, &layout));
    }
});

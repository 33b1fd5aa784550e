//! Property tests of the BIF parser and validator: hostile bytes never
//! panic, the verdict never depends on chunk edges, and valid files survive
//! parse -> write -> parse unchanged.

use daffron_bridge::bif::transform::{parse_records, transform_bytes, write_records};
use daffron_bridge::bif::validate::{ValidateOptions, validate_bytes};
use daffron_bridge::bif::{FileReport, FileRules, Layout, read_invoices};
use daffron_bridge::config::PdfVersion;
use proptest::prelude::*;

const GUID: &str = "3F358D04-4273-4551-BB14-B9F719EC0A61";
const NAME: &str = "2661_11262026.BIF";

fn opts(block: usize) -> ValidateOptions {
    ValidateOptions {
        rules: FileRules {
            bid: Some(2661),
            biller_guid: Some(GUID.parse().unwrap()),
            pdf_version: PdfVersion::V4,
        },
        block_size: block,
        max_errors: 50,
        ..ValidateOptions::default()
    }
}

fn key(r: &FileReport) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        &r.errors,
        &r.warnings,
        r.error_count,
        r.warning_count,
        r.invoices,
        r.total_amount,
        r.lines,
        r.rows,
    )
}

/// Pieces BIF-like lines are made of, hostile ones included.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("  ".to_string()),
        Just("FH".to_string()),
        Just("IH".to_string()),
        Just("CR".to_string()),
        Just("ID".to_string()),
        Just("ih".to_string()),
        Just("R".to_string()),
        Just(GUID.to_string()),
        Just("11/26/2026".to_string()),
        Just("02/30/2026".to_string()),
        Just("12.34".to_string()),
        Just("-0.01".to_string()),
        Just("1.234".to_string()),
        Just("35909-001".to_string()),
        Just("35909".to_string()),
        Just("001".to_string()),
        Just("1001".to_string()),
        Just("INV".to_string()),
        Just("Caf\u{e9}".to_string()),
        "[ -~]{0,12}",
    ]
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just("FH"),
            Just("IH"),
            Just("CR"),
            Just("ID"),
            Just("ZZ"),
            Just("")
        ],
        prop::collection::vec(field(), 0..16),
        prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b""[..])],
        any::<bool>(),
    )
        .prop_map(|(kind, fields, end, cp1252)| {
            let mut l = kind.as_bytes().to_vec();
            for f in fields {
                l.push(b'|');
                l.extend_from_slice(f.as_bytes());
            }
            if cp1252 {
                l.push(0xE9);
            }
            l.extend_from_slice(end);
            l
        })
}

fn bif_like() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(line(), 0..40).prop_map(|ls| ls.concat())
}

fn money(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

#[derive(Debug, Clone)]
struct Inv {
    total: i64,
    base: u32,
    sub: u16,
    name: String,
    details: Vec<(String, i64)>,
    pad: bool,
}

fn inv() -> impl Strategy<Value = Inv> {
    (
        -100_000i64..1_000_000,
        10_000u32..99_999,
        1u16..999,
        "[A-Z][A-Z .'-]{0,30}[A-Z]",
        prop::collection::vec(
            ("[A-Z][A-Za-z0-9 %@.-]{0,40}[a-z0-9]", -50_000i64..50_000),
            0..5,
        ),
        any::<bool>(),
    )
        .prop_map(|(total, base, sub, name, details, pad)| Inv {
            total,
            base,
            sub,
            name,
            details,
            pad,
        })
}

/// A valid BIF: header numbers right, unique invoice numbers, accounts that
/// agree, optional IBM i pad spaces and CRLF.
fn valid_file() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(inv(), 0..12), any::<bool>()).prop_map(|(invs, crlf)| {
        let nl = if crlf { "\r\n" } else { "\n" };
        let total: i64 = invs.iter().map(|i| i.total).sum();
        let mut s = format!("FH|{GUID}|11/26/2026|{}|{}{nl}", invs.len(), money(total));
        for (n, i) in invs.iter().enumerate() {
            let p = |v: &str| {
                if i.pad {
                    format!(" {v}   ")
                } else {
                    v.to_string()
                }
            };
            s += &format!(
                "IH|R|{GUID}|{}{n}|11/20/2026|12/10/2026|{}|{}|{:03}|3210|{}|{}-{n}{nl}",
                i.base,
                money(i.total),
                i.base,
                i.sub,
                p("12345"),
                i.base
            );
            s += &format!("CR|{}-{:03}|{}{nl}", i.base, i.sub, p(&i.name));
            for (d, a) in &i.details {
                s += &format!("ID|{}|{}{nl}", p(d), money(*a));
            }
        }
        s.into_bytes()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..3000), block in 1usize..400) {
        let l = Layout::embedded();
        let whole = validate_bytes(NAME, &bytes, &l, &opts(usize::MAX));
        let cut = validate_bytes(NAME, &bytes, &l, &opts(block));
        prop_assert_eq!(key(&whole), key(&cut));
        let _ = read_invoices(&bytes, &l);
        let _ = transform_bytes(&bytes, &l);
        let _ = parse_records(&bytes);
    }

    #[test]
    fn chunk_edges_never_change_the_verdict(bytes in bif_like(), block in 1usize..300) {
        let l = Layout::embedded();
        let whole = validate_bytes(NAME, &bytes, &l, &opts(usize::MAX));
        let cut = validate_bytes(NAME, &bytes, &l, &opts(block));
        prop_assert_eq!(key(&whole), key(&cut));
    }

    #[test]
    fn valid_files_are_valid_and_round_trip(bytes in valid_file(), block in 1usize..500) {
        let l = Layout::embedded();
        let r = validate_bytes(NAME, &bytes, &l, &opts(block));
        prop_assert!(r.valid, "{}", r.render_text());
        prop_assert_eq!(r.warning_count, 0);

        // parse -> write -> parse is the identity.
        let parsed = parse_records(&bytes);
        let again = parse_records(&write_records(&parsed));
        prop_assert_eq!(&parsed, &again);

        // The upload form is valid, idempotent and holds the same invoices.
        let t = transform_bytes(&bytes, &l);
        prop_assert_eq!(&t, &transform_bytes(&t, &l));
        prop_assert!(validate_bytes(NAME, &t, &l, &opts(block)).valid);
        prop_assert_eq!(read_invoices(&bytes, &l).unwrap(), read_invoices(&t, &l).unwrap());
    }
}

//! Property tests of the parsers of outside input.
//!
//! BIF: hostile bytes never panic the parser and validator, the verdict
//! never depends on chunk edges, and valid files survive parse -> write ->
//! parse unchanged.
//!
//! InvoiceCloud's exports (`payments.csv`, `events.csv`): hostile bytes
//! never panic the reader and every row it sees is usable or refused once,
//! at its line; valid files written any way the format allows (columns in
//! any order, optional ones absent, values padded, quoted, holding commas,
//! quotes and line breaks, any line ends, a BOM) read back with no issue
//! and exactly the values written; one bad field refuses exactly its row,
//! with its code, at its line and column, and the other rows are read.

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

mod exports_props {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Timelike};
    use daffron_bridge::pump::exports::{
        EventAction, EventRow, ExportFile, ExportKind, IssueCode, PaymentRow, Scheduled,
        ScheduledAction, TenderCode, read,
    };
    use proptest::prelude::*;
    use proptest::sample::Index;
    use rust_decimal::Decimal;

    /// What every read must hold, whatever the bytes: each data row seen is
    /// usable or refused, once, at its own line after the header's.
    fn consistent(f: &ExportFile) -> Result<(), TestCaseError> {
        let usable = (f.payments.len() + f.events.len()) as u64;
        prop_assert!(f.rows >= usable);
        prop_assert!(f.refused() as u64 <= f.rows);
        prop_assert_eq!(f.refused() as u64 + usable, f.rows, "{:?}", f.issues);
        prop_assert!(f.payments.is_empty() || f.events.is_empty());
        for i in &f.issues {
            if let Some(l) = i.line {
                let header = i.code == IssueCode::UnknownColumn;
                prop_assert!(l >= if header { 1 } else { 2 }, "{:?}", i);
            }
        }
        let lines: Vec<u64> = (f.payments.iter().map(|p| p.line))
            .chain(f.events.iter().map(|e| e.line))
            .collect();
        prop_assert!(lines.windows(2).all(|w| w[0] < w[1]), "{:?}", lines);
        prop_assert!(lines.iter().all(|&l| l >= 2), "{:?}", lines);
        Ok(())
    }

    const PAYMENT_HEADER: &str = "payment_guid,account_number,invoice_number,invoice_type,tender,amount,fee,auth_code,payment_source_id,kiosk_id,group_key,paid_at";
    const EVENT_HEADER: &str = "event_id,kind,action,account_number,service_location_id,scheduled_date,amount,invoice_number,occurred_at";

    /// Lines that are nearly export rows: the pieces a row is made of,
    /// hostile ones included, with any separators and line ends.
    fn export_like() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(String::new()),
            Just("\"".to_string()),
            Just("\"\"".to_string()),
            Just(" ".to_string()),
            Just("35909-001".to_string()),
            Just("1.5".to_string()),
            Just("$5".to_string()),
            Just("cc".to_string()),
            Just("AUTOPAY".to_string()),
            Just("SCHEDULED_PAYMENT".to_string()),
            Just("create".to_string()),
            Just("2025-01-01".to_string()),
            Just("2026-11-27T14:03:00-06:00".to_string()),
            Just("\u{0}".to_string()),
            Just("\u{feff}".to_string()),
            "[ -~]{0,10}",
        ];
        let sep = prop_oneof![
            Just(","),
            Just(","),
            Just(","),
            Just("\n"),
            Just("\r\n"),
            Just("\r"),
            Just("\""),
        ];
        (
            prop_oneof![
                Just(PAYMENT_HEADER),
                Just(EVENT_HEADER),
                Just("paid_at,payment_guid,amount"),
                Just("")
            ],
            prop::collection::vec((piece, sep), 0..120),
            prop::collection::vec(any::<u8>(), 0..3),
        )
            .prop_map(|(header, pieces, tail)| {
                let mut b = format!("{header}\n").into_bytes();
                for (p, s) in pieces {
                    b.extend_from_slice(p.as_bytes());
                    b.extend_from_slice(s.as_bytes());
                }
                b.extend_from_slice(&tail);
                b
            })
    }

    /// Free text as a value may hold it: commas, quotes, markup, line
    /// breaks and non-ASCII letters inside, never space at its ends (values
    /// are trimmed).
    fn text() -> impl Strategy<Value = String> {
        "[A-Za-z0-9\u{e9}\u{540d}]([A-Za-z0-9 ,\"'.#/&<>\u{e9}\u{540d}\n-]{0,16}[A-Za-z0-9\u{e9}\u{540d}])?"
    }

    fn account() -> impl Strategy<Value = String> {
        "[0-9]{1,9}-[0-9]{1,4}"
    }

    /// An amount with 0-2 decimals; positive unless `zero_ok`.
    fn amount(zero_ok: bool) -> impl Strategy<Value = String> {
        (0u64..1_000_000_000, 0usize..=2, 0u32..100).prop_map(move |(int, decimals, frac)| {
            let int = if !zero_ok && int == 0 && (decimals == 0 || frac == 0) {
                1
            } else {
                int
            };
            match decimals {
                0 => int.to_string(),
                1 => format!("{int}.{}", frac % 10),
                _ => format!("{int}.{frac:02}"),
            }
        })
    }

    /// A word in any mix of cases.
    fn any_case(word: &'static str) -> impl Strategy<Value = String> {
        prop::collection::vec(any::<bool>(), word.len()).prop_map(move |up| {
            word.chars()
                .zip(up)
                .map(|(c, u)| {
                    if u {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect()
        })
    }

    /// An RFC 3339 timestamp with an offset (`Z` or `±hh:mm`) and maybe a
    /// fraction of a second, and the instant it names.
    fn timestamp() -> impl Strategy<Value = (String, DateTime<FixedOffset>)> {
        (
            (1900i32..2200, 1u32..=12, 1u32..=28),
            (0u32..24, 0u32..60, 0u32..60),
            prop::option::of((1u32..=9, any::<u32>())),
            prop::option::of((any::<bool>(), 0i32..24, 0i32..60)),
        )
            .prop_map(|((y, mo, d), (h, mi, s), frac, offset)| {
                let mut text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
                let mut nanos = 0;
                if let Some((digits, v)) = frac {
                    let v = v % 10u32.pow(digits);
                    text += &format!(".{v:0width$}", width = digits as usize);
                    nanos = v * 10u32.pow(9 - digits);
                }
                let secs = match offset {
                    None => {
                        text.push('Z');
                        0
                    }
                    Some((neg, oh, om)) => {
                        text += &format!("{}{oh:02}:{om:02}", if neg { '-' } else { '+' });
                        (if neg { -1 } else { 1 }) * (oh * 3600 + om * 60)
                    }
                };
                let at = FixedOffset::east_opt(secs)
                    .unwrap()
                    .with_ymd_and_hms(y, mo, d, h, mi, s)
                    .unwrap()
                    .with_nanosecond(nanos)
                    .unwrap();
                (text, at)
            })
    }

    /// How a file is written: each cell quoted or padded with spaces (an
    /// unquoted one) at random, one kind of line end, maybe a BOM.
    #[derive(Debug, Clone)]
    struct Form {
        quote: Vec<bool>,
        pad: Vec<bool>,
        end: &'static str,
        bom: bool,
    }

    fn form() -> impl Strategy<Value = Form> {
        (
            prop::collection::vec(any::<bool>(), 13),
            prop::collection::vec(any::<bool>(), 7),
            prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            any::<bool>(),
        )
            .prop_map(|(quote, pad, end, bom)| Form {
                quote,
                pad,
                end,
                bom,
            })
    }

    /// A file: its header and each row's value per column.
    #[derive(Debug, Clone)]
    struct Table {
        header: Vec<&'static str>,
        rows: Vec<BTreeMap<&'static str, String>>,
    }

    /// The bytes of `t` written in `form`, and the line each row starts on.
    fn write(t: &Table, form: &Form) -> (Vec<u8>, Vec<u64>) {
        let mut s = if form.bom { "\u{feff}" } else { "" }.to_string();
        s += &t.header.join(",");
        s += form.end;
        let mut lines = Vec::new();
        // The header's line, then each row's and the line breaks inside
        // its values.
        let mut breaks = 1;
        let mut n = 0;
        for row in &t.rows {
            lines.push(breaks + 1);
            let mut cells = Vec::new();
            for c in &t.header {
                n += 1;
                let v = row.get(c).map(String::as_str).unwrap_or("");
                breaks += v.matches('\n').count() as u64;
                let quote = form.quote[n % form.quote.len()];
                cells.push(if quote || v.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", v.replace('"', "\"\""))
                } else if form.pad[n % form.pad.len()] {
                    format!("  {v} ")
                } else {
                    v.to_string()
                });
            }
            s += &cells.join(",");
            s += form.end;
            breaks += 1;
        }
        (s.into_bytes(), lines)
    }

    #[derive(Debug, Clone)]
    struct Payments {
        table: Table,
        want: Vec<PaymentRow>,
    }

    /// A valid payments.csv: optional columns present or not (a present
    /// one maybe empty), all in a shuffled order.
    fn payments() -> impl Strategy<Value = Payments> {
        let row = (
            (
                prop_oneof![
                    "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                    text()
                ],
                account(),
                text(),
                prop::option::of(prop_oneof![Just("Donation".to_string()), text()]),
            ),
            (
                prop_oneof![
                    any_case("CC"),
                    any_case("ACH"),
                    any_case("ECHECK"),
                    any_case("CASH")
                ],
                amount(false),
                prop::option::of(amount(true)),
                prop::option::of(text()),
                any::<u32>(),
            ),
            (
                prop::option::of(text()),
                prop::option::of(text()),
                timestamp(),
            ),
        );
        (any::<[bool; 5]>(), prop::collection::vec(row, 1..25))
            .prop_flat_map(|(present, rows)| {
                let mut header = vec![
                    "payment_guid",
                    "account_number",
                    "invoice_number",
                    "tender",
                    "amount",
                    "payment_source_id",
                    "paid_at",
                ];
                let optional = ["invoice_type", "fee", "auth_code", "kiosk_id", "group_key"];
                header.extend(
                    optional
                        .iter()
                        .zip(present)
                        .filter(|(_, p)| *p)
                        .map(|(c, _)| *c),
                );
                (Just(header).prop_shuffle(), Just(rows))
            })
            .prop_map(|(header, rows)| {
                let has = |c| header.contains(&c);
                let mut table = Table {
                    header: header.clone(),
                    rows: Vec::new(),
                };
                let mut want = Vec::new();
                for (
                    (guid, acct, invoice, itype),
                    (tender, amt, fee, auth, source),
                    (kiosk, group, (paid, at)),
                ) in rows
                {
                    let opt = |c, v: &Option<String>| v.clone().filter(|_| has(c));
                    let mut m = BTreeMap::new();
                    m.insert("payment_guid", guid.clone());
                    m.insert("account_number", acct.clone());
                    m.insert("invoice_number", invoice.clone());
                    m.insert("tender", tender.clone());
                    m.insert("amount", amt.clone());
                    m.insert("payment_source_id", source.to_string());
                    m.insert("paid_at", paid);
                    for (c, v) in [
                        ("invoice_type", &itype),
                        ("fee", &fee),
                        ("auth_code", &auth),
                        ("kiosk_id", &kiosk),
                        ("group_key", &group),
                    ] {
                        m.insert(c, opt(c, v).unwrap_or_default());
                    }
                    table.rows.push(m);
                    want.push(PaymentRow {
                        payment_guid: guid,
                        account: acct,
                        invoice_number: invoice,
                        invoice_type: opt("invoice_type", &itype),
                        tender: TenderCode::parse(&tender.to_ascii_uppercase()).unwrap(),
                        amount: Decimal::from_str(&amt).unwrap(),
                        fee: opt("fee", &fee)
                            .map_or(Decimal::ZERO, |f| Decimal::from_str(&f).unwrap()),
                        auth_code: opt("auth_code", &auth).unwrap_or_default(),
                        payment_source_id: source,
                        kiosk_id: opt("kiosk_id", &kiosk),
                        group_key: opt("group_key", &group),
                        paid_at: at,
                    });
                }
                Payments { table, want }
            })
    }

    #[derive(Debug, Clone)]
    struct Events {
        table: Table,
        want: Vec<EventRow>,
    }

    /// A valid events.csv of every kind and action: the scheduled
    /// payments' columns present when a row needs them (and maybe when
    /// none does), a location column maybe, all in a shuffled order.
    fn events() -> impl Strategy<Value = Events> {
        let kind = prop_oneof![
            (
                any_case("PAPERLESS"),
                prop_oneof![any_case("ENROLL"), any_case("UNENROLL")]
            ),
            (
                any_case("AUTOPAY"),
                prop_oneof![any_case("ON"), any_case("OFF")]
            ),
            (
                any_case("SCHEDULED_PAYMENT"),
                prop_oneof![any_case("CREATE"), any_case("CANCEL"), any_case("UPDATE")]
            ),
        ];
        let row = (
            text(),
            kind,
            account(),
            prop::option::of("[0-9]{1,12}"),
            ((1900i32..2200, 1u32..=12, 1u32..=28), amount(false), text()),
            timestamp(),
        );
        (any::<[bool; 2]>(), prop::collection::vec(row, 1..25))
            .prop_flat_map(|([location, scheduled], rows)| {
                let mut header = vec![
                    "event_id",
                    "kind",
                    "action",
                    "account_number",
                    "occurred_at",
                ];
                if location {
                    header.push("service_location_id");
                }
                let needed = rows
                    .iter()
                    .any(|r| r.1.0.eq_ignore_ascii_case("SCHEDULED_PAYMENT"));
                if scheduled || needed {
                    header.extend(["scheduled_date", "amount", "invoice_number"]);
                }
                (Just(header).prop_shuffle(), Just(rows))
            })
            .prop_map(|(header, rows)| {
                let mut table = Table {
                    header: header.clone(),
                    rows: Vec::new(),
                };
                let mut want = Vec::new();
                for (
                    id,
                    (kind, action),
                    acct,
                    location,
                    ((y, mo, d), amt, invoice),
                    (at_text, at),
                ) in rows
                {
                    let location = location.filter(|_| header.contains(&"service_location_id"));
                    let mut m = BTreeMap::new();
                    m.insert("event_id", id.clone());
                    m.insert("kind", kind.clone());
                    m.insert("action", action.clone());
                    m.insert("account_number", acct.clone());
                    m.insert("occurred_at", at_text);
                    m.insert("service_location_id", location.clone().unwrap_or_default());
                    let up = action.to_ascii_uppercase();
                    let what = match kind.to_ascii_uppercase().as_str() {
                        "PAPERLESS" => EventAction::Paperless {
                            enroll: up == "ENROLL",
                        },
                        "AUTOPAY" => EventAction::Autopay { on: up == "ON" },
                        _ => {
                            let date = NaiveDate::from_ymd_opt(y, mo, d).unwrap();
                            m.insert("scheduled_date", date.format("%Y-%m-%d").to_string());
                            m.insert("amount", amt.clone());
                            m.insert("invoice_number", invoice.clone());
                            EventAction::ScheduledPayment(Scheduled {
                                action: match up.as_str() {
                                    "CREATE" => ScheduledAction::Create,
                                    "CANCEL" => ScheduledAction::Cancel,
                                    _ => ScheduledAction::Update,
                                },
                                scheduled_date: date,
                                amount: Decimal::from_str(&amt).unwrap(),
                                invoice_number: invoice,
                            })
                        }
                    };
                    table.rows.push(m);
                    want.push(EventRow {
                        event_id: id,
                        action: what,
                        account: acct,
                        service_location_id: location,
                        occurred_at: at,
                    });
                }
                Events { table, want }
            })
    }

    /// One bad value for `row` of `t`, among those its columns and kind
    /// allow: (column, value, code).
    fn bad_field(t: &Table, row: usize, pick: Index) -> (&'static str, &'static str, IssueCode) {
        use IssueCode::*;
        let scheduled = t.rows[row]
            .get("kind")
            .is_some_and(|k| k.eq_ignore_ascii_case("SCHEDULED_PAYMENT"));
        let all: &[(&str, &str, IssueCode)] = &[
            ("account_number", "35909001", BadAccount),
            ("account_number", "A-001", BadAccount),
            ("account_number", "-001", BadAccount),
            ("amount", "$5", BadAmount),
            ("amount", "1.234", BadAmount),
            ("amount", "1,000.00", BadAmount),
            ("amount", "0", BadAmount),
            ("amount", "-5.00", BadAmount),
            ("amount", "1e3", BadAmount),
            ("fee", "$1", BadAmount),
            ("fee", "-0.01", BadAmount),
            ("tender", "VISA", BadTender),
            ("tender", "C C", BadTender),
            ("payment_source_id", "web", BadInt),
            ("payment_source_id", "-1", BadInt),
            ("payment_source_id", "4294967296", BadInt),
            ("paid_at", "yesterday", BadTimestamp),
            ("paid_at", "2026-11-27T14:03:00", BadTimestamp),
            ("paid_at", "27/11/2026 14:03", BadTimestamp),
            ("payment_guid", "", MissingRequired),
            ("auth_code", "A01\u{1b}[0m", BadEncoding),
            ("kind", "BILLING", BadKind),
            ("action", "MAYBE", BadAction),
            ("event_id", "", MissingRequired),
            ("service_location_id", "L-1", BadLocation),
            ("scheduled_date", "01/01/2025", BadDate),
            ("scheduled_date", "2025-02-30", BadDate),
            ("occurred_at", "2026-11-27", BadTimestamp),
            ("invoice_number", "", MissingRequired),
        ];
        let fits: Vec<_> = all
            .iter()
            .filter(|(c, _, _)| t.header.contains(c))
            .filter(|(c, _, _)| {
                // The scheduled payments' columns are read for them only.
                let sched_only = ["scheduled_date", "amount", "invoice_number"];
                t.header.contains(&"payment_guid") || !sched_only.contains(c) || scheduled
            })
            .copied()
            .collect();
        *pick.get(&fits)
    }

    /// Reads `t` with `row`'s `column` set to `value`: exactly that row is
    /// refused, once, with `code` at its line and column; the others are
    /// read as written.
    fn check_one_bad<R: std::fmt::Debug + PartialEq>(
        t: &Table,
        form: &Form,
        row: usize,
        (column, value, code): (&'static str, &'static str, IssueCode),
        usable: impl Fn(&ExportFile) -> Vec<(u64, R)>,
        want: &[R],
    ) -> Result<(), TestCaseError> {
        let mut bad = t.clone();
        bad.rows[row].insert(column, value.to_string());
        let (bytes, lines) = write(&bad, form);
        let f = read(&bytes);
        consistent(&f)?;
        prop_assert_eq!(f.rows, t.rows.len() as u64);
        prop_assert_eq!(f.refused(), 1, "{:?}", f.issues);
        prop_assert_eq!(f.issues.len(), 1, "{:?}", f.issues);
        let i = &f.issues[0];
        prop_assert_eq!(i.code, code, "{:?}", i);
        prop_assert_eq!(i.line, Some(lines[row]));
        prop_assert_eq!(i.field.as_deref(), Some(column));
        let at = t.header.iter().position(|c| *c == column).unwrap() + 1;
        prop_assert_eq!(i.column, Some(at));
        let got = usable(&f);
        let others: Vec<(u64, &R)> = lines
            .iter()
            .zip(want)
            .enumerate()
            .filter(|(n, _)| *n != row)
            .map(|(_, (l, r))| (*l, r))
            .collect();
        prop_assert_eq!(got.iter().map(|(l, r)| (*l, r)).collect::<Vec<_>>(), others);
        Ok(())
    }

    fn payment_rows(f: &ExportFile) -> Vec<(u64, PaymentRow)> {
        f.payments.iter().map(|p| (p.line, p.row.clone())).collect()
    }

    fn event_rows(f: &ExportFile) -> Vec<(u64, EventRow)> {
        f.events.iter().map(|e| (e.line, e.row.clone())).collect()
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_export_reader(
            bytes in prop::collection::vec(any::<u8>(), 0..2000),
        ) {
            consistent(&read(&bytes))?;
        }

        #[test]
        fn export_like_bytes_never_panic_and_every_row_is_accounted_for(bytes in export_like()) {
            consistent(&read(&bytes))?;
        }

        #[test]
        fn valid_payments_read_back_exactly(p in payments(), form in form()) {
            let (bytes, lines) = write(&p.table, &form);
            let f = read(&bytes);
            prop_assert!(f.issues.is_empty(), "{:?}", f.issues);
            prop_assert_eq!(f.kind, Some(ExportKind::Payments));
            prop_assert_eq!(f.rows, p.want.len() as u64);
            let got = payment_rows(&f);
            let want: Vec<(u64, PaymentRow)> = lines.into_iter().zip(p.want.clone()).collect();
            prop_assert_eq!(&got, &want);
            // The amounts as written, to the digit (1.50 stays 1.50).
            for ((_, row), m) in got.iter().zip(&p.table.rows) {
                prop_assert_eq!(row.amount.to_string(), m["amount"].clone());
                let fee = m.get("fee").filter(|f| !f.is_empty()).map_or("0", |f| f.as_str());
                prop_assert_eq!(row.fee.to_string(), fee);
            }
        }

        #[test]
        fn valid_events_read_back_exactly(e in events(), form in form()) {
            let (bytes, lines) = write(&e.table, &form);
            let f = read(&bytes);
            prop_assert!(f.issues.is_empty(), "{:?}", f.issues);
            prop_assert_eq!(f.kind, Some(ExportKind::Events));
            prop_assert_eq!(f.rows, e.want.len() as u64);
            let want: Vec<(u64, EventRow)> = lines.into_iter().zip(e.want.clone()).collect();
            prop_assert_eq!(event_rows(&f), want);
            for (row, m) in f.events.iter().zip(&e.table.rows) {
                if let EventAction::ScheduledPayment(s) = &row.row.action {
                    prop_assert_eq!(s.amount.to_string(), m["amount"].clone());
                }
            }
        }

        #[test]
        fn one_bad_payment_field_refuses_its_row_only(
            p in payments(),
            form in form(),
            row in any::<Index>(),
            pick in any::<Index>(),
        ) {
            let row = row.index(p.want.len());
            let bad = bad_field(&p.table, row, pick);
            check_one_bad(&p.table, &form, row, bad, payment_rows, &p.want)?;
        }

        #[test]
        fn one_bad_event_field_refuses_its_row_only(
            e in events(),
            form in form(),
            row in any::<Index>(),
            pick in any::<Index>(),
        ) {
            let row = row.index(e.want.len());
            let bad = bad_field(&e.table, row, pick);
            check_one_bad(&e.table, &form, row, bad, event_rows, &e.want)?;
        }
    }

    #[test]
    fn the_sample_exports_read_with_no_issue() {
        for name in ["payments.csv", "events.csv"] {
            let bytes = std::fs::read(format!("samples/exports/{name}")).unwrap();
            let f = read(&bytes);
            assert!(f.issues.is_empty(), "{name}: {:?}", f.issues);
            assert_eq!(f.rows as usize, f.payments.len() + f.events.len());
        }
    }
}

/// The XML reader's budget on well-formed answers of every shape and size
/// up to the 16 MiB body cap: it parses (and the tree costs no more than
/// its budget, counted as the reader counts) or it is refused as too large
/// (`TooLarge`; `TooManyElements` only past `MAX_ELEMENTS`: a 16 MiB answer
/// of `<a/>` has 4 million), never another error, never a panic. The memory
/// this bounds is measured in tests/xml_memory.rs.
mod xml_props {
    use std::collections::HashSet;

    use daffron_bridge::multispeak::xml::{self, XmlError};
    use daffron_bridge::multispeak::{SOAP_NS, response};
    use daffron_bridge::transport::http::MAX_RESPONSE_BYTES;
    use proptest::prelude::*;

    /// One element of an answer's body, or a comment (no element).
    fn piece() -> impl Strategy<Value = (String, usize)> {
        let text = "[a-z &<>\"'\u{e9}\u{1F600}]{0,40}";
        prop_oneof![
            Just(("<a/>".to_string(), 1)),
            (
                prop::collection::vec(("[a-z]{1,8}", text), 0..4),
                any::<bool>()
            )
                .prop_map(|(attrs, prefixed)| {
                    let mut seen = HashSet::new();
                    let attrs: String = attrs
                        .into_iter()
                        .filter(|(k, _)| seen.insert(k.clone()))
                        .map(|(k, v)| format!(" {k}=\"{}\"", xml::esc(&v)))
                        .collect();
                    let name = if prefixed { "p:item" } else { "item" };
                    (format!("<{name}{attrs}/>"), 1)
                }),
            (0usize..3000, text).prop_map(|(n, t)| {
                (
                    format!("<t>{}&amp;&#65;{}</t>", "x".repeat(n), xml::esc(&t)),
                    1,
                )
            }),
            "[a-z<>&]{0,200}"
                .prop_map(|t| (format!("<c><![CDATA[{}]]></c>", t.replace("]]>", "")), 1)),
            Just(("<w><x/><y>z</y><p:v q=\"1\"/></w>".to_string(), 1)),
            Just(("<!-- a comment -->\n".to_string(), 0)),
        ]
    }

    /// An answer: a unit of pieces repeated from once to many thousand
    /// times, under a namespace of any length; at most the body cap.
    fn answer() -> impl Strategy<Value = (String, usize)> {
        (
            prop::collection::vec(piece(), 1..6),
            // Big answers, up to the cap, are `every_verdict_occurs_up_to_the_cap`'s
            // and tests/xml_memory.rs's: here, many shapes of moderate size
            // (the suite runs in a debug build).
            prop_oneof![1usize..10, 10usize..2_000, 2_000usize..40_000],
            0usize..5_000,
        )
            .prop_map(|(unit, reps, ns_len)| {
                let ns = format!("urn:{}", "n".repeat(ns_len));
                let head = format!(
                    "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"{SOAP_NS}\" xmlns:p=\"{ns}p\">\
                     <soap:Body><root xmlns=\"{ns}\">"
                );
                let tail = "</root></soap:Body></soap:Envelope>";
                let body: String = unit.iter().map(|(s, _)| s.as_str()).collect();
                let per_unit: usize = unit.iter().map(|(_, n)| n).sum();
                let cap = usize::try_from(MAX_RESPONSE_BYTES).unwrap();
                let room = cap - head.len() - tail.len();
                let reps = reps.min(room / body.len().max(1));
                let mut doc = String::with_capacity(head.len() + body.len() * reps + tail.len());
                doc.push_str(&head);
                for _ in 0..reps {
                    doc.push_str(&body);
                }
                doc.push_str(tail);
                (doc, per_unit * reps)
            })
    }

    /// The elements a document opens: its `<` that start neither an end
    /// tag nor a declaration.
    fn start_tags(doc: &str) -> usize {
        let b = doc.as_bytes();
        (0..b.len())
            .filter(|&i| b[i] == b'<' && !matches!(b.get(i + 1), Some(b'/' | b'?' | b'!')))
            .count()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn any_answer_within_the_body_cap_parses_or_is_too_large(
            (doc, elements) in answer()
        ) {
            prop_assert!(doc.len() as u64 <= MAX_RESPONSE_BYTES);
            match xml::parse(doc.as_bytes()) {
                Ok(envelope) => {
                    let root = &envelope.children[0].children[0];
                    prop_assert_eq!(root.children.len(), elements);
                    let limit = doc.len() * xml::BUDGET_FACTOR + xml::BUDGET_SLACK;
                    let spent = envelope.tree_cost();
                    prop_assert!(spent <= limit, "{} bytes cost {}", doc.len(), spent);
                }
                Err(XmlError::TooLarge) => {}
                // Counted over the whole document (nested pieces too), not
                // only the root's children.
                Err(XmlError::TooManyElements) if start_tags(&doc) > xml::MAX_ELEMENTS => {}
                Err(other) => prop_assert!(false, "{} bytes: {other:?}", doc.len()),
            }
            // The typed readers on top never panic on it either.
            let _ = response::read_envelope(doc.as_bytes());
            let _ = response::parse_payment_answers(doc.as_bytes());
        }
    }

    /// Every end of the property is reached: answers of empty elements are
    /// refused (by the budget; past a million elements, by their count), a
    /// big answer of text is read.
    #[test]
    fn every_verdict_occurs_up_to_the_cap() {
        let many = format!("<r>{}</r>", "<a/>".repeat(900_000));
        assert_eq!(xml::parse(many.as_bytes()), Err(XmlError::TooLarge));
        let most = format!("<r>{}</r>", "<a/>".repeat(4 << 20));
        assert_eq!(xml::parse(most.as_bytes()), Err(XmlError::TooManyElements));
        let text = format!("<r>{}</r>", "x".repeat(15 << 20));
        assert_eq!(
            xml::parse(text.as_bytes()).map(|r| r.text.len()),
            Ok(15 << 20)
        );
    }
}

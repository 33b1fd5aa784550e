//! Remote-PDF bill links (seed: "PDF Linking"; setting 20 base URL,
//! setting 119 versions 1-4, setting 131 `PdfConfig.BCTRModifier`).
//!
//! InvoiceCloud shows a bill by calling Daffron's eprint service with query
//! parameters that depend on the biller's Remote PDF Service Version:
//!
//! | version | parameters |
//! |---|---|
//! | 1 | `PROCESSING_TYPE=HISTORY&ACCT={Custom2}&SUB={Custom3}` |
//! | 2 | v1 + `BCTR={Custom10}` (or the part after its dash) |
//! | 3 | v2 + `LDMO={InvoiceDate as YYYYMM}` (D5) |
//! | 4 | v3 + `PRINT_FORM=TRUE` |
//!
//! Each rule below is one function so a biller that differs changes one
//! place.

use chrono::{Datelike, NaiveDate};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use crate::bif::Invoice;
use crate::config::{AdvancedSettings, BctrModifier, PdfVersion};

/// One invoice's link (D17: `{"invoice","account","version","url"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PdfLink {
    /// InvoiceNumber.
    pub invoice: String,
    /// AccountNumber, base-sub.
    pub account: String,
    /// The version used for this invoice (after the Custom9 rule).
    pub version: u8,
    pub url: String,
}

/// Custom9 containing `INV` or `EBIL` forces version 2 for that invoice,
/// whatever setting 119 says (seed: "If Custom9 has INV or EBIL the code
/// will force v2 for that invoice regardless of the setup version"). The
/// match is on the upper-case text, as the seed writes it.
pub fn effective_version(configured: PdfVersion, custom9: &[u8]) -> PdfVersion {
    let has = |needle: &[u8]| memchr::memmem::find(custom9, needle).is_some();
    if has(b"INV") || has(b"EBIL") {
        PdfVersion::V2
    } else {
        configured
    }
}

/// BCTR: the whole Custom10, or only the part after its first dash where
/// setting 131 has `PdfConfig.BCTRModifier = "ValueAfterDash"` (INT-5475:
/// Custom10 became `base-BCTR` for autopay grouping). A Custom10 without a
/// dash is used whole.
pub fn bctr(custom10: &str, modifier: BctrModifier) -> &str {
    match (modifier, custom10.split_once('-')) {
        (BctrModifier::ValueAfterDash, Some((_, after))) => after,
        _ => custom10,
    }
}

/// LDMO: the bill month as `YYYYMM` from InvoiceDate (D5).
pub fn ldmo(invoice_date: NaiveDate) -> String {
    format!("{:04}{:02}", invoice_date.year(), invoice_date.month())
}

/// The query parameters of a version, in the seed's order.
pub fn params(
    inv: &Invoice,
    version: PdfVersion,
    modifier: BctrModifier,
) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("PROCESSING_TYPE", "HISTORY".to_string()),
        ("ACCT", inv.custom2.clone()),
        ("SUB", inv.custom3.clone()),
    ];
    if version >= PdfVersion::V2 {
        p.push(("BCTR", bctr(&inv.custom10, modifier).to_string()));
    }
    if version >= PdfVersion::V3 {
        p.push(("LDMO", ldmo(inv.invoice_date)));
    }
    if version >= PdfVersion::V4 {
        p.push(("PRINT_FORM", "TRUE".to_string()));
    }
    p
}

/// What is left alone in a query value: RFC 3986 unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `base` with the parameters appended, values percent-encoded. A base that
/// already has a query gets `&`, else `?`.
pub fn url(base: &str, params: &[(&'static str, String)]) -> String {
    let mut u = base.to_string();
    if params.is_empty() {
        return u;
    }
    let sep = if !u.contains('?') {
        "?"
    } else if u.ends_with('?') || u.ends_with('&') {
        ""
    } else {
        "&"
    };
    u.push_str(sep);
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            u.push('&');
        }
        u.push_str(k);
        u.push('=');
        u.extend(utf8_percent_encode(v, QUERY_VALUE));
    }
    u
}

/// The link of one invoice.
pub fn link(inv: &Invoice, settings: &AdvancedSettings, base_url: &str) -> PdfLink {
    let version = effective_version(settings.pdf_version, inv.custom9.as_bytes());
    let modifier = settings
        .json
        .as_ref()
        .map(|j| j.bctr_modifier)
        .unwrap_or_default();
    PdfLink {
        invoice: inv.invoice_number.clone(),
        account: inv.customer.account_number.clone(),
        version: version.number(),
        url: url(base_url, &params(inv, version, modifier)),
    }
}

/// The links of every invoice, in file order.
pub fn links(invoices: &[Invoice], settings: &AdvancedSettings, base_url: &str) -> Vec<PdfLink> {
    invoices
        .iter()
        .map(|i| link(i, settings, base_url))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bif::Customer;
    use crate::config::JsonConfig;
    use rust_decimal::Decimal;

    fn inv(custom9: &str, custom10: &str) -> Invoice {
        Invoice {
            line: 2,
            invoice_number: "121940013401".into(),
            invoice_date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            due_date: NaiveDate::from_ymd_opt(2026, 12, 10).unwrap(),
            total_amount_due: Decimal::new(15625, 2),
            custom2: "35909".into(),
            custom3: "001".into(),
            custom4: "321045080002".into(),
            custom9: custom9.into(),
            custom10: custom10.into(),
            past_due: None,
            invoice_type: String::new(),
            customer: Customer {
                account_number: "35909-001".into(),
                ..Customer::default()
            },
            details: vec![],
        }
    }

    fn settings(v: PdfVersion, after_dash: bool) -> AdvancedSettings {
        AdvancedSettings {
            pdf_version: v,
            json: after_dash.then(|| JsonConfig {
                bctr_modifier: BctrModifier::ValueAfterDash,
                ..JsonConfig::default()
            }),
            ..AdvancedSettings::default()
        }
    }

    const BASE: &str = "http://127.0.0.1:8086/eprint/";

    #[test]
    fn version_1_has_account_and_sub() {
        let l = link(
            &inv("", "35909-12345"),
            &settings(PdfVersion::V1, false),
            BASE,
        );
        assert_eq!(l.version, 1);
        assert_eq!(
            l.url,
            "http://127.0.0.1:8086/eprint/?PROCESSING_TYPE=HISTORY&ACCT=35909&SUB=001"
        );
        assert_eq!(l.account, "35909-001");
    }

    #[test]
    fn version_2_adds_bctr_whole_or_after_dash() {
        let l = link(
            &inv("", "35909-12345"),
            &settings(PdfVersion::V2, false),
            BASE,
        );
        assert!(l.url.ends_with("&SUB=001&BCTR=35909-12345"), "{}", l.url);
        let l = link(
            &inv("", "35909-12345"),
            &settings(PdfVersion::V2, true),
            BASE,
        );
        assert!(l.url.ends_with("&SUB=001&BCTR=12345"), "{}", l.url);
    }

    #[test]
    fn version_3_and_4_add_ldmo_and_print_form() {
        let l = link(
            &inv("", "35909-12345"),
            &settings(PdfVersion::V3, true),
            BASE,
        );
        assert!(l.url.ends_with("&BCTR=12345&LDMO=202611"), "{}", l.url);
        let l = link(
            &inv("", "35909-12345"),
            &settings(PdfVersion::V4, true),
            BASE,
        );
        assert!(
            l.url.ends_with("&BCTR=12345&LDMO=202611&PRINT_FORM=TRUE"),
            "{}",
            l.url
        );
        assert_eq!(l.version, 4);
    }

    #[test]
    fn custom9_inv_or_ebil_forces_version_2() {
        for c9 in ["INV", "EBIL", "X-INV-7", "EBILL"] {
            let l = link(
                &inv(c9, "35909-12345"),
                &settings(PdfVersion::V4, true),
                BASE,
            );
            assert_eq!(l.version, 2, "{c9}");
            assert!(l.url.ends_with("&BCTR=12345"), "{}", l.url);
        }
        let l = link(&inv("INV", "1-2"), &settings(PdfVersion::V1, false), BASE);
        assert_eq!(l.version, 2, "forced up from 1 too");
        assert_eq!(effective_version(PdfVersion::V3, b"12345"), PdfVersion::V3);
    }

    #[test]
    fn values_are_percent_encoded_and_queries_joined() {
        let p = vec![("ACCT", "a b&c/é".to_string())];
        assert_eq!(url("http://h/x", &p), "http://h/x?ACCT=a%20b%26c%2F%C3%A9");
        assert_eq!(
            url("http://h/x?k=1", &[("A", "1".into())]),
            "http://h/x?k=1&A=1"
        );
        assert_eq!(url("http://h/x", &p[..0]), "http://h/x");
        assert_eq!(url("http://h/x?", &[("A", "1".into())]), "http://h/x?A=1");
    }

    #[test]
    fn ldmo_is_year_month() {
        assert_eq!(
            ldmo(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()),
            "202601"
        );
        assert_eq!(bctr("12345", BctrModifier::ValueAfterDash), "12345");
    }
}

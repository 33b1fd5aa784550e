//! Invoices as the rest of the pipeline sees them: one [`Invoice`] per IH
//! row with its CR and ID rows, fields trimmed and typed.
//!
//! This is the *reader* for files that are already known to be valid (the
//! account directory, the sandbox's seed, PDF links). It does not report
//! problems field by field: that is the validator's job. A file that does not
//! have the shape it needs gives a [`ReadError`] naming the line.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::format;
use super::layout::{FieldFormat, Layout, RecordKind};

/// One invoice: its IH, CR and ID rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// 1-based line of the IH row.
    pub line: u64,
    pub invoice_number: String,
    pub invoice_date: NaiveDate,
    pub due_date: NaiveDate,
    pub total_amount_due: Decimal,
    /// Account base number (Custom2).
    pub custom2: String,
    /// Account sub number (Custom3).
    pub custom3: String,
    /// Location number (Custom4), the serviceLocationID of account comments.
    pub custom4: String,
    /// Bill control number (Custom9).
    pub custom9: String,
    /// Base account-billing control number (Custom10).
    pub custom10: String,
    pub past_due: Option<Decimal>,
    pub invoice_type: String,
    pub customer: Customer,
    pub details: Vec<Detail>,
}

/// The CR row of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Customer {
    /// base-sub, e.g. `35909-001`.
    pub account_number: String,
    pub name: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub phone: String,
    pub email: String,
    pub block_payments_cc: bool,
    pub display_account_number: String,
}

/// One ID row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub description: String,
    pub amount: Decimal,
}

impl Invoice {
    /// The MultiSpeak account id: base+sub without the dash (D2, see
    /// [`crate::multispeak::account_id`]). A file that passed validation
    /// always has a base-sub AccountNumber; anything else is kept as written.
    pub fn multispeak_account(&self) -> String {
        let a = &self.customer.account_number;
        crate::multispeak::account_id(a).unwrap_or_else(|| a.clone())
    }
}

/// A file that cannot be read as invoices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ReadError {
    pub line: u64,
    pub message: String,
}

/// Reads every invoice of a BIF file's bytes.
///
/// Lines are split on LF (a CR before it is dropped), fields on `|`, and
/// fields are trimmed. Bytes that are not UTF-8 are read as Windows-1252.
pub fn read_invoices(bytes: &[u8], layout: &Layout) -> Result<Vec<Invoice>, ReadError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let ih = layout.record(RecordKind::IH);
    let cr = layout.record(RecordKind::CR);
    let id = layout.record(RecordKind::ID);
    let idx = |r: &super::layout::RecordLayout, name: &str| r.index_of(name);
    let err = |line: u64, message: String| ReadError { line, message };

    let mut out: Vec<Invoice> = Vec::new();
    let mut saw_cr = false;
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = n as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = decode(raw);
        let fields: Vec<&str> = text.split('|').map(str::trim).collect();
        let get = |i: Option<usize>| i.and_then(|i| fields.get(i)).copied().unwrap_or("");
        let kind = RecordKind::from_bytes(fields[0].as_bytes())
            .ok_or_else(|| err(line, format!("unknown record type `{}`", fields[0])))?;
        match kind {
            RecordKind::FH => {}
            RecordKind::IH => {
                let k = layout.keys();
                let date = |i: usize| -> Result<NaiveDate, ReadError> {
                    parse_date(get(Some(i)), &ih.fields[i].format).ok_or_else(|| {
                        err(
                            line,
                            format!("{} `{}` is not a date", ih.fields[i].name, get(Some(i))),
                        )
                    })
                };
                let total = parse_amount(get(Some(k.ih_total_amount_due))).ok_or_else(|| {
                    err(
                        line,
                        format!(
                            "TotalAmountDue `{}` is not an amount",
                            get(Some(k.ih_total_amount_due))
                        ),
                    )
                })?;
                let past_due = match get(idx(ih, "PastDue")) {
                    "" => None,
                    v => Some(
                        parse_amount(v)
                            .ok_or_else(|| err(line, format!("PastDue `{v}` is not an amount")))?,
                    ),
                };
                out.push(Invoice {
                    line,
                    invoice_number: get(Some(k.ih_invoice_number)).to_string(),
                    invoice_date: date(k.ih_invoice_date)?,
                    due_date: date(k.ih_due_date)?,
                    total_amount_due: total,
                    custom2: get(Some(k.ih_custom2)).to_string(),
                    custom3: get(Some(k.ih_custom3)).to_string(),
                    custom4: get(Some(k.ih_custom4)).to_string(),
                    custom9: get(Some(k.ih_custom9)).to_string(),
                    custom10: get(Some(k.ih_custom10)).to_string(),
                    past_due,
                    invoice_type: get(idx(ih, "InvoiceType")).to_string(),
                    customer: Customer::default(),
                    details: Vec::new(),
                });
                saw_cr = false;
            }
            RecordKind::CR => {
                let inv = out
                    .last_mut()
                    .filter(|_| !saw_cr)
                    .ok_or_else(|| err(line, "CR row without its IH".into()))?;
                let s = |name: &str| get(idx(cr, name)).to_string();
                inv.customer = Customer {
                    account_number: s("AccountNumber"),
                    name: s("CustomerName"),
                    address1: s("Address1"),
                    address2: s("Address2"),
                    city: s("City"),
                    state: s("State"),
                    zip: s("Zip"),
                    phone: s("Phone"),
                    email: s("EmailAddress"),
                    block_payments_cc: get(idx(cr, "BlockPaymentsCC")) == "Y",
                    display_account_number: s("DisplayAccountNumber"),
                };
                saw_cr = true;
            }
            RecordKind::ID => {
                let inv = out
                    .last_mut()
                    .filter(|_| saw_cr)
                    .ok_or_else(|| err(line, "ID row without its IH and CR".into()))?;
                let v = get(idx(id, "Amount"));
                inv.details.push(Detail {
                    description: get(idx(id, "Description")).to_string(),
                    amount: parse_amount(v)
                        .ok_or_else(|| err(line, format!("Amount `{v}` is not an amount")))?,
                });
            }
        }
    }
    if let Some(inv) = out.last().filter(|_| !saw_cr) {
        return Err(err(inv.line, "invoice has no CR row".into()));
    }
    Ok(out)
}

/// UTF-8 where it is, Windows-1252 where it is not.
fn decode(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(s) => s.into(),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(raw).0,
    }
}

/// An `amount` field as money, by the validator's own rule
/// ([`format::amount_cents`]): one definition of an amount in the crate.
pub fn parse_amount(s: &str) -> Option<Decimal> {
    format::amount_cents(s.as_bytes())
        .ok()
        .map(|cents| Decimal::new(cents, 2))
}

/// A date in the layout's pattern (`%m/%d/%Y`), by the validator's rule.
fn parse_date(s: &str, format: &FieldFormat) -> Option<NaiveDate> {
    match format {
        FieldFormat::Date { parts, .. } => format::date(parts, s.as_bytes()).ok()?.to_naive(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "FH|3F358D04-4273-4551-BB14-B9F719EC0A61|11/26/2026|2|150.25\r\n\
IH|R|00000000-0000-0000-0000-000000000000|1001|11/20/2026|12/10/2026|100.00|35909|001|3210450|INV|35909-1001|20.00\r\n\
CR|35909-001|JANE DOE |12 MAIN ST||LOWELL|MI|49331|616-555-0100|jane@example.com\r\n\
ID|Electric|80.00\r\n\
ID|Credit|-9.75\r\n\
IH|R|00000000-0000-0000-0000-000000000000|1002|11/20/2026|12/10/2026|50.25|35910|002|3210451||35910-1002\n\
CR|35910-002|Caf\u{e9} Owner\n";

    #[test]
    fn reads_invoices_with_customers_and_details() {
        let invs = read_invoices(FILE.as_bytes(), &Layout::embedded()).unwrap();
        assert_eq!(invs.len(), 2);
        let a = &invs[0];
        assert_eq!(a.line, 2);
        assert_eq!(a.invoice_number, "1001");
        assert_eq!(a.total_amount_due, Decimal::new(10000, 2));
        assert_eq!(a.past_due, Some(Decimal::new(2000, 2)));
        assert_eq!(a.custom4, "3210450");
        assert_eq!(a.customer.name, "JANE DOE");
        assert_eq!(a.multispeak_account(), "35909001");
        assert_eq!(a.details.len(), 2);
        assert_eq!(a.details[1].amount, Decimal::new(-975, 2));
        assert_eq!(invs[1].customer.name, "Café Owner");
        assert!(invs[1].details.is_empty());
    }

    #[test]
    fn cp1252_bytes_are_decoded() {
        let mut bytes = FILE.replace("Café", "Caf").into_bytes();
        let at = bytes.len() - 7; // before " Owner\n"
        bytes.insert(at, 0xE9);
        let invs = read_invoices(&bytes, &Layout::embedded()).unwrap();
        assert_eq!(invs[1].customer.name, "Café Owner");
    }

    #[test]
    fn shape_errors_name_the_line() {
        let l = Layout::embedded();
        assert_eq!(read_invoices(b"FH|x\nCR|1-1|X\n", &l).unwrap_err().line, 2);
        assert_eq!(read_invoices(b"ZZ|x\n", &l).unwrap_err().line, 1);
        let no_cr = FILE.lines().take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(read_invoices(no_cr.as_bytes(), &l).unwrap_err().line, 2);
    }

    #[test]
    fn amounts() {
        for ok in ["0", "1.5", "-1.50", "123456789.01"] {
            assert!(parse_amount(ok).is_some(), "{ok}");
        }
        for bad in [
            "", "-", "1.", ".5", "1.234", "$1", "1,000", "+1", "1e3", "--1",
        ] {
            assert!(parse_amount(bad).is_none(), "{bad}");
        }
    }
}

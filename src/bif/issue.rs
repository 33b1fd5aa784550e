//! What the validator finds: an [`Issue`] with a stable [`Code`].
//!
//! Codes are part of the interface contract (`interface.md` §3): stable
//! snake_case words that scripts may match on. Never rename one; add new ones.

use std::fmt;

use serde::{Serialize, Serializer};

use super::layout::RecordKind;

/// How bad an issue is. Errors make a file invalid; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $name:literal, $sev:ident; )+) => {
        /// Every issue the validator reports, by its stable name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )+ ];

            /// The stable snake_case name.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $name, )+ }
            }

            /// Whether the code makes a file invalid.
            pub fn severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )+ }
            }

            /// One line saying what the code means (the README table).
            pub fn doc(self) -> &'static str {
                match self { $( Code::$variant => concat!($($doc),+).trim_ascii(), )+ }
            }

            /// The code named `name`.
            pub fn from_name(name: &str) -> Option<Code> {
                match name { $( $name => Some(Code::$variant), )+ _ => None }
            }
        }
    };
}

codes! {
    /// The file name is not `{BID}_{MMDDYYYY}.BIF` for the configured BID.
    BadFileName = "bad_file_name", Error;
    /// The file has no rows at all.
    EmptyFile = "empty_file", Error;
    /// A NUL byte near the start: a binary file (a zip, an image, a PDF), not a BIF; nothing more is read.
    BinaryFile = "binary_file", Error;
    /// The first row is not an FH file header.
    MissingHeader = "missing_header", Error;
    /// A second FH row.
    DuplicateHeader = "duplicate_header", Error;
    /// A line over 1 MiB: not a BIF row; it is not parsed.
    LineTooLong = "line_too_long", Error;
    /// The RowType is not FH, IH, CR or ID.
    UnknownRecord = "unknown_record", Error;
    /// The row has more columns than its record's layout.
    TooManyFields = "too_many_fields", Error;
    /// The row stops before a required column (trailing optional columns may be left off).
    TooFewFields = "too_few_fields", Error;
    /// A required field is empty.
    MissingRequired = "missing_required", Error;
    /// A `literal:X` field is not X (a RowType such as `ih`; the row is still read as IH).
    BadLiteral = "bad_literal", Error;
    /// An `enum:A|B` field is none of the listed values.
    BadEnum = "bad_enum", Error;
    /// Not a GUID (8-4-4-4-12 hex digits).
    BadGuid = "bad_guid", Error;
    /// Not a whole non-negative number.
    BadInt = "bad_int", Error;
    /// Not an amount: optional `-`, digits, at most two decimals, no `$` or commas.
    BadAmount = "bad_amount", Error;
    /// Not a calendar date in the layout's pattern (`%m/%d/%Y`).
    BadDate = "bad_date", Error;
    /// Not digits only.
    BadDigits = "bad_digits", Error;
    /// Longer than the `text:MIN..MAX` maximum (in characters).
    TextTooLong = "text_too_long", Error;
    /// Shorter than the `text:MIN..MAX` minimum (in characters).
    TextTooShort = "text_too_short", Error;
    /// Custom10 is not base-BCTR (`digits-digits`, e.g. `1234-12345`).
    BadBaseBctr = "bad_base_bctr", Error;
    /// AccountNumber is not base-sub (`digits-digits`, e.g. `35909-001`).
    BadAccount = "bad_account", Error;
    /// Not a two-letter USPS state or territory code.
    BadState = "bad_state", Error;
    /// Not a ZIP code (5 digits, or 5+4 with or without a dash).
    BadZip = "bad_zip", Error;
    /// Not a 10-digit phone number once punctuation is removed.
    BadPhone = "bad_phone", Error;
    /// Not an e-mail address (one `@`, a local part, a dotted domain, no spaces).
    BadEmail = "bad_email", Error;
    /// Not `Y` or `N`.
    BadYn = "bad_yn", Error;
    /// FH BillerGuid is not the configured biller GUID.
    BillerMismatch = "biller_mismatch", Error;
    /// A CR or ID row without its IH (or an ID before its CR), or a second CR for one invoice.
    OrphanRecord = "orphan_record", Error;
    /// An IH row with no CR row after it.
    MissingCustomer = "missing_customer", Error;
    /// FH InvoiceCount differs from the number of IH rows.
    CountMismatch = "count_mismatch", Error;
    /// FH TotalInvoiceAmount differs from the sum of IH TotalAmountDue.
    TotalMismatch = "total_mismatch", Error;
    /// The same InvoiceNumber on two IH rows.
    DuplicateInvoice = "duplicate_invoice", Error;
    /// CR AccountNumber is not IH Custom2-Custom3.
    AccountMismatch = "account_mismatch", Error;
    /// Custom10 is empty on an invoice whose PDF link needs BCTR (setting 119 >= 2, or Custom9 with INV/EBIL).
    MissingBctr = "missing_bctr", Error;
    /// IH InvoiceDueDate is before InvoiceDate.
    DueBeforeInvoiceDate = "due_before_invoice_date", Warning;
    /// The line is not UTF-8; it was read as Windows-1252.
    Cp1252Encoding = "cp1252_encoding", Warning;
    /// An empty (or all-space) line; it is skipped.
    BlankLine = "blank_line", Warning;
    /// FH FileCreationDate differs from the date in the file name.
    FileDateMismatch = "file_date_mismatch", Warning;
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn ser_record<S: Serializer>(r: &Option<RecordKind>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(k) => s.serialize_str(k.as_str()),
        None => s.serialize_none(),
    }
}

/// Values are cut to this many characters in issues.
pub const VALUE_MAX_CHARS: usize = 100;

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// 1-based line, `None` for the file as a whole (its name).
    pub line: Option<u64>,
    /// The record type of the row, where known.
    #[serde(serialize_with = "ser_record")]
    pub record: Option<RecordKind>,
    /// The layout's field name, where the issue is about one field.
    pub field: Option<String>,
    /// 1-based column of that field.
    pub field_position: Option<usize>,
    pub code: Code,
    pub severity: Severity,
    /// The offending value, trimmed, cut to [`VALUE_MAX_CHARS`] characters.
    pub value: Option<String>,
    /// What is wrong, for people.
    pub message: String,
    /// The other line involved, where there is one: the first occurrence of
    /// a duplicate, the IH of a CR, the row that showed a CR missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_line: Option<u64>,
}

impl Issue {
    /// An issue of `code` with its severity; the rest is filled by the builder methods.
    pub fn new(code: Code, line: Option<u64>, message: impl Into<String>) -> Issue {
        Issue {
            line,
            record: None,
            field: None,
            field_position: None,
            code,
            severity: code.severity(),
            value: None,
            message: message.into(),
            related_line: None,
        }
    }

    /// Names another line; `{related}` in the message becomes its number
    /// once the file's line numbers are final (chunks count from 1).
    pub fn related(mut self, line: u64) -> Issue {
        self.related_line = Some(line);
        self
    }

    /// Puts the related line's number into the message.
    pub fn resolve_related(&mut self) {
        if let Some(l) = self.related_line {
            self.message = self.message.replace("{related}", &l.to_string());
        }
    }

    pub fn record(mut self, kind: RecordKind) -> Issue {
        self.record = Some(kind);
        self
    }

    pub fn field(mut self, name: &str, position: usize) -> Issue {
        self.field = Some(name.to_string());
        self.field_position = Some(position);
        self
    }

    pub fn value(mut self, value: &str) -> Issue {
        self.value = Some(truncate(value));
        self
    }
}

/// `s` cut to [`VALUE_MAX_CHARS`] characters, with `…` when cut.
pub fn truncate(s: &str) -> String {
    match s.char_indices().nth(VALUE_MAX_CHARS) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

#[cfg(test)]
mod tests {
    /// README lists every code for the people who script against them.
    #[test]
    fn readme_lists_every_code() {
        let readme = include_str!("../../README.md");
        for c in Code::ALL {
            let severity = match c.severity() {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let row = format!("| `{}` | {severity} |", c.as_str());
            assert!(
                readme.contains(&row),
                "README lacks the row for {}",
                c.as_str()
            );
        }
    }

    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &c in Code::ALL {
            let n = c.as_str();
            assert!(seen.insert(n), "{n} twice");
            assert!(
                n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{n}"
            );
            assert_eq!(Code::from_name(n), Some(c));
            assert!(!c.doc().is_empty());
        }
        assert_eq!(Code::from_name("nope"), None);
        assert_eq!(Code::BadDate.severity(), Severity::Error);
        assert_eq!(Code::Cp1252Encoding.severity(), Severity::Warning);
    }

    #[test]
    fn issue_json_shape() {
        let i = Issue::new(Code::BadDate, Some(17), "x")
            .record(RecordKind::IH)
            .field("InvoiceDate", 5)
            .value("13/01/2026");
        let j = serde_json::to_value(&i).unwrap();
        assert_eq!(j["line"], 17);
        assert_eq!(j["record"], "IH");
        assert_eq!(j["field"], "InvoiceDate");
        assert_eq!(j["code"], "bad_date");
        assert_eq!(j["severity"], "error");
        assert_eq!(j["value"], "13/01/2026");
    }

    #[test]
    fn values_are_truncated_on_char_boundaries() {
        let long = "é".repeat(150);
        let t = truncate(&long);
        assert_eq!(t.chars().count(), VALUE_MAX_CHARS + 1);
        assert_eq!(truncate("abc"), "abc");
    }
}

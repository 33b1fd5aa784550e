//! Reading InvoiceCloud's exports: `payments.csv` and `events.csv`
//! (interface.md §1.2).
//!
//! A file's kind is told by its header row (a `payment_guid` column makes it
//! payments, an `event_id` column events), not by its name. Columns are found
//! by name, in any order; optional columns may be absent; columns this
//! reader does not know are ignored with a warning. Every value is trimmed.
//!
//! Nothing here trusts the file: a row that cannot be used becomes a
//! [`RowIssue`] (line, column, field, stable code, the value, a message),
//! exactly as `validate` reports BIF problems, and the file's other rows are
//! still read. What a row *means* for Daffron (the seed's rules) is decided
//! later, in [`super::rules`].

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::multispeak::TenderKind;

/// The stable codes of export problems. Scripts may match on them; never
/// rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueCode {
    /// The header row names neither `payment_guid` nor `event_id`.
    UnknownExport,
    /// The header lacks a column the kind of file needs.
    MissingColumn,
    /// The file is empty or has only a header.
    EmptyFile,
    /// A row has more fields than the header.
    TooManyFields,
    /// A row has fewer fields than the header.
    TooFewFields,
    /// The row is not UTF-8 text, a value holds a character that is not
    /// text (a NUL or another control character XML cannot carry), or the
    /// CSV cannot be read at that point.
    BadEncoding,
    /// A required value is empty.
    MissingRequired,
    /// An account number that is not base-sub (`35909-001`).
    BadAccount,
    /// An amount that is not a positive decimal with at most two decimals
    /// (a fee may be zero).
    BadAmount,
    /// A tender other than `CC`, `ACH`, `ECHECK`, `CASH`.
    BadTender,
    /// A `kind` other than `PAPERLESS`, `AUTOPAY`, `SCHEDULED_PAYMENT`.
    BadKind,
    /// An `action` the event's kind does not have.
    BadAction,
    /// `payment_source_id` is not a whole number.
    BadInt,
    /// `scheduled_date` is not `YYYY-MM-DD`.
    BadDate,
    /// `paid_at` / `occurred_at` is not an RFC 3339 timestamp with offset.
    BadTimestamp,
    /// `service_location_id` is not digits (BIF Custom4 is numeric).
    BadLocation,
    /// The same key appears again with other content (in this file, or
    /// already in the outbox): the first is kept, never overwritten.
    Conflict,
    /// A column this reader does not know (warning).
    UnknownColumn,
    /// The row is well-formed but a seed rule refuses it (D8: a comment over
    /// 70 characters; D4: no transactionId): taken as a `rejected` item.
    RefusedByRule,
}

impl IssueCode {
    pub const ALL: [IssueCode; 19] = [
        IssueCode::UnknownExport,
        IssueCode::MissingColumn,
        IssueCode::EmptyFile,
        IssueCode::TooManyFields,
        IssueCode::TooFewFields,
        IssueCode::BadEncoding,
        IssueCode::MissingRequired,
        IssueCode::BadAccount,
        IssueCode::BadAmount,
        IssueCode::BadTender,
        IssueCode::BadKind,
        IssueCode::BadAction,
        IssueCode::BadInt,
        IssueCode::BadDate,
        IssueCode::BadTimestamp,
        IssueCode::BadLocation,
        IssueCode::Conflict,
        IssueCode::UnknownColumn,
        IssueCode::RefusedByRule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IssueCode::UnknownExport => "unknown_export",
            IssueCode::MissingColumn => "missing_column",
            IssueCode::EmptyFile => "empty_file",
            IssueCode::TooManyFields => "too_many_fields",
            IssueCode::TooFewFields => "too_few_fields",
            IssueCode::BadEncoding => "bad_encoding",
            IssueCode::MissingRequired => "missing_required",
            IssueCode::BadAccount => "bad_account",
            IssueCode::BadAmount => "bad_amount",
            IssueCode::BadTender => "bad_tender",
            IssueCode::BadKind => "bad_kind",
            IssueCode::BadAction => "bad_action",
            IssueCode::BadInt => "bad_int",
            IssueCode::BadDate => "bad_date",
            IssueCode::BadTimestamp => "bad_timestamp",
            IssueCode::BadLocation => "bad_location",
            IssueCode::Conflict => "conflict",
            IssueCode::UnknownColumn => "unknown_column",
            IssueCode::RefusedByRule => "refused_by_rule",
        }
    }

    /// Warnings do not refuse anything.
    pub fn is_warning(self) -> bool {
        matches!(self, IssueCode::UnknownColumn)
    }
}

impl fmt::Display for IssueCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with an export file or row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowIssue {
    /// 1-based line of the row (the header is line 1); `None` for the file.
    pub line: Option<u64>,
    /// 1-based column of the field, when one field is at fault.
    pub column: Option<usize>,
    /// The column's name, when one field is at fault.
    pub field: Option<String>,
    pub code: IssueCode,
    /// The value as found (cut to 100 characters).
    pub value: String,
    pub message: String,
}

impl RowIssue {
    /// `FILE:LINE: FIELD (column N): code: message`, like `validate`.
    pub fn text_line(&self, file: &str) -> String {
        let mut s = file.to_string();
        if let Some(l) = self.line {
            s.push_str(&format!(":{l}"));
        }
        s.push_str(": ");
        if let Some(f) = &self.field {
            match self.column {
                Some(c) => s.push_str(&format!("{f} (column {c}): ")),
                None => s.push_str(&format!("{f}: ")),
            }
        }
        if self.code.is_warning() {
            s.push_str("warning: ");
        }
        s.push_str(&format!("{}: {}", self.code, self.message));
        s
    }
}

/// A payment InvoiceCloud took (`payments.csv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRow {
    pub payment_guid: String,
    /// base-sub, as in the BIF (`35909-001`).
    pub account: String,
    pub invoice_number: String,
    pub invoice_type: Option<String>,
    pub tender: TenderCode,
    /// Applied to the bill; never includes the fee.
    pub amount: Decimal,
    /// The convenience fee: reported, never sent.
    pub fee: Decimal,
    pub auth_code: String,
    pub payment_source_id: u32,
    pub kiosk_id: Option<String>,
    pub group_key: Option<String>,
    pub paid_at: DateTime<FixedOffset>,
}

/// What tells a repeat of an export row from a conflict (the same key with
/// other content): a digest of the row's values as read, the first 16
/// bytes of a SHA-256. Values, not text: spacing and quoting around a value
/// do not count, `5.0` against `5.00` does (the amount was written
/// otherwise), a time counts by its instant and its offset. Each value goes
/// in length-prefixed, in the row's field order, after a tag naming the
/// kind of row and this encoding's version; nothing is formatted, since it
/// runs for every row of a night's export. Never change an encoding: the
/// outbox keeps these digests; a new one takes a new version tag.
pub type RowDigest = [u8; 16];

/// The values are gathered, then hashed at once: a SHA-256 fed a dozen
/// small pieces spends more time copying them into its block than hashing.
struct Digester(Vec<u8>);

impl Digester {
    fn new(tag: &str) -> Digester {
        let mut d = Digester(Vec::with_capacity(256));
        d.text(tag);
        d
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn text(&mut self, s: &str) {
        self.bytes(&(s.len() as u64).to_le_bytes());
        self.bytes(s.as_bytes());
    }
    fn optional(&mut self, s: Option<&str>) {
        match s {
            None => self.bytes(&[0]),
            Some(s) => {
                self.bytes(&[1]);
                self.text(s);
            }
        }
    }
    fn decimal(&mut self, d: &Decimal) {
        // Mantissa, scale and sign: 5.0 and 5.00 differ.
        self.bytes(&d.serialize());
    }
    fn time(&mut self, t: &DateTime<FixedOffset>) {
        self.bytes(&t.timestamp().to_le_bytes());
        self.bytes(&t.timestamp_subsec_nanos().to_le_bytes());
        self.bytes(&t.offset().local_minus_utc().to_le_bytes());
    }
    fn finish(self) -> RowDigest {
        use sha2::Digest;
        let full = sha2::Sha256::digest(&self.0);
        let mut d = [0u8; 16];
        d.copy_from_slice(&full[..16]);
        d
    }
}

impl PaymentRow {
    /// The row's content digest ([`RowDigest`]).
    pub fn digest(&self) -> RowDigest {
        let mut d = Digester::new("payment-row/1");
        d.text(&self.payment_guid);
        d.text(&self.account);
        d.text(&self.invoice_number);
        d.optional(self.invoice_type.as_deref());
        d.text(self.tender.0.code());
        d.decimal(&self.amount);
        d.decimal(&self.fee);
        d.text(&self.auth_code);
        d.bytes(&self.payment_source_id.to_le_bytes());
        d.optional(self.kiosk_id.as_deref());
        d.optional(self.group_key.as_deref());
        d.time(&self.paid_at);
        d.finish()
    }
}

impl EventRow {
    /// The row's content digest ([`RowDigest`]).
    pub fn digest(&self) -> RowDigest {
        let mut d = Digester::new("event-row/1");
        d.text(&self.event_id);
        match &self.action {
            EventAction::Paperless { enroll } => d.bytes(&[1, u8::from(*enroll)]),
            EventAction::Autopay { on } => d.bytes(&[2, u8::from(*on)]),
            EventAction::ScheduledPayment(sp) => {
                let action = match sp.action {
                    ScheduledAction::Create => 1,
                    ScheduledAction::Cancel => 2,
                    ScheduledAction::Update => 3,
                };
                d.bytes(&[3, action]);
                d.bytes(&sp.scheduled_date.num_days_from_ce().to_le_bytes());
                d.decimal(&sp.amount);
                d.text(&sp.invoice_number);
            }
        }
        d.text(&self.account);
        d.optional(self.service_location_id.as_deref());
        d.time(&self.occurred_at);
        d.finish()
    }
}

/// The export's tender code, serialised as written (`CC`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TenderCode(pub TenderKind);

impl Serialize for TenderCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.code())
    }
}

impl<'de> Deserialize<'de> for TenderCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TenderCode::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown tender {s}")))
    }
}

impl TenderCode {
    pub fn parse(s: &str) -> Option<TenderCode> {
        TenderKind::ALL
            .into_iter()
            .find(|t| t.code() == s)
            .map(TenderCode)
    }
}

/// What an enrollment or scheduled-payment event asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventAction {
    Paperless { enroll: bool },
    Autopay { on: bool },
    ScheduledPayment(Scheduled),
}

/// The three actions of a scheduled payment (D8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScheduledAction {
    Create,
    Cancel,
    Update,
}

/// A scheduled payment's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduled {
    pub action: ScheduledAction,
    pub scheduled_date: NaiveDate,
    pub amount: Decimal,
    pub invoice_number: String,
}

/// An enrollment or scheduled-payment event (`events.csv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub event_id: String,
    pub action: EventAction,
    /// base-sub.
    pub account: String,
    pub service_location_id: Option<String>,
    pub occurred_at: DateTime<FixedOffset>,
}

/// Which export a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportKind {
    Payments,
    Events,
}

impl ExportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportKind::Payments => "payments",
            ExportKind::Events => "events",
        }
    }
}

/// A usable row and the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lined<T> {
    pub line: u64,
    pub row: T,
}

/// A file read: its kind (when the header tells it), the usable rows, and
/// every problem found.
#[derive(Debug, Clone, Default)]
pub struct ExportFile {
    pub kind: Option<ExportKind>,
    pub payments: Vec<Lined<PaymentRow>>,
    pub events: Vec<Lined<EventRow>>,
    /// Data rows seen (usable or not).
    pub rows: u64,
    pub issues: Vec<RowIssue>,
}

impl ExportFile {
    /// Rows refused by an error (not warnings).
    pub fn refused(&self) -> usize {
        let mut lines: Vec<u64> = self
            .issues
            .iter()
            .filter(|i| !i.code.is_warning())
            .filter_map(|i| i.line)
            .collect();
        lines.dedup();
        lines.len()
    }
}

const PAYMENT_COLUMNS: &[(&str, bool)] = &[
    ("payment_guid", true),
    ("account_number", true),
    ("invoice_number", true),
    ("invoice_type", false),
    ("tender", true),
    ("amount", true),
    ("fee", false),
    ("auth_code", false),
    ("payment_source_id", true),
    ("kiosk_id", false),
    ("group_key", false),
    ("paid_at", true),
];

const EVENT_COLUMNS: &[(&str, bool)] = &[
    ("event_id", true),
    ("kind", true),
    ("action", true),
    ("account_number", true),
    ("service_location_id", false),
    ("scheduled_date", false),
    ("amount", false),
    ("invoice_number", false),
    ("occurred_at", true),
];

fn cut(v: &str) -> String {
    if v.chars().count() <= 100 {
        v.to_string()
    } else {
        let mut s: String = v.chars().take(100).collect();
        s.push('…');
        s
    }
}

/// One usable row, as [`read_each`] hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usable {
    Payment(Lined<PaymentRow>),
    Event(Lined<EventRow>),
}

/// Reads one export file's bytes. Never fails: what cannot be used is an
/// issue.
pub fn read(bytes: &[u8]) -> ExportFile {
    let mut payments = Vec::new();
    let mut events = Vec::new();
    let mut out = read_each(bytes, |row| match row {
        Usable::Payment(p) => payments.push(p),
        Usable::Event(e) => events.push(e),
    });
    out.payments = payments;
    out.events = events;
    out
}

/// [`read`], handing each usable row to `on_row` as soon as it is read
/// (the returned file has no rows, only the kind, the count and the
/// issues), so a large export can be taken in while it is still being read.
pub fn read_each(bytes: &[u8], mut on_row: impl FnMut(Usable)) -> ExportFile {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut out = ExportFile::default();
    // Values are trimmed here (ASCII white space, as the csv crate's own
    // trim does), not by the reader: its trim builds a new record for
    // every row.
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut lines = Lines::new(bytes);
    let file_issue = |code, message: String| RowIssue {
        line: None,
        column: None,
        field: None,
        code,
        value: String::new(),
        message,
    };

    // The header row tells the kind and where each column is.
    let (header_line, header): (u64, Vec<String>) = match rdr.read_byte_record(&mut record) {
        Ok(true) => (
            lines.of_record(&record),
            record
                .iter()
                .map(|f| String::from_utf8_lossy(f).trim().to_ascii_lowercase())
                .collect(),
        ),
        Ok(false) => {
            out.issues.push(file_issue(
                IssueCode::EmptyFile,
                "the file is empty; an export starts with a header row".into(),
            ));
            return out;
        }
        Err(e) => {
            out.issues.push(file_issue(
                IssueCode::BadEncoding,
                format!("the header row cannot be read: {e}"),
            ));
            return out;
        }
    };
    let (kind, columns) = if header.iter().any(|h| h == "payment_guid") {
        (ExportKind::Payments, PAYMENT_COLUMNS)
    } else if header.iter().any(|h| h == "event_id") {
        (ExportKind::Events, EVENT_COLUMNS)
    } else {
        out.issues.push(file_issue(
            IssueCode::UnknownExport,
            "the header names neither payment_guid (payments.csv) nor event_id (events.csv)".into(),
        ));
        return out;
    };
    out.kind = Some(kind);
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        match columns.iter().find(|(name, _)| name == h) {
            Some((name, _)) => {
                index.entry(name).or_insert(i);
            }
            None => out.issues.push(RowIssue {
                line: Some(header_line),
                column: Some(i + 1),
                field: Some(h.clone()),
                code: IssueCode::UnknownColumn,
                value: cut(h),
                message: format!(
                    "column `{h}` is not part of a {} export; ignored",
                    kind.as_str()
                ),
            }),
        }
    }
    let missing: Vec<&str> = columns
        .iter()
        .filter(|(name, required)| *required && !index.contains_key(name))
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        out.issues.push(file_issue(
            IssueCode::MissingColumn,
            format!("the header lacks {}", missing.join(", ")),
        ));
        return out;
    }
    let mut known: Vec<(&'static str, usize)> = index.iter().map(|(n, i)| (*n, *i)).collect();
    known.sort_by_key(|&(_, i)| i);
    let cols = Columns {
        known,
        width: header.len(),
    };

    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = match e.position() {
                    Some(p) => lines.row_at(p.byte()),
                    None => lines.line + 1,
                };
                out.rows += 1;
                out.issues.push(RowIssue {
                    line: Some(line),
                    column: None,
                    field: None,
                    code: IssueCode::BadEncoding,
                    value: String::new(),
                    message: format!("the row cannot be read as CSV: {e}"),
                });
                continue;
            }
        }
        let line = lines.of_record(&record);
        if record.iter().all(|f| f.trim_ascii().is_empty()) {
            continue; // a blank line
        }
        out.rows += 1;
        let Ok(fields) = record
            .iter()
            .map(|f| std::str::from_utf8(f.trim_ascii()))
            .collect::<Result<Vec<&str>, _>>()
        else {
            out.issues.push(RowIssue {
                line: Some(line),
                column: None,
                field: None,
                code: IssueCode::BadEncoding,
                value: cut(&String::from_utf8_lossy(record.as_slice())),
                message: "the row is not UTF-8 text".into(),
            });
            continue;
        };
        if fields.len() != cols.width {
            let (code, word) = if fields.len() > cols.width {
                (IssueCode::TooManyFields, "more")
            } else {
                (IssueCode::TooFewFields, "fewer")
            };
            out.issues.push(RowIssue {
                line: Some(line),
                column: None,
                field: None,
                code,
                value: String::new(),
                message: format!(
                    "the row has {} fields, {word} than the header's {} (a comma inside an unquoted value?)",
                    fields.len(),
                    cols.width
                ),
            });
            continue;
        }
        let mut row = Row {
            line,
            fields: &fields,
            cols: &cols,
            issues: Vec::new(),
        };
        // Every problem of the row is reported; a value that is not text
        // refuses it whatever the rest says.
        let text = row.all_text();
        match kind {
            ExportKind::Payments => {
                if let Some(p) = row.payment().filter(|_| text) {
                    on_row(Usable::Payment(Lined { line, row: p }));
                }
            }
            ExportKind::Events => {
                if let Some(e) = row.event().filter(|_| text) {
                    on_row(Usable::Event(Lined { line, row: e }));
                }
            }
        }
        out.issues.append(&mut row.issues);
    }
    if out.rows == 0 {
        out.issues.push(file_issue(
            IssueCode::EmptyFile,
            "the file has a header but no rows".into(),
        ));
    }
    out
}

/// The line each row starts on, as an editor numbers lines: a line ends
/// at `\n`, `\r\n` or a lone `\r`. The csv reader's own count knows only
/// `\n` and gives the position where it began reading a record, which is
/// before the `\n` of a `\r\n` and before any blank lines: a CRLF file's
/// rows were each put one line early (the first on the header's line), a
/// file ended by lone `\r`s was all line 1, and a row after a blank line
/// was put on the blank line.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Line breaks before `at` are counted in `line`.
    at: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            at: 0,
            line: 1,
        }
    }

    /// The line of the record just read (positions only move forward).
    fn of_record(&mut self, record: &csv::ByteRecord) -> u64 {
        match record.position() {
            Some(p) => self.row_at(p.byte()),
            None => self.line,
        }
    }

    /// The line of the row the reader began reading at byte `from`: its
    /// first byte is the first one there that ends no line.
    fn row_at(&mut self, from: u64) -> u64 {
        let len = self.bytes.len();
        let from = usize::try_from(from).map_or(len, |f| f.min(len));
        let start = from
            + self.bytes[from..]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
        if start < self.at {
            (self.at, self.line) = (0, 1);
        }
        for i in self.at..start {
            let b = self.bytes[i];
            if b == b'\r' || (b == b'\n' && (i == 0 || self.bytes[i - 1] != b'\r')) {
                self.line += 1;
            }
        }
        self.at = start;
        self.line
    }
}

struct Columns {
    /// The columns read, in the header's order.
    known: Vec<(&'static str, usize)>,
    width: usize,
}

impl Columns {
    /// Where column `name` is. A dozen names at most: a scan is quicker
    /// than hashing, and this runs for every value of every row.
    fn position(&self, name: &str) -> Option<usize> {
        self.known.iter().find(|(n, _)| *n == name).map(|&(_, i)| i)
    }
}

/// Whether XML 1.0 can carry `c` at all, escaped or not (its `Char`
/// production): every value read may end up in a payload, and no escape
/// writes a NUL, another control character or U+FFFE.
fn xml_char(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..
    )
}

/// One data row being read; problems collect in `issues`.
struct Row<'a> {
    line: u64,
    fields: &'a [&'a str],
    cols: &'a Columns,
    issues: Vec<RowIssue>,
}

impl Row<'_> {
    fn get(&self, name: &str) -> &str {
        self.cols
            .position(name)
            .and_then(|i| self.fields.get(i))
            .copied()
            .unwrap_or("")
    }

    fn issue(&mut self, name: &str, code: IssueCode, message: String) {
        let column = self.cols.position(name).map(|i| i + 1);
        let value = cut(self.get(name));
        self.issues.push(RowIssue {
            line: Some(self.line),
            column,
            field: Some(name.to_string()),
            code,
            value,
            message,
        });
    }

    /// `bad_encoding` for each column read whose value holds a character
    /// that is not text (XML cannot carry it, so no payload could send
    /// it); whether there was none.
    fn all_text(&mut self) -> bool {
        let mut ok = true;
        for &(name, i) in &self.cols.known {
            let v = self.fields.get(i).copied().unwrap_or("");
            // Printable ASCII, the usual case, is text byte by byte.
            if v.bytes().all(|b| (0x20..0x7F).contains(&b)) {
                continue;
            }
            if let Some(c) = v.chars().find(|&c| !xml_char(c)) {
                ok = false;
                self.issue(
                    name,
                    IssueCode::BadEncoding,
                    format!(
                        "{name} holds U+{:04X}, a character that is not text \
                         (no XML payload can carry it)",
                        c as u32
                    ),
                );
            }
        }
        ok
    }

    fn required(&mut self, name: &str) -> Option<String> {
        let v = self.get(name);
        if v.is_empty() {
            self.issue(
                name,
                IssueCode::MissingRequired,
                format!("{name} is required"),
            );
            None
        } else {
            Some(v.to_string())
        }
    }

    fn optional(&self, name: &str) -> Option<String> {
        Some(self.get(name))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    fn account(&mut self) -> Option<String> {
        let v = self.required("account_number")?;
        if is_base_sub(&v) {
            Some(v)
        } else {
            self.issue(
                "account_number",
                IssueCode::BadAccount,
                format!("`{v}` is not base-sub (digits-digits, such as 35909-001)"),
            );
            None
        }
    }

    fn amount(&mut self, name: &str, zero_ok: bool) -> Option<Decimal> {
        let v = self.get(name).to_string();
        match parse_money(&v) {
            Some(a) if a > Decimal::ZERO || (zero_ok && a.is_zero()) => Some(a),
            _ => {
                let what = if zero_ok {
                    "zero or a positive amount"
                } else {
                    "a positive amount"
                };
                self.issue(
                    name,
                    IssueCode::BadAmount,
                    format!("`{v}` is not {what} (digits, at most two decimals, no $ or commas)"),
                );
                None
            }
        }
    }

    fn timestamp(&mut self, name: &str) -> Option<DateTime<FixedOffset>> {
        let v = self.required(name)?;
        match DateTime::parse_from_rfc3339(&v) {
            Ok(t) => Some(t),
            Err(_) => {
                self.issue(
                    name,
                    IssueCode::BadTimestamp,
                    format!("`{v}` is not an RFC 3339 timestamp such as 2026-11-27T14:03:00-06:00"),
                );
                None
            }
        }
    }

    fn payment(&mut self) -> Option<PaymentRow> {
        let guid = self.required("payment_guid");
        let account = self.account();
        let invoice = self.required("invoice_number");
        let tender_text = self.get("tender").to_ascii_uppercase();
        let tender = TenderCode::parse(&tender_text);
        if tender.is_none() {
            let code = if tender_text.is_empty() {
                IssueCode::MissingRequired
            } else {
                IssueCode::BadTender
            };
            self.issue(
                "tender",
                code,
                "the tender must be CC, ACH, ECHECK or CASH".into(),
            );
        }
        let amount = self.amount("amount", false);
        let fee = if self.get("fee").is_empty() {
            Some(Decimal::ZERO)
        } else {
            self.amount("fee", true)
        };
        let source_text = self.get("payment_source_id").to_string();
        let source = source_text.parse::<u32>().ok();
        if source.is_none() {
            let code = if source_text.is_empty() {
                IssueCode::MissingRequired
            } else {
                IssueCode::BadInt
            };
            self.issue(
                "payment_source_id",
                code,
                format!(
                    "`{source_text}` is not an InvoiceCloud payment source id (a whole number)"
                ),
            );
        }
        let paid_at = self.timestamp("paid_at");
        Some(PaymentRow {
            payment_guid: guid?,
            account: account?,
            invoice_number: invoice?,
            invoice_type: self.optional("invoice_type"),
            tender: tender?,
            amount: amount?,
            fee: fee?,
            auth_code: self.get("auth_code").to_string(),
            payment_source_id: source?,
            kiosk_id: self.optional("kiosk_id"),
            group_key: self.optional("group_key"),
            paid_at: paid_at?,
        })
    }

    fn event(&mut self) -> Option<EventRow> {
        let id = self.required("event_id");
        let account = self.account();
        let kind = self.get("kind").to_ascii_uppercase();
        let action = self.get("action").to_ascii_uppercase();
        let location = self.optional("service_location_id");
        if let Some(l) = &location
            && !l.bytes().all(|b| b.is_ascii_digit())
        {
            self.issue(
                "service_location_id",
                IssueCode::BadLocation,
                format!("`{l}` is not a location number (digits, as BIF Custom4)"),
            );
        }
        let occurred = self.timestamp("occurred_at");
        let bad_action = |row: &mut Self, allowed: &str| {
            row.issue(
                "action",
                if action.is_empty() {
                    IssueCode::MissingRequired
                } else {
                    IssueCode::BadAction
                },
                format!("a {kind} event's action is {allowed}"),
            );
        };
        let what = match kind.as_str() {
            "PAPERLESS" => match action.as_str() {
                "ENROLL" => Some(EventAction::Paperless { enroll: true }),
                "UNENROLL" => Some(EventAction::Paperless { enroll: false }),
                _ => {
                    bad_action(self, "ENROLL or UNENROLL");
                    None
                }
            },
            "AUTOPAY" => match action.as_str() {
                "ON" => Some(EventAction::Autopay { on: true }),
                "OFF" => Some(EventAction::Autopay { on: false }),
                _ => {
                    bad_action(self, "ON or OFF");
                    None
                }
            },
            "SCHEDULED_PAYMENT" => {
                let a = match action.as_str() {
                    "CREATE" => Some(ScheduledAction::Create),
                    "CANCEL" => Some(ScheduledAction::Cancel),
                    "UPDATE" => Some(ScheduledAction::Update),
                    _ => {
                        bad_action(self, "CREATE, CANCEL or UPDATE");
                        None
                    }
                };
                let date_text = self.get("scheduled_date").to_string();
                let date = if date_text.is_empty() {
                    self.required("scheduled_date");
                    None
                } else {
                    let d = NaiveDate::parse_from_str(&date_text, "%Y-%m-%d").ok();
                    if d.is_none() {
                        self.issue(
                            "scheduled_date",
                            IssueCode::BadDate,
                            format!("`{date_text}` is not a date YYYY-MM-DD"),
                        );
                    }
                    d
                };
                let amount = self.amount("amount", false);
                let invoice = self.required("invoice_number");
                match (a, date, amount, invoice) {
                    (Some(action), Some(scheduled_date), Some(amount), Some(invoice_number)) => {
                        Some(EventAction::ScheduledPayment(Scheduled {
                            action,
                            scheduled_date,
                            amount,
                            invoice_number,
                        }))
                    }
                    _ => None,
                }
            }
            "" => {
                self.required("kind");
                None
            }
            _ => {
                self.issue(
                    "kind",
                    IssueCode::BadKind,
                    "the kind must be PAPERLESS, AUTOPAY or SCHEDULED_PAYMENT".into(),
                );
                None
            }
        };
        if location
            .as_deref()
            .is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        Some(EventRow {
            event_id: id?,
            action: what?,
            account: account?,
            service_location_id: location,
            occurred_at: occurred?,
        })
    }
}

/// `digits-digits`.
pub fn is_base_sub(s: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    s.split_once('-')
        .is_some_and(|(base, sub)| digits(base) && digits(sub))
}

/// An export amount: optional `-`, digits, an optional `.` with one or two
/// digits; no `$`, commas, exponents or spaces.
pub fn parse_money(s: &str) -> Option<Decimal> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 15 || !digits(int) {
        return None;
    }
    if let Some(f) = frac
        && (f.is_empty() || f.len() > 2 || !digits(f))
    {
        return None;
    }
    s.parse::<Decimal>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAY_HEADER: &str = "payment_guid,account_number,invoice_number,invoice_type,tender,amount,fee,auth_code,payment_source_id,kiosk_id,group_key,paid_at\n";
    const EVENT_HEADER: &str = "event_id,kind,action,account_number,service_location_id,scheduled_date,amount,invoice_number,occurred_at\n";

    fn codes(f: &ExportFile) -> Vec<(Option<u64>, &'static str)> {
        f.issues.iter().map(|i| (i.line, i.code.as_str())).collect()
    }

    #[test]
    fn a_good_payment_row() {
        let text = format!(
            "{PAY_HEADER}e4deba7f-86e7-4850-8226-d6a2fbfb0ab6, 35909-001 ,1000000259773,,cc,232.10,2.95,A01 - Approved,0,,,2026-11-27T14:03:00-06:00\n"
        );
        let f = read(text.as_bytes());
        assert_eq!(f.kind, Some(ExportKind::Payments));
        assert!(f.issues.is_empty(), "{:?}", f.issues);
        let p = &f.payments[0];
        assert_eq!(p.line, 2);
        assert_eq!(p.row.account, "35909-001");
        assert_eq!(p.row.tender.0, TenderKind::CreditCard);
        assert_eq!(p.row.amount.to_string(), "232.10");
        assert_eq!(p.row.fee.to_string(), "2.95");
        assert_eq!(p.row.invoice_type, None);
    }

    #[test]
    fn columns_in_any_order_and_optional_ones_absent() {
        let text = "paid_at,amount,tender,payment_source_id,invoice_number,account_number,payment_guid\n2026-11-27T14:03:00Z,5,ACH,2,INV-1,1-2,g1\n";
        let f = read(text.as_bytes());
        assert!(f.issues.is_empty(), "{:?}", f.issues);
        assert_eq!(f.payments[0].row.fee, Decimal::ZERO);
        assert_eq!(f.payments[0].row.auth_code, "");
    }

    #[test]
    fn every_bad_payment_field_is_reported_and_good_rows_kept() {
        let text = format!(
            "{PAY_HEADER}\
g1,35909001,INV,,CC,1.00,,A,0,,,2026-11-27T14:03:00Z\n\
g2,1-1,INV,,VISA,$5,-1,A,x,,,yesterday\n\
g3,1-1,INV,,CC,0,,A,0,,,2026-11-27T14:03:00Z\n\
g4,1-1,INV,,CC,1.234,,A,0,,,2026-11-27T14:03:00Z\n\
,1-1,,,,1,,A,,,,\n\
g6,1-1,INV,,CASH,12.5,0,,8,K1,G,2026-11-27T14:03:00+02:00\n\
g7,1-1\n"
        );
        let f = read(text.as_bytes());
        assert_eq!(
            codes(&f),
            vec![
                (Some(2), "bad_account"),
                (Some(3), "bad_tender"),
                (Some(3), "bad_amount"),
                (Some(3), "bad_amount"),
                (Some(3), "bad_int"),
                (Some(3), "bad_timestamp"),
                (Some(4), "bad_amount"),
                (Some(5), "bad_amount"),
                (Some(6), "missing_required"),
                (Some(6), "missing_required"),
                (Some(6), "missing_required"),
                (Some(6), "missing_required"),
                (Some(6), "missing_required"),
                (Some(8), "too_few_fields"),
            ]
        );
        assert_eq!(f.payments.len(), 1);
        assert_eq!(f.payments[0].row.payment_guid, "g6");
        assert_eq!(f.rows, 7);
        assert_eq!(f.refused(), 6);
        let i = &f.issues[1];
        assert_eq!(
            (i.column, i.field.as_deref(), i.value.as_str()),
            (Some(5), Some("tender"), "VISA")
        );
        assert_eq!(
            i.text_line("payments.csv"),
            "payments.csv:3: tender (column 5): bad_tender: the tender must be CC, ACH, ECHECK or CASH"
        );
    }

    #[test]
    fn events_of_each_kind() {
        let text = format!(
            "{EVENT_HEADER}\
e1,PAPERLESS,ENROLL,1-1,,,,,2026-11-27T14:03:00-06:00\n\
e2,autopay,off,1-1,321000070000,,,,2026-11-27T14:03:00-06:00\n\
e3,SCHEDULED_PAYMENT,CREATE,1-1,,2025-01-01,15075.25,121940013401,2026-11-27T14:03:00-06:00\n\
e4,SCHEDULED_PAYMENT,CREATE,1-1,,01/01/2025,,,2026-11-27T14:03:00-06:00\n\
e5,PAPERLESS,ON,1-1,,,,,2026-11-27T14:03:00-06:00\n\
e6,BILLING,X,1-1,L1,,,,2026-11-27T14:03:00-06:00\n"
        );
        let f = read(text.as_bytes());
        assert_eq!(f.kind, Some(ExportKind::Events));
        assert_eq!(
            codes(&f),
            vec![
                (Some(5), "bad_date"),
                (Some(5), "bad_amount"),
                (Some(5), "missing_required"),
                (Some(6), "bad_action"),
                (Some(7), "bad_location"),
                (Some(7), "bad_kind"),
            ]
        );
        assert_eq!(f.events.len(), 3);
        assert_eq!(
            f.events[0].row.action,
            EventAction::Paperless { enroll: true }
        );
        assert_eq!(f.events[1].row.action, EventAction::Autopay { on: false });
        assert_eq!(
            f.events[1].row.service_location_id.as_deref(),
            Some("321000070000")
        );
        match &f.events[2].row.action {
            EventAction::ScheduledPayment(s) => {
                assert_eq!(s.action, ScheduledAction::Create);
                assert_eq!(s.amount.to_string(), "15075.25");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn file_level_problems() {
        assert_eq!(codes(&read(b"")), vec![(None, "empty_file")]);
        assert_eq!(codes(&read(b"a,b\n1,2\n")), vec![(None, "unknown_export")]);
        assert_eq!(
            codes(&read(b"payment_guid,amount\n")),
            vec![(None, "missing_column")]
        );
        let f = read(format!("\u{feff}{PAY_HEADER}").as_bytes());
        assert_eq!(codes(&f), vec![(None, "empty_file")]);
        let f = read(format!("{}\n", EVENT_HEADER.trim_end().to_string() + ",extra").as_bytes());
        assert_eq!(
            codes(&f),
            vec![(Some(1), "unknown_column"), (None, "empty_file")]
        );
    }

    #[test]
    fn not_utf8_and_quoted_commas() {
        let mut bytes = PAY_HEADER.as_bytes().to_vec();
        bytes.extend_from_slice(b"g1,1-1,INV,,CC,1,,\xff,0,,,2026-11-27T14:03:00Z\n");
        bytes.extend_from_slice(b"g2,1-1,INV,,CC,1,,\"A01, Approved\",0,,,2026-11-27T14:03:00Z\n");
        let f = read(&bytes);
        assert_eq!(codes(&f), vec![(Some(2), "bad_encoding")]);
        assert_eq!(f.payments[0].row.auth_code, "A01, Approved");
    }

    #[test]
    fn a_value_xml_cannot_carry_refuses_its_row() {
        // Found by the exports fuzz target: a NUL or another control
        // character went into the payment's payload as it was, and no
        // XML parser reads that (the escape writes only <, >, &, ', ").
        let mut text = PAY_HEADER.to_string();
        text += "g1\u{e}\0,1-1,INV,,CC,1,,A\u{1b}[0m,0,K\u{ffff},,2026-11-27T14:03:00Z\n";
        text += "g2,1-1,INV,,CC,1,,\"A01\tApproved\nline 2\",0,,,2026-11-27T14:03:00Z\n";
        text += "g3,1-1,INV,,CC,$1,,\u{7},0,,,2026-11-27T14:03:00Z\n";
        let f = read(text.as_bytes());
        assert_eq!(
            codes(&f),
            vec![
                (Some(2), "bad_encoding"),
                (Some(2), "bad_encoding"),
                (Some(2), "bad_encoding"),
                // The quoted line break: g3 starts on line 5.
                (Some(5), "bad_encoding"),
                (Some(5), "bad_amount"),
            ]
        );
        let i = &f.issues[0];
        assert_eq!(
            (i.column, i.field.as_deref()),
            (Some(1), Some("payment_guid"))
        );
        assert_eq!(
            i.text_line("payments.csv"),
            "payments.csv:2: payment_guid (column 1): bad_encoding: payment_guid holds \
             U+000E, a character that is not text (no XML payload can carry it)"
        );
        assert_eq!(f.issues[1].field.as_deref(), Some("auth_code"));
        assert_eq!(f.issues[2].field.as_deref(), Some("kiosk_id"));
        // Tabs and line breaks are text: XML carries them.
        assert_eq!(f.payments.len(), 1);
        assert_eq!(f.payments[0].row.auth_code, "A01\tApproved\nline 2");
        assert_eq!((f.rows, f.refused()), (3, 2));

        let text = format!(
            "{EVENT_HEADER}e1,SCHEDULED_PAYMENT,CREATE,1-1,,2025-01-01,1,INV\u{0},2026-11-27T14:03:00Z\n"
        );
        let f = read(text.as_bytes());
        assert_eq!(codes(&f), vec![(Some(2), "bad_encoding")]);
        assert!(f.events.is_empty());
    }

    #[test]
    fn rows_are_at_their_lines_whatever_ends_them() {
        // Found by the exports fuzz target: the csv reader counts only
        // `\n`, from where it began reading a record. A CRLF file (as
        // Windows writes them) had each row one line early, the first on
        // the header's line; lone `\r` line ends put every row on line 1,
        // so `refused()` counted three refused rows as one; and a row after
        // a blank line was put on the blank line.
        let h =
            "payment_guid,paid_at,amount,tender,payment_source_id,invoice_number,account_number,x";
        let r = "g1,2026-11-27T14:03:00Z,$5,ACH,2,INV-1,1-2,";
        for (end, first, step) in [
            ("\n", 2, 1),
            ("\r\n", 2, 1),
            ("\r", 2, 1),
            ("\n\n", 3, 2),
            ("\r\n\r\n", 3, 2),
            ("\r\r", 3, 2),
            ("\n\r", 3, 2),
        ] {
            for lead in ["", end] {
                let skip = if lead.is_empty() { 0 } else { step };
                let f = read(format!("{lead}{h}{end}{r}{end}{r}{end}{r}{end}").as_bytes());
                let want = vec![
                    (Some(1 + skip), "unknown_column"),
                    (Some(first + skip), "bad_amount"),
                    (Some(first + skip + step), "bad_amount"),
                    (Some(first + skip + 2 * step), "bad_amount"),
                ];
                assert_eq!(codes(&f), want, "{lead:?} {end:?}");
                assert_eq!((f.rows, f.refused()), (3, 3), "{end:?}");
            }
        }
        // A quoted line break moves the next row down; the usable rows
        // carry their lines too.
        let text = format!(
            "{PAY_HEADER}g1,1-1,INV,,CC,1,,\"A\r\nB\rC\",0,,,2026-11-27T14:03:00Z\r\n\r\n\
             g2,1-1,INV,,CC,1,,A,0,,,2026-11-27T14:03:00Z\r\n"
        );
        let f = read(text.as_bytes());
        assert!(f.issues.is_empty(), "{:?}", f.issues);
        let at: Vec<u64> = f.payments.iter().map(|p| p.line).collect();
        assert_eq!(at, vec![2, 6]);
    }

    #[test]
    fn money() {
        for ok in ["1", "1.5", "1.50", "0.01", "-2.00", "123456789012345"] {
            assert!(parse_money(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            ".5",
            "1.",
            "1.234",
            "$1",
            "1,000",
            "1e3",
            " 1",
            "--1",
            "1234567890123456",
        ] {
            assert!(parse_money(bad).is_none(), "{bad}");
        }
    }
}

//! The BIF layout as data.
//!
//! The field-mapping table of the technical design is kept in
//! `specs/bif-layout.csv` (record, position, FileSpecID, name, required,
//! format, partner field, description). It is embedded in the binary as the
//! default; a biller whose files differ gets its own copy through
//! `[paths] layout`, not a code change.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// The layout shipped with the binary.
pub const EMBEDDED_LAYOUT: &str = include_str!("../../specs/bif-layout.csv");

/// A layout file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot read BIF layout {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("BIF layout {origin}, line {line}: {message}")]
    Row {
        origin: String,
        line: u64,
        message: String,
    },
    #[error("BIF layout {origin}: {message}")]
    Shape { origin: String, message: String },
}

/// The four record types of a BIF file, by their `RowType` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// File header: one, first.
    FH,
    /// Invoice header.
    IH,
    /// Customer record: exactly one after each IH.
    CR,
    /// Invoice detail line: zero or more after the CR.
    ID,
}

impl RecordKind {
    pub const ALL: [RecordKind; 4] = [
        RecordKind::FH,
        RecordKind::IH,
        RecordKind::CR,
        RecordKind::ID,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::FH => "FH",
            RecordKind::IH => "IH",
            RecordKind::CR => "CR",
            RecordKind::ID => "ID",
        }
    }

    /// The kind named by a (trimmed) RowType value.
    pub fn from_bytes(b: &[u8]) -> Option<RecordKind> {
        match b {
            b"FH" => Some(RecordKind::FH),
            b"IH" => Some(RecordKind::IH),
            b"CR" => Some(RecordKind::CR),
            b"ID" => Some(RecordKind::ID),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of a date pattern such as `%m/%d/%Y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatePart {
    /// `%m`: two-digit month.
    Month,
    /// `%d`: two-digit day.
    Day,
    /// `%Y`: four-digit year.
    Year,
    /// Any other character, matched as is.
    Lit(u8),
}

/// The format of a field's value (`interface.md` §1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldFormat {
    /// `literal:X`: exactly X.
    Literal(String),
    /// `enum:A|B`: one of the listed values.
    Enum(Vec<String>),
    /// `guid`: 8-4-4-4-12 hex digits, braces not allowed.
    Guid,
    /// `int`: a non-negative whole number.
    Int,
    /// `amount`: optional `-`, digits, at most two decimals; no `$` or commas.
    Amount,
    /// `date:PATTERN`, with `%m`, `%d`, `%Y` and literal characters.
    Date {
        pattern: String,
        parts: Vec<DatePart>,
    },
    /// `digits`: one or more ASCII digits.
    Digits,
    /// `text:MIN..MAX`: a length in characters.
    Text { min: usize, max: usize },
    /// `base-bctr`: digits, a dash, digits (Custom10).
    BaseBctr,
    /// `account`: digits, a dash, digits (base-sub).
    Account,
    /// `us-state`: a two-letter USPS state or territory code.
    UsState,
    /// `zip`: 5 digits, or 5+4 with a dash or without.
    Zip,
    /// `phone`: 10 digits once punctuation is removed.
    Phone,
    /// `email`: one `@`, a non-empty local part and a dotted domain.
    Email,
    /// `yn`: `Y` or `N`.
    Yn,
}

impl FieldFormat {
    /// Parses the `format` column.
    pub fn parse(s: &str) -> Result<FieldFormat, String> {
        let (head, arg) = match s.split_once(':') {
            Some((h, a)) => (h, Some(a)),
            None => (s, None),
        };
        let need_arg = |what: &str| {
            arg.filter(|a| !a.is_empty())
                .ok_or_else(|| format!("`{head}` needs {what}"))
        };
        Ok(match head {
            "literal" => FieldFormat::Literal(need_arg("a value, as literal:FH")?.to_string()),
            "enum" => FieldFormat::Enum(
                need_arg("values, as enum:A|B")?
                    .split('|')
                    .map(str::to_string)
                    .collect(),
            ),
            "date" => {
                let pattern = need_arg("a pattern, as date:%m/%d/%Y")?;
                let mut parts = Vec::new();
                let mut it = pattern.bytes();
                while let Some(b) = it.next() {
                    if b == b'%' {
                        parts.push(match it.next() {
                            Some(b'm') => DatePart::Month,
                            Some(b'd') => DatePart::Day,
                            Some(b'Y') => DatePart::Year,
                            other => {
                                return Err(format!(
                                    "date pattern `{pattern}`: unsupported %{} (use %m, %d, %Y)",
                                    other.map(|c| c as char).unwrap_or(' ')
                                ));
                            }
                        });
                    } else {
                        parts.push(DatePart::Lit(b));
                    }
                }
                for p in [DatePart::Month, DatePart::Day, DatePart::Year] {
                    if parts.iter().filter(|q| **q == p).count() != 1 {
                        return Err(format!(
                            "date pattern `{pattern}` must have each of %m, %d, %Y once"
                        ));
                    }
                }
                FieldFormat::Date {
                    pattern: pattern.to_string(),
                    parts,
                }
            }
            "text" => {
                let range = need_arg("a length range, as text:1..50")?;
                let (lo, hi) = range
                    .split_once("..")
                    .ok_or_else(|| format!("text range `{range}` is not MIN..MAX"))?;
                let min = lo
                    .trim()
                    .parse()
                    .map_err(|_| format!("text range `{range}`: bad MIN"))?;
                let max = hi
                    .trim()
                    .parse()
                    .map_err(|_| format!("text range `{range}`: bad MAX"))?;
                if min > max {
                    return Err(format!("text range `{range}`: MIN is above MAX"));
                }
                FieldFormat::Text { min, max }
            }
            _ if arg.is_some() => return Err(format!("format `{head}` takes no argument")),
            "guid" => FieldFormat::Guid,
            "int" => FieldFormat::Int,
            "amount" => FieldFormat::Amount,
            "digits" => FieldFormat::Digits,
            "base-bctr" => FieldFormat::BaseBctr,
            "account" => FieldFormat::Account,
            "us-state" => FieldFormat::UsState,
            "zip" => FieldFormat::Zip,
            "phone" => FieldFormat::Phone,
            "email" => FieldFormat::Email,
            "yn" => FieldFormat::Yn,
            other => return Err(format!("unknown format `{other}`")),
        })
    }
}

/// One column of a record.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// 1-based position in the line; position 1 is RowType.
    pub position: usize,
    /// InvoiceCloud's FileSpecID, where the field has one.
    pub file_spec_id: Option<u32>,
    pub name: String,
    pub required: bool,
    pub format: FieldFormat,
    /// Where Daffron takes the value from (file and field), if known.
    pub partner_field: String,
    pub description: String,
}

/// The columns of one record type, in order.
#[derive(Debug, Clone)]
pub struct RecordLayout {
    pub kind: RecordKind,
    pub fields: Vec<FieldSpec>,
}

impl RecordLayout {
    /// The 0-based index of the field named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The number of columns at which every required field is present: rows
    /// may leave off trailing optional columns, never a required one.
    pub fn min_fields(&self) -> usize {
        self.fields
            .iter()
            .rposition(|f| f.required)
            .map_or(1, |i| i + 1)
    }
}

/// 0-based indexes of the fields the cross-record rules need, resolved once.
#[derive(Debug, Clone, Copy)]
pub struct KeyFields {
    pub fh_biller_guid: usize,
    pub fh_creation_date: usize,
    pub fh_invoice_count: usize,
    pub fh_total_amount: usize,
    pub ih_invoice_format_guid: usize,
    pub ih_invoice_number: usize,
    pub ih_invoice_date: usize,
    pub ih_due_date: usize,
    pub ih_total_amount_due: usize,
    pub ih_custom2: usize,
    pub ih_custom3: usize,
    pub ih_custom4: usize,
    pub ih_custom9: usize,
    pub ih_custom10: usize,
    pub cr_account_number: usize,
}

/// The whole layout: one [`RecordLayout`] per record type.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Where it came from, for messages.
    pub origin: String,
    records: [RecordLayout; 4],
    keys: KeyFields,
}

#[derive(Deserialize)]
struct Row {
    record: String,
    position: usize,
    file_spec_id: Option<u32>,
    name: String,
    required: bool,
    format: String,
    #[serde(default)]
    partner_field: String,
    #[serde(default)]
    description: String,
}

impl Layout {
    /// The layout embedded in the binary (`specs/bif-layout.csv`).
    pub fn embedded() -> Layout {
        // The embedded file is checked by a unit test; failing here is a
        // build defect, not an input error.
        Layout::from_csv(
            EMBEDDED_LAYOUT.as_bytes(),
            "(embedded specs/bif-layout.csv)",
        )
        .expect("the embedded BIF layout is valid")
    }

    /// Reads a per-biller layout file.
    pub fn load(path: &Path) -> Result<Layout, LayoutError> {
        let bytes = std::fs::read(path).map_err(|source| LayoutError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Layout::from_csv(&bytes, &path.display().to_string())
    }

    /// Parses layout CSV with the header
    /// `record,position,file_spec_id,name,required,format,partner_field,description`.
    pub fn from_csv(bytes: &[u8], origin: &str) -> Result<Layout, LayoutError> {
        let row_err = |line: u64, message: String| LayoutError::Row {
            origin: origin.to_string(),
            line,
            message,
        };
        let mut fields: [Vec<FieldSpec>; 4] = Default::default();
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let csv_err = |e: csv::Error| {
            let line = e.position().map_or(0, |p| p.line());
            row_err(line, e.to_string())
        };
        let headers = rdr.headers().map_err(csv_err)?.clone();
        let mut rec = csv::StringRecord::new();
        while rdr.read_record(&mut rec).map_err(csv_err)? {
            let line = rec.position().map_or(0, |p| p.line());
            let row: Row = rec
                .deserialize(Some(&headers))
                .map_err(|e| row_err(line, e.to_string()))?;
            let kind = RecordKind::from_bytes(row.record.as_bytes()).ok_or_else(|| {
                row_err(
                    line,
                    format!("record `{}` is not FH, IH, CR or ID", row.record),
                )
            })?;
            let format = FieldFormat::parse(&row.format).map_err(|m| row_err(line, m))?;
            let list = &mut fields[kind.index()];
            if row.position != list.len() + 1 {
                return Err(row_err(
                    line,
                    format!(
                        "{kind} position {} out of order: expected {}",
                        row.position,
                        list.len() + 1
                    ),
                ));
            }
            if list.iter().any(|f| f.name == row.name) {
                return Err(row_err(
                    line,
                    format!("{kind} field {} is listed twice", row.name),
                ));
            }
            list.push(FieldSpec {
                position: row.position,
                file_spec_id: row.file_spec_id,
                name: row.name,
                required: row.required,
                format,
                partner_field: row.partner_field,
                description: row.description,
            });
        }
        let [fh, ih, cr, id] = fields;
        let records = [
            RecordLayout {
                kind: RecordKind::FH,
                fields: fh,
            },
            RecordLayout {
                kind: RecordKind::IH,
                fields: ih,
            },
            RecordLayout {
                kind: RecordKind::CR,
                fields: cr,
            },
            RecordLayout {
                kind: RecordKind::ID,
                fields: id,
            },
        ];
        let shape = |message: String| LayoutError::Shape {
            origin: origin.to_string(),
            message,
        };
        for r in &records {
            match r.fields.first() {
                Some(f)
                    if f.name == "RowType"
                        && f.format == FieldFormat::Literal(r.kind.to_string()) => {}
                _ => {
                    return Err(shape(format!(
                        "{} must start with RowType, format literal:{}",
                        r.kind, r.kind
                    )));
                }
            }
        }
        let find = |kind: RecordKind, name: &str| -> Result<usize, LayoutError> {
            records[kind.index()].index_of(name).ok_or_else(|| {
                shape(format!(
                    "{kind} has no {name} field, which the validator needs"
                ))
            })
        };
        use RecordKind::*;
        let keys = KeyFields {
            fh_biller_guid: find(FH, "BillerGuid")?,
            fh_creation_date: find(FH, "FileCreationDate")?,
            fh_invoice_count: find(FH, "InvoiceCount")?,
            fh_total_amount: find(FH, "TotalInvoiceAmount")?,
            ih_invoice_format_guid: find(IH, "InvoiceFormatGuid")?,
            ih_invoice_number: find(IH, "InvoiceNumber")?,
            ih_invoice_date: find(IH, "InvoiceDate")?,
            ih_due_date: find(IH, "InvoiceDueDate")?,
            ih_total_amount_due: find(IH, "TotalAmountDue")?,
            ih_custom2: find(IH, "Custom2")?,
            ih_custom3: find(IH, "Custom3")?,
            ih_custom4: find(IH, "Custom4")?,
            ih_custom9: find(IH, "Custom9")?,
            ih_custom10: find(IH, "Custom10")?,
            cr_account_number: find(CR, "AccountNumber")?,
        };
        Ok(Layout {
            origin: origin.to_string(),
            records,
            keys,
        })
    }

    /// The columns of a record type.
    pub fn record(&self, kind: RecordKind) -> &RecordLayout {
        &self.records[kind.index()]
    }

    /// Indexes of the fields the cross-record rules use.
    pub fn keys(&self) -> &KeyFields {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_layout_is_valid() {
        let l = Layout::embedded();
        assert_eq!(l.record(RecordKind::FH).fields.len(), 5);
        assert_eq!(l.record(RecordKind::IH).fields.len(), 23);
        assert_eq!(l.record(RecordKind::CR).fields.len(), 12);
        assert_eq!(l.record(RecordKind::ID).fields.len(), 3);
        let k = l.keys();
        assert_eq!(k.ih_invoice_number, 3);
        assert_eq!(k.ih_custom10, 11);
        assert_eq!(k.cr_account_number, 1);
        // Custom10 (position 12) is the last required IH field.
        assert_eq!(l.record(RecordKind::IH).min_fields(), 12);
        assert_eq!(l.record(RecordKind::CR).min_fields(), 3);
        let ih = l.record(RecordKind::IH);
        assert_eq!(
            ih.fields[4].format,
            FieldFormat::parse("date:%m/%d/%Y").unwrap()
        );
        assert_eq!(ih.fields[12].file_spec_id, Some(407));
    }

    #[test]
    fn formats_parse_and_reject() {
        assert_eq!(
            FieldFormat::parse("text:1..50").unwrap(),
            FieldFormat::Text { min: 1, max: 50 }
        );
        assert_eq!(
            FieldFormat::parse("enum:R|S").unwrap(),
            FieldFormat::Enum(vec!["R".into(), "S".into()])
        );
        for bad in [
            "text:5..1",
            "text:x",
            "date:%m/%d",
            "date:%q",
            "literal:",
            "guid:x",
            "money",
        ] {
            assert!(FieldFormat::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_layouts_say_where() {
        let head = "record,position,file_spec_id,name,required,format,partner_field,description\n";
        let e = Layout::from_csv(
            format!("{head}FH,2,,RowType,true,literal:FH,,\n").as_bytes(),
            "x.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2") && e.contains("position"), "{e}");
        let e = Layout::from_csv(
            format!("{head}XX,1,,RowType,true,literal:XX,,\n").as_bytes(),
            "x.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("XX"), "{e}");
        // A layout without the fields the rules need is refused up front.
        let e = Layout::from_csv(
            format!("{head}FH,1,,RowType,true,literal:FH,,\nIH,1,,RowType,true,literal:IH,,\nCR,1,,RowType,true,literal:CR,,\nID,1,,RowType,true,literal:ID,,\n").as_bytes(),
            "x.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("BillerGuid"), "{e}");
    }
}

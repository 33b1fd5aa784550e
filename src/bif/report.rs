//! Validation reports: the JSON shape of `interface.md` §3 and a text
//! rendering for people (one `file:line:` line per issue, like rustc and
//! ripgrep, then a one-line summary per file).

use std::fmt::Write as _;

use rust_decimal::Decimal;
use serde::Serialize;

use super::issue::{Issue, Severity};

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    /// The path as given.
    pub path: String,
    /// No errors (warnings allowed).
    pub valid: bool,
    /// IH rows.
    pub invoices: u64,
    /// Sum of IH TotalAmountDue (well-formed values), as a decimal string.
    #[serde(with = "rust_decimal::serde::str")]
    pub total_amount: Decimal,
    /// The first `max_errors` errors, in file order.
    pub errors: Vec<Issue>,
    /// The first `max_errors` warnings, in file order.
    pub warnings: Vec<Issue>,
    /// All errors, also those past `max_errors`.
    pub error_count: u64,
    pub warning_count: u64,
    /// Lines, blank ones included.
    pub lines: u64,
    /// Non-blank rows.
    pub rows: u64,
    /// File size.
    pub bytes: u64,
    /// SHA-256 of the raw file, lower-case hex; empty (and left out of the
    /// JSON) unless `validate --checksum` asked for it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sha256: String,
}

impl FileReport {
    /// The issues as `path:line: RECORD Field (field N): code: message`
    /// lines (errors and warnings in file order), then the summary line.
    pub fn render_text(&self) -> String {
        let mut all: Vec<&Issue> = self.errors.iter().chain(&self.warnings).collect();
        all.sort_by(|a, b| super::scan::issue_order(a, b));
        let mut s = String::new();
        for i in all {
            s.push_str(&self.issue_line(i));
            s.push('\n');
        }
        let shown = (self.errors.len() + self.warnings.len()) as u64;
        let total = self.error_count + self.warning_count;
        if shown < total {
            let _ = writeln!(
                s,
                "{}: showing {shown} of {total} issues (raise --max-errors to see more)",
                self.path
            );
        }
        s.push_str(&self.summary_line());
        s.push('\n');
        s
    }

    /// One issue for people.
    pub fn issue_line(&self, i: &Issue) -> String {
        let mut s = self.path.clone();
        if let Some(l) = i.line {
            let _ = write!(s, ":{l}");
        }
        s.push_str(": ");
        match (&i.record, &i.field, i.field_position) {
            (Some(r), Some(f), Some(p)) => {
                let _ = write!(s, "{r} {f} (field {p}): ");
            }
            (Some(r), _, _) => {
                let _ = write!(s, "{r}: ");
            }
            _ => {}
        }
        if i.severity == Severity::Warning {
            s.push_str("warning: ");
        }
        let _ = write!(s, "{}: {}", i.code, i.message);
        s
    }

    /// `2661_11262026.BIF: valid, 312 invoices, total 48213.77, 0 errors, 2 warnings`.
    pub fn summary_line(&self) -> String {
        let plural = |n: u64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        let mut s = format!(
            "{}: {}, {}, total {}, {}, {}",
            self.path,
            if self.valid { "valid" } else { "INVALID" },
            plural(self.invoices, "invoice"),
            self.total_amount,
            plural(self.error_count, "error"),
            plural(self.warning_count, "warning"),
        );
        // `validate --checksum`: the text says it too, not only the JSON.
        if !self.sha256.is_empty() {
            let _ = write!(s, ", sha256 {}", self.sha256);
        }
        s
    }
}

/// Totals over a run (the way Frictionless and goodtables report).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub files: u64,
    pub rows: u64,
    pub errors: u64,
    pub warnings: u64,
    pub seconds: f64,
}

/// `validate --format json`: `{"files":[...]}` as in `interface.md` §3, plus
/// `valid` and `stats`.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub valid: bool,
    pub stats: Stats,
    pub files: Vec<FileReport>,
}

impl ValidationReport {
    pub fn new(files: Vec<FileReport>, seconds: f64) -> ValidationReport {
        let stats = Stats {
            files: files.len() as u64,
            rows: files.iter().map(|f| f.rows).sum(),
            errors: files.iter().map(|f| f.error_count).sum(),
            warnings: files.iter().map(|f| f.warning_count).sum(),
            seconds,
        };
        ValidationReport {
            valid: files.iter().all(|f| f.valid),
            stats,
            files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bif::issue::Code;
    use crate::bif::layout::RecordKind;

    fn report() -> FileReport {
        FileReport {
            path: "2661_11262026.BIF".into(),
            valid: false,
            invoices: 312,
            total_amount: Decimal::new(4821377, 2),
            errors: vec![
                Issue::new(
                    Code::BadDate,
                    Some(17),
                    "\"13/01/2026\" is not a date in %m/%d/%Y",
                )
                .record(RecordKind::IH)
                .field("InvoiceDate", 5)
                .value("13/01/2026"),
            ],
            warnings: vec![Issue::new(Code::BlankLine, Some(3), "blank line; skipped")],
            error_count: 1,
            warning_count: 1,
            lines: 1000,
            rows: 999,
            bytes: 123,
            sha256: "00".into(),
        }
    }

    #[test]
    fn text_lines_like_rustc() {
        // Without --checksum the summary has no sha256.
        let t = FileReport {
            sha256: String::new(),
            ..report()
        }
        .render_text();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "2661_11262026.BIF:3: warning: blank_line: blank line; skipped"
        );
        assert_eq!(
            lines[1],
            "2661_11262026.BIF:17: IH InvoiceDate (field 5): bad_date: \"13/01/2026\" is not a date in %m/%d/%Y"
        );
        assert_eq!(
            lines[2],
            "2661_11262026.BIF: INVALID, 312 invoices, total 48213.77, 1 error, 1 warning"
        );
    }

    #[test]
    fn the_checksum_is_in_the_text_when_asked_for() {
        let mut r = report();
        r.sha256 = "ab".repeat(32);
        let last = r.render_text().lines().last().unwrap().to_string();
        assert_eq!(
            last,
            format!(
                "2661_11262026.BIF: INVALID, 312 invoices, total 48213.77, 1 error, 1 warning, sha256 {}",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn json_shape_matches_the_contract() {
        let r = ValidationReport::new(vec![report()], 0.5);
        let j = serde_json::to_value(&r).unwrap();
        let f = &j["files"][0];
        assert_eq!(f["path"], "2661_11262026.BIF");
        assert_eq!(f["valid"], false);
        assert_eq!(f["invoices"], 312);
        assert_eq!(f["total_amount"], "48213.77");
        assert_eq!(f["errors"][0]["line"], 17);
        assert_eq!(f["errors"][0]["code"], "bad_date");
        assert_eq!(f["warnings"][0]["code"], "blank_line");
        assert_eq!(j["stats"]["errors"], 1);
        assert_eq!(j["valid"], false);
    }

    #[test]
    fn cut_lists_say_so() {
        let mut r = report();
        r.error_count = 5000;
        assert!(r.render_text().contains("showing 2 of 5001 issues"));
    }
}

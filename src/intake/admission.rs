//! The verdict on a downloaded file, injected into intake so that intake's
//! guarantees do not depend on which checks run (issue 4, item 3).

use std::path::Path;

use crate::Error;
use crate::bif::invoice::read_invoices;
use crate::bif::layout::Layout;

/// What the checks said about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: it goes to the inbox and the server's archive folder.
    Accept,
    /// Invalid: it goes to the quarantine (with both reports beside it) and
    /// the server's failed folder.
    Reject {
        /// For people: `NAME.BIF.errors.txt`.
        text_report: String,
        /// For programs: `NAME.BIF.errors.json`.
        json_report: String,
    },
}

/// Decides about a file downloaded to `local` under its source name `name`.
///
/// An `Err` means the checks could not run (a local read failure): the file
/// is left where it is for the next run. An invalid file is `Ok(Reject)`.
pub trait Admission {
    fn admit(&self, name: &str, local: &Path) -> Result<Verdict, Error>;
}

impl<F> Admission for F
where
    F: Fn(&str, &Path) -> Result<Verdict, Error>,
{
    fn admit(&self, name: &str, local: &Path) -> Result<Verdict, Error> {
        self(name, local)
    }
}

/// A structural check: the file reads as invoices ([`read_invoices`]) and its
/// FH BillerGuid is this biller's. This is what `pull` uses while the full
/// validator (`crate::bif::validate`) is not wired in; it catches bad dates
/// and amounts in the fields the reader types, not every layout rule.
pub struct StructuralAdmission {
    pub layout: Layout,
    pub biller_guid: uuid::Uuid,
}

impl StructuralAdmission {
    fn check(&self, bytes: &[u8]) -> Result<(), (u64, String, &'static str)> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let first = bytes.split(|&b| b == b'\n').next().unwrap_or(b"");
        let first = String::from_utf8_lossy(first);
        let fields: Vec<&str> = first
            .trim_end_matches('\r')
            .split('|')
            .map(str::trim)
            .collect();
        if fields.first() != Some(&"FH") {
            return Err((
                1,
                "the file does not start with an FH row".into(),
                "unknown_record",
            ));
        }
        let guid = fields.get(1).copied().unwrap_or("");
        match uuid::Uuid::parse_str(guid) {
            Ok(g) if g == self.biller_guid => {}
            _ => {
                return Err((
                    1,
                    format!(
                        "FH BillerGuid `{guid}` is not this biller's ({})",
                        self.biller_guid
                    ),
                    "biller_mismatch",
                ));
            }
        }
        read_invoices(bytes, &self.layout)
            .map(|_| ())
            .map_err(|e| (e.line, e.message, "structure"))
    }
}

impl Admission for StructuralAdmission {
    fn admit(&self, name: &str, local: &Path) -> Result<Verdict, Error> {
        let bytes = std::fs::read(local).map_err(|source| Error::Read {
            path: local.to_path_buf(),
            source,
        })?;
        Ok(match self.check(&bytes) {
            Ok(()) => Verdict::Accept,
            Err((line, message, code)) => Verdict::Reject {
                text_report: format!("{name}: INVALID\n  line {line}: {message}\n"),
                json_report: serde_json::json!({
                    "path": name,
                    "valid": false,
                    "errors": [{"line": line, "code": code, "message": message}],
                    "warnings": [],
                })
                .to_string(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "3F358D04-4273-4551-BB14-B9F719EC0A61";

    fn adm() -> StructuralAdmission {
        StructuralAdmission {
            layout: Layout::embedded(),
            biller_guid: uuid::Uuid::parse_str(GUID).unwrap(),
        }
    }

    fn admit(text: &str) -> Verdict {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, text).unwrap();
        adm().admit("2661_11262026.BIF", &p).unwrap()
    }

    #[test]
    fn accepts_a_readable_file_of_this_biller() {
        let ok = format!(
            "FH|{GUID}|11/26/2026|1|1.00\nIH|R|{GUID}|1|11/20/2026|12/10/2026|1.00|1|2|3||1-1\nCR|1-2|X\n"
        );
        assert_eq!(admit(&ok), Verdict::Accept);
    }

    #[test]
    fn rejects_with_both_reports() {
        let bad_date = format!(
            "FH|{GUID}|11/26/2026|1|1.00\nIH|R|{GUID}|1|13/45/2026|12/10/2026|1.00|1|2|3||1-1\nCR|1-2|X\n"
        );
        let Verdict::Reject {
            text_report,
            json_report,
        } = admit(&bad_date)
        else {
            panic!("accepted a bad date")
        };
        assert!(text_report.contains("line 2"), "{text_report}");
        let j: serde_json::Value = serde_json::from_str(&json_report).unwrap();
        assert_eq!(j["valid"], false);
        assert_eq!(j["errors"][0]["line"], 2);

        let other = "FH|00000000-0000-0000-0000-000000000001|11/26/2026|0|0\n";
        assert!(matches!(admit(other), Verdict::Reject { .. }));
        assert!(matches!(admit("IH|R\n"), Verdict::Reject { .. }));
        assert!(matches!(admit(""), Verdict::Reject { .. }));
    }

    #[test]
    fn a_closure_is_an_admission() {
        let accept_all = |_: &str, _: &Path| Ok(Verdict::Accept);
        assert_eq!(
            accept_all.admit("x", Path::new("/nonexistent")).unwrap(),
            Verdict::Accept
        );
    }
}

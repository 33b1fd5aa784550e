//! The verdict on a downloaded file, injected into intake so that intake's
//! guarantees do not depend on which checks run (issue 4, item 3).

use std::path::Path;

use rust_decimal::Decimal;

use crate::Error;
use crate::bif::invoice::{Invoice, read_invoices};
use crate::bif::layout::Layout;
use crate::bif::report::ValidationReport;
use crate::bif::validate::{ValidateOptions, validate_bytes};
use crate::store::FileFigures;

/// What the checks said about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: it goes to the inbox and the server's archive folder, and its
    /// invoices feed the account directory.
    Accept { invoices: Vec<Invoice> },
    /// Invalid: it goes to the quarantine (with both reports beside it) and
    /// the server's failed folder.
    Reject {
        /// For people: `NAME.BIF.errors.txt`.
        text_report: String,
        /// For programs: `NAME.BIF.errors.json`.
        json_report: String,
        /// What the night's report shows of it ([`Verdict::figures`]).
        figures: FileFigures,
    },
}

impl Verdict {
    /// The figures the report shows for the file: invoices and their total
    /// for an accepted file; for a rejected one, what its JSON report says
    /// (invoices read, their total, and its errors counted by code with the
    /// first few as they are).
    pub fn figures(&self) -> FileFigures {
        match self {
            Verdict::Accept { invoices } => FileFigures {
                invoices: Some(invoices.len() as u64),
                total: invoices
                    .iter()
                    .try_fold(Decimal::ZERO, |sum, i| sum.checked_add(i.total_amount_due))
                    .map(|t| t.to_string()),
                errors: None,
            },
            Verdict::Reject { figures, .. } => figures.clone(),
        }
    }
}

/// How many of a rejected file's errors the state keeps for the report (the
/// quarantine holds them all).
const FIRST_ERRORS: usize = 5;

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

/// A rejected file's figures, from its validation report: invoices read,
/// their total, and its errors: all of them counted, those the report lists
/// (the first `max_errors`) counted by code, the first few as they are.
fn rejected_figures(report: &crate::bif::FileReport) -> FileFigures {
    let mut by_code = serde_json::Map::new();
    for e in &report.errors {
        let code = e.code.to_string();
        let n = by_code.get(&code).and_then(|v| v.as_u64()).unwrap_or(0);
        by_code.insert(code, (n + 1).into());
    }
    let first: Vec<serde_json::Value> = report
        .errors
        .iter()
        .take(FIRST_ERRORS)
        .map(|e| {
            serde_json::json!({
                "line": e.line, "field": e.field, "code": e.code.to_string(),
                "message": e.message,
            })
        })
        .collect();
    FileFigures {
        invoices: Some(report.invoices),
        total: Some(report.total_amount.to_string()),
        errors: Some(serde_json::json!({
            "count": report.error_count, "by_code": by_code, "first": first,
        })),
    }
}

/// The verdict on a file the checks passed: its invoices, for the account
/// directory. Should the invoice reader disagree with the checks (a defect of
/// ours), the file is rejected, so it is set aside where a person sees it and
/// never lost.
pub fn accept(name: &str, bytes: &[u8], layout: &Layout) -> Verdict {
    match read_invoices(bytes, layout) {
        Ok(invoices) => Verdict::Accept { invoices },
        Err(e) => Verdict::Reject {
            text_report: format!(
                "{name}: line {}: the file passed validation but its invoices cannot be read ({}); \
                 this is a defect in daffron-bridge: please report it with this file\n",
                e.line, e.message
            ),
            json_report: serde_json::json!({
                "valid": false,
                "files": [{
                    "path": name, "valid": false,
                    "errors": [{"line": e.line, "code": "internal_error", "message": e.message}],
                    "warnings": [],
                }],
            })
            .to_string(),
            figures: FileFigures {
                errors: Some(serde_json::json!({
                    "count": 1, "by_code": {"internal_error": 1},
                    "first": [{"line": e.line, "field": null, "code": "internal_error", "message": e.message}],
                })),
                ..FileFigures::default()
            },
        },
    }
}

/// The real checks: the BIF validator (`crate::bif::validate`) with the
/// biller's rules (file name, BillerGuid, setting 119). A file with any
/// error is rejected with the validator's text report and the same JSON as
/// `validate --format json` (`{"valid":false,"stats":...,"files":[...]}`).
pub struct ValidatorAdmission {
    pub layout: Layout,
    pub options: ValidateOptions,
}

impl ValidatorAdmission {
    pub fn from_config(config: &crate::config::Config, layout: Layout) -> ValidatorAdmission {
        ValidatorAdmission {
            layout,
            options: ValidateOptions::from_config(config),
        }
    }
}

impl Admission for ValidatorAdmission {
    /// Reads the file once: the validator and the invoice reader share the
    /// bytes.
    fn admit(&self, name: &str, local: &Path) -> Result<Verdict, Error> {
        let started = std::time::Instant::now();
        let bytes = std::fs::read(local).map_err(|source| Error::Read {
            path: local.to_path_buf(),
            source,
        })?;
        // The report names the file as the server did, not its download path.
        let report = validate_bytes(name, &bytes, &self.layout, &self.options);
        if report.valid {
            return Ok(accept(name, &bytes, &self.layout));
        }
        let text_report = report.render_text();
        let figures = rejected_figures(&report);
        let all = ValidationReport::new(vec![report], started.elapsed().as_secs_f64());
        let json_report = serde_json::to_string_pretty(&all)
            .unwrap_or_else(|e| format!("{{\"valid\":false,\"error\":\"{e}\"}}"));
        Ok(Verdict::Reject {
            text_report,
            json_report,
            figures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "3F358D04-4273-4551-BB14-B9F719EC0A61";

    fn adm() -> ValidatorAdmission {
        let mut options = ValidateOptions::default();
        options.rules.bid = Some(2661);
        options.rules.biller_guid = Some(uuid::Uuid::parse_str(GUID).unwrap());
        ValidatorAdmission {
            layout: Layout::embedded(),
            options,
        }
    }

    fn admit(text: &str) -> Verdict {
        let dir = tempfile::tempdir().unwrap();
        // Downloads sit under a temporary folder with the file's own name.
        let p = dir.path().join("2661_11262026.BIF");
        std::fs::write(&p, text).unwrap();
        adm().admit("2661_11262026.BIF", &p).unwrap()
    }

    fn valid() -> String {
        format!(
            "FH|{GUID}|11/26/2026|1|1.00\nIH|R|{GUID}|1|11/20/2026|12/10/2026|1.00|1|2|3||1-1\nCR|1-2|X\n"
        )
    }

    #[test]
    fn accepts_a_valid_file_of_this_biller() {
        let Verdict::Accept { invoices } = admit(&valid()) else {
            panic!("rejected a valid file")
        };
        assert_eq!(invoices.len(), 1);
        assert_eq!(invoices[0].customer.account_number, "1-2");
    }

    #[test]
    fn rejects_with_both_reports_naming_the_server_file() {
        let bad_date = valid().replace("11/20/2026", "13/45/2026");
        let Verdict::Reject {
            text_report,
            json_report,
            ..
        } = admit(&bad_date)
        else {
            panic!("accepted a bad date")
        };
        assert!(text_report.contains("2661_11262026.BIF:2"), "{text_report}");
        let j: serde_json::Value = serde_json::from_str(&json_report).unwrap();
        assert_eq!(j["valid"], false);
        assert_eq!(j["files"][0]["path"], "2661_11262026.BIF");
        assert_eq!(j["files"][0]["errors"][0]["line"], 2);

        let other = valid().replace(GUID, "00000000-0000-0000-0000-000000000001");
        assert!(matches!(admit(&other), Verdict::Reject { .. }));
        assert!(matches!(admit("IH|R\n"), Verdict::Reject { .. }));
        assert!(matches!(admit(""), Verdict::Reject { .. }));
    }

    /// The report counts every error of a rejected file, also those past
    /// `max_errors`, which its lists leave out.
    #[test]
    fn a_rejected_file_counts_all_its_errors() {
        let mut a = adm();
        a.options.max_errors = 1;
        let bad = valid()
            .replace("11/20/2026", "13/45/2026")
            .replace("12/10/2026", "14/45/2026");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("2661_11262026.BIF");
        std::fs::write(&p, bad).unwrap();
        let v = a.admit("2661_11262026.BIF", &p).unwrap();
        let errors = v.figures().errors.unwrap();
        assert!(errors["count"].as_u64().unwrap() >= 2, "{errors}");
        assert_eq!(errors["first"].as_array().unwrap().len(), 1, "{errors}");
        assert_eq!(errors["first"][0]["line"], 2, "{errors}");
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_verdict() {
        assert!(adm().admit("x", Path::new("/nonexistent/x")).is_err());
    }

    #[test]
    fn a_closure_is_an_admission() {
        let accept_all = |_: &str, _: &Path| Ok(Verdict::Accept { invoices: vec![] });
        assert_eq!(
            accept_all.admit("x", Path::new("/nonexistent")).unwrap(),
            Verdict::Accept { invoices: vec![] }
        );
    }
}

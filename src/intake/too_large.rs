//! Files over `max_file_bytes` (`[sftp]` or `[dropbox]`): the issue code
//! `file_too_large` and its two reports, `NAME.errors.txt` and
//! `NAME.errors.json`, written to the quarantine like any refused file's.
//!
//! Why such a file is not copied here (the other quarantined files are): the
//! limit is there so that one runaway file cannot fill this disk or take the
//! night. The whole file goes to the server's failed folder, where a person
//! finds it beside the other refused files; the reports say why.

use serde_json::json;

/// The stable issue code of a file over `max_file_bytes`.
pub const ISSUE: &str = "file_too_large";

/// How intake learnt that a file is over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The listing (or a second look at the file) gave its size: never
    /// opened.
    Listed { size: u64 },
    /// Its download passed the limit and was stopped there; `listed` is the
    /// size the listing gave, if any (a file that grew, or one listed
    /// without a size).
    Downloading { listed: Option<u64> },
}

impl Seen {
    /// One line for people: what happened, after the name.
    pub fn reason(self, limit: u64) -> String {
        match self {
            Seen::Listed { size } => {
                format!("{size} bytes, over max_file_bytes {limit}: not downloaded")
            }
            Seen::Downloading { listed: Some(size) } => format!(
                "listed with {size} bytes, it grew past max_file_bytes {limit} while it was downloaded: \
                 the download was stopped at the limit and nothing of it is kept here"
            ),
            Seen::Downloading { listed: None } => format!(
                "listed without a size, its download passed max_file_bytes {limit} and was stopped \
                 there; nothing of it is kept here"
            ),
        }
    }

    /// The size to report: the listed one, when known.
    fn size(self) -> Option<u64> {
        match self {
            Seen::Listed { size } => Some(size),
            Seen::Downloading { listed } => listed,
        }
    }
}

/// What to do about it, for the reports.
const ADVICE: &str = "A BIF file is far smaller (tens of MB for 100,000 invoices): ask Daffron what \
                      this file is. If it is right, raise max_file_bytes in the configuration and \
                      move the file back from the failed folder.";

/// `(NAME.errors.txt, NAME.errors.json)` for file `name` over `limit`;
/// `fate` says where the file is (`moved to the failed folder ...`). The
/// JSON has the shape of `validate --format json`, with one file-wide issue.
pub fn reports(name: &str, seen: Seen, limit: u64, fate: &str) -> (String, String) {
    let reason = format!("{}; {fate}", seen.reason(limit));
    let text = format!("{name}: error {ISSUE}: {reason}.\n{ADVICE}\n");
    let message = format!("{reason}. {ADVICE}");
    let json = json!({
        "valid": false,
        "files": [{
            "path": name,
            "valid": false,
            "size": seen.size(),
            "max_file_bytes": limit,
            "errors": [{
                "line": null,
                "record": null,
                "field": null,
                "field_position": null,
                "code": ISSUE,
                "severity": "error",
                "value": seen.size().map(|s| s.to_string()),
                "message": message,
            }],
            "warnings": [],
        }],
    });
    let json = serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string());
    (text, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_name_the_code_the_sizes_and_what_to_do() {
        let (txt, json) = reports(
            "2661_11262026.BIF",
            Seen::Listed { size: 5000 },
            2000,
            "moved to the failed folder",
        );
        assert!(
            txt.starts_with("2661_11262026.BIF: error file_too_large: 5000 bytes, over max_file_bytes 2000: not downloaded; moved to the failed folder."),
            "{txt}"
        );
        assert!(txt.contains("raise max_file_bytes"), "{txt}");
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(j["valid"], false);
        assert_eq!(j["files"][0]["path"], "2661_11262026.BIF");
        assert_eq!(j["files"][0]["size"], 5000);
        assert_eq!(j["files"][0]["errors"][0]["code"], ISSUE);
        assert!(j["files"][0]["errors"][0]["line"].is_null());

        let (txt, json) = reports("A.BIF", Seen::Downloading { listed: None }, 10, "x");
        assert!(txt.contains("listed without a size"), "{txt}");
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(j["files"][0]["size"].is_null());
        let (txt, _) = reports("A.BIF", Seen::Downloading { listed: Some(5) }, 10, "x");
        assert!(txt.contains("grew past max_file_bytes 10"), "{txt}");
    }

    /// Scripts match on the code: README lists it with the others.
    #[test]
    fn readme_lists_the_code() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&format!("| `{ISSUE}` | error |")),
            "README lacks the row for {ISSUE}"
        );
    }
}

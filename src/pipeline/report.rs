//! The `report` stage of `run`: the night's reconciliation report
//! ([`crate::report`]) written to `[paths] reports` as HTML and JSON, and
//! its summary (headline, what needs a person) for the run's output.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::StageSummary;
use crate::config::Config;
use crate::report::{self, Report, Scope};
use crate::store::Store;
use crate::{Error, ExitCode, Result};

/// What the report stage wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    pub html: PathBuf,
    pub json: PathBuf,
    pub status: &'static str,
    pub headline: String,
    /// Items needing a person, by what they are.
    pub attention: std::collections::BTreeMap<&'static str, u64>,
    #[serde(skip)]
    pub report: Report,
}

/// Builds run `run`'s report and writes it. `exit_so_far` is the worst exit
/// code of the stages before: the report shows the run as finished with it
/// (the run row is finished after this stage).
pub fn run(
    config: &Config,
    store: &Store,
    run: i64,
    exit_so_far: ExitCode,
) -> Result<ReportSummary> {
    let mut report = report::build(config, store, &Scope::Run(run))?;
    if let Some(r) = report.runs.last_mut() {
        r.finished_at = Some(report.scope.to.clone());
        r.exit_code = Some(exit_so_far as i64);
    }
    report.conclude();
    let dir = &config.paths.reports;
    let stem = format!("report-{}-run-{run}", report.scope.night);
    let html = dir.join(format!("{stem}.html"));
    let json = dir.join(format!("{stem}.json"));
    write(&html, report::html::render(&report).as_bytes())?;
    let text = serde_json::to_vec_pretty(&report).map_err(|e| Error::Write {
        path: json.clone(),
        source: std::io::Error::other(e),
    })?;
    write(&json, &text)?;
    Ok(ReportSummary {
        html,
        json,
        status: report.status,
        headline: report.headline.clone(),
        attention: report.attention.counts.clone(),
        report,
    })
}

/// Writes a report file whole or not at all (temporary file, fsync,
/// rename): a reader never opens half a report.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::atomic_file::write(path, bytes).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

impl StageSummary for ReportSummary {
    fn stage(&self) -> &'static str {
        "report"
    }
    fn exit_code(&self) -> ExitCode {
        ExitCode::Success
    }
    fn text(&self) -> String {
        format!(
            "{}report: {} (and {})",
            report::text::summary(&self.report),
            self.html.display(),
            self.json.display()
        )
    }
    fn json(&self) -> serde_json::Value {
        super::to_json(self)
    }
}

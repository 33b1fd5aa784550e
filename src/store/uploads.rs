//! Uploads to InvoiceCloud UploadInvoiceFile: one row per attempt, so that a
//! file InvoiceCloud accepted is never sent again (keyed by its sha256) and
//! the report can show every rejection with IC's message (D16).

use rusqlite::params;
use serde::Serialize;

use super::{Store, StoreError, now_rfc3339};

/// How an upload attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadOutcome {
    /// IC answered `Success` = true.
    Accepted,
    /// IC answered `Success` = false, with its message (D16).
    Rejected,
    /// No answer: the endpoint was unreachable or the call broke (retried on
    /// the next run).
    Failed,
}

impl UploadOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadOutcome::Accepted => "accepted",
            UploadOutcome::Rejected => "rejected",
            UploadOutcome::Failed => "failed",
        }
    }
}

impl Store {
    /// Records one upload attempt of a file. `message` is IC's message or the
    /// failure's; it must not hold secrets.
    pub fn record_upload(
        &mut self,
        file_name: &str,
        sha256: &str,
        outcome: UploadOutcome,
        message: &str,
    ) -> Result<i64, StoreError> {
        self.conn()
            .execute(
                "INSERT INTO uploads (file_name, sha256, at, outcome, message)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![file_name, sha256, now_rfc3339(), outcome.as_str(), message],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Whether InvoiceCloud already accepted a file with these bytes.
    pub fn was_uploaded(&self, sha256: &str) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM uploads WHERE sha256 = ?1 AND outcome = 'accepted')",
                params![sha256],
                |r| r.get::<_, bool>(0),
            )
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_accepted_upload_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        assert!(!s.was_uploaded("aa").unwrap());
        s.record_upload("2661_11262026.BIF", "aa", UploadOutcome::Failed, "timeout")
            .unwrap();
        s.record_upload("2661_11262026.BIF", "aa", UploadOutcome::Rejected, "bad")
            .unwrap();
        assert!(!s.was_uploaded("aa").unwrap());
        s.record_upload("2661_11262026.BIF", "aa", UploadOutcome::Accepted, "")
            .unwrap();
        assert!(s.was_uploaded("aa").unwrap());
        assert!(!s.was_uploaded("bb").unwrap());
    }
}

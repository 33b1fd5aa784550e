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
    /// Records one upload attempt of a file. `sha256` is of the bytes sent
    /// (the transformed file), `source_sha256` of the file as taken.
    /// `message` is IC's message or the failure's; it must not hold secrets.
    pub fn record_upload(
        &mut self,
        file_name: &str,
        sha256: &str,
        source_sha256: &str,
        outcome: UploadOutcome,
        message: &str,
    ) -> Result<i64, StoreError> {
        self.conn()
            .execute(
                "INSERT INTO uploads (file_name, sha256, source_sha256, at, outcome, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    file_name,
                    sha256,
                    source_sha256,
                    now_rfc3339(),
                    outcome.as_str(),
                    message
                ],
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

    /// Accepted files still to be uploaded, oldest first: no upload of
    /// theirs was accepted or rejected yet (a failed attempt leaves a file
    /// pending; a rejection needs a person, not a nightly retry).
    pub fn pending_uploads(&self) -> Result<Vec<super::TakenRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM taken_files t
             WHERE t.verdict = 'accepted'
               AND NOT EXISTS (SELECT 1 FROM uploads u
                               WHERE u.source_sha256 = t.sha256
                                 AND u.outcome IN ('accepted', 'rejected'))
             ORDER BY t.id",
            super::files::COLUMNS
                .split(", ")
                .map(|c| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut stmt = self.conn().prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], super::files::row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
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
        s.record_upload(
            "2661_11262026.BIF",
            "aa",
            "raw",
            UploadOutcome::Failed,
            "timeout",
        )
        .unwrap();
        s.record_upload(
            "2661_11262026.BIF",
            "aa",
            "raw",
            UploadOutcome::Rejected,
            "bad",
        )
        .unwrap();
        assert!(!s.was_uploaded("aa").unwrap());
        s.record_upload(
            "2661_11262026.BIF",
            "aa",
            "raw",
            UploadOutcome::Accepted,
            "",
        )
        .unwrap();
        assert!(s.was_uploaded("aa").unwrap());
        assert!(!s.was_uploaded("bb").unwrap());
    }

    #[test]
    fn pending_uploads_are_accepted_files_not_yet_settled() {
        use crate::store::{FileVerdict, TakenFile};
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let file = |name: &str, sha: &str, verdict| TakenFile {
            name: name.into(),
            sha256: sha.into(),
            size: 1,
            mtime: None,
            source: "dropbox:/x".into(),
            verdict,
            local_path: dir.path().join(name),
            figures: Default::default(),
        };
        s.record_taken_file(&file("a.BIF", "a1", FileVerdict::Accepted))
            .unwrap();
        s.record_taken_file(&file("b.BIF", "b1", FileVerdict::Accepted))
            .unwrap();
        s.record_taken_file(&file("c.BIF", "c1", FileVerdict::Rejected))
            .unwrap();
        s.record_taken_file(&file("d.BIF", "d1", FileVerdict::Accepted))
            .unwrap();
        let names = |s: &Store| -> Vec<String> {
            s.pending_uploads()
                .unwrap()
                .into_iter()
                .map(|r| r.name)
                .collect()
        };
        assert_eq!(names(&s), ["a.BIF", "b.BIF", "d.BIF"]);
        s.record_upload("a.BIF", "t", "a1", UploadOutcome::Failed, "timeout")
            .unwrap();
        s.record_upload("b.BIF", "t", "b1", UploadOutcome::Accepted, "")
            .unwrap();
        s.record_upload("d.BIF", "t", "d1", UploadOutcome::Rejected, "no")
            .unwrap();
        assert_eq!(names(&s), ["a.BIF"]);
    }
}

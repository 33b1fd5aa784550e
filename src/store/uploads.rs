//! Uploads to InvoiceCloud UploadInvoiceFile: one row per attempt, so that a
//! file InvoiceCloud accepted is never sent again (keyed by its sha256) and
//! the report can show every rejection with IC's message (D16).
//!
//! UploadInvoiceFile has no idempotency key: InvoiceCloud cannot tell a
//! resend from a new file. So an attempt is written (`sending`) and
//! committed before its request leaves, and finished when it is known what
//! happened. A request that went out without a usable answer is `unknown`,
//! and so is a `sending` row a crash left behind: InvoiceCloud may hold the
//! file, and only a person (or the configuration) decides to send it again.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, now_rfc3339};

/// How an upload attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadOutcome {
    /// Recorded before the request left; no outcome yet. Found later, it
    /// means the process stopped while the request was out: as `Unknown`.
    Sending,
    /// IC answered `Success` = true.
    Accepted,
    /// IC answered `Success` = false, with its message (D16), or a Fault.
    Rejected,
    /// Nothing reached InvoiceCloud (the connection was refused): sent again
    /// on the next run.
    Failed,
    /// The request went out but no usable answer came back: InvoiceCloud
    /// may hold the file. Not sent again unless a person (or
    /// `[invoicecloud] resend_unknown`) says so.
    Unknown,
    /// The endpoint refused the request itself (HTTP 401, 403, 404): a
    /// configuration to fix; the file stays pending.
    Configuration,
}

impl UploadOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadOutcome::Sending => "sending",
            UploadOutcome::Accepted => "accepted",
            UploadOutcome::Rejected => "rejected",
            UploadOutcome::Failed => "failed",
            UploadOutcome::Unknown => "unknown",
            UploadOutcome::Configuration => "configuration",
        }
    }

    fn parse(s: &str) -> Option<UploadOutcome> {
        Some(match s {
            "sending" => UploadOutcome::Sending,
            "accepted" => UploadOutcome::Accepted,
            "rejected" => UploadOutcome::Rejected,
            "failed" => UploadOutcome::Failed,
            "unknown" => UploadOutcome::Unknown,
            "configuration" => UploadOutcome::Configuration,
            _ => return None,
        })
    }

    /// Whether InvoiceCloud may hold the file although it did not say so.
    pub fn is_unknown(self) -> bool {
        matches!(self, UploadOutcome::Sending | UploadOutcome::Unknown)
    }
}

impl Store {
    /// Records an attempt that is about to be sent (`sending`) and returns
    /// its id for [`Store::finish_upload`]. The state file is synchronous
    /// FULL: this is on disk before the request leaves.
    pub fn begin_upload(
        &mut self,
        file_name: &str,
        sha256: &str,
        source_sha256: &str,
    ) -> Result<i64, StoreError> {
        self.record_upload(file_name, sha256, source_sha256, UploadOutcome::Sending, "")
    }

    /// Writes the outcome of the attempt `id`. `message` is IC's message or
    /// the failure's; it must not hold secrets.
    pub fn finish_upload(
        &mut self,
        id: i64,
        outcome: UploadOutcome,
        message: &str,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE uploads SET outcome = ?2, message = ?3, at = ?4 WHERE id = ?1",
                params![id, outcome.as_str(), message, now_rfc3339()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records one upload attempt of a file with its outcome. `sha256` is
    /// of the bytes sent (the transformed file), `source_sha256` of the
    /// file as taken. `message` is IC's message or the failure's; it must
    /// not hold secrets.
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

    /// The latest attempt at sending these bytes: its outcome and message.
    pub fn last_upload(&self, sha256: &str) -> Result<Option<(UploadOutcome, String)>, StoreError> {
        let row: Option<(String, String)> = self
            .conn()
            .query_row(
                "SELECT outcome, message FROM uploads WHERE sha256 = ?1 ORDER BY id DESC LIMIT 1",
                params![sha256],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(row.and_then(|(o, m)| UploadOutcome::parse(&o).map(|o| (o, m))))
    }

    /// Accepted files still to be uploaded, oldest first: no upload of
    /// theirs was accepted or rejected yet. A failed, unknown or
    /// configuration attempt leaves a file pending (an unknown one is shown
    /// to a person every night, not resent); a rejection needs a person,
    /// not a nightly retry.
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
    fn an_attempt_is_on_disk_before_it_is_sent_and_finished_after() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sqlite");
        let mut s = Store::open(&p).unwrap();
        assert_eq!(s.last_upload("aa").unwrap(), None);
        let id = s.begin_upload("2661_11262026.BIF", "aa", "raw").unwrap();
        // Another connection (the next run after a crash) sees it in flight.
        let other = Store::open(&p).unwrap();
        let (o, _) = other.last_upload("aa").unwrap().unwrap();
        assert_eq!(o, UploadOutcome::Sending);
        assert!(o.is_unknown());
        s.finish_upload(id, UploadOutcome::Unknown, "no answer")
            .unwrap();
        assert_eq!(
            other.last_upload("aa").unwrap(),
            Some((UploadOutcome::Unknown, "no answer".into()))
        );
        assert!(!other.was_uploaded("aa").unwrap());
        s.record_upload(
            "2661_11262026.BIF",
            "aa",
            "raw",
            UploadOutcome::Configuration,
            "401",
        )
        .unwrap();
        assert_eq!(
            other.last_upload("aa").unwrap().map(|(o, _)| o),
            Some(UploadOutcome::Configuration)
        );
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
        s.record_upload("a.BIF", "t", "a1", UploadOutcome::Unknown, "no answer")
            .unwrap();
        s.record_upload("b.BIF", "t", "b1", UploadOutcome::Accepted, "")
            .unwrap();
        s.record_upload("d.BIF", "t", "d1", UploadOutcome::Rejected, "no")
            .unwrap();
        assert_eq!(names(&s), ["a.BIF"]);
    }
}

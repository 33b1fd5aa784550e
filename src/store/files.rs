//! Files taken by `pull`: name, size, modification time, sha256, where they
//! came from, the verdict and where they landed.
//!
//! Why name *and* sha256 (issue 4): the same name with the same bytes is a
//! file already taken and is never processed again, even if the server offers
//! it again (a failed archive move, a resend). A corrected file resent under
//! the same name has other bytes, so it is taken as new.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::{Store, StoreError, accounts, now_rfc3339};
use crate::bif::invoice::Invoice;

/// What intake decided about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileVerdict {
    /// Valid: in the inbox, archived on the server, fed to the account directory.
    Accepted,
    /// Failed validation: in the quarantine with its report, moved to the
    /// server's failed folder.
    Rejected,
}

impl FileVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            FileVerdict::Accepted => "accepted",
            FileVerdict::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<FileVerdict> {
        match s {
            "accepted" => Some(FileVerdict::Accepted),
            "rejected" => Some(FileVerdict::Rejected),
            _ => None,
        }
    }
}

/// A file to record as taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenFile {
    pub name: String,
    /// Lower-case hex.
    pub sha256: String,
    pub size: u64,
    /// The source's modification time, Unix seconds, when it gave one.
    pub mtime: Option<i64>,
    /// Where it came from, e.g. `sftp://daffron@127.0.0.1:22/outbound`.
    pub source: String,
    pub verdict: FileVerdict,
    /// Where it landed: the inbox (accepted) or the quarantine (rejected).
    pub local_path: PathBuf,
    /// What validation found in it, for the report.
    pub figures: FileFigures,
}

/// A taken file's figures as validation found them: the report's "files
/// received" section reads them instead of the file, which may be gone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileFigures {
    /// Invoices read (an accepted file).
    pub invoices: Option<u64>,
    /// The sum of the invoices' TotalAmountDue, a decimal string (an
    /// accepted file: validation held it equal to the FH total).
    pub total: Option<String>,
    /// The validation errors of a quarantined file: how many, by code, and
    /// the first few with their lines.
    pub errors: Option<serde_json::Value>,
}

/// A recorded file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TakenRow {
    pub id: i64,
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub mtime: Option<i64>,
    pub source: String,
    pub verdict: FileVerdict,
    pub local_path: PathBuf,
    pub taken_at: String,
}

pub(super) const COLUMNS: &str =
    "id, name, sha256, size, mtime, source, verdict, local_path, taken_at";

pub(super) fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TakenRow> {
    let verdict: String = r.get(6)?;
    let size: i64 = r.get(3)?;
    let local: String = r.get(7)?;
    Ok(TakenRow {
        id: r.get(0)?,
        name: r.get(1)?,
        sha256: r.get(2)?,
        size: u64::try_from(size).unwrap_or(0),
        mtime: r.get(4)?,
        source: r.get(5)?,
        verdict: FileVerdict::parse(&verdict).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                6,
                rusqlite::types::Type::Text,
                format!("unknown verdict `{verdict}`").into(),
            )
        })?,
        local_path: PathBuf::from(local),
        taken_at: r.get(8)?,
    })
}

/// Inserts `f` inside `tx`; returns its id.
pub(crate) fn insert(tx: &Transaction<'_>, f: &TakenFile) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO taken_files (name, sha256, size, mtime, source, verdict, local_path, taken_at,
             invoices, total, errors)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            f.name,
            f.sha256,
            i64::try_from(f.size).unwrap_or(i64::MAX),
            f.mtime,
            f.source,
            f.verdict.as_str(),
            path_text(&f.local_path),
            now_rfc3339(),
            f.figures
                .invoices
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            f.figures.total,
            f.figures.errors.as_ref().map(|e| e.to_string()),
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Store {
    /// Whether a file of this name and sha256 was already taken (accepted or
    /// rejected).
    pub fn is_taken(&self, name: &str, sha256: &str) -> Result<bool, StoreError> {
        Ok(self.taken(name, sha256)?.is_some())
    }

    /// The record of a file taken earlier, by name and sha256.
    pub fn taken(&self, name: &str, sha256: &str) -> Result<Option<TakenRow>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM taken_files WHERE name = ?1 AND sha256 = ?2"),
                params![name, sha256],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every file taken, oldest first.
    pub fn taken_files(&self) -> Result<Vec<TakenRow>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare(&format!("SELECT {COLUMNS} FROM taken_files ORDER BY id"))
            .map_err(|e| self.err(e))?;
        stmt.query_map([], row)
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))
    }

    /// Records a taken file on its own (no account directory update). Returns
    /// its id.
    pub fn record_taken_file(&mut self, f: &TakenFile) -> Result<i64, StoreError> {
        Ok(self.take_file(f, None)?.0)
    }

    /// Records a taken file and, for an accepted file, feeds its invoices to
    /// the account directory, in ONE transaction: either both are recorded or
    /// neither (issue 4, "one transaction per file"). Returns the file id and
    /// the directory's change log when invoices were given.
    pub fn take_file(
        &mut self,
        f: &TakenFile,
        invoices: Option<&[Invoice]>,
    ) -> Result<(i64, Option<accounts::ChangeLog>), StoreError> {
        let path = self.path().to_path_buf();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn_mut().transaction().map_err(err)?;
        let id = insert(&tx, f).map_err(err)?;
        let log = match invoices {
            Some(inv) => Some(accounts::upsert(&tx, id, &f.name, inv).map_err(err)?),
            None => None,
        };
        tx.commit().map_err(err)?;
        Ok((id, log))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(name: &str, sha: &str, verdict: FileVerdict) -> TakenFile {
        TakenFile {
            name: name.into(),
            sha256: sha.into(),
            size: 42,
            mtime: Some(1_700_000_000),
            source: "dropbox:/x".into(),
            verdict,
            local_path: PathBuf::from("/inbox").join(name),
            figures: FileFigures::default(),
        }
    }

    #[test]
    fn taken_by_name_and_sha() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        assert!(!s.is_taken("2661_11262026.BIF", "aa").unwrap());
        let id = s
            .record_taken_file(&sample("2661_11262026.BIF", "aa", FileVerdict::Accepted))
            .unwrap();
        assert!(s.is_taken("2661_11262026.BIF", "aa").unwrap());
        // Same name, other bytes: a corrected resend is new.
        assert!(!s.is_taken("2661_11262026.BIF", "bb").unwrap());
        // Same bytes, other name: not the same file either.
        assert!(!s.is_taken("2661_11272026.BIF", "aa").unwrap());
        let r = s.taken("2661_11262026.BIF", "aa").unwrap().unwrap();
        assert_eq!(r.id, id);
        assert_eq!(r.size, 42);
        assert_eq!(r.verdict, FileVerdict::Accepted);
        assert_eq!(r.mtime, Some(1_700_000_000));
        assert_eq!(s.taken_files().unwrap().len(), 1);
    }

    #[test]
    fn the_same_file_cannot_be_recorded_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let f = sample("2661_11262026.BIF", "aa", FileVerdict::Rejected);
        s.record_taken_file(&f).unwrap();
        let e = s.record_taken_file(&f).unwrap_err().to_string();
        assert!(e.contains("UNIQUE"), "{e}");
        assert_eq!(s.taken_files().unwrap().len(), 1);
    }
}

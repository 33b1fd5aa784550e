//! The SQLite state file: files taken, uploads, the account directory and
//! the data-pump outbox. One file per biller, WAL mode.
//!
//! The schema is a list of migrations applied in order and counted by
//! `PRAGMA user_version`; a migration is never edited once released, only
//! followed by a new one.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub mod accounts;
pub mod files;
pub mod lock;
pub mod outbox;
pub mod runs;
pub mod uploads;

pub use accounts::{AccountChange, AccountRow, ChangeKind, ChangeLog};
pub use files::{FileFigures, FileVerdict, TakenFile, TakenRow};
pub use lock::{LockError, StateLock};
pub use uploads::UploadOutcome;

/// A state-file problem.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state file {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "state file {} has schema version {found}, newer than this build knows ({known}); use a newer daffron-bridge",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// A schema step failed (the state file was changed by hand, or by a
    /// development build). Nothing of the step was applied.
    #[error(
        "state file {}: cannot bring the schema to version {version}: {message}; the file was left at version {from} (restore it from a backup, or keep using the build that wrote it)",
        path.display()
    )]
    Migration {
        path: PathBuf,
        version: i64,
        from: i64,
        message: String,
    },
}

/// The migrations, in order. Index + 1 is the schema version after it runs.
const MIGRATIONS: &[&str] = &[
    // 1: nothing yet but the version counter itself.
    "SELECT 1;",
    // 2: files taken by `pull`, the account directory with its change log,
    // and uploads to InvoiceCloud.
    include_str!("migrations/0002_intake.sql"),
    // 3: the data pump's outbox, its calls and attempts.
    include_str!("migrations/0003_outbox.sql"),
    // 4: uploads recorded in flight before they are sent; unknown and
    // configuration outcomes.
    include_str!("migrations/0004_upload_in_flight.sql"),
    // 5: runs and their stages, verifications, the figures of taken files.
    include_str!("migrations/0005_runs.sql"),
    // 6: the outbox's record digest; a payment's record no longer kept whole.
    include_str!("migrations/0006_record_digest.sql"),
];

/// The page size of a new state file, in bytes.
const PAGE_SIZE: i64 = 16_384;

/// The page cache of a state file, in KiB (negative, as SQLite takes it).
/// Small on purpose: SQLite walks the whole cache at the end of every write
/// transaction, and the sweep commits twice a batch.
const DEFAULT_CACHE_KIB: i64 = -16_384;

/// The page cache of a bulk load (one long transaction that touches a key
/// index at random): up to 256 MiB, taken only as used.
const BULK_CACHE_KIB: i64 = -262_144;

/// An open state file.
pub struct Store {
    path: PathBuf,
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) and migrates the state file at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // A missing folder surfaces as SQLite's own "unable to open".
            let _ = std::fs::create_dir_all(dir);
        }
        let mut conn = Connection::open(path).map_err(err)?;
        // 16 KiB pages for a new state file (an existing one keeps its own:
        // the size is fixed once the file is in WAL mode). The night's bulk
        // writes, a file of payments into the outbox, take 13% less time
        // than with 4 KiB (fewer B-tree pages to split, fewer log frames),
        // and the sweep's two commits a batch are no slower (measured).
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        // FULL: in WAL mode a commit is then on disk (WAL fsynced) before
        // the call returns. Every commit here may be followed by an outside
        // effect, and that effect must never happen for a commit a power
        // cut can undo:
        // - pull: the taken file's row (and its accounts) commits, then the
        //   file is moved to archive_dir / failed_dir on the server
        //   (intake::judge_and_place); lost, the file would have left the
        //   server's folder with no record of it here;
        // - upload: the `sending` row commits, then the request leaves
        //   (Store::begin_upload); lost, a crash after sending would look
        //   like "never sent" and the file would go twice;
        // - sweep: commit A (items in flight, the call recorded) commits,
        //   then the call leaves (pump::sweep); commit B alone may be NORMAL
        //   because the next commit A syncs the log with it in it.
        // Every connection to a state file is opened here (the locks hold
        // no data); tests::every_connection_is_synchronous_full holds it.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(err)?;
        conn.pragma_update(None, "cache_size", DEFAULT_CACHE_KIB)
            .map_err(err)?;
        // Checkpoint the log every 32 MiB instead of 4: a sweep rewrites the
        // same outbox pages in every batch, and a page written many times
        // between two checkpoints is copied into the database once.
        conn.pragma_update(None, "wal_autocheckpoint", 8192)
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(err)?;
            tx.execute_batch(sql).map_err(|e| StoreError::Migration {
                path: path.to_path_buf(),
                version: (i + 1) as i64,
                from: i as i64,
                // SQLite's own words, not the whole script rusqlite quotes.
                message: match &e {
                    rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
                    rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
                    other => other.to_string(),
                },
            })?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(Store {
            path: path.to_path_buf(),
            conn,
        })
    }

    /// Runs `f` with a page cache sized for a bulk load (ingest of a large
    /// export), then gives the memory back.
    pub fn with_bulk_cache<T>(&mut self, f: impl FnOnce(&mut Store) -> T) -> T {
        let _ = self.conn.pragma_update(None, "cache_size", BULK_CACHE_KIB);
        let out = f(self);
        let _ = self
            .conn
            .pragma_update(None, "cache_size", DEFAULT_CACHE_KIB);
        out
    }

    /// The path of the state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for the modules that own tables.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// A mutable connection, for transactions.
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Wraps a SQLite error with this file's path.
    pub fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// A mapper of SQLite errors to this state file's error, owning its path:
/// usable while the store is borrowed for a transaction.
pub fn err_for(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + use<> {
    let path = path.to_path_buf();
    move |source| StoreError::Sqlite {
        path: path.clone(),
        source,
    }
}

/// Now as RFC 3339 in UTC, to the millisecond: the form every timestamp
/// column uses. Milliseconds, so that a report's window (a run's start to
/// its end) holds exactly what that run did even when the next run starts
/// within the same second.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_is_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sqlite");
        // The first open (which migrates), and more beside it, as the sweep's
        // reading thread and a second command open theirs.
        let a = Store::open(&p).unwrap();
        let b = Store::open(&p).unwrap();
        for s in [&a, &b] {
            let sync: i64 = s
                .conn()
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .unwrap();
            assert_eq!(sync, 2, "synchronous is not FULL");
            let mode: String = s
                .conn()
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
        }
    }

    #[test]
    fn a_new_state_file_has_16_kib_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.sqlite");
        let size = |s: &Store| -> i64 {
            s.conn()
                .pragma_query_value(None, "page_size", |r| r.get(0))
                .unwrap()
        };
        assert_eq!(size(&Store::open(&p).unwrap()), PAGE_SIZE);
        let old = dir.path().join("old.sqlite");
        {
            let c = Connection::open(&old).unwrap();
            c.pragma_update(None, "journal_mode", "WAL").unwrap();
            c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
                .unwrap();
        }
        assert_eq!(size(&Store::open(&old).unwrap()), 4096);
    }

    /// No code opens a state file but `Store::open`, so the pragma above
    /// is on every connection whose commit precedes an outside effect.
    #[test]
    fn only_the_store_opens_connections() {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        let allowed = [src.join("store/mod.rs"), src.join("store/lock.rs")];
        let needle = ["Connection", "::open"].concat();
        let needle_flags = ["Connection", "::open_with_flags"].concat();
        for f in files.iter().filter(|f| !allowed.contains(f)) {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(
                !text.contains(&needle) && !text.contains(&needle_flags),
                "{} opens a SQLite connection itself; use Store::open (synchronous=FULL)",
                f.display()
            );
        }
        assert!(files.len() > 20, "{files:?}");
    }

    #[test]
    fn a_failed_schema_step_says_which_in_sqlites_words_not_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        {
            // A file at version 1 that already holds a table step 2 makes.
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE taken_files (x); PRAGMA user_version = 1;")
                .unwrap();
        }
        let Err(e) = Store::open(&path) else {
            panic!("opened a file whose schema step fails")
        };
        let text = e.to_string();
        assert!(
            matches!(
                e,
                StoreError::Migration {
                    version: 2,
                    from: 1,
                    ..
                }
            ),
            "{text}"
        );
        assert!(text.contains("table taken_files already exists"), "{text}");
        assert!(
            !text.contains("CREATE TABLE"),
            "no SQL script in the message: {text}"
        );
    }

    #[test]
    fn opens_twice_and_refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sqlite");
        drop(Store::open(&p).unwrap());
        let s = Store::open(&p).unwrap();
        s.conn().pragma_update(None, "user_version", 999).unwrap();
        drop(s);
        let e = Store::open(&p).err().unwrap().to_string();
        assert!(e.contains("999"), "{e}");
    }
}

//! One `pull` at a time per state file.
//!
//! Why: cron can start a night's job while the previous one still runs; two
//! pulls listing the same folder could each take the same file. The lock is a
//! small SQLite file beside the state file (`STATE.pull-lock`) held in an
//! EXCLUSIVE transaction for the whole run. SQLite's file lock is released by
//! the operating system when the process ends, so a killed run never leaves
//! a stale lock behind, and it works wherever the state file works.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// The lock is held by another run, or cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another `pull` is running on this state file (lock {}); this run took nothing and the files wait for the next run",
        path.display()
    )]
    Busy { path: PathBuf },
    #[error("cannot take the pull lock {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// Held while a pull runs; released on drop (or process exit).
#[derive(Debug)]
pub struct PullLock {
    path: PathBuf,
    _conn: Connection,
}

impl PullLock {
    /// The lock file for a state file.
    pub fn path_for(state: &Path) -> PathBuf {
        let mut s = state.as_os_str().to_owned();
        s.push(".pull-lock");
        s.into()
    }

    /// Takes the lock beside `state`, without waiting.
    pub fn acquire(state: &Path) -> Result<PullLock, LockError> {
        let path = Self::path_for(state);
        let err = |source| LockError::Sqlite {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(Duration::ZERO).map_err(err)?;
        match conn.execute_batch("BEGIN EXCLUSIVE") {
            Ok(()) => Ok(PullLock { path, _conn: conn }),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Err(LockError::Busy { path })
            }
            Err(e) => Err(err(e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.sqlite");
        let first = PullLock::acquire(&state).unwrap();
        let e = PullLock::acquire(&state).unwrap_err();
        assert!(matches!(e, LockError::Busy { .. }), "{e}");
        assert!(e.to_string().contains("another `pull`"), "{e}");
        drop(first);
        let again = PullLock::acquire(&state).unwrap();
        assert!(again.path().ends_with("s.sqlite.pull-lock"));
    }
}

//! One command of a kind at a time per state file: one `pull`, one `sweep`.
//!
//! Why: cron can start a night's job while the previous one still runs; two
//! pulls listing the same folder could each take the same file, and two
//! sweeps could lease the same outbox rows. A lock is a small SQLite file
//! beside the state file (`STATE.<name>-lock`) held in an EXCLUSIVE
//! transaction for the whole command. SQLite's file lock is released by the
//! operating system when the process ends, so a killed run never leaves a
//! stale lock behind, and it works wherever the state file works.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// The lock is held by another process, or cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another `{name}` or `run` is running on this state file (lock {}); this one did nothing and the work waits for the next run",
        path.display()
    )]
    Busy { name: &'static str, path: PathBuf },
    #[error("cannot take the {name} lock {}: {source}", path.display())]
    Sqlite {
        name: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl LockError {
    /// Another holder is a transient condition (exit 3): the next run
    /// proceeds. Failing to take the lock at all is a configuration problem.
    pub fn is_transient(&self) -> bool {
        matches!(self, LockError::Busy { .. })
    }
}

/// Held while a command runs; released on drop (or process exit).
#[derive(Debug)]
pub struct StateLock {
    name: &'static str,
    path: PathBuf,
    _conn: Connection,
}

impl StateLock {
    /// The lock file named `name` for a state file: `STATE.<name>-lock`.
    pub fn path_for(state: &Path, name: &str) -> PathBuf {
        let mut s = state.as_os_str().to_owned();
        s.push(format!(".{name}-lock"));
        s.into()
    }

    /// Takes the lock `name` (`pull`, `sweep`, ...) beside `state`, without
    /// waiting.
    pub fn acquire(state: &Path, name: &'static str) -> Result<StateLock, LockError> {
        let path = Self::path_for(state, name);
        let err = |source| LockError::Sqlite {
            name,
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(Duration::ZERO).map_err(err)?;
        match conn.execute_batch("BEGIN EXCLUSIVE") {
            Ok(()) => Ok(StateLock {
                name,
                path,
                _conn: conn,
            }),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Err(LockError::Busy { name, path })
            }
            Err(e) => Err(err(e)),
        }
    }

    /// The pull lock: one `pull`, `upload` or `run` at a time.
    pub fn pull(state: &Path) -> Result<StateLock, LockError> {
        Self::acquire(state, "pull")
    }

    /// The sweep lock: one `sweep` (or `run`) at a time.
    pub fn sweep(state: &Path) -> Result<StateLock, LockError> {
        Self::acquire(state, "sweep")
    }

    pub fn name(&self) -> &'static str {
        self.name
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
        let first = StateLock::pull(&state).unwrap();
        let e = StateLock::pull(&state).unwrap_err();
        assert!(matches!(e, LockError::Busy { .. }), "{e}");
        assert!(e.is_transient());
        assert!(e.to_string().contains("another `pull`"), "{e}");
        // Another name is another lock.
        let sweep = StateLock::sweep(&state).unwrap();
        assert!(sweep.path().ends_with("s.sqlite.sweep-lock"));
        drop(first);
        let again = StateLock::pull(&state).unwrap();
        assert!(again.path().ends_with("s.sqlite.pull-lock"));
    }
}

//! The sandbox's state on disk: a JSON snapshot (`--state FILE`) and an
//! append-only log of effects beside it (`FILE.log`).
//!
//! A request that changes something costs one appended line, never a
//! rewrite of the whole state, so the sandbox keeps its pace however many
//! payments it holds. Reading is the snapshot, then every logged effect
//! replayed through [`State::apply`] in order.
//!
//! The log's first line names the snapshot it continues,
//! `{"generation":N}`; every later line is one request's effects,
//! `{"time":"...","effects":[...]}`. At start the sandbox compacts: it
//! writes the snapshot with generation N+1 (temporary file, fsync, rename),
//! then replaces the log with one naming N+1. If it dies between the two,
//! the old log names N, which the new snapshot already holds, and is
//! skipped: no effect is ever applied twice.
//!
//! A line is written with one `write` to an unbuffered file before the
//! request is answered, so a killed sandbox loses at most the line it was
//! writing, and never one whose answer went out. That torn last line is
//! ignored with a warning.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::state::{Effect, State, StateError};

/// The log beside a snapshot: `FILE` -> `FILE.log`.
pub fn log_path(snapshot: &Path) -> PathBuf {
    let mut p = snapshot.as_os_str().to_owned();
    p.push(".log");
    PathBuf::from(p)
}

/// The snapshot file: the state plus the generation the log must name.
#[derive(Serialize)]
struct SnapshotOut<'a> {
    generation: u64,
    #[serde(flatten)]
    state: &'a State,
}

#[derive(Deserialize)]
struct SnapshotIn {
    /// Absent in a state written before the log existed.
    #[serde(default)]
    generation: u64,
    #[serde(flatten)]
    state: State,
}

/// The log's first line.
#[derive(Serialize, Deserialize)]
struct Header {
    generation: u64,
}

/// One request's effects: one line of the log.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogLine {
    /// RFC 3339, UTC: when the request was handled.
    pub time: String,
    pub effects: Vec<Effect>,
}

/// How a log was replayed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Replay {
    /// Request lines applied.
    lines: usize,
    /// Bytes of a torn last line that were ignored.
    torn: Option<usize>,
    /// The log named another snapshot generation (this one) and was
    /// skipped.
    stale: Option<u64>,
}

/// Reads the snapshot and replays its log; returns the state and the
/// snapshot's generation.
pub fn load(path: &Path) -> Result<(State, u64), StateError> {
    let (state, generation, _) = load_replay(path)?;
    Ok((state, generation))
}

fn load_replay(path: &Path) -> Result<(State, u64, Replay), StateError> {
    let file = File::open(path).map_err(|source| StateError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let snap: SnapshotIn =
        serde_json::from_reader(std::io::BufReader::new(file)).map_err(|source| {
            StateError::Parse {
                path: path.to_path_buf(),
                source,
            }
        })?;
    let mut state = snap.state;
    let log = log_path(path);
    let replay = match std::fs::read(&log) {
        Ok(bytes) => replay(&mut state, snap.generation, &log, &bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Replay::default(),
        Err(source) => return Err(StateError::Read { path: log, source }),
    };
    if let Some(n) = replay.torn {
        tracing::warn!(
            "sandbox state log {}: ignored a torn last line ({n} bytes; the sandbox was stopped while writing it, before answering)",
            log.display()
        );
    }
    if let Some(other) = replay.stale {
        tracing::warn!(
            "sandbox state log {}: skipped; it continues snapshot generation {other}, but {} is generation {} (a start stopped between writing the two; the snapshot holds the log's effects)",
            log.display(),
            path.display(),
            snap.generation
        );
    }
    Ok((state, snap.generation, replay))
}

fn replay(
    state: &mut State,
    generation: u64,
    path: &Path,
    bytes: &[u8],
) -> Result<Replay, StateError> {
    let mut out = Replay::default();
    let complete = bytes.ends_with(b"\n");
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // After the last '\n' comes either nothing or a line cut short.
    let last = lines.len() - 1;
    for (i, raw) in lines.iter().enumerate() {
        let line = i + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let torn_tail = i == last && !complete;
        let bad = |source| StateError::LogLine {
            path: path.to_path_buf(),
            line,
            source,
        };
        if i == 0 {
            match serde_json::from_slice::<Header>(raw) {
                Ok(h) if h.generation == generation => continue,
                Ok(h) => {
                    out.stale = Some(h.generation);
                    return Ok(out);
                }
                Err(_) if torn_tail => {
                    out.torn = Some(raw.len());
                    return Ok(out);
                }
                Err(e) => return Err(bad(e)),
            }
        }
        let entry: LogLine = match serde_json::from_slice(raw) {
            Ok(l) => l,
            Err(_) if torn_tail => {
                out.torn = Some(raw.len());
                break;
            }
            Err(e) => return Err(bad(e)),
        };
        for effect in &entry.effects {
            if state.apply(&entry.time, effect).is_none() {
                return Err(StateError::LogAccount {
                    path: path.to_path_buf(),
                    line,
                    account: effect.account().to_string(),
                });
            }
        }
        out.lines += 1;
    }
    Ok(out)
}

/// The open log a running sandbox appends to.
#[derive(Debug)]
pub struct StateLog {
    path: PathBuf,
    file: File,
}

impl StateLog {
    /// Compacts: writes `state` as snapshot `generation` to `path`
    /// atomically, then starts an empty log naming it.
    pub fn compact(state: &State, path: &Path, generation: u64) -> Result<StateLog, StateError> {
        let write_err = |p: &Path| {
            let p = p.to_path_buf();
            move |source| StateError::Write { path: p, source }
        };
        crate::atomic_file::write_with(path, |w| {
            serde_json::to_writer_pretty(&mut *w, &SnapshotOut { generation, state })
                .map_err(std::io::Error::from)?;
            w.write_all(b"\n")
        })
        .map_err(write_err(path))?;
        let log = log_path(path);
        crate::atomic_file::write_with(&log, |w| {
            serde_json::to_writer(&mut *w, &Header { generation }).map_err(std::io::Error::from)?;
            w.write_all(b"\n")
        })
        .map_err(write_err(&log))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .map_err(write_err(&log))?;
        Ok(StateLog { path: log, file })
    }

    /// Appends one request's effects as one line, in one `write`.
    pub fn append(&mut self, line: &LogLine) -> Result<(), StateError> {
        let mut bytes = serde_json::to_vec(line).map_err(|e| StateError::Write {
            path: self.path.clone(),
            source: e.into(),
        })?;
        bytes.push(b'\n');
        self.file
            .write_all(&bytes)
            .and_then(|()| self.file.flush())
            .map_err(|source| StateError::Write {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::sandbox::state::Account;

    fn state() -> State {
        let mut s = State::default();
        s.accounts.insert("1".into(), Account::default());
        s.accounts.insert("2".into(), Account::default());
        s.biller_guids.insert("G".into());
        s
    }

    fn pay(account: &str, id: &str, cents: i64) -> Effect {
        Effect::Payment {
            account: account.into(),
            transaction_id: id.into(),
            tender: "CC".into(),
            amount: Decimal::new(cents, 2),
            unapplied: false,
        }
    }

    /// Applies the effects to `live` and logs them, as the server does.
    fn serve(live: &mut State, log: &mut StateLog, effects: Vec<Effect>) {
        let time = "2026-11-26T20:15:00.000Z";
        for e in &effects {
            assert!(live.apply(time, e).is_some());
        }
        log.append(&LogLine {
            time: time.into(),
            effects,
        })
        .unwrap();
    }

    #[test]
    fn a_snapshot_and_its_log_read_back_as_the_live_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut live = state();
        let mut log = StateLog::compact(&live, &path, 1).unwrap();
        let snapshot = std::fs::read(&path).unwrap();
        serve(
            &mut live,
            &mut log,
            vec![pay("1", "a", 1000), pay("2", "b", 1)],
        );
        serve(
            &mut live,
            &mut log,
            vec![Effect::Paperless {
                account: "1".into(),
                value: true,
            }],
        );
        // A request rewrites nothing: the snapshot is as compaction left it.
        assert_eq!(std::fs::read(&path).unwrap(), snapshot);
        let text = std::fs::read_to_string(log_path(&path)).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert_eq!(text.lines().next(), Some(r#"{"generation":1}"#));
        let (back, generation, replay) = load_replay(&path).unwrap();
        assert_eq!((back, generation), (live.clone(), 1));
        assert_eq!(
            replay,
            Replay {
                lines: 2,
                ..Replay::default()
            }
        );
        assert_eq!(State::load(&path).unwrap(), live);
    }

    #[test]
    fn compaction_folds_the_log_into_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut live = state();
        let mut log = StateLog::compact(&live, &path, 1).unwrap();
        serve(&mut live, &mut log, vec![pay("1", "a", 1000)]);
        let (loaded, generation) = load(&path).unwrap();
        StateLog::compact(&loaded, &path, generation + 1).unwrap();
        assert_eq!(
            std::fs::read_to_string(log_path(&path)).unwrap(),
            "{\"generation\":2}\n"
        );
        let snapshot: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(snapshot["generation"], 2);
        assert_eq!(snapshot["transaction_ids"], serde_json::json!(["a"]));
        assert_eq!(State::load(&path).unwrap(), live);
        // No temporary file is left beside them.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["state.json", "state.json.log"]);
    }

    #[test]
    fn dying_between_snapshot_and_log_applies_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut live = state();
        let mut log = StateLog::compact(&live, &path, 1).unwrap();
        serve(&mut live, &mut log, vec![pay("1", "a", 1000)]);
        let old_log = std::fs::read(log_path(&path)).unwrap();
        // Compaction wrote snapshot 2, then the process died before the log.
        StateLog::compact(&live, &path, 2).unwrap();
        std::fs::write(log_path(&path), &old_log).unwrap();
        let (back, generation, replay) = load_replay(&path).unwrap();
        assert_eq!(replay.stale, Some(1));
        assert_eq!(generation, 2);
        assert_eq!(back, live);
        assert_eq!(back.accounts["1"].payments.len(), 1);
    }

    #[test]
    fn a_torn_last_line_is_ignored_a_damaged_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut live = state();
        let mut log = StateLog::compact(&live, &path, 1).unwrap();
        serve(&mut live, &mut log, vec![pay("1", "a", 1000)]);
        let whole = std::fs::read(log_path(&path)).unwrap();
        // Killed while writing the next line: it has no end of line.
        let tail = br#"{"time":"2026-11-26T20:15:00.000Z","effects":[{"payment":{"acc"#;
        let mut torn = whole.clone();
        torn.extend_from_slice(tail);
        std::fs::write(log_path(&path), &torn).unwrap();
        let (back, _, replay) = load_replay(&path).unwrap();
        assert_eq!(back, live);
        assert_eq!(replay.lines, 1);
        assert_eq!(replay.torn, Some(tail.len()));
        // A torn line cut inside a multi-byte character is still just torn.
        let mut cut = whole.clone();
        cut.extend_from_slice(&"{\"time\":\"é".as_bytes()[..10]);
        std::fs::write(log_path(&path), &cut).unwrap();
        assert_eq!(State::load(&path).unwrap(), live);
        // A complete line that is not an entry is damage, not a tear.
        let mut damaged = whole.clone();
        damaged.extend_from_slice(b"{\"time\":1}\n");
        damaged.extend_from_slice(&whole[whole.iter().position(|&b| b == b'\n').unwrap() + 1..]);
        std::fs::write(log_path(&path), &damaged).unwrap();
        let e = State::load(&path).unwrap_err();
        assert!(matches!(e, StateError::LogLine { line: 3, .. }), "{e:?}");
        // An effect on an account the snapshot lacks: another state's log.
        let mut foreign = whole.clone();
        foreign.extend_from_slice(
            br#"{"time":"2026-11-26T20:15:00.000Z","effects":[{"paperless":{"account":"9","value":true}}]}"#,
        );
        foreign.push(b'\n');
        std::fs::write(log_path(&path), &foreign).unwrap();
        let e = State::load(&path).unwrap_err();
        assert!(
            matches!(&e, StateError::LogAccount { line: 3, account, .. } if account == "9"),
            "{e:?}"
        );
    }

    #[test]
    fn a_state_without_generation_or_log_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut s = state();
        s.apply("2026-11-26T20:15:00.000Z", &pay("2", "x", 5))
            .unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&s).unwrap()).unwrap();
        assert_eq!(load(&path).unwrap(), (s, 0));
    }
}

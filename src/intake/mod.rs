//! Intake: taking BIF files from a [`Source`] (SFTP or the drop box) into the
//! local inbox, once each, with nothing half-done left behind (issue 4).
//!
//! The guarantees live here, once, for every source:
//! - only this biller's `{BID}_MMDDYYYY.BIF` names; dangerous names refused
//!   ([`names`]);
//! - a file changed within `settle_seconds` is left for the next run (Daffron
//!   may still be writing it), and so is a file whose size changes while it
//!   is downloaded;
//! - download to `inbox/.incoming/NAME`, sha256 while copying, fsync, size
//!   check; only then is it judged ([`Admission`]) and renamed into place;
//! - a file already taken (same name and sha256) is never processed again,
//!   only moved off the server again if an earlier move failed;
//! - the order of steps makes any interruption safe to resume: the file is
//!   put in place (inbox or quarantine) *before* the state file records it,
//!   and the state file records it *before* the server's copy is moved. A
//!   crash between two steps leaves the server's copy, which the next run
//!   takes again (same bytes: same outcome) or only moves;
//! - accepted: inbox + account directory (one transaction) + server archive;
//!   rejected: quarantine with `NAME.errors.txt` and `NAME.errors.json` +
//!   server failed folder. The verdict is recorded;
//! - no file over `max_file_bytes` is copied here ([`too_large`]): one listed
//!   over it is never opened; a download that passes it is stopped there
//!   (the limit is enforced by the writer every source copies into, so no
//!   source can read past it). Either way its reports go to the quarantine,
//!   the file to the server's failed folder, and the files after it are
//!   still taken. Such a file is not recorded in the state file, which knows
//!   files by the sha256 of their bytes: it is judged by its size alone,
//!   again each time it is listed, so a run cut short before the move is
//!   finished by the next;
//! - a file listed without a size (SFTP makes the size optional) is looked
//!   up again ([`Source::stat`]); still without one, it is downloaded with
//!   the limit enforced and looked up once more after: a size or mtime that
//!   differs from the download's means it is still being written (next
//!   run); none given at all, the bytes downloaded are the file, once its
//!   mtime has settled (a BIF carries its own invoice count and total, so a
//!   file cut short fails validation rather than going through).

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bif::layout::Layout;
use crate::store::{ChangeLog, FileVerdict, Store, StoreError, TakenFile};
use crate::transport::{Disposition, RemoteFile, Source, TransportError};

pub mod admission;
pub mod names;
pub mod too_large;

pub use admission::{Admission, ValidatorAdmission, Verdict};
pub use names::{NameClass, classify};

/// The folder inside the inbox where downloads are written before they are
/// judged. Cleared at the start of every run (under the pull lock).
pub const INCOMING_DIR: &str = ".incoming";

/// What intake needs besides the source and the state.
#[derive(Debug, Clone)]
pub struct IntakeOptions {
    /// Names are `{bid}_MMDDYYYY.BIF`.
    pub bid: u32,
    pub inbox: PathBuf,
    pub quarantine: PathBuf,
    /// A file changed more recently than this is left for the next run.
    pub settle_seconds: u64,
    /// To read accepted files' invoices for the account directory.
    pub layout: Layout,
    /// Whether the source keeps its files (drop box `keep_originals`): then a
    /// file already taken is left alone instead of being moved again.
    pub keep_originals: bool,
    /// No file over this many bytes is copied here (`[sftp]`/`[dropbox]`
    /// `max_file_bytes`).
    pub max_file_bytes: u64,
}

/// Why intake stopped before the end of the listing.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Transport(Box<TransportError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot {op} {}: {source}", path.display())]
    Local {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot check {name}: {source}")]
    Admission {
        name: String,
        #[source]
        source: Box<crate::Error>,
    },
}

impl From<TransportError> for IntakeError {
    fn from(e: TransportError) -> Self {
        IntakeError::Transport(Box::new(e))
    }
}

impl IntakeError {
    /// Whether the next run may succeed with no change (exit code 3).
    pub fn is_transient(&self) -> bool {
        matches!(self, IntakeError::Transport(t) if t.is_transient())
    }
}

fn local(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> IntakeError {
    let path = path.to_path_buf();
    move |source| IntakeError::Local { op, path, source }
}

/// What happened to one listed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Accepted: in the inbox, fed to the account directory, archived.
    Taken {
        path: PathBuf,
        changes: std::collections::BTreeMap<&'static str, usize>,
    },
    /// Same name and bytes as a file taken before: not processed again.
    AlreadyTaken { verdict: FileVerdict },
    /// Changed too recently, or while it was downloaded: left for the next run.
    StillSettling { reason: String },
    /// Failed the checks: in the quarantine with its reports, moved to the
    /// server's failed folder.
    Quarantined { path: PathBuf, report: PathBuf },
    /// Over `max_file_bytes`: its reports in the quarantine, not the file
    /// ([`too_large`]); moved to the server's failed folder. Counted, and
    /// shown in JSON, as `quarantined`, with `issue` `file_too_large`.
    #[serde(rename = "quarantined")]
    TooLarge {
        issue: &'static str,
        max_file_bytes: u64,
        reason: String,
        report: PathBuf,
    },
    /// A dangerous name: not touched.
    Refused { reason: String },
}

impl Outcome {
    /// The one-word name used in text output and JSON (`outcome`).
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Taken { .. } => "taken",
            Outcome::AlreadyTaken { .. } => "already_taken",
            Outcome::StillSettling { .. } => "still_settling",
            Outcome::Quarantined { .. } | Outcome::TooLarge { .. } => "quarantined",
            Outcome::Refused { .. } => "refused",
        }
    }
}

/// One listed file and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileOutcome {
    pub name: String,
    /// As listed, or as downloaded when the listing gave none.
    pub size: Option<u64>,
    /// Known once the file was downloaded.
    pub sha256: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The result of one intake run. `stopped` is set when the run could not go
/// through the whole listing (the files not reached wait for the next run).
#[derive(Debug, Default)]
pub struct IntakeSummary {
    pub source: String,
    pub files: Vec<FileOutcome>,
    pub stopped: Option<IntakeError>,
}

impl IntakeSummary {
    pub fn count(&self, word: &str) -> usize {
        self.files
            .iter()
            .filter(|f| f.outcome.word() == word)
            .count()
    }
}

/// A writer that hashes and counts what goes through it, and refuses any
/// byte past `limit`: the source copying into it stops there.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
    limit: u64,
    over: bool,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.limit.saturating_sub(self.written);
        if u64::try_from(buf.len()).unwrap_or(u64::MAX) > room {
            self.over = true;
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("over max_file_bytes {}", self.limit),
            ));
        }
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Whether a file with modification time `mtime` is still settling at `now`
/// (both Unix seconds). A file with no mtime cannot be judged and is taken.
pub fn is_settling(mtime: Option<i64>, now: i64, settle_seconds: u64) -> bool {
    let settle = i64::try_from(settle_seconds).unwrap_or(i64::MAX);
    match mtime {
        Some(m) if settle > 0 => m.saturating_add(settle) > now,
        _ => false,
    }
}

/// Syncs a folder so that a rename into it survives a power cut.
fn sync_dir(dir: &Path) -> Result<(), IntakeError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(local("sync folder", dir))
}

/// Writes `bytes` to `path` through a temporary name and a sync.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IntakeError> {
    crate::atomic_file::write(path, bytes).map_err(local("write", path))
}

/// Moves `from` to `to`, copying when they are on different file systems.
fn move_file(from: &Path, to: &Path) -> Result<(), IntakeError> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let bytes = fs::read(from).map_err(local("read", from))?;
            write_atomically(to, &bytes)?;
            fs::remove_file(from).map_err(local("remove", from))
        }
        Err(e) => Err(local("move into place", to)(e)),
    }
}

/// Runs intake once over `source`'s listing. Returns the per-file outcomes;
/// an error that stops the run part-way is in `stopped`, after the outcomes
/// of the files done before it. The caller holds the pull lock ([`crate::store::StateLock::pull`]).
pub fn run(
    source: &mut dyn Source,
    store: &mut Store,
    admission: &dyn Admission,
    opts: &IntakeOptions,
) -> IntakeSummary {
    let mut summary = IntakeSummary {
        source: source.describe(),
        ..IntakeSummary::default()
    };
    if let Err(e) = prepare_incoming(opts) {
        summary.stopped = Some(e);
        return summary;
    }
    let listing = match source.list() {
        Ok(l) => l,
        Err(e) => {
            summary.stopped = Some(e.into());
            return summary;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let bar = crate::pipeline::progress::bar("pull", listing.len() as u64);
    for mut f in listing {
        bar.inc(1);
        bar.set_message(f.name.clone());
        let done = |f: &RemoteFile, outcome| FileOutcome {
            name: f.name.clone(),
            size: f.size,
            sha256: None,
            outcome,
        };
        match classify(&f.name, opts.bid) {
            NameClass::Unsafe(reason) => {
                tracing::warn!("{}: refusing file {:?}: {reason}", summary.source, f.name);
                summary.files.push(done(
                    &f,
                    Outcome::Refused {
                        reason: reason.to_string(),
                    },
                ));
                continue;
            }
            NameClass::Other => {
                tracing::debug!(
                    "{}: ignoring {:?}: not a BIF file of biller {}",
                    summary.source,
                    f.name,
                    opts.bid
                );
                continue;
            }
            NameClass::Bif => {}
        }
        let settling = |f: &RemoteFile| {
            is_settling(f.mtime, now, opts.settle_seconds).then(|| Outcome::StillSettling {
                reason: format!("changed less than {} s ago", opts.settle_seconds),
            })
        };
        if let Some(outcome) = settling(&f) {
            summary.files.push(done(&f, outcome));
            continue;
        }
        if f.size.is_none() {
            // Listed without a size: ask again (the mtime may come too).
            match source.stat(&f) {
                Ok(again) => {
                    f.size = again.size;
                    f.mtime = again.mtime.or(f.mtime);
                }
                Err(e) => {
                    summary.stopped = Some(e.into());
                    break;
                }
            }
            if let Some(outcome) = settling(&f) {
                summary.files.push(done(&f, outcome));
                continue;
            }
        }
        let step = match f.size {
            Some(size) if size > opts.max_file_bytes => {
                set_aside(source, opts, &f, too_large::Seen::Listed { size })
                    .map(|(outcome, moved)| (done(&f, outcome), moved))
            }
            _ => take_one(source, store, admission, opts, &f),
        };
        match step {
            Ok((outcome, None)) => summary.files.push(outcome),
            // Placed and recorded, but the server move failed: reported as
            // what it became; the next run finishes the move.
            Ok((outcome, Some(e))) => {
                summary.files.push(outcome);
                summary.stopped = Some(e);
                break;
            }
            Err(e) => {
                summary.stopped = Some(e);
                break;
            }
        }
    }
    bar.finish_and_clear();
    summary
}

/// Creates the inbox, quarantine and incoming folders and clears downloads a
/// killed run left behind.
fn prepare_incoming(opts: &IntakeOptions) -> Result<(), IntakeError> {
    let incoming = opts.inbox.join(INCOMING_DIR);
    for d in [&opts.inbox, &opts.quarantine, &incoming] {
        fs::create_dir_all(d).map_err(local("create folder", d))?;
    }
    for entry in fs::read_dir(&incoming).map_err(local("list", &incoming))? {
        let p = entry.map_err(local("list", &incoming))?.path();
        tracing::info!(
            "removing the partial download {} of an interrupted run",
            p.display()
        );
        fs::remove_file(&p).map_err(local("remove", &p))?;
    }
    Ok(())
}

/// What became of a file, and the error of its server move when that alone
/// failed (the file is then placed and recorded; the next run moves it).
type Placed<T> = Result<(T, Option<IntakeError>), IntakeError>;

/// Takes one settled BIF file.
fn take_one(
    source: &mut dyn Source,
    store: &mut Store,
    admission: &dyn Admission,
    opts: &IntakeOptions,
    f: &RemoteFile,
) -> Placed<FileOutcome> {
    let tmp = opts.inbox.join(INCOMING_DIR).join(&f.name);
    let fetched = download(source, f, &tmp, opts.max_file_bytes);
    let (written, sha) = match fetched {
        Ok(Fetched::Whole { written, sha }) => (written, sha),
        Ok(Fetched::OverLimit) => {
            // Nothing of it is kept: a prefix is no BIF, and keeping it
            // would spend the disk the limit protects.
            let _ = fs::remove_file(&tmp);
            let seen = too_large::Seen::Downloading { listed: f.size };
            return set_aside(source, opts, f, seen).map(|(outcome, moved)| {
                let out = FileOutcome {
                    name: f.name.clone(),
                    size: f.size,
                    sha256: None,
                    outcome,
                };
                (out, moved)
            });
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // From here on the temporary file goes whatever happens.
    let got = Download {
        tmp: &tmp,
        written,
        sha: &sha,
    };
    let result = judge_and_place(source, store, admission, opts, f, &got);
    let _ = fs::remove_file(&tmp);
    result.map(|(outcome, moved)| {
        let out = FileOutcome {
            name: f.name.clone(),
            size: f.size.or(Some(written)),
            sha256: Some(sha),
            outcome,
        };
        (out, moved)
    })
}

/// Sets aside a file over `max_file_bytes`: its reports written to the
/// quarantine (synced) first, then the file moved to the server's failed
/// folder, or, with `keep_originals`, left where it is (copying it is what
/// the limit prevents).
fn set_aside(
    source: &mut dyn Source,
    opts: &IntakeOptions,
    f: &RemoteFile,
    seen: too_large::Seen,
) -> Placed<Outcome> {
    let limit = opts.max_file_bytes;
    let fate = if opts.keep_originals {
        "left where it is (keep_originals)"
    } else {
        "moved to the failed folder on the server"
    };
    tracing::warn!(
        "{}: setting {} aside: {}",
        source.describe(),
        crate::terminal::escape(&f.name),
        seen.reason(limit)
    );
    let (text, json) = too_large::reports(&f.name, seen, limit, fate);
    let q = &opts.quarantine;
    let report = q.join(format!("{}.errors.txt", f.name));
    write_atomically(&report, text.as_bytes())?;
    write_atomically(&q.join(format!("{}.errors.json", f.name)), json.as_bytes())?;
    sync_dir(q)?;
    let moved = if opts.keep_originals {
        Ok(())
    } else {
        source.dispose(f, None, Disposition::Failed)
    };
    let outcome = Outcome::TooLarge {
        issue: too_large::ISSUE,
        max_file_bytes: limit,
        reason: format!("{}; {fate}", seen.reason(limit)),
        report,
    };
    Ok((outcome, moved.err().map(IntakeError::from)))
}

/// What a download gave.
enum Fetched {
    /// The whole file: bytes and sha256.
    Whole { written: u64, sha: String },
    /// Stopped at `max_file_bytes`.
    OverLimit,
}

/// Downloads to `tmp` with sha256 and fsync, stopping past `limit` bytes.
fn download(
    source: &mut dyn Source,
    f: &RemoteFile,
    tmp: &Path,
    limit: u64,
) -> Result<Fetched, IntakeError> {
    let file = fs::File::create(tmp).map_err(local("create", tmp))?;
    let mut w = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        written: 0,
        limit,
        over: false,
    };
    let fetched = source.fetch(f, &mut w);
    // The writer refused a byte past the limit: whatever the source made of
    // that refusal, the file is over the limit.
    if w.over {
        return Ok(Fetched::OverLimit);
    }
    let fetched = fetched?;
    w.flush().map_err(local("write", tmp))?;
    let HashingWriter {
        inner,
        hasher,
        written,
        ..
    } = w;
    let file = inner
        .into_inner()
        .map_err(|e| local("write", tmp)(e.into_error()))?;
    file.sync_all().map_err(local("sync", tmp))?;
    debug_assert_eq!(fetched, written);
    Ok(Fetched::Whole {
        written,
        sha: hex(&hasher.finalize()),
    })
}

/// A finished download waiting for its verdict.
struct Download<'a> {
    tmp: &'a Path,
    written: u64,
    sha: &'a str,
}

/// Why a downloaded file of `written` bytes is not the whole file yet, if it
/// is not: the listed size differs, or, listed without a size, a second
/// look gives a size or mtime that differs. Nothing given at all: it is.
fn still_written(
    source: &mut dyn Source,
    f: &RemoteFile,
    written: u64,
) -> Result<Option<String>, IntakeError> {
    if let Some(size) = f.size {
        return Ok((written != size).then(|| {
            format!("listed with {size} bytes but {written} were downloaded: still being written")
        }));
    }
    let after = source.stat(f)?;
    if let Some(size) = after.size.filter(|s| *s != written) {
        return Ok(Some(format!(
            "listed without a size; {written} bytes were downloaded but it now has {size}: still being written"
        )));
    }
    if after.mtime.is_some() && after.mtime != f.mtime {
        return Ok(Some(
            "listed without a size; it changed while it was downloaded: still being written"
                .to_string(),
        ));
    }
    Ok(None)
}

fn judge_and_place(
    source: &mut dyn Source,
    store: &mut Store,
    admission: &dyn Admission,
    opts: &IntakeOptions,
    f: &RemoteFile,
    got: &Download<'_>,
) -> Placed<Outcome> {
    let Download { tmp, written, sha } = *got;
    if let Some(reason) = still_written(source, f, written)? {
        return Ok((Outcome::StillSettling { reason }, None));
    }

    if let Some(prev) = store.taken(&f.name, sha)? {
        // Never processed again; only moved off the server, in case an
        // earlier run recorded it but could not move it.
        let moved = match (opts.keep_originals, prev.verdict) {
            (true, _) => Ok(()),
            (false, FileVerdict::Accepted) => source.dispose(f, Some(sha), Disposition::Archive),
            (false, FileVerdict::Rejected) => source.dispose(f, Some(sha), Disposition::Failed),
        };
        let outcome = Outcome::AlreadyTaken {
            verdict: prev.verdict,
        };
        return Ok((outcome, moved.err().map(IntakeError::from)));
    }

    let decision = admission
        .admit(&f.name, tmp)
        .map_err(|e| IntakeError::Admission {
            name: f.name.clone(),
            source: Box::new(e),
        })?;
    let described = source.describe();
    let figures = decision.figures();
    let record = |verdict, local_path: &Path| TakenFile {
        name: f.name.clone(),
        sha256: sha.to_string(),
        size: written,
        mtime: f.mtime,
        source: described.clone(),
        verdict,
        local_path: local_path.to_path_buf(),
        figures: figures.clone(),
    };
    match decision {
        Verdict::Accept { invoices } => {
            let dest = opts.inbox.join(&f.name);
            if dest.exists() {
                tracing::warn!(
                    "{}: replaces an earlier file of the same name with other bytes (a corrected resend)",
                    dest.display()
                );
            }
            move_file(tmp, &dest)?;
            sync_dir(&opts.inbox)?;
            let (_, log) =
                store.take_file(&record(FileVerdict::Accepted, &dest), Some(&invoices))?;
            let outcome = Outcome::Taken {
                path: dest,
                changes: log.as_ref().map(ChangeLog::counts).unwrap_or_default(),
            };
            Ok((
                outcome,
                source
                    .dispose(f, Some(sha), Disposition::Archive)
                    .err()
                    .map(IntakeError::from),
            ))
        }
        Verdict::Reject {
            text_report,
            json_report,
            ..
        } => {
            let q = &opts.quarantine;
            let dest = q.join(&f.name);
            let report = q.join(format!("{}.errors.txt", f.name));
            write_atomically(&report, text_report.as_bytes())?;
            write_atomically(
                &q.join(format!("{}.errors.json", f.name)),
                json_report.as_bytes(),
            )?;
            move_file(tmp, &dest)?;
            sync_dir(q)?;
            store.take_file(&record(FileVerdict::Rejected, &dest), None)?;
            let outcome = Outcome::Quarantined { path: dest, report };
            Ok((
                outcome,
                source
                    .dispose(f, Some(sha), Disposition::Failed)
                    .err()
                    .map(IntakeError::from),
            ))
        }
    }
}

#[cfg(test)]
mod tests;

//! Intake over the drop box with injected verdicts and injected failures.

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;
use crate::config::DropboxConfig;
use crate::store::ChangeKind;
use crate::transport::DropboxSource;

const GUID: &str = "3F358D04-4273-4551-BB14-B9F719EC0A61";
const NAME: &str = "2661_11262026.BIF";

fn bif(accounts: &[(&str, &str)]) -> String {
    let mut s = format!("FH|{GUID}|11/26/2026|{}|0.00\n", accounts.len());
    for (i, (acct, email)) in accounts.iter().enumerate() {
        let (b, sub) = acct.split_once('-').unwrap();
        s.push_str(&format!(
            "IH|R|{GUID}|{i}|11/20/2026|12/10/2026|0.00|{b}|{sub}|77{i}||{b}-{i}\nCR|{acct}|NAME {i}|||||||{email}\n"
        ));
    }
    s
}

struct Env {
    _t: tempfile::TempDir,
    drop: DropboxConfig,
    opts: IntakeOptions,
    store: Store,
}

fn env(keep: bool, settle: u64) -> Env {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().to_path_buf();
    let drop = DropboxConfig {
        dir: root.join("outbound"),
        archive_dir: root.join("archive"),
        failed_dir: root.join("failed"),
        settle_seconds: settle,
        keep_originals: keep,
        max_file_bytes: crate::config::DEFAULT_MAX_FILE_BYTES,
    };
    fs::create_dir_all(&drop.dir).unwrap();
    let opts = IntakeOptions {
        bid: 2661,
        inbox: root.join("inbox"),
        quarantine: root.join("quarantine"),
        settle_seconds: settle,
        layout: Layout::embedded(),
        keep_originals: keep,
        max_file_bytes: crate::config::DEFAULT_MAX_FILE_BYTES,
    };
    let store = Store::open(&root.join("state.sqlite")).unwrap();
    Env {
        _t: t,
        drop,
        opts,
        store,
    }
}

/// Passes every file, as if the checks had: what is left is the reader.
fn accept(name: &str, local: &Path) -> Result<Verdict, crate::Error> {
    let bytes = fs::read(local).unwrap();
    Ok(admission::accept(name, &bytes, &Layout::embedded()))
}

fn reject(name: &str, _: &Path) -> Result<Verdict, crate::Error> {
    Ok(Verdict::Reject {
        text_report: format!("{name}: bad date on line 2\n"),
        json_report: "{\"valid\":false}".into(),
        figures: Default::default(),
    })
}

fn age(path: &Path, secs: u64) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

fn words(s: &IntakeSummary) -> Vec<(&str, &'static str)> {
    s.files
        .iter()
        .map(|f| (f.name.as_str(), f.outcome.word()))
        .collect()
}

fn inbox_files(e: &Env) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(&e.opts.inbox)
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != INCOMING_DIR)
        .collect();
    v.sort();
    v
}

fn incoming_is_empty(e: &Env) -> bool {
    fs::read_dir(e.opts.inbox.join(INCOMING_DIR))
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

#[test]
fn takes_a_file_once_and_archives_it() {
    let mut e = env(false, 0);
    let body = bif(&[("35909-001", "a@x.com"), ("35910-002", "b@x.com")]);
    fs::write(e.drop.dir.join(NAME), &body).unwrap();
    fs::write(e.drop.dir.join("notes.txt"), "x").unwrap();
    fs::write(e.drop.dir.join("3337_11262026.BIF"), "x").unwrap();

    let mut src = DropboxSource::new(&e.drop);
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert!(s.stopped.is_none(), "{:?}", s.stopped);
    assert_eq!(words(&s), vec![(NAME, "taken")]);
    let f = &s.files[0];
    assert_eq!(f.sha256.as_deref().map(str::len), Some(64));
    match &f.outcome {
        Outcome::Taken { changes, .. } => assert_eq!(changes.get("new"), Some(&2)),
        o => panic!("{o:?}"),
    }
    assert_eq!(fs::read_to_string(e.opts.inbox.join(NAME)).unwrap(), body);
    assert_eq!(
        fs::read_to_string(e.drop.archive_dir.join(NAME)).unwrap(),
        body
    );
    assert!(!e.drop.dir.join(NAME).exists());
    assert!(
        e.drop.dir.join("notes.txt").exists(),
        "other names are left alone"
    );
    assert!(incoming_is_empty(&e));
    assert_eq!(
        e.store.location_for("35910-002").unwrap().as_deref(),
        Some("771")
    );
    let rows = e.store.taken_files().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].verdict, FileVerdict::Accepted);
    assert_eq!(rows[0].size, body.len() as u64);
    assert!(rows[0].source.starts_with("dropbox:"));

    // Rerun: nothing new.
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert!(s.files.is_empty(), "{:?}", words(&s));

    // The same file dropped again (same bytes): never processed again, but
    // moved off the drop box again, beside the first copy.
    fs::write(e.drop.dir.join(NAME), &body).unwrap();
    let panicking = |_: &str, _: &Path| -> Result<Verdict, crate::Error> {
        panic!("an already-taken file was judged again")
    };
    let s = run(&mut src, &mut e.store, &panicking, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "already_taken")]);
    assert!(!e.drop.dir.join(NAME).exists());
    assert_eq!(fs::read_dir(&e.drop.archive_dir).unwrap().count(), 2);
    assert_eq!(e.store.taken_files().unwrap().len(), 1);

    // A corrected resend (other bytes) is new: the change log says what changed.
    let body2 = bif(&[("35909-001", "new@x.com")]);
    fs::write(e.drop.dir.join(NAME), &body2).unwrap();
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "taken")]);
    assert_eq!(fs::read_to_string(e.opts.inbox.join(NAME)).unwrap(), body2);
    let rows = e.store.taken_files().unwrap();
    let log = e.store.change_log(rows[1].id).unwrap();
    assert_eq!(log.count(ChangeKind::Email), 1);
    assert_eq!(log.count(ChangeKind::Absent), 1);
}

#[test]
fn keep_originals_copies_and_still_takes_once() {
    let mut e = env(true, 0);
    let body = bif(&[("35909-001", "a@x.com")]);
    fs::write(e.drop.dir.join(NAME), &body).unwrap();
    let mut src = DropboxSource::new(&e.drop);
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "taken")]);
    assert!(e.drop.dir.join(NAME).exists());
    assert!(e.drop.archive_dir.join(NAME).exists());
    for _ in 0..2 {
        let s = run(&mut src, &mut e.store, &accept, &e.opts);
        assert_eq!(words(&s), vec![(NAME, "already_taken")]);
    }
    // Kept originals are not copied again and again.
    assert_eq!(fs::read_dir(&e.drop.archive_dir).unwrap().count(), 1);
    assert_eq!(e.store.taken_files().unwrap().len(), 1);
}

#[test]
fn a_recent_file_is_left_until_it_settles() {
    let mut e = env(false, 60);
    let p = e.drop.dir.join(NAME);
    fs::write(&p, bif(&[("35909-001", "a@x.com")])).unwrap();
    let mut src = DropboxSource::new(&e.drop);
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "still_settling")]);
    assert!(p.exists());
    assert!(inbox_files(&e).is_empty());
    age(&p, 120);
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "taken")]);
}

#[test]
fn settling_rule() {
    assert!(is_settling(Some(100), 120, 30));
    assert!(!is_settling(Some(100), 130, 30));
    assert!(!is_settling(Some(100), 131, 30));
    assert!(!is_settling(Some(200), 100, 0));
    assert!(
        is_settling(Some(200), 100, 1),
        "a future mtime is still settling"
    );
    assert!(!is_settling(None, 100, 30));
    assert!(is_settling(Some(i64::MAX), 0, u64::MAX));
}

#[test]
fn a_rejected_file_goes_to_quarantine_with_its_reports() {
    let mut e = env(false, 0);
    let body = "FH|garbage\n";
    fs::write(e.drop.dir.join(NAME), body).unwrap();
    let mut src = DropboxSource::new(&e.drop);
    let s = run(&mut src, &mut e.store, &reject, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "quarantined")]);
    let q = &e.opts.quarantine;
    assert_eq!(fs::read_to_string(q.join(NAME)).unwrap(), body);
    assert!(
        fs::read_to_string(q.join(format!("{NAME}.errors.txt")))
            .unwrap()
            .contains("bad date")
    );
    assert!(q.join(format!("{NAME}.errors.json")).exists());
    assert!(e.drop.failed_dir.join(NAME).exists());
    assert!(!e.drop.dir.join(NAME).exists());
    assert!(inbox_files(&e).is_empty());
    assert!(incoming_is_empty(&e));
    let rows = e.store.taken_files().unwrap();
    assert_eq!(rows[0].verdict, FileVerdict::Rejected);

    // Dropped again: already taken, back to the failed folder, not judged.
    fs::write(e.drop.dir.join(NAME), body).unwrap();
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    match &s.files[0].outcome {
        Outcome::AlreadyTaken { verdict } => assert_eq!(*verdict, FileVerdict::Rejected),
        o => panic!("{o:?}"),
    }
    assert_eq!(fs::read_dir(&e.drop.failed_dir).unwrap().count(), 2);
    assert!(e.drop.archive_dir.read_dir().is_err(), "nothing archived");
}

#[test]
fn an_accepted_file_the_reader_cannot_read_is_quarantined() {
    let mut e = env(false, 0);
    fs::write(e.drop.dir.join(NAME), "ZZ|what\n").unwrap();
    let mut src = DropboxSource::new(&e.drop);
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "quarantined")]);
    let txt = fs::read_to_string(e.opts.quarantine.join(format!("{NAME}.errors.txt"))).unwrap();
    assert!(txt.contains("line 1"), "{txt}");
}

#[test]
fn dangerous_names_are_refused_and_left_alone() {
    let mut e = env(false, 0);
    let weird = "2661_1126\u{7}2026.BIF";
    fs::write(e.drop.dir.join(weird), "x").unwrap();
    let mut src = DropboxSource::new(&e.drop);
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(weird, "refused")]);
    assert!(e.drop.dir.join(weird).exists());
    assert!(e.store.taken_files().unwrap().is_empty());
}

/// A drop box that breaks on demand, like a dropped connection.
struct Flaky {
    inner: DropboxSource,
    fail_fetch_after: Cell<Option<usize>>,
    fail_archive: Cell<bool>,
    grow_by: usize,
}

fn lost(during: &str) -> TransportError {
    TransportError::Lost {
        target: "flaky".into(),
        during: during.into(),
        message: "connection reset".into(),
    }
}

impl Source for Flaky {
    fn describe(&self) -> String {
        "flaky".into()
    }
    fn list(&mut self) -> Result<Vec<RemoteFile>, TransportError> {
        self.inner.list()
    }
    fn stat(&mut self, f: &RemoteFile) -> Result<RemoteFile, TransportError> {
        self.inner.stat(f)
    }
    fn fetch(&mut self, f: &RemoteFile, dest: &mut dyn Write) -> Result<u64, TransportError> {
        if let Some(n) = self.fail_fetch_after.take() {
            dest.write_all(&vec![b'x'; n]).unwrap();
            return Err(lost("download"));
        }
        let n = self.inner.fetch(f, dest)?;
        dest.write_all(&vec![b'\n'; self.grow_by]).unwrap();
        Ok(n + self.grow_by as u64)
    }
    fn dispose(
        &mut self,
        f: &RemoteFile,
        sha256: Option<&str>,
        to: Disposition,
    ) -> Result<(), TransportError> {
        if to == Disposition::Archive && self.fail_archive.take() {
            return Err(lost("archive"));
        }
        self.inner.dispose(f, sha256, to)
    }
}

fn flaky(e: &Env) -> Flaky {
    Flaky {
        inner: DropboxSource::new(&e.drop),
        fail_fetch_after: Cell::new(None),
        fail_archive: Cell::new(false),
        grow_by: 0,
    }
}

#[test]
fn a_connection_lost_mid_download_leaves_nothing_and_the_rerun_takes_it() {
    let mut e = env(false, 0);
    let other = "2661_11272026.BIF";
    fs::write(e.drop.dir.join(NAME), bif(&[("35909-001", "a@x.com")])).unwrap();
    fs::write(e.drop.dir.join(other), bif(&[("35910-001", "b@x.com")])).unwrap();
    let mut src = flaky(&e);
    src.fail_fetch_after.set(Some(5000));
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    let stopped = s.stopped.as_ref().expect("stopped");
    assert!(stopped.is_transient(), "{stopped}");
    assert!(s.files.is_empty(), "{:?}", words(&s));
    assert!(inbox_files(&e).is_empty());
    assert!(incoming_is_empty(&e));
    assert!(e.store.taken_files().unwrap().is_empty());
    assert!(e.drop.dir.join(NAME).exists() && e.drop.dir.join(other).exists());

    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert!(s.stopped.is_none());
    assert_eq!(words(&s), vec![(NAME, "taken"), (other, "taken")]);
}

#[test]
fn a_failed_archive_move_is_finished_by_the_next_run() {
    let mut e = env(false, 0);
    fs::write(e.drop.dir.join(NAME), bif(&[("35909-001", "a@x.com")])).unwrap();
    let mut src = flaky(&e);
    src.fail_archive.set(true);
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert!(s.stopped.as_ref().is_some_and(IntakeError::is_transient));
    assert_eq!(words(&s), vec![(NAME, "taken")]);
    assert!(e.drop.dir.join(NAME).exists(), "still on the server");
    assert_eq!(inbox_files(&e), vec![NAME.to_string()]);

    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert!(s.stopped.is_none());
    assert_eq!(words(&s), vec![(NAME, "already_taken")]);
    assert!(!e.drop.dir.join(NAME).exists());
    assert!(e.drop.archive_dir.join(NAME).exists());
    assert_eq!(e.store.taken_files().unwrap().len(), 1);
}

#[test]
fn a_file_growing_during_the_download_is_left_for_the_next_run() {
    let mut e = env(false, 0);
    fs::write(e.drop.dir.join(NAME), bif(&[("35909-001", "a@x.com")])).unwrap();
    let mut src = flaky(&e);
    src.grow_by = 10;
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "still_settling")]);
    assert!(inbox_files(&e).is_empty());
    assert!(incoming_is_empty(&e));
    assert!(e.drop.dir.join(NAME).exists());
}

#[test]
fn leftovers_of_a_killed_run_are_cleared() {
    let mut e = env(false, 0);
    let incoming = e.opts.inbox.join(INCOMING_DIR);
    fs::create_dir_all(&incoming).unwrap();
    fs::write(incoming.join(NAME), "half").unwrap();
    let mut src = DropboxSource::new(&e.drop);
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert!(s.stopped.is_none());
    assert!(incoming_is_empty(&e));
}

#[test]
fn an_admission_that_cannot_run_stops_without_taking() {
    let mut e = env(false, 0);
    fs::write(e.drop.dir.join(NAME), bif(&[("35909-001", "a@x.com")])).unwrap();
    let broken = |_: &str, p: &Path| -> Result<Verdict, crate::Error> {
        Err(crate::Error::Read {
            path: p.to_path_buf(),
            source: io::Error::other("disk on fire"),
        })
    };
    let mut src = DropboxSource::new(&e.drop);
    let s = run(&mut src, &mut e.store, &broken, &e.opts);
    let stopped = s.stopped.expect("stopped");
    assert!(!stopped.is_transient());
    assert!(stopped.to_string().contains(NAME), "{stopped}");
    assert!(inbox_files(&e).is_empty());
    assert!(e.drop.dir.join(NAME).exists());
}

/// A source whose files are listed with a size (or none) that need not be
/// what it hands out: `extra` bytes more, or without end; `stats` answers
/// the second looks in turn (else the drop box's).
struct Shifty {
    inner: DropboxSource,
    listed_size: Option<Option<u64>>,
    endless: bool,
    handed_out: u64,
    fetches: Vec<String>,
    stats: Vec<RemoteFile>,
}

fn shifty(e: &Env) -> Shifty {
    Shifty {
        inner: DropboxSource::new(&e.drop),
        listed_size: None,
        endless: false,
        handed_out: 0,
        fetches: Vec::new(),
        stats: Vec::new(),
    }
}

impl Source for Shifty {
    fn describe(&self) -> String {
        "shifty".into()
    }
    fn list(&mut self) -> Result<Vec<RemoteFile>, TransportError> {
        let mut l = self.inner.list()?;
        if let Some(size) = self.listed_size {
            for f in &mut l {
                f.size = size;
            }
        }
        Ok(l)
    }
    fn stat(&mut self, f: &RemoteFile) -> Result<RemoteFile, TransportError> {
        if self.stats.is_empty() {
            self.inner.stat(f)
        } else {
            Ok(self.stats.remove(0))
        }
    }
    fn fetch(&mut self, f: &RemoteFile, dest: &mut dyn Write) -> Result<u64, TransportError> {
        self.fetches.push(f.name.clone());
        if !self.endless {
            return self.inner.fetch(f, dest);
        }
        // A file that never ends: only the writer can stop it.
        let chunk = [b'x'; 1024];
        loop {
            dest.write_all(&chunk)
                .map_err(|source| TransportError::Local {
                    op: "write the download of",
                    path: f.name.clone().into(),
                    source,
                })?;
            self.handed_out += chunk.len() as u64;
        }
    }
    fn dispose(
        &mut self,
        f: &RemoteFile,
        sha256: Option<&str>,
        to: Disposition,
    ) -> Result<(), TransportError> {
        self.inner.dispose(f, sha256, to)
    }
}

fn issue(s: &IntakeSummary, i: usize) -> Option<&'static str> {
    match &s.files[i].outcome {
        Outcome::TooLarge { issue, .. } => Some(issue),
        _ => None,
    }
}

#[test]
fn a_file_at_the_limit_is_taken_one_byte_over_is_set_aside_unread() {
    let mut e = env(false, 0);
    let body = bif(&[("35909-001", "a@x.com")]);
    let over = "2661_11252026.BIF";
    fs::write(e.drop.dir.join(over), format!("{body}\n")).unwrap();
    fs::write(e.drop.dir.join(NAME), &body).unwrap();
    e.opts.max_file_bytes = body.len() as u64;
    let mut src = shifty(&e);
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert!(s.stopped.is_none(), "{:?}", s.stopped);
    assert_eq!(words(&s), vec![(over, "quarantined"), (NAME, "taken")]);
    assert_eq!(issue(&s, 0), Some("file_too_large"));
    assert_eq!(
        src.fetches,
        vec![NAME.to_string()],
        "the big one never read"
    );
    assert!(e.drop.failed_dir.join(over).exists());
    assert!(!e.opts.quarantine.join(over).exists());
    assert!(
        e.opts
            .quarantine
            .join(format!("{over}.errors.txt"))
            .exists()
    );
    assert_eq!(
        e.store.taken_files().unwrap().len(),
        1,
        "only the taken one"
    );
    assert!(incoming_is_empty(&e));

    // The same name set aside again: the first copy in the failed folder is
    // not unlinked (its bytes were never read), the second takes a free name.
    fs::write(e.drop.dir.join(over), format!("{body}\n\n")).unwrap();
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(over, "quarantined")]);
    let mut failed: Vec<String> = fs::read_dir(&e.drop.failed_dir)
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    failed.sort();
    assert_eq!(failed, vec![over.to_string(), format!("{over}.unread.1")]);
}

#[test]
fn a_download_that_never_ends_is_stopped_at_the_limit() {
    let mut e = env(false, 0);
    fs::write(e.drop.dir.join(NAME), "small").unwrap();
    e.opts.max_file_bytes = 100_000;
    let mut src = shifty(&e);
    src.endless = true;
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert!(s.stopped.is_none(), "{:?}", s.stopped);
    assert_eq!(words(&s), vec![(NAME, "quarantined")]);
    assert_eq!(issue(&s, 0), Some("file_too_large"));
    assert!(
        src.handed_out <= 100_000,
        "read past the limit: {}",
        src.handed_out
    );
    match &s.files[0].outcome {
        Outcome::TooLarge { reason, .. } => {
            assert!(
                reason.contains("grew past max_file_bytes 100000"),
                "{reason}"
            )
        }
        o => panic!("{o:?}"),
    }
    assert!(incoming_is_empty(&e));
    assert!(inbox_files(&e).is_empty());
    assert!(e.drop.failed_dir.join(NAME).exists());
}

#[test]
fn keep_originals_leaves_a_file_over_the_limit_where_it_is() {
    let mut e = env(true, 0);
    fs::write(e.drop.dir.join(NAME), bif(&[("35909-001", "a@x.com")])).unwrap();
    e.opts.max_file_bytes = 10;
    let mut src = DropboxSource::new(&e.drop);
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "quarantined")]);
    assert!(e.drop.dir.join(NAME).exists());
    assert!(!e.drop.failed_dir.exists(), "not copied");
    let txt = fs::read_to_string(e.opts.quarantine.join(format!("{NAME}.errors.txt"))).unwrap();
    assert!(txt.contains("left where it is (keep_originals)"), "{txt}");
}

#[test]
fn a_file_listed_without_a_size_is_looked_up_again() {
    let body = bif(&[("35909-001", "a@x.com")]);
    let len = body.len() as u64;
    let at = |size: Option<u64>, mtime: Option<i64>| RemoteFile {
        name: NAME.into(),
        size,
        mtime,
    };

    // The second look gives the size: over the limit, never downloaded.
    let mut e = env(false, 0);
    fs::write(e.drop.dir.join(NAME), &body).unwrap();
    e.opts.max_file_bytes = len - 1;
    let mut src = shifty(&e);
    src.listed_size = Some(None);
    src.stats = vec![at(Some(len), None)];
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "quarantined")]);
    assert_eq!(s.files[0].size, Some(len));
    assert!(src.fetches.is_empty());

    // No size either time: downloaded with the limit enforced ...
    let mut e = env(false, 0);
    fs::write(e.drop.dir.join(NAME), &body).unwrap();
    e.opts.max_file_bytes = len - 1;
    let mut src = shifty(&e);
    src.listed_size = Some(None);
    src.stats = vec![at(None, None)];
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "quarantined")]);
    assert_eq!(src.fetches.len(), 1);
    assert_eq!(s.files[0].size, None);
    match &s.files[0].outcome {
        Outcome::TooLarge { reason, .. } => {
            assert!(reason.contains("listed without a size"), "{reason}")
        }
        o => panic!("{o:?}"),
    }

    // ... and within it, taken at the size downloaded: never "settling"
    // for ever.
    let mut e = env(false, 0);
    fs::write(e.drop.dir.join(NAME), &body).unwrap();
    let mut src = shifty(&e);
    src.listed_size = Some(None);
    src.stats = vec![at(None, None), at(None, None)];
    let s = run(&mut src, &mut e.store, &accept, &e.opts);
    assert_eq!(words(&s), vec![(NAME, "taken")]);
    assert_eq!(s.files[0].size, Some(len));
    assert_eq!(e.store.taken_files().unwrap()[0].size, len);

    // A second look after the download that shows another size, or
    // another mtime, means it is still being written: the next run.
    for after in [at(Some(len + 5), None), at(None, Some(1_700_000_000))] {
        let mut e = env(false, 0);
        fs::write(e.drop.dir.join(NAME), &body).unwrap();
        let mut src = shifty(&e);
        src.listed_size = Some(None);
        src.stats = vec![at(None, Some(1_600_000_000)), after];
        let s = run(&mut src, &mut e.store, &accept, &e.opts);
        assert_eq!(words(&s), vec![(NAME, "still_settling")]);
        assert!(e.drop.dir.join(NAME).exists());
        assert!(e.store.taken_files().unwrap().is_empty());
    }
}

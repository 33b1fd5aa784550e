//! `pull` against a real OpenSSH server on loopback, started by the tests
//! (tests/support/sshd.rs). No test is skipped when sshd is missing: it
//! fails and says how to install it.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::sshd::{Sshd, keygen, public_key};
use support::{age, bif, names, pull, toml_path};

const NAME: &str = "2661_11262026.BIF";

/// A server, its folders and a configuration pointing at them.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    sshd: Sshd,
    remote: PathBuf,
    archive: PathBuf,
    failed: PathBuf,
    inbox: PathBuf,
    quarantine: PathBuf,
    state: PathBuf,
}

impl World {
    fn new() -> World {
        World::with(Sshd::start)
    }

    /// With the server's SFTP subsystem logging what it reads.
    fn logging_sftp() -> World {
        World::with(Sshd::start_logging_sftp)
    }

    fn with(start: fn(&Path) -> Sshd) -> World {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        let sshd = start(&root.join("sshd"));
        let remote = root.join("server/outbound");
        fs::create_dir_all(&remote).unwrap();
        World {
            archive: root.join("server/outbound/archive"),
            failed: root.join("server/outbound/failed"),
            inbox: root.join("local/inbox"),
            quarantine: root.join("local/quarantine"),
            state: root.join("local/state.sqlite"),
            remote,
            sshd,
            root,
            _tmp: tmp,
        }
    }

    /// Writes a configuration; `edit` may change the [sftp] lines.
    fn config(&self, settle: u64, edit: impl Fn(String) -> String) -> PathBuf {
        let sftp = format!(
            "[sftp]\n\
             host = \"127.0.0.1\"\n\
             port = {port}\n\
             user = \"{user}\"\n\
             key_file = \"{key}\"\n\
             known_hosts = \"{kh}\"\n\
             remote_dir = \"{remote}\"\n\
             archive_dir = \"{archive}\"\n\
             failed_dir = \"{failed}\"\n\
             settle_seconds = {settle}\n\
             timeout_seconds = 10\n",
            port = self.sshd.port,
            user = self.sshd.user,
            key = toml_path(&self.sshd.client_key),
            kh = toml_path(&self.sshd.known_hosts),
            remote = toml_path(&self.remote),
            archive = toml_path(&self.archive),
            failed = toml_path(&self.failed),
        );
        let text = format!(
            "[biller]\nbid = 2661\nname = \"Lowell Light & Power\"\nguid = \"{}\"\n\n{}\n\
             [paths]\ninbox = \"{}\"\nquarantine = \"{}\"\n",
            support::GUID,
            edit(sftp),
            toml_path(&self.inbox),
            toml_path(&self.quarantine),
        );
        let p = self.root.join("daffron-bridge.toml");
        fs::write(&p, text).unwrap();
        p
    }

    fn put(&self, name: &str, body: &[u8]) -> PathBuf {
        let p = self.remote.join(name);
        fs::write(&p, body).unwrap();
        age(&p, 3600);
        p
    }

    /// The BIF files in the inbox, and whether a partial download is left.
    fn inbox_bifs(&self) -> Vec<String> {
        names(&self.inbox)
            .into_iter()
            .filter(|n| n != ".incoming")
            .collect()
    }

    fn partials(&self) -> Vec<String> {
        names(&self.inbox.join(".incoming"))
    }
}

fn out(a: &assert_cmd::assert::Assert) -> (String, String) {
    let o = a.get_output();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn happy_path_then_rerun_takes_nothing_new() {
    let w = World::new();
    let body = bif::valid(3);
    w.put(NAME, body.as_bytes());
    w.put("2661_11262026.bif.tmp", b"partial upload of another tool");
    w.put("3337_11262026.BIF", b"another biller");
    let cfg = w.config(30, |s| s);

    let a = pull(&cfg, &w.state).assert().code(0);
    let (stdout, stderr) = out(&a);
    assert!(
        stdout.contains("taken") && stdout.contains(NAME),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("3 new"), "{stdout}");
    assert_eq!(fs::read_to_string(w.inbox.join(NAME)).unwrap(), body);
    assert_eq!(fs::read_to_string(w.archive.join(NAME)).unwrap(), body);
    assert!(!w.remote.join(NAME).exists(), "moved off the server");
    assert!(w.remote.join("3337_11262026.BIF").exists());
    assert!(w.remote.join("2661_11262026.bif.tmp").exists());
    assert!(w.partials().is_empty());

    // The state file holds the file and the account directory.
    let store = daffron_bridge::store::Store::open(&w.state).unwrap();
    let rows = store.taken_files().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].size, body.len() as u64);
    assert!(rows[0].source.starts_with("sftp://"), "{}", rows[0].source);
    assert_eq!(
        store.location_for("35901-001").unwrap().as_deref(),
        Some("3210400001")
    );
    drop(store);

    // Rerun: nothing new; JSON says so.
    let a = pull(&cfg, &w.state)
        .arg("--format")
        .arg("json")
        .assert()
        .code(0);
    let (stdout, _) = out(&a);
    let j: serde_json::Value = serde_json::from_str(&stdout).expect(&stdout);
    assert_eq!(j["files"].as_array().map(Vec::len), Some(0), "{j}");
    assert_eq!(j["counts"]["taken"], 0);
    assert!(j["stopped"].is_null());
    assert_eq!(w.inbox_bifs(), vec![NAME.to_string()]);

    // Dropped again with the same bytes: already taken, moved to the archive
    // beside the first copy (SFTP v3 cannot rename over it), not re-processed.
    w.put(NAME, body.as_bytes());
    let a = pull(&cfg, &w.state)
        .arg("--format")
        .arg("json")
        .assert()
        .code(0);
    let j: serde_json::Value = serde_json::from_str(&out(&a).0).unwrap();
    assert_eq!(j["files"][0]["outcome"], "already_taken", "{j}");
    assert!(!w.remote.join(NAME).exists());
    assert_eq!(names(&w.archive).len(), 2, "{:?}", names(&w.archive));
}

#[test]
fn a_file_still_being_written_is_left_for_the_next_run() {
    let w = World::new();
    let p = w.put(NAME, bif::valid(1).as_bytes());
    age(&p, 5); // changed 5 s ago, settle_seconds = 30
    let cfg = w.config(30, |s| s);
    let a = pull(&cfg, &w.state).assert().code(0);
    let (stdout, _) = out(&a);
    assert!(stdout.contains("still settling"), "{stdout}");
    assert!(p.exists());
    assert!(w.inbox_bifs().is_empty());

    age(&p, 60);
    let a = pull(&cfg, &w.state).assert().code(0);
    assert!(out(&a).0.contains("taken"));
    assert!(w.inbox.join(NAME).exists());
}

#[test]
fn unknown_or_changed_host_key_is_refused() {
    let w = World::new();
    w.put(NAME, bif::valid(1).as_bytes());

    // Unknown: known_hosts lists nothing for this server.
    let empty = w.root.join("empty_known_hosts");
    fs::write(&empty, "").unwrap();
    let cfg = w.config(0, |s| {
        s.replace(&toml_path(&w.sshd.known_hosts), &toml_path(&empty))
    });
    let a = pull(&cfg, &w.state).assert().code(2);
    let (_, stderr) = out(&a);
    assert!(stderr.contains("is not in known_hosts"), "{stderr}");
    assert!(stderr.contains("SHA256:"), "{stderr}");

    // Changed: known_hosts lists another key for [127.0.0.1]:PORT.
    let other = w.root.join("other_host_key");
    keygen(&other, "not the server");
    let changed = w.root.join("changed_known_hosts");
    fs::write(
        &changed,
        format!("[127.0.0.1]:{} {}\n", w.sshd.port, public_key(&other)),
    )
    .unwrap();
    let cfg = w.config(0, |s| {
        s.replace(&toml_path(&w.sshd.known_hosts), &toml_path(&changed))
    });
    let a = pull(&cfg, &w.state).assert().code(2);
    let (_, stderr) = out(&a);
    assert!(stderr.contains("is NOT the one listed"), "{stderr}");

    // Missing file: no trust on first use either.
    let cfg = w.config(0, |s| {
        s.replace(
            &toml_path(&w.sshd.known_hosts),
            &toml_path(&w.root.join("nope")),
        )
    });
    let a = pull(&cfg, &w.state).assert().code(2);
    assert!(out(&a).1.contains("does not exist"));

    assert!(w.remote.join(NAME).exists());
    assert!(w.inbox_bifs().is_empty());
}

#[test]
fn wrong_client_key_is_refused() {
    let w = World::new();
    w.put(NAME, bif::valid(1).as_bytes());
    let stranger = w.root.join("stranger_ed25519");
    keygen(&stranger, "not authorized");
    let cfg = w.config(0, |s| {
        s.replace(&toml_path(&w.sshd.client_key), &toml_path(&stranger))
    });
    let a = pull(&cfg, &w.state).assert().code(2);
    let (_, stderr) = out(&a);
    assert!(stderr.contains("refused user"), "{stderr}");
    assert!(stderr.contains("stranger_ed25519"), "{stderr}");
    assert!(w.remote.join(NAME).exists());
}

#[test]
fn connection_dropped_mid_download_leaves_nothing_and_a_rerun_completes() {
    let w = World::new();
    // ~65 MB, still a valid BIF: CR rows padded with spaces (trimmed). Big
    // enough that the download is still running when the sessions die; the
    // debug build hashes and validates at ~5 MB/s, so 200 MB would cost
    // most of a minute for no more coverage.
    let body = bif::padded(130, 500_000);
    w.put(NAME, body.as_bytes());
    let cfg = w.config(0, |s| s);

    let bin = assert_cmd::cargo::cargo_bin("daffron-bridge");
    let mut child = std::process::Command::new(&bin)
        .arg("--config")
        .arg(&cfg)
        .arg("--state")
        .arg(&w.state)
        .arg("pull")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the download has started and grown, then drop the
    // connection by killing the server's per-connection processes.
    let partial = w.inbox.join(".incoming").join(NAME);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut grown = 0;
    while Instant::now() < deadline {
        grown = fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        if grown > 4 << 20 {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("pull ended before the kill: {status}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(grown > 4 << 20, "the download never started");
    assert!(
        grown < body.len() as u64,
        "the download had already finished: the kill would not test a dropped download"
    );
    w.sshd.kill_sessions();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("lost"), "{stderr}");
    assert!(w.inbox_bifs().is_empty(), "{:?}", w.inbox_bifs());
    assert!(w.partials().is_empty(), "{:?}", w.partials());
    assert!(w.remote.join(NAME).exists(), "still on the server");
    let store = daffron_bridge::store::Store::open(&w.state).unwrap();
    assert!(store.taken_files().unwrap().is_empty());
    drop(store);

    // The rerun completes.
    let a = pull(&cfg, &w.state)
        .timeout(Duration::from_secs(300))
        .assert()
        .code(0);
    assert!(out(&a).0.contains("taken"));
    assert_eq!(
        fs::metadata(w.inbox.join(NAME)).unwrap().len(),
        body.len() as u64
    );
    assert!(w.archive.join(NAME).exists());
}

#[test]
fn a_quarantined_file_lands_in_both_places_with_its_report() {
    let w = World::new();
    let body = bif::bad_date();
    w.put(NAME, body.as_bytes());
    let cfg = w.config(0, |s| s);
    let a = pull(&cfg, &w.state)
        .arg("--format")
        .arg("json")
        .assert()
        .code(1);
    let j: serde_json::Value = serde_json::from_str(&out(&a).0).unwrap();
    assert_eq!(j["files"][0]["outcome"], "quarantined", "{j}");
    assert_eq!(j["counts"]["quarantined"], 1);

    assert_eq!(fs::read_to_string(w.failed.join(NAME)).unwrap(), body);
    assert!(!w.remote.join(NAME).exists());
    assert_eq!(fs::read_to_string(w.quarantine.join(NAME)).unwrap(), body);
    let txt = fs::read_to_string(w.quarantine.join(format!("{NAME}.errors.txt"))).unwrap();
    assert!(txt.contains(&format!("{NAME}:2:")), "{txt}");
    assert!(txt.contains("bad_date"), "{txt}");
    let json = fs::read_to_string(w.quarantine.join(format!("{NAME}.errors.json"))).unwrap();
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["files"][0]["path"], NAME);
    assert_eq!(report["files"][0]["errors"][0]["code"], "bad_date");
    assert!(w.inbox_bifs().is_empty());
    let store = daffron_bridge::store::Store::open(&w.state).unwrap();
    let rows = store.taken_files().unwrap();
    assert_eq!(
        rows[0].verdict,
        daffron_bridge::store::FileVerdict::Rejected
    );
}

#[test]
fn server_unreachable_exits_3_and_loses_nothing() {
    let w = World::new();
    let body = bif::valid(1);
    w.put(NAME, body.as_bytes());
    let closed = support::closed_port();
    let cfg = w.config(0, |s| {
        s.replace(
            &format!("port = {}", w.sshd.port),
            &format!("port = {closed}"),
        )
    });
    let a = pull(&cfg, &w.state)
        .arg("--format")
        .arg("json")
        .assert()
        .code(3);
    let (stdout, stderr) = out(&a);
    assert!(stderr.contains("cannot reach"), "{stderr}");
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["stopped"]["transient"], true, "{j}");
    assert!(w.remote.join(NAME).exists());
    assert!(w.inbox_bifs().is_empty());

    // Back up: the file is taken.
    let cfg = w.config(0, |s| s);
    pull(&cfg, &w.state).assert().code(0);
    assert_eq!(fs::read_to_string(w.inbox.join(NAME)).unwrap(), body);
}

#[test]
fn an_overlapping_pull_takes_nothing() {
    let w = World::new();
    w.put(NAME, bif::valid(1).as_bytes());
    let cfg = w.config(0, |s| s);
    let held = daffron_bridge::store::StateLock::pull(&w.state).unwrap();
    let a = pull(&cfg, &w.state).assert().code(3);
    assert!(out(&a).1.contains("another `pull`"));
    assert!(w.remote.join(NAME).exists());
    drop(held);
    pull(&cfg, &w.state).assert().code(0);
    assert!(w.inbox.join(NAME).exists());
}

#[test]
fn the_script_starts_and_stops_a_server_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sshd.sh");
    let o = std::process::Command::new("bash")
        .arg(&script)
        .arg("start")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let port: u16 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let kh = fs::read_to_string(dir.join("known_hosts")).unwrap();
    assert!(
        kh.starts_with(&format!("[127.0.0.1]:{port} ssh-ed25519 ")),
        "{kh}"
    );
    let o = std::process::Command::new("bash")
        .arg(&script)
        .arg("stop")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still listening after stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn folders_made_on_the_server_and_files_kept_here_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    w.put(NAME, bif::valid(3).as_bytes());
    w.put("2661_11252026.BIF", bif::bad_date().as_bytes());
    let cfg = w.config(30, |s| s);
    // The server's own umask lets group and others read; ours must not.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$0\" --config \"$1\" --state \"$2\" pull")
        .arg(assert_cmd::cargo::cargo_bin("daffron-bridge"))
        .arg(&cfg)
        .arg(&w.state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // Made by the bridge over SFTP.
    assert_eq!(mode(&w.archive), 0o700, "archive_dir");
    assert_eq!(mode(&w.failed), 0o700, "failed_dir");
    // Made by the bridge here.
    for (p, want) in [
        (w.inbox.clone(), 0o700),
        (w.quarantine.clone(), 0o700),
        (w.inbox.join(NAME), 0o600),
        (w.quarantine.join("2661_11252026.BIF"), 0o600),
        (w.quarantine.join("2661_11252026.BIF.errors.json"), 0o600),
        (w.state.clone(), 0o600),
    ] {
        assert_eq!(mode(&p), want, "{}", p.display());
    }
}

/// The bytes the SFTP server says it handed out of `path`, from its log
/// (`close "PATH" bytes read N written M`), for every time it was opened.
fn bytes_read(log: &str, path: &Path) -> Vec<u64> {
    let needle = format!("close \"{}\" bytes read ", path.display());
    log.lines()
        .filter_map(|l| l.split_once(&needle))
        .filter_map(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The server lists a file over `max_file_bytes`: it is never opened, its
/// reports are written, it goes to the failed folder, and the file after it
/// is taken in the same pull.
#[test]
fn a_file_listed_over_max_file_bytes_is_never_opened_and_the_next_is_taken() {
    let w = World::logging_sftp();
    let big = "2661_11252026.BIF";
    let big_body = bif::valid(40);
    let small_body = bif::valid(1);
    w.put(big, big_body.as_bytes());
    w.put(NAME, small_body.as_bytes());
    let cfg = w.config(30, |s| format!("{s}max_file_bytes = 2000\n"));

    let a = pull(&cfg, &w.state)
        .arg("--format")
        .arg("json")
        .assert()
        .code(1);
    let (stdout, stderr) = out(&a);
    let j: serde_json::Value = serde_json::from_str(&stdout).expect(&stderr);
    assert_eq!(j["files"][0]["name"], big, "{j}");
    assert_eq!(j["files"][0]["outcome"], "quarantined", "{j}");
    assert_eq!(j["files"][0]["issue"], "file_too_large", "{j}");
    assert_eq!(j["files"][1]["outcome"], "taken", "{j}");
    assert!(j["stopped"].is_null(), "{j}");

    let log = w.sshd.sftp_log();
    assert!(
        !log.contains(&format!("open \"{}\"", w.remote.join(big).display())),
        "the server opened the big file:\n{log}"
    );
    assert_eq!(
        bytes_read(&log, &w.remote.join(NAME)),
        vec![small_body.len() as u64],
        "{log}"
    );
    assert_eq!(fs::read_to_string(w.failed.join(big)).unwrap(), big_body);
    assert!(!w.remote.join(big).exists());
    assert_eq!(
        names(&w.quarantine),
        vec![format!("{big}.errors.json"), format!("{big}.errors.txt")]
    );
    assert_eq!(fs::read_to_string(w.inbox.join(NAME)).unwrap(), small_body);
    assert!(w.partials().is_empty());
}

/// A file listed under `max_file_bytes` that grows past it while it is
/// downloaded is stopped at the limit, not read to the end: the server's own
/// log says how much it handed out. It is set aside like a file listed too
/// large, and the file after it is still taken.
#[test]
fn a_file_growing_past_max_file_bytes_mid_download_is_stopped() {
    let w = World::logging_sftp();
    let big = "2661_11252026.BIF";
    let limit: u64 = 24 << 20;
    // ~20 MB listed (under the limit), then 8 MB more once the download runs.
    let body = bif::padded(40, 500_000);
    assert!((body.len() as u64) < limit && body.len() > 16 << 20);
    let p = w.put(big, body.as_bytes());
    let small_body = bif::valid(1);
    w.put(NAME, small_body.as_bytes());
    let cfg = w.config(0, |s| format!("{s}max_file_bytes = {limit}\n"));

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("daffron-bridge"))
        .arg("--config")
        .arg(&cfg)
        .arg("--state")
        .arg(&w.state)
        .arg("pull")
        .arg("--format")
        .arg("json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let partial = w.inbox.join(".incoming").join(big);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut grown = 0;
    while Instant::now() < deadline {
        grown = fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        if grown > 1 << 20 {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("pull ended before the file grew: {status}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(grown > 1 << 20, "the download never started");
    assert!(
        grown < body.len() as u64,
        "the download had already finished"
    );
    {
        use std::io::Write;
        let mut f = fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&vec![b' '; 8 << 20]).unwrap();
    }
    let total = body.len() as u64 + (8 << 20);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    let j: serde_json::Value = serde_json::from_str(&stdout).expect(&stderr);
    assert_eq!(j["files"][0]["name"], big, "{j}");
    assert_eq!(j["files"][0]["outcome"], "quarantined", "{j}");
    assert_eq!(j["files"][0]["issue"], "file_too_large", "{j}");
    assert_eq!(j["files"][1]["outcome"], "taken", "{j}");

    // Stopped at the limit: the server handed out less than the whole file.
    let log = w.sshd.sftp_log();
    let read = bytes_read(&log, &p);
    assert_eq!(read.len(), 1, "{log}");
    assert!(
        read[0] > limit && read[0] < total,
        "read {read:?} of {total}:\n{log}"
    );
    // Nothing of it kept here; all of it in the failed folder.
    assert!(w.partials().is_empty(), "{:?}", w.partials());
    assert_eq!(
        fs::metadata(w.failed.join(big)).map(|m| m.len()).ok(),
        Some(total)
    );
    let txt = fs::read_to_string(w.quarantine.join(format!("{big}.errors.txt"))).unwrap();
    assert!(
        txt.contains("file_too_large") && txt.contains("grew"),
        "{txt}"
    );
    assert_eq!(fs::read_to_string(w.inbox.join(NAME)).unwrap(), small_body);
}

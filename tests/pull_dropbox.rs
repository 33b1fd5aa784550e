//! `pull` from a local drop box (`[dropbox]`): the same guarantees as SFTP.

mod support;

use std::fs;
use std::path::PathBuf;

use support::{age, bif, names, pull};

const NAME: &str = "2661_11262026.BIF";

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
    state: PathBuf,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let dir = root.join("outbound");
        fs::create_dir_all(&dir).unwrap();
        World {
            state: root.join("state.sqlite"),
            dir,
            root,
            _tmp: tmp,
        }
    }

    /// A configuration with relative paths (resolved against its folder).
    fn config(&self, dropbox_extra: &str) -> PathBuf {
        let p = self.root.join("biller.toml");
        fs::write(
            &p,
            format!(
                "[biller]\nbid = 2661\nname = \"Lowell Light & Power\"\nguid = \"{}\"\n\n\
                 [dropbox]\ndir = \"outbound\"\n{dropbox_extra}\n\n\
                 [paths]\ninbox = \"inbox\"\nquarantine = \"quarantine\"\n",
                support::GUID
            ),
        )
        .unwrap();
        p
    }
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

#[test]
fn takes_archives_and_never_takes_twice() {
    let w = World::new();
    let body = bif::valid(2);
    fs::write(w.dir.join(NAME), &body).unwrap();
    fs::write(w.dir.join("readme.txt"), "not a BIF").unwrap();
    let cfg = w.config("");

    let a = pull(&cfg, &w.state).assert().code(0);
    let s = stdout(&a);
    assert!(s.contains("pull from dropbox:"), "{s}");
    assert!(s.contains("1 taken"), "{s}");
    assert_eq!(
        fs::read_to_string(w.root.join("inbox").join(NAME)).unwrap(),
        body
    );
    // Default archive folder: outbound/archive.
    assert!(w.dir.join("archive").join(NAME).exists());
    assert!(!w.dir.join(NAME).exists());
    assert!(w.dir.join("readme.txt").exists());

    let a = pull(&cfg, &w.state).assert().code(0);
    assert!(stdout(&a).contains("nothing new"));
}

#[test]
fn keep_originals_reads_in_place_and_takes_once() {
    let w = World::new();
    fs::write(w.dir.join(NAME), bif::valid(1)).unwrap();
    let cfg = w.config("keep_originals = true\narchive_dir = \"demo/archive\"");
    pull(&cfg, &w.state).assert().code(0);
    assert!(w.dir.join(NAME).exists(), "the original stays");
    assert!(w.root.join("demo/archive").join(NAME).exists());

    let a = pull(&cfg, &w.state)
        .arg("--format")
        .arg("json")
        .assert()
        .code(0);
    let j: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(j["files"][0]["outcome"], "already_taken", "{j}");
    assert_eq!(j["files"][0]["verdict"], "accepted", "{j}");
    assert_eq!(j["counts"]["taken"], 0);
    assert_eq!(names(&w.root.join("demo/archive")), vec![NAME.to_string()]);
}

#[test]
fn invalid_file_is_quarantined_with_reports_and_exit_1() {
    let w = World::new();
    fs::write(w.dir.join(NAME), bif::bad_date()).unwrap();
    let cfg = w.config("");
    let a = pull(&cfg, &w.state).assert().code(1);
    assert!(stdout(&a).contains("quarantined"));
    let q = w.root.join("quarantine");
    assert_eq!(
        names(&q),
        vec![
            NAME.to_string(),
            format!("{NAME}.errors.json"),
            format!("{NAME}.errors.txt")
        ]
    );
    assert!(w.dir.join("failed").join(NAME).exists());
    assert!(
        names(&w.root.join("inbox"))
            .iter()
            .all(|n| n == ".incoming")
    );
}

#[test]
fn settle_seconds_applies_to_the_drop_box() {
    let w = World::new();
    let p = w.dir.join(NAME);
    fs::write(&p, bif::valid(1)).unwrap();
    let cfg = w.config("settle_seconds = 600");
    let a = pull(&cfg, &w.state).assert().code(0);
    assert!(stdout(&a).contains("still settling"));
    assert!(p.exists());
    age(&p, 3600);
    let a = pull(&cfg, &w.state).assert().code(0);
    assert!(stdout(&a).contains("1 taken"));
}

#[test]
fn no_source_configured_is_a_configuration_error() {
    let w = World::new();
    let p = w.root.join("none.toml");
    fs::write(
        &p,
        format!(
            "[biller]\nbid = 2661\nname = \"x\"\nguid = \"{}\"\n",
            support::GUID
        ),
    )
    .unwrap();
    let a = pull(&p, &w.state).assert().code(2);
    let e = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(e.contains("[sftp]"), "{e}");
}

/// One file over `max_file_bytes` does not stop the night: it is set aside
/// with its reports (not copied here: the limit is there to keep such a file
/// off this disk), moved to the failed folder, and the file after it is
/// taken in the same pull.
#[test]
fn a_file_over_max_file_bytes_is_set_aside_and_the_next_is_taken() {
    let w = World::new();
    let big = "2661_11252026.BIF"; // listed first
    let big_body = bif::valid(40);
    let small_body = bif::valid(1);
    assert!(small_body.len() < 2000 && big_body.len() > 2000);
    fs::write(w.dir.join(big), &big_body).unwrap();
    fs::write(w.dir.join(NAME), &small_body).unwrap();
    let cfg = w.config("max_file_bytes = 2000");

    let a = pull(&cfg, &w.state)
        .arg("--format")
        .arg("json")
        .assert()
        .code(1);
    let j: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(j["files"][0]["name"], big, "{j}");
    assert_eq!(j["files"][0]["outcome"], "quarantined", "{j}");
    assert_eq!(j["files"][0]["issue"], "file_too_large", "{j}");
    assert_eq!(j["files"][0]["size"], big_body.len(), "{j}");
    assert_eq!(j["files"][0]["max_file_bytes"], 2000, "{j}");
    assert!(j["files"][0]["sha256"].is_null(), "never read: {j}");
    assert_eq!(j["files"][1]["name"], NAME, "{j}");
    assert_eq!(j["files"][1]["outcome"], "taken", "{j}");
    assert_eq!(j["counts"]["quarantined"], 1, "{j}");
    assert_eq!(j["counts"]["taken"], 1, "{j}");
    assert!(j["stopped"].is_null(), "{j}");

    // The reports, like any quarantined file's; the bytes are not copied.
    let q = w.root.join("quarantine");
    assert_eq!(
        names(&q),
        vec![format!("{big}.errors.json"), format!("{big}.errors.txt")]
    );
    let txt = fs::read_to_string(q.join(format!("{big}.errors.txt"))).unwrap();
    assert!(txt.contains("file_too_large"), "{txt}");
    assert!(txt.contains(&big_body.len().to_string()), "{txt}");
    assert!(txt.contains("max_file_bytes 2000"), "{txt}");
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(q.join(format!("{big}.errors.json"))).unwrap())
            .unwrap();
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["files"][0]["path"], big, "{report}");
    assert_eq!(
        report["files"][0]["errors"][0]["code"], "file_too_large",
        "{report}"
    );
    // The whole file is in the failed folder, where a person looks; the
    // next file is in the inbox.
    assert_eq!(
        fs::read_to_string(w.dir.join("failed").join(big)).unwrap(),
        big_body
    );
    assert!(!w.dir.join(big).exists());
    assert_eq!(
        fs::read_to_string(w.root.join("inbox").join(NAME)).unwrap(),
        small_body
    );
    assert!(w.dir.join("archive").join(NAME).exists());

    // The text form says why, in a line.
    fs::write(w.dir.join("2661_11242026.BIF"), &big_body).unwrap();
    let a = pull(&cfg, &w.state).assert().code(1);
    let s = stdout(&a);
    assert!(
        s.contains("over max_file_bytes 2000") && s.contains("not downloaded"),
        "{s}"
    );
    // Rerun: nothing new.
    let a = pull(&cfg, &w.state).assert().code(0);
    assert!(stdout(&a).contains("nothing new"));
}

#[test]
fn max_file_bytes_of_0_is_a_configuration_error() {
    let w = World::new();
    fs::write(w.dir.join(NAME), bif::valid(1)).unwrap();
    let a = pull(&w.config("max_file_bytes = 0"), &w.state)
        .assert()
        .code(2);
    let e = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(e.contains("max_file_bytes"), "{e}");
    assert!(w.dir.join(NAME).exists());
}

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

//! `transform FILE -o OUT` end to end.

use assert_cmd::Command;
use daffron_bridge::bif::{Layout, read_invoices};
use predicates::prelude::*;

const CONFIG: &str = "samples/daffron-bridge.toml";
const GOOD: &str = "samples/outbound/2661_11262026.BIF";
const BROKEN: &str = "samples/broken/2661_11252026.BIF";
const REMOTE_LINK: &str = "BA1CEC36-997C-48E3-8406-437640EDFF84";

fn bin() -> Command {
    let mut c = Command::cargo_bin("daffron-bridge").unwrap();
    c.arg("--config").arg(CONFIG);
    c
}

#[test]
fn writes_the_upload_form_byte_identically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("2661_11262026.BIF");
    bin()
        .args(["transform", GOOD, "-o"])
        .arg(&out)
        .assert()
        .code(0)
        .stderr(predicate::str::contains("wrote"));
    let first = std::fs::read(&out).unwrap();
    assert!(!first.contains(&b'\r'), "LF endings only");
    let text = String::from_utf8(first.clone()).unwrap();
    let ih: Vec<&str> = text.lines().filter(|l| l.starts_with("IH|")).collect();
    assert_eq!(ih.len(), 300);
    for l in &ih {
        assert_eq!(l.split('|').nth(2), Some(REMOTE_LINK), "{l}");
    }
    assert!(
        !text.lines().any(|l| l.split('|').any(|f| f != f.trim())),
        "trimmed"
    );

    // Same input, same bytes.
    bin()
        .args(["transform", GOOD, "-o"])
        .arg(&out)
        .assert()
        .code(0);
    assert_eq!(std::fs::read(&out).unwrap(), first);

    // The output is itself valid and holds the same invoices.
    bin().arg("validate").arg(&out).assert().code(0);
    let l = Layout::embedded();
    let a = read_invoices(&std::fs::read(GOOD).unwrap(), &l).unwrap();
    let b = read_invoices(&first, &l).unwrap();
    assert_eq!(a, b);
}

#[test]
fn refuses_an_invalid_file_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.BIF");
    bin()
        .args(["transform", BROKEN, "-o"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad_date"))
        .stderr(predicate::str::contains("was not written"));
    assert!(!out.exists());
    // An existing OUT is left as it was.
    std::fs::write(&out, b"keep me").unwrap();
    bin()
        .args(["transform", BROKEN, "-o"])
        .arg(&out)
        .assert()
        .code(1);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp files"
    );
}

#[test]
fn json_mode_and_unwritable_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.BIF");
    let o = bin()
        .args(["transform", "--format", "json", GOOD, "-o"])
        .arg(&out)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let j: serde_json::Value = serde_json::from_slice(&o).unwrap();
    assert_eq!(j["written"], true);
    assert_eq!(j["file"]["valid"], true);
    // A folder not made yet is made (`-o out/X.BIF` in a fresh checkout).
    let nested = dir.path().join("missing-dir/below").join("o.BIF");
    bin()
        .args(["transform", GOOD, "-o"])
        .arg(&nested)
        .assert()
        .code(0);
    assert_eq!(
        std::fs::read(&nested).unwrap(),
        std::fs::read(&out).unwrap()
    );
    // A folder that cannot be made (a file is in the way) is an error.
    bin()
        .args(["transform", GOOD, "-o"])
        .arg(out.join("o.BIF"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot write"));
    bin()
        .args(["transform", "no/such/file.BIF", "-o"])
        .arg(&out)
        .assert()
        .code(2);
}

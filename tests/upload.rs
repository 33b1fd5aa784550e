//! `upload` against the real sandbox binary over loopback HTTP: the
//! transformed file reaches InvoiceCloud's UploadInvoiceFile once, an invalid
//! file never does, and failures are retried, recorded and reported.

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use sha2::{Digest, Sha256};
use support::json;
use support::sandbox::{IC_KEY, SandboxProc};

/// A configuration whose `[invoicecloud]` points at `url`, key from
/// `TEST_IC_KEY`.
fn config(dir: &Path, url: &str) -> PathBuf {
    config_with(dir, url, "")
}

/// The same with more `[invoicecloud]` lines.
fn config_with(dir: &Path, url: &str, ic: &str) -> PathBuf {
    support::write_config(
        dir,
        &format!(
            r#"[invoicecloud]
upload_url = "{url}/portal/webservices/CloudInvoicing.asmx"
web_service_key = {{ env = "TEST_IC_KEY" }}
{ic}

[pump]
timeout_seconds = 5
"#
        ),
    )
}

fn upload(dir: &Path, config: &Path, key: &str) -> Command {
    let mut c = Command::cargo_bin("daffron-bridge").unwrap();
    c.arg("--config")
        .arg(config)
        .arg("--state")
        .arg(dir.join("state.sqlite"))
        .arg("upload")
        .env("TEST_IC_KEY", key);
    c
}

/// A valid file named for the biller, with padded fields and CRLF endings,
/// so the transform visibly changes it.
fn valid_file(dir: &Path) -> PathBuf {
    let p = dir.join("2661_11262026.BIF");
    std::fs::write(&p, support::bif::padded(3, 2)).unwrap();
    p
}

fn uploads(sbx: &SandboxProc) -> Vec<serde_json::Value> {
    sbx.journal()
        .into_iter()
        .filter(|e| e["operation"] == "UploadInvoiceFile")
        .collect()
}

#[test]
fn uploads_the_transformed_file_once() {
    let sbx = SandboxProc::start("");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sbx.url);
    let file = valid_file(dir.path());

    let out = upload(dir.path(), &cfg, IC_KEY)
        .arg(&file)
        .args(["--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    let r = &v["files"][0];
    assert_eq!(r["outcome"], "uploaded", "{v}");
    assert_eq!(r["attempts"], 1);

    // What arrived is exactly what `transform` writes.
    let transformed = dir.path().join("out.BIF");
    Command::cargo_bin("daffron-bridge")
        .unwrap()
        .arg("--config")
        .arg(&cfg)
        .arg("transform")
        .arg(&file)
        .arg("-o")
        .arg(&transformed)
        .assert()
        .success();
    let sha = format!("{:x}", Sha256::digest(std::fs::read(&transformed).unwrap()));
    assert_eq!(r["sha256"], sha.as_str());
    let sent = uploads(&sbx);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["file"]["name"], "2661_11262026.BIF");
    assert_eq!(sent[0]["file"]["sha256"], sha.as_str());
    assert_eq!(sent[0]["outcome"], "ok");

    // The same content again: nothing is sent.
    upload(dir.path(), &cfg, IC_KEY)
        .arg(&file)
        .assert()
        .success()
        .stdout(predicates::str::contains("already uploaded"));
    assert_eq!(uploads(&sbx).len(), 1);

    // Unless asked to.
    upload(dir.path(), &cfg, IC_KEY)
        .arg(&file)
        .arg("--again")
        .assert()
        .success()
        .stdout(predicates::str::contains(": uploaded"));
    assert_eq!(uploads(&sbx).len(), 2);
}

#[test]
fn an_invalid_file_is_never_uploaded() {
    let sbx = SandboxProc::start("");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sbx.url);
    let file = dir.path().join("2661_11262026.BIF");
    std::fs::write(&file, support::bif::bad_date()).unwrap();
    upload(dir.path(), &cfg, IC_KEY)
        .arg(&file)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("invalid"));
    assert!(uploads(&sbx).is_empty());
}

#[test]
fn a_failure_is_retried_where_the_configuration_accepts_resends() {
    // The first request gets an HTTP 500 without a SOAP Fault: it may have
    // been taken, so only `resend_unknown` sends it again (the default is
    // in tests/hardening.rs).
    let sbx = SandboxProc::start("http500=first:1");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(dir.path(), &sbx.url, "resend_unknown = true");
    let file = valid_file(dir.path());
    let out = upload(dir.path(), &cfg, IC_KEY)
        .arg(&file)
        .args(["--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["files"][0]["outcome"], "uploaded", "{v}");
    assert_eq!(v["files"][0]["attempts"], 2, "{v}");
    let j = sbx.journal();
    assert_eq!(j.len(), 2, "{j:?}");
    assert_eq!(j[0]["fault"], "http500");
    assert_eq!(j[1]["outcome"], "ok");
}

#[test]
fn a_failing_endpoint_leaves_the_file_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = valid_file(dir.path());
    {
        let sbx = SandboxProc::start("http500=always");
        let cfg = config_with(dir.path(), &sbx.url, "resend_unknown = true");
        let out = upload(dir.path(), &cfg, IC_KEY)
            .arg(&file)
            .args(["--format", "json"])
            .assert()
            .code(3)
            .get_output()
            .stdout
            .clone();
        let v = json(&out);
        assert_eq!(v["files"][0]["outcome"], "failed", "{v}");
        assert_eq!(v["files"][0]["attempts"], 3, "{v}");
    }
    // The endpoint is back: the next run sends it.
    let sbx = SandboxProc::start("");
    let cfg = config(dir.path(), &sbx.url);
    upload(dir.path(), &cfg, IC_KEY)
        .arg(&file)
        .assert()
        .success()
        .stdout(predicates::str::contains(": uploaded"));
    assert_eq!(uploads(&sbx).len(), 1);
}

#[test]
fn unreachable_endpoint_is_exit_3() {
    // Bind and drop a listener so the port is (very likely) closed.
    let port = support::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &format!("http://127.0.0.1:{port}"));
    let file = valid_file(dir.path());
    upload(dir.path(), &cfg, IC_KEY)
        .arg(&file)
        .assert()
        .code(3)
        .stdout(predicates::str::contains("failed"))
        .stdout(predicates::str::contains("next run"));
}

#[test]
fn a_rejection_is_reported_and_the_key_never_shown() {
    let sbx = SandboxProc::start("");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sbx.url);
    let file = valid_file(dir.path());
    let wrong = "Wr0ng-Key-Do-Not-Print";
    let out = upload(dir.path(), &cfg, wrong)
        .arg(&file)
        .arg("-vv")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("rejected by InvoiceCloud"), "{stdout}");
    assert!(stdout.contains("WebServiceKey"), "{stdout}");
    for s in [wrong, IC_KEY] {
        assert!(!stdout.contains(s) && !stderr.contains(s), "secret shown");
        assert!(!sbx.journal_text().contains(s), "secret in journal");
    }
    // A rejected file is not "uploaded": the next run tries again.
    upload(dir.path(), &cfg, IC_KEY)
        .arg(&file)
        .assert()
        .success()
        .stdout(predicates::str::contains(": uploaded"));
}

#[test]
fn missing_section_or_secret_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = valid_file(dir.path());
    let cfg = support::write_config(dir.path(), "");
    upload(dir.path(), &cfg, IC_KEY)
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("[invoicecloud]"));
    let cfg = config(dir.path(), "http://127.0.0.1:9");
    Command::cargo_bin("daffron-bridge")
        .unwrap()
        .arg("--config")
        .arg(&cfg)
        .arg("--state")
        .arg(dir.path().join("s.sqlite"))
        .arg("upload")
        .arg(&file)
        .env_remove("TEST_IC_KEY")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("TEST_IC_KEY"));
}

#[test]
fn the_demo_configuration_uploads_to_its_embedded_sandbox() {
    // No --config and no ./daffron-bridge.toml: the embedded demo, whose
    // in-process sandbox takes the file without IC_WEB_SERVICE_KEY.
    let dir = tempfile::tempdir().unwrap();
    // The demo seeds its sandbox from samples/outbound.
    let samples = dir.path().join("samples/outbound");
    std::fs::create_dir_all(&samples).unwrap();
    let file = valid_file(&samples);
    let out = Command::cargo_bin("daffron-bridge")
        .unwrap()
        .current_dir(dir.path())
        .arg("upload")
        .arg(&file)
        .args(["--format", "json"])
        .env_remove("IC_WEB_SERVICE_KEY")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["files"][0]["outcome"], "uploaded", "{v}");
    // The sandbox keeps its state for the next command (`[sandbox] state`).
    assert!(dir.path().join("demo/sandbox-state.json").exists());
}

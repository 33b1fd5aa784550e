//! `run`, the nightly job, end to end with the real binary: the embedded demo
//! configuration in a fresh folder, and a night whose upload fails being
//! caught up the next night.

mod support;

use std::path::Path;

use assert_cmd::Command;
use support::json;
use support::sandbox::{IC_KEY, SandboxProc};

#[test]
fn the_demo_runs_on_the_embedded_default_in_a_fresh_folder() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = dir.path().join("samples/outbound");
    std::fs::create_dir_all(&outbound).unwrap();
    std::fs::write(outbound.join("2661_11262026.BIF"), support::bif::valid(4)).unwrap();
    support::age(&outbound.join("2661_11262026.BIF"), 120);

    let night = || {
        let out = Command::cargo_bin("daffron-bridge")
            .unwrap()
            .current_dir(dir.path())
            .args(["run", "--format", "json"])
            .env_remove("IC_WEB_SERVICE_KEY")
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        json(&out)
    };
    let first = night();
    assert_eq!(first["pull"]["counts"]["taken"], 1, "{first}");
    assert_eq!(first["upload"][0]["outcome"], "uploaded", "{first}");
    assert!(dir.path().join("demo/inbox/2661_11262026.BIF").exists());
    // The demo copies, never moves, the checked-in samples.
    assert!(outbound.join("2661_11262026.BIF").exists());

    let second = night();
    assert_eq!(second["pull"]["counts"]["taken"], 0, "{second}");
    assert_eq!(second["pull"]["counts"]["already_taken"], 1, "{second}");
    assert_eq!(second["upload"].as_array().unwrap().len(), 0, "{second}");
}

fn config(dir: &Path, upload_url: &str) -> std::path::PathBuf {
    support::write_config(
        dir,
        &format!(
            r#"[dropbox]
dir = "outbound"

[invoicecloud]
upload_url = "{upload_url}/portal/webservices/CloudInvoicing.asmx"
web_service_key = {{ env = "TEST_IC_KEY" }}

[pump]
timeout_seconds = 5
"#
        ),
    )
}

fn run(dir: &Path, cfg: &Path) -> Command {
    let mut c = Command::cargo_bin("daffron-bridge").unwrap();
    c.arg("--config")
        .arg(cfg)
        .args(["run", "--format", "json"])
        .env("TEST_IC_KEY", IC_KEY)
        .current_dir(dir);
    c
}

#[test]
fn an_upload_that_failed_is_sent_the_next_night() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = dir.path().join("outbound");
    std::fs::create_dir_all(&outbound).unwrap();
    std::fs::write(outbound.join("2661_11262026.BIF"), support::bif::valid(2)).unwrap();

    // Night 1: InvoiceCloud is down. The file is taken, the upload fails: 3.
    let down = support::closed_port();
    let cfg = config(dir.path(), &format!("http://127.0.0.1:{down}"));
    let out = run(dir.path(), &cfg)
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["pull"]["counts"]["taken"], 1, "{v}");
    assert_eq!(v["upload"][0]["outcome"], "failed", "{v}");
    assert!(dir.path().join("inbox/2661_11262026.BIF").exists());

    // Night 2: nothing new on the source, but the pending upload goes out.
    let sbx = SandboxProc::start("");
    let cfg = config(dir.path(), &sbx.url);
    let out = run(dir.path(), &cfg)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["pull"]["counts"]["taken"], 0, "{v}");
    assert_eq!(v["upload"][0]["outcome"], "uploaded", "{v}");
    let sent: Vec<_> = sbx
        .journal()
        .into_iter()
        .filter(|e| e["operation"] == "UploadInvoiceFile")
        .collect();
    assert_eq!(sent.len(), 1);

    // Night 3: nothing at all to do.
    let out = run(dir.path(), &cfg)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["upload"].as_array().unwrap().len(), 0, "{v}");
}

#[test]
fn an_inbox_file_gone_missing_does_not_hold_back_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = dir.path().join("outbound");
    std::fs::create_dir_all(&outbound).unwrap();
    std::fs::write(outbound.join("2661_11252026.BIF"), support::bif::valid(1)).unwrap();
    std::fs::write(outbound.join("2661_11262026.BIF"), support::bif::valid(2)).unwrap();
    // Night 1: both taken, InvoiceCloud down.
    let down = support::closed_port();
    let cfg = config(dir.path(), &format!("http://127.0.0.1:{down}"));
    run(dir.path(), &cfg).assert().code(3);
    // Someone removes one file from the inbox; night 2 still sends the other
    // and says which one it could not read.
    std::fs::remove_file(dir.path().join("inbox/2661_11252026.BIF")).unwrap();
    let sbx = SandboxProc::start("");
    let cfg = config(dir.path(), &sbx.url);
    let out = run(dir.path(), &cfg)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("2661_11252026.BIF"))
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["upload"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["upload"][0]["name"], "2661_11262026.BIF", "{v}");
    assert_eq!(v["upload"][0]["outcome"], "uploaded", "{v}");
}

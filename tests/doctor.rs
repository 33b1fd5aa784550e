//! `doctor` with the real binary against the real sandbox (over loopback
//! HTTP) and a private OpenSSH sshd: all green, then each red case named by
//! its check and setting, with its exit code. A missing sshd fails the
//! test, saying how to install it.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::sandbox::{IC_KEY, PASSWORD, SandboxProc};
use support::sshd::{Sshd, keygen, public_key};
use support::{json, toml_path};

/// A biller whose four MultiSpeak endpoints and InvoiceCloud point at a
/// sandbox, and whose BIF files come from a real SFTP server.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    sshd: Sshd,
    remote: PathBuf,
    archive: PathBuf,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let sshd = Sshd::start(&root.join("sshd"));
        let remote = root.join("server/outbound");
        let archive = remote.join("archive");
        fs::create_dir_all(&archive).unwrap();
        fs::create_dir_all(remote.join("failed")).unwrap();
        fs::write(remote.join("2661_11262026.BIF"), support::bif::valid(2)).unwrap();
        World {
            _tmp: tmp,
            root,
            sshd,
            remote,
            archive,
        }
    }

    /// The configuration, with `multispeak` and `ic` as the base URLs of
    /// the MultiSpeak endpoints and InvoiceCloud, and `known_hosts`.
    fn config(&self, multispeak: &str, ic: &str, known_hosts: &Path) -> PathBuf {
        let cb = format!("{multispeak}/tbx-daily/services/CB");
        let endpoints = support::endpoints(&cb, &[8, 11, 14, 17], "TEST_DOCTOR_PW");
        let text = format!(
            r#"[biller]
bid = 2661
name = "Lowell Light & Power"
guid = "{guid}"
timezone = "America/Chicago"

[advanced_settings]
{endpoints}
[sftp]
host = "127.0.0.1"
port = {port}
user = "{user}"
key_file = "{key}"
known_hosts = "{kh}"
remote_dir = "{remote}"
archive_dir = "{archive}"
failed_dir = "{remote}/failed"
timeout_seconds = 10

[invoicecloud]
upload_url = "{ic}/portal/webservices/CloudInvoicing.asmx"
web_service_key = {{ env = "TEST_DOCTOR_IC_KEY" }}

[paths]
inbox = "local/inbox"
quarantine = "local/quarantine"

[pump]
timeout_seconds = 5
"#,
            guid = support::GUID,
            port = self.sshd.port,
            user = self.sshd.user,
            key = toml_path(&self.sshd.client_key),
            kh = toml_path(known_hosts),
            remote = toml_path(&self.remote),
            archive = toml_path(&self.archive),
        );
        let p = self.root.join("daffron-bridge.toml");
        fs::write(&p, text).unwrap();
        p
    }

    /// `doctor --format json` with the right secrets unless `password` says
    /// otherwise: its exit code and report.
    fn doctor(&self, config: &Path, password: &str) -> (i32, serde_json::Value) {
        let out = assert_cmd::Command::cargo_bin("daffron-bridge")
            .unwrap()
            .arg("--config")
            .arg(config)
            .args(["doctor", "--format", "json"])
            .env("TEST_DOCTOR_PW", password)
            .env("TEST_DOCTOR_IC_KEY", IC_KEY)
            .current_dir(&self.root)
            .output()
            .unwrap();
        let code = out.status.code().expect("exited");
        (code, json(&out.stdout))
    }
}

/// The status of the one check with this id and setting.
fn status(report: &serde_json::Value, check: &str, setting: &str) -> String {
    let found: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == check && c["setting"] == setting)
        .collect();
    assert_eq!(found.len(), 1, "{check} {setting}: {report:#}");
    found[0]["status"].as_str().unwrap().to_string()
}

/// The (check, setting) of every check that did not pass.
fn failed(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "ok")
        .map(|c| {
            assert!(c["fix"].is_string(), "a failed check says what to do: {c}");
            (
                c["check"].as_str().unwrap().to_string(),
                c["setting"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn red(check: &str, setting: &str, status: &str) -> Vec<(String, String, String)> {
    vec![(check.into(), setting.into(), status.into())]
}

/// Every file under `dir`, recursively, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn all_green_and_nothing_changes() {
    let w = World::new();
    let sbx = SandboxProc::start("");
    let cfg = w.config(&sbx.url, &sbx.url, &w.sshd.known_hosts);
    let server_before = tree(&w.root.join("server"));
    let (code, report) = w.doctor(&cfg, PASSWORD);
    assert_eq!(failed(&report), vec![], "{report:#}");
    assert_eq!(code, 0, "{report:#}");
    for (check, setting) in [
        ("config", "[biller]"),
        ("layout", "[paths] layout"),
        ("clock", "[biller] timezone"),
        ("folder", "[paths] inbox"),
        ("sftp.host_key", "[sftp] known_hosts"),
        ("sftp.login", "[sftp] user"),
        ("sftp.remote_dir", "[sftp] remote_dir"),
        ("sftp.archive_dir", "[sftp] archive_dir"),
        ("sftp.failed_dir", "[sftp] failed_dir"),
        ("invoicecloud.key", "[invoicecloud] web_service_key"),
        ("invoicecloud.reachable", "[invoicecloud] upload_url"),
    ] {
        assert_eq!(status(&report, check, setting), "ok", "{check}");
    }
    for id in [8, 11, 14, 17] {
        for check in ["multispeak.ping", "multispeak.methods"] {
            assert_eq!(status(&report, check, &format!("setting {id}")), "ok");
        }
        let creds = format!("settings {}, {}", id + 1, id + 2);
        assert_eq!(status(&report, "multispeak.credentials", &creds), "ok");
    }
    // Nothing was left on the server, nothing made locally, nothing sent
    // that changes anything: the sandbox holds no payment, comment or flag.
    assert_eq!(tree(&w.root.join("server")), server_before);
    assert!(!w.root.join("local").exists());
    let state = sbx.state();
    assert_eq!(state.payments().count(), 0);
    let ops: Vec<String> = sbx
        .journal()
        .iter()
        .map(|e| e["operation"].as_str().unwrap().to_string())
        .collect();
    for op in [
        "PingURL",
        "GetMethods",
        "GetPayableItemsList",
        "CommitPaymentTransaction",
    ] {
        assert!(ops.iter().any(|o| o == op), "{op} in {ops:?}");
    }

    // Text: one line per check, no colour when stdout is not a terminal.
    let out = assert_cmd::Command::cargo_bin("daffron-bridge")
        .unwrap()
        .arg("--config")
        .arg(&cfg)
        .arg("doctor")
        .env("TEST_DOCTOR_PW", PASSWORD)
        .env("TEST_DOCTOR_IC_KEY", IC_KEY)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        report["checks"].as_array().unwrap().len() + 1,
        "{text}"
    );
    assert!(!text.contains('\x1b'), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("ok    setting 11 ")
        && l.contains("GetMethods lists CommitPaymentTransaction")));
    assert!(
        text.ends_with(&format!("doctor: all {} checks passed\n", lines.len() - 1)),
        "{text}"
    );
}

#[test]
fn a_method_the_server_leaves_out_is_named() {
    let w = World::new();
    let sbx = SandboxProc::start_with("", &["--without-method", "CommitPaymentTransaction"]);
    let cfg = w.config(&sbx.url, &sbx.url, &w.sshd.known_hosts);
    let (code, report) = w.doctor(&cfg, PASSWORD);
    // GetMethods does not list it, and the empty call of it is refused.
    assert_eq!(
        failed(&report),
        vec![
            (
                "multispeak.methods".into(),
                "setting 11".into(),
                "refused".into()
            ),
            (
                "multispeak.credentials".into(),
                "settings 12, 13".into(),
                "refused".into()
            ),
        ],
        "{report:#}"
    );
    let line = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "multispeak.methods" && c["setting"] == "setting 11")
        .unwrap();
    let msg = line["message"].as_str().unwrap();
    assert!(
        msg.contains("does not list CommitPaymentTransaction, which setting 11 is for"),
        "{msg}"
    );
    assert!(!msg.contains(", CommitPaymentTransaction"), "{msg}");
    assert_eq!(code, 1);
}

#[test]
fn a_wrong_password_is_named() {
    let w = World::new();
    let sbx = SandboxProc::start("");
    let cfg = w.config(&sbx.url, &sbx.url, &w.sshd.known_hosts);
    let (code, report) = w.doctor(&cfg, "not-the-password");
    let mut want = Vec::new();
    for id in [8, 11, 14, 17] {
        want.extend(red(
            "multispeak.credentials",
            &format!("settings {}, {}", id + 1, id + 2),
            "refused",
        ));
    }
    assert_eq!(failed(&report), want, "{report:#}");
    let text = report.to_string();
    assert!(
        !text.contains("not-the-password"),
        "no secret in the report"
    );
    assert!(text.contains("authentication failed"), "{report:#}");
    assert_eq!(code, 1);
}

#[test]
fn an_unknown_host_key_is_named() {
    let w = World::new();
    let sbx = SandboxProc::start("");
    let other = w.root.join("other_host");
    keygen(&other, "not the server");
    let kh = w.root.join("known_hosts.other");
    fs::write(
        &kh,
        format!("[127.0.0.1]:{} {}\n", w.sshd.port + 1, public_key(&other)),
    )
    .unwrap();
    let cfg = w.config(&sbx.url, &sbx.url, &kh);
    let (code, report) = w.doctor(&cfg, PASSWORD);
    assert_eq!(
        failed(&report),
        red("sftp.host_key", "[sftp] known_hosts", "config"),
        "{report:#}"
    );
    assert!(report.to_string().contains("ssh-keyscan"), "{report:#}");
    assert_eq!(code, 2);
}

/// Makes a folder that its owner cannot write, for root too (the tests run
/// as root on CI): immutable with chattr as root, read-only mode otherwise.
/// Undone on drop.
struct Unwritable(PathBuf);

impl Unwritable {
    fn new(dir: &Path) -> Unwritable {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        if root {
            let out = std::process::Command::new("chattr")
                .arg("+i")
                .arg(dir)
                .output()
                .expect("chattr (e2fsprogs) runs");
            assert!(
                out.status.success(),
                "chattr +i {} failed: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).unwrap();
        }
        Unwritable(dir.to_path_buf())
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .output();
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o755));
    }
}

#[test]
fn an_archive_folder_that_cannot_be_written_is_named() {
    let w = World::new();
    let sbx = SandboxProc::start("");
    let cfg = w.config(&sbx.url, &sbx.url, &w.sshd.known_hosts);
    let _guard = Unwritable::new(&w.archive);
    let (code, report) = w.doctor(&cfg, PASSWORD);
    assert_eq!(
        failed(&report),
        red("sftp.archive_dir", "[sftp] archive_dir", "refused"),
        "{report:#}"
    );
    assert_eq!(code, 1);
    assert_eq!(fs::read_dir(&w.archive).unwrap().count(), 0);
}

#[test]
fn a_closed_port_is_named_unreachable() {
    let w = World::new();
    let sbx = SandboxProc::start("");
    let down = format!("http://127.0.0.1:{}", support::closed_port());
    // MultiSpeak down, InvoiceCloud up.
    let cfg = w.config(&down, &sbx.url, &w.sshd.known_hosts);
    let (code, report) = w.doctor(&cfg, PASSWORD);
    let mut want = Vec::new();
    for id in [8, 11, 14, 17] {
        want.extend(red(
            "multispeak.ping",
            &format!("setting {id}"),
            "unreachable",
        ));
    }
    assert_eq!(failed(&report), want, "{report:#}");
    assert_eq!(code, 3);

    // The SFTP server down too: its connection is named, the rest waits.
    let cfg = w.config(&sbx.url, &sbx.url, &w.sshd.known_hosts);
    let text = fs::read_to_string(&cfg).unwrap().replace(
        &format!("port = {}", w.sshd.port),
        &format!("port = {}", support::closed_port()),
    );
    fs::write(&cfg, text).unwrap();
    let (code, report) = w.doctor(&cfg, PASSWORD);
    assert_eq!(
        failed(&report),
        red("sftp.connect", "[sftp] host, port", "unreachable"),
        "{report:#}"
    );
    assert_eq!(code, 3);
}

#[test]
fn a_missing_secret_is_configuration() {
    let w = World::new();
    let sbx = SandboxProc::start("");
    let cfg = w.config(&sbx.url, &sbx.url, &w.sshd.known_hosts);
    let out = assert_cmd::Command::cargo_bin("daffron-bridge")
        .unwrap()
        .arg("--config")
        .arg(&cfg)
        .args(["doctor", "--format", "json"])
        .env("TEST_DOCTOR_PW", PASSWORD)
        .env_remove("TEST_DOCTOR_IC_KEY")
        .output()
        .unwrap();
    let report = json(&out.stdout);
    assert_eq!(
        failed(&report),
        red(
            "invoicecloud.key",
            "[invoicecloud] web_service_key",
            "config"
        ),
        "{report:#}"
    );
    assert!(report.to_string().contains("TEST_DOCTOR_IC_KEY"));
    assert_eq!(out.status.code(), Some(2));
}

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

/// A BIF over `max_file_bytes` is set aside with nothing taken: the
/// morning's report still names it as a file a person must deal with, and
/// the night is not `ok`.
#[test]
fn a_file_set_aside_for_its_size_is_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = dir.path().join("outbound");
    std::fs::create_dir_all(&outbound).unwrap();
    std::fs::write(outbound.join("2661_11262026.BIF"), support::bif::valid(2)).unwrap();
    let sbx = SandboxProc::start("");
    let cfg = config(dir.path(), &sbx.url);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replace(
        "dir = \"outbound\"",
        "dir = \"outbound\"\nmax_file_bytes = 100",
    );
    std::fs::write(&cfg, text).unwrap();
    let v = json(&run(dir.path(), &cfg).assert().code(1).get_output().stdout);
    assert_eq!(v["pull"]["files"][0]["issue"], "file_too_large", "{v}");
    let out = Command::cargo_bin("daffron-bridge")
        .unwrap()
        .arg("--config")
        .arg(&cfg)
        .args(["report", "--format", "json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let r = json(&out.stdout);
    assert_eq!(r["status"], "attention", "{r}");
    let items = r["attention"]["items"].as_array().unwrap();
    assert!(
        items.iter().any(|i| i["what"] == "quarantined"
            && i["key"] == "2661_11262026.BIF"
            && i["reason"].as_str().unwrap().contains("file_too_large")),
        "{r}"
    );
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

// ---------------------------------------------------------------------------
// The whole night: pull over a real sshd, upload, ingest, sweep, verify and
// report against the sandbox over loopback HTTP.

use support::sandbox::{self, NO_CARD, NORMAL, PASSWORD};
use support::sshd::Sshd;
use support::toml_path;

const PAY_HEADER: &str = "payment_guid,account_number,invoice_number,invoice_type,tender,amount,fee,auth_code,payment_source_id,kiosk_id,group_key,paid_at\n";

/// A biller whose Daffron (settings 8, 11, 14, 17) and InvoiceCloud are the
/// sandbox at `url`, whose BIF files come over SFTP (`sftp`: an `[sftp]`
/// section) and whose exports, reports and metrics are in `dir`.
fn night_config(dir: &Path, url: &str, sftp: &str) -> std::path::PathBuf {
    let endpoints = support::endpoints(
        &format!("{url}/tbx-daily/services/CB"),
        &[8, 11, 14, 17],
        "TEST_PUMP_PASSWORD",
    );
    support::write_config(
        dir,
        &format!(
            r#"
[advanced_settings]
{endpoints}35 = "2"

{sftp}

[invoicecloud]
upload_url = "{url}/portal/webservices/CloudInvoicing.asmx"
web_service_key = {{ env = "TEST_IC_KEY" }}

[paths]
exports = "exports"
reports = "reports"
metrics = "metrics/daffron_bridge.prom"

[pump]
timeout_seconds = 5
backoff_seconds = 0
retry_pause_ms = 1
"#
        ),
    )
}

fn sftp_section(sshd: &Sshd, remote: &Path) -> String {
    format!(
        "[sftp]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nkey_file = \"{}\"\nknown_hosts = \"{}\"\n\
         remote_dir = \"{}\"\narchive_dir = \"{}\"\nfailed_dir = \"{}\"\nsettle_seconds = 0\ntimeout_seconds = 10\n",
        sshd.port,
        sshd.user,
        toml_path(&sshd.client_key),
        toml_path(&sshd.known_hosts),
        toml_path(remote),
        toml_path(&remote.join("archive")),
        toml_path(&remote.join("failed")),
    )
}

/// `payments.csv` in `dir/exports`: NORMAL pays its whole bill (232.10 +
/// 7.90), NO_CARD pays 40.00, each with a fee that is never posted.
fn write_exports(dir: &Path) {
    let exports = dir.join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    std::fs::write(
        exports.join("payments.csv"),
        format!(
            "{PAY_HEADER}\
             night-1,{NORMAL},INV-1,,ACH,240.00,0,AUTH-1,0,,,2026-11-27T08:00:00-06:00\n\
             night-2,{NO_CARD},INV-4,,ACH,40.00,1.50,AUTH-2,0,,,2026-11-27T08:05:00-06:00\n"
        ),
    )
    .unwrap();
}

fn night_cmd(dir: &Path, cfg: &Path) -> Command {
    let mut c = Command::cargo_bin("daffron-bridge").unwrap();
    c.arg("--config")
        .arg(cfg)
        .args(["run", "--format", "json"])
        .env("TEST_IC_KEY", sandbox::IC_KEY)
        .env("TEST_PUMP_PASSWORD", PASSWORD)
        .current_dir(dir);
    c
}

/// Every outbox item's key and state.
fn outbox(dir: &Path, cfg: &Path) -> Vec<(String, String)> {
    let out = Command::cargo_bin("daffron-bridge")
        .unwrap()
        .arg("--config")
        .arg(cfg)
        .args(["outbox", "list", "--format", "json"])
        .current_dir(dir)
        .output()
        .unwrap();
    json(&out.stdout)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().to_string(),
                i["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_whole_night_over_sftp_and_the_sandbox_then_a_rerun_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(&dir.path().join("sshd"));
    let remote = dir.path().join("server/outbound");
    std::fs::create_dir_all(&remote).unwrap();
    sandbox::write_seed(&remote);
    // Daffron takes NO_CARD's payment (Success, its id held) but it never
    // reaches the balance: the verification must say so.
    let no_card_id = NO_CARD.replace('-', "");
    let sbx = SandboxProc::start(&format!("unapplied@account:{no_card_id}"));
    write_exports(dir.path());
    let cfg = night_config(dir.path(), &sbx.url, &sftp_section(&sshd, &remote));

    let out = night_cmd(dir.path(), &cfg)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let v = json(&out.stdout);
    assert_eq!(v["run"], 1, "{v}");
    assert_eq!(v["pull"]["counts"]["taken"], 1, "{v}");
    assert_eq!(v["upload"][0]["outcome"], "uploaded", "{v}");
    assert_eq!(v["ingest"]["files"][0]["taken"], 2, "{v}");
    assert_eq!(v["sweep"]["routes"][0]["posted"], 2, "{v}");
    assert_eq!(v["verify"]["asked"], 2, "{v}");
    assert_eq!(v["verify"]["ok"], 1, "{v}");
    assert_eq!(v["verify"]["mismatch"], 1, "{v}");
    let mismatch = &v["verify"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["outcome"] == "mismatch")
        .unwrap();
    assert_eq!(mismatch["account"], NO_CARD, "{v}");
    assert_eq!(mismatch["balance_due"], "40.00", "{v}");
    assert_eq!(mismatch["expected_at_most"], "0.00", "{v}");
    assert_eq!(v["report"]["status"], "attention", "{v}");
    assert_eq!(v["report"]["attention"]["mismatch"], 1, "{v}");

    // The night's report, as HTML and JSON, and the metrics.
    let html = std::fs::read_to_string(v["report"]["html"].as_str().unwrap()).unwrap();
    assert!(
        html.contains("Needs a person") && html.contains(NO_CARD),
        "{html}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(v["report"]["json"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(report["report_version"], 1);
    assert_eq!(report["pump"]["posted_payments"], 2);
    assert_eq!(report["pump"]["posted_amount"], "280.00");
    assert_eq!(report["pump"]["posted_fees"], "1.50");
    assert_eq!(report["runs"][0]["exit_code"], 1);
    let stages: Vec<&str> = report["runs"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["pull", "upload", "ingest", "sweep", "verify"]);
    let metrics = std::fs::read_to_string(dir.path().join("metrics/daffron_bridge.prom")).unwrap();
    assert!(
        metrics.contains("daffron_bridge_run_exit_code{bid=\"2661\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("daffron_bridge_verification_mismatches{bid=\"2661\"} 1\n"),
        "{metrics}"
    );
    // The same run's report from the state file, in every form.
    for format in ["text", "json", "csv", "html"] {
        Command::cargo_bin("daffron-bridge")
            .unwrap()
            .arg("--config")
            .arg(&cfg)
            .args(["report", "--run", "1", "--format", format])
            .current_dir(dir.path())
            .assert()
            .success()
            .stdout(predicates::str::contains(NO_CARD));
    }

    // A rerun of the same night: nothing new anywhere, nothing sent again.
    let before = (sbx.state(), outbox(dir.path(), &cfg));
    let calls = sbx.journal().len();
    let out = night_cmd(dir.path(), &cfg)
        .assert()
        .success()
        .get_output()
        .clone();
    let v = json(&out.stdout);
    assert_eq!(v["run"], 2, "{v}");
    assert_eq!(v["pull"]["counts"]["taken"], 0, "{v}");
    assert_eq!(v["upload"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["verify"]["paid_accounts"], 0, "{v}");
    assert_eq!((sbx.state(), outbox(dir.path(), &cfg)), before);
    assert_eq!(
        sbx.journal().len(),
        calls,
        "no call at all to Daffron or InvoiceCloud"
    );
}

#[test]
fn sftp_down_still_sweeps_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let sbx = SandboxProc::start("");
    write_exports(dir.path());
    let sftp = format!(
        "[sftp]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"nobody\"\npassword = \"x\"\nknown_hosts = \"{}\"\n\
         remote_dir = \"/outbound\"\narchive_dir = \"/outbound/archive\"\nfailed_dir = \"/outbound/failed\"\ntimeout_seconds = 5\n",
        support::closed_port(),
        toml_path(&dir.path().join("known_hosts")),
    );
    std::fs::write(dir.path().join("known_hosts"), "").unwrap();
    let cfg = night_config(dir.path(), &sbx.url, &sftp);
    let out = night_cmd(dir.path(), &cfg)
        .args(["--log-format", "json"])
        .assert()
        .code(3)
        .get_output()
        .clone();
    let v = json(&out.stdout);
    assert_eq!(v["pull"]["stopped"]["transient"], true, "{v}");
    assert_eq!(v["sweep"]["routes"][0]["posted"], 2, "{v}");
    let st = sbx.state();
    // The transactionId is the approval code (D4; setting 131 is not set).
    assert_eq!(
        (st.payment_count("AUTH-1"), st.payment_count("AUTH-2")),
        (1, 1)
    );
    // Under --log-format json every line on stderr is a JSON log event, the
    // stop among them, for a log shipper.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        events.iter().any(|e| e["level"] == "ERROR"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("127.0.0.1"))),
        "the stop is said on stderr: {stderr}"
    );
}

#[test]
fn a_second_run_while_one_is_going_exits_3_and_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The first run's upload waits 4 s for InvoiceCloud.
    let sbx = SandboxProc::start("latency=4s@first:1");
    let outbound = dir.path().join("outbound");
    std::fs::create_dir_all(&outbound).unwrap();
    std::fs::write(outbound.join("2661_11262026.BIF"), support::bif::valid(2)).unwrap();
    write_exports(dir.path());
    let cfg = night_config(dir.path(), &sbx.url, "[dropbox]\ndir = \"outbound\"\n");
    let first = std::process::Command::new(assert_cmd::cargo::cargo_bin("daffron-bridge"))
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--format", "json"])
        .env("TEST_IC_KEY", sandbox::IC_KEY)
        .env("TEST_PUMP_PASSWORD", PASSWORD)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first run holds its locks once its run row exists.
    let state = dir.path().join("daffron-bridge.sqlite");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let started = rusqlite::Connection::open(&state)
            .and_then(|c| c.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0)))
            .unwrap_or(0);
        if started > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = night_cmd(dir.path(), &cfg)
        .assert()
        .code(3)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("another `pull` or `run` is running"), "{err}");
    assert!(second.stdout.is_empty(), "the second run printed nothing");
    let out = first.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = json(&out.stdout);
    assert_eq!(v["run"], 1, "the second run was never recorded: {v}");
    assert_eq!(v["sweep"]["routes"][0]["posted"], 2, "{v}");
}

/// The command lines of `scripts/systemd/daffron-bridge@.service` and
/// `scripts/systemd/daffron-bridge.cron`, with the install paths moved into
/// `dir` and `%i` = 2661.
fn scheduled_lines(dir: &Path) -> (Vec<String>, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/systemd");
    let bin = assert_cmd::cargo::cargo_bin("daffron-bridge");
    let place = |s: &str| {
        s.replace("/usr/local/bin/daffron-bridge", &bin.display().to_string())
            .replace(
                "/etc/daffron-bridge",
                &dir.join("etc").display().to_string(),
            )
            .replace(
                "/var/lib/daffron-bridge",
                &dir.join("var").display().to_string(),
            )
            .replace("%i", "2661")
    };
    let service = std::fs::read_to_string(root.join("daffron-bridge@.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the service has an ExecStart");
    let argv = place(exec).split_whitespace().map(String::from).collect();
    let cron = std::fs::read_to_string(root.join("daffron-bridge.cron")).unwrap();
    let line = cron
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("the cron file has a line");
    // m h dom mon dow user command...
    let command: Vec<&str> = line.split_whitespace().skip(6).collect();
    (argv, place(&command.join(" ")))
}

#[test]
fn the_systemd_unit_and_the_cron_line_run_a_night() {
    let dir = tempfile::tempdir().unwrap();
    let sbx = SandboxProc::start("");
    let etc = dir.path().join("etc");
    let var = dir.path().join("var/2661");
    std::fs::create_dir_all(etc.join("outbound")).unwrap();
    std::fs::create_dir_all(&var).unwrap();
    std::fs::write(
        etc.join("outbound/2661_11262026.BIF"),
        support::bif::valid(2),
    )
    .unwrap();
    write_exports(&etc);
    let cfg = night_config(&etc, &sbx.url, "[dropbox]\ndir = \"outbound\"\n");
    std::fs::rename(&cfg, etc.join("2661.toml")).unwrap();
    std::fs::write(
        etc.join("2661.env"),
        format!(
            "TEST_IC_KEY={}\nTEST_PUMP_PASSWORD={PASSWORD}\n",
            sandbox::IC_KEY
        ),
    )
    .unwrap();
    let (argv, cron) = scheduled_lines(dir.path());

    // systemd: the ExecStart line, with the EnvironmentFile's variables,
    // in the WorkingDirectory. Exit 0 or 1 (SuccessExitStatus=1) is a night
    // that ran.
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&var)
        .env("TEST_IC_KEY", sandbox::IC_KEY)
        .env("TEST_PUMP_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("run 1: exit 0 (all done)"), "{text}");
    assert!(var.join("daffron-bridge.sqlite").exists());
    assert_eq!(sbx.state().payment_count("AUTH-1"), 1);

    // cron: the same night again through its line: nothing new, nothing sent twice.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&cron)
        .env_remove("TEST_IC_KEY")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(var.join("run.log")).unwrap();
    assert!(log.contains("run 2: exit 0 (all done)"), "{log}");
    assert_eq!(sbx.state().payment_count("AUTH-1"), 1);
}

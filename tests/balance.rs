//! `daffron-bridge balance` against the real sandbox binary over loopback.

mod support;

use assert_cmd::Command;
use support::sandbox::*;

fn balance(
    cfg: &std::path::Path,
    account: &str,
    json: bool,
    password: &str,
) -> std::process::Output {
    let mut c = Command::cargo_bin("daffron-bridge").unwrap();
    c.arg("--config")
        .arg(cfg)
        .args(["balance", account])
        .env("TEST_RTDR_PASSWORD", password);
    if json {
        c.args(["--format", "json"]);
    }
    c.output().unwrap()
}

fn json_of(o: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn balances_blocks_and_prepaid_d13_d14_d18() {
    let sbx = SandboxProc::start("");
    let cfg = write_config(sbx.dir.path(), &sbx.url, 5);

    // Two invoices of the same account: sums over all items (D13); base-sub
    // and base+sub give the same answer (D2).
    let v = json_of(&balance(&cfg, NORMAL, true, PASSWORD));
    assert_eq!(v["account"], "12345001");
    assert_eq!(v["balance_due"], "240.00");
    assert_eq!(v["past_due"], "10.50");
    assert!(v["prepaid"].is_null());
    assert_eq!(
        v["blocked"],
        serde_json::json!({"CC": false, "ACH": false, "ECHECK": false})
    );
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    assert_eq!(json_of(&balance(&cfg, "12345001", true, PASSWORD)), v);

    let v = json_of(&balance(&cfg, PREPAID, true, PASSWORD));
    assert_eq!(v["prepaid"]["remaining_balance"], "15.00");
    assert_eq!(v["prepaid"]["remaining_days"], 28);
    assert_eq!(v["balance_due"], "15.00");

    let v = json_of(&balance(&cfg, CASH_ONLY, true, PASSWORD));
    assert_eq!(
        v["blocked"],
        serde_json::json!({"CC": false, "ACH": true, "ECHECK": true})
    );
    let v = json_of(&balance(&cfg, NO_CARD, true, PASSWORD));
    assert_eq!(
        v["blocked"],
        serde_json::json!({"CC": true, "ACH": false, "ECHECK": false})
    );
    let v = json_of(&balance(&cfg, BLOCK_CC, true, PASSWORD));
    assert_eq!(v["blocked"]["CC"], true);

    let o = balance(&cfg, CASH_ONLY, false, PASSWORD);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Balance due   99.99"), "{text}");
    assert!(text.contains("Cash Only"), "{text}");

    let journal = sbx.journal();
    assert!(
        journal
            .iter()
            .all(|e| e["operation"] == "GetPayableItemsList")
    );
    assert_eq!(journal[0]["accounts"], serde_json::json!(["12345001"]));
    let all = sbx.journal_text();
    assert!(!all.contains(PASSWORD));
}

#[test]
fn unreachable_endpoint_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::closed_port();
    let cfg = write_config(dir.path(), &format!("http://127.0.0.1:{port}"), 2);
    let o = balance(&cfg, NORMAL, true, PASSWORD);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("setting 8") && err.contains("cannot reach"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn bad_account_exits_2_and_unknown_account_is_a_fault() {
    let sbx = SandboxProc::start("");
    let cfg = write_config(sbx.dir.path(), &sbx.url, 5);
    let o = balance(&cfg, "12-34-5", true, PASSWORD);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("base-sub"));
    let o = balance(&cfg, "99999-999", true, PASSWORD);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not found"));
}

/// Every injected fault: transient ones exit 3, a Fault exits 1; the next
/// request (faults are `first:1`) succeeds.
#[test]
fn each_injected_fault() {
    for (spec, code, words) in [
        ("http500=first:1", 3, "HTTP 500"),
        ("fault=first:1", 1, "injected SOAP Fault"),
        ("drop=first:1", 3, "unusable"),
        ("malformed=first:1", 3, "unusable"),
        ("latency=3s@first:1", 3, "in time"),
    ] {
        let sbx = SandboxProc::start(spec);
        let cfg = write_config(sbx.dir.path(), &sbx.url, 1);
        let o = balance(&cfg, NORMAL, true, PASSWORD);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(code), "{spec}: {err}");
        assert!(err.contains(words), "{spec}: {err}");
        assert!(!err.contains(PASSWORD));
        if spec.starts_with("latency") {
            std::thread::sleep(std::time::Duration::from_millis(2200));
        }
        let o = balance(&cfg, NORMAL, true, PASSWORD);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{spec} second call: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let j = sbx.journal();
        let first = spec.split(['=', '@']).next().unwrap();
        assert_eq!(j[0]["fault"], first, "{spec}: {j:?}");
        assert!(j[1].get("fault").is_none(), "{spec}: {j:?}");
    }
}

#[test]
fn wrong_password_is_refused_and_never_shown() {
    let sbx = SandboxProc::start("");
    let cfg = write_config(sbx.dir.path(), &sbx.url, 5);
    let wrong = "Wr0ng-Pa55-Word";
    let o = balance(&cfg, NORMAL, true, wrong);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(err.contains("authentication failed"), "{err}");
    let o2 = Command::cargo_bin("daffron-bridge")
        .unwrap()
        .arg("--config")
        .arg(&cfg)
        .args(["-vv", "balance", NORMAL])
        .env("TEST_RTDR_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(o2.status.code(), Some(0));
    let journal = sbx.journal_text();
    let all = format!(
        "{err}{}{}{}{journal}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o2.stdout),
        String::from_utf8_lossy(&o2.stderr)
    );
    let sandbox_out = sbx.stop();
    for secret in [PASSWORD, wrong] {
        assert!(!all.contains(secret), "secret leaked");
        assert!(
            !sandbox_out.contains(secret),
            "secret leaked by the sandbox"
        );
    }
}

//! The data pump end to end: the real binary (`ingest`, `sweep`, `outbox`)
//! against the real sandbox over loopback HTTP, with every injected fault,
//! and a sweep killed with SIGKILL at random moments.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use support::json;
use support::sandbox::{self, SandboxProc};

/// Payments on the sandbox's seeded accounts.
const ACCOUNTS: [&str; 4] = [
    sandbox::NORMAL,
    sandbox::PREPAID,
    sandbox::CASH_ONLY,
    sandbox::NO_CARD,
];

struct Night {
    dir: tempfile::TempDir,
    config: PathBuf,
    state: PathBuf,
}

impl Night {
    /// A biller whose three pump endpoints (settings 11, 14, 17) are the
    /// sandbox at `url`, with quick retries and no wait between sweeps.
    fn new(url: &str, pump: &str) -> Night {
        let dir = tempfile::tempdir().unwrap();
        let endpoints = support::endpoints(
            &format!("{url}/tbx-daily/services/CB"),
            &[11, 14, 17],
            "TEST_PUMP_PASSWORD",
        );
        let config = support::write_config(
            dir.path(),
            &format!(
                // Still in [biller], which write_config opens.
                r#"features = ["scheduled_payments", "autopay_grouping"]

[advanced_settings]
{endpoints}35 = "2"
64 = "0(WEB)|2(CSRWEB)|8(POS)"
65 = "0(WEB)|2(CSRWEB)|8(POS)"
131 = '{{"Daffron":{{"DataPumpConfigs":{{"SkipDonationTypes":true,"UsePaymentGuidAsTransactionId":true}}}}}}'

[pump]
timeout_seconds = 1
backoff_seconds = 0
retry_pause_ms = 1
call_tries = 2
{pump}
"#
            ),
        );
        let state = dir.path().join("state.sqlite");
        Night { dir, config, state }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("daffron-bridge").unwrap();
        c.arg("--config")
            .arg(&self.config)
            .arg("--state")
            .arg(&self.state)
            .args(args)
            .env("TEST_PUMP_PASSWORD", sandbox::PASSWORD);
        c
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn ingest(&self, file: &Path) -> serde_json::Value {
        let out = self
            .cmd(&["ingest", "--format", "json"])
            .arg(file)
            .output()
            .unwrap();
        json(&out.stdout)
    }

    fn sweep(&self) -> (i32, serde_json::Value, String) {
        let out = self.cmd(&["sweep", "--format", "json"]).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            json(&out.stdout),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Every item: (key, state, reason).
    fn items(&self) -> Vec<(String, String, String)> {
        let out = self
            .cmd(&["outbox", "list", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json(&out.stdout)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["key"].as_str().unwrap().to_string(),
                    i["state"].as_str().unwrap().to_string(),
                    i["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Sweeps until nothing is open, at most `max` times.
    fn sweep_until_settled(&self, max: usize) {
        for _ in 0..max {
            self.sweep();
            if !self
                .items()
                .iter()
                .any(|(_, s, _)| matches!(s.as_str(), "pending" | "in_flight" | "retrying"))
            {
                return;
            }
        }
        panic!("still open after {max} sweeps: {:?}", self.items());
    }
}

const PAY_HEADER: &str = "payment_guid,account_number,invoice_number,invoice_type,tender,amount,fee,auth_code,payment_source_id,kiosk_id,group_key,paid_at\n";
const EVENT_HEADER: &str = "event_id,kind,action,account_number,service_location_id,scheduled_date,amount,invoice_number,occurred_at\n";

fn payments(n: usize) -> String {
    let mut s = PAY_HEADER.to_string();
    let tenders = ["CC", "ACH", "ECHECK", "CASH"];
    for i in 0..n {
        s.push_str(&format!(
            "pay-{i:05},{},INV-{i},,{},{}.{:02},1.00,AUTH-{i},{},,,2026-11-26T08:00:00-06:00\n",
            ACCOUNTS[i % ACCOUNTS.len()],
            tenders[i % tenders.len()],
            1 + i % 50,
            i % 100,
            [0, 2, 8, 5][i % 4]
        ));
    }
    s
}

fn events(n: usize) -> String {
    let mut s = EVENT_HEADER.to_string();
    for i in 0..n {
        let account = ACCOUNTS[i % ACCOUNTS.len()];
        let t = format!("2026-11-26T{:02}:{:02}:00-06:00", 8 + i / 60 % 12, i % 60);
        match i % 3 {
            0 => s.push_str(&format!(
                "ev-{i:05},PAPERLESS,{},{account},,,,,{t}\n",
                ["ENROLL", "UNENROLL"][i / 3 % 2]
            )),
            1 => s.push_str(&format!(
                "ev-{i:05},AUTOPAY,{},{account},321045080002,,,,{t}\n",
                ["ON", "OFF"][i / 3 % 2]
            )),
            _ => s.push_str(&format!(
                "ev-{i:05},SCHEDULED_PAYMENT,CREATE,{account},321045080002,2026-12-10,{}.00,INV-{i},{t}\n",
                10 + i
            )),
        }
    }
    s
}

/// The sandbox applied every payment exactly once (none twice, none
/// missing) and holds no payment that was not sent.
fn assert_exactly_once(sbx: &SandboxProc, keys: &[String]) {
    let st = sbx.state();
    for k in keys {
        assert_eq!(
            st.payment_count(k),
            1,
            "payment {k} applied {} times",
            st.payment_count(k)
        );
    }
    let applied: usize = st.accounts.values().map(|a| a.payments.len()).sum();
    assert_eq!(
        applied,
        keys.len(),
        "the sandbox holds payments that were not sent"
    );
}

fn payment_keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("pay-{i:05}")).collect()
}

#[test]
fn every_injected_fault_ends_posted_or_dead_with_its_reason() {
    // (faults, whether every item can still get through)
    let cases = [
        ("latency=1500ms@0.3", true), // timeouts (the client waits 1 s)
        ("http500@0.3", true),
        ("fault@0.3", true),     // SOAP Fault: halved down to single items
        ("malformed@0.3", true), // garbage
        ("drop@0.3", true),      // the answer breaks off, nothing applied
        ("lost@first:2", true),  // applied, then the answer breaks off
        ("item_unanswered@0.3", true),
        ("http500@always", false),
        ("fault@always", false),
        ("malformed@always", false),
    ];
    for (faults, recovers) in cases {
        let sbx = SandboxProc::start(faults);
        let night = Night::new(&sbx.url, "batch_size = 10\nmax_attempts = 4");
        let n = 20;
        let file = night.write("payments.csv", &payments(n));
        let v = night.ingest(&file);
        assert_eq!(v["files"][0]["taken"], n, "{faults}: {v}");
        night.sweep_until_settled(12);
        let items = night.items();
        for (key, state, reason) in &items {
            if recovers {
                assert!(
                    state == "posted" || state == "duplicate",
                    "{faults}: {key} ended {state}: {reason}"
                );
            } else {
                assert_eq!(state, "dead", "{faults}: {key}");
                assert!(reason.contains("after 4 attempt(s)"), "{faults}: {reason}");
                let why = match faults {
                    "http500@always" => "HTTP 500",
                    "fault@always" => "SOAP Fault",
                    _ => "unusable",
                };
                assert!(reason.contains(why), "{faults}: {reason}");
            }
        }
        if recovers {
            assert_exactly_once(&sbx, &payment_keys(n));
            // `lost` and `item_unanswered` make Daffron answer "duplicate" to
            // the resend: posted in effect, shown apart.
            if faults.starts_with("lost") || faults.starts_with("item_unanswered") {
                assert!(
                    items.iter().any(|i| i.1 == "duplicate"),
                    "{faults}: {items:?}"
                );
            }
        } else {
            assert_eq!(sbx.state().transaction_ids.len(), 0, "{faults}");
        }
    }
}

#[test]
fn a_partly_refused_batch_retries_only_its_retryable_items() {
    // One account's items are refused (final); every 3rd item is applied
    // but left out of the answer (retryable).
    let sbx = SandboxProc::start(&format!(
        "item_failure@account:{},item_unanswered@0.3",
        sandbox::CASH_ONLY
    ));
    let night = Night::new(&sbx.url, "batch_size = 8\nmax_attempts = 5");
    let n = 16;
    night.ingest(&night.write("payments.csv", &payments(n)));
    let (code, v, _) = night.sweep();
    assert_eq!(code, 1, "items rejected: {v}");
    let p = &v["routes"][0];
    assert_eq!(p["rejected"], 4, "{v}");
    let retrying = p["retrying"].as_u64().unwrap();
    assert!(retrying > 0, "{v}");
    let before = sbx.journal().len();
    let (_, v2, _) = night.sweep();
    let p2 = &v2["routes"][0];
    assert_eq!(
        p2["sent"].as_u64().unwrap(),
        retrying,
        "only the unanswered go again: {v2}"
    );
    assert_eq!(p2["rejected"], 0, "{v2}");
    assert!(sbx.journal().len() > before);
    night.sweep_until_settled(10);
    for (key, state, reason) in night.items() {
        let i: usize = key[4..].parse().unwrap();
        if ACCOUNTS[i % 4] == sandbox::CASH_ONLY {
            assert_eq!(state, "rejected", "{key}");
            assert!(reason.contains("injected item failure"), "{reason}");
        } else {
            assert!(
                state == "posted" || state == "duplicate",
                "{key}: {state} {reason}"
            );
        }
    }
}

#[test]
fn every_kind_reaches_the_sandbox_once_in_order() {
    let sbx = SandboxProc::start("");
    let night = Night::new(&sbx.url, "batch_size = 4");
    night.ingest(&night.write("payments.csv", &payments(8)));
    let v = night.ingest(&night.write("events.csv", &events(12)));
    assert_eq!(v["files"][0]["taken"], 12, "{v}");
    let (code, v, err) = night.sweep();
    assert_eq!(code, 0, "{v} {err}");
    let st = sbx.state();
    assert_exactly_once(&sbx, &payment_keys(8));
    // Comments: each autopay and scheduled event once, in the order they
    // happened, with the event's location and local time.
    let normal = &st.accounts["12345001"];
    let texts: Vec<&str> = normal.comments.iter().map(|c| c.comment.as_str()).collect();
    assert_eq!(texts, vec!["AUTOPAY OFF", "SCHED_PAY 12102026 18.00 INV-8"]);
    assert!(
        normal
            .comments
            .iter()
            .all(|c| c.service_location_id == "321045080002")
    );
    assert_eq!(normal.comments[0].log_time, "2026-11-26T08:04:00-06:00");
    // Paperless: the latest event per account (D9).
    assert_eq!(
        st.accounts["35909001"].paperless,
        Some(false),
        "{:?}",
        st.accounts["35909001"]
    );
    // A second sweep sends nothing.
    let journal = sbx.journal().len();
    let (code, _, _) = night.sweep();
    assert_eq!(code, 0);
    assert_eq!(sbx.journal().len(), journal);
}

#[test]
fn dry_run_prints_the_soap_and_changes_nothing() {
    let sbx = SandboxProc::start("");
    let night = Night::new(&sbx.url, "batch_size = 3");
    night.ingest(&night.write("payments.csv", &payments(4)));
    let before = night.items();
    let out = night.cmd(&["sweep", "--dry-run"]).output().unwrap();
    assert!(out.status.success());
    let soap = String::from_utf8_lossy(&out.stdout);
    assert_eq!(soap.matches("<!-- call ").count(), 2, "{soap}");
    assert!(soap.contains("Pwd=\"***\""), "{soap}");
    assert!(!soap.contains(sandbox::PASSWORD));
    assert!(soap.contains("<extValue>pay-00000</extValue>"), "{soap}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was sent"));
    assert_eq!(night.items(), before, "the state file is unchanged");
    assert!(sbx.journal().is_empty(), "nothing reached the sandbox");
}

#[test]
fn a_second_sweep_on_the_same_state_exits_3() {
    let night = Night::new("http://127.0.0.1:9", "");
    night.ingest(&night.write("payments.csv", &payments(1)));
    let held = daffron_bridge::store::StateLock::sweep(&night.state).unwrap();
    let out = night.cmd(&["sweep"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another `sweep` or `run` is running"), "{err}");
    drop(held);
}

#[test]
fn ingest_reports_rows_like_validate_and_never_overwrites() {
    let night = Night::new("http://127.0.0.1:9", "");
    let good = night.write(
        "payments.csv",
        &format!("{PAY_HEADER}p1,12345-001,I1,,CC,10.00,1.00,A1,0,,,2026-11-26T08:00:00-06:00\np2,12345001,I2,,CC,$5,,A2,0,,,2026-11-26T08:00:00-06:00\n"),
    );
    let out = night
        .cmd(&["ingest", "--format", "json"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out.stdout);
    let f = &v["files"][0];
    assert_eq!(
        (
            f["kind"].as_str(),
            f["taken"].as_u64(),
            f["refused"].as_u64()
        ),
        (Some("payments"), Some(1), Some(1)),
        "{v}"
    );
    let codes: Vec<(u64, &str, &str, &str)> = f["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["line"].as_u64().unwrap(),
                i["field"].as_str().unwrap(),
                i["code"].as_str().unwrap(),
                i["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (3, "account_number", "bad_account", "12345001"),
            (3, "amount", "bad_amount", "$5")
        ]
    );
    assert_eq!(f["issues"][0]["column"], 2);
    // The same key with other content: a conflict, the first kept.
    let again = night.write(
        "payments2.csv",
        &format!("{PAY_HEADER}p1,12345-001,I1,,CC,99.00,1.00,A1,0,,,2026-11-26T08:00:00-06:00\n"),
    );
    let out = night.cmd(&["ingest"]).arg(&again).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "payments2.csv:2: payment_guid: conflict: payment_guid p1 is already in the outbox"
        ),
        "{text}"
    );
    let out = night
        .cmd(&["outbox", "show", "p1", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(json(&out.stdout)["item"]["amount"], "10.00");
    // The same content again: nothing new, exit 0.
    let out = night
        .cmd(&["ingest", "--format", "json"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(json(&out.stdout)["files"][0]["already"], 1);
}

#[test]
fn ingest_without_files_takes_each_new_export_once() {
    let night = Night::new("http://127.0.0.1:9", "");
    let exports = night.dir.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    std::fs::write(exports.join("payments-20261126.csv"), payments(3)).unwrap();
    std::fs::write(exports.join("events-20261126.csv"), events(3)).unwrap();
    std::fs::write(exports.join("notes.txt"), "not an export").unwrap();
    let out = night.cmd(&["ingest", "--format", "json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out.stdout);
    assert_eq!(v["files"].as_array().unwrap().len(), 2, "{v}");
    let out = night.cmd(&["ingest"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("already ingested").count(), 2, "{text}");
    assert_eq!(night.items().len(), 6);
}

#[test]
fn outbox_show_replay_and_cancel() {
    let sbx = SandboxProc::start(&format!("item_failure@account:{}", sandbox::NORMAL));
    let night = Night::new(&sbx.url, "");
    night.ingest(&night.write("payments.csv", &payments(2)));
    let (code, _, _) = night.sweep();
    assert_eq!(code, 1);
    // What exactly was sent for pay-00000, when, and what Daffron said.
    let out = night
        .cmd(&["outbox", "show", "pay-00000"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("<extValue>pay-00000</extValue>"), "{text}");
    assert!(text.contains("CommitPaymentTransaction to "), "{text}");
    assert!(
        text.contains("Daffron: rejected: sandbox: injected item failure"),
        "{text}"
    );
    assert!(!text.contains(sandbox::PASSWORD));
    // Replay needs a reason, and is recorded.
    night
        .cmd(&["outbox", "replay", "pay-00000"])
        .assert()
        .code(2);
    night
        .cmd(&[
            "outbox",
            "replay",
            "pay-00000",
            "--reason",
            "Daffron reopened the account",
            "--by",
            "ops",
        ])
        .assert()
        .success();
    let out = night
        .cmd(&["outbox", "show", "pay-00000"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("replay by ops"));
    // Cancel retires it; a posted item cannot be cancelled.
    night
        .cmd(&[
            "outbox",
            "cancel",
            "pay-00000",
            "--reason",
            "paid twice at the counter",
        ])
        .assert()
        .success();
    night
        .cmd(&["outbox", "cancel", "pay-00001", "--reason", "x"])
        .assert()
        .code(1);
    let states: Vec<String> = night.items().into_iter().map(|i| i.1).collect();
    assert_eq!(states, vec!["cancelled", "posted"]);
    let journal = sbx.journal().len();
    night.sweep();
    assert_eq!(sbx.journal().len(), journal, "a cancelled item never goes");
}

/// Sends SIGKILL to a process.
fn kill9(pid: u32) {
    let ok = StdCommand::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -9 {pid}");
}

#[test]
fn a_sweep_killed_at_random_moments_loses_nothing_and_sends_nothing_twice() {
    // Answers take a little while, so a kill lands in every phase: before a
    // call, while it is out, after the answer but before the record. 10 ms,
    // so the sweep outlasts most kills however fast the binary is built (at
    // 2 ms an optimised build finished before the third kill).
    let sbx = SandboxProc::start("latency=10ms@always,lost@0.02");
    let night = Night::new(&sbx.url, "batch_size = 10");
    let n = 2000;
    night.ingest(&night.write("payments.csv", &payments(n)));
    night.ingest(&night.write("events.csv", &events(150)));
    let bin = assert_cmd::cargo::cargo_bin("daffron-bridge");
    let mut seed: u64 = 0x2661;
    let mut kills = 0;
    for _ in 0..6 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let wait = Duration::from_millis(30 + (seed >> 33) % 400);
        let mut child = StdCommand::new(&bin)
            .arg("--config")
            .arg(&night.config)
            .arg("--state")
            .arg(&night.state)
            .arg("sweep")
            .env("TEST_PUMP_PASSWORD", sandbox::PASSWORD)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while start.elapsed() < wait {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_none() {
            kill9(child.id());
            kills += 1;
        }
        let _ = child.wait();
    }
    assert!(
        kills >= 3,
        "the sweep ended before most kills ({kills}); make it longer"
    );
    let in_flight = night.items().iter().filter(|i| i.1 == "in_flight").count();
    night.sweep_until_settled(6);
    let items = night.items();
    assert!(
        items
            .iter()
            .all(|(_, s, _)| s == "posted" || s == "duplicate" || s == "skipped"),
        "{:?}",
        items
            .iter()
            .filter(|i| i.1 != "posted" && i.1 != "duplicate" && i.1 != "skipped")
            .collect::<Vec<_>>()
    );
    assert_exactly_once(&sbx, &payment_keys(n));
    // Comments: every autopay and scheduled event exactly once.
    let st = sbx.state();
    let comments: usize = st.accounts.values().map(|a| a.comments.len()).sum();
    assert_eq!(
        comments, 100,
        "150 events: 50 paperless, 50 autopay, 50 scheduled"
    );
    eprintln!("{kills} kills, {in_flight} items left in flight at the last kill");
}

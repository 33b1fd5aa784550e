//! The real `daffron-bridge sandbox` over loopback HTTP, for the tests that
//! talk to it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const PASSWORD: &str = "Sup3r-S3cret-Pw!";
pub const IC_KEY: &str = "IC-KEY-6f1d2c9e";
pub use super::GUID;

/// Accounts of the seed file and what the sandbox makes of them (digit-sum
/// rule of `sandbox::state::seed_flags`).
pub const NORMAL: &str = "12345-001"; // digit sum 16: plain
pub const PREPAID: &str = "35909-001"; // 27: prepaid
pub const CASH_ONLY: &str = "12345-003"; // 18: Cash Only
pub const NO_CARD: &str = "12345-004"; // 19: preventCreditCard
pub const BLOCK_CC: &str = "12345-010"; // 16, but CR BlockPaymentsCC = Y

/// A small valid BIF file with the accounts above.
pub fn write_seed(dir: &Path) -> PathBuf {
    let rows = [
        (NORMAL, "INV-1", "232.10", "10.50", "N"),
        (PREPAID, "INV-2", "15.00", "", "N"),
        (CASH_ONLY, "INV-3", "99.99", "99.99", "N"),
        (NO_CARD, "INV-4", "40.00", "0.00", "N"),
        (BLOCK_CC, "INV-5", "12.34", "", "Y"),
        (NORMAL, "INV-6", "7.90", "", "N"),
    ];
    let total: rust_decimal::Decimal = rows
        .iter()
        .map(|r| r.2.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    let mut s = format!("FH|{GUID}|11/26/2026|{}|{total}\n", rows.len());
    for (acct, inv, amt, past, block) in rows {
        let (base, sub) = acct.split_once('-').unwrap();
        s.push_str(&format!(
            "IH|R|BA1CEC36-997C-48E3-8406-437640EDFF84|{inv}|11/26/2026|12/15/2026|{amt}|{base}|{sub}|321045080002|BC1|{base}-12345|{past}\n"
        ));
        s.push_str(&format!("CR|{acct}|Jane Doe & Sons|1 Main St||Lowell|MA|01852|9785551234|jane@example.com|{block}|{acct}\n"));
        s.push_str("ID|Electric|100.00\n");
    }
    let p = dir.join("2661_11262026.BIF");
    std::fs::write(&p, s).unwrap();
    p
}

const STATE_FILE: &str = "sandbox-state.json";

/// Runs `daffron-bridge sandbox` on the files in `dir` and reads its URL;
/// `extra` goes on its command line as given.
fn spawn(dir: &Path, faults: &str, extra: &[String]) -> (Child, String) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("daffron-bridge"))
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--password-env",
            "SBX_PW",
            "--ic-key-env",
            "SBX_KEY",
            "--fault-seed",
            "42",
        ])
        .arg("--seed")
        .arg(dir.join("2661_11262026.BIF"))
        .arg("--journal")
        .arg(dir.join("journal.jsonl"))
        .arg("--state")
        .arg(dir.join(STATE_FILE))
        .args(["--faults", faults])
        .args(extra)
        .env("SBX_PW", PASSWORD)
        .env("SBX_KEY", IC_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}

/// A running `daffron-bridge sandbox` child; killed (by its pid) on drop.
pub struct SandboxProc {
    pub child: Child,
    pub url: String,
    pub journal: PathBuf,
    pub dir: tempfile::TempDir,
    /// Arguments added to the command line, kept for [`SandboxProc::restart`].
    extra: Vec<String>,
}

impl SandboxProc {
    /// Starts the real binary on 127.0.0.1:0 with a password, an IC key, a
    /// seed file, a journal, a state file and the given fault spec; reads
    /// the first line.
    pub fn start(faults: &str) -> SandboxProc {
        SandboxProc::start_with(faults, &[])
    }

    /// [`SandboxProc::start`] with more arguments, e.g.
    /// `["--without-method", "CommitPaymentTransaction"]`.
    pub fn start_with(faults: &str, extra: &[&str]) -> SandboxProc {
        let dir = tempfile::tempdir().unwrap();
        write_seed(dir.path());
        let journal = dir.path().join("journal.jsonl");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, url) = spawn(dir.path(), faults, &extra);
        SandboxProc {
            child,
            url,
            journal,
            dir,
            extra,
        }
    }

    /// The sandbox's `--state` snapshot (its log is this path + `.log`).
    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join(STATE_FILE)
    }

    /// Kills the child with SIGKILL, as a crash would, and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the child and starts the binary again on the same folder: the
    /// same state, journal and seed, on a new port.
    pub fn restart(&mut self, faults: &str) {
        self.kill();
        let (child, url) = spawn(self.dir.path(), faults, &self.extra);
        self.child = child;
        self.url = url;
    }

    /// GETs `path` of the running sandbox: status, Content-Type, body.
    pub fn get(&self, path: &str) -> (u16, String, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent.get(format!("{}{path}", self.url)).call().unwrap();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = r.body_mut().read_to_string().unwrap();
        (r.status().as_u16(), content_type, body)
    }

    /// The running sandbox's state, from `GET /_sandbox/state`.
    pub fn state(&self) -> daffron_bridge::sandbox::state::State {
        let (status, _, body) = self.get("/_sandbox/state");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    pub fn journal_text(&self) -> String {
        std::fs::read_to_string(&self.journal).unwrap_or_default()
    }

    pub fn journal(&self) -> Vec<serde_json::Value> {
        self.journal_text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("journal line {l:?}: {e}")))
            .collect()
    }

    /// Stops the child and returns everything it wrote (stdout rest + stderr).
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for SandboxProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A biller configuration pointing RTDR (settings 8/9/10) at `url`.
pub fn write_config(dir: &Path, url: &str, timeout_seconds: u64) -> PathBuf {
    super::write_config(
        dir,
        &format!(
            r#"[advanced_settings]
8 = "{url}/tbx-daily/services/CB"
9 = "InvoiceCloud"
10 = {{ env = "TEST_RTDR_PASSWORD" }}
35 = "2"

[pump]
timeout_seconds = {timeout_seconds}
"#
        ),
    )
}

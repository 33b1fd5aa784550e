//! Helpers shared by the integration tests (`mod support;`).
#![allow(dead_code)]

pub mod bif;
pub mod fake_http;
pub mod sandbox;
pub mod sshd;

use std::path::Path;

/// The demo biller's GUID; every test configuration uses it.
pub const GUID: &str = "3F358D04-4273-4551-BB14-B9F719EC0A61";
/// The demo biller's id: files are `2661_MMDDYYYY.BIF`.
pub const BID: u32 = 2661;

/// The binary under test with `--config` and `--state` set.
pub fn pull(config: &Path, state: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("daffron-bridge").expect("binary built");
    c.arg("--config")
        .arg(config)
        .arg("--state")
        .arg(state)
        .arg("pull");
    c
}

/// Sets a file's modification time `secs` seconds in the past.
pub fn age(path: &Path, secs: u64) {
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open to set mtime");
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(secs))
        .expect("set mtime");
}

/// Names in a folder (not recursing), sorted; empty when it does not exist.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Converts a path for a TOML string.
pub fn toml_path(p: &Path) -> String {
    p.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

/// Writes `daffron-bridge.toml` in `dir`: the demo biller's `[biller]`
/// section, then `sections` as given.
pub fn write_config(dir: &Path, sections: &str) -> std::path::PathBuf {
    let p = dir.join("daffron-bridge.toml");
    let text = format!(
        "[biller]\nbid = {BID}\nname = \"Lowell Light & Power\"\nguid = \"{GUID}\"\n\n{sections}"
    );
    std::fs::write(&p, text).expect("write the test configuration");
    p
}

/// `[advanced_settings]` lines pointing the MultiSpeak endpoints `urls`
/// (among settings 8, 11, 14, 17) at `url`, each with its user (the next
/// setting: `InvoiceCloud`) and its password (the one after: the variable
/// `password_env`).
pub fn endpoints(url: &str, urls: &[u32], password_env: &str) -> String {
    urls.iter()
        .map(|n| {
            format!(
                "{n} = \"{url}\"\n{} = \"InvoiceCloud\"\n{} = {{ env = \"{password_env}\" }}\n",
                n + 1,
                n + 2
            )
        })
        .collect()
}

/// A command's stdout as JSON, or a panic showing what it was.
pub fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

/// A loopback port nothing listens on (bound, then released): a server that
/// is down.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

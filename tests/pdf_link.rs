//! `pdf-link FILE [--invoice N]` end to end (D17, settings 20/119/131).

use assert_cmd::Command;
use predicates::prelude::*;

const CONFIG: &str = "samples/daffron-bridge.toml";
const GOOD: &str = "samples/outbound/2661_11262026.BIF";
const BROKEN: &str = "samples/broken/2661_11252026.BIF";

fn bin(config: &str) -> Command {
    let mut c = Command::cargo_bin("daffron-bridge").unwrap();
    c.arg("--config").arg(config);
    c
}

#[test]
fn every_invoice_gets_a_version_4_link_unless_custom9_forces_2() {
    let out = bin(CONFIG)
        .args(["pdf-link", GOOD])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 300);
    let (mut v4, mut v2) = (0, 0);
    for l in &lines {
        let (inv, url) = l.split_once(' ').unwrap();
        assert!(!inv.is_empty());
        assert!(
            url.starts_with("http://127.0.0.1:8086/eprint/?PROCESSING_TYPE=HISTORY&ACCT="),
            "{url}"
        );
        if url.ends_with("&LDMO=202611&PRINT_FORM=TRUE") {
            v4 += 1;
        } else {
            assert!(url.contains("&BCTR=") && !url.contains("LDMO"), "{url}");
            v2 += 1;
        }
        // BCTR is the part of Custom10 after the dash (setting 131).
        let bctr = url
            .split("BCTR=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        assert!(bctr.bytes().all(|b| b.is_ascii_digit()), "{url}");
    }
    assert!(v4 > 250 && v2 > 0, "v4 {v4}, v2 {v2} (EBIL in Custom9)");
}

#[test]
fn one_invoice_as_json() {
    let out = bin(CONFIG)
        .args([
            "pdf-link",
            "--format",
            "json",
            "--invoice",
            "1000000259773",
            GOOD,
        ])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let links = j["links"].as_array().unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["invoice"], "1000000259773");
    assert_eq!(links[0]["account"], "10000-002");
    assert_eq!(links[0]["version"], 4);
    assert_eq!(
        links[0]["url"],
        "http://127.0.0.1:8086/eprint/?PROCESSING_TYPE=HISTORY&ACCT=10000&SUB=002&BCTR=59773&LDMO=202611&PRINT_FORM=TRUE"
    );
}

#[test]
fn unknown_invoice_invalid_file_and_missing_setting() {
    bin(CONFIG)
        .args(["pdf-link", "--invoice", "nope", GOOD])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invoice nope is not in"));
    bin(CONFIG)
        .args(["pdf-link", BROKEN])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[biller]\nbid = 2661\nname = \"x\"\nguid = \"3F358D04-4273-4551-BB14-B9F719EC0A61\"\n[advanced_settings]\n119 = \"1\"\n",
    )
    .unwrap();
    bin(cfg.to_str().unwrap())
        .args(["pdf-link", GOOD])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("setting 20"));
    // Version 1 from a configuration with setting 20 and 119 = 1.
    std::fs::write(
        &cfg,
        "[biller]\nbid = 2661\nname = \"x\"\nguid = \"3F358D04-4273-4551-BB14-B9F719EC0A61\"\n[advanced_settings]\n20 = \"https://pdf.example/eprint/\"\n119 = \"1\"\n",
    )
    .unwrap();
    bin(cfg.to_str().unwrap())
        .args(["pdf-link", "--invoice", "1000000259773", GOOD])
        .assert()
        .code(0)
        .stdout("1000000259773 https://pdf.example/eprint/?PROCESSING_TYPE=HISTORY&ACCT=10000&SUB=002\n");
}

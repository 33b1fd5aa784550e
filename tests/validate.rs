//! `validate` end to end: the real binary on real files, and the library's
//! promise that the verdict does not depend on how a file is cut into chunks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use daffron_bridge::bif::validate::{ValidateOptions, validate_bytes, validate_path};
use daffron_bridge::bif::{Code, FileReport, Layout};
use daffron_bridge::config::Config;
use predicates::prelude::*;

const CONFIG: &str = "samples/daffron-bridge.toml";
const GOOD: &str = "samples/outbound/2661_11262026.BIF";
const BROKEN: &str = "samples/broken/2661_11252026.BIF";

fn bin() -> Command {
    let mut c = Command::cargo_bin("daffron-bridge").unwrap();
    c.arg("--config").arg(CONFIG);
    c
}

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

fn opts() -> ValidateOptions {
    let c = Config::load(Path::new(CONFIG)).unwrap();
    ValidateOptions::from_config(&c)
}

#[test]
fn the_sample_file_is_valid() {
    bin()
        .args(["validate", GOOD])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "2661_11262026.BIF: valid, 300 invoices, total 56055.34, 0 errors, 0 warnings",
        ));
}

#[test]
fn json_output_is_one_object_shaped_like_the_contract() {
    let out = bin()
        .args(["validate", "--format", "json", "--checksum", GOOD, BROKEN])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let j = json(&out);
    let files = j["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["path"], GOOD);
    assert_eq!(files[0]["valid"], true);
    assert_eq!(files[0]["invoices"], 300);
    assert_eq!(files[0]["total_amount"], "56055.34");
    assert_eq!(files[0]["errors"].as_array().unwrap().len(), 0);
    assert_eq!(files[0]["sha256"].as_str().unwrap().len(), 64);
    let e = &files[1]["errors"][0];
    for key in ["line", "record", "field", "code", "value", "message"] {
        assert!(e.get(key).is_some(), "{key} missing in {e}");
    }
    assert_eq!(j["stats"]["files"], 2);
    assert_eq!(j["valid"], false);
}

/// The SHA-256 is opt-in (`--checksum`): left out of the report by default,
/// and when asked for it is the file's real digest, whichever path (whole or
/// streamed) read the file.
#[test]
fn checksum_is_opt_in_and_exact() {
    use sha2::{Digest, Sha256};
    let out = bin()
        .args(["validate", "--format", "json", GOOD])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let j = json(&out);
    assert!(j["files"][0].get("sha256").is_none(), "{j}");
    let want = format!("{:x}", Sha256::digest(std::fs::read(GOOD).unwrap()));
    let out = bin()
        .args(["validate", "--format", "json", "--checksum", GOOD])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert_eq!(json(&out)["files"][0]["sha256"], want.as_str());
    let layout = Layout::embedded();
    for (block, whole_max) in [(4096, 0), (1 << 20, 0), (4096, u64::MAX)] {
        let o = ValidateOptions {
            checksum: true,
            block_size: block,
            read_whole_max: whole_max,
            ..opts()
        };
        let r = validate_path(Path::new(GOOD), &layout, &o).unwrap();
        assert_eq!(r.sha256, want, "block {block}, whole max {whole_max}");
        assert!(r.valid);
    }
}

/// Every code the broken sample is documented to trip.
#[test]
fn the_broken_sample_trips_every_content_code() {
    let out = bin()
        .args(["validate", "--format", "json", BROKEN])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let j = json(&out);
    let f = &j["files"][0];
    let mut seen = BTreeSet::new();
    for list in ["errors", "warnings"] {
        for i in f[list].as_array().unwrap() {
            seen.insert(i["code"].as_str().unwrap().to_string());
        }
    }
    // Not content codes: about the name, an empty or binary file, a 1 MiB
    // line, and a text minimum the embedded layout never sets above 1. Each
    // is tested below, in unit tests or in tests/hardening.rs.
    let elsewhere = [
        Code::BadFileName,
        Code::EmptyFile,
        Code::BinaryFile,
        Code::LineTooLong,
        Code::TextTooShort,
    ];
    for c in Code::ALL {
        if !elsewhere.contains(c) {
            assert!(seen.contains(c.as_str()), "{} not tripped", c.as_str());
        }
    }
}

#[test]
fn the_file_name_must_match_the_configured_bid() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "2662_11262026.BIF",
        "2661-11262026.BIF",
        "2661_11262026.csv",
    ] {
        let p = dir.path().join(name);
        std::fs::copy(GOOD, &p).unwrap();
        bin()
            .arg("validate")
            .arg(&p)
            .assert()
            .code(1)
            .stdout(predicate::str::contains("bad_file_name"));
    }
    let p = dir.path().join("2661_11262026.bif");
    std::fs::copy(GOOD, &p).unwrap();
    bin().arg("validate").arg(&p).assert().code(0);
}

#[test]
fn empty_and_giant_line_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("2661_11262026.BIF");
    std::fs::write(&empty, b"\r\n  \n").unwrap();
    bin()
        .arg("validate")
        .arg(&empty)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("empty_file"));
    // Rows, but none a BIF record: not a BIF file, and not "empty".
    std::fs::write(&empty, b"garbage\nmore|garbage\n").unwrap();
    bin()
        .arg("validate")
        .arg(&empty)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("unknown_record"))
        .stdout(predicate::str::contains("missing_header"))
        .stdout(predicate::str::contains("empty_file").not());
    let long = dir.path().join("2661_11252026.BIF");
    let mut bytes = b"FH|3F358D04-4273-4551-BB14-B9F719EC0A61|11/25/2026|0|0\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'|', 3 << 20));
    bytes.push(b'\n');
    std::fs::write(&long, &bytes).unwrap();
    bin()
        .arg("validate")
        .arg(&long)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(":2: line_too_long"));
}

#[test]
fn unreadable_file_is_exit_2_and_others_still_report() {
    bin()
        .args(["validate", GOOD, "no/such/2661_11262026.BIF"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("valid, 300 invoices"))
        .stderr(predicate::str::contains(
            "cannot read no/such/2661_11262026.BIF",
        ));
}

#[test]
fn max_errors_caps_the_list_but_counts_all() {
    let out = bin()
        .args(["validate", "--format", "json", "--max-errors", "2", BROKEN])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let j = json(&out);
    let f = &j["files"][0];
    assert_eq!(f["errors"].as_array().unwrap().len(), 2);
    assert_eq!(f["errors"][0]["line"], 1, "the first ones, in file order");
    assert_eq!(f["error_count"], 31);
    assert_eq!(f["warning_count"], 4);
    bin()
        .args(["validate", "--max-errors", "2", BROKEN])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("showing 4 of 35 issues"));
}

#[test]
fn text_lines_name_file_line_record_field() {
    bin()
        .args(["validate", BROKEN])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "samples/broken/2661_11252026.BIF:5: IH InvoiceDate (field 5): bad_date: \"13/01/2026\" is not a date in %m/%d/%Y",
        ))
        .stdout(predicate::str::contains(
            "samples/broken/2661_11252026.BIF: INVALID, 7 invoices, total 71.00, 31 errors, 4 warnings",
        ));
}

#[test]
fn bad_configuration_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[biller]\nbid = 1\nname = \"x\"\nguid = \"nope\"\n").unwrap();
    Command::cargo_bin("daffron-bridge")
        .unwrap()
        .arg("--config")
        .arg(&cfg)
        .args(["validate", GOOD])
        .assert()
        .code(2);
}

fn same(a: &FileReport, b: &FileReport, what: &str) {
    assert_eq!(a.errors, b.errors, "{what}: errors");
    assert_eq!(a.warnings, b.warnings, "{what}: warnings");
    assert_eq!(
        (
            a.error_count,
            a.warning_count,
            a.invoices,
            a.total_amount,
            a.lines,
            a.rows
        ),
        (
            b.error_count,
            b.warning_count,
            b.invoices,
            b.total_amount,
            b.lines,
            b.rows
        ),
        "{what}: numbers"
    );
    assert_eq!(a.sha256, b.sha256, "{what}: sha256");
}

/// The verdict is the same however the file is cut: every chunk size on
/// the broken sample (each row edge lands on a chunk edge), in memory and
/// streamed from disk.
#[test]
fn chunk_edges_never_change_the_verdict() {
    let layout = Layout::embedded();
    let bytes = std::fs::read(BROKEN).unwrap();
    let whole = validate_bytes(BROKEN, &bytes, &layout, &opts());
    for size in 1..bytes.len() + 2 {
        let o = ValidateOptions {
            block_size: size,
            ..opts()
        };
        same(
            &whole,
            &validate_bytes(BROKEN, &bytes, &layout, &o),
            &format!("block {size}"),
        );
    }
    for size in [1, 7, 64, 100, 333, 4096] {
        let o = ValidateOptions {
            block_size: size,
            read_whole_max: 0,
            ..opts()
        };
        let streamed = validate_path(Path::new(BROKEN), &layout, &o).unwrap();
        same(&whole, &streamed, &format!("streamed {size}"));
    }
}

/// The same on the realistic sample with problems spread over it, so that
/// duplicates, missing CRs and account checks cross chunk edges.
#[test]
fn chunk_edges_on_a_large_file_with_spread_problems() {
    let layout = Layout::embedded();
    let text = String::from_utf8(std::fs::read(GOOD).unwrap()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // A duplicate invoice far from its twin, a lost CR, a wrong account, an
    // orphan ID at a few places.
    let ih: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("IH|"))
        .collect();
    let first_ih = lines[ih[0]].clone();
    lines[ih[250]] = first_ih;
    lines[ih[100] + 1] = "ID|LOST CR|1.00".into();
    let cr = ih[200] + 1;
    lines[cr] = lines[cr].replacen("-00", "-90", 1);
    lines.insert(ih[50], "ID|ORPHAN|1.00".into());
    let bytes = lines.join("\r\n").into_bytes();
    let name = "2661_11262026.BIF";
    let whole = validate_bytes(name, &bytes, &layout, &opts());
    let codes: BTreeSet<&str> = whole.errors.iter().map(|e| e.code.as_str()).collect();
    for c in [
        "duplicate_invoice",
        "orphan_record",
        "missing_customer",
        "account_mismatch",
    ] {
        assert!(codes.contains(c), "{c} in {codes:?}");
    }
    for size in [1, 50, 97, 256, 1000, 4093, 10_000, 65_536] {
        let o = ValidateOptions {
            block_size: size,
            ..opts()
        };
        same(
            &whole,
            &validate_bytes(name, &bytes, &layout, &o),
            &format!("block {size}"),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let p: PathBuf = dir.path().join(name);
    std::fs::write(&p, &bytes).unwrap();
    let o = ValidateOptions {
        block_size: 997,
        read_whole_max: 0,
        ..opts()
    };
    let mut streamed = validate_path(&p, &layout, &o).unwrap();
    streamed.path = whole.path.clone();
    for i in streamed.errors.iter().chain(&streamed.warnings) {
        assert!(i.line.is_some() || i.code == Code::BadFileName);
    }
    same(&whole, &streamed, "streamed 997");
}

/// A valid file of `n` invoices whose ID descriptions are `desc(i)`.
fn file_with_descriptions(n: usize, desc: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
    const GUID: &str = "3F358D04-4273-4551-BB14-B9F719EC0A61";
    let mut out = format!("FH|{GUID}|11/26/2026|{n}|{}.00\n", n).into_bytes();
    for i in 0..n {
        out.extend(
            format!(
                "IH|R|{GUID}|{}|11/20/2026|12/10/2026|1.00|{i}|001|||{i}-1\nCR|{i}-001|X\nID|",
                1000 + i
            )
            .bytes(),
        );
        out.extend(desc(i));
        out.extend(b"|1.00\n");
    }
    out
}

/// Text lengths are characters, not bytes, on rows with UTF-8 text, wherever
/// the multi-byte characters fall against the scanner's 64-byte blocks and
/// the chunk edges; Windows-1252 bytes count one each and are warned about.
#[test]
fn text_lengths_count_characters_wherever_the_row_falls() {
    let layout = Layout::embedded();
    let name = "2661_11262026.BIF";
    // ID Description is text:1..100. 60 `é` are 120 bytes but 60 characters;
    // the ASCII padding before them moves them across block edges.
    let utf8 = file_with_descriptions(70, |i| {
        let mut d = "a".repeat(i % 64).into_bytes();
        d.extend("é".repeat(60 - (i % 64).min(40)).bytes());
        d
    });
    for size in [1, 63, 64, 65, 500, 4096, 1 << 20] {
        let o = ValidateOptions {
            block_size: size,
            ..opts()
        };
        let r = validate_bytes(name, &utf8, &layout, &o);
        assert!(r.valid, "block {size}: {:?}", r.errors.first());
        assert_eq!(r.warning_count, 0, "block {size}");
    }
    // 101 characters in 202 bytes: too long. 100 Windows-1252 bytes: fine,
    // with a warning; 101: too long.
    let mixed = file_with_descriptions(6, |i| match i {
        1 => "é".repeat(101).into_bytes(),
        3 => vec![0xE9; 100],
        5 => vec![0xE9; 101],
        _ => "é".repeat(100).into_bytes(),
    });
    let whole = validate_bytes(name, &mixed, &layout, &opts());
    let errs: Vec<(u64, &str)> = whole
        .errors
        .iter()
        .map(|e| (e.line.unwrap_or(0), e.code.as_str()))
        .collect();
    assert_eq!(errs, vec![(7, "text_too_long"), (19, "text_too_long")]);
    let warns: Vec<(u64, &str)> = whole
        .warnings
        .iter()
        .map(|e| (e.line.unwrap_or(0), e.code.as_str()))
        .collect();
    assert_eq!(
        warns,
        vec![(13, "cp1252_encoding"), (19, "cp1252_encoding")]
    );
    for size in [1, 37, 64, 128, 1000] {
        let o = ValidateOptions {
            block_size: size,
            ..opts()
        };
        same(
            &whole,
            &validate_bytes(name, &mixed, &layout, &o),
            &format!("block {size}"),
        );
    }
}

mod hostile_edits {
    use super::*;
    use proptest::prelude::*;

    /// Bytes that change how a row is read: padding, tabs, delimiters,
    /// line ends, UTF-8 and Windows-1252 letters, a lower-case row type.
    fn edit() -> impl Strategy<Value = (usize, Vec<u8>)> {
        let piece = prop_oneof![
            Just(b" ".to_vec()),
            Just(b"        ".to_vec()),
            Just(b"\t".to_vec()),
            Just(b"|".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just("é".as_bytes().to_vec()),
            Just(vec![0xE9]),
            Just(b"ih".to_vec()),
            Just(b"ID|X|1.00\n".to_vec()),
            Just(b"-".to_vec()),
            Just(b"..".to_vec()),
        ];
        (any::<usize>(), piece)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever is inserted where, the verdict is the same whole, in
        /// pieces of any size and streamed.
        #[test]
        fn chunk_edges_never_change_the_verdict_on_edited_files(
            edits in proptest::collection::vec(edit(), 1..12),
            size in 1usize..3000,
        ) {
            let mut bytes = std::fs::read(GOOD).unwrap();
            bytes.truncate(6000);
            for (at, piece) in &edits {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, piece.iter().copied());
            }
            let layout = Layout::embedded();
            let name = "2661_11262026.BIF";
            let whole = validate_bytes(name, &bytes, &layout, &opts());
            let o = ValidateOptions { block_size: size, ..opts() };
            same(&whole, &validate_bytes(name, &bytes, &layout, &o), "pieces");
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join(name);
            std::fs::write(&p, &bytes).unwrap();
            let o = ValidateOptions { block_size: size, read_whole_max: 0, ..opts() };
            let mut streamed = validate_path(&p, &layout, &o).unwrap();
            streamed.path = whole.path.clone();
            same(&whole, &streamed, "streamed");
        }
    }
}

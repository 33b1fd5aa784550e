//! Hardening (hostile answers, lost answers, personal data, oversized and
//! binary files, terminals and logs), each through the real binary.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use support::fake_http::{FakeServer, Reply, fault, upload_answer};

fn bin() -> Command {
    Command::cargo_bin("daffron-bridge").unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// No byte that a terminal would act on: ESC, other C0 controls but the
/// newline, DEL, C1 controls.
fn assert_no_control(what: &str, s: &str) {
    let bad: Vec<char> = s
        .chars()
        .filter(|&c| (c.is_control() && c != '\n') || ('\u{80}'..='\u{9f}').contains(&c))
        .collect();
    assert!(bad.is_empty(), "{what} holds raw {bad:?}:\n{s:?}");
}

// ---- 10: logs fit where they go ---------------------------------------------

#[test]
fn logs_have_no_colour_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // An inline secret is warned about on every command: a log line.
    let cfg = support::write_config(
        dir.path(),
        "[invoicecloud]\nupload_url = \"http://127.0.0.1:9/x\"\nweb_service_key = \"inline-key\"\n",
    );
    let file = dir.path().join("2661_11262026.BIF");
    std::fs::write(&file, support::bif::valid(2)).unwrap();
    for no_color in [None, Some("1")] {
        let mut c = bin();
        c.arg("--config").arg(&cfg).arg("validate").arg(&file);
        match no_color {
            Some(v) => c.env("NO_COLOR", v),
            None => c.env_remove("NO_COLOR"),
        };
        let out = c.output().unwrap();
        let err = text(&out.stderr);
        assert!(err.contains("written inline"), "no warning logged: {err}");
        assert!(!err.contains('\x1b'), "ANSI escapes in a log file: {err:?}");
    }
}

// ---- 9: nothing from outside reaches the terminal raw ------------------------

#[test]
fn validate_of_a_binary_file_says_so_and_stops_early() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("2661_11262026.BIF");
    // 256 KiB of every byte value, as a zip or an image would be.
    let bytes: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &bytes).unwrap();
    let out = bin().arg("validate").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("not a BIF"), "{stdout}");
    assert!(stdout.contains("binary_file"), "{stdout}");
    assert!(stdout.len() < 1024, "{} bytes printed", stdout.len());
    assert_no_control("validate's output", &stdout);

    let out = bin()
        .args(["validate", "--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    let v = support::json(&out.stdout);
    assert_eq!(v["files"][0]["valid"], false);
    assert_eq!(v["files"][0]["errors"][0]["code"], "binary_file", "{v}");
    assert_eq!(v["files"][0]["error_count"], 1, "{v}");
}

#[test]
fn control_bytes_in_a_bif_file_are_escaped_in_validates_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("2661_11262026.BIF");
    let good = support::bif::valid(2);
    // An escape sequence that would clear the screen, in a date field.
    let bad = good.replacen("|11/26/2026|", "|\x1b[2J\x1b[31m|", 1);
    assert_ne!(good, bad);
    std::fs::write(&file, bad).unwrap();
    let out = bin().arg("validate").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\\u{1b}[2J"), "{stdout}");
    assert_no_control("validate's output", &stdout);
}

#[test]
fn a_remote_file_name_with_control_bytes_is_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let outbound = dir.path().join("outbound");
    std::fs::create_dir_all(&outbound).unwrap();
    std::fs::write(outbound.join("2661_11262026.BIF\x1b[2J"), "x").unwrap();
    let cfg = support::write_config(dir.path(), "[dropbox]\ndir = \"outbound\"\n");
    let out = support::pull(&cfg, &dir.path().join("s.sqlite"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("refused"), "{stdout}");
    assert_no_control("pull's output", &stdout);
    assert_no_control("pull's log", &text(&out.stderr));
}

fn upload_config(dir: &Path, url: &str, extra: &str) -> PathBuf {
    support::write_config(
        dir,
        &format!(
            "[invoicecloud]\nupload_url = \"{url}/portal/webservices/CloudInvoicing.asmx\"\n\
             web_service_key = {{ env = \"TEST_IC_KEY\" }}\n{extra}\n\
             [pump]\ntimeout_seconds = 5\ncall_tries = 3\nretry_pause_ms = 1\n"
        ),
    )
}

fn upload(dir: &Path, cfg: &Path) -> Command {
    let mut c = bin();
    c.arg("--config")
        .arg(cfg)
        .arg("--state")
        .arg(dir.join("state.sqlite"))
        .arg("upload")
        .env("TEST_IC_KEY", "k-123");
    c
}

fn bif_file(dir: &Path) -> PathBuf {
    let p = dir.join("2661_11262026.BIF");
    std::fs::write(&p, support::bif::valid(3)).unwrap();
    p
}

#[test]
fn a_servers_fault_text_is_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(vec![Reply::Answer(
        500,
        fault("key refused&#x1b;[2J&#x1b;]0;pwned&#7;&#x9b;31m"),
    )]);
    let cfg = upload_config(dir.path(), &server.url, "");
    let out = upload(dir.path(), &cfg)
        .arg(bif_file(dir.path()))
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("key refused"), "{stdout}");
    assert_no_control("upload's output", &stdout);
    assert_no_control("upload's log", &text(&out.stderr));
}

// ---- 6: server numbers cannot crash anything ----------------------------------

#[test]
fn amounts_that_overflow_when_summed_are_an_unusable_answer_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let max = "79228162514264337593543950335";
    let item = format!(
        "<payableItem objectID=\"1\"><pastDueAmount>{max}</pastDueAmount><currentAmount>{max}</currentAmount></payableItem>"
    );
    let body = format!(
        r#"<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetPayableItemsListResponse xmlns="http://www.multispeak.org/Version_3.0"><GetPayableItemsListResult>{item}{item}</GetPayableItemsListResult></GetPayableItemsListResponse></soap:Body></soap:Envelope>"#
    );
    let server = FakeServer::start(vec![Reply::Answer(200, body)]);
    let cfg = support::write_config(
        dir.path(),
        &format!(
            "[advanced_settings]\n8 = \"{}/cb\"\n9 = \"u\"\n10 = {{ env = \"P\" }}\n",
            server.url
        ),
    );
    let out = bin()
        .arg("--config")
        .arg(&cfg)
        .args(["balance", "12345-001"])
        .env("P", "pw")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("overflow"), "{err}");
}

// ---- 4: personal data is private ----------------------------------------------

/// Every file and folder under `root` (not `root` itself), skipping `skip`.
fn walk(root: &Path, skip: &[&Path], out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if skip.iter().any(|s| p == *s) {
            continue;
        }
        out.push(p.clone());
        if p.is_dir() {
            walk(&p, skip, out);
        }
    }
}

#[test]
fn everything_a_run_creates_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples");
    let outbound = samples.join("outbound");
    let exports = samples.join("exports");
    std::fs::create_dir_all(&outbound).unwrap();
    std::fs::create_dir_all(&exports).unwrap();
    let good = outbound.join("2661_11262026.BIF");
    std::fs::write(&good, support::bif::valid(4)).unwrap();
    let bad = outbound.join("2661_11252026.BIF");
    std::fs::write(&bad, support::bif::bad_date()).unwrap();
    for f in [&good, &bad] {
        support::age(f, 120);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["payments.csv", "events.csv"] {
        std::fs::copy(repo.join("samples/exports").join(f), exports.join(f)).unwrap();
    }
    // What a scheduler's shell usually has: group and others may read.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$0\" run")
        .arg(assert_cmd::cargo::cargo_bin("daffron-bridge"))
        .current_dir(dir.path())
        .env_remove("IC_WEB_SERVICE_KEY")
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let mut created = Vec::new();
    walk(dir.path(), &[&samples], &mut created);
    let names: Vec<String> = created
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    // The night made its state, inbox, quarantine, archive and sandbox state.
    for want in [
        "demo/daffron-bridge.sqlite",
        "demo/reports",
        "demo/inbox/2661_11262026.BIF",
        "demo/quarantine/2661_11252026.BIF",
        "demo/quarantine/2661_11252026.BIF.errors.txt",
        "demo/archive",
        "demo/sandbox-state.json",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let mut wrong = Vec::new();
    for p in &created {
        let meta = std::fs::symlink_metadata(p).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        if mode != want {
            wrong.push(format!("{} {:o}", p.display(), mode));
        }
    }
    assert!(wrong.is_empty(), "not private: {wrong:#?}");
}

// ---- 2: an invoice file is never silently uploaded twice -----------------------

fn upload_json(
    dir: &Path,
    cfg: &Path,
    file: &Path,
    args: &[&str],
) -> (Option<i32>, serde_json::Value) {
    let out = upload(dir, cfg)
        .args(args)
        .arg(file)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v = support::json(&out.stdout);
    (out.status.code(), v)
}

#[test]
fn sent_without_an_answer_is_unknown_never_resent_by_itself_and_settled_by_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(vec![
        Reply::CloseAfterRequest,
        Reply::Answer(200, upload_answer(true, "queued")),
    ]);
    let cfg = upload_config(dir.path(), &server.url, "");
    let file = bif_file(dir.path());

    let (code, v) = upload_json(dir.path(), &cfg, &file, &[]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["files"][0]["outcome"], "unknown", "{v}");
    assert_eq!(
        server.requests(),
        1,
        "the request went out once, never retried"
    );
    let msg = v["files"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("upload --again") && msg.contains("upload --confirm"),
        "{msg}"
    );

    // Again, and as `run` would: shown, not sent.
    let (code, v) = upload_json(dir.path(), &cfg, &file, &[]);
    assert_eq!(
        (code, &v["files"][0]["outcome"]),
        (Some(1), &"unknown".into()),
        "{v}"
    );
    assert_eq!(server.requests(), 1);

    // The person checked the portal: not there. --again sends it.
    let (code, v) = upload_json(dir.path(), &cfg, &file, &["--again"]);
    assert_eq!(
        (code, &v["files"][0]["outcome"]),
        (Some(0), &"uploaded".into()),
        "{v}"
    );
    assert_eq!(server.requests(), 2);
    let (code, v) = upload_json(dir.path(), &cfg, &file, &[]);
    assert_eq!(
        (code, &v["files"][0]["outcome"]),
        (Some(0), &"already_uploaded".into()),
        "{v}"
    );
    assert_eq!(server.requests(), 2);
}

#[test]
fn a_crash_while_the_request_is_out_leaves_it_unknown_not_resent() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(vec![
        Reply::Hang,
        Reply::Answer(200, upload_answer(true, "queued")),
    ]);
    let cfg = upload_config(dir.path(), &server.url, "");
    let file = bif_file(dir.path());
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("daffron-bridge"))
        .arg("--config")
        .arg(&cfg)
        .arg("--state")
        .arg(dir.path().join("state.sqlite"))
        .arg("upload")
        .arg(&file)
        .env("TEST_IC_KEY", "k-123")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while server.requests() == 0 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "no request"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no chance to write anything more
    child.wait().unwrap();

    let (code, v) = upload_json(dir.path(), &cfg, &file, &[]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["files"][0]["outcome"], "unknown", "{v}");
    let msg = v["files"][0]["message"].as_str().unwrap();
    assert!(msg.contains("stopped while the request was out"), "{msg}");
    assert_eq!(server.requests(), 1, "resent after a crash");

    // The person confirms InvoiceCloud has it: settled without sending.
    let (code, v) = upload_json(dir.path(), &cfg, &file, &["--confirm"]);
    assert_eq!(code, Some(0), "{v}");
    let (code, v) = upload_json(dir.path(), &cfg, &file, &[]);
    assert_eq!(
        (code, &v["files"][0]["outcome"]),
        (Some(0), &"already_uploaded".into()),
        "{v}"
    );
    assert_eq!(server.requests(), 1);
}

#[test]
fn http_401_403_404_are_configuration_and_the_file_stays_pending() {
    for status in [401u16, 403, 404] {
        let dir = tempfile::tempdir().unwrap();
        let server = FakeServer::start(vec![
            Reply::Answer(status, "nope".into()),
            Reply::Answer(200, upload_answer(true, "queued")),
        ]);
        let cfg = upload_config(dir.path(), &server.url, "");
        let file = bif_file(dir.path());
        let (code, v) = upload_json(dir.path(), &cfg, &file, &[]);
        assert_eq!(code, Some(2), "{status}: {v}");
        assert_eq!(v["files"][0]["outcome"], "configuration", "{status}: {v}");
        assert_eq!(server.requests(), 1);
        // Fixed (here: the server now answers): sent without --again.
        let (code, v) = upload_json(dir.path(), &cfg, &file, &[]);
        assert_eq!(
            (code, &v["files"][0]["outcome"]),
            (Some(0), &"uploaded".into()),
            "{status}: {v}"
        );
        assert_eq!(server.requests(), 2);
    }
}

#[test]
fn connection_refused_is_retried_and_left_pending() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = upload_config(
        dir.path(),
        &format!("http://127.0.0.1:{}", support::closed_port()),
        "",
    );
    let file = bif_file(dir.path());
    let (code, v) = upload_json(dir.path(), &cfg, &file, &[]);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["files"][0]["outcome"], "failed", "{v}");
    assert_eq!(v["files"][0]["attempts"], 3, "{v}");
}

#[test]
fn upload_takes_the_lock_run_holds() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::start(vec![Reply::Answer(200, upload_answer(true, "queued"))]);
    let cfg = upload_config(dir.path(), &server.url, "");
    let file = bif_file(dir.path());
    let state = dir.path().join("state.sqlite");
    let held = daffron_bridge::store::StateLock::pull(&state).unwrap();
    let out = upload(dir.path(), &cfg).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("another"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(server.requests(), 0);
    drop(held);
    upload(dir.path(), &cfg).arg(&file).assert().success();
    assert_eq!(server.requests(), 1);
}

// ---- 8: no credentials in clear text by accident; a private CA -----------------

/// A CA and a server certificate for 127.0.0.1 signed by it, made with the
/// openssl command: (ca.pem, server cert, server key).
fn make_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (scripts/install-deps.sh installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            text(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=daffron-bridge test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// A FakeServer speaking TLS with `cert` and `key`.
fn tls_server(script: Vec<Reply>, cert: &Path, key: &Path) -> FakeServer {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let config = std::sync::Arc::new(config);
    let mut server = FakeServer::start_with(script, move |tcp| {
        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
        Box::new(rustls::StreamOwned::new(conn, tcp))
    });
    server.url = server.url.replace("http://", "https://");
    server
}

fn payable_answer() -> String {
    let item = "<payableItem objectID=\"1\"><pastDueAmount>1.50</pastDueAmount><currentAmount>10.00</currentAmount></payableItem>";
    format!(
        r#"<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetPayableItemsListResponse xmlns="http://www.multispeak.org/Version_3.0"><GetPayableItemsListResult>{item}</GetPayableItemsListResult></GetPayableItemsListResponse></soap:Body></soap:Envelope>"#
    )
}

fn balance(cfg: &Path) -> std::process::Output {
    bin()
        .arg("--config")
        .arg(cfg)
        .args(["balance", "12345-001", "--format", "json"])
        .env("P", "pw")
        .output()
        .unwrap()
}

#[test]
fn a_daffron_server_with_a_private_ca_is_trusted_only_through_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_ca(dir.path());
    let server = tls_server(vec![Reply::Answer(200, payable_answer())], &cert, &key);
    let settings = format!(
        "[advanced_settings]\n8 = \"{}/cb\"\n9 = \"u\"\n10 = {{ env = \"P\" }}\n",
        server.url
    );

    // Without ca_file the built-in roots do not know the CA: refused before
    // anything (the password) is sent.
    let cfg = support::write_config(dir.path(), &settings);
    let out = balance(&cfg);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("TLS") && err.contains("ca_file"), "{err}");
    assert_eq!(server.requests(), 0);
    // doctor names it a certificate to fix (configuration), not a server to
    // wait for.
    let out = bin()
        .arg("--config")
        .arg(&cfg)
        .args(["doctor", "--format", "json"])
        .env("P", "pw")
        .output()
        .unwrap();
    let checks = support::json(&out.stdout)["checks"].clone();
    let tls: Vec<_> = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"].as_str().unwrap_or("").starts_with("multispeak."))
        .filter(|c| c["status"] != "ok")
        .collect();
    assert!(
        !tls.is_empty()
            && tls.iter().all(|c| c["status"] == "config")
            && tls
                .iter()
                .any(|c| c["message"].as_str().unwrap_or("").contains("TLS")),
        "{checks}"
    );
    assert_eq!(server.requests(), 0);

    // With it, the answer is read.
    let cfg = support::write_config(
        dir.path(),
        &format!(
            "{settings}\n[daffron]\nca_file = \"{}\"\n",
            support::toml_path(&ca)
        ),
    );
    let out = balance(&cfg);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(support::json(&out.stdout)["balance_due"], "10.00");
    assert_eq!(server.requests(), 1);

    // A ca_file that is not PEM is a configuration error.
    std::fs::write(dir.path().join("bad.pem"), "not a certificate").unwrap();
    let cfg = support::write_config(
        dir.path(),
        &format!("{settings}\n[daffron]\nca_file = \"bad.pem\"\n"),
    );
    let out = balance(&cfg);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ca_file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn plain_http_to_another_host_is_refused_unless_allowed_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("2661_11262026.BIF");
    std::fs::write(&file, support::bif::valid(2)).unwrap();
    let validate = |cfg: &Path| {
        bin()
            .arg("--config")
            .arg(cfg)
            .arg("validate")
            .arg(&file)
            .output()
            .unwrap()
    };
    for (section, url) in [
        (
            "[advanced_settings]\n11 = \"http://daffron.example.com/cb\"\n",
            "advanced setting 11",
        ),
        (
            "[invoicecloud]\nupload_url = \"http://ic.example.com/x.asmx\"\nweb_service_key = { env = \"K\" }\n",
            "[invoicecloud] upload_url",
        ),
    ] {
        let cfg = support::write_config(dir.path(), section);
        let out = validate(&cfg);
        assert_eq!(out.status.code(), Some(2), "{section}");
        let err = text(&out.stderr);
        assert!(err.contains(url) && err.contains("clear text"), "{err}");

        let allow = if section.starts_with("[invoicecloud]") {
            format!("{section}allow_insecure_http = true\n")
        } else {
            format!("{section}[daffron]\nallow_insecure_http = true\n")
        };
        let cfg = support::write_config(dir.path(), &allow);
        let out = validate(&cfg);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("clear text"),
            "no warning: {}",
            text(&out.stderr)
        );
    }
    // Loopback and https:// need nothing.
    let cfg = support::write_config(
        dir.path(),
        "[advanced_settings]\n8 = \"http://127.0.0.1:9/cb\"\n11 = \"http://[::1]:9/cb\"\n14 = \"http://localhost/cb\"\n17 = \"https://daffron.example.com/cb\"\n",
    );
    let out = validate(&cfg);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("clear text"));
}

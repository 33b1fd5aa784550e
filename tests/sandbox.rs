//! The MultiSpeak wire layer and the InvoiceCloud upload against the real
//! `daffron-bridge sandbox` binary over loopback HTTP; and the in-process
//! `Sandbox::start` API.

mod support;

use std::str::FromStr;

use base64::Engine as _;
use chrono::DateTime;
use daffron_bridge::config::ServiceVersion;
use daffron_bridge::invoicecloud;
use daffron_bridge::multispeak::outcome::Transient;
use daffron_bridge::multispeak::request::MsgHeader;
use daffron_bridge::multispeak::{
    CallError, CustomerPaperless, HistoryComment, ItemOutcome, MultiSpeakClient,
    PaymentTransaction, TenderKind,
};
use daffron_bridge::sandbox::state::{Comment, State};
use daffron_bridge::sandbox::{FaultSpec, Sandbox, SandboxOptions};
use daffron_bridge::transport::http::{HttpClient, HttpOptions};
use rust_decimal::Decimal;
use support::sandbox::*;

fn client(url: &str, pwd: &str, timeout: u64) -> MultiSpeakClient {
    MultiSpeakClient::new(
        HttpClient::new(&HttpOptions::with_timeout_seconds(timeout)),
        &format!("{url}/tbx-daily/services/CB"),
        MsgHeader {
            user_id: "InvoiceCloud".into(),
            pwd: pwd.into(),
            app_name: "InvoiceCloud".into(),
            app_version: "test".into(),
            company: "Invoice Cloud".into(),
        },
        ServiceVersion::V2,
    )
}

fn pay(acct: &str, id: &str, amount: &str, tender: TenderKind) -> PaymentTransaction {
    PaymentTransaction {
        account_number: acct.replace('-', ""),
        tender,
        amount: Decimal::from_str(amount).unwrap(),
        authorization_code: "A01 - Approved <&>".into(),
        payment_mode: "WEB".into(),
        transaction_id: id.into(),
        biller_reference: None,
    }
}

fn balance_due(c: &MultiSpeakClient, acct: &str) -> Decimal {
    let l = c.get_payable_items_list(&acct.replace('-', "")).unwrap();
    daffron_bridge::rtdr::balance(acct, &l).unwrap().balance_due
}

#[test]
fn payments_apply_duplicates_are_detected_and_unknown_accounts_refused() {
    let sbx = SandboxProc::start("");
    let c = client(&sbx.url, PASSWORD, 5);
    assert_eq!(
        balance_due(&c, NORMAL),
        Decimal::from_str("240.00").unwrap()
    );
    let batch = vec![
        pay(NORMAL, "T-1", "40.00", TenderKind::CreditCard),
        pay("99999-001", "T-2", "1.00", TenderKind::Ach),
        pay(NORMAL, "T-3", "0.10", TenderKind::ECheck),
        pay(CASH_ONLY, "T-4", "9.99", TenderKind::Cash),
    ];
    let o = c.commit_payment_transaction(&batch).unwrap();
    assert_eq!(o[0], ItemOutcome::Accepted);
    assert!(
        matches!(&o[1], ItemOutcome::Rejected(r) if r.contains("not found")),
        "{o:?}"
    );
    assert_eq!(o[2], ItemOutcome::Accepted);
    assert_eq!(o[3], ItemOutcome::Accepted);
    assert_eq!(
        balance_due(&c, NORMAL),
        Decimal::from_str("199.90").unwrap()
    );

    // The same transactionId again is a duplicate (D15): posted, not applied twice.
    let o = c
        .commit_payment_transaction(&[
            pay(NORMAL, "T-1", "40.00", TenderKind::CreditCard),
            pay(NORMAL, "T-5", "0.90", TenderKind::CreditCard),
        ])
        .unwrap();
    assert!(
        matches!(&o[0], ItemOutcome::Duplicate(r) if r.to_lowercase().contains("duplicate")),
        "{o:?}"
    );
    assert!(o[0].is_posted());
    assert_eq!(o[1], ItemOutcome::Accepted);
    assert_eq!(
        balance_due(&c, NORMAL),
        Decimal::from_str("199.00").unwrap()
    );

    let j = sbx.journal();
    let commit: Vec<_> = j
        .iter()
        .filter(|e| e["operation"] == "CommitPaymentTransaction")
        .collect();
    assert_eq!(commit.len(), 2);
    assert_eq!(commit[0]["outcome"], "partial");
    assert_eq!(
        commit[0]["accounts"],
        serde_json::json!(["12345001", "99999001", "12345001", "12345003"])
    );
    assert_eq!(commit[1]["items"][0], "duplicate");
    // The sandbox state file (snapshot and log) keeps the posted payments.
    let st = State::load(&sbx.state_path()).unwrap();
    assert!(st.transaction_ids.contains("T-5"));
}

/// A request appends its effects to the state log and rewrites nothing; a
/// sandbox killed with SIGKILL keeps every change it answered, and a
/// restart on the same state carries on from there, duplicates included.
#[test]
fn the_state_log_survives_kill_9_and_a_restart() {
    let mut sbx = SandboxProc::start("");
    let log_path = sbx.dir.path().join("sandbox-state.json.log");
    let c = client(&sbx.url, PASSWORD, 5);
    let snapshot = std::fs::read(sbx.state_path()).unwrap();
    for i in 0..5 {
        let one = [pay(
            NORMAL,
            &format!("K-{i}"),
            "1.00",
            TenderKind::CreditCard,
        )];
        assert_eq!(
            c.commit_payment_transaction(&one).unwrap(),
            [ItemOutcome::Accepted]
        );
    }
    // Reading changes nothing and is not logged.
    assert_eq!(
        balance_due(&c, NORMAL),
        Decimal::from_str("235.00").unwrap()
    );
    assert!(
        std::fs::read(sbx.state_path()).unwrap() == snapshot,
        "a request rewrote the snapshot"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(log.lines().count(), 1 + 5, "{log}");

    sbx.kill();
    let st = State::load(&sbx.state_path()).unwrap();
    let posted: Vec<&str> = st.accounts["12345001"]
        .payments
        .iter()
        .map(|p| p.transaction_id.as_str())
        .collect();
    assert_eq!(posted, ["K-0", "K-1", "K-2", "K-3", "K-4"]);

    sbx.restart("");
    let c = client(&sbx.url, PASSWORD, 5);
    assert_eq!(
        balance_due(&c, NORMAL),
        Decimal::from_str("235.00").unwrap()
    );
    let o = c
        .commit_payment_transaction(&[
            pay(NORMAL, "K-4", "1.00", TenderKind::CreditCard),
            pay(NORMAL, "K-5", "1.00", TenderKind::CreditCard),
        ])
        .unwrap();
    assert!(matches!(&o[0], ItemOutcome::Duplicate(_)), "{o:?}");
    assert_eq!(o[1], ItemOutcome::Accepted);
    // The restart compacted: the snapshot holds K-0..K-4, the log K-5 only.
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(log.contains("K-5") && !log.contains("K-4"), "{log}");
    sbx.kill();
    let st = State::load(&sbx.state_path()).unwrap();
    assert_eq!(st.accounts["12345001"].payments.len(), 6);
}

#[test]
fn paperless_and_comments_map_errors_back_by_object_id() {
    let sbx = SandboxProc::start("");
    let c = client(&sbx.url, PASSWORD, 5);
    let o = c
        .modify_cb_data_for_customer(&[
            CustomerPaperless {
                customer_id: "12345001".into(),
                enroll: true,
            },
            CustomerPaperless {
                customer_id: "77777001".into(),
                enroll: false,
            },
            CustomerPaperless {
                customer_id: "12345003".into(),
                enroll: false,
            },
        ])
        .unwrap();
    assert_eq!(o[0], ItemOutcome::Accepted);
    assert!(
        matches!(&o[1], ItemOutcome::Rejected(r) if r.contains("not found")),
        "{o:?}"
    );
    assert_eq!(o[2], ItemOutcome::Accepted);

    let t = DateTime::parse_from_rfc3339("2026-11-26T20:15:00-06:00").unwrap();
    let hc = |id: &str, loc: &str, text: &str| HistoryComment {
        customer_id: id.into(),
        service_location_id: loc.into(),
        log_time: t,
        comment: text.into(),
    };
    let o = c
        .write_account_history_comments(&[
            hc("12345001", "321045080002", "AUTOPAY ON"),
            hc("12345004", "", "AUTOPAY OFF"),
            hc("12345003", "321045080002", &"X".repeat(71)),
        ])
        .unwrap();
    assert_eq!(o[0], ItemOutcome::Accepted);
    assert!(
        matches!(&o[1], ItemOutcome::Rejected(r) if r.contains("serviceLocationID")),
        "{o:?}"
    );
    assert!(
        matches!(&o[2], ItemOutcome::Rejected(r) if r.contains("70")),
        "{o:?}"
    );
}

/// A comment identical to one the account holds (customerID,
/// serviceLocationID, logTime, comment) is a resend: answered as success,
/// kept once, journaled `duplicate`. The pump resends with the same logTime.
#[test]
fn a_resent_comment_is_answered_success_and_kept_once() {
    let mut sbx = SandboxProc::start("");
    let c = client(&sbx.url, PASSWORD, 5);
    let on = HistoryComment {
        customer_id: "12345001".into(),
        service_location_id: "321045080002".into(),
        log_time: DateTime::parse_from_rfc3339("2026-11-26T20:15:00-06:00").unwrap(),
        comment: "AUTOPAY ON".into(),
    };
    let a_minute_later = HistoryComment {
        log_time: on.log_time + chrono::Duration::minutes(1),
        ..on.clone()
    };
    assert_eq!(
        c.write_account_history_comments(std::slice::from_ref(&on))
            .unwrap(),
        [ItemOutcome::Accepted]
    );
    assert_eq!(
        c.write_account_history_comments(&[on.clone(), a_minute_later])
            .unwrap(),
        [ItemOutcome::Accepted, ItemOutcome::Accepted]
    );
    let j = sbx.journal();
    let writes: Vec<_> = j
        .iter()
        .filter(|e| e["operation"] == "WriteAccountHistoryComments")
        .collect();
    assert_eq!(
        writes[1]["items"],
        serde_json::json!(["duplicate", "accepted"])
    );
    assert_eq!(writes[1]["outcome"], "ok");

    sbx.kill();
    let st = State::load(&sbx.state_path()).unwrap();
    let kept = |log_time: &str| Comment {
        service_location_id: "321045080002".into(),
        log_time: log_time.into(),
        comment: "AUTOPAY ON".into(),
    };
    assert_eq!(
        st.accounts["12345001"].comments,
        [
            kept("2026-11-26T20:15:00-06:00"),
            kept("2026-11-26T20:16:00-06:00")
        ]
    );
}

/// Every EBILL set is recorded: one that changed the flag with the
/// sandbox's time, one that repeated it counted, so a test can see what
/// Daffron was told.
#[test]
fn paperless_changes_are_recorded_apart_from_repeats() {
    let mut sbx = SandboxProc::start("");
    let c = client(&sbx.url, PASSWORD, 5);
    let set = |id: &str, enroll| CustomerPaperless {
        customer_id: id.into(),
        enroll,
    };
    for batch in [
        vec![set("12345001", true)],
        vec![set("12345001", true), set("12345003", false)],
        vec![set("12345001", false)],
    ] {
        let o = c.modify_cb_data_for_customer(&batch).unwrap();
        assert!(o.iter().all(|o| *o == ItemOutcome::Accepted), "{o:?}");
    }
    let items: Vec<_> = sbx
        .journal()
        .iter()
        .filter(|e| e["operation"] == "ModifyCBDataForCustomer")
        .map(|e| (e["outcome"].clone(), e["items"].clone()))
        .collect();
    let json =
        |outcome: &str, items: &[&str]| (serde_json::json!(outcome), serde_json::json!(items));
    assert_eq!(
        items,
        [
            json("ok", &["accepted"]),
            json("ok", &["unchanged", "accepted"]),
            json("ok", &["accepted"])
        ]
    );

    sbx.kill();
    let st = State::load(&sbx.state_path()).unwrap();
    let a = &st.accounts["12345001"];
    assert_eq!(a.paperless, Some(false));
    let values: Vec<bool> = a.paperless_changes.iter().map(|c| c.value).collect();
    assert_eq!(values, [true, false]);
    assert_eq!(a.paperless_repeats, 1);
    let times: Vec<_> = a
        .paperless_changes
        .iter()
        .map(|c| DateTime::parse_from_rfc3339(&c.time).unwrap())
        .collect();
    assert!(times[0] <= times[1], "{times:?}");
    let b = &st.accounts["12345003"];
    assert_eq!(
        (b.paperless, b.paperless_changes.len(), b.paperless_repeats),
        (Some(false), 1, 0)
    );
}

#[test]
fn injected_faults_are_classified() {
    // Requests 1..5 each get one fault, request 6 is clean; item failures
    // hit every item of account 12345003.
    let sbx = SandboxProc::start(
        "http500@nth:1,fault@nth:2,drop@nth:3,malformed@nth:4,latency=2s@nth:5,item_failure=account:12345003",
    );
    let c = client(&sbx.url, PASSWORD, 1);
    let one = [pay(NORMAL, "F-1", "1.00", TenderKind::CreditCard)];
    let e = c.commit_payment_transaction(&one).unwrap_err();
    assert_eq!(e, CallError::Transient(Transient::Status(500)));
    let e = c.commit_payment_transaction(&one).unwrap_err();
    assert!(
        matches!(&e, CallError::Fault(f) if f.string.contains("injected")),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    let e = c.commit_payment_transaction(&one).unwrap_err();
    assert!(e.is_retryable(), "drop: {e:?}");
    let e = c.commit_payment_transaction(&one).unwrap_err();
    assert!(
        matches!(e, CallError::Transient(Transient::Garbage(_))),
        "malformed: {e:?}"
    );
    let e = c.commit_payment_transaction(&one).unwrap_err();
    assert!(
        matches!(e, CallError::Transient(Transient::Timeout(_))),
        "latency: {e:?}"
    );
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let o = c
        .commit_payment_transaction(&[
            pay(NORMAL, "F-1", "1.00", TenderKind::CreditCard),
            pay(CASH_ONLY, "F-2", "1.00", TenderKind::Cash),
        ])
        .unwrap();
    // The slow request was processed after the client gave up: resending
    // the same transactionId is answered as a duplicate, i.e. posted (D15).
    assert!(matches!(&o[0], ItemOutcome::Duplicate(_)), "{o:?}");
    assert!(o[0].is_posted());
    assert!(
        matches!(&o[1], ItemOutcome::Rejected(r) if r.contains("injected")),
        "{o:?}"
    );
    let faults: Vec<String> = sbx
        .journal()
        .iter()
        .map(|e| e["fault"].as_str().unwrap_or("").to_string())
        .collect();
    for f in ["http500", "fault", "drop", "malformed", "latency"] {
        assert!(
            faults.iter().any(|x| x == f),
            "{f} not journaled: {faults:?}"
        );
    }
}

/// `lost`: the request is applied, then its answer is broken off. The
/// client sees a retryable failure; the resend of the same payload finds
/// the payment posted (D15) and the comment held, so the effect is once.
#[test]
fn a_lost_answer_was_applied_and_its_resend_is_harmless() {
    let mut sbx = SandboxProc::start("lost@nth:1,lost@nth:3");
    let c = client(&sbx.url, PASSWORD, 5);
    let one = [pay(NORMAL, "L-1", "5.00", TenderKind::CreditCard)];
    let e = c.commit_payment_transaction(&one).unwrap_err();
    assert!(e.is_retryable(), "lost: {e:?}");
    let o = c.commit_payment_transaction(&one).unwrap();
    assert!(matches!(&o[0], ItemOutcome::Duplicate(_)), "{o:?}");
    assert!(o[0].is_posted());

    let hc = [HistoryComment {
        customer_id: "12345001".into(),
        service_location_id: "321045080002".into(),
        log_time: DateTime::parse_from_rfc3339("2026-11-26T20:15:00-06:00").unwrap(),
        comment: "SCHED_PAY 5.00".into(),
    }];
    let e = c.write_account_history_comments(&hc).unwrap_err();
    assert!(e.is_retryable(), "lost: {e:?}");
    assert_eq!(
        c.write_account_history_comments(&hc).unwrap(),
        [ItemOutcome::Accepted]
    );

    let j = sbx.journal();
    let seen: Vec<_> = j
        .iter()
        .map(|e| {
            (
                e["fault"].as_str().unwrap_or("-"),
                e["outcome"].as_str().unwrap_or(""),
                e["items"].clone(),
            )
        })
        .collect();
    let items = |i: &[&str]| serde_json::json!(i);
    assert_eq!(
        seen,
        [
            ("lost", "ok", items(&["accepted"])),
            ("-", "partial", items(&["duplicate"])),
            ("lost", "ok", items(&["accepted"])),
            ("-", "ok", items(&["duplicate"])),
        ]
    );
    sbx.kill();
    let st = State::load(&sbx.state_path()).unwrap();
    assert_eq!(st.payment_count("L-1"), 1);
    assert_eq!(st.accounts["12345001"].comments.len(), 1);
}

/// `GET /_sandbox/state` shows the state while the sandbox runs: JSON in
/// the state file's shape (without its generation), never a secret. GETs
/// are neither journaled nor counted by fault rules; other GET paths are 404.
#[test]
fn get_sandbox_state_shows_the_live_state() {
    let sbx = SandboxProc::start("http500@nth:1");
    // Looking first does not use up the fault meant for the first request.
    let (status, content_type, _) = sbx.get("/_sandbox/state");
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let c = client(&sbx.url, PASSWORD, 5);
    let one = [pay(NORMAL, "G-1", "2.00", TenderKind::Ach)];
    assert_eq!(
        c.commit_payment_transaction(&one).unwrap_err(),
        CallError::Transient(Transient::Status(500))
    );
    c.commit_payment_transaction(&one).unwrap();

    let (status, _, body) = sbx.get("/_sandbox/state?pretty=no");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["accounts", "biller_guids", "transaction_ids"]);
    assert_eq!(v["transaction_ids"], serde_json::json!(["G-1"]));
    assert_eq!(
        v["accounts"]["12345001"]["payments"],
        serde_json::json!([{"transaction_id": "G-1", "tender": "ACH", "amount": "2.00"}])
    );
    assert!(!body.contains(PASSWORD) && !body.contains(IC_KEY));
    let st = sbx.state();
    assert!(st.transaction_ids.contains("G-1"));

    for path in [
        "/",
        "/_sandbox",
        "/_sandbox/state/x",
        "/tbx-daily/services/CB",
    ] {
        assert_eq!(sbx.get(path).0, 404, "{path}");
    }
    let ops: Vec<_> = sbx
        .journal()
        .iter()
        .map(|e| e["operation"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        ops,
        ["CommitPaymentTransaction", "CommitPaymentTransaction"]
    );
}

#[test]
fn wrong_credentials_are_a_fault_and_never_journaled() {
    let sbx = SandboxProc::start("");
    let c = client(&sbx.url, "not-the-password", 5);
    let e = c.get_payable_items_list("12345001").unwrap_err();
    assert!(
        matches!(&e, CallError::Fault(f) if f.string.contains("authentication")),
        "{e:?}"
    );
    assert!(!e.to_string().contains("not-the-password"));
    let ok = client(&sbx.url, PASSWORD, 5);
    ok.get_payable_items_list("12345001").unwrap();
    let j = sbx.journal_text();
    let out = sbx.stop();
    for s in [PASSWORD, "not-the-password"] {
        assert!(!j.contains(s) && !out.contains(s), "secret leaked");
    }
}

fn upload_body(guid: &str, key: &str, name: &str, contents: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(contents);
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><UploadInvoiceFile xmlns=\"{}\"><Req><BillerGUID>{guid}</BillerGUID><WebServiceKey>{key}</WebServiceKey><FileName>{name}</FileName><FileContents>{b64}</FileContents></Req></UploadInvoiceFile></soap:Body></soap:Envelope>",
        invoicecloud::NAMESPACE
    )
}

#[test]
fn invoicecloud_upload_d16() {
    let sbx = SandboxProc::start("");
    let http = HttpClient::new(&HttpOptions::with_timeout_seconds(5));
    let url = format!("{}/portal/webservices/CloudInvoicing.asmx", sbx.url);
    let file = b"FH|...|\n";
    let answer = |body: &str| {
        let r = http
            .post_soap(&url, invoicecloud::UPLOAD_SOAP_ACTION, body)
            .unwrap();
        assert_eq!(r.status, 200);
        String::from_utf8(r.body).unwrap()
    };
    let ok = answer(&upload_body(
        &GUID.to_lowercase(),
        IC_KEY,
        "2661_11262026.BIF",
        file,
    ));
    assert!(ok.contains("<Success>true</Success>"), "{ok}");
    let bad_key = answer(&upload_body(GUID, "wrong-key-zz", "a.BIF", file));
    assert!(
        bad_key.contains("<Success>false</Success>") && bad_key.contains("WebServiceKey"),
        "{bad_key}"
    );
    let bad_guid = answer(&upload_body(
        "00000000-0000-0000-0000-000000000000",
        IC_KEY,
        "a.BIF",
        file,
    ));
    assert!(
        bad_guid.contains("<Success>false</Success>") && bad_guid.contains("BillerGUID"),
        "{bad_guid}"
    );
    let j = sbx.journal();
    assert_eq!(j[0]["operation"], "UploadInvoiceFile");
    assert_eq!(j[0]["file"]["name"], "2661_11262026.BIF");
    assert_eq!(j[0]["file"]["size"], file.len());
    use sha2::Digest;
    assert_eq!(
        j[0]["file"]["sha256"],
        format!("{:x}", sha2::Sha256::digest(file))
    );
    assert_eq!(j[1]["outcome"], "rejected");
    let text = sbx.journal_text();
    assert!(!text.contains(IC_KEY) && !text.contains("wrong-key-zz"));
}

/// The in-process API the nightly demo uses, and reproducible random faults.
#[test]
fn in_process_sandbox_and_reproducible_faults() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path());
    let run = |fault_seed: u64| {
        let h = Sandbox::start(SandboxOptions {
            listen: "127.0.0.1:0".into(),
            seeds: vec![seed.clone()],
            faults: FaultSpec::parse("http500@0.3,item_failure@0.3").unwrap(),
            fault_seed,
            user_id: "InvoiceCloud".into(),
            password: Some(PASSWORD.into()),
            ..SandboxOptions::default()
        })
        .unwrap();
        let c = client(h.url(), PASSWORD, 5);
        let mut seen = Vec::new();
        for i in 0..20 {
            let r = c.commit_payment_transaction(&[
                pay(NORMAL, &format!("R-{i}-a"), "0.01", TenderKind::CreditCard),
                pay(NO_CARD, &format!("R-{i}-b"), "0.01", TenderKind::Ach),
            ]);
            seen.push(format!("{r:?}"));
        }
        let outcomes: Vec<String> = h
            .journal()
            .iter()
            .map(|e| format!("{} {:?}", e.outcome, e.items))
            .collect();
        h.shutdown();
        (seen, outcomes)
    };
    let a = run(9);
    assert_eq!(a, run(9));
    assert!(a.1.iter().any(|o| o.starts_with("http500")), "{:?}", a.1);
    assert!(a.1.iter().any(|o| o.starts_with("partial")), "{:?}", a.1);
    assert!(a.1.iter().any(|o| o.starts_with("ok")), "{:?}", a.1);
}

/// A body over the limit is refused with a SOAP Fault before it is parsed:
/// at once when its Content-Length says so, else once the limit is passed
/// (chunked). Nothing of it is applied; the journal names the SOAPAction's
/// operation but no account, since the body was never read as XML.
#[test]
fn an_oversized_request_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let h = Sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".into(),
        seeds: vec![write_seed(dir.path())],
        user_id: "InvoiceCloud".into(),
        password: Some(PASSWORD.into()),
        max_request_bytes: Some(2000),
        ..SandboxOptions::default()
    })
    .unwrap();
    let c = client(h.url(), PASSWORD, 5);
    // A small request is served.
    c.commit_payment_transaction(&[pay(NORMAL, "S-0", "1.00", TenderKind::Ach)])
        .unwrap();
    let batch: Vec<_> = (1..=10)
        .map(|i| pay(NORMAL, &format!("S-{i}"), "1.00", TenderKind::Ach))
        .collect();
    let e = c.commit_payment_transaction(&batch).unwrap_err();
    assert!(
        matches!(&e, CallError::Fault(f) if f.string == "the request is larger than 2000 bytes"),
        "{e:?}"
    );

    // Chunked: no Content-Length to refuse it by.
    use std::io::{Read as _, Write as _};
    let addr = h.url().trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    let xml = format!(
        "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><GetPayableItemsList xmlns=\"http://www.multispeak.org/Version_3.0\"><accountNumber>12345001</accountNumber><!--{}--></GetPayableItemsList></soap:Body></soap:Envelope>",
        // Far more than the socket buffers hold: the client is still
        // sending when the sandbox refuses.
        "x".repeat(4 << 20)
    );
    let request = format!(
        "POST /tbx-daily/services/CB HTTP/1.1\r\nHost: sandbox\r\nContent-Type: text/xml\r\nSOAPAction: \"http://www.multispeak.org/Version_3.0/GetPayableItemsList\"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{xml}\r\n0\r\n\r\n",
        xml.len()
    );
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert!(
        answer.contains("the request is larger than 2000 bytes"),
        "{answer}"
    );

    let j = h.journal();
    let seen: Vec<_> = j
        .iter()
        .map(|e| {
            (
                e.operation.as_str(),
                e.accounts.len(),
                e.outcome.as_str(),
                e.message.as_deref(),
            )
        })
        .collect();
    let too_large = Some("the request is larger than 2000 bytes");
    assert_eq!(
        seen,
        [
            ("CommitPaymentTransaction", 1, "ok", None),
            ("CommitPaymentTransaction", 0, "fault", too_large),
            ("GetPayableItemsList", 0, "fault", too_large),
        ]
    );
    assert_eq!(h.state().transaction_ids.len(), 1);
    h.shutdown();
}

/// The sandbox itself killed with SIGKILL in the middle of a stream of
/// batches, twice: after each restart the batches that got no answer are
/// sent again, the same payload. Whenever the kill lands, every payment
/// ends up applied exactly once: nothing answered was lost, and a resend
/// of anything applied is a duplicate.
#[test]
fn a_sandbox_killed_mid_stream_keeps_every_payment_exactly_once() {
    const BATCHES: usize = 60;
    const PER_BATCH: usize = 50;
    let accounts = [NORMAL, PREPAID, CASH_ONLY, NO_CARD, BLOCK_CC];
    let batch = |b: usize| -> Vec<PaymentTransaction> {
        (0..PER_BATCH)
            .map(|i| {
                let id = format!("M-{b}-{i}");
                pay(accounts[i % accounts.len()], &id, "0.01", TenderKind::Ach)
            })
            .collect()
    };
    let mut sbx = SandboxProc::start("");
    let mut pending: Vec<usize> = (0..BATCHES).collect();
    for round in 0..3 {
        let c = client(&sbx.url, PASSWORD, 5);
        let answered = std::thread::scope(|s| {
            let sender = s.spawn(|| {
                let mut answered = Vec::new();
                for &b in &pending {
                    match c.commit_payment_transaction(&batch(b)) {
                        Ok(o) => {
                            assert!(o.iter().all(ItemOutcome::is_posted), "{o:?}");
                            answered.push(b);
                        }
                        Err(e) => assert!(e.is_retryable(), "{e:?}"),
                    }
                }
                answered
            });
            if round < 2 {
                std::thread::sleep(std::time::Duration::from_millis(60));
                sbx.kill();
            }
            sender.join().unwrap()
        });
        pending.retain(|b| !answered.contains(b));
        if round < 2 {
            sbx.restart("");
        }
    }
    assert!(pending.is_empty(), "never answered: {pending:?}");
    let st = sbx.state();
    assert_eq!(st.transaction_ids.len(), BATCHES * PER_BATCH);
    for b in 0..BATCHES {
        for i in 0..PER_BATCH {
            let id = format!("M-{b}-{i}");
            assert_eq!(st.payment_count(&id), 1, "{id}");
        }
    }
}

//! Every SOAP body the product builds, for every rule variant, validates
//! against the MultiSpeak 3.0 AC schema with xmllint (interface.md §1.3).
//! Needs xmllint: `apt-get install -y libxml2-utils` (scripts/install-deps.sh).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use chrono::DateTime;
use daffron_bridge::config::ServiceVersion;
use daffron_bridge::multispeak::request::{self, MsgHeader};
use daffron_bridge::multispeak::{
    CustomerPaperless, HistoryComment, PaymentTransaction, TenderKind,
};
use rust_decimal::Decimal;

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/multispeak/CB_Server_30ac_types.xsd")
}

fn require_xmllint() {
    let ok = Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "xmllint is not installed: this test needs it to check SOAP bodies against the MultiSpeak schema. \
         Install it with `apt-get install -y libxml2-utils` (or run scripts/install-deps.sh)."
    );
}

/// Validates each (name, xml) with one xmllint run; panics naming every
/// document that does not validate, with xmllint's words.
fn validate_all(docs: &[(String, String)]) {
    require_xmllint();
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, (name, xml)) in docs.iter().enumerate() {
        let p = dir.path().join(format!("{i:03}.xml"));
        std::fs::write(&p, xml).unwrap();
        paths.push((name, p));
    }
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(schema())
        .args(paths.iter().map(|(_, p)| p))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut failures = Vec::new();
    for (name, p) in &paths {
        let ok_line = format!("{} validates", p.display());
        if !stderr.lines().any(|l| l == ok_line) {
            let why: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with(&*p.to_string_lossy()))
                .collect();
            failures.push(format!("{name}: {}", why.join(" | ")));
        }
    }
    assert!(
        failures.is_empty(),
        "bodies that do not validate:\n{}",
        failures.join("\n")
    );
    assert!(out.status.success(), "{stderr}");
}

fn payment(
    tender: TenderKind,
    kiosk: bool,
    auth: &str,
    mode: &str,
    amount: &str,
) -> PaymentTransaction {
    PaymentTransaction {
        account_number: "35909001".into(),
        tender,
        amount: Decimal::from_str(amount).unwrap(),
        authorization_code: auth.into(),
        payment_mode: mode.into(),
        transaction_id: "e4deba7f-86e7-4850-8226-d6a2fbfb0ab6".into(),
        biller_reference: kiosk.then(|| "BHappy".to_string()),
    }
}

#[test]
fn every_request_body_validates() {
    let mut docs: Vec<(String, String)> = Vec::new();
    // GetPayableItemsList: checked under the schema's name for it (SOURCE.md).
    for acct in ["35909001", "1 & <2>"] {
        let b = request::get_payable_items_list(acct)
            .replace("GetPayableItemsList", "PayableItemsList");
        docs.push((format!("GetPayableItemsList {acct}"), b));
    }
    // CommitPaymentTransaction: every tender (D7) x kiosk or not (D6) x both
    // service versions (D1) x optional fields present or left out.
    for t in TenderKind::ALL {
        for kiosk in [false, true] {
            for v in [ServiceVersion::V1, ServiceVersion::V2] {
                for (auth, mode) in [
                    ("A01 - Approved (EXACT MATCH) <&>", "WEB"),
                    ("", ""),
                    ("123456", "OBD"),
                ] {
                    for amount in ["232.10", "5", "0.01", "-12.5", "100000.99"] {
                        let b = request::commit_payment_transaction(
                            &[payment(t, kiosk, auth, mode, amount)],
                            v,
                        );
                        docs.push((format!("CommitPaymentTransaction {t:?} kiosk={kiosk} {v:?} auth={auth:?} {amount}"), b));
                    }
                }
            }
        }
    }
    let batch: Vec<PaymentTransaction> = TenderKind::ALL
        .into_iter()
        .enumerate()
        .map(|(i, t)| payment(t, i % 2 == 0, "X", "POS", "1.5"))
        .collect();
    docs.push((
        "CommitPaymentTransaction batch".into(),
        request::commit_payment_transaction(&batch, ServiceVersion::V2),
    ));
    docs.push((
        "CommitPaymentTransaction empty".into(),
        request::commit_payment_transaction(&[], ServiceVersion::V2),
    ));
    // ModifyCBDataForCustomer: enroll, un-enroll, a batch.
    for enroll in [true, false] {
        docs.push((
            format!("ModifyCBDataForCustomer enroll={enroll}"),
            request::modify_cb_data_for_customer(&[CustomerPaperless {
                customer_id: "1001".into(),
                enroll,
            }]),
        ));
    }
    docs.push((
        "ModifyCBDataForCustomer batch".into(),
        request::modify_cb_data_for_customer(&[
            CustomerPaperless {
                customer_id: "1001".into(),
                enroll: true,
            },
            CustomerPaperless {
                customer_id: "\"quoted\" & <x>".into(),
                enroll: false,
            },
        ]),
    ));
    // WriteAccountHistoryComments: autopay and scheduled-payment comments,
    // offsets of both signs and UTC.
    let comments: Vec<HistoryComment> = [
        ("2020-08-06T00:01:32-05:00", "AUTOPAY ON"),
        ("2026-11-26T23:59:59+00:00", "AUTOPAY OFF"),
        (
            "2026-01-01T12:00:00+05:30",
            "SCHED_PAY 01012025 15075.25 121940013401",
        ),
        (
            "2026-03-08T02:30:00-06:00",
            "SCHED_PAY_CNCL 01012025 15075.25 <&> \"x\"",
        ),
    ]
    .into_iter()
    .map(|(t, c)| HistoryComment {
        customer_id: "1001".into(),
        service_location_id: "321045080002".into(),
        log_time: DateTime::parse_from_rfc3339(t).unwrap(),
        comment: c.into(),
    })
    .collect();
    for c in &comments {
        docs.push((
            format!("WriteAccountHistoryComments {}", c.comment),
            request::write_account_history_comments(std::slice::from_ref(c)),
        ));
    }
    docs.push((
        "WriteAccountHistoryComments batch".into(),
        request::write_account_history_comments(&comments),
    ));
    // The header element itself.
    let h = MsgHeader {
        user_id: "InvoiceCloud".into(),
        pwd: "p<&>\"'".into(),
        app_name: "InvoiceCloud".into(),
        app_version: "0.1.0".into(),
        company: "Invoice Cloud".into(),
    };
    docs.push((
        "MultiSpeakMsgHeader".into(),
        request::msg_header(&h, uuid::Uuid::new_v4(), chrono::Utc::now()),
    ));
    validate_all(&docs);
}

/// The check itself works: a body in the wrong order is refused.
#[test]
fn a_wrong_body_is_refused() {
    require_xmllint();
    let good = request::commit_payment_transaction(
        &[payment(TenderKind::CreditCard, false, "A", "WEB", "1")],
        ServiceVersion::V2,
    );
    // The seed's order (amount before extensionsList) is wrong per the schema.
    let bad = good
        .replace("<amount>1.00</amount>", "")
        .replace("<tender>", "<tender><amount>1.00</amount>");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.xml");
    std::fs::write(&p, bad).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(schema())
        .arg(&p)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// The sandbox's answers are schema-valid too, so tests against it exercise
/// real MultiSpeak shapes.
#[test]
fn sandbox_answers_validate() {
    use daffron_bridge::multispeak::Operation;
    use daffron_bridge::sandbox::{FaultSpec, Sandbox, SandboxOptions};
    use daffron_bridge::transport::http::{HttpClient, HttpOptions};

    let dir = tempfile::tempdir().unwrap();
    let seed = support::sandbox::write_seed(dir.path());
    let h = Sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".into(),
        seeds: vec![seed],
        faults: FaultSpec::parse("item_failure=account:12345004").unwrap(),
        ..SandboxOptions::default()
    })
    .unwrap();
    let http = HttpClient::new(&HttpOptions::with_timeout_seconds(5));
    let hdr = MsgHeader {
        user_id: "u".into(),
        pwd: "p".into(),
        app_name: "a".into(),
        app_version: "1".into(),
        company: "c".into(),
    };
    let t = DateTime::parse_from_rfc3339("2026-11-26T20:15:00-06:00").unwrap();
    let requests = vec![
        (
            Operation::GetPayableItemsList,
            request::get_payable_items_list("12345001"),
        ),
        (
            Operation::GetPayableItemsList,
            request::get_payable_items_list("35909001"),
        ),
        (
            Operation::GetPayableItemsList,
            request::get_payable_items_list("12345003"),
        ),
        (
            Operation::GetPayableItemsList,
            request::get_payable_items_list("12345004"),
        ),
        (
            Operation::CommitPaymentTransaction,
            request::commit_payment_transaction(
                &[
                    payment(TenderKind::CreditCard, false, "A", "WEB", "1.00"),
                    payment(TenderKind::CreditCard, false, "A", "WEB", "1.00"),
                    PaymentTransaction {
                        account_number: "12345004".into(),
                        transaction_id: "x".into(),
                        ..payment(TenderKind::Ach, false, "", "", "2")
                    },
                ],
                ServiceVersion::V2,
            ),
        ),
        (
            Operation::ModifyCBDataForCustomer,
            request::modify_cb_data_for_customer(&[
                CustomerPaperless {
                    customer_id: "12345001".into(),
                    enroll: true,
                },
                CustomerPaperless {
                    customer_id: "404".into(),
                    enroll: true,
                },
            ]),
        ),
        (
            Operation::WriteAccountHistoryComments,
            request::write_account_history_comments(&[HistoryComment {
                customer_id: "12345004".into(),
                service_location_id: "1".into(),
                log_time: t,
                comment: "AUTOPAY ON".into(),
            }]),
        ),
    ];
    let mut docs = Vec::new();
    for (op, body) in requests {
        let r = http
            .post_soap(
                &format!("{}/cb", h.url()),
                &op.soap_action(),
                &request::envelope(&hdr, &body),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        let text = String::from_utf8(r.body).unwrap();
        let start = text.find("<soap:Body>").unwrap() + "<soap:Body>".len();
        let end = text.rfind("</soap:Body>").unwrap();
        let child = text[start..end].replace("GetPayableItemsList", "PayableItemsList");
        docs.push((format!("sandbox answer to {}", op.name()), child));
    }
    h.shutdown();
    validate_all(&docs);
}

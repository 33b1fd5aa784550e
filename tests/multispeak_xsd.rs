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
    // PingURL, and GetMethods under the schema's name for it, `Methods`.
    use daffron_bridge::multispeak::Probe;
    docs.push(("PingURL".into(), request::probe(Probe::PingURL)));
    docs.push((
        "GetMethods".into(),
        request::probe(Probe::GetMethods).replace("GetMethods", "Methods"),
    ));
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
    // The discovery calls `doctor` makes: PingURL, and GetMethods (the
    // answer checked under the schema's name, `MethodsResponse`).
    use daffron_bridge::multispeak::Probe;
    for p in [Probe::PingURL, Probe::GetMethods] {
        let r = http
            .post_soap(
                &format!("{}/cb", h.url()),
                &p.soap_action(),
                &request::envelope(&hdr, &request::probe(p)),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        let text = String::from_utf8(r.body).unwrap();
        let start = text.find("<soap:Body>").unwrap() + "<soap:Body>".len();
        let end = text.rfind("</soap:Body>").unwrap();
        let child = text[start..end].replace("GetMethods", "Methods");
        if p == Probe::GetMethods {
            assert!(
                child.contains("<string>CommitPaymentTransaction</string>"),
                "{child}"
            );
        }
        docs.push((format!("sandbox answer to {}", p.name()), child));
    }
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

mod pump_rules {
    //! A test per seed rule of the data pump: the exact XML item the rule
    //! produces (what the sweep sends, frozen at ingest) and the schema
    //! validity of the call body around it.

    use super::validate_all;
    use chrono::DateTime;
    use daffron_bridge::config::{PaymentModeMap, ServiceVersion};
    use daffron_bridge::multispeak::{Operation, TenderKind, request};
    use daffron_bridge::pump::exports::{
        EventAction, EventRow, PaymentRow, Scheduled, ScheduledAction, TenderCode,
    };
    use daffron_bridge::pump::ingest::{event_item, payment_item};
    use daffron_bridge::pump::payload;
    use daffron_bridge::pump::rules::RuleSettings;
    use daffron_bridge::pump::{ItemState, Kind};
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn settings() -> RuleSettings {
        RuleSettings {
            service_version: ServiceVersion::V2,
            cc_modes: PaymentModeMap::parse("0(WEB)|2(CSRWEB)|8(POS)").unwrap(),
            ach_modes: PaymentModeMap::parse("0(EFT)|2(CSREFT)").unwrap(),
            default_payment_mode: "OBD".into(),
            skip_donation_types: true,
            use_payment_guid_as_transaction_id: true,
            scheduled_payments: true,
            autopay_grouping: true,
            timezone: chrono_tz::America::Chicago,
        }
    }

    fn pay() -> PaymentRow {
        PaymentRow {
            payment_guid: "e4deba7f-86e7-4850-8226-d6a2fbfb0ab6".into(),
            account: "35909-001".into(),
            invoice_number: "1000000259773".into(),
            invoice_type: None,
            tender: TenderCode(TenderKind::CreditCard),
            amount: Decimal::from_str("232.10").unwrap(),
            fee: Decimal::from_str("2.95").unwrap(),
            auth_code: "A01 - Approved (EXACT MATCH)".into(),
            payment_source_id: 0,
            kiosk_id: None,
            group_key: None,
            paid_at: DateTime::parse_from_rfc3339("2026-11-27T14:03:00-06:00").unwrap(),
        }
    }

    fn event(action: EventAction, location: Option<&str>) -> EventRow {
        EventRow {
            event_id: "EV-1".into(),
            action,
            account: "35909-001".into(),
            service_location_id: location.map(Into::into),
            occurred_at: DateTime::parse_from_rfc3339("2026-11-27T20:03:00Z").unwrap(),
        }
    }

    fn tender_xml(el: &str, ext: &str, amount: &str, auth: &str, mode: &str) -> String {
        format!(
            "<paymentTransaction><accountNumber>35909001</accountNumber><{el}><tender><extensionsList>{ext}</extensionsList><amount>{amount}</amount><authorizationCode>{auth}</authorizationCode><paymentMode>{mode}</paymentMode></tender></{el}></paymentTransaction>"
        )
    }

    fn ext(name: &str, value: &str) -> String {
        format!(
            "<extensionsItem><extName>{name}</extName><extValue>{value}</extValue><extType>string</extType></extensionsItem>"
        )
    }

    const GUID: &str = "e4deba7f-86e7-4850-8226-d6a2fbfb0ab6";

    #[test]
    fn every_rule_sends_exactly_this_and_it_validates() {
        let s = settings();
        let mut cases: Vec<(&str, Operation, String, String)> = Vec::new();
        let mut push = |name: &'static str, op: Operation, wire: Option<String>, want: String| {
            let wire = wire.unwrap_or_else(|| panic!("{name}: no payload"));
            cases.push((name, op, wire, want));
        };
        let pay_op = Operation::CommitPaymentTransaction;

        // D1 (setting 35) and D7 (card, amount without the fee), D3 source 0,
        // D4 transactionId = PaymentGUID (setting 131).
        push(
            "D1 v2, D3 WEB, D4 GUID, D7 CC",
            pay_op,
            payload::payment(&pay(), &s).ok(),
            tender_xml(
                "creditCardPayment",
                &ext("transactionId", GUID),
                "232.10",
                "A01 - Approved (EXACT MATCH)",
                "WEB",
            ),
        );
        let v1 = RuleSettings {
            service_version: ServiceVersion::V1,
            ..settings()
        };
        push(
            "D1 v1 shortest amount",
            pay_op,
            payload::payment(&pay(), &v1).ok(),
            tender_xml(
                "creditCardPayment",
                &ext("transactionId", GUID),
                "232.1",
                "A01 - Approved (EXACT MATCH)",
                "WEB",
            ),
        );
        // D3: bank tenders read setting 65; an unlisted source gets the default.
        let mut r = pay();
        r.tender = TenderCode(TenderKind::Ach);
        r.payment_source_id = 2;
        push(
            "D3 ACH CSREFT, D7 achPayment",
            pay_op,
            payload::payment(&r, &s).ok(),
            tender_xml(
                "achPayment",
                &ext("transactionId", GUID),
                "232.10",
                "A01 - Approved (EXACT MATCH)",
                "CSREFT",
            ),
        );
        r.tender = TenderCode(TenderKind::ECheck);
        r.payment_source_id = 9;
        push(
            "D3 default OBD, D7 eCheckPayment",
            pay_op,
            payload::payment(&r, &s).ok(),
            tender_xml(
                "eCheckPayment",
                &ext("transactionId", GUID),
                "232.10",
                "A01 - Approved (EXACT MATCH)",
                "OBD",
            ),
        );
        r.tender = TenderCode(TenderKind::Cash);
        r.payment_source_id = 8;
        push(
            "D3 cash OBD, D7 cashPayment",
            pay_op,
            payload::payment(&r, &s).ok(),
            tender_xml(
                "cashPayment",
                &ext("transactionId", GUID),
                "232.10",
                "A01 - Approved (EXACT MATCH)",
                "OBD",
            ),
        );
        // D4: the authorizationCode cut to 50; the transactionId the full
        // approval code where setting 131 does not say GUID.
        let mut r = pay();
        r.auth_code = format!("A01 - Approved (EXACT MATCH) - {}", "X".repeat(40));
        let no_guid = RuleSettings {
            use_payment_guid_as_transaction_id: false,
            ..settings()
        };
        let cut: String = r.auth_code.chars().take(50).collect();
        push(
            "D4 cut to 50, transactionId = approval code",
            pay_op,
            payload::payment(&r, &no_guid).ok(),
            tender_xml(
                "creditCardPayment",
                &ext("transactionId", &r.auth_code),
                "232.10",
                &cut,
                "WEB",
            ),
        );
        // D6: a kiosk payment carries billerReference.
        let mut r = pay();
        r.kiosk_id = Some("BHappy".into());
        r.payment_source_id = 8;
        push(
            "D6 kiosk billerReference",
            pay_op,
            payload::payment(&r, &s).ok(),
            tender_xml(
                "creditCardPayment",
                &format!(
                    "{}{}",
                    ext("transactionId", GUID),
                    ext("billerReference", "BHappy")
                ),
                "232.10",
                "A01 - Approved (EXACT MATCH)",
                "POS",
            ),
        );

        // D9's payload: EBILL Y / N on the base+sub objectID.
        for (enroll, flag) in [(true, "Y"), (false, "N")] {
            push(
                if enroll {
                    "D9 paperless enroll"
                } else {
                    "D9 paperless un-enroll"
                },
                Operation::ModifyCBDataForCustomer,
                payload::event(&event(EventAction::Paperless { enroll }, None), &s, None).ok(),
                format!(
                    "<customer objectID=\"35909001\"><extensionsList>{}</extensionsList></customer>",
                    ext("EBILL", flag)
                ),
            );
        }
        // D10 autopay: the event's location, else the directory's; logTime
        // is the event's time in the biller's zone (D8).
        let comment = |loc: &str, text: &str| {
            format!(
                "<historyComment><customerID>35909001</customerID><serviceLocationID>{loc}</serviceLocationID><logTime>2026-11-27T14:03:00-06:00</logTime><comment>{text}</comment></historyComment>"
            )
        };
        let c_op = Operation::WriteAccountHistoryComments;
        push(
            "D10 autopay ON, event location",
            c_op,
            payload::event(
                &event(EventAction::Autopay { on: true }, Some("321045080002")),
                &s,
                Some("999"),
            )
            .ok(),
            comment("321045080002", "AUTOPAY ON"),
        );
        push(
            "D10 autopay OFF, directory location",
            c_op,
            payload::event(
                &event(EventAction::Autopay { on: false }, None),
                &s,
                Some("321045080002"),
            )
            .ok(),
            comment("321045080002", "AUTOPAY OFF"),
        );
        // D8: the three scheduled-payment comments.
        for (action, text) in [
            (
                ScheduledAction::Create,
                "SCHED_PAY 08152024 156.25 121940013401",
            ),
            (
                ScheduledAction::Cancel,
                "SCHED_PAY_CNCL 08152024 156.25 121940013401",
            ),
            (
                ScheduledAction::Update,
                "SCHED_PAY_UPDT 08152024 156.25 121940013401",
            ),
        ] {
            let sp = Scheduled {
                action,
                scheduled_date: chrono::NaiveDate::from_ymd_opt(2024, 8, 15).unwrap(),
                amount: Decimal::from_str("156.25").unwrap(),
                invoice_number: "121940013401".into(),
            };
            push(
                "D8 scheduled payment",
                c_op,
                payload::event(
                    &event(EventAction::ScheduledPayment(sp), None),
                    &s,
                    Some("321045080002"),
                )
                .ok(),
                comment("321045080002", text),
            );
        }

        let mut docs = Vec::new();
        for (name, op, wire, want) in &cases {
            assert_eq!(wire, want, "{name}");
            let body = request::pump_body(*op, std::slice::from_ref(wire)).unwrap();
            docs.push((name.to_string(), body));
        }
        // D12: a group's items in one call body, and it validates too.
        let group: Vec<String> = cases
            .iter()
            .filter(|c| c.1 == pay_op)
            .map(|c| c.2.clone())
            .collect();
        docs.push((
            "D12 one call".into(),
            request::pump_body(pay_op, &group).unwrap(),
        ));
        validate_all(&docs);
    }

    #[test]
    fn rules_that_send_nothing() {
        let s = settings();
        // D11: a donation is skipped where setting 131 says so.
        let mut r = pay();
        r.invoice_type = Some("Donation".into());
        let item = payment_item(&r, &s);
        assert_eq!(item.state, ItemState::Skipped);
        assert!(payload::payment(&r, &s).unwrap_err().contains("D11"));
        // D12: the group is the Custom10 key and the time.
        let mut r = pay();
        r.group_key = Some("857725-12345".into());
        assert_eq!(
            payment_item(&r, &s).batch_group.as_deref(),
            Some("857725-12345|2026-11-27T14:03:00-06:00")
        );
        // D10: no location anywhere: held, no payload yet.
        let item = event_item(&event(EventAction::Autopay { on: true }, None), &s, None);
        assert_eq!((item.kind, item.state), (Kind::Autopay, ItemState::Held));
        assert!(payload::event(&event(EventAction::Autopay { on: true }, None), &s, None).is_err());
        // D8: over 70 characters is refused, never cut.
        let sp = Scheduled {
            action: ScheduledAction::Cancel,
            scheduled_date: chrono::NaiveDate::from_ymd_opt(2024, 8, 15).unwrap(),
            amount: Decimal::from_str("156.25").unwrap(),
            invoice_number: "9".repeat(40),
        };
        let item = event_item(
            &event(EventAction::ScheduledPayment(sp.clone()), Some("1")),
            &s,
            None,
        );
        assert_eq!(item.state, ItemState::Rejected);
        assert!(item.reason.contains("71 characters"), "{}", item.reason);
        // Scheduled payments for a biller without the feature are skipped.
        let off = RuleSettings {
            scheduled_payments: false,
            ..settings()
        };
        let mut ok = sp;
        ok.invoice_number = "1".into();
        let item = event_item(
            &event(EventAction::ScheduledPayment(ok), Some("1")),
            &off,
            None,
        );
        assert_eq!(item.state, ItemState::Skipped);
    }
}

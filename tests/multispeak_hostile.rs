//! The readers of outside XML never panic and never report success on
//! hostile or broken input: deep nesting, huge text, entities and DTDs,
//! wrong namespaces, random bytes and random mutations of good answers.

use daffron_bridge::multispeak::response::{self, Answer, ResponseError};
use daffron_bridge::multispeak::xml::{self, XmlError};
use daffron_bridge::multispeak::{NS, Operation, SOAP_NS};
use proptest::prelude::*;

fn env(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

fn good_payable() -> String {
    env(&format!(
        "<GetPayableItemsListResponse xmlns=\"{NS}\"><GetPayableItemsListResult><payableItem><extensionsList><extensionsItem><extName>remainingBalance</extName><extValue>4.93</extValue></extensionsItem></extensionsList><pastDueAmount>1.50</pastDueAmount><currentAmount>10.25</currentAmount></payableItem><allowableTransactionTypes><transactionType>Cash Only</transactionType></allowableTransactionTypes></GetPayableItemsListResult></GetPayableItemsListResponse>"
    ))
}

fn good_payments() -> String {
    env(&format!(
        "<CommitPaymentTransactionResponse xmlns=\"{NS}\"><CommitPaymentTransactionResult><paymentTransaction><accountNumber>1</accountNumber><achPayment><tender errorString=\"Duplicate\"><amount>1.00</amount><responseCode>Failure</responseCode></tender></achPayment></paymentTransaction></CommitPaymentTransactionResult></CommitPaymentTransactionResponse>"
    ))
}

/// Runs every reader; returns whether the payable-items reader said Ok.
fn all_readers(bytes: &[u8]) -> bool {
    let _ = xml::parse(bytes);
    let _ = response::read_envelope(bytes);
    let _ = response::parse_payment_answers(bytes);
    for op in Operation::ALL {
        let _ = response::parse_error_objects(bytes, op);
    }
    match response::parse_payable_items_list(bytes) {
        Ok(Answer::Ok(l)) => {
            let _ = daffron_bridge::rtdr::balance("1", &l);
            true
        }
        _ => false,
    }
}

#[test]
fn deep_nesting_is_refused_not_recursed() {
    for depth in [65usize, 1_000, 100_000] {
        let doc = "<a>".repeat(depth) + &"</a>".repeat(depth);
        assert_eq!(xml::parse(doc.as_bytes()), Err(XmlError::TooDeep));
        let inside = env(&"<x>".repeat(depth)) + &"</x>".repeat(depth);
        assert!(!all_readers(inside.as_bytes()));
    }
}

#[test]
fn huge_text_is_handled() {
    let big = "9".repeat(8 * 1024 * 1024);
    let doc = good_payable().replace("10.25", &big);
    assert!(matches!(
        response::parse_payable_items_list(doc.as_bytes()),
        Err(ResponseError::BadValue { .. })
    ));
    let doc = good_payable().replace("Cash Only", &"x".repeat(4 * 1024 * 1024));
    assert!(matches!(
        response::parse_payable_items_list(doc.as_bytes()),
        Ok(Answer::Ok(_))
    ));
}

#[test]
fn entities_and_dtds_are_refused() {
    let billion = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&lol2;</soap:Body></soap:Envelope>"#;
    assert_eq!(
        response::read_envelope(billion.as_bytes()),
        Err(ResponseError::Xml(XmlError::Doctype))
    );
    let xxe = good_payable()
        .replace(
            "<?xml version=\"1.0\"?>",
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
        )
        .replace("Cash Only", "&e;");
    assert!(!all_readers(xxe.as_bytes()));
    let undeclared = good_payable().replace("Cash Only", "&e;");
    assert!(matches!(
        response::parse_payable_items_list(undeclared.as_bytes()),
        Err(ResponseError::Xml(XmlError::Entity(_)))
    ));
}

#[test]
fn wrong_namespaces_are_refused() {
    let g = good_payable();
    for bad in [
        g.replace(NS, "http://www.multispeak.org/Version_4.1"),
        g.replace(SOAP_NS, "http://www.w3.org/2003/05/soap-envelope"),
        g.replace(&format!(" xmlns=\"{NS}\""), ""),
    ] {
        assert!(
            response::parse_payable_items_list(bad.as_bytes()).is_err(),
            "{bad}"
        );
    }
    // A payment answer is not a balance answer and vice versa.
    assert!(response::parse_payable_items_list(good_payments().as_bytes()).is_err());
    assert!(response::parse_payment_answers(g.as_bytes()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = all_readers(&bytes);
    }

    #[test]
    fn random_xmlish_never_panics(s in "(<[a-z:]{0,6}( [a-z:]{1,5}=\"[^\"<]{0,8}\")?/?>|</[a-z:]{0,6}>|&[a-z#0-9x]{0,6};|[^<&]{0,10}|<!\\[CDATA\\[[a-z]{0,5}\\]\\]>|<!DOCTYPE x>|<\\?x\\?>){0,40}") {
        let _ = all_readers(s.as_bytes());
    }

    /// Cutting, deleting or changing bytes of a good answer never panics, and
    /// a cut answer is never read as a success.
    #[test]
    fn mutated_answers_never_panic(cut in 0usize..2000, pos in 0usize..2000, byte in any::<u8>(), which in 0u8..2) {
        let good = if which == 0 { good_payable() } else { good_payments() };
        let b = good.as_bytes();
        let cut = cut % b.len();
        if which == 0 {
            prop_assert!(!all_readers(&b[..cut]));
        }
        let mut m = b.to_vec();
        let p = pos % m.len();
        m[p] = byte;
        let _ = all_readers(&m);
        m.remove(p);
        let _ = all_readers(&m);
    }
}

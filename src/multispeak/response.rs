//! Reading MultiSpeak answers (and, for the sandbox, requests).
//!
//! Nothing about an answer's structure is trusted: the document is read by
//! the bounded reader of [`super::xml`], the envelope and the answer element
//! must be in the right namespaces, and every value we need is checked. What
//! is wrong is a [`ResponseError`] naming it, never a panic and never a
//! silent success.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::xml::{self, Element, XmlError};
use super::{NS, Operation, SOAP_NS, TenderKind};

/// Why an answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("the answer is not a SOAP 1.1 envelope (root element {found})")]
    NotSoap { found: String },
    #[error("the SOAP envelope has no Body with one element in it")]
    NoBody,
    #[error("expected {expected} in namespace {NS}, found {found}")]
    Unexpected { expected: String, found: String },
    #[error("the answer lacks {0}")]
    Missing(String),
    #[error("the answer's {what} `{value}` is not {expected}")]
    BadValue {
        what: String,
        value: String,
        expected: &'static str,
    },
}

/// A SOAP 1.1 Fault: the server refused the whole call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    pub code: String,
    pub string: String,
    pub detail: String,
}

impl std::fmt::Display for SoapFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SOAP Fault {}: {}", self.code, self.string)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// An answer: the expected element, or a Fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Ok(T),
    Fault(SoapFault),
}

/// A SOAP envelope read: the header (if any) and the one element of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub header: Option<Element>,
    pub body: Element,
}

/// Reads a SOAP 1.1 envelope. The body must hold exactly one element. The
/// header and body are moved out of the parsed document, not copied.
pub fn read_envelope(bytes: &[u8]) -> Result<Envelope, ResponseError> {
    let root = xml::parse(bytes)?;
    if !root.is(SOAP_NS, "Envelope") {
        return Err(ResponseError::NotSoap {
            found: root.qualified(),
        });
    }
    let mut header = None;
    let mut body = None;
    for child in root.children {
        if child.is(SOAP_NS, "Header") && header.is_none() {
            header = Some(child);
        } else if child.is(SOAP_NS, "Body") && body.is_none() {
            body = Some(child);
        }
    }
    let body = body.ok_or(ResponseError::NoBody)?;
    let mut elements = body.children.into_iter();
    let (Some(first), None) = (elements.next(), elements.next()) else {
        return Err(ResponseError::NoBody);
    };
    Ok(Envelope {
        header,
        body: first,
    })
}

/// A Fault, if `el` is one. `faultcode` etc. are unqualified in SOAP 1.1;
/// a prefixed form is accepted too.
pub fn fault_of(el: &Element) -> Option<SoapFault> {
    if !el.is(SOAP_NS, "Fault") {
        return None;
    }
    let text = |name: &str| {
        el.children
            .iter()
            .find(|c| c.name == name)
            .map(|c| flatten(c).trim().to_string())
            .unwrap_or_default()
    };
    Some(SoapFault {
        code: text("faultcode"),
        string: text("faultstring"),
        detail: text("detail"),
    })
}

fn flatten(el: &Element) -> String {
    let mut s = el.text.clone();
    for c in &el.children {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&flatten(c));
    }
    s
}

/// Reads an answer to `op`: its `...Result` element (or `None` when the
/// server sent an empty `...Response`, which MultiSpeak allows for error-object
/// answers meaning "no errors"), or the Fault.
pub fn read_answer(bytes: &[u8], op: Operation) -> Result<Answer<Option<Element>>, ResponseError> {
    let env = read_envelope(bytes)?;
    if let Some(f) = fault_of(&env.body) {
        return Ok(Answer::Fault(f));
    }
    let names: &[&str] = match op {
        Operation::GetPayableItemsList => {
            &["GetPayableItemsListResponse", "PayableItemsListResponse"]
        }
        Operation::CommitPaymentTransaction => &["CommitPaymentTransactionResponse"],
        Operation::ModifyCBDataForCustomer => &["ModifyCBDataForCustomerResponse"],
        Operation::WriteAccountHistoryComments => &["WriteAccountHistoryCommentsResponse"],
    };
    result_of(env.body, names).map(Answer::Ok)
}

/// The `...Result` child of an answer element named one of `names` (the
/// first is the standard name, for the message); `None` for an empty answer.
fn result_of(b: Element, names: &[&str]) -> Result<Option<Element>, ResponseError> {
    if !names.iter().any(|n| b.is(NS, n)) {
        return Err(ResponseError::Unexpected {
            expected: names[0].to_string(),
            found: b.qualified(),
        });
    }
    let result_names: Vec<String> = names
        .iter()
        .map(|n| n.replace("Response", "Result"))
        .collect();
    Ok(b.children
        .into_iter()
        .find(|c| result_names.iter().any(|n| c.is(NS, n))))
}

/// Reads the answer to a [`Probe`](super::Probe): its `...Result`, or the Fault.
fn read_probe(bytes: &[u8], p: super::Probe) -> Result<Answer<Option<Element>>, ResponseError> {
    let env = read_envelope(bytes)?;
    if let Some(f) = fault_of(&env.body) {
        return Ok(Answer::Fault(f));
    }
    let names: &[&str] = match p {
        super::Probe::PingURL => &["PingURLResponse"],
        super::Probe::GetMethods => &["GetMethodsResponse", "MethodsResponse"],
    };
    result_of(env.body, names).map(Answer::Ok)
}

/// Reads PingURL's answer: an `ArrayOfErrorObject`, empty when the server
/// is well.
pub fn parse_ping_url(bytes: &[u8]) -> Result<Answer<Vec<ErrorObject>>, ResponseError> {
    Ok(match read_probe(bytes, super::Probe::PingURL)? {
        Answer::Fault(f) => Answer::Fault(f),
        Answer::Ok(None) => Answer::Ok(Vec::new()),
        Answer::Ok(Some(r)) => Answer::Ok(error_objects_in(&r)),
    })
}

/// Reads GetMethods' answer: the method names the server serves
/// (`ArrayOfString`, one `string` each), trimmed, empty ones left out.
pub fn parse_methods(bytes: &[u8]) -> Result<Answer<Vec<String>>, ResponseError> {
    Ok(match read_probe(bytes, super::Probe::GetMethods)? {
        Answer::Fault(f) => Answer::Fault(f),
        Answer::Ok(None) => Answer::Ok(Vec::new()),
        Answer::Ok(Some(r)) => Answer::Ok(
            r.children_named(NS, "string")
                .map(|s| s.text.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
    })
}

/// One `extensionsItem`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Extension {
    pub name: String,
    pub value: String,
    #[serde(rename = "type")]
    pub ext_type: String,
}

/// The `extensionsList` items of an mspObject element.
pub fn extensions(el: &Element) -> Vec<Extension> {
    el.child(NS, "extensionsList")
        .map(|l| {
            l.children_named(NS, "extensionsItem")
                .map(|i| Extension {
                    name: i.child_text(NS, "extName").unwrap_or("").to_string(),
                    value: i.child_text(NS, "extValue").unwrap_or("").to_string(),
                    ext_type: i.child_text(NS, "extType").unwrap_or("").to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An `xs:float` amount read exactly as a decimal. Plain and exponent forms
/// are accepted; `NaN`, `INF` and anything else are not amounts.
pub fn parse_amount(s: &str) -> Option<Decimal> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if s.contains(['e', 'E']) {
        Decimal::from_scientific(s).ok()
    } else {
        Decimal::from_str(s).ok()
    }
}

fn amount_of(el: &Element, name: &str, what: &str) -> Result<Option<Decimal>, ResponseError> {
    match el.child_text(NS, name) {
        None | Some("") => Ok(None),
        Some(v) => parse_amount(v)
            .map(Some)
            .ok_or_else(|| ResponseError::BadValue {
                what: what.to_string(),
                value: v.chars().take(60).collect(),
                expected: "a decimal amount",
            }),
    }
}

/// One `payableItem` of a GetPayableItemsList answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PayableItem {
    pub object_id: Option<String>,
    pub past_due_amount: Option<Decimal>,
    pub current_amount: Option<Decimal>,
    pub description: Option<String>,
    pub charge_code: Option<String>,
    pub due_date: Option<String>,
    pub disconnect_date: Option<String>,
    pub last_payment_amount: Option<Decimal>,
    pub last_payment_date: Option<String>,
    pub extensions: Vec<Extension>,
}

/// A `payableItemList`: the account's items and allowable transaction types.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct PayableItemList {
    pub items: Vec<PayableItem>,
    pub allowable_transaction_types: Vec<String>,
}

/// Reads a GetPayableItemsList answer. A missing `...Result` is an error
/// (the balance would otherwise silently read as zero).
pub fn parse_payable_items_list(bytes: &[u8]) -> Result<Answer<PayableItemList>, ResponseError> {
    let result = match read_answer(bytes, Operation::GetPayableItemsList)? {
        Answer::Fault(f) => return Ok(Answer::Fault(f)),
        Answer::Ok(None) => {
            return Err(ResponseError::Missing(
                "GetPayableItemsListResult (the payable item list)".into(),
            ));
        }
        Answer::Ok(Some(r)) => r,
    };
    payable_item_list(&result).map(Answer::Ok)
}

/// Reads a `payableItemList` element.
pub fn payable_item_list(result: &Element) -> Result<PayableItemList, ResponseError> {
    let mut list = PayableItemList::default();
    for (n, it) in result.children_named(NS, "payableItem").enumerate() {
        let what = |f: &str| format!("payableItem {} {f}", n + 1);
        let text = |name: &str| it.child_text(NS, name).map(str::to_string);
        list.items.push(PayableItem {
            object_id: it.attr("objectID").map(str::to_string),
            past_due_amount: amount_of(it, "pastDueAmount", &what("pastDueAmount"))?,
            current_amount: amount_of(it, "currentAmount", &what("currentAmount"))?,
            description: text("description"),
            charge_code: text("chargeCode"),
            due_date: text("dueDate"),
            disconnect_date: text("disconnectDate"),
            last_payment_amount: amount_of(it, "lastPaymentAmount", &what("lastPaymentAmount"))?,
            last_payment_date: text("lastPaymentDate"),
            extensions: extensions(it),
        });
    }
    if let Some(t) = result.child(NS, "allowableTransactionTypes") {
        list.allowable_transaction_types = t
            .children_named(NS, "transactionType")
            .map(|t| t.text.trim().to_string())
            .collect();
    }
    Ok(list)
}

/// One tender of a CommitPaymentTransaction answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentAnswer {
    pub account_number: String,
    pub tender: TenderKind,
    pub amount: Option<Decimal>,
    pub authorization_code: Option<String>,
    /// `Success`, `Failure` or `Error`; `None` when absent.
    pub response_code: Option<String>,
    /// The tender's `errorString` attribute.
    pub error_string: Option<String>,
    /// The `transactionId` extension, when the server echoes it.
    pub transaction_id: Option<String>,
}

/// Reads a CommitPaymentTransaction answer: one [`PaymentAnswer`] per tender.
pub fn parse_payment_answers(bytes: &[u8]) -> Result<Answer<Vec<PaymentAnswer>>, ResponseError> {
    let result = match read_answer(bytes, Operation::CommitPaymentTransaction)? {
        Answer::Fault(f) => return Ok(Answer::Fault(f)),
        Answer::Ok(None) => return Ok(Answer::Ok(Vec::new())),
        Answer::Ok(Some(r)) => r,
    };
    let mut out = Vec::new();
    for pt in result.children_named(NS, "paymentTransaction") {
        let account = pt.child_text(NS, "accountNumber").unwrap_or("").to_string();
        for c in &pt.children {
            let Some(kind) =
                TenderKind::from_element(&c.name).filter(|_| c.ns.as_deref() == Some(NS))
            else {
                continue;
            };
            let Some(t) = c.child(NS, "tender") else {
                return Err(ResponseError::Missing(format!(
                    "the tender of a {} for account {account}",
                    kind.element()
                )));
            };
            let amount = amount_of(t, "amount", "tender amount")?;
            let response_code = t.child_text(NS, "responseCode").map(str::to_string);
            if let Some(rc) = &response_code
                && !matches!(rc.as_str(), "Success" | "Failure" | "Error")
            {
                return Err(ResponseError::BadValue {
                    what: "responseCode".into(),
                    value: rc.chars().take(60).collect(),
                    expected: "Success, Failure or Error",
                });
            }
            out.push(PaymentAnswer {
                account_number: account.clone(),
                tender: kind,
                amount,
                authorization_code: t.child_text(NS, "authorizationCode").map(str::to_string),
                response_code,
                error_string: t.attr("errorString").map(str::to_string),
                transaction_id: extensions(t)
                    .into_iter()
                    .find(|e| e.name.eq_ignore_ascii_case("transactionId"))
                    .map(|e| e.value),
            });
        }
    }
    Ok(Answer::Ok(out))
}

/// One `errorObject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorObject {
    pub object_id: Option<String>,
    pub error_string: String,
    pub noun_type: Option<String>,
}

/// Reads an `ArrayOfErrorObject` answer (ModifyCBDataForCustomer,
/// WriteAccountHistoryComments). No result or an empty one means no errors.
pub fn parse_error_objects(
    bytes: &[u8],
    op: Operation,
) -> Result<Answer<Vec<ErrorObject>>, ResponseError> {
    let result = match read_answer(bytes, op)? {
        Answer::Fault(f) => return Ok(Answer::Fault(f)),
        Answer::Ok(None) => return Ok(Answer::Ok(Vec::new())),
        Answer::Ok(Some(r)) => r,
    };
    Ok(Answer::Ok(error_objects_in(&result)))
}

/// The `errorObject`s of an `ArrayOfErrorObject` (nil ones left out).
fn error_objects_in(result: &Element) -> Vec<ErrorObject> {
    result
        .children_named(NS, "errorObject")
        .filter(|e| e.attr("nil") != Some("true"))
        .map(|e| ErrorObject {
            object_id: e.attr("objectID").map(str::to_string),
            error_string: e.attr("errorString").unwrap_or("").to_string(),
            noun_type: e.attr("nounType").map(str::to_string),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body>{body}</soap:Body></soap:Envelope>"
        )
    }

    #[test]
    fn probes_read_both_names_and_faults() {
        let m = env(&format!(
            "<GetMethodsResponse xmlns=\"{NS}\"><GetMethodsResult><string>PingURL</string><string> GetPayableItemsList </string><string/></GetMethodsResult></GetMethodsResponse>"
        ));
        assert_eq!(
            parse_methods(m.as_bytes()).unwrap(),
            Answer::Ok(vec![
                "PingURL".to_string(),
                "GetPayableItemsList".to_string()
            ])
        );
        // The 3.0 AC stub's name for it.
        let stub = env(&format!(
            "<MethodsResponse xmlns=\"{NS}\"><MethodsResult><string>PayableItemsList</string></MethodsResult></MethodsResponse>"
        ));
        assert_eq!(
            parse_methods(stub.as_bytes()).unwrap(),
            Answer::Ok(vec!["PayableItemsList".to_string()])
        );
        let wrong = env(&format!("<PingURLResponse xmlns=\"{NS}\"/>"));
        assert!(matches!(
            parse_methods(wrong.as_bytes()),
            Err(ResponseError::Unexpected { .. })
        ));
        assert_eq!(
            parse_ping_url(wrong.as_bytes()).unwrap(),
            Answer::Ok(Vec::new())
        );
        let sick = env(&format!(
            "<PingURLResponse xmlns=\"{NS}\"><PingURLResult><errorObject errorString=\"database down\"/></PingURLResult></PingURLResponse>"
        ));
        let Answer::Ok(errors) = parse_ping_url(sick.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(errors[0].error_string, "database down");
        let fault = env(&format!(
            "<soap:Fault xmlns:soap=\"{SOAP_NS}\"><faultcode>soap:Client</faultcode><faultstring>no</faultstring></soap:Fault>"
        ));
        assert!(matches!(
            parse_methods(fault.as_bytes()).unwrap(),
            Answer::Fault(_)
        ));
    }

    #[test]
    fn payable_items_with_extensions_and_types() {
        let b = env(&format!(
            r#"<GetPayableItemsListResponse xmlns="{NS}"><GetPayableItemsListResult>
<payableItem objectID="E"><extensionsList><extensionsItem><extName>remainingBalance</extName><extValue>4.93</extValue><extType>decimal</extType></extensionsItem></extensionsList>
<pastDueAmount>10.5</pastDueAmount><currentAmount>100.25</currentAmount><description>Electric</description><dueDate>2026-12-15T00:00:00</dueDate></payableItem>
<payableItem><pastDueAmount>0</pastDueAmount><currentAmount>1E1</currentAmount></payableItem>
<allowableTransactionTypes><transactionType>Cash Only</transactionType></allowableTransactionTypes>
</GetPayableItemsListResult></GetPayableItemsListResponse>"#
        ));
        let Answer::Ok(l) = parse_payable_items_list(b.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(l.items.len(), 2);
        assert_eq!(
            l.items[0].current_amount,
            Some(Decimal::from_str("100.25").unwrap())
        );
        assert_eq!(l.items[1].current_amount, Some(Decimal::from(10)));
        assert_eq!(l.items[0].extensions[0].name, "remainingBalance");
        assert_eq!(l.allowable_transaction_types, vec!["Cash Only"]);
    }

    #[test]
    fn the_stub_name_is_accepted() {
        let b = env(&format!(
            "<PayableItemsListResponse xmlns=\"{NS}\"><PayableItemsListResult/></PayableItemsListResponse>"
        ));
        assert!(matches!(
            parse_payable_items_list(b.as_bytes()),
            Ok(Answer::Ok(_))
        ));
    }

    #[test]
    fn wrong_namespace_missing_result_bad_amount() {
        let b = env(
            "<GetPayableItemsListResponse xmlns=\"urn:other\"><GetPayableItemsListResult/></GetPayableItemsListResponse>",
        );
        assert!(matches!(
            parse_payable_items_list(b.as_bytes()),
            Err(ResponseError::Unexpected { .. })
        ));
        let b = env(&format!("<GetPayableItemsListResponse xmlns=\"{NS}\"/>"));
        assert!(matches!(
            parse_payable_items_list(b.as_bytes()),
            Err(ResponseError::Missing(_))
        ));
        let b = env(&format!(
            "<GetPayableItemsListResponse xmlns=\"{NS}\"><GetPayableItemsListResult><payableItem><currentAmount>NaN</currentAmount></payableItem></GetPayableItemsListResult></GetPayableItemsListResponse>"
        ));
        assert!(matches!(
            parse_payable_items_list(b.as_bytes()),
            Err(ResponseError::BadValue { .. })
        ));
        let soap12 = "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body/></e:Envelope>";
        assert!(matches!(
            parse_payable_items_list(soap12.as_bytes()),
            Err(ResponseError::NotSoap { .. })
        ));
    }

    #[test]
    fn fault_is_read() {
        let b = env(
            "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>bad user</faultstring><detail><x>d</x></detail></soap:Fault>",
        );
        let Answer::Fault(f) =
            parse_error_objects(b.as_bytes(), Operation::ModifyCBDataForCustomer).unwrap()
        else {
            panic!()
        };
        assert_eq!(f.code, "soap:Client");
        assert_eq!(f.string, "bad user");
        assert_eq!(f.detail, "d");
    }

    #[test]
    fn payment_answers() {
        let b = env(&format!(
            r#"<CommitPaymentTransactionResponse xmlns="{NS}"><CommitPaymentTransactionResult>
<paymentTransaction><accountNumber>267002</accountNumber><creditCardPayment><tender><amount>0.10</amount><authorizationCode>123456</authorizationCode><responseCode>Success</responseCode></tender></creditCardPayment></paymentTransaction>
<paymentTransaction><accountNumber>267003</accountNumber><achPayment><tender errorString="Duplicate payment"><extensionsList><extensionsItem><extName>transactionId</extName><extValue>T2</extValue></extensionsItem></extensionsList><amount>5</amount><responseCode>Failure</responseCode></tender></achPayment></paymentTransaction>
</CommitPaymentTransactionResult></CommitPaymentTransactionResponse>"#
        ));
        let Answer::Ok(a) = parse_payment_answers(b.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].response_code.as_deref(), Some("Success"));
        assert_eq!(a[1].tender, TenderKind::Ach);
        assert_eq!(a[1].transaction_id.as_deref(), Some("T2"));
        assert_eq!(a[1].error_string.as_deref(), Some("Duplicate payment"));
        let bad = b.replace(">Success<", ">Maybe<");
        assert!(parse_payment_answers(bad.as_bytes()).is_err());
    }

    #[test]
    fn error_objects() {
        let b = env(&format!(
            r#"<WriteAccountHistoryCommentsResponse xmlns="{NS}"><WriteAccountHistoryCommentsResult><errorObject objectID="1001" errorString="no such account" nounType="historyComment"/></WriteAccountHistoryCommentsResult></WriteAccountHistoryCommentsResponse>"#
        ));
        let Answer::Ok(e) =
            parse_error_objects(b.as_bytes(), Operation::WriteAccountHistoryComments).unwrap()
        else {
            panic!()
        };
        assert_eq!(e[0].object_id.as_deref(), Some("1001"));
        assert_eq!(e[0].error_string, "no such account");
        let empty = env(&format!(
            "<WriteAccountHistoryCommentsResponse xmlns=\"{NS}\"/>"
        ));
        assert_eq!(
            parse_error_objects(empty.as_bytes(), Operation::WriteAccountHistoryComments).unwrap(),
            Answer::Ok(vec![])
        );
        // The wrong answer for the operation is an error.
        assert!(parse_error_objects(empty.as_bytes(), Operation::ModifyCBDataForCustomer).is_err());
    }
}

//! Building MultiSpeak requests: the SOAP 1.1 envelope with its
//! `MultiSpeakMsgHeader`, and the bodies of the four operations.
//!
//! Element order, names and types follow `specs/multispeak/CB_Server_30ac_types.xsd`,
//! not the seed's sample XML (which has typos such as `extensionsltem` and
//! `transactionld`). Every body built here is validated against that schema
//! by the tests (`tests/multispeak_xsd.rs`).
//!
//! The builders take plain values the data pump fills in. The business rules
//! (which tender, which paymentMode, the authorization code cut to 50, the
//! transactionId value, the comment text) are the caller's: this module writes
//! what it is given, escaped.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use rust_decimal::Decimal;

use super::xml::esc;
use super::{NS, Operation, SOAP_NS, amount};
use crate::config::ServiceVersion;

/// What goes into every `MultiSpeakMsgHeader` besides the per-call
/// MessageID and TimeStamp. `pwd` is a secret: [`MsgHeader`]'s `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct MsgHeader {
    pub user_id: String,
    pub pwd: String,
    pub app_name: String,
    pub app_version: String,
    pub company: String,
}

impl std::fmt::Debug for MsgHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgHeader")
            .field("user_id", &self.user_id)
            .field("pwd", &"<redacted>")
            .field("app_name", &self.app_name)
            .field("app_version", &self.app_version)
            .field("company", &self.company)
            .finish()
    }
}

/// The tender of a payment and its container element (D7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenderKind {
    CreditCard,
    Ach,
    ECheck,
    Cash,
}

impl TenderKind {
    pub const ALL: [TenderKind; 4] = [
        TenderKind::CreditCard,
        TenderKind::Ach,
        TenderKind::ECheck,
        TenderKind::Cash,
    ];

    /// The paymentTransaction child that holds the tender (D7). The schema
    /// spells them `creditCardPayment`, `achPayment`, `eCheckPayment`,
    /// `cashPayment`; each holds one `tender` (and optional card/check info,
    /// which this integration never sends).
    pub fn element(self) -> &'static str {
        match self {
            TenderKind::CreditCard => "creditCardPayment",
            TenderKind::Ach => "achPayment",
            TenderKind::ECheck => "eCheckPayment",
            TenderKind::Cash => "cashPayment",
        }
    }

    pub fn from_element(name: &str) -> Option<TenderKind> {
        TenderKind::ALL.into_iter().find(|t| t.element() == name)
    }

    /// The export's code: `CC`, `ACH`, `ECHECK`, `CASH`.
    pub fn code(self) -> &'static str {
        match self {
            TenderKind::CreditCard => "CC",
            TenderKind::Ach => "ACH",
            TenderKind::ECheck => "ECHECK",
            TenderKind::Cash => "CASH",
        }
    }
}

/// One payment to post with CommitPaymentTransaction. The caller applies
/// the business rules before filling it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTransaction {
    /// base+sub without dash (D2), e.g. `35909001`.
    pub account_number: String,
    /// The container element (D7).
    pub tender: TenderKind,
    /// The payment amount only, never the fee (D7). Written per D1.
    pub amount: Decimal,
    /// The approval code, already cut to 50 characters by the caller (D4).
    /// Left out when empty.
    pub authorization_code: String,
    /// From settings 64/65 or the default mode (D3). Left out when empty.
    pub payment_mode: String,
    /// The `transactionId` extension: the full approval code or the
    /// PaymentGUID (D4, ITG-3305). Milsoft detects duplicates by it (D15).
    pub transaction_id: String,
    /// The `billerReference` extension: the kiosk id of a kiosk payment (D6).
    pub biller_reference: Option<String>,
}

/// One paperless change for ModifyCBDataForCustomer: extension `EBILL` =
/// `Y` to enroll, `N` to un-enroll (seed; D9 says when to send it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerPaperless {
    /// base+sub (D2); written as the customer's objectID.
    pub customer_id: String,
    pub enroll: bool,
}

/// One comment for WriteAccountHistoryComments (autopay `AUTOPAY ON/OFF`,
/// scheduled payments per D8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryComment {
    /// base+sub (D2).
    pub customer_id: String,
    /// Custom4; always sent (D10).
    pub service_location_id: String,
    /// Local time in the biller's timezone with its offset (D8).
    pub log_time: DateTime<FixedOffset>,
    /// At most 70 characters; the caller rejects longer ones (D8).
    pub comment: String,
}

/// `xs:dateTime` with the offset, whole seconds: `2020-08-06T00:01:32-05:00`.
pub fn date_time(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The body of PingURL or GetMethods: an empty element (the schema's
/// `PingURL` and, under the stub's name, `Methods`, have no content).
pub fn probe(p: super::Probe) -> String {
    format!("<{} xmlns=\"{NS}\"/>", p.name())
}

/// The body (child of `soap:Body`) of GetPayableItemsList. `account` is
/// base+sub (D2).
pub fn get_payable_items_list(account: &str) -> String {
    format!(
        "<GetPayableItemsList xmlns=\"{NS}\"><accountNumber>{}</accountNumber></GetPayableItemsList>",
        esc(account)
    )
}

fn extension(out: &mut String, name: &str, value: &str, ext_type: &str) {
    let _ = write!(
        out,
        "<extensionsItem><extName>{}</extName><extValue>{}</extValue><extType>{ext_type}</extType></extensionsItem>",
        esc(name),
        esc(value)
    );
}

/// One `paymentTransaction` element (D7: the tender's container element).
/// Schema order inside a tender: extensionsList, amount, authorizationCode,
/// paymentMode. The data pump stores this fragment as the item's frozen
/// payload, so a resend is byte-for-byte the first send.
pub fn payment_item(p: &PaymentTransaction, version: ServiceVersion) -> String {
    let mut out = String::with_capacity(400);
    let _ = write!(
        out,
        "<paymentTransaction><accountNumber>{}</accountNumber><{el}><tender><extensionsList>",
        esc(&p.account_number),
        el = p.tender.element()
    );
    extension(&mut out, "transactionId", &p.transaction_id, "string");
    if let Some(r) = &p.biller_reference {
        extension(&mut out, "billerReference", r, "string");
    }
    let _ = write!(
        out,
        "</extensionsList><amount>{}</amount>",
        amount::format(p.amount, version)
    );
    if !p.authorization_code.is_empty() {
        let _ = write!(
            out,
            "<authorizationCode>{}</authorizationCode>",
            esc(&p.authorization_code)
        );
    }
    if !p.payment_mode.is_empty() {
        let _ = write!(out, "<paymentMode>{}</paymentMode>", esc(&p.payment_mode));
    }
    let _ = write!(
        out,
        "</tender></{}></paymentTransaction>",
        p.tender.element()
    );
    out
}

/// One `customer` element with the `EBILL` extension. extType is `string`
/// (the seed's `double` is not a type a `Y` can have).
pub fn paperless_item(c: &CustomerPaperless) -> String {
    let mut out = String::with_capacity(200);
    let _ = write!(
        out,
        "<customer objectID=\"{}\"><extensionsList>",
        esc(&c.customer_id)
    );
    extension(
        &mut out,
        "EBILL",
        if c.enroll { "Y" } else { "N" },
        "string",
    );
    out.push_str("</extensionsList></customer>");
    out
}

/// One `historyComment` element.
pub fn comment_item(h: &HistoryComment) -> String {
    format!(
        "<historyComment><customerID>{}</customerID><serviceLocationID>{}</serviceLocationID><logTime>{}</logTime><comment>{}</comment></historyComment>",
        esc(&h.customer_id),
        esc(&h.service_location_id),
        date_time(&h.log_time),
        esc(&h.comment)
    )
}

/// The body of one of the three data-pump operations around item
/// fragments built by [`payment_item`], [`paperless_item`] or
/// [`comment_item`], in order. `None` for GetPayableItemsList, which takes
/// no array.
pub fn pump_body<S: AsRef<str>>(op: Operation, items: &[S]) -> Option<String> {
    let list = match op {
        Operation::CommitPaymentTransaction => "transactions",
        Operation::ModifyCBDataForCustomer => "customerData",
        Operation::WriteAccountHistoryComments => "comments",
        Operation::GetPayableItemsList => return None,
    };
    let len: usize = items.iter().map(|i| i.as_ref().len()).sum();
    let mut out = String::with_capacity(len + 160);
    let _ = write!(out, "<{} xmlns=\"{NS}\"><{list}>", op.name());
    for i in items {
        out.push_str(i.as_ref());
    }
    let _ = write!(out, "</{list}></{}>", op.name());
    Some(out)
}

/// The body of CommitPaymentTransaction with one paymentTransaction per item,
/// in order.
pub fn commit_payment_transaction(items: &[PaymentTransaction], version: ServiceVersion) -> String {
    let parts: Vec<String> = items.iter().map(|p| payment_item(p, version)).collect();
    pump_body(Operation::CommitPaymentTransaction, &parts).unwrap_or_default()
}

/// The body of ModifyCBDataForCustomer, one `customer` per item.
pub fn modify_cb_data_for_customer(items: &[CustomerPaperless]) -> String {
    let parts: Vec<String> = items.iter().map(paperless_item).collect();
    pump_body(Operation::ModifyCBDataForCustomer, &parts).unwrap_or_default()
}

/// The body of WriteAccountHistoryComments, one `historyComment` per item.
pub fn write_account_history_comments(items: &[HistoryComment]) -> String {
    let parts: Vec<String> = items.iter().map(comment_item).collect();
    pump_body(Operation::WriteAccountHistoryComments, &parts).unwrap_or_default()
}

/// The `MultiSpeakMsgHeader` element with a fresh random MessageID (a v4
/// GUID per call, interface.md §1.3) and the TimeStamp `now`.
pub fn msg_header(h: &MsgHeader, message_id: uuid::Uuid, now: DateTime<Utc>) -> String {
    format!(
        "<MultiSpeakMsgHeader xmlns=\"{NS}\" Version=\"3.0\" UserID=\"{}\" Pwd=\"{}\" AppName=\"{}\" AppVersion=\"{}\" Company=\"{}\" MessageID=\"{message_id}\" TimeStamp=\"{}\"/>",
        esc(&h.user_id),
        esc(&h.pwd),
        esc(&h.app_name),
        esc(&h.app_version),
        esc(&h.company),
        now.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// A whole SOAP 1.1 envelope around `body`, with a fresh MessageID.
pub fn envelope(h: &MsgHeader, body: &str) -> String {
    envelope_with(h, body, uuid::Uuid::new_v4(), Utc::now())
}

/// [`envelope`] with a given MessageID and time (tests).
pub fn envelope_with(
    h: &MsgHeader,
    body: &str,
    message_id: uuid::Uuid,
    now: DateTime<Utc>,
) -> String {
    soap_envelope(&msg_header(h, message_id, now), body)
}

/// The one SOAP 1.1 envelope writer of the crate (MultiSpeak calls, the
/// sandbox's answers, InvoiceCloud's UploadInvoiceFile): `header` goes in
/// `soap:Header` (left out when empty), `body` in `soap:Body`. Both must be
/// well-formed XML already.
pub fn soap_envelope(header: &str, body: &str) -> String {
    let mut s = String::with_capacity(header.len() + body.len() + 320);
    s.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"");
    s.push_str(SOAP_NS);
    s.push_str(concat!(
        "\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ",
        "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">"
    ));
    if !header.is_empty() {
        s.push_str("<soap:Header>");
        s.push_str(header);
        s.push_str("</soap:Header>");
    }
    s.push_str("<soap:Body>");
    s.push_str(body);
    s.push_str("</soap:Body></soap:Envelope>");
    s
}

/// The operation a request body is for, read from its first element's name.
pub fn operation_of(body: &str) -> Option<Operation> {
    let start = body.find('<')? + 1;
    let rest = &body[start..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    Operation::from_name(&rest[..end])
}

/// A copy of a SOAP document with every secret replaced by `***`: the
/// header's `Pwd` attribute and InvoiceCloud's `WebServiceKey` element. Use it
/// before logging or journaling any envelope.
pub fn redact(xml: &str) -> String {
    let mut out = redact_between(xml, "Pwd=\"", "\"");
    out = redact_between(&out, "Pwd='", "'");
    for tag in ["WebServiceKey", "Pwd"] {
        // Prefixed or not: <WebServiceKey>, <ic:WebServiceKey>.
        let mut s = String::with_capacity(out.len());
        let mut rest = out.as_str();
        loop {
            let Some(i) = rest.find(&format!("{tag}>")) else {
                s.push_str(rest);
                break;
            };
            let j = i + tag.len() + 1;
            let is_open = rest[..i].rfind('<').is_some_and(|lt| {
                let between = &rest[lt + 1..i];
                !between.starts_with('/') && !between.contains('>')
            });
            s.push_str(&rest[..j]);
            rest = &rest[j..];
            if is_open {
                let end = rest.find('<').unwrap_or(rest.len());
                s.push_str("***");
                rest = &rest[end..];
            }
        }
        out = s;
    }
    out
}

fn redact_between(xml: &str, open: &str, close: &str) -> String {
    let mut s = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(i) = rest.find(open) {
        let j = i + open.len();
        s.push_str(&rest[..j]);
        rest = &rest[j..];
        let end = rest.find(close).unwrap_or(rest.len());
        s.push_str("***");
        rest = &rest[end..];
    }
    s.push_str(rest);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multispeak::xml;
    use std::str::FromStr;

    fn header() -> MsgHeader {
        MsgHeader {
            user_id: "InvoiceCloud".into(),
            pwd: "s3cr\"et<&>".into(),
            app_name: "InvoiceCloud".into(),
            app_version: "0.1.0".into(),
            company: "Invoice Cloud".into(),
        }
    }

    #[test]
    fn envelope_has_header_attributes_escaped_and_fresh_ids() {
        let a = envelope(&header(), &get_payable_items_list("35909001"));
        let b = envelope(&header(), &get_payable_items_list("35909001"));
        let root = xml::parse(a.as_bytes()).unwrap();
        assert!(root.is(SOAP_NS, "Envelope"));
        let h = root
            .child(SOAP_NS, "Header")
            .and_then(|h| h.child(NS, "MultiSpeakMsgHeader"))
            .unwrap();
        assert_eq!(h.attr("Version"), Some("3.0"));
        assert_eq!(h.attr("Pwd"), Some("s3cr\"et<&>"));
        let id_a = h.attr("MessageID").unwrap().to_string();
        let id_b = xml::parse(b.as_bytes())
            .unwrap()
            .child(SOAP_NS, "Header")
            .and_then(|h| h.child(NS, "MultiSpeakMsgHeader"))
            .and_then(|h| h.attr("MessageID").map(str::to_string))
            .unwrap();
        assert_ne!(id_a, id_b);
        assert_eq!(uuid::Uuid::parse_str(&id_a).unwrap().get_version_num(), 4);
        assert!(DateTime::parse_from_rfc3339(h.attr("TimeStamp").unwrap()).is_ok());
    }

    #[test]
    fn redact_hides_pwd_and_key() {
        let e = envelope(&header(), &get_payable_items_list("1"));
        let r = redact(&e);
        assert!(!r.contains("s3cr"), "{r}");
        assert!(r.contains("Pwd=\"***\""), "{r}");
        let ic = "<a><ic:WebServiceKey>k-123</ic:WebServiceKey><WebServiceKey>zz</WebServiceKey><Pwd>p</Pwd></a>";
        let r = redact(ic);
        assert_eq!(
            r,
            "<a><ic:WebServiceKey>***</ic:WebServiceKey><WebServiceKey>***</WebServiceKey><Pwd>***</Pwd></a>"
        );
    }

    #[test]
    fn payment_body_order_and_escaping() {
        let p = PaymentTransaction {
            account_number: "35909001".into(),
            tender: TenderKind::CreditCard,
            amount: Decimal::from_str("232.10").unwrap(),
            authorization_code: "A01 - Approved <EXACT & MATCH>".into(),
            payment_mode: "WEB".into(),
            transaction_id: "e4deba7f-86e7-4850-8226-d6a2fbfb0ab6".into(),
            biller_reference: Some("BHappy".into()),
        };
        let b = commit_payment_transaction(std::slice::from_ref(&p), ServiceVersion::V1);
        assert!(b.contains("<extName>transactionId</extName><extValue>e4deba7f-86e7-4850-8226-d6a2fbfb0ab6</extValue><extType>string</extType>"), "{b}");
        assert!(b.contains("<extName>billerReference</extName>"), "{b}");
        assert!(b.contains("</extensionsList><amount>232.1</amount><authorizationCode>A01 - Approved &lt;EXACT &amp; MATCH&gt;</authorizationCode><paymentMode>WEB</paymentMode>"), "{b}");
        let b2 = commit_payment_transaction(&[p], ServiceVersion::V2);
        assert!(b2.contains("<amount>232.10</amount>"), "{b2}");
        assert_eq!(operation_of(&b2), Some(Operation::CommitPaymentTransaction));
    }

    #[test]
    fn paperless_and_comments() {
        let b = modify_cb_data_for_customer(&[
            CustomerPaperless {
                customer_id: "1001".into(),
                enroll: true,
            },
            CustomerPaperless {
                customer_id: "1002".into(),
                enroll: false,
            },
        ]);
        assert!(b.contains("<customer objectID=\"1001\"><extensionsList><extensionsItem><extName>EBILL</extName><extValue>Y</extValue>"));
        assert!(b.contains("objectID=\"1002\"><extensionsList><extensionsItem><extName>EBILL</extName><extValue>N</extValue>"));
        let t = DateTime::parse_from_rfc3339("2020-08-06T00:01:32-05:00").unwrap();
        let b = write_account_history_comments(&[HistoryComment {
            customer_id: "1001".into(),
            service_location_id: "321045080002".into(),
            log_time: t,
            comment: "AUTOPAY ON".into(),
        }]);
        assert!(
            b.contains("<logTime>2020-08-06T00:01:32-05:00</logTime><comment>AUTOPAY ON</comment>"),
            "{b}"
        );
    }
}

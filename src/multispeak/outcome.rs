//! What happened to each item of a batch call, and why a whole call failed.
//!
//! MultiSpeak calls are array-shaped: a 200 answer can accept some items and
//! refuse others (a tender's responseCode; an errorObject with the item's
//! objectID). Outcomes are mapped back to the items sent, in order. An item
//! the answer says nothing about is [`ItemOutcome::Unknown`]: never counted as
//! posted, and safe to resend because Milsoft de-duplicates by transactionId
//! (D15).

use super::TenderKind;
use super::request::PaymentTransaction;
use super::response::{ErrorObject, PaymentAnswer, SoapFault};

/// The outcome of one item of a batch call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Posted.
    Accepted,
    /// Daffron already holds it (D15): counts as posted; the text is the
    /// server's errorString.
    Duplicate(String),
    /// Refused by the server's business rules (responseCode Failure/Error,
    /// or an errorObject): final; the text is the server's reason.
    Rejected(String),
    /// The answer did not say: retry (with the same transactionId).
    Unknown(String),
}

impl ItemOutcome {
    /// Whether Daffron holds the item now (accepted or duplicate).
    pub fn is_posted(&self) -> bool {
        matches!(self, ItemOutcome::Accepted | ItemOutcome::Duplicate(_))
    }

    /// Whether the item should be sent again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ItemOutcome::Unknown(_))
    }
}

/// Why a transient call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transient {
    /// Could not connect (refused, DNS, connect timeout, TLS handshake):
    /// nothing of the request reached the server.
    Connect(String),
    /// No answer in time.
    Timeout(String),
    /// An HTTP 5xx (or 408/429) without a SOAP Fault.
    Status(u16),
    /// An answer that is not a usable SOAP message.
    Garbage(String),
}

/// Why a call failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Worth retrying later: the endpoint was unreachable, slow, or answered
    /// nonsense. Nothing can be assumed about what the server did.
    #[error("{}", transient_text(.0))]
    Transient(Transient),
    /// A SOAP Fault: the server's business rules (or its credential check)
    /// refused the call. Retrying the same call will not help.
    #[error("the server refused the call: {0}")]
    Fault(SoapFault),
    /// The endpoint refused the request itself (HTTP 4xx), e.g. a wrong URL.
    #[error("the endpoint answered HTTP {0}; check the endpoint URL setting")]
    Rejected(u16),
}

fn transient_text(t: &Transient) -> String {
    match t {
        Transient::Connect(m) => format!("cannot reach the endpoint: {m}"),
        Transient::Timeout(m) => format!("the endpoint did not answer in time: {m}"),
        Transient::Status(s) => format!("the endpoint answered HTTP {s} without a SOAP Fault"),
        Transient::Garbage(m) => format!("the endpoint's answer is unusable: {m}"),
    }
}

impl CallError {
    /// Transient failures are retried; Faults and 4xx are final.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CallError::Transient(_))
    }

    /// Whether the request certainly never reached the server (it could not
    /// connect): the one failure a call without an idempotency key may
    /// repeat freely. Anything after connecting (a timeout, a cut answer,
    /// HTTP 5xx, garbage) may have been acted on.
    pub fn nothing_sent(&self) -> bool {
        matches!(self, CallError::Transient(Transient::Connect(_)))
    }
}

/// D15: a tender answered other than `Success` whose errorString contains
/// "duplicate" (any case) means Daffron already holds that transactionId.
pub fn tender_outcome(a: &PaymentAnswer) -> ItemOutcome {
    let reason = || {
        a.error_string
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| {
                format!("responseCode {}", a.response_code.as_deref().unwrap_or("?"))
            })
    };
    match a.response_code.as_deref() {
        Some("Success") => ItemOutcome::Accepted,
        None => {
            ItemOutcome::Unknown("the server's answer for this payment has no responseCode".into())
        }
        Some(_) => {
            let r = reason();
            if r.to_ascii_lowercase().contains("duplicate") {
                ItemOutcome::Duplicate(r)
            } else {
                ItemOutcome::Rejected(r)
            }
        }
    }
}

/// What a payment sent is recognised by in an answer: its `transactionId`
/// extension, else its account number and tender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentKey<'a> {
    pub transaction_id: &'a str,
    pub account_number: &'a str,
    pub tender: TenderKind,
}

impl<'a> From<&'a PaymentTransaction> for PaymentKey<'a> {
    fn from(p: &'a PaymentTransaction) -> Self {
        PaymentKey {
            transaction_id: &p.transaction_id,
            account_number: &p.account_number,
            tender: p.tender,
        }
    }
}

/// Maps a CommitPaymentTransaction answer back to the payments sent.
pub fn match_payments(sent: &[PaymentTransaction], answers: &[PaymentAnswer]) -> Vec<ItemOutcome> {
    let keys: Vec<PaymentKey<'_>> = sent.iter().map(PaymentKey::from).collect();
    match_payment_keys(&keys, answers)
}

/// Maps a CommitPaymentTransaction answer back to the payments sent, by key.
///
/// A tender answer is matched to a payment by its echoed `transactionId`
/// extension when it has one; otherwise to the first payment not yet matched
/// with the same account number and tender (Daffron answers in order and
/// echoes accountNumber, amount and authorizationCode, seed sample). A payment
/// no answer matches is `Unknown`.
pub fn match_payment_keys(sent: &[PaymentKey<'_>], answers: &[PaymentAnswer]) -> Vec<ItemOutcome> {
    let mut out: Vec<Option<ItemOutcome>> = vec![None; sent.len()];
    for a in answers {
        let by_id = a.transaction_id.as_deref().and_then(|id| {
            (0..sent.len()).find(|&i| out[i].is_none() && sent[i].transaction_id == id)
        });
        let idx = by_id.or_else(|| {
            (0..sent.len()).find(|&i| {
                out[i].is_none()
                    && sent[i].account_number == a.account_number
                    && sent[i].tender == a.tender
            })
        });
        match idx {
            Some(i) => out[i] = Some(tender_outcome(a)),
            None => tracing::warn!(
                account = %a.account_number,
                tender = a.tender.code(),
                "the server answered for a payment that was not sent in this call; ignored"
            ),
        }
    }
    out.into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                ItemOutcome::Unknown("the server's answer has no entry for this payment".into())
            })
        })
        .collect()
}

/// Maps an `ArrayOfErrorObject` answer back to the items sent, by objectID
/// (the item's customer id, base+sub, D2). Items no errorObject names are
/// accepted. An errorObject whose objectID names no item sent (or has none)
/// makes the remaining items `Unknown`: the server reported a problem we
/// cannot place, so nothing is assumed posted.
pub fn match_error_objects(ids: &[&str], errors: &[ErrorObject]) -> Vec<ItemOutcome> {
    let mut out = vec![ItemOutcome::Accepted; ids.len()];
    let mut unplaced: Vec<&ErrorObject> = Vec::new();
    for e in errors {
        let reason = if e.error_string.trim().is_empty() {
            "the server reported an error without a reason".to_string()
        } else {
            e.error_string.clone()
        };
        let mut hit = false;
        if let Some(id) = e.object_id.as_deref() {
            for (i, sent) in ids.iter().enumerate() {
                if *sent == id {
                    out[i] = ItemOutcome::Rejected(reason.clone());
                    hit = true;
                }
            }
        }
        if !hit {
            unplaced.push(e);
        }
    }
    if let Some(e) = unplaced.first() {
        let msg = format!(
            "the server reported an error for objectID {:?} that matches no item sent: {}",
            e.object_id.as_deref().unwrap_or(""),
            e.error_string
        );
        for o in out.iter_mut() {
            if *o == ItemOutcome::Accepted {
                *o = ItemOutcome::Unknown(msg.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn pay(acct: &str, id: &str, t: TenderKind) -> PaymentTransaction {
        PaymentTransaction {
            account_number: acct.into(),
            tender: t,
            amount: Decimal::ONE,
            authorization_code: "A".into(),
            payment_mode: "WEB".into(),
            transaction_id: id.into(),
            biller_reference: None,
        }
    }

    fn ans(
        acct: &str,
        t: TenderKind,
        rc: Option<&str>,
        err: Option<&str>,
        id: Option<&str>,
    ) -> PaymentAnswer {
        PaymentAnswer {
            account_number: acct.into(),
            tender: t,
            amount: None,
            authorization_code: None,
            response_code: rc.map(Into::into),
            error_string: err.map(Into::into),
            transaction_id: id.map(Into::into),
        }
    }

    #[test]
    fn d15_duplicate_any_case() {
        let cc = TenderKind::CreditCard;
        assert_eq!(
            tender_outcome(&ans("1", cc, Some("Success"), None, None)),
            ItemOutcome::Accepted
        );
        assert!(matches!(
            tender_outcome(&ans(
                "1",
                cc,
                Some("Failure"),
                Some("DUPLICATE transaction"),
                None
            )),
            ItemOutcome::Duplicate(_)
        ));
        assert!(matches!(
            tender_outcome(&ans("1", cc, Some("Error"), Some("account closed"), None)),
            ItemOutcome::Rejected(r) if r == "account closed"
        ));
        assert!(matches!(
            tender_outcome(&ans("1", cc, Some("Error"), None, None)),
            ItemOutcome::Rejected(r) if r == "responseCode Error"
        ));
        assert!(matches!(
            tender_outcome(&ans("1", cc, None, None, None)),
            ItemOutcome::Unknown(_)
        ));
        // "Success" with a duplicate text is still Success.
        assert_eq!(
            tender_outcome(&ans("1", cc, Some("Success"), Some("duplicate"), None)),
            ItemOutcome::Accepted
        );
    }

    #[test]
    fn payments_matched_by_id_then_order_and_missing_is_unknown() {
        let cc = TenderKind::CreditCard;
        let sent = vec![
            pay("1", "a", cc),
            pay("1", "b", cc),
            pay("2", "c", TenderKind::Ach),
            pay("3", "d", cc),
        ];
        let answers = vec![
            ans("1", cc, Some("Failure"), Some("duplicate"), Some("b")),
            ans("1", cc, Some("Success"), None, None),
            ans("2", TenderKind::Ach, Some("Error"), Some("closed"), None),
            ans("9", cc, Some("Success"), None, None),
        ];
        let o = match_payments(&sent, &answers);
        assert_eq!(o[0], ItemOutcome::Accepted);
        assert!(matches!(o[1], ItemOutcome::Duplicate(_)));
        assert!(matches!(o[2], ItemOutcome::Rejected(_)));
        assert!(o[3].is_retryable());
        assert!(!o[3].is_posted());
    }

    #[test]
    fn error_objects_by_object_id() {
        let e = |id: Option<&str>, s: &str| ErrorObject {
            object_id: id.map(Into::into),
            error_string: s.into(),
            noun_type: None,
        };
        let o = match_error_objects(&["1", "2", "1"], &[e(Some("1"), "no")]);
        assert_eq!(
            o,
            vec![
                ItemOutcome::Rejected("no".into()),
                ItemOutcome::Accepted,
                ItemOutcome::Rejected("no".into())
            ]
        );
        let o = match_error_objects(&["1", "2"], &[e(Some("1"), "no"), e(Some("7"), "what")]);
        assert!(matches!(o[0], ItemOutcome::Rejected(_)));
        assert!(matches!(o[1], ItemOutcome::Unknown(_)));
        let o = match_error_objects(&["1"], &[e(None, "")]);
        assert!(matches!(o[0], ItemOutcome::Unknown(_)));
        assert_eq!(
            match_error_objects(&["1"], &[]),
            vec![ItemOutcome::Accepted]
        );
    }

    #[test]
    fn call_error_classes() {
        assert!(CallError::Transient(Transient::Status(503)).is_retryable());
        assert!(!CallError::Rejected(404).is_retryable());
        let f = SoapFault {
            code: "soap:Client".into(),
            string: "x".into(),
            detail: String::new(),
        };
        assert!(!CallError::Fault(f).is_retryable());
    }
}

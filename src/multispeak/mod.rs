//! The MultiSpeak 3.0 SOAP 1.1 wire protocol spoken with Daffron's CB server.
//!
//! Messages are built by hand and checked against the MultiSpeak 3.0 AC
//! schema (`specs/multispeak/CB_Server_30ac_types.xsd`, see its SOURCE.md)
//! in the tests, rather than generated from the WSDL: vendor WSDLs are often
//! incomplete, and a hand-built message whose every variant is schema-checked
//! is easier to keep right (interface.md §1.3).
//!
//! | module | what it owns |
//! |---|---|
//! | [`amount`] | how an amount is written, per service version (D1) |
//! | [`request`] | the envelope, `MultiSpeakMsgHeader` and the four requests |
//! | [`response`] | reading answers: payable items, payment results, error objects, Faults |
//! | [`outcome`] | per-item outcomes and call-level errors (retryable or final) |
//! | [`client`] | one call = build, POST, classify, map answers back to items |
//! | [`xml`] | the bounded XML reader used on everything that comes from outside |

pub mod amount;
pub mod client;
pub mod outcome;
pub mod request;
pub mod response;
pub mod xml;

pub use client::{Credentials, MultiSpeakClient};
pub use outcome::{CallError, ItemOutcome};
pub use request::{CustomerPaperless, HistoryComment, MsgHeader, PaymentTransaction, TenderKind};
pub use response::{
    ErrorObject, Extension, PayableItem, PayableItemList, PaymentAnswer, SoapFault,
};

/// D2: every MultiSpeak account id (accountNumber, customerID, customer
/// objectID) is base+sub: Custom2 followed by Custom3, which is the BIF
/// AccountNumber without its dash (`35909-001` → `35909001`). Accepts either
/// form, trimmed; `None` for anything but digits or digits-digits.
pub fn account_id(account: &str) -> Option<String> {
    let s = account.trim();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('-') {
        Some((base, sub)) if digits(base) && digits(sub) => Some([base, sub].concat()),
        None if digits(s) => Some(s.to_string()),
        _ => None,
    }
}

/// The MultiSpeak 3.0 namespace.
pub const NS: &str = "http://www.multispeak.org/Version_3.0";
/// The SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The MultiSpeak operations this integration calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// RTDR (settings 8-10).
    GetPayableItemsList,
    /// Data pump payments (settings 11-13).
    CommitPaymentTransaction,
    /// Data pump paperless (settings 14-16).
    ModifyCBDataForCustomer,
    /// Data pump autopay and scheduled payments (settings 17-19).
    WriteAccountHistoryComments,
}

/// The two discovery calls every MultiSpeak 3.0 server offers, which
/// `doctor` makes before a first night: `PingURL` (is it there) and
/// `GetMethods` (what it serves). They change nothing, so they are not
/// [`Operation`]s of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    PingURL,
    GetMethods,
}

impl Probe {
    /// The standard 3.0 name (the request element and SOAPAction). The 3.0
    /// AC stub calls GetMethods `Methods` (specs/multispeak/SOURCE.md).
    pub fn name(self) -> &'static str {
        match self {
            Probe::PingURL => "PingURL",
            Probe::GetMethods => "GetMethods",
        }
    }

    /// The `SOAPAction` value, unquoted.
    pub fn soap_action(self) -> String {
        format!("{NS}/{}", self.name())
    }

    /// Reads a probe from a request element or SOAPAction name, the stub's
    /// `Methods` included.
    pub fn from_name(name: &str) -> Option<Probe> {
        match name {
            "PingURL" => Some(Probe::PingURL),
            "GetMethods" | "Methods" => Some(Probe::GetMethods),
            _ => None,
        }
    }
}

impl Operation {
    pub const ALL: [Operation; 4] = [
        Operation::GetPayableItemsList,
        Operation::CommitPaymentTransaction,
        Operation::ModifyCBDataForCustomer,
        Operation::WriteAccountHistoryComments,
    ];

    /// The operation's name, which is also the request element's name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::GetPayableItemsList => "GetPayableItemsList",
            Operation::CommitPaymentTransaction => "CommitPaymentTransaction",
            Operation::ModifyCBDataForCustomer => "ModifyCBDataForCustomer",
            Operation::WriteAccountHistoryComments => "WriteAccountHistoryComments",
        }
    }

    /// The `SOAPAction` value, unquoted (the transport quotes it).
    pub fn soap_action(self) -> String {
        format!("{NS}/{}", self.name())
    }

    /// The answer's element name.
    pub fn response_name(self) -> String {
        format!("{}Response", self.name())
    }

    /// The result element inside the answer.
    pub fn result_name(self) -> String {
        format!("{}Result", self.name())
    }

    /// Reads an operation from a request element or SOAPAction name. The 3.0
    /// AC stub's `PayableItemsList` (no `Get`, see specs/multispeak/SOURCE.md)
    /// is taken as GetPayableItemsList.
    pub fn from_name(name: &str) -> Option<Operation> {
        match name {
            "GetPayableItemsList" | "PayableItemsList" => Some(Operation::GetPayableItemsList),
            "CommitPaymentTransaction" => Some(Operation::CommitPaymentTransaction),
            "ModifyCBDataForCustomer" => Some(Operation::ModifyCBDataForCustomer),
            "WriteAccountHistoryComments" => Some(Operation::WriteAccountHistoryComments),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soap_actions() {
        assert_eq!(
            Operation::GetPayableItemsList.soap_action(),
            "http://www.multispeak.org/Version_3.0/GetPayableItemsList"
        );
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(op));
        }
        assert_eq!(
            Operation::from_name("PayableItemsList"),
            Some(Operation::GetPayableItemsList)
        );
        assert_eq!(Operation::from_name("Nope"), None);
        assert_eq!(Probe::from_name("Methods"), Some(Probe::GetMethods));
        assert_eq!(
            Probe::GetMethods.soap_action(),
            "http://www.multispeak.org/Version_3.0/GetMethods"
        );
        assert_eq!(Probe::from_name("PingURL"), Some(Probe::PingURL));
    }
}

//! One MultiSpeak call: build the envelope, POST it, classify the outcome
//! and map the answer back to the items sent.

use crate::config::{Config, ConfigError, Endpoint, ServiceVersion};
use crate::transport::http::{HttpClient, HttpError, HttpReply};

use super::outcome::{self, CallError, ItemOutcome, Transient};
use super::request::{self, CustomerPaperless, HistoryComment, MsgHeader, PaymentTransaction};
use super::response::{self, Answer, ErrorObject, PayableItemList, ResponseError};
use super::{Operation, Probe};

/// A user id and password for one endpoint group. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user_id: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.user_id)
    }
}

impl Credentials {
    /// The user and password of an endpoint group (e.g. settings 9 and 10).
    /// A missing user or password is sent empty (the server decides).
    pub fn of(endpoint: &Endpoint) -> Result<Credentials, ConfigError> {
        let password = match &endpoint.password {
            Some(s) => s.expose(&format!("advanced setting {}", endpoint.password_setting))?,
            None => String::new(),
        };
        Ok(Credentials {
            user_id: endpoint.user.clone().unwrap_or_default(),
            password,
        })
    }
}

/// A client for one MultiSpeak endpoint.
#[derive(Debug, Clone)]
pub struct MultiSpeakClient {
    http: HttpClient,
    url: String,
    header: MsgHeader,
    version: ServiceVersion,
}

impl MultiSpeakClient {
    pub fn new(http: HttpClient, url: &str, header: MsgHeader, version: ServiceVersion) -> Self {
        MultiSpeakClient {
            http,
            url: url.to_string(),
            header,
            version,
        }
    }

    /// A client for `endpoint` (one of `config.settings.rtdr`, `.payments`,
    /// ...), with AppName/AppVersion/Company from `[pump]` and amounts per
    /// setting 35.
    pub fn for_endpoint(
        http: HttpClient,
        config: &Config,
        endpoint: &Endpoint,
    ) -> Result<Self, ConfigError> {
        let c = Credentials::of(endpoint)?;
        Ok(MultiSpeakClient::new(
            http,
            &endpoint.url,
            MsgHeader {
                user_id: c.user_id,
                pwd: c.password,
                app_name: config.pump.app_name.clone(),
                app_version: config.pump.app_version.clone(),
                company: config.pump.company.clone(),
            },
            config.settings.service_version,
        ))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn call(&self, op: Operation, body: &str) -> Result<HttpReply, CallError> {
        let env = request::envelope(&self.header, body);
        tracing::debug!(operation = op.name(), url = %self.url, "MultiSpeak call");
        self.http
            .post_soap(&self.url, &op.soap_action(), &env)
            .map_err(http_error)
    }

    /// PingURL: the server's own errorObjects (none when it is well).
    pub fn ping_url(&self) -> Result<Vec<ErrorObject>, CallError> {
        let reply = self.probe(Probe::PingURL)?;
        settle(reply.status, response::parse_ping_url(&reply.body))
    }

    /// GetMethods: the names of the methods the server serves.
    pub fn get_methods(&self) -> Result<Vec<String>, CallError> {
        let reply = self.probe(Probe::GetMethods)?;
        settle(reply.status, response::parse_methods(&reply.body))
    }

    fn probe(&self, p: Probe) -> Result<HttpReply, CallError> {
        let env = request::envelope(&self.header, &request::probe(p));
        tracing::debug!(operation = p.name(), url = %self.url, "MultiSpeak call");
        self.http
            .post_soap(&self.url, &p.soap_action(), &env)
            .map_err(http_error)
    }

    /// RTDR: the payable items of one account, `account` as base+sub (D2).
    pub fn get_payable_items_list(&self, account: &str) -> Result<PayableItemList, CallError> {
        let reply = self.call(
            Operation::GetPayableItemsList,
            &request::get_payable_items_list(account),
        )?;
        let parsed = response::parse_payable_items_list(&reply.body);
        settle(reply.status, parsed)
    }

    /// Posts payments; one outcome per item, in order.
    pub fn commit_payment_transaction(
        &self,
        items: &[PaymentTransaction],
    ) -> Result<Vec<ItemOutcome>, CallError> {
        let reply = self.call(
            Operation::CommitPaymentTransaction,
            &request::commit_payment_transaction(items, self.version),
        )?;
        let answers = settle(reply.status, response::parse_payment_answers(&reply.body))?;
        Ok(outcome::match_payments(items, &answers))
    }

    /// Paperless changes; one outcome per item, in order.
    pub fn modify_cb_data_for_customer(
        &self,
        items: &[CustomerPaperless],
    ) -> Result<Vec<ItemOutcome>, CallError> {
        let op = Operation::ModifyCBDataForCustomer;
        let reply = self.call(op, &request::modify_cb_data_for_customer(items))?;
        let errors = settle(reply.status, response::parse_error_objects(&reply.body, op))?;
        let ids: Vec<&str> = items.iter().map(|i| i.customer_id.as_str()).collect();
        Ok(outcome::match_error_objects(&ids, &errors))
    }

    /// Account history comments; one outcome per item, in order.
    pub fn write_account_history_comments(
        &self,
        items: &[HistoryComment],
    ) -> Result<Vec<ItemOutcome>, CallError> {
        let op = Operation::WriteAccountHistoryComments;
        let reply = self.call(op, &request::write_account_history_comments(items))?;
        let errors = settle(reply.status, response::parse_error_objects(&reply.body, op))?;
        let ids: Vec<&str> = items.iter().map(|i| i.customer_id.as_str()).collect();
        Ok(outcome::match_error_objects(&ids, &errors))
    }
}

/// Maps a transport failure to a call error: all transient.
pub fn http_error(e: HttpError) -> CallError {
    match e {
        HttpError::Timeout { .. } => CallError::Transient(Transient::Timeout(e.to_string())),
        HttpError::Connect { .. } | HttpError::BadUrl { .. } => {
            CallError::Transient(Transient::Connect(e.to_string()))
        }
        HttpError::TooLarge { .. } | HttpError::Protocol { .. } => {
            CallError::Transient(Transient::Garbage(e.to_string()))
        }
    }
}

/// Classifies an answer: a Fault (any status) is final; a non-2xx status
/// without a Fault is transient for 5xx/408/429 and final for other 4xx; a
/// 2xx whose body cannot be used is transient (garbage).
pub fn settle<T>(status: u16, parsed: Result<Answer<T>, ResponseError>) -> Result<T, CallError> {
    match (status, parsed) {
        (_, Ok(Answer::Fault(f))) => Err(CallError::Fault(f)),
        (200..=299, Ok(Answer::Ok(v))) => Ok(v),
        (200..=299, Err(e)) => Err(CallError::Transient(Transient::Garbage(e.to_string()))),
        (408 | 429 | 500..=599, _) => Err(CallError::Transient(Transient::Status(status))),
        (400..=499, _) => Err(CallError::Rejected(status)),
        (_, _) => Err(CallError::Transient(Transient::Status(status))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_classes() {
        let f = crate::multispeak::SoapFault {
            code: "c".into(),
            string: "s".into(),
            detail: String::new(),
        };
        assert!(matches!(
            settle::<()>(500, Ok(Answer::Fault(f.clone()))),
            Err(CallError::Fault(_))
        ));
        assert!(matches!(
            settle::<()>(200, Ok(Answer::Fault(f))),
            Err(CallError::Fault(_))
        ));
        assert_eq!(settle(200, Ok(Answer::Ok(5))), Ok(5));
        let garbage: Result<Answer<()>, _> = Err(ResponseError::NoBody);
        assert!(settle(200, garbage.clone()).unwrap_err().is_retryable());
        assert!(settle(502, garbage.clone()).unwrap_err().is_retryable());
        assert!(settle(503, Ok(Answer::Ok(()))).unwrap_err().is_retryable());
        assert!(!settle(404, garbage.clone()).unwrap_err().is_retryable());
        assert!(settle(429, garbage).unwrap_err().is_retryable());
    }

    #[test]
    fn credentials_debug_hides_password() {
        let c = Credentials {
            user_id: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}

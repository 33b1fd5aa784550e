//! The seed's mapping rules, one file per family, each rule a named function
//! whose doc names the decision (interface.md §4) it implements:
//!
//! | rule | where |
//! |---|---|
//! | D1 amounts per setting 35 | [`crate::multispeak::amount::format`] (applied when the payload is built) |
//! | D2 account ids base+sub | [`crate::multispeak::account_id`] |
//! | D3 paymentMode | [`payment::payment_mode`] |
//! | D4 authorizationCode, transactionId | [`payment::authorization_code`], [`payment::transaction_id`] |
//! | D6 kiosk billerReference | [`payment::biller_reference`] |
//! | D7 tender element, amount without fee | [`payment::transaction`] |
//! | D8 scheduled-payment comments, logTime | [`scheduled::comment`], [`log_time`] |
//! | D9 paperless only when it changes | [`paperless::plan`] |
//! | D10 serviceLocationID or held | [`autopay::service_location`] |
//! | D11 donations skipped | [`payment::skip_donation`] |
//! | D12 grouped autopay in one call | [`payment::batch_group`] |
//! | D15 duplicate answer = posted | [`crate::multispeak::outcome::tender_outcome`] |
//!
//! Rules are pure functions of a row and [`RuleSettings`]; the ingest and
//! the sweep call them and store what they decide.

pub mod autopay;
pub mod paperless;
pub mod payment;
pub mod scheduled;

use chrono::{DateTime, FixedOffset};

use crate::multispeak::HistoryComment;

pub use super::config::RuleSettings;

/// What becomes of one export row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<T> {
    /// Send it; `T` is the wire item.
    Send(T),
    /// Keep it until what it lacks arrives (D10), with why.
    Hold(String),
    /// Never send it, with why (D11, a feature not enabled).
    Skip(String),
    /// A rule refuses it, with why (D8 over 70 characters): a person decides.
    Reject(String),
}

/// D8: logTime is local time in the biller's timezone, with its offset. The
/// time is the event's own (`occurred_at`), not the moment of sending: the
/// seed's "current date/time" is when InvoiceCloud's real-time pump posted
/// the event, which is when it happened; and a fixed time makes every resend
/// of a comment the same bytes, which is what makes a resend harmless.
pub fn log_time(occurred: DateTime<FixedOffset>, tz: chrono_tz::Tz) -> DateTime<FixedOffset> {
    occurred.with_timezone(&tz).fixed_offset()
}

/// A history comment for an account (D2 customerID), at its location (D10),
/// at the event's local time (D8).
pub fn history_comment(
    customer_id: &str,
    service_location_id: &str,
    occurred: DateTime<FixedOffset>,
    tz: chrono_tz::Tz,
    comment: String,
) -> HistoryComment {
    HistoryComment {
        customer_id: customer_id.to_string(),
        service_location_id: service_location_id.to_string(),
        log_time: log_time(occurred, tz),
        comment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d8_log_time_in_the_billers_zone_with_its_offset() {
        let t = DateTime::parse_from_rfc3339("2026-11-27T20:03:00Z").unwrap();
        let local = log_time(t, chrono_tz::America::Chicago);
        assert_eq!(
            crate::multispeak::request::date_time(&local),
            "2026-11-27T14:03:00-06:00"
        );
        // Summer time has its own offset.
        let t = DateTime::parse_from_rfc3339("2026-07-01T12:00:00+00:00").unwrap();
        let local = log_time(t, chrono_tz::America::Chicago);
        assert_eq!(
            crate::multispeak::request::date_time(&local),
            "2026-07-01T07:00:00-05:00"
        );
    }
}

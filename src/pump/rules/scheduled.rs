//! Scheduled payments → WriteAccountHistoryComments (D8; seed INT-11451,
//! Lowell Light & Power BID 2661 only: `[biller] features =
//! ["scheduled_payments"]`).

use rust_decimal::Decimal;

use crate::pump::exports::{Scheduled, ScheduledAction};

/// Daffron parses comments of at most 70 characters.
pub const MAX_COMMENT_CHARS: usize = 70;

/// Why a scheduled payment is not sent for a biller without the feature.
pub fn not_enabled_reason() -> String {
    "scheduled payments are not enabled for this biller ([biller] features lacks \
     \"scheduled_payments\", INT-11451)"
        .to_string()
}

/// The comment's verb per action.
pub fn verb(action: ScheduledAction) -> &'static str {
    match action {
        ScheduledAction::Create => "SCHED_PAY",
        ScheduledAction::Cancel => "SCHED_PAY_CNCL",
        ScheduledAction::Update => "SCHED_PAY_UPDT",
    }
}

/// D8: `SCHED_PAY {MMDDYYYY} {amount} {InvoiceNumber}` (`SCHED_PAY_CNCL`
/// on cancel, `SCHED_PAY_UPDT` on update); the amount with two decimals as
/// in the seed's `156.25`. A comment over 70 characters is refused with
/// that reason, never cut: a cut invoice number would point at another bill.
pub fn comment(s: &Scheduled) -> Result<String, String> {
    let mut amount: Decimal = s
        .amount
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    amount.rescale(2);
    let text = format!(
        "{} {} {} {}",
        verb(s.action),
        s.scheduled_date.format("%m%d%Y"),
        amount,
        s.invoice_number.trim()
    );
    let n = text.chars().count();
    if n > MAX_COMMENT_CHARS {
        Err(format!(
            "the comment `{text}` would be {n} characters, over Daffron's {MAX_COMMENT_CHARS}; \
             it is never cut (D8)"
        ))
    } else {
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use std::str::FromStr;

    fn s(action: ScheduledAction, amount: &str, invoice: &str) -> Scheduled {
        Scheduled {
            action,
            scheduled_date: NaiveDate::from_ymd_opt(2024, 8, 15).unwrap(),
            amount: Decimal::from_str(amount).unwrap(),
            invoice_number: invoice.into(),
        }
    }

    #[test]
    fn d8_the_seeds_three_forms() {
        assert_eq!(
            comment(&s(ScheduledAction::Create, "156.25", "121940013401")).unwrap(),
            "SCHED_PAY 08152024 156.25 121940013401"
        );
        assert_eq!(
            comment(&s(ScheduledAction::Cancel, "156.2", "121940013401")).unwrap(),
            "SCHED_PAY_CNCL 08152024 156.20 121940013401"
        );
        assert_eq!(
            comment(&s(ScheduledAction::Update, "15075", "1")).unwrap(),
            "SCHED_PAY_UPDT 08152024 15075.00 1"
        );
    }

    #[test]
    fn d8_over_70_is_refused_never_cut() {
        // "SCHED_PAY_CNCL 08152024 156.25 " is 31 characters.
        let ok = comment(&s(ScheduledAction::Cancel, "156.25", &"9".repeat(39))).unwrap();
        assert_eq!(ok.chars().count(), 70);
        let e = comment(&s(ScheduledAction::Cancel, "156.25", &"9".repeat(40))).unwrap_err();
        assert!(e.contains("71 characters"), "{e}");
    }
}

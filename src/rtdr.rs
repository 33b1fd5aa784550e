//! RTDR: real-time balance look-ups (GetPayableItemsList), decisions D13/D14.
//!
//! Pure functions over a parsed `payableItemList`; the wire is in
//! [`crate::multispeak`], the command in `commands::balance`.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::multispeak::{Extension, PayableItem, PayableItemList};

/// A value in the answer that the balance rules cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtdrError {
    #[error("the RTDR answer's {name} extension has the value `{value}`, which is not a number")]
    BadExtension { name: String, value: String },
    #[error(
        "the account `{0}` is not an account number: give base-sub (35909-001) or base+sub digits (35909001)"
    )]
    BadAccount(String),
    #[error(
        "the RTDR answer's {what} add up to more than an amount can hold (overflow); the answer is unusable"
    )]
    Overflow { what: &'static str },
}

/// The sum of amounts from outside, or `Overflow` naming them: a server's
/// numbers never panic the process (Decimal's `+` and `Sum` do).
fn checked_sum<'a>(
    what: &'static str,
    amounts: impl IntoIterator<Item = &'a Decimal>,
) -> Result<Decimal, RtdrError> {
    amounts
        .into_iter()
        .try_fold(Decimal::ZERO, |acc, a| acc.checked_add(*a))
        .ok_or(RtdrError::Overflow { what })
}

/// A prepaid account's remaining balance and days (D13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prepaid {
    pub remaining_balance: Decimal,
    /// Whole days; `None` when the answer has no `remainingDays`. A
    /// fractional value is cut to whole days (a day partly left is not a day).
    pub remaining_days: Option<i64>,
}

/// Which tenders the portal must refuse (D14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Blocked {
    #[serde(rename = "CC")]
    pub cc: bool,
    #[serde(rename = "ACH")]
    pub ach: bool,
    #[serde(rename = "ECHECK")]
    pub echeck: bool,
}

/// An account's balance as the portal shows it (D18 JSON shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// The account as sent to Daffron, base+sub (D2).
    pub account: String,
    pub balance_due: Decimal,
    pub past_due: Decimal,
    pub prepaid: Option<Prepaid>,
    pub blocked: Blocked,
    /// Why each blocked tender is blocked, for people.
    pub blocked_reasons: Vec<String>,
    pub allowable_transaction_types: Vec<String>,
    pub items: Vec<PayableItem>,
}

/// The account a person typed, as sent to Daffron (D2, see
/// [`crate::multispeak::account_id`]): `35909-001` and `35909001` both work.
pub fn account_id(input: &str) -> Result<String, RtdrError> {
    crate::multispeak::account_id(input)
        .ok_or_else(|| RtdrError::BadAccount(input.chars().take(60).collect()))
}

fn ext<'a>(items: &'a [PayableItem], name: &'a str) -> impl Iterator<Item = &'a Extension> + 'a {
    items
        .iter()
        .flat_map(|i| i.extensions.iter())
        .filter(move |e| e.name.trim().eq_ignore_ascii_case(name))
}

fn number(e: &Extension) -> Result<Decimal, RtdrError> {
    let v = e.value.trim();
    Decimal::from_str(v)
        .or_else(|_| Decimal::from_scientific(v))
        .map_err(|_| RtdrError::BadExtension {
            name: e.name.clone(),
            value: v.chars().take(60).collect(),
        })
}

/// D13: BalanceDue is the sum of every item's currentAmount and PastDue the
/// sum of every pastDueAmount, no exclusions (seed: "all extensions added
/// together"). A prepaid account (a `remainingBalance` extension) shows that
/// value as BalanceDue instead, with `remainingDays`; several items'
/// remaining balances are added.
///
/// D14: a transaction type `Cash Only` blocks ACH and ECHECK; an extension
/// `preventCreditCard` = `Y` blocks CC. Names and values are compared
/// without regard to case or surrounding spaces.
pub fn balance(account: &str, list: &PayableItemList) -> Result<Balance, RtdrError> {
    let items = &list.items;
    let current = checked_sum(
        "currentAmounts",
        items.iter().filter_map(|i| i.current_amount.as_ref()),
    )?;
    let past_due = checked_sum(
        "pastDueAmounts",
        items.iter().filter_map(|i| i.past_due_amount.as_ref()),
    )?;

    let remaining: Vec<Decimal> = ext(items, "remainingBalance")
        .map(number)
        .collect::<Result<_, _>>()?;
    let prepaid = if remaining.is_empty() {
        None
    } else {
        let days: Vec<Decimal> = ext(items, "remainingDays")
            .map(number)
            .collect::<Result<_, _>>()?;
        Some(Prepaid {
            remaining_balance: checked_sum("remainingBalance extensions", &remaining)?,
            remaining_days: days.iter().min().map(|d| {
                i64::try_from(d.trunc()).unwrap_or(if d.is_sign_negative() {
                    i64::MIN
                } else {
                    i64::MAX
                })
            }),
        })
    };

    let mut blocked = Blocked::default();
    let mut reasons = Vec::new();
    if list
        .allowable_transaction_types
        .iter()
        .any(|t| t.trim().eq_ignore_ascii_case("Cash Only"))
    {
        blocked.ach = true;
        blocked.echeck = true;
        reasons.push(
            "ACH and ECHECK: the account is Cash Only (allowable transaction type)".to_string(),
        );
    }
    if ext(items, "preventCreditCard").any(|e| e.value.trim().eq_ignore_ascii_case("Y")) {
        blocked.cc = true;
        reasons.push("CC: the account has preventCreditCard = Y".to_string());
    }

    Ok(Balance {
        account: account.to_string(),
        balance_due: prepaid
            .as_ref()
            .map(|p| p.remaining_balance)
            .unwrap_or(current),
        past_due,
        prepaid,
        blocked,
        blocked_reasons: reasons,
        allowable_transaction_types: list.allowable_transaction_types.clone(),
        items: items.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn item(cur: Option<&str>, past: Option<&str>, exts: &[(&str, &str)]) -> PayableItem {
        PayableItem {
            object_id: None,
            past_due_amount: past.map(d),
            current_amount: cur.map(d),
            description: None,
            charge_code: None,
            due_date: None,
            disconnect_date: None,
            last_payment_amount: None,
            last_payment_date: None,
            extensions: exts
                .iter()
                .map(|(n, v)| Extension {
                    name: n.to_string(),
                    value: v.to_string(),
                    ext_type: "string".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn d2_account_forms() {
        assert_eq!(account_id("35909-001").unwrap(), "35909001");
        assert_eq!(account_id(" 35909001 ").unwrap(), "35909001");
        for bad in ["", "-", "35909-", "a-1", "1-2-3", "35909 001"] {
            assert!(account_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sums_that_overflow_are_an_error_not_a_panic() {
        let max = Decimal::MAX.to_string();
        let min = Decimal::MIN.to_string();
        for (current, past, exts) in [
            ([Some(max.as_str()), Some("1")], [None, None], &[][..]),
            ([None, None], [Some(min.as_str()), Some("-1")], &[][..]),
            (
                [None, None],
                [None, None],
                &[("remainingBalance", max.as_str())][..],
            ),
        ] {
            let l = PayableItemList {
                items: vec![
                    item(current[0], past[0], exts),
                    item(current[1], past[1], exts),
                ],
                allowable_transaction_types: vec![],
            };
            let e = balance("1", &l).unwrap_err();
            assert!(matches!(e, RtdrError::Overflow { .. }), "{e}");
        }
    }

    #[test]
    fn d13_sums_over_all_items() {
        let l = PayableItemList {
            items: vec![
                item(Some("100.25"), Some("10.50"), &[]),
                item(Some("-5"), None, &[]),
                item(None, Some("1.5"), &[]),
            ],
            allowable_transaction_types: vec![],
        };
        let b = balance("1", &l).unwrap();
        assert_eq!(b.balance_due, d("95.25"));
        assert_eq!(b.past_due, d("12.00"));
        assert!(b.prepaid.is_none());
        assert_eq!(b.blocked, Blocked::default());
        let empty = balance("1", &PayableItemList::default()).unwrap();
        assert_eq!(empty.balance_due, Decimal::ZERO);
    }

    #[test]
    fn d13_prepaid_replaces_balance_due() {
        let l = PayableItemList {
            items: vec![item(
                Some("100"),
                Some("0"),
                &[("remainingBalance", "4.93"), ("remainingDays", "1")],
            )],
            allowable_transaction_types: vec![],
        };
        let b = balance("1", &l).unwrap();
        assert_eq!(b.balance_due, d("4.93"));
        assert_eq!(
            b.prepaid,
            Some(Prepaid {
                remaining_balance: d("4.93"),
                remaining_days: Some(1)
            })
        );
        let l = PayableItemList {
            items: vec![item(
                None,
                None,
                &[("RemainingBalance", "2"), ("remainingDays", "2.9")],
            )],
            allowable_transaction_types: vec![],
        };
        assert_eq!(
            balance("1", &l).unwrap().prepaid.unwrap().remaining_days,
            Some(2)
        );
        let l = PayableItemList {
            items: vec![item(None, None, &[("remainingBalance", "lots")])],
            allowable_transaction_types: vec![],
        };
        assert!(matches!(
            balance("1", &l),
            Err(RtdrError::BadExtension { .. })
        ));
    }

    #[test]
    fn d14_blocks() {
        let l = PayableItemList {
            items: vec![item(Some("1"), None, &[("preventCreditCard", "y ")])],
            allowable_transaction_types: vec!["Credit Card".into(), " cash only".into()],
        };
        let b = balance("1", &l).unwrap();
        assert_eq!(
            b.blocked,
            Blocked {
                cc: true,
                ach: true,
                echeck: true
            }
        );
        assert_eq!(b.blocked_reasons.len(), 2);
        let l = PayableItemList {
            items: vec![item(Some("1"), None, &[("preventCreditCard", "N")])],
            allowable_transaction_types: vec!["Cash".into()],
        };
        assert_eq!(balance("1", &l).unwrap().blocked, Blocked::default());
    }

    #[test]
    fn d18_json_shape() {
        let l = PayableItemList {
            items: vec![item(Some("232.10"), Some("0"), &[])],
            allowable_transaction_types: vec![],
        };
        let v = serde_json::to_value(balance("35909001", &l).unwrap()).unwrap();
        assert_eq!(v["account"], "35909001");
        assert_eq!(v["balance_due"], "232.10");
        assert_eq!(v["past_due"], "0");
        assert!(v["prepaid"].is_null());
        assert_eq!(v["blocked"]["CC"], false);
        assert_eq!(v["blocked"]["ECHECK"], false);
        assert_eq!(v["items"][0]["current_amount"], "232.10");
    }
}

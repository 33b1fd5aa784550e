//! The sandbox's accounts and balances: seeded from BIF files, changed by
//! posted payments, paperless changes and comments ([`Effect`]), optionally
//! kept on disk between runs ([`super::persist`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::bif::invoice::read_invoices;
use crate::bif::layout::Layout;

/// One payable item of an account (one per seeded invoice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub description: String,
    pub current_amount: Decimal,
    pub past_due_amount: Decimal,
    /// `YYYY-MM-DD`.
    pub due_date: String,
}

/// A posted payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    pub transaction_id: String,
    pub tender: String,
    pub amount: Decimal,
}

/// A history comment on an account (WriteAccountHistoryComments); the
/// customerID is the account's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub service_location_id: String,
    /// The request's logTime, as written: the pump resends the same text,
    /// so an identical comment is recognised as a resend.
    pub log_time: String,
    pub comment: String,
}

/// An EBILL set that changed an account's paperless flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperlessChange {
    /// The flag after the change: `true` for EBILL Y.
    pub value: bool,
    /// The sandbox's clock when it was set (RFC 3339, UTC).
    pub time: String,
}

/// One account, keyed by base+sub (D2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Account {
    pub items: Vec<Item>,
    /// Prepaid: the remaining balance and days (D13).
    pub prepaid: Option<(Decimal, i64)>,
    /// Allowable transaction type `Cash Only` (D14).
    pub cash_only: bool,
    /// Extension `preventCreditCard` = Y (D14).
    pub prevent_credit_card: bool,
    /// Last paperless state set (EBILL).
    pub paperless: Option<bool>,
    /// Each EBILL set that changed the flag, in order (the first set
    /// changes it from unknown).
    #[serde(default)]
    pub paperless_changes: Vec<PaperlessChange>,
    /// EBILL sets that repeated the flag it already had (resends).
    #[serde(default)]
    pub paperless_repeats: u64,
    /// Comments written, each once: an identical one is a resend.
    pub comments: Vec<Comment>,
    pub payments: Vec<Posted>,
}

/// Everything the sandbox keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct State {
    pub accounts: BTreeMap<String, Account>,
    /// transactionIds already posted (Milsoft's duplicate check, D15).
    pub transaction_ids: BTreeSet<String>,
    /// Biller GUIDs UploadInvoiceFile accepts (upper case).
    pub biller_guids: BTreeSet<String>,
}

/// The deterministic flags of a seeded account, from the digit sum of its
/// base+sub number: 7 -> prepaid, 8 -> Cash Only, 9 -> preventCreditCard
/// (mod 10). A CR BlockPaymentsCC = Y also sets preventCreditCard.
pub fn seed_flags(account: &str) -> (bool, bool, bool) {
    let sum: u32 = account
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
        .sum();
    match sum % 10 {
        7 => (true, false, false),
        8 => (false, true, false),
        9 => (false, false, true),
        _ => (false, false, false),
    }
}

impl State {
    /// Adds the accounts of one BIF file: each invoice gives its account a
    /// payable item with currentAmount = TotalAmountDue and pastDueAmount =
    /// PastDue; the FH BillerGuid becomes a known biller. An invoice the
    /// account already holds is skipped, so restarting on a kept state with
    /// the same `--seed` adds nothing.
    pub fn seed(&mut self, path: &Path) -> Result<usize, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read seed {}: {e}", path.display()))?;
        let invoices = read_invoices(&bytes, &Layout::embedded())
            .map_err(|e| format!("seed {} is not a readable BIF file: {e}", path.display()))?;
        if let Some(first) = bytes.split(|&b| b == b'\n').next() {
            let line = String::from_utf8_lossy(first);
            let mut f = line
                .trim_start_matches('\u{feff}')
                .split('|')
                .map(str::trim);
            if f.next() == Some("FH")
                && let Some(g) = f.next().filter(|g| !g.is_empty())
            {
                self.biller_guids.insert(g.to_ascii_uppercase());
            }
        }
        for inv in &invoices {
            let id = inv.multispeak_account();
            let description = format!("Invoice {}", inv.invoice_number);
            let acct = self.accounts.entry(id.clone()).or_insert_with(|| {
                let (prepaid, cash_only, prevent) = seed_flags(&id);
                Account {
                    prepaid: prepaid.then_some((Decimal::ZERO, 0)),
                    cash_only,
                    prevent_credit_card: prevent,
                    ..Account::default()
                }
            });
            if acct.items.iter().any(|i| i.description == description) {
                continue;
            }
            acct.prevent_credit_card |= inv.customer.block_payments_cc;
            acct.items.push(Item {
                description,
                current_amount: inv.total_amount_due,
                past_due_amount: inv.past_due.unwrap_or(Decimal::ZERO),
                due_date: inv.due_date.format("%Y-%m-%d").to_string(),
            });
            if let Some((bal, days)) = acct.prepaid.as_mut() {
                *bal = bal.checked_add(inv.total_amount_due).ok_or_else(|| {
                    format!(
                        "seed {}: the amounts of account {id} overflow",
                        path.display()
                    )
                })?;
                let sum: i64 = id
                    .bytes()
                    .filter(u8::is_ascii_digit)
                    .map(|b| i64::from(b - b'0'))
                    .sum();
                *days = 1 + sum % 30;
            }
        }
        Ok(invoices.len())
    }

    /// Applies one effect. The live server and the replay of the state log
    /// both come through here, so a replayed state is the state that was
    /// served. `time` is the sandbox's clock when the request was handled.
    /// `None` when the account does not exist (nothing changes).
    pub fn apply(&mut self, time: &str, effect: &Effect) -> Option<Applied> {
        let acct = self.accounts.get_mut(effect.account())?;
        Some(match effect {
            Effect::Payment {
                transaction_id,
                tender,
                amount,
                unapplied,
                ..
            } => {
                if self.transaction_ids.contains(transaction_id) {
                    return Some(Applied::Duplicate);
                }
                // Amounts come from a request: checked, never a panic.
                if *unapplied {
                    // Held, not applied: the balance stays as it was.
                } else if let Some((bal, _)) = acct.prepaid.as_mut() {
                    let Some(new) = bal.checked_add(*amount) else {
                        return Some(Applied::OutOfRange);
                    };
                    *bal = new;
                } else if let Some(item) = acct.items.first_mut() {
                    let from_past = (*amount).min(item.past_due_amount).max(Decimal::ZERO);
                    let (Some(past), Some(current)) = (
                        item.past_due_amount.checked_sub(from_past),
                        item.current_amount.checked_sub(*amount),
                    ) else {
                        return Some(Applied::OutOfRange);
                    };
                    item.past_due_amount = past;
                    item.current_amount = current;
                }
                self.transaction_ids.insert(transaction_id.clone());
                acct.payments.push(Posted {
                    transaction_id: transaction_id.clone(),
                    tender: tender.clone(),
                    amount: *amount,
                });
                Applied::New
            }
            Effect::Paperless { value, .. } => {
                if acct.paperless == Some(*value) {
                    acct.paperless_repeats += 1;
                    return Some(Applied::Repeated);
                }
                acct.paperless = Some(*value);
                acct.paperless_changes.push(PaperlessChange {
                    value: *value,
                    time: time.to_string(),
                });
                Applied::New
            }
            Effect::Comment {
                service_location_id,
                log_time,
                comment,
                ..
            } => {
                let c = Comment {
                    service_location_id: service_location_id.clone(),
                    log_time: log_time.clone(),
                    comment: comment.clone(),
                };
                // Linear in the account's comments only, which are few.
                if acct.comments.contains(&c) {
                    return Some(Applied::Duplicate);
                }
                acct.comments.push(c);
                Applied::New
            }
        })
    }

    /// How many posted payments carry `transaction_id`, over all accounts:
    /// 1 when it was applied exactly once. For tests; it reads every
    /// payment, so it is not for the request path.
    pub fn payment_count(&self, transaction_id: &str) -> usize {
        self.payments()
            .filter(|(_, p)| p.transaction_id == transaction_id)
            .count()
    }

    /// Every posted payment with its base+sub account, account by account
    /// in order, each account's in the order posted.
    pub fn payments(&self) -> impl Iterator<Item = (&str, &Posted)> {
        self.accounts
            .iter()
            .flat_map(|(id, a)| a.payments.iter().map(move |p| (id.as_str(), p)))
    }

    /// Reads a state kept with `--state FILE`: the snapshot FILE, then the
    /// effects logged in `FILE.log` since it was written.
    pub fn load(path: &Path) -> Result<State, StateError> {
        super::persist::load(path).map(|(state, _)| state)
    }
}

/// One change a request made to the state, as the state log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// A payment posted (CommitPaymentTransaction).
    Payment {
        account: String,
        transaction_id: String,
        tender: String,
        amount: Decimal,
        /// Taken (its transactionId is held, a resend is a duplicate) but
        /// not applied to the balance: the `unapplied` fault, a payment
        /// parked in a suspense queue, which `run`'s verification must see.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unapplied: bool,
    },
    /// EBILL set (ModifyCBDataForCustomer).
    Paperless { account: String, value: bool },
    /// A history comment written (WriteAccountHistoryComments).
    Comment {
        account: String,
        service_location_id: String,
        log_time: String,
        comment: String,
    },
}

impl Effect {
    /// The base+sub account the effect is on.
    pub fn account(&self) -> &str {
        match self {
            Effect::Payment { account, .. }
            | Effect::Paperless { account, .. }
            | Effect::Comment { account, .. } => account,
        }
    }
}

/// What applying an [`Effect`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The state changed.
    New,
    /// EBILL set to the flag it already had: only counted
    /// (`paperless_repeats`).
    Repeated,
    /// The state already held it (a posted transactionId, an identical
    /// comment): nothing changed, so there is nothing to log.
    Duplicate,
    /// The amount would take the account's balance beyond what an amount
    /// can hold: refused, nothing changed.
    OutOfRange,
}

impl Applied {
    /// Whether the effect changed the state (a repeat is counted), so the
    /// log must keep it.
    pub fn changed(self) -> bool {
        matches!(self, Applied::New | Applied::Repeated)
    }
}

/// Why a sandbox state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the sandbox state {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the sandbox state {} is not a sandbox state (JSON)", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {line} of the sandbox state log {} is not a log entry; the log is damaged", path.display())]
    LogLine {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {line} of the sandbox state log {} changes account {account}, which the snapshot does not hold; the log belongs to another state", path.display())]
    LogAccount {
        path: PathBuf,
        line: usize,
        account: String,
    },
    #[error("cannot write the sandbox state {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_by_digit_sum() {
        assert_eq!(seed_flags("16"), (true, false, false)); // 7
        assert_eq!(seed_flags("12"), (false, false, false)); // 3
        assert_eq!(seed_flags("35909001"), (true, false, false)); // 27
        assert_eq!(seed_flags("44"), (false, true, false)); // 8
        assert_eq!(seed_flags("900"), (false, false, true)); // 9
    }

    #[test]
    fn seeding_a_kept_state_again_adds_nothing() {
        let sample =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/outbound/2661_11262026.BIF");
        let mut s = State::default();
        s.seed(&sample).unwrap();
        let once = s.clone();
        assert!(once.accounts.len() > 100);
        // A restart with the same --state and --seed seeds the file again.
        s.seed(&sample).unwrap();
        let items = |s: &State| s.accounts.values().map(|a| a.items.len()).sum::<usize>();
        assert_eq!(items(&s), items(&once));
        assert!(s == once, "seeding again changed the state");
    }

    #[test]
    fn an_identical_comment_is_a_duplicate() {
        let mut s = State::default();
        s.accounts.insert("1".into(), Account::default());
        let c = |log_time: &str, text: &str| Effect::Comment {
            account: "1".into(),
            service_location_id: "321045080002".into(),
            log_time: log_time.into(),
            comment: text.into(),
        };
        let t = "2026-11-26T20:15:00-06:00";
        assert_eq!(s.apply(T, &c(t, "AUTOPAY ON")), Some(Applied::New));
        assert_eq!(s.apply(T, &c(t, "AUTOPAY ON")), Some(Applied::Duplicate));
        // The same instant written another way is another comment: the
        // text is compared as sent.
        assert_eq!(
            s.apply(T, &c("2026-11-27T02:15:00Z", "AUTOPAY ON")),
            Some(Applied::New)
        );
        assert_eq!(s.apply(T, &c(t, "AUTOPAY OFF")), Some(Applied::New));
        let kept: Vec<_> = s.accounts["1"]
            .comments
            .iter()
            .map(|c| (c.log_time.as_str(), c.comment.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                (t, "AUTOPAY ON"),
                ("2026-11-27T02:15:00Z", "AUTOPAY ON"),
                (t, "AUTOPAY OFF")
            ]
        );
    }

    /// A time for effects whose time does not matter.
    const T: &str = "2026-11-26T20:15:00.000Z";

    #[test]
    fn paperless_records_changes_and_counts_repeats() {
        let mut s = State::default();
        s.accounts.insert("1".into(), Account::default());
        let set = |value| Effect::Paperless {
            account: "1".into(),
            value,
        };
        let t = ["2026-11-26T20:15:00.000Z", "2026-11-26T20:16:00.000Z"];
        assert_eq!(s.apply(t[0], &set(true)), Some(Applied::New));
        assert_eq!(s.apply(T, &set(true)), Some(Applied::Repeated));
        assert_eq!(s.apply(t[1], &set(false)), Some(Applied::New));
        let a = &s.accounts["1"];
        assert_eq!(a.paperless, Some(false));
        assert_eq!(
            a.paperless_changes,
            [
                PaperlessChange {
                    value: true,
                    time: t[0].into()
                },
                PaperlessChange {
                    value: false,
                    time: t[1].into()
                }
            ]
        );
        assert_eq!(a.paperless_repeats, 1);
    }

    #[test]
    fn payment_count_counts_every_posting_of_an_id() {
        let mut s = State::default();
        s.accounts.insert("1".into(), Account::default());
        s.accounts.insert("2".into(), Account::default());
        let pay = |account: &str, id: &str| Effect::Payment {
            account: account.into(),
            transaction_id: id.into(),
            tender: "ACH".into(),
            amount: Decimal::ONE,
            unapplied: false,
        };
        s.apply(T, &pay("1", "a")).unwrap();
        s.apply(T, &pay("2", "b")).unwrap();
        s.apply(T, &pay("2", "a")).unwrap(); // a duplicate: not posted
        assert_eq!(s.payment_count("a"), 1);
        assert_eq!(s.payment_count("b"), 1);
        assert_eq!(s.payment_count("c"), 0);
        // A payment applied twice (what the pump must never cause) shows.
        let again = s.accounts["1"].payments[0].clone();
        s.accounts.get_mut("2").unwrap().payments.push(again);
        assert_eq!(s.payment_count("a"), 2);
        let all: Vec<_> = s
            .payments()
            .map(|(acct, p)| (acct, p.transaction_id.as_str()))
            .collect();
        assert_eq!(all, [("1", "a"), ("2", "b"), ("2", "a")]);
    }

    #[test]
    fn amounts_that_overflow_a_balance_are_refused_not_a_panic() {
        let mut s = State::default();
        let item = Item {
            description: "x".into(),
            current_amount: Decimal::from(100),
            past_due_amount: Decimal::ZERO,
            due_date: "2026-12-01".into(),
        };
        s.accounts.insert(
            "1".into(),
            Account {
                items: vec![item.clone()],
                ..Account::default()
            },
        );
        s.accounts.insert(
            "2".into(),
            Account {
                items: vec![item],
                prepaid: Some((Decimal::from(5), 3)),
                ..Account::default()
            },
        );
        let pay = |account: &str, t: &str| Effect::Payment {
            account: account.into(),
            transaction_id: t.into(),
            tender: "CC".into(),
            amount: Decimal::MAX,
            unapplied: false,
        };
        // 100 - MAX fits; -MAX+100 - MAX does not.
        assert_eq!(s.apply(T, &pay("1", "a")), Some(Applied::New));
        assert_eq!(s.apply(T, &pay("1", "b")), Some(Applied::OutOfRange));
        assert_eq!(s.apply(T, &pay("2", "c")), Some(Applied::OutOfRange));
        assert_eq!(s.accounts["2"].prepaid, Some((Decimal::from(5), 3)));
        // Refused payments are not known transactions.
        assert!(!s.transaction_ids.contains("b") && !s.transaction_ids.contains("c"));
        assert!(!Applied::OutOfRange.changed());
    }

    #[test]
    fn payments_reduce_past_due_first() {
        let mut s = State::default();
        s.accounts.insert(
            "1".into(),
            Account {
                items: vec![Item {
                    description: "x".into(),
                    current_amount: Decimal::from(100),
                    past_due_amount: Decimal::from(30),
                    due_date: "2026-12-01".into(),
                }],
                ..Account::default()
            },
        );
        let pay = Effect::Payment {
            account: "1".into(),
            transaction_id: "t".into(),
            tender: "CC".into(),
            amount: Decimal::from(40),
            unapplied: false,
        };
        assert_eq!(s.apply(T, &pay), Some(Applied::New));
        let it = &s.accounts["1"].items[0];
        assert_eq!(it.current_amount, Decimal::from(60));
        assert_eq!(it.past_due_amount, Decimal::ZERO);
        assert!(s.transaction_ids.contains("t"));
        // The same transactionId again changes nothing (D15).
        assert_eq!(s.apply(T, &pay), Some(Applied::Duplicate));
        assert_eq!(s.accounts["1"].items[0].current_amount, Decimal::from(60));
        assert_eq!(s.accounts["1"].payments.len(), 1);
        let elsewhere = Effect::Paperless {
            account: "2".into(),
            value: true,
        };
        assert_eq!(s.apply(T, &elsewhere), None);
    }
}

//! The sandbox's accounts and balances: seeded from BIF files, changed by
//! posted payments, paperless changes and comments, optionally kept in a
//! JSON state file between runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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
    pub comments: Vec<String>,
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
                *bal += inv.total_amount_due;
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

    /// Applies a payment: past due first, then current, on the first item;
    /// a prepaid account's remaining balance grows instead.
    pub fn apply_payment(&mut self, account: &str, p: Posted) {
        self.transaction_ids.insert(p.transaction_id.clone());
        let Some(acct) = self.accounts.get_mut(account) else {
            return;
        };
        if let Some((bal, _)) = acct.prepaid.as_mut() {
            *bal += p.amount;
        } else if let Some(item) = acct.items.first_mut() {
            let from_past = p.amount.min(item.past_due_amount).max(Decimal::ZERO);
            item.past_due_amount -= from_past;
            item.current_amount -= p.amount;
        }
        acct.payments.push(p);
    }

    pub fn load(path: &Path) -> Result<State, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read sandbox state {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("sandbox state {} is not valid: {e}", path.display()))
    }

    /// Writes the state atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write sandbox state {}: {e}", path.display()))
    }
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
        s.apply_payment(
            "1",
            Posted {
                transaction_id: "t".into(),
                tender: "CC".into(),
                amount: Decimal::from(40),
            },
        );
        let it = &s.accounts["1"].items[0];
        assert_eq!(it.current_amount, Decimal::from(60));
        assert_eq!(it.past_due_amount, Decimal::ZERO);
        assert!(s.transaction_ids.contains("t"));
    }
}

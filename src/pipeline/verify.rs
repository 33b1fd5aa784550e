//! The `verify` stage of `run`: after the sweep, ask Daffron (RTDR,
//! GetPayableItemsList) for the balance of the accounts paid in this run,
//! and list those whose balance does not reflect what was posted.
//!
//! # The rule
//!
//! An account's balance reflects its payments when Daffron's BalanceDue
//! (D13) is **at most** the TotalAmountDue of its latest invoice (as the
//! account directory that `pull` keeps holds it) **less** everything posted
//! for it by payments made on or after that invoice's date. Lower is fine
//! (a payment at Daffron's counter, a credit); higher means a payment
//! Daffron answered Success for does not show (parked, misapplied,
//! reversed): a mismatch, for a person.
//!
//! Not checked, and said so: an account with no invoice taken yet, a
//! prepaid account (its figure is a remaining credit, not a debt), an
//! account Daffron does not know. The check is bounded: at most `[pump]
//! verify_limit` accounts a night, a sample (seeded by the run id, so a
//! rerun of the report shows the same accounts) when more were paid.
//!
//! Exit code: 1 when any account mismatches (a person must look), 3 when
//! the RTDR endpoint could not be asked (the rest is left unasked), else 0.

use chrono::{NaiveDate, TimeZone};
use rand::SeedableRng;
use rand::seq::IteratorRandom;
use rust_decimal::Decimal;
use serde::Serialize;

use super::StageSummary;
use crate::config::Config;
use crate::multispeak::{CallError, MultiSpeakClient};
use crate::store::Store;
use crate::store::runs::{Verification, VerifyOutcome};
use crate::transport::http::{HttpClient, HttpOptions};
use crate::{ExitCode, Result};

/// What the verification found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifySummary {
    /// Accounts with a payment posted in this run.
    pub paid_accounts: usize,
    /// Accounts asked (all of them, or a sample of `verify_limit`).
    pub asked: usize,
    pub ok: usize,
    pub mismatch: usize,
    pub not_checked: usize,
    pub unreachable: usize,
    /// Why nothing was asked (verification off, setting 8 not set), if so.
    pub skipped: Option<String>,
    /// Every account asked, with what it showed.
    pub accounts: Vec<Verification>,
}

/// Verifies the accounts paid by sweep `sweep` (the run's; `None` when
/// it did not run), recording each check under `run`.
pub fn run(
    config: &Config,
    store: &mut Store,
    run: Option<i64>,
    sweep: Option<i64>,
) -> Result<VerifySummary> {
    let paid = match sweep {
        Some(id) => store.accounts_paid_by_sweep(id)?,
        None => Vec::new(),
    };
    let mut summary = VerifySummary {
        paid_accounts: paid.len(),
        ..VerifySummary::default()
    };
    if paid.is_empty() {
        return Ok(summary);
    }
    let limit = config.pump.verify_limit;
    if limit == 0 {
        summary.skipped = Some("turned off ([pump] verify_limit = 0)".into());
        return Ok(summary);
    }
    let Some(endpoint) = config.settings.rtdr.as_ref() else {
        summary.skipped = Some("advanced setting 8 (the RTDR endpoint) is not set".into());
        return Ok(summary);
    };
    let http = HttpClient::new(&HttpOptions::daffron(config)?);
    let client = MultiSpeakClient::for_endpoint(http, config, endpoint)?;

    let chosen = sample(paid, limit, run.unwrap_or(0));
    let posted = store.posted_payments(&chosen)?;
    let bar = super::progress::bar("verify", chosen.len() as u64);
    let mut reachable = true;
    for account in chosen {
        bar.inc(1);
        let v = if reachable {
            let payments = posted.get(&account).map(Vec::as_slice).unwrap_or(&[]);
            check(config, store, &client, &account, payments)?
        } else {
            Verification {
                account,
                outcome: VerifyOutcome::Unreachable,
                balance_due: None,
                expected_at_most: None,
                posted: "0".into(),
                detail: "not asked: the RTDR endpoint could not be reached".into(),
            }
        };
        if v.outcome == VerifyOutcome::Unreachable && reachable {
            reachable = false;
            crate::commands::say_error(&format!(
                "daffron-bridge: error: verify: the RTDR endpoint (advanced setting 8) could not be asked: {}",
                v.detail
            ));
        }
        store.record_verification(run, &v)?;
        match v.outcome {
            VerifyOutcome::Ok => summary.ok += 1,
            VerifyOutcome::Mismatch => summary.mismatch += 1,
            VerifyOutcome::NotChecked => summary.not_checked += 1,
            VerifyOutcome::Unreachable => summary.unreachable += 1,
        }
        summary.asked += 1;
        summary.accounts.push(v);
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// All of `paid` when within `limit`, else `limit` of them drawn with a
/// generator seeded by `seed`, in account order.
fn sample(paid: Vec<String>, limit: usize, seed: i64) -> Vec<String> {
    if paid.len() <= limit {
        return paid;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed as u64);
    let mut chosen = paid.into_iter().choose_multiple(&mut rng, limit);
    chosen.sort();
    chosen
}

/// One account: the expected ceiling from the directory and the outbox,
/// the balance from RTDR.
fn check(
    config: &Config,
    store: &Store,
    client: &MultiSpeakClient,
    account: &str,
    payments: &[(i64, i64)],
) -> Result<Verification> {
    let mut v = Verification {
        account: account.to_string(),
        outcome: VerifyOutcome::NotChecked,
        balance_due: None,
        expected_at_most: None,
        posted: "0".into(),
        detail: String::new(),
    };
    let Some((ms_id, invoice_date, amount_due)) = store.latest_invoice(account)? else {
        v.detail = "no invoice of this account was taken yet: nothing to compare with".into();
        return Ok(v);
    };
    let Some(amount_due) = amount_due.and_then(|a| a.parse::<Decimal>().ok()) else {
        v.detail = "its invoice was taken before amounts were kept: nothing to compare with".into();
        return Ok(v);
    };
    let from = NaiveDate::parse_from_str(&invoice_date, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| config.biller.timezone.from_local_datetime(&d).earliest())
        .map_or(0, |t| t.timestamp());
    let cents = payments
        .iter()
        .filter(|&&(occurred, _)| occurred >= from)
        .try_fold(0i64, |sum, &(_, c)| sum.checked_add(c));
    let Some(cents) = cents else {
        v.detail =
            "the payments posted to it add up past what can be counted: nothing to compare with"
                .into();
        return Ok(v);
    };
    let posted = Decimal::new(cents, 2);
    v.posted = posted.to_string();
    let list = match client.get_payable_items_list(&ms_id) {
        Ok(list) => list,
        Err(e @ CallError::Transient(_)) => {
            v.outcome = VerifyOutcome::Unreachable;
            v.detail = e.to_string();
            return Ok(v);
        }
        Err(e) => {
            v.detail = format!("Daffron did not give the balance: {e}");
            return Ok(v);
        }
    };
    let balance = match crate::rtdr::balance(&ms_id, &list) {
        Ok(b) => b,
        Err(e) => {
            v.detail = format!("Daffron's answer is unusable: {e}");
            return Ok(v);
        }
    };
    v.balance_due = Some(balance.balance_due.to_string());
    if balance.prepaid.is_some() {
        v.detail = "a prepaid account: its balance is a remaining credit (D13)".into();
        return Ok(v);
    }
    let Some(expected) = amount_due.checked_sub(posted) else {
        v.detail = "the amounts are out of range".into();
        return Ok(v);
    };
    v.expected_at_most = Some(expected.to_string());
    if balance.balance_due <= expected {
        v.outcome = VerifyOutcome::Ok;
    } else {
        v.outcome = VerifyOutcome::Mismatch;
        v.detail = format!(
            "balance due {} is more than invoice {} ({amount_due} due) less the {posted} posted since: \
             a payment Daffron accepted does not show; look it up in Daffron \
             (daffron-bridge outbox list --account {account})",
            balance.balance_due, invoice_date
        );
    }
    Ok(v)
}

impl VerifySummary {
    fn line(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!(
                "verify: {} account(s) paid; not verified: {why}",
                self.paid_accounts
            );
        }
        if self.paid_accounts == 0 {
            return "verify: no account was paid in this run".into();
        }
        let sampled = if self.asked < self.paid_accounts {
            format!(" (a sample of {} of {})", self.asked, self.paid_accounts)
        } else {
            String::new()
        };
        format!(
            "verify: {} account(s) asked{sampled}: {} reflect their payments, {} do not, {} not checked, {} unreachable",
            self.asked, self.ok, self.mismatch, self.not_checked, self.unreachable
        )
    }
}

impl StageSummary for VerifySummary {
    fn stage(&self) -> &'static str {
        "verify"
    }
    fn exit_code(&self) -> ExitCode {
        if self.unreachable > 0 {
            ExitCode::Transient
        } else if self.mismatch > 0 {
            ExitCode::InputErrors
        } else {
            ExitCode::Success
        }
    }
    fn text(&self) -> String {
        let mut out = self.line();
        for v in self
            .accounts
            .iter()
            .filter(|v| v.outcome == VerifyOutcome::Mismatch)
        {
            out.push_str(&format!("\n  {}: {}", v.account, v.detail));
        }
        out
    }
    fn json(&self) -> serde_json::Value {
        super::to_json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_stable_for_a_run_and_within_the_limit() {
        let paid: Vec<String> = (0..50).map(|i| format!("{i:05}-001")).collect();
        let a = sample(paid.clone(), 10, 7);
        assert_eq!(a.len(), 10);
        assert_eq!(
            a,
            sample(paid.clone(), 10, 7),
            "the same run draws the same"
        );
        assert!(a.windows(2).all(|w| w[0] < w[1]), "in account order");
        assert_eq!(
            sample(paid.clone(), 50, 7),
            paid,
            "all when within the limit"
        );
    }
}

//! Runs of the nightly job and their stages, and the verification of posted
//! payments: what `report` reads to say what a night did.
//!
//! A run row is written when `run` starts and finished when it ends, so a
//! run killed half-way shows as started and never finished, with the stages
//! it got through.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, now_rfc3339};

type R<T> = Result<T, StoreError>;

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    pub id: i64,
    /// The run's start date in the biller's timezone, `YYYY-MM-DD`.
    pub night: String,
    pub started_at: String,
    /// `None` while it runs, or when it was killed.
    pub finished_at: Option<String>,
    pub exit_code: Option<i64>,
    pub stages: Vec<StageRow>,
}

/// One stage of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageRow {
    pub stage: String,
    pub started_at: String,
    pub millis: i64,
    pub exit_code: i64,
    /// The stage's JSON, as its command prints it.
    #[serde(skip)]
    pub summary: String,
}

/// Whether a posted payment shows in Daffron's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyOutcome {
    /// The balance is at most the invoice's amount less what was posted.
    Ok,
    /// The balance is higher: the payment does not show.
    Mismatch,
    /// Nothing to compare with (no invoice of the account taken, a prepaid
    /// account, the account unknown to Daffron).
    NotChecked,
    /// The RTDR endpoint could not be asked.
    Unreachable,
}

impl VerifyOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyOutcome::Ok => "ok",
            VerifyOutcome::Mismatch => "mismatch",
            VerifyOutcome::NotChecked => "not_checked",
            VerifyOutcome::Unreachable => "unreachable",
        }
    }

    fn parse(s: &str) -> VerifyOutcome {
        match s {
            "ok" => VerifyOutcome::Ok,
            "mismatch" => VerifyOutcome::Mismatch,
            "unreachable" => VerifyOutcome::Unreachable,
            _ => VerifyOutcome::NotChecked,
        }
    }
}

/// One account's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub account: String,
    pub outcome: VerifyOutcome,
    /// What RTDR said (D13), a decimal string.
    pub balance_due: Option<String>,
    /// The most the balance may be: the invoice's amount due less `posted`.
    pub expected_at_most: Option<String>,
    /// Posted for the account since its latest invoice, a decimal string.
    pub posted: String,
    pub detail: String,
}

impl Store {
    /// Records the start of a run; returns its id.
    pub fn start_run(&mut self, night: &str) -> R<i64> {
        self.conn()
            .execute(
                "INSERT INTO runs (night, started_at) VALUES (?1, ?2)",
                params![night, now_rfc3339()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Records one finished stage of run `run`.
    pub fn record_stage(&mut self, run: i64, stage: &StageRow) -> R<()> {
        self.conn()
            .execute(
                "INSERT INTO run_stages (run_id, position, stage, started_at, millis, exit_code, summary)
                 VALUES (?1, (SELECT COUNT(*) FROM run_stages WHERE run_id = ?1), ?2, ?3, ?4, ?5, ?6)",
                params![
                    run,
                    stage.stage,
                    stage.started_at,
                    stage.millis,
                    stage.exit_code,
                    stage.summary
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records the end of a run, its exit code and its JSON.
    pub fn finish_run(&mut self, run: i64, exit_code: i64, summary: &str) -> R<()> {
        self.conn()
            .execute(
                "UPDATE runs SET finished_at = ?2, exit_code = ?3, summary = ?4 WHERE id = ?1",
                params![run, now_rfc3339(), exit_code, summary],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A run with its stages.
    pub fn run(&self, id: i64) -> R<Option<RunRow>> {
        let row = self
            .conn()
            .query_row(
                "SELECT id, night, started_at, finished_at, exit_code FROM runs WHERE id = ?1",
                [id],
                |r| {
                    Ok(RunRow {
                        id: r.get(0)?,
                        night: r.get(1)?,
                        started_at: r.get(2)?,
                        finished_at: r.get(3)?,
                        exit_code: r.get(4)?,
                        stages: Vec::new(),
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(mut row) = row else {
            return Ok(None);
        };
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT stage, started_at, millis, exit_code, summary FROM run_stages
                 WHERE run_id = ?1 ORDER BY position",
            )
            .map_err(|e| self.err(e))?;
        row.stages = stmt
            .query_map([id], |r| {
                Ok(StageRow {
                    stage: r.get(0)?,
                    started_at: r.get(1)?,
                    millis: r.get(2)?,
                    exit_code: r.get(3)?,
                    summary: r.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(Some(row))
    }

    /// The ids of the runs of a night (`YYYY-MM-DD`), oldest first.
    pub fn runs_of_night(&self, night: &str) -> R<Vec<i64>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT id FROM runs WHERE night = ?1 ORDER BY id")
            .map_err(|e| self.err(e))?;
        stmt.query_map([night], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))
    }

    /// The latest run's id.
    pub fn latest_run(&self) -> R<Option<i64>> {
        self.conn()
            .query_row("SELECT MAX(id) FROM runs", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Records the verification of one account in run `run`.
    pub fn record_verification(&mut self, run: Option<i64>, v: &Verification) -> R<()> {
        self.conn()
            .execute(
                "INSERT INTO verifications (run_id, account, outcome, balance_due, expected, posted, detail, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    run,
                    v.account,
                    v.outcome.as_str(),
                    v.balance_due,
                    v.expected_at_most,
                    v.posted,
                    v.detail,
                    now_rfc3339()
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The accounts with a payment posted (or answered duplicate, D15) by
    /// sweep `sweep`: what a run's verification asks about.
    pub fn accounts_paid_by_sweep(&self, sweep: i64) -> R<Vec<String>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT DISTINCT o.account FROM outbox o JOIN pump_calls c ON c.id = o.last_call
                 WHERE c.sweep_id = ?1 AND o.kind = 'payment'
                   AND (o.state = 'posted' OR o.state = 'duplicate')
                 ORDER BY o.account",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([sweep], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))
    }

    /// The payments posted (or answered duplicate) to each of `accounts`:
    /// when each was made (Unix seconds) and its cents. One pass over the
    /// outbox for all of them: payments are not indexed by account (their
    /// ingest would pay for it every night), so a query per account would
    /// scan the outbox once for each.
    pub fn posted_payments(
        &self,
        accounts: &[String],
    ) -> R<std::collections::HashMap<String, Vec<(i64, i64)>>> {
        let ids = serde_json::to_string(accounts)
            .map_err(|e| self.err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        let mut st = self
            .conn()
            .prepare(
                "SELECT account, occurred, amount_cents FROM outbox
                 WHERE kind = 'payment' AND (state = 'posted' OR state = 'duplicate')
                   AND account IN (SELECT value FROM json_each(?1))",
            )
            .map_err(|e| self.err(e))?;
        let mut out: std::collections::HashMap<String, Vec<(i64, i64)>> = Default::default();
        let rows = st
            .query_map([ids], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                ))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (account, occurred, cents) = row.map_err(|e| self.err(e))?;
            out.entry(account).or_default().push((occurred, cents));
        }
        Ok(out)
    }

    /// What the directory holds of an account's latest invoice: its
    /// MultiSpeak id (D2), date (`YYYY-MM-DD`) and TotalAmountDue (a
    /// decimal string; `None` for a row written before it was kept).
    pub fn latest_invoice(&self, account: &str) -> R<Option<(String, String, Option<String>)>> {
        self.conn()
            .query_row(
                "SELECT ms_id, invoice_date, amount_due FROM accounts WHERE account = ?1",
                [account],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The verifications of the given runs, account by account.
    pub fn verifications(&self, runs: &[i64]) -> R<Vec<Verification>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT account, outcome, balance_due, expected, posted, detail FROM verifications
                 WHERE run_id IN (SELECT value FROM json_each(?1)) ORDER BY account, id",
            )
            .map_err(|e| self.err(e))?;
        let ids = serde_json::to_string(runs).unwrap_or_else(|_| "[]".into());
        stmt.query_map([ids], |r| {
            let outcome: String = r.get(1)?;
            Ok(Verification {
                account: r.get(0)?,
                outcome: VerifyOutcome::parse(&outcome),
                balance_due: r.get(2)?,
                expected_at_most: r.get(3)?,
                posted: r.get(4)?,
                detail: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_with_its_stages_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        let id = s.start_run("2026-12-01").unwrap();
        for (i, name) in ["pull", "upload", "sweep"].iter().enumerate() {
            s.record_stage(
                id,
                &StageRow {
                    stage: name.to_string(),
                    started_at: "2026-12-01T08:00:00Z".into(),
                    millis: i as i64,
                    exit_code: 0,
                    summary: "{}".into(),
                },
            )
            .unwrap();
        }
        let r = s.run(id).unwrap().unwrap();
        assert_eq!(r.finished_at, None, "a run not finished shows so");
        let names: Vec<&str> = r.stages.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(names, ["pull", "upload", "sweep"]);
        s.finish_run(id, 3, "{}").unwrap();
        let r = s.run(id).unwrap().unwrap();
        assert_eq!(r.exit_code, Some(3));
        assert!(r.finished_at.is_some());
        assert_eq!(s.runs_of_night("2026-12-01").unwrap(), [id]);
        assert_eq!(s.latest_run().unwrap(), Some(id));
        assert!(s.run(id + 1).unwrap().is_none());
    }
}

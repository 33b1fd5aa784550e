//! The report for a terminal or a log: the headline, one block per section,
//! and every item needing a person with the command that deals with it.
//! [`summary`] is the short form `run` prints at the end of the night.

use std::fmt::Write as _;

use super::Report;

/// The whole report as text.
pub fn render(r: &Report) -> String {
    let mut s = summary(r);
    let _ = writeln!(s);
    let _ = writeln!(s, "Runs");
    for run in &r.runs {
        let _ = writeln!(
            s,
            "  run {} started {} {}",
            run.id,
            run.started_at,
            match (&run.finished_at, run.exit_code) {
                (Some(end), Some(code)) => format!("finished {end}, exit {code}"),
                _ => "never finished (still running, or killed)".to_string(),
            }
        );
        for st in &run.stages {
            let _ = writeln!(
                s,
                "    {:<8} {:<12} {:>8.2}s",
                st.stage, st.outcome, st.seconds
            );
        }
    }
    let _ = writeln!(s, "\nFiles received");
    if r.files.list.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for f in &r.files.list {
        match (&f.invoices, &f.total, f.verdict.as_str()) {
            (Some(n), Some(t), "accepted") => {
                let _ = writeln!(
                    s,
                    "  {:<24} accepted     {n} invoice(s), {t} (FH total checked)",
                    f.name
                );
            }
            _ => {
                let count = f.errors.as_ref().and_then(|e| e["count"].as_u64());
                let codes = f
                    .errors
                    .as_ref()
                    .and_then(|e| e["by_code"].as_object())
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k} {v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    s,
                    "  {:<24} {:<12} {} error(s): {codes}",
                    f.name,
                    f.verdict,
                    count.unwrap_or(0)
                );
            }
        }
    }
    let _ = writeln!(s, "\nUploads to InvoiceCloud");
    if r.uploads.list.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for u in &r.uploads.list {
        let _ = writeln!(s, "  {:<24} {:<10} {}", u.file, u.outcome, u.message);
    }
    let _ = writeln!(s, "\nExports ingested");
    if r.exports.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for e in &r.exports {
        let _ = writeln!(
            s,
            "  {:<24} {:<9} {} row(s): {} taken, {} already held, {} refused, {} conflict(s)",
            e.name,
            e.kind.as_deref().unwrap_or("?"),
            e.rows,
            e.taken,
            e.already,
            e.refused,
            e.conflicts
        );
    }
    let _ = writeln!(s, "\nData pump (items settled)");
    if r.pump.settled.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for k in &r.pump.settled {
        let _ = writeln!(
            s,
            "  {:<10} {:<10} {:>6}  {:>12}",
            k.kind, k.state, k.count, k.amount
        );
    }
    if !r.pump.by_tender.is_empty() {
        let _ = writeln!(
            s,
            "  payments posted by tender and paymentMode (fees apart, never posted):"
        );
        for t in &r.pump.by_tender {
            let _ = writeln!(
                s,
                "    {:<7} {:<10} {:>6}  {:>12}  fees {}",
                t.tender, t.payment_mode, t.count, t.amount, t.fees
            );
        }
    }
    if !r.pump.autopay_groups.is_empty() {
        let _ = writeln!(s, "  autopay groups (one call each, D12):");
        for g in &r.pump.autopay_groups {
            let _ = writeln!(
                s,
                "    {} {}: {} payment(s), {} ({})",
                g.account, g.group, g.payments, g.amount, g.states
            );
        }
    }
    let _ = writeln!(s, "\nAccount changes");
    if r.account_changes.by_kind.is_empty() {
        let _ = writeln!(s, "  none");
    } else {
        let counts: Vec<String> = (r.account_changes.by_kind.iter())
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(s, "  {}", counts.join(", "));
        for c in r.account_changes.list.iter().filter(|c| c.kind != "new") {
            let _ = writeln!(
                s,
                "  {} {}: {} -> {}",
                c.account,
                c.kind,
                c.old.as_deref().unwrap_or("-"),
                c.new.as_deref().unwrap_or("-")
            );
        }
    }
    let v = &r.verification;
    let _ = writeln!(s, "\nVerification (RTDR after posting)");
    let _ = writeln!(
        s,
        "  {} asked: {} reflect their payments, {} do not, {} not checked, {} unreachable",
        v.asked, v.ok, v.mismatch, v.not_checked, v.unreachable
    );
    let _ = writeln!(s, "\nStill pending (by age)");
    for b in &r.pending.aging {
        let _ = writeln!(s, "  {:<9} {:>6}  {:>12}", b.age, b.count, b.amount);
    }
    s
}

/// The headline and what needs a person, with commands: what `run` prints.
pub fn summary(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", r.headline);
    if r.attention.items.is_empty() {
        return s;
    }
    let _ = writeln!(s, "Needs a person:");
    for i in &r.attention.items {
        let amount = i.amount.map(|a| format!(" {a}")).unwrap_or_default();
        let who = if i.account.is_empty() {
            String::new()
        } else {
            format!(" {}", i.account)
        };
        let _ = writeln!(
            s,
            "  {:<12} {}{who}{amount} {}: {}",
            i.what, i.kind, i.key, i.reason
        );
        let _ = writeln!(s, "  {:<12} -> {}", "", i.command);
    }
    if r.attention.items_more > 0 {
        let _ = writeln!(
            s,
            "  ... and {} more (the JSON report has the counts; `daffron-bridge outbox list --status problems,held` lists them)",
            r.attention.items_more
        );
    }
    s
}

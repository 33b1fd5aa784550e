//! The report as one CSV table for a spreadsheet: one row per fact, the
//! `section` column to filter on, the same columns for every section.
//!
//! Columns: `section,name,kind,state,account,count,amount,fees,detail,command`.
//! Sections: `summary`, `stage`, `file`, `upload`, `export`, `pump`,
//! `tender`, `autopay_group`, `account_change`, `verification`,
//! `attention`, `pending`. Amounts are decimal strings.

use super::Report;

const HEADER: [&str; 10] = [
    "section", "name", "kind", "state", "account", "count", "amount", "fees", "detail", "command",
];

#[derive(Default)]
struct Row {
    section: &'static str,
    name: String,
    kind: String,
    state: String,
    account: String,
    count: String,
    amount: String,
    fees: String,
    detail: String,
    command: String,
}

/// The report as CSV bytes (RFC 4180, `\n` line ends, a header row).
pub fn render(r: &Report) -> Vec<u8> {
    let mut rows = vec![Row {
        section: "summary",
        name: r.scope.night.clone(),
        state: r.status.to_string(),
        detail: r.headline.clone(),
        ..Row::default()
    }];
    for run in &r.runs {
        for st in &run.stages {
            rows.push(Row {
                section: "stage",
                name: format!("run {} {}", run.id, st.stage),
                state: st.outcome.to_string(),
                count: st.exit_code.to_string(),
                detail: format!("{:.3}s", st.seconds),
                ..Row::default()
            });
        }
    }
    for f in &r.files.list {
        rows.push(Row {
            section: "file",
            name: f.name.clone(),
            state: f.verdict.clone(),
            count: f.invoices.map(|n| n.to_string()).unwrap_or_default(),
            amount: f.total.clone().unwrap_or_default(),
            detail: f
                .errors
                .as_ref()
                .map(|e| e["by_code"].to_string())
                .unwrap_or_default(),
            ..Row::default()
        });
    }
    for u in &r.uploads.list {
        rows.push(Row {
            section: "upload",
            name: u.file.clone(),
            state: u.outcome.clone(),
            detail: u.message.clone(),
            ..Row::default()
        });
    }
    for e in &r.exports {
        rows.push(Row {
            section: "export",
            name: e.name.clone(),
            kind: e.kind.clone().unwrap_or_default(),
            count: e.rows.to_string(),
            detail: format!(
                "taken {}, already {}, refused {}, conflicts {}",
                e.taken, e.already, e.refused, e.conflicts
            ),
            ..Row::default()
        });
    }
    for k in &r.pump.settled {
        rows.push(Row {
            section: "pump",
            kind: k.kind.clone(),
            state: k.state.clone(),
            count: k.count.to_string(),
            amount: k.amount.to_string(),
            ..Row::default()
        });
    }
    for t in &r.pump.by_tender {
        rows.push(Row {
            section: "tender",
            name: t.tender.clone(),
            kind: t.payment_mode.clone(),
            state: "posted".into(),
            count: t.count.to_string(),
            amount: t.amount.to_string(),
            fees: t.fees.to_string(),
            ..Row::default()
        });
    }
    for g in &r.pump.autopay_groups {
        rows.push(Row {
            section: "autopay_group",
            name: g.group.clone(),
            state: g.states.clone(),
            account: g.account.clone(),
            count: g.payments.to_string(),
            amount: g.amount.to_string(),
            ..Row::default()
        });
    }
    for c in &r.account_changes.list {
        rows.push(Row {
            section: "account_change",
            kind: c.kind.clone(),
            account: c.account.clone(),
            name: c.file.clone(),
            detail: format!(
                "{} -> {}",
                c.old.as_deref().unwrap_or(""),
                c.new.as_deref().unwrap_or("")
            ),
            ..Row::default()
        });
    }
    for v in &r.verification.accounts {
        rows.push(Row {
            section: "verification",
            account: v.account.clone(),
            state: v.outcome.as_str().into(),
            amount: v.posted.clone(),
            detail: match (&v.balance_due, &v.expected_at_most) {
                (Some(b), Some(e)) => {
                    format!("balance due {b}, at most {e} expected. {}", v.detail)
                }
                _ => v.detail.clone(),
            },
            ..Row::default()
        });
    }
    for i in &r.attention.items {
        rows.push(Row {
            section: "attention",
            name: i.key.clone(),
            kind: i.kind.clone(),
            state: i.what.into(),
            account: i.account.clone(),
            amount: i.amount.map(|a| a.to_string()).unwrap_or_default(),
            detail: i.reason.clone(),
            command: i.command.clone(),
            ..Row::default()
        });
    }
    for b in &r.pending.aging {
        rows.push(Row {
            section: "pending",
            name: b.age.into(),
            count: b.count.to_string(),
            amount: b.amount.to_string(),
            ..Row::default()
        });
    }

    let mut w = ::csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail; were it to, the rows would be missing
    // and the analyst would see it.
    let _ = w.write_record(HEADER);
    for row in rows {
        let _ = w.write_record([
            row.section,
            &text(&row.name),
            &text(&row.kind),
            &text(&row.state),
            &text(&row.account),
            &row.count,
            &row.amount,
            &row.fees,
            &text(&row.detail),
            &text(&row.command),
        ]);
    }
    w.into_inner().unwrap_or_default()
}

/// A text cell a spreadsheet will not run as a formula: names and reasons
/// come from outside (a customer's name in a BIF, Daffron's messages), and
/// a cell starting with `=`, `+`, `-`, `@`, tab or CR is a formula to
/// Excel and LibreOffice; a leading `'` makes it text (OWASP's advice).
/// Amount and count columns are ours and stay as they are.
fn text(s: &str) -> std::borrow::Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn outside_text_never_becomes_a_formula() {
        assert_eq!(text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text("-1+2"), "'-1+2");
        assert_eq!(text("JANE DOE"), "JANE DOE");
        assert_eq!(text(""), "");
    }
}

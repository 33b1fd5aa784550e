//! The report as one self-contained HTML page: inline CSS and SVG charts,
//! no script, no font or image from anywhere, so it opens the same from a
//! mail attachment, a file share or a printer. Every value from outside
//! (file names, customer names, Daffron's messages) is escaped.

use std::fmt::Write as _;

use rust_decimal::Decimal;

use super::Report;

/// HTML-escapes text for element content and quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; --ink:#1f2328; --mute:#59636e; --line:#d1d9e0; --bg:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif; color: var(--ink); margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.sub { color: var(--mute); margin: 0 0 16px; }
.status { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600; font-size: 13px; }
.status.ok { background: var(--ok); } .status.attention { background: var(--warn); } .status.incomplete { background: var(--bad); }
.headline { font-size: 15px; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 12px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
.card .n { font-size: 22px; font-weight: 600; } .card .l { color: var(--mute); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: var(--mute); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--bg); padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
td.acct { white-space: nowrap; }
.tag { font-size: 12px; font-weight: 600; padding: 1px 6px; border-radius: 4px; background: var(--bg); border: 1px solid var(--line); }
.tag.bad { color: var(--bad); border-color: var(--bad); } .tag.ok { color: var(--ok); border-color: var(--ok); } .tag.warn { color: var(--warn); border-color: var(--warn); }
.none { color: var(--mute); font-style: italic; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
svg text { font: 11px system-ui, sans-serif; fill: var(--ink); }
footer { margin-top: 32px; color: var(--mute); font-size: 12px; }
@media print { body { padding: 0; max-width: none; font-size: 11px; } h2 { break-after: avoid; } tr, .card { break-inside: avoid; } .cards { grid-template-columns: repeat(4, 1fr); } }
"#;

/// A horizontal bar chart: one bar per (label, value), scaled to the
/// largest, with the value written after the bar.
fn bars(title: &str, rows: &[(String, u64, &'static str)]) -> String {
    let width = 460;
    let label_w = 150;
    let bar_h = 18;
    let gap = 6;
    let height = 24 + rows.len() as i32 * (bar_h + gap);
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let mut s = format!(
        "<figure><svg role=\"img\" aria-label=\"{t}\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\"><text x=\"0\" y=\"14\" font-weight=\"600\">{t}</text>",
        t = esc(title)
    );
    for (i, (label, value, color)) in rows.iter().enumerate() {
        let y = 24 + i as i32 * (bar_h + gap);
        let w = ((*value as f64 / max as f64) * f64::from(width - label_w - 60)).round() as i32;
        let w = if *value > 0 { w.max(2) } else { 0 };
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{ty}\">{l}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{w}\" height=\"{bar_h}\" rx=\"2\" fill=\"{color}\"/><text x=\"{vx}\" y=\"{ty}\">{value}</text>",
            ty = y + 13,
            l = esc(label),
            vx = label_w + w + 6,
        );
    }
    s.push_str("</svg></figure>");
    s
}

fn state_color(state: &str) -> &'static str {
    match state {
        "posted" | "duplicate" | "ok" | "accepted" => "#1a7f37",
        "skipped" | "cancelled" | "not_checked" => "#8c959f",
        "rejected"
        | "dead"
        | "mismatch"
        | "quarantined"
        | "upload_rejected"
        | "upload_unknown"
        | "upload_configuration" => "#cf222e",
        _ => "#9a6700",
    }
}

fn tag(word: &str) -> String {
    let class = match state_color(word) {
        "#1a7f37" => "ok",
        "#cf222e" => "bad",
        "#8c959f" => "",
        _ => "warn",
    };
    format!("<span class=\"tag {class}\">{}</span>", esc(word))
}

fn card(s: &mut String, n: &str, label: &str) {
    let _ = write!(
        s,
        "<div class=\"card\"><div class=\"n\">{}</div><div class=\"l\">{}</div></div>",
        esc(n),
        esc(label)
    );
}

fn money(d: Decimal) -> String {
    format!("{:.2}", d)
}

/// The report as one HTML document.
pub fn render(r: &Report) -> String {
    let mut s = String::with_capacity(32 * 1024);
    let title = format!(
        "{} (BID {}): reconciliation, {}",
        r.biller.name,
        r.biller.bid,
        match r.scope.run {
            Some(id) => format!("run {id}, night of {}", r.scope.night),
            None => format!("night of {}", r.scope.night),
        }
    );
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title><style>{STYLE}</style></head><body>",
        t = esc(&title)
    );
    let _ = write!(
        s,
        "<h1>{}</h1><p class=\"sub\">{} to {} (UTC) &middot; timezone {} &middot; generated {} &middot; <span class=\"status {st}\">{st}</span></p><p class=\"headline\">{}</p>",
        esc(&title),
        esc(&r.scope.from),
        esc(&r.scope.to),
        esc(&r.biller.timezone),
        esc(&r.generated_at),
        esc(&r.headline),
        st = r.status,
    );

    s.push_str("<div class=\"cards\">");
    card(&mut s, &r.files.received.to_string(), "files received");
    card(&mut s, &r.files.invoices.to_string(), "invoices");
    card(&mut s, &money(r.files.amount), "billed");
    card(
        &mut s,
        &r.pump.posted_payments.to_string(),
        "payments posted",
    );
    card(&mut s, &money(r.pump.posted_amount), "posted to Daffron");
    card(&mut s, &money(r.pump.posted_fees), "fees (not posted)");
    let need: u64 = r.attention.counts.values().sum();
    card(&mut s, &need.to_string(), "need a person");
    card(&mut s, &r.pending.count.to_string(), "still pending");
    s.push_str("</div>");

    // Needs a person first: it is what the reader came for.
    s.push_str("<h2 id=\"attention\">Needs a person</h2>");
    if r.attention.items.is_empty() {
        s.push_str("<p class=\"none\">Nothing needs a person.</p>");
    } else {
        s.push_str("<table><thead><tr><th>what</th><th>item</th><th>account</th><th class=\"num\">amount</th><th>why</th><th>what to do</th></tr></thead><tbody>");
        for i in &r.attention.items {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{} <code>{}</code></td><td class=\"acct\">{}</td><td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
                tag(i.what),
                esc(&i.kind),
                esc(&i.key),
                esc(&i.account),
                i.amount.map(money).unwrap_or_default(),
                esc(&i.reason),
                esc(&i.command)
            );
        }
        s.push_str("</tbody></table>");
        if r.attention.items_more > 0 {
            let _ = write!(
                s,
                "<p>&hellip; and {} more: <code>daffron-bridge outbox list --status problems,held</code></p>",
                r.attention.items_more
            );
        }
    }

    s.push_str("<h2 id=\"pump\">Data pump</h2><div class=\"charts\">");
    let settled: Vec<(String, u64, &'static str)> = r
        .pump
        .settled
        .iter()
        .map(|k| {
            (
                format!("{} {}", k.kind, k.state),
                k.count,
                state_color(&k.state),
            )
        })
        .collect();
    if settled.is_empty() {
        s.push_str("<p class=\"none\">No item settled in this window.</p>");
    } else {
        s.push_str(&bars("Items settled, by kind and state", &settled));
    }
    let aging: Vec<(String, u64, &'static str)> = r
        .pending
        .aging
        .iter()
        .map(|b| (b.age.to_string(), b.count, "#9a6700"))
        .collect();
    s.push_str(&bars("Still pending, by age", &aging));
    s.push_str("</div>");
    if !r.pump.settled.is_empty() {
        s.push_str("<table><thead><tr><th>kind</th><th>state</th><th class=\"num\">items</th><th class=\"num\">amount</th></tr></thead><tbody>");
        for k in &r.pump.settled {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&k.kind),
                tag(&k.state),
                k.count,
                money(k.amount)
            );
        }
        s.push_str("</tbody></table>");
    }
    if !r.pump.by_tender.is_empty() {
        s.push_str("<h3>Payments posted, by tender and paymentMode</h3><table><thead><tr><th>tender</th><th>paymentMode</th><th class=\"num\">payments</th><th class=\"num\">posted</th><th class=\"num\">fees (never posted)</th></tr></thead><tbody>");
        for t in &r.pump.by_tender {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&t.tender),
                esc(&t.payment_mode),
                t.count,
                money(t.amount),
                money(t.fees)
            );
        }
        let _ = write!(
            s,
            "<tr><th>total</th><th></th><th class=\"num\">{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th></tr></tbody></table>",
            r.pump.posted_payments,
            money(r.pump.posted_amount),
            money(r.pump.posted_fees)
        );
    }
    if !r.pump.autopay_groups.is_empty() {
        s.push_str("<h3>Autopay groups (one call each)</h3><table><thead><tr><th>account</th><th>group</th><th class=\"num\">payments</th><th class=\"num\">amount</th><th>state</th></tr></thead><tbody>");
        for g in &r.pump.autopay_groups {
            let _ = write!(
                s,
                "<tr><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                esc(&g.account),
                esc(&g.group),
                g.payments,
                money(g.amount),
                esc(&g.states)
            );
        }
        s.push_str("</tbody></table>");
    }

    s.push_str("<h2 id=\"verify\">Verification after posting</h2>");
    let v = &r.verification;
    if v.asked == 0 {
        s.push_str("<p class=\"none\">No account was asked for its balance.</p>");
    } else {
        let _ = write!(
            s,
            "<p>{} account(s) asked (RTDR): {} reflect their payments, {} do not, {} not checked, {} unreachable.</p>",
            v.asked, v.ok, v.mismatch, v.not_checked, v.unreachable
        );
        s.push_str("<table><thead><tr><th>account</th><th>result</th><th class=\"num\">balance due</th><th class=\"num\">at most</th><th class=\"num\">posted</th><th>detail</th></tr></thead><tbody>");
        for a in &v.accounts {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                esc(&a.account),
                tag(a.outcome.as_str()),
                esc(a.balance_due.as_deref().unwrap_or("")),
                esc(a.expected_at_most.as_deref().unwrap_or("")),
                esc(&a.posted),
                esc(&a.detail)
            );
        }
        s.push_str("</tbody></table>");
    }

    s.push_str("<h2 id=\"files\">Invoice files</h2>");
    if r.files.list.is_empty() {
        s.push_str("<p class=\"none\">No file received in this window.</p>");
    } else {
        s.push_str("<table><thead><tr><th>file</th><th>verdict</th><th class=\"num\">invoices</th><th class=\"num\">total</th><th>errors</th></tr></thead><tbody>");
        for f in &r.files.list {
            let errors = f
                .errors
                .as_ref()
                .and_then(|e| e["by_code"].as_object())
                .map(|m| {
                    m.iter()
                        .map(|(k, n)| format!("<code>{}</code> {}", esc(k), n))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{errors}</td></tr>",
                esc(&f.name),
                tag(if f.verdict == "accepted" {
                    "accepted"
                } else {
                    "quarantined"
                }),
                f.invoices.map(|n| n.to_string()).unwrap_or_default(),
                esc(f.total.as_deref().unwrap_or("")),
            );
        }
        s.push_str("</tbody></table><p class=\"sub\">An accepted file's total is the sum of its invoices' TotalAmountDue; validation held it equal to the FH total.</p>");
    }
    s.push_str("<h3>Uploads to InvoiceCloud</h3>");
    if r.uploads.list.is_empty() {
        s.push_str("<p class=\"none\">No upload in this window.</p>");
    } else {
        s.push_str("<table><thead><tr><th>file</th><th>outcome</th><th>at</th><th>message</th></tr></thead><tbody>");
        for u in &r.uploads.list {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&u.file),
                esc(&u.outcome),
                esc(&u.at),
                esc(&u.message)
            );
        }
        s.push_str("</tbody></table>");
    }
    s.push_str("<h3>Exports from InvoiceCloud</h3>");
    if r.exports.is_empty() {
        s.push_str("<p class=\"none\">No export ingested in this window.</p>");
    } else {
        s.push_str("<table><thead><tr><th>file</th><th>kind</th><th class=\"num\">rows</th><th class=\"num\">taken</th><th class=\"num\">already held</th><th class=\"num\">refused</th><th class=\"num\">conflicts</th></tr></thead><tbody>");
        for e in &r.exports {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&e.name),
                esc(e.kind.as_deref().unwrap_or("")),
                e.rows,
                e.taken,
                e.already,
                e.refused,
                e.conflicts
            );
        }
        s.push_str("</tbody></table>");
    }

    s.push_str("<h2 id=\"accounts\">Account changes</h2>");
    if r.account_changes.by_kind.is_empty() {
        s.push_str("<p class=\"none\">No account changed.</p>");
    } else {
        let counts: Vec<String> = (r.account_changes.by_kind.iter())
            .map(|(k, n)| format!("{} {n}", esc(k)))
            .collect();
        let _ = write!(s, "<p>{}</p>", counts.join(" &middot; "));
        let changed: Vec<_> = (r.account_changes.list.iter())
            .filter(|c| c.kind != "new")
            .collect();
        if !changed.is_empty() {
            s.push_str("<table><thead><tr><th>account</th><th>change</th><th>was</th><th>now</th><th>file</th></tr></thead><tbody>");
            for c in changed {
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&c.account),
                    esc(&c.kind),
                    esc(c.old.as_deref().unwrap_or("")),
                    esc(c.new.as_deref().unwrap_or("")),
                    esc(&c.file)
                );
            }
            s.push_str("</tbody></table>");
        }
    }

    s.push_str("<h2 id=\"runs\">Runs</h2><table><thead><tr><th>run</th><th>stage</th><th>outcome</th><th class=\"num\">seconds</th></tr></thead><tbody>");
    for run in &r.runs {
        for st in &run.stages {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.2}</td></tr>",
                run.id,
                esc(&st.stage),
                tag(st.outcome),
                st.seconds
            );
        }
        if run.finished_at.is_none() {
            let _ = write!(
                s,
                "<tr><td>{}</td><td colspan=\"3\">{}</td></tr>",
                run.id,
                tag("never finished")
            );
        }
    }
    s.push_str("</tbody></table>");
    let _ = writeln!(
        s,
        "<footer>daffron-bridge {} &middot; report version {} &middot; the same report as JSON: <code>daffron-bridge report --format json</code></footer></body></html>",
        env!("CARGO_PKG_VERSION"),
        r.report_version
    );
    s
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn outside_text_cannot_open_markup() {
        assert_eq!(
            esc("<script>alert('x')</script>&\"\u{1b}[31m"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\u{fffd}[31m"
        );
    }
}

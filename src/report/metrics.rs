//! A run's counters and durations in the Prometheus text format, for
//! node_exporter's textfile collector (`--collector.textfile.directory`):
//! written to a temporary file beside the target and renamed over it, so
//! the collector never reads half a file.

use std::fmt::Write as _;

use super::Report;

/// The exposition text of a run's report.
pub fn render(r: &Report) -> String {
    let bid = r.biller.bid;
    let mut s = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(s, "# HELP daffron_bridge_{name} {help}");
        let _ = writeln!(s, "# TYPE daffron_bridge_{name} gauge");
        for (labels, value) in samples {
            let sep = if labels.is_empty() { "" } else { "," };
            let _ = writeln!(
                s,
                "daffron_bridge_{name}{{bid=\"{bid}\"{sep}{labels}}} {value}"
            );
        }
    };
    let run = r.runs.last();
    gauge(
        "run_exit_code",
        "Exit code of the latest run (0 ok, 1 input errors, 2 configuration, 3 unreachable).",
        &[(
            String::new(),
            run.and_then(|r| r.exit_code).unwrap_or(-1).to_string(),
        )],
    );
    let started = run
        .and_then(|r| chrono::DateTime::parse_from_rfc3339(&r.started_at).ok())
        .map_or(0, |t| t.timestamp());
    gauge(
        "run_start_timestamp_seconds",
        "When the latest run started, Unix seconds.",
        &[(String::new(), started.to_string())],
    );
    let stages: Vec<(String, String)> = run
        .map(|r| r.stages.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|st| {
            (
                format!("stage=\"{}\"", st.stage),
                format!("{:.3}", st.seconds),
            )
        })
        .collect();
    gauge(
        "stage_duration_seconds",
        "How long each stage of the latest run took.",
        &stages,
    );
    let codes: Vec<(String, String)> = run
        .map(|r| r.stages.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|st| (format!("stage=\"{}\"", st.stage), st.exit_code.to_string()))
        .collect();
    gauge(
        "stage_exit_code",
        "Exit code of each stage of the latest run.",
        &codes,
    );
    gauge(
        "files_received",
        "BIF files received in the run, by verdict.",
        &[
            ("verdict=\"accepted\"".into(), r.files.accepted.to_string()),
            (
                "verdict=\"quarantined\"".into(),
                r.files.quarantined.to_string(),
            ),
        ],
    );
    gauge(
        "invoices",
        "Invoices in the accepted files of the run.",
        &[(String::new(), r.files.invoices.to_string())],
    );
    let settled: Vec<(String, String)> = (r.pump.settled.iter())
        .map(|k| {
            (
                format!("kind=\"{}\",state=\"{}\"", k.kind, k.state),
                k.count.to_string(),
            )
        })
        .collect();
    gauge(
        "pump_items_settled",
        "Outbox items settled in the run, by kind and state.",
        &settled,
    );
    gauge(
        "payments_posted_amount",
        "Amount of the payments posted to Daffron in the run (fees not included).",
        &[(String::new(), r.pump.posted_amount.to_string())],
    );
    let attention: Vec<(String, String)> = (r.attention.counts.iter())
        .map(|(what, n)| (format!("what=\"{what}\""), n.to_string()))
        .collect();
    gauge(
        "attention_items",
        "Items needing a person, by what they are.",
        &attention,
    );
    gauge(
        "pending_items",
        "Outbox items still open (pending, in flight, retrying).",
        &[(String::new(), r.pending.count.to_string())],
    );
    gauge(
        "verification_mismatches",
        "Accounts whose balance did not reflect a posted payment.",
        &[(String::new(), r.verification.mismatch.to_string())],
    );
    s
}

//! `outbox`: the data pump's outbox for people.
//!
//! - `outbox [list]`: items by status, kind and account (`--format json`);
//! - `outbox show ITEM`: one item's whole story: the payload sent, every call
//!   that carried it (when, where, MessageID) and what Daffron said;
//! - `outbox replay ITEM... --reason WHY`: put dead or rejected items back
//!   (a fresh attempt budget) on purpose;
//! - `outbox cancel ITEM... --reason WHY`: retire an item a person decided
//!   must never go.
//!
//! ITEM is an outbox id or a key (payment_guid, event_id). Replays and
//! cancels are recorded with who (`--by`, else `$USER`), when and why.
//!
//! Exit codes: 0 done; 1 an action did not apply to an item (its state);
//! 2 usage (an unknown item).

use serde_json::json;

use super::{Format, Globals};
use crate::pump::{ItemState, Kind};
use crate::store::Store;
use crate::store::outbox::{Filter, ItemRow, PersonAction};
use crate::{Error, ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,

    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// List items (the default).
    List(ListArgs),
    /// One item's payload, every call that carried it and what Daffron said.
    Show {
        /// Outbox id, payment_guid or event_id.
        item: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Put dead or rejected items back, to be sent by the next sweep.
    Replay(ActArgs),
    /// Retire items for good: they will never be sent.
    Cancel(ActArgs),
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ListArgs {
    /// Only items in these states (comma-separated): pending, in_flight,
    /// posted, duplicate, rejected, retrying, dead, skipped, held, cancelled;
    /// `open` (pending, in_flight, retrying, held) and `problems` (rejected,
    /// dead) are shorthands.
    #[arg(long, value_name = "STATES", value_delimiter = ',')]
    pub status: Vec<String>,

    /// Only items of these kinds (comma-separated): payment, paperless,
    /// autopay, scheduled.
    #[arg(long, value_name = "KINDS", value_delimiter = ',')]
    pub kind: Vec<String>,

    /// Only one account's items (base-sub, 35909-001).
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,

    /// At most N items (oldest first).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// `text` (a table, then counts) or `json` (`{"items":[...],"counts":[...]}`).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ActArgs {
    /// Outbox ids, payment_guids or event_ids.
    #[arg(required = true, value_name = "ITEM")]
    pub items: Vec<String>,

    /// Why (kept with the item).
    #[arg(long, required = true, value_name = "TEXT")]
    pub reason: String,

    /// Who (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let config = g.load_config()?;
    let mut store = Store::open(&g.state_path(&config))?;
    match &args.action {
        None => list(&store, &args.list),
        Some(Action::List(l)) => list(&store, l),
        Some(Action::Show { item, format }) => show(&store, item, *format),
        Some(Action::Replay(a)) => act(&mut store, a, PersonAction::Replay),
        Some(Action::Cancel(a)) => act(&mut store, a, PersonAction::Cancel),
    }
}

fn filter(l: &ListArgs) -> Result<Filter> {
    let mut f = Filter {
        account: l.account.clone(),
        limit: l.limit,
        ..Filter::default()
    };
    for s in &l.status {
        match s.trim() {
            "open" => f.states.extend([
                ItemState::Pending,
                ItemState::InFlight,
                ItemState::Retrying,
                ItemState::Held,
            ]),
            "problems" => f.states.extend([ItemState::Rejected, ItemState::Dead]),
            other => f.states.push(ItemState::parse(other).ok_or_else(|| {
                Error::Usage(format!(
                    "--status {other}: not a state (pending, in_flight, posted, duplicate, rejected, \
                     retrying, dead, skipped, held, cancelled, open, problems)"
                ))
            })?),
        }
    }
    for k in &l.kind {
        f.kinds.push(Kind::parse(k.trim()).ok_or_else(|| {
            Error::Usage(format!(
                "--kind {k}: not a kind (payment, paperless, autopay, scheduled)"
            ))
        })?);
    }
    Ok(f)
}

fn row_line(r: &ItemRow) -> String {
    let money = match (r.amount, r.fee) {
        (Some(a), Some(f)) if !f.is_zero() => format!("{a} (fee {f})"),
        (Some(a), _) => a.to_string(),
        _ => String::new(),
    };
    let mut s = format!(
        "{:>6}  {:<9}  {:<10}  {:<12}  {:>12}  {}",
        r.id,
        r.kind.as_str(),
        r.state.as_str(),
        r.account,
        money,
        r.key
    );
    if let Some(n) = &r.next_attempt_at {
        s.push_str(&format!("  next {n}"));
    }
    if !r.reason.is_empty() {
        s.push_str(&format!("\n        {}", r.reason));
    }
    s
}

fn list(store: &Store, l: &ListArgs) -> Result<ExitCode> {
    let rows = store.outbox_list(&filter(l)?)?;
    let counts = store.outbox_counts()?;
    let mut text = String::new();
    if rows.is_empty() {
        text.push_str("no items match\n");
    } else {
        text.push_str(&format!(
            "{:>6}  {:<9}  {:<10}  {:<12}  {:>12}  key\n",
            "id", "kind", "state", "account", "amount"
        ));
        for r in &rows {
            text.push_str(&row_line(r));
            text.push('\n');
        }
    }
    text.push_str("\nall items by kind and state:\n");
    for c in &counts {
        let money = if c.amount.is_zero() {
            String::new()
        } else if c.fee.is_zero() {
            format!("  {}", c.amount)
        } else {
            format!("  {} (fees {}, never sent)", c.amount, c.fee)
        };
        text.push_str(&format!(
            "  {:<9} {:<10} {:>7}{money}\n",
            c.kind.as_str(),
            c.state.as_str(),
            c.count
        ));
    }
    super::print(l.format, &text, &json!({"items": rows, "counts": counts}));
    Ok(ExitCode::Success)
}

fn find(store: &Store, item: &str) -> Result<ItemRow> {
    store.outbox_item(item)?.ok_or_else(|| {
        Error::Usage(format!(
            "no outbox item `{item}` (give an id, a payment_guid or an event_id; `daffron-bridge outbox list` shows them)"
        ))
    })
}

fn show(store: &Store, item: &str, format: Format) -> Result<ExitCode> {
    let row = find(store, item)?;
    let wire = store.outbox_wire(row.id)?;
    let attempts = store.outbox_attempts(row.id)?;
    let actions = store.outbox_actions(row.id)?;
    let mut t = format!("{}\n", row_line(&row));
    t.push_str(&format!(
        "  happened {}, taken in {}, last changed {}, {} attempt(s) since last put back\n",
        row.occurred_at, row.created_at, row.updated_at, row.attempts
    ));
    match &wire {
        Some(w) => t.push_str(&format!(
            "  payload (as sent, inside the operation's envelope):\n    {w}\n"
        )),
        None => t.push_str("  no payload: never to be sent, or held until it has one\n"),
    }
    if attempts.is_empty() {
        t.push_str("  no call has carried it\n");
    }
    for a in &attempts {
        let took = a
            .millis
            .map(|m| format!("{m} ms"))
            .unwrap_or_else(|| "no answer recorded (the sweep was interrupted)".into());
        let place = if a.position >= 0 {
            format!("item {} of {}", a.position + 1, a.items_in_call)
        } else {
            format!("one of {} items", a.items_in_call)
        };
        t.push_str(&format!(
            "  call {} (sweep {}) {} {} to {}, MessageID {}, {place}: {took}\n",
            a.call_id, a.sweep_id, a.at, a.operation, a.url, a.message_id,
        ));
        let said = match (&a.outcome, a.reason.is_empty()) {
            (Some(o), true) => o.clone(),
            (Some(o), false) => format!("{o}: {}", a.reason),
            (None, _) => "unknown".into(),
        };
        t.push_str(&format!("    Daffron: {said}\n"));
        if let Some(ans) = &a.answer {
            t.push_str(&format!("    answer: {ans}\n"));
        }
    }
    for x in &actions {
        t.push_str(&format!(
            "  {} by {} at {} (was {}): {}\n",
            x.action, x.by, x.at, x.from_state, x.reason
        ));
    }
    super::print(
        format,
        &t,
        &json!({"item": row, "payload": wire, "attempts": attempts, "actions": actions}),
    );
    Ok(ExitCode::Success)
}

fn act(store: &mut Store, a: &ActArgs, action: PersonAction) -> Result<ExitCode> {
    let by =
        a.by.clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into());
    if a.reason.trim().is_empty() {
        return Err(Error::Usage("--reason must say why".into()));
    }
    let mut code = ExitCode::Success;
    for item in &a.items {
        let row = find(store, item)?;
        match store.outbox_act(row.id, action, &by, a.reason.trim())? {
            Ok(from) => println!(
                "{} {}: {} -> {}",
                row.id,
                crate::terminal::escape(&row.key),
                from.as_str(),
                match action {
                    PersonAction::Replay => "pending (the next sweep sends it)",
                    PersonAction::Cancel => "cancelled",
                }
            ),
            Err(why) => {
                eprintln!(
                    "daffron-bridge: {}",
                    crate::terminal::escape(&why.to_string())
                );
                code = code.worst(ExitCode::InputErrors);
            }
        }
    }
    Ok(code)
}

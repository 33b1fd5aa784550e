//! `balance ACCOUNT [--format json]`: the real-time balance of an account
//! (RTDR, GetPayableItemsList on the endpoint of advanced settings 8/9/10),
//! with the D13/D14 rules of [`crate::rtdr`]. Exit 3 when the endpoint cannot
//! be reached or answers nonsense.

use std::fmt::Write as _;

use super::{Format, Globals};
use crate::multispeak::MultiSpeakClient;
use crate::rtdr::{self, Balance};
use crate::transport::http::{HttpClient, HttpOptions};
use crate::{Error, ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The account: base-sub (35909-001) or base+sub (35909001).
    pub account: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let account = rtdr::account_id(&args.account)?;
    let mut config = g.load_config()?;
    // The demo configuration answers from its in-process sandbox.
    let _sandbox = crate::sandbox::embedded::start(&mut config)?;
    let endpoint = config.require_endpoint("balance", &config.settings.rtdr, 8)?;
    let http = HttpClient::new(&HttpOptions::daffron(&config)?);
    let client = MultiSpeakClient::for_endpoint(http, &config, endpoint)?;
    let list = client
        .get_payable_items_list(&account)
        .map_err(|source| Error::Remote {
            what: "the RTDR endpoint (advanced setting 8) could not give the balance".into(),
            url: endpoint.url.clone(),
            source,
        })?;
    let balance = rtdr::balance(&account, &list)?;
    match args.format {
        Format::Json => {
            let text = serde_json::to_string(&balance)
                .map_err(|e| Error::Usage(format!("cannot write JSON: {e}")))?;
            println!("{text}");
        }
        Format::Text => print!("{}", crate::terminal::escape(&text(&balance))),
    }
    Ok(ExitCode::Success)
}

/// The balance for people.
pub fn text(b: &Balance) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Account       {}", b.account);
    let _ = writeln!(s, "Balance due   {}", b.balance_due);
    let _ = writeln!(s, "Past due      {}", b.past_due);
    match &b.prepaid {
        Some(p) => {
            let days = p
                .remaining_days
                .map(|d| format!("{d} day(s) left"))
                .unwrap_or_else(|| "days left not given".into());
            let _ = writeln!(
                s,
                "Prepaid       remaining balance {}, {days}",
                p.remaining_balance
            );
        }
        None => {
            let _ = writeln!(s, "Prepaid       no");
        }
    }
    if b.blocked_reasons.is_empty() {
        let _ = writeln!(s, "Blocked       none");
    } else {
        for (i, r) in b.blocked_reasons.iter().enumerate() {
            let label = if i == 0 { "Blocked" } else { "" };
            let _ = writeln!(s, "{label:<14}{r}");
        }
    }
    if !b.allowable_transaction_types.is_empty() {
        let _ = writeln!(
            s,
            "Allowed types {}",
            b.allowable_transaction_types.join(", ")
        );
    }
    let _ = writeln!(s, "Items         {}", b.items.len());
    for it in &b.items {
        let opt = |d: &Option<rust_decimal::Decimal>| {
            d.map(|d| d.to_string()).unwrap_or_else(|| "-".into())
        };
        let _ = writeln!(
            s,
            "  {:<24} current {:>10}  past due {:>10}  due {}",
            it.description.as_deref().unwrap_or("(no description)"),
            opt(&it.current_amount),
            opt(&it.past_due_amount),
            it.due_date.as_deref().unwrap_or("-")
        );
    }
    s
}

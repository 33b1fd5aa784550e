//! Fault injection for the sandbox, reproducible from a seed.
//!
//! A spec is a comma-separated list of rules `KIND[=VALUE][@WHEN]`:
//!
//! | kind | effect |
//! |---|---|
//! | `latency=DUR` | sleep DUR (`200ms`, `2s`) before answering |
//! | `http500` | answer HTTP 500 with a plain-text body (no SOAP Fault) |
//! | `fault` | answer a SOAP Fault (HTTP 500), as a business-rule refusal |
//! | `drop` | break the answer off mid-body (the connection is unusable) |
//! | `lost` | process the request (applied, persisted, journaled), then break the answer off as `drop` does: sent and applied, but no answer came |
//! | `malformed` | answer HTTP 200 with a body that is not well-formed XML |
//! | `item_failure` | refuse single items of a batch (tender Failure / errorObject) |
//! | `item_unanswered` | apply a payment but leave it out of the answer (the client cannot know it was taken) |
//! | `unapplied` | take a payment and answer Success, but leave the account's balance as it was (parked in a suspense queue: what `run`'s verification finds) |
//!
//! WHEN (for `item_failure`, `item_unanswered` and `unapplied` counted per item, for the others per request):
//! `0.05` (a probability, drawn from a generator seeded by `--fault-seed`),
//! `first:N` (the first N), `nth:N` (only the N-th, 1-based), `always` (the
//! default), and for the item kinds also `account:ID` (every item of that
//! base+sub account). For kinds other than `latency` the WHEN may also be
//! written as the value: `http500=first:2` is `http500@first:2`.
//!
//! Example: `latency=200ms@0.1,http500@0.05,fault@0.05,drop@0.05,malformed@0.05,item_failure@0.1`.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The kinds of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Latency,
    Http500,
    Fault,
    Drop,
    /// Applied, then the answer is broken off (the pump must resend).
    Lost,
    Malformed,
    ItemFailure,
    ItemUnanswered,
    /// Taken and answered Success, but not applied to the balance.
    Unapplied,
}

impl FaultKind {
    /// Decided per item of a batch rather than per request.
    pub fn is_item(self) -> bool {
        matches!(
            self,
            FaultKind::ItemFailure | FaultKind::ItemUnanswered | FaultKind::Unapplied
        )
    }

    fn parse(s: &str) -> Option<FaultKind> {
        Some(match s {
            "latency" => FaultKind::Latency,
            "http500" => FaultKind::Http500,
            "fault" => FaultKind::Fault,
            "drop" => FaultKind::Drop,
            "lost" => FaultKind::Lost,
            "malformed" => FaultKind::Malformed,
            "item_failure" => FaultKind::ItemFailure,
            "item_unanswered" => FaultKind::ItemUnanswered,
            "unapplied" => FaultKind::Unapplied,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Latency => "latency",
            FaultKind::Http500 => "http500",
            FaultKind::Fault => "fault",
            FaultKind::Drop => "drop",
            FaultKind::Lost => "lost",
            FaultKind::Malformed => "malformed",
            FaultKind::ItemFailure => "item_failure",
            FaultKind::ItemUnanswered => "item_unanswered",
            FaultKind::Unapplied => "unapplied",
        }
    }
}

/// When a rule fires.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    Always,
    Probability(f64),
    First(u64),
    Nth(u64),
    Account(String),
}

/// One rule of a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub kind: FaultKind,
    pub latency: Duration,
    pub when: When,
}

/// A parsed `--faults` spec.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultSpec {
    pub rules: Vec<Rule>,
}

fn duration(s: &str) -> Option<Duration> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    if let Some(sec) = s.strip_suffix('s') {
        return sec.parse().ok().map(Duration::from_secs);
    }
    None
}

fn when(s: &str, kind: FaultKind) -> Result<When, String> {
    let bad = || {
        format!(
            "`{s}` is not a WHEN: use a probability such as 0.05, first:N, nth:N, always{}",
            if kind.is_item() { " or account:ID" } else { "" }
        )
    };
    if s == "always" {
        return Ok(When::Always);
    }
    if let Some(n) = s.strip_prefix("first:") {
        return n.parse().map(When::First).map_err(|_| bad());
    }
    if let Some(n) = s.strip_prefix("nth:") {
        return match n.parse() {
            Ok(0) | Err(_) => Err(bad()),
            Ok(n) => Ok(When::Nth(n)),
        };
    }
    if let Some(a) = s.strip_prefix("account:") {
        if kind.is_item()
            && let Some(id) = crate::multispeak::account_id(a)
        {
            return Ok(When::Account(id));
        }
        return Err(bad());
    }
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(When::Probability(p)),
        _ => Err(bad()),
    }
}

impl FaultSpec {
    /// Parses a spec; an error says which rule is wrong and how to write it.
    pub fn parse(spec: &str) -> Result<FaultSpec, String> {
        let mut rules = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (head, at) = match part.split_once('@') {
                Some((h, w)) => (h, Some(w)),
                None => (part, None),
            };
            let (name, value) = match head.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (head.trim(), None),
            };
            let kind = FaultKind::parse(name).ok_or_else(|| {
                format!("fault rule `{part}`: unknown kind `{name}`; use latency, http500, fault, drop, lost, malformed or item_failure")
            })?;
            let mut latency = Duration::ZERO;
            let mut w = When::Always;
            match (kind, value) {
                (FaultKind::Latency, Some(v)) => {
                    latency = duration(v).ok_or_else(|| {
                        format!("fault rule `{part}`: `{v}` is not a duration such as 200ms or 2s")
                    })?
                }
                (FaultKind::Latency, None) => {
                    return Err(format!(
                        "fault rule `{part}`: latency needs a duration: latency=200ms"
                    ));
                }
                (_, Some(v)) => {
                    if at.is_some() {
                        return Err(format!(
                            "fault rule `{part}`: give WHEN once, after = or after @"
                        ));
                    }
                    w = when(v, kind).map_err(|e| format!("fault rule `{part}`: {e}"))?;
                }
                (_, None) => {}
            }
            if let Some(a) = at {
                w = when(a.trim(), kind).map_err(|e| format!("fault rule `{part}`: {e}"))?;
            }
            rules.push(Rule {
                kind,
                latency,
                when: w,
            });
        }
        Ok(FaultSpec { rules })
    }
}

/// The deterministic decider: request and item counters and the seeded
/// generator. Given the same spec, seed and order of requests, it decides
/// the same way every time.
#[derive(Debug)]
pub struct Injector {
    spec: FaultSpec,
    rng: StdRng,
    requests: u64,
    items: u64,
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestFaults {
    pub latency: Duration,
    /// The one fault that replaces the answer, if any (first rule that
    /// fires). `lost` replaces it after the request was processed; the
    /// others instead of processing it.
    pub replace: Option<FaultKind>,
}

impl Injector {
    pub fn new(spec: FaultSpec, seed: u64) -> Injector {
        Injector {
            spec,
            rng: StdRng::seed_from_u64(seed),
            requests: 0,
            items: 0,
        }
    }

    fn fires(rng: &mut StdRng, when: &When, n: u64, account: Option<&str>) -> bool {
        match when {
            When::Always => true,
            When::Probability(p) => rng.random::<f64>() < *p,
            When::First(k) => n <= *k,
            When::Nth(k) => n == *k,
            When::Account(a) => account == Some(a.as_str()),
        }
    }

    /// Decides for the next request. Every probabilistic rule draws once per
    /// request, so one rule's outcome does not shift another's sequence.
    pub fn next_request(&mut self) -> RequestFaults {
        self.requests += 1;
        let n = self.requests;
        let mut out = RequestFaults::default();
        for r in &self.spec.rules {
            if r.kind.is_item() {
                continue;
            }
            let fired = Self::fires(&mut self.rng, &r.when, n, None);
            if !fired {
                continue;
            }
            if r.kind == FaultKind::Latency {
                out.latency += r.latency;
            } else if out.replace.is_none() {
                out.replace = Some(r.kind);
            }
        }
        out
    }

    /// Decides for the next item of a batch (base+sub `account`): whether
    /// it is refused (`item_failure`).
    pub fn next_item(&mut self, account: &str) -> bool {
        self.next_item_fault(account) == Some(FaultKind::ItemFailure)
    }

    /// Decides for the next item of a batch: refused (`item_failure`),
    /// applied but left out of the answer (`item_unanswered`, payments
    /// only), or neither.
    pub fn next_item_fault(&mut self, account: &str) -> Option<FaultKind> {
        self.items += 1;
        let n = self.items;
        let mut fault = None;
        for r in &self.spec.rules {
            if r.kind.is_item() && Self::fires(&mut self.rng, &r.when, n, Some(account)) {
                fault = fault.or(Some(r.kind));
            }
        }
        fault
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_suggested_spec() {
        let s = FaultSpec::parse(
            "latency=200ms@0.1,http500@0.05,fault@0.05,drop@0.05,malformed@0.05,item_failure@0.1",
        )
        .unwrap();
        assert_eq!(s.rules.len(), 6);
        assert_eq!(s.rules[0].latency, Duration::from_millis(200));
        assert_eq!(s.rules[0].when, When::Probability(0.1));
        let s = FaultSpec::parse(
            "http500=first:2, item_failure=account:35909-001, fault@nth:3, latency=1s",
        )
        .unwrap();
        assert_eq!(s.rules[0].when, When::First(2));
        assert_eq!(s.rules[1].when, When::Account("35909001".into()));
        assert_eq!(s.rules[2].when, When::Nth(3));
        assert_eq!(s.rules[3].when, When::Always);
        for bad in [
            "boom",
            "latency",
            "latency=fast",
            "http500@2",
            "http500=first:x",
            "fault=account:1",
            "drop@nth:0",
            "http500=first:1@0.5",
        ] {
            assert!(FaultSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(FaultSpec::parse("").unwrap(), FaultSpec::default());
    }

    #[test]
    fn first_and_nth_are_exact() {
        let mut i = Injector::new(FaultSpec::parse("http500=first:2,fault@nth:4").unwrap(), 0);
        let got: Vec<_> = (0..5).map(|_| i.next_request().replace).collect();
        assert_eq!(
            got,
            vec![
                Some(FaultKind::Http500),
                Some(FaultKind::Http500),
                None,
                Some(FaultKind::Fault),
                None
            ]
        );
    }

    #[test]
    fn probabilities_repeat_with_the_seed() {
        let spec = FaultSpec::parse("drop@0.3,item_failure@0.5").unwrap();
        let run = |seed| {
            let mut i = Injector::new(spec.clone(), seed);
            (0..50)
                .map(|_| (i.next_request().replace, i.next_item("1")))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let drops = run(7).iter().filter(|(r, _)| r.is_some()).count();
        assert!(drops > 3 && drops < 30, "{drops}");
    }

    #[test]
    fn lost_is_a_kind_of_its_own() {
        let s = FaultSpec::parse("lost@nth:2,drop=first:1").unwrap();
        assert_eq!(s.rules[0].kind, FaultKind::Lost);
        assert_eq!(FaultKind::Lost.name(), "lost");
        let mut i = Injector::new(s, 0);
        let got: Vec<_> = (0..3).map(|_| i.next_request().replace).collect();
        assert_eq!(got, [Some(FaultKind::Drop), Some(FaultKind::Lost), None]);
        let e = FaultSpec::parse("gone").unwrap_err();
        assert!(e.contains("lost"), "{e}");
    }

    #[test]
    fn items_by_account() {
        let mut i = Injector::new(FaultSpec::parse("item_failure=account:2").unwrap(), 0);
        assert!(!i.next_item("1"));
        assert!(i.next_item("2"));
    }
}

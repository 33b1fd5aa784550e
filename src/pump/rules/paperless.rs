//! Paperless enrollments → ModifyCBDataForCustomer with extension `EBILL` =
//! `Y` (enroll) or `N` (un-enroll) on the customer's base+sub objectID
//! (seed, "Data Pump: Paperless Enrollment"), and D9: "DO NOT SEND unless
//! enrolling or un-enrolling".

use crate::multispeak::{self, CustomerPaperless};

/// The wire item: the customer's objectID is base+sub (D2).
pub fn item(account: &str, enroll: bool) -> Option<CustomerPaperless> {
    Some(CustomerPaperless {
        customer_id: multispeak::account_id(account)?,
        enroll,
    })
}

/// `Y` or `N`, as sent and stored.
pub fn flag(enroll: bool) -> &'static str {
    if enroll { "Y" } else { "N" }
}

/// An open paperless item of one account, as the sweep sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    pub key: String,
    pub enroll: bool,
    /// When it happened (Unix seconds).
    pub occurred: i64,
    /// A call carried it and no answer was recorded (a killed sweep).
    pub in_flight: bool,
    /// Its next-attempt time has come.
    pub due: bool,
}

/// What Daffron was last told for an account, and by which item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told {
    pub enrolled: bool,
    pub item_id: i64,
    pub at: String,
}

/// What the sweep does with each candidate now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Send,
    /// Settled as skipped, with why.
    Skip(String),
    /// Left open for a later pass or sweep.
    Wait,
}

/// D9 for one account. Paperless is a state, not a history: only the
/// latest event (by occurred_at) says what Daffron should hold, and it is
/// sent only when that differs from what Daffron was last told (an unknown
/// state always differs). Older open events are superseded. One exception
/// keeps the order safe: an item left in flight by a killed sweep may have
/// reached Daffron, so it is sent again (same payload) before anything newer
/// is decided.
pub fn plan(candidates: &[Candidate], told: Option<&Told>) -> Vec<(i64, Plan)> {
    let mut c: Vec<&Candidate> = candidates.iter().collect();
    c.sort_by_key(|c| (c.occurred, c.id));
    if let Some(first) = c.iter().find(|c| c.in_flight) {
        let first = first.id;
        return c
            .iter()
            .map(|x| {
                (
                    x.id,
                    if x.id == first {
                        Plan::Send
                    } else {
                        Plan::Wait
                    },
                )
            })
            .collect();
    }
    let Some(latest) = c.last() else {
        return Vec::new();
    };
    let mut out: Vec<(i64, Plan)> = c[..c.len() - 1]
        .iter()
        .map(|x| {
            (
                x.id,
                Plan::Skip(format!(
                    "superseded by the later paperless event {} (EBILL={}) before it was sent (D9)",
                    latest.key,
                    flag(latest.enroll)
                )),
            )
        })
        .collect();
    let last = match told {
        Some(t) if t.enrolled == latest.enroll => Plan::Skip(format!(
            "Daffron was last told EBILL={} (outbox item {}, {}); this changes nothing and is not sent (D9)",
            flag(t.enrolled),
            t.item_id,
            t.at
        )),
        _ if !latest.due => Plan::Wait,
        _ => Plan::Send,
    };
    out.push((latest.id, last));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: i64, enroll: bool, occurred: i64) -> Candidate {
        Candidate {
            id,
            key: format!("e{id}"),
            enroll,
            occurred,
            in_flight: false,
            due: true,
        }
    }

    fn told(enrolled: bool) -> Told {
        Told {
            enrolled,
            item_id: 9,
            at: "2026-11-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn d9_sent_only_when_it_changes_what_daffron_was_told() {
        assert_eq!(plan(&[c(1, true, 10)], None), vec![(1, Plan::Send)]);
        assert_eq!(
            plan(&[c(1, true, 10)], Some(&told(false))),
            vec![(1, Plan::Send)]
        );
        let p = plan(&[c(1, true, 10)], Some(&told(true)));
        assert!(matches!(&p[0].1, Plan::Skip(m) if m.contains("EBILL=Y") && m.contains("D9")));
    }

    #[test]
    fn d9_the_latest_event_wins_by_time_not_by_arrival() {
        // Enroll then un-enroll: only the un-enroll goes.
        let p = plan(&[c(1, true, 10), c(2, false, 20)], Some(&told(true)));
        assert!(matches!(p[0], (1, Plan::Skip(_))));
        assert_eq!(p[1], (2, Plan::Send));
        // Arrived later but happened earlier: superseded by the earlier row.
        let p = plan(&[c(5, false, 30), c(6, true, 20)], Some(&told(true)));
        assert!(matches!(p[0], (6, Plan::Skip(_))));
        assert_eq!(p[1], (5, Plan::Send));
        // Back and forth that ends where Daffron is: nothing sent.
        let p = plan(&[c(1, false, 10), c(2, true, 20)], Some(&told(true)));
        assert!(p.iter().all(|(_, x)| matches!(x, Plan::Skip(_))));
    }

    #[test]
    fn an_item_left_in_flight_goes_first_and_the_rest_waits() {
        let mut a = c(1, true, 10);
        a.in_flight = true;
        let p = plan(&[c(2, false, 20), a], Some(&told(true)));
        assert_eq!(p, vec![(1, Plan::Send), (2, Plan::Wait)]);
    }

    #[test]
    fn a_latest_not_yet_due_waits() {
        let mut a = c(1, true, 10);
        a.due = false;
        assert_eq!(plan(&[a], None), vec![(1, Plan::Wait)]);
    }
}

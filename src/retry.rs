//! One retry policy for everything that leaves the machine: InvoiceCloud's
//! upload and the data pump's MultiSpeak calls.
//!
//! Two time scales use the same policy type:
//! - *within a run*, a call that failed as a whole for a transient reason
//!   (connect, timeout, HTTP 5xx, an unusable answer) is tried again after a
//!   short pause ([`RetryPolicy::run`]);
//! - *across runs*, an outbox item that did not get a final answer waits
//!   until a next-attempt time ([`RetryPolicy::backoff`] of its attempt
//!   count), so a server that is down for a night is not hammered.
//!
//! Delays grow exponentially (`first_delay * 2^(n-1)`, capped at
//! `max_delay`) with *full jitter* (a uniform draw between zero and that
//! cap), which spreads retries of many clients and items apart (the AWS
//! architecture blog's "Exponential Backoff And Jitter"). Time is a
//! [`Clock`], so tests run without sleeping.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{Rng, RngCore};

/// What to do after a failed try (Vector's `RetryAction`, minus the partial
/// case, which the pump decides per item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAction {
    /// The failure may pass: try again after a delay.
    Retry,
    /// Trying again cannot help (a refusal, a configuration problem).
    DontRetry,
}

impl RetryAction {
    /// The one classifier of a call that failed as a whole (MultiSpeak or
    /// InvoiceCloud): unreachable, timed out, HTTP 5xx or an unusable answer
    /// may pass; a SOAP Fault or an HTTP 4xx will not.
    pub fn for_call(e: &crate::multispeak::CallError) -> RetryAction {
        if e.is_retryable() {
            RetryAction::Retry
        } else {
            RetryAction::DontRetry
        }
    }

    /// The classifier of UploadInvoiceFile, which has no idempotency key:
    /// InvoiceCloud would take a resent file as a second one. Only a try
    /// that never reached the server is repeated, unless the configuration
    /// (`[invoicecloud] resend_unknown`) accepts that a file may arrive
    /// twice; then every transient failure is, as for [`Self::for_call`].
    pub fn for_upload(e: &crate::multispeak::CallError, resend_unknown: bool) -> RetryAction {
        if e.nothing_sent() || (resend_unknown && e.is_retryable()) {
            RetryAction::Retry
        } else {
            RetryAction::DontRetry
        }
    }
}

/// How a delay is drawn below its exponential cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the cap: for tests and predictable schedules.
    None,
    /// Uniform between zero and the cap.
    Full,
}

/// Tries, delays and jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries of one call in one go; 1 means no retry.
    pub tries: u32,
    /// The cap of the first delay; each later one doubles.
    pub first_delay: Duration,
    /// No delay is longer than this.
    pub max_delay: Duration,
    pub jitter: Jitter,
}

/// The result of [`RetryPolicy::run`] and how many tries it took.
#[derive(Debug)]
pub struct Retried<T, E> {
    pub result: Result<T, E>,
    pub tries: u32,
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1 for the first retry):
    /// `min(max_delay, first_delay * 2^(retry-1))`, jittered.
    pub fn backoff(&self, retry: u32, rng: &mut dyn RngCore) -> Duration {
        let doublings = retry.saturating_sub(1).min(32);
        let cap = self
            .first_delay
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        match self.jitter {
            Jitter::None => cap,
            Jitter::Full => {
                let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
                if nanos == 0 {
                    Duration::ZERO
                } else {
                    Duration::from_nanos(rng.random_range(0..=nanos))
                }
            }
        }
    }

    /// Calls `call(try_number)` (1-based) until it succeeds, `classify` says
    /// [`RetryAction::DontRetry`], or `tries` are used up, sleeping on
    /// `clock` between tries. `on_retry(try, &error, delay)` is told before
    /// each pause (for logs).
    pub fn run<T, E>(
        &self,
        clock: &dyn Clock,
        rng: &mut dyn RngCore,
        mut call: impl FnMut(u32) -> Result<T, E>,
        classify: impl Fn(&E) -> RetryAction,
        mut on_retry: impl FnMut(u32, &E, Duration),
    ) -> Retried<T, E> {
        let mut tries = 0;
        loop {
            tries += 1;
            match call(tries) {
                Err(e) if tries < self.tries && classify(&e) == RetryAction::Retry => {
                    let delay = self.backoff(tries, rng);
                    on_retry(tries, &e, delay);
                    clock.sleep(delay);
                }
                result => return Retried { result, tries },
            }
        }
    }
}

/// Time, for everything that waits or schedules.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    fn sleep(&self, d: Duration);

    /// Now as the state file writes times: RFC 3339, UTC, milliseconds.
    fn now_text(&self) -> String {
        self.now()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// Now in Unix seconds, as the outbox schedules next attempts.
    fn now_secs(&self) -> i64 {
        self.now().timestamp()
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A clock that only moves when told to, or when something sleeps on it
/// (tests). It remembers every sleep.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    slept: Mutex<Vec<Duration>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(start),
            slept: Mutex::new(Vec::new()),
        }
    }

    pub fn advance(&self, d: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
    }

    /// Every sleep so far, in order.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn sleep(&self, d: Duration) {
        self.slept.lock().unwrap_or_else(|p| p.into_inner()).push(d);
        self.advance(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn policy(tries: u32, jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            tries,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(3),
            jitter,
        }
    }

    #[test]
    fn an_upload_is_repeated_only_when_nothing_was_sent() {
        use crate::multispeak::CallError;
        use crate::multispeak::outcome::Transient;
        let refused = CallError::Transient(Transient::Connect("refused".into()));
        let timeout = CallError::Transient(Transient::Timeout("t".into()));
        let status = CallError::Transient(Transient::Status(502));
        let garbage = CallError::Transient(Transient::Garbage("g".into()));
        let not_found = CallError::Rejected(404);
        assert_eq!(RetryAction::for_upload(&refused, false), RetryAction::Retry);
        for e in [&timeout, &status, &garbage, &not_found] {
            assert_eq!(
                RetryAction::for_upload(e, false),
                RetryAction::DontRetry,
                "{e}"
            );
            assert_eq!(
                RetryAction::for_upload(e, true),
                RetryAction::for_call(e),
                "{e}"
            );
        }
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = policy(10, Jitter::None);
        let mut rng = StdRng::seed_from_u64(1);
        let d: Vec<u128> = (1..=6)
            .map(|n| p.backoff(n, &mut rng).as_millis())
            .collect();
        assert_eq!(d, vec![500, 1000, 2000, 3000, 3000, 3000]);
        // Huge attempt numbers neither overflow nor exceed the cap.
        assert_eq!(p.backoff(u32::MAX, &mut rng), Duration::from_secs(3));
    }

    #[test]
    fn full_jitter_stays_under_the_cap_and_varies() {
        let p = policy(10, Jitter::Full);
        let mut rng = StdRng::seed_from_u64(7);
        let draws: Vec<Duration> = (0..200).map(|_| p.backoff(3, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_secs(2)));
        assert!(draws.iter().any(|d| *d < Duration::from_millis(500)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(1500)));
        let zero = RetryPolicy {
            first_delay: Duration::ZERO,
            ..p
        };
        assert_eq!(zero.backoff(5, &mut rng), Duration::ZERO);
    }

    #[test]
    fn run_retries_what_may_pass_and_sleeps_on_the_clock() {
        let clock = ManualClock::new(Utc::now());
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen = Vec::new();
        let r = policy(3, Jitter::None).run(
            &clock,
            &mut rng,
            |n| if n < 3 { Err(n) } else { Ok("done") },
            |_| RetryAction::Retry,
            |n, e, d| seen.push((n, *e, d)),
        );
        assert_eq!(r.result, Ok("done"));
        assert_eq!(r.tries, 3);
        assert_eq!(
            clock.slept(),
            vec![Duration::from_millis(500), Duration::from_millis(1000)]
        );
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn run_stops_at_a_final_error_or_the_last_try() {
        let clock = ManualClock::new(Utc::now());
        let mut rng = StdRng::seed_from_u64(1);
        let r: Retried<(), &str> = policy(5, Jitter::Full).run(
            &clock,
            &mut rng,
            |_| Err("refused"),
            |_| RetryAction::DontRetry,
            |_, _, _| {},
        );
        assert_eq!((r.result, r.tries), (Err("refused"), 1));
        assert!(clock.slept().is_empty());

        let r: Retried<(), u32> = policy(2, Jitter::None).run(
            &clock,
            &mut rng,
            Err,
            |_| RetryAction::Retry,
            |_, _, _| {},
        );
        assert_eq!((r.result, r.tries), (Err(2), 2));
        assert_eq!(clock.slept().len(), 1);
    }
}

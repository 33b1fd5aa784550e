//! One batch call to one pump endpoint, and what it said of each item.
//!
//! A call is the items' frozen payloads ([`DueItem::wire`]) in the
//! operation's envelope with a fresh MessageID; the answer is classified
//! once ([`crate::multispeak::client::settle`]: a Fault, garbage, HTTP
//! statuses) and, when usable, mapped back to the items: payments by their
//! transactionId (then account and tender), paperless and comments by the
//! errorObject's objectID (base+sub, D2).
//!
//! [`Deliver`] is the seam between the sweep and the network: [`Endpoints`]
//! posts over HTTP, [`DryRun`] prints what would be posted.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use chrono::Utc;

use super::Route;
use crate::config::{Config, ConfigError};
use crate::multispeak::client::{http_error, settle};
use crate::multispeak::outcome::{
    self, CallError, ItemOutcome, PaymentKey, match_error_objects, match_payment_keys,
};
use crate::multispeak::request::{self, MsgHeader};
use crate::multispeak::{Credentials, TenderKind, response};
use crate::store::outbox::DueItem;
use crate::transport::http::{HttpClient, HttpOptions};

/// The most of an answer kept with a call's record.
pub const MAX_KEPT_ANSWER: usize = 64 * 1024;

/// What one call did.
#[derive(Debug, Clone)]
pub struct CallReport {
    pub millis: u64,
    pub http_status: Option<u16>,
    /// One outcome per item sent, in order; or why the call failed whole.
    pub result: Result<Vec<ItemOutcome>, CallError>,
    /// The answer's text when it was not a clean success (cut, for the record).
    pub answer: Option<String>,
}

/// Sends one batch of a route.
pub trait Deliver: Sync {
    /// Whether the route has an endpoint configured.
    fn has(&self, route: Route) -> bool;
    /// The route's URL, for the record.
    fn url(&self, route: Route) -> String;
    /// Posts `items` (their frozen payloads, in order) as one call.
    fn deliver(&self, route: Route, items: &[DueItem], message_id: uuid::Uuid) -> CallReport;
}

/// One route's endpoint: URL and header (credentials of settings 12/13,
/// 15/16 or 18/19).
#[derive(Debug, Clone)]
struct RouteEndpoint {
    url: String,
    header: MsgHeader,
}

/// The real endpoints of a biller, over HTTP.
#[derive(Debug, Clone)]
pub struct Endpoints {
    http: HttpClient,
    routes: Vec<(Route, RouteEndpoint)>,
}

impl Endpoints {
    /// Every configured pump endpoint (settings 11, 14, 17 and their user
    /// and password). A route without its URL setting is left out; a
    /// password whose environment variable is unset is a configuration error.
    pub fn from_config(config: &Config) -> Result<Endpoints, ConfigError> {
        let mut routes = Vec::new();
        for route in Route::ALL {
            let Some(ep) = super::config::endpoint(config, route) else {
                continue;
            };
            let c = Credentials::of(ep)?;
            routes.push((
                route,
                RouteEndpoint {
                    url: ep.url.clone(),
                    header: MsgHeader {
                        user_id: c.user_id,
                        pwd: c.password,
                        app_name: config.pump.app_name.clone(),
                        app_version: config.pump.app_version.clone(),
                        company: config.pump.company.clone(),
                    },
                },
            ));
        }
        Ok(Endpoints {
            http: HttpClient::new(&HttpOptions::daffron(config)?),
            routes,
        })
    }

    fn get(&self, route: Route) -> Option<&RouteEndpoint> {
        self.routes
            .iter()
            .find(|(r, _)| *r == route)
            .map(|(_, e)| e)
    }
}

/// The envelope of one call: the items' payloads in the route's operation.
pub fn envelope(
    header: &MsgHeader,
    route: Route,
    items: &[DueItem],
    message_id: uuid::Uuid,
) -> String {
    let parts: Vec<&str> = items.iter().map(|i| i.wire.as_str()).collect();
    let body = request::pump_body(route.operation(), &parts).unwrap_or_default();
    request::envelope_with(header, &body, message_id, Utc::now())
}

/// Maps a usable answer's body back to the items sent.
pub fn outcomes(
    route: Route,
    items: &[DueItem],
    status: u16,
    body: &[u8],
) -> Result<Vec<ItemOutcome>, CallError> {
    let op = route.operation();
    match route {
        Route::Payments => {
            let answers = settle(status, response::parse_payment_answers(body))?;
            let keys: Vec<PaymentKey<'_>> = items
                .iter()
                .map(|i| PaymentKey {
                    transaction_id: &i.match_key,
                    account_number: &i.ms_id,
                    tender: i
                        .tender
                        .as_deref()
                        .and_then(|t| TenderKind::ALL.into_iter().find(|k| k.code() == t))
                        .unwrap_or(TenderKind::CreditCard),
                })
                .collect();
            Ok(match_payment_keys(&keys, &answers))
        }
        Route::Paperless | Route::Comments => {
            let errors = settle(status, response::parse_error_objects(body, op))?;
            let ids: Vec<&str> = items.iter().map(|i| i.ms_id.as_str()).collect();
            Ok(match_error_objects(&ids, &errors))
        }
    }
}

fn keep(body: &[u8]) -> String {
    let end = body.len().min(MAX_KEPT_ANSWER);
    String::from_utf8_lossy(&body[..end]).into_owned()
}

impl Deliver for Endpoints {
    fn has(&self, route: Route) -> bool {
        self.get(route).is_some()
    }

    fn url(&self, route: Route) -> String {
        self.get(route).map(|e| e.url.clone()).unwrap_or_default()
    }

    fn deliver(&self, route: Route, items: &[DueItem], message_id: uuid::Uuid) -> CallReport {
        let start = Instant::now();
        let Some(ep) = self.get(route) else {
            return CallReport {
                millis: 0,
                http_status: None,
                result: Err(CallError::Rejected(0)),
                answer: None,
            };
        };
        let env = envelope(&ep.header, route, items, message_id);
        tracing::debug!(route = route.as_str(), items = items.len(), url = %ep.url, "pump call");
        let sent = self
            .http
            .post_soap(&ep.url, &route.operation().soap_action(), &env);
        let millis = start.elapsed().as_millis() as u64;
        match sent {
            Err(e) => CallReport {
                millis,
                http_status: None,
                result: Err(http_error(e)),
                answer: None,
            },
            Ok(reply) => {
                let result = outcomes(route, items, reply.status, &reply.body);
                let clean =
                    matches!(&result, Ok(o) if o.iter().all(|x| *x == ItemOutcome::Accepted));
                CallReport {
                    millis,
                    http_status: Some(reply.status),
                    answer: (!clean).then(|| keep(&reply.body)),
                    result,
                }
            }
        }
    }
}

/// Prints each call's envelope (the header's Pwd as `***`) instead of
/// sending it, and answers "accepted" for every item, so that a dry run
/// shows what a real sweep would send in what order.
pub struct DryRun {
    header: MsgHeader,
    urls: Vec<(Route, String)>,
    out: Mutex<Box<dyn Write + Send>>,
    calls: Mutex<u64>,
}

impl DryRun {
    pub fn new(config: &Config, out: Box<dyn Write + Send>) -> DryRun {
        let urls = Route::ALL
            .into_iter()
            .filter_map(|r| super::config::endpoint(config, r).map(|e| (r, e.url.clone())))
            .collect();
        DryRun {
            header: MsgHeader {
                user_id: String::new(),
                pwd: "***".into(),
                app_name: config.pump.app_name.clone(),
                app_version: config.pump.app_version.clone(),
                company: config.pump.company.clone(),
            },
            urls,
            out: Mutex::new(out),
            calls: Mutex::new(0),
        }
    }

    /// Calls printed so far.
    pub fn calls(&self) -> u64 {
        *self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Deliver for DryRun {
    fn has(&self, route: Route) -> bool {
        self.urls.iter().any(|(r, _)| *r == route)
    }

    fn url(&self, route: Route) -> String {
        self.urls
            .iter()
            .find(|(r, _)| *r == route)
            .map(|(_, u)| u.clone())
            .unwrap_or_default()
    }

    fn deliver(&self, route: Route, items: &[DueItem], message_id: uuid::Uuid) -> CallReport {
        let n = {
            let mut c = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            *c += 1;
            *c
        };
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        let env = request::redact(&envelope(&self.header, route, items, message_id));
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "<!-- call {n}: {} to {} ({} item(s): {}) -->\n{env}",
            route.operation().name(),
            self.url(route),
            items.len(),
            keys.join(", ")
        );
        CallReport {
            millis: 0,
            http_status: None,
            result: Ok(vec![ItemOutcome::Accepted; items.len()]),
            answer: None,
        }
    }
}

/// The words for an item outcome in the attempt record.
pub fn outcome_word(o: &ItemOutcome) -> (&'static str, String) {
    match o {
        ItemOutcome::Accepted => ("accepted", String::new()),
        ItemOutcome::Duplicate(r) => ("duplicate", r.clone()),
        ItemOutcome::Rejected(r) => ("rejected", r.clone()),
        ItemOutcome::Unknown(r) => ("unknown", r.clone()),
    }
}

/// Re-exported so the sweep names one module for call classes.
pub use outcome::Transient;

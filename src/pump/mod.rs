//! The data pump: what InvoiceCloud collected (payments, paperless and
//! autopay enrollments, scheduled payments) posted back to Daffron through
//! MultiSpeak 3.0, each item once in effect, none lost.
//!
//! | module | what it owns |
//! |---|---|
//! | [`config`] | the settings the rules and the sweep read (11-19, 35, 64/65, 131, `[pump]`), typed |
//! | [`exports`] | reading `payments.csv` / `events.csv` into typed rows, or row issues |
//! | [`rules`] | the seed's mapping rules, one file per family (payment, paperless, autopay, scheduled) |
//! | [`ingest`] | export rows → outbox items (one transaction per file), idempotent by key |
//! | [`payload`] | an item's XML, built by the rules at its first lease, then frozen |
//! | [`service`] | one batch call to one endpoint → one outcome per item |
//! | [`sweep`] | lease due items, send, record: the crash-safety order lives there |
//! | [`crate::store::outbox`] | the outbox tables and their state transitions |
//!
//! An item's life: `pending` (or `held` until a BIF brings its service
//! location, or `skipped` with why) → `in_flight` while a call carries it →
//! `posted` / `duplicate` (Daffron already had it: posted in effect) /
//! `rejected` (Daffron refused it) / `retrying` (no final answer; due again
//! at its next-attempt time) → `dead` after `[pump] max_attempts`. A person
//! can `replay` a dead or rejected item, or `cancel` one for good.

pub mod config;
pub mod exports;
pub mod ingest;
pub mod payload;
pub mod rules;
pub mod service;
pub mod sweep;

use serde::Serialize;

use crate::multispeak::Operation;

/// What an outbox item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A payment: CommitPaymentTransaction (settings 11-13).
    Payment,
    /// EBILL Y/N: ModifyCBDataForCustomer (settings 14-16).
    Paperless,
    /// AUTOPAY ON/OFF: WriteAccountHistoryComments (settings 17-19).
    Autopay,
    /// SCHED_PAY...: WriteAccountHistoryComments (settings 17-19).
    Scheduled,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Payment,
        Kind::Paperless,
        Kind::Autopay,
        Kind::Scheduled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Payment => "payment",
            Kind::Paperless => "paperless",
            Kind::Autopay => "autopay",
            Kind::Scheduled => "scheduled",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The endpoint that carries it.
    pub fn route(self) -> Route {
        match self {
            Kind::Payment => Route::Payments,
            Kind::Paperless => Route::Paperless,
            Kind::Autopay | Kind::Scheduled => Route::Comments,
        }
    }
}

/// An endpoint group of the pump: one URL setting, one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Payments,
    Paperless,
    Comments,
}

impl Route {
    pub const ALL: [Route; 3] = [Route::Payments, Route::Paperless, Route::Comments];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Payments => "payments",
            Route::Paperless => "paperless",
            Route::Comments => "comments",
        }
    }

    pub fn parse(s: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The IC advanced setting holding the endpoint's URL (the user and
    /// password are the next two ids).
    pub fn url_setting(self) -> u32 {
        match self {
            Route::Payments => 11,
            Route::Paperless => 14,
            Route::Comments => 17,
        }
    }

    pub fn operation(self) -> Operation {
        match self {
            Route::Payments => Operation::CommitPaymentTransaction,
            Route::Paperless => Operation::ModifyCBDataForCustomer,
            Route::Comments => Operation::WriteAccountHistoryComments,
        }
    }

    /// Whether items of one account must reach Daffron in the order they
    /// happened. Paperless flags and history comments set state that a later
    /// event overrides (Daffron parses AUTOPAY/SCHED_PAY comments), so an
    /// earlier item still unsettled holds the later ones back. Payments are
    /// independent of each other.
    pub fn ordered(self) -> bool {
        !matches!(self, Route::Payments)
    }
}

/// An outbox item's state, as people read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// Waiting for the next sweep.
    Pending,
    /// A call carried it and its answer is not recorded yet (a sweep is
    /// running, or was killed: the next sweep sends it again, same payload).
    InFlight,
    /// Daffron took it.
    Posted,
    /// Daffron already held it (D15): posted in effect.
    Duplicate,
    /// Daffron refused it, or a rule did (D8): a person decides.
    Rejected,
    /// No final answer yet; due again at its next-attempt time.
    Retrying,
    /// No final answer after `max_attempts`: a person decides.
    Dead,
    /// Never to be sent, with why (D9, D11, a feature not enabled).
    Skipped,
    /// Waiting for something (D10: a service location).
    Held,
    /// Retired by a person (`outbox cancel`).
    Cancelled,
}

impl ItemState {
    pub const ALL: [ItemState; 10] = [
        ItemState::Pending,
        ItemState::InFlight,
        ItemState::Posted,
        ItemState::Duplicate,
        ItemState::Rejected,
        ItemState::Retrying,
        ItemState::Dead,
        ItemState::Skipped,
        ItemState::Held,
        ItemState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::InFlight => "in_flight",
            ItemState::Posted => "posted",
            ItemState::Duplicate => "duplicate",
            ItemState::Rejected => "rejected",
            ItemState::Retrying => "retrying",
            ItemState::Dead => "dead",
            ItemState::Skipped => "skipped",
            ItemState::Held => "held",
            ItemState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ItemState> {
        ItemState::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Daffron holds it.
    pub fn is_posted(self) -> bool {
        matches!(self, ItemState::Posted | ItemState::Duplicate)
    }

    /// A sweep may still send it (now or later).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ItemState::Pending | ItemState::InFlight | ItemState::Retrying | ItemState::Held
        )
    }

    /// Waiting for a person.
    pub fn needs_person(self) -> bool {
        matches!(self, ItemState::Rejected | ItemState::Dead)
    }
}

//! Reconciliation reports for analysts.

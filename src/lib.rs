//! `daffron-bridge`: the nightly bridge between a utility's Daffron / Milsoft
//! CIS and InvoiceCloud.
//!
//! The crate is a library with a thin command-line front end (`src/main.rs`).
//! Modules follow the domain, so that each rule of the integration's technical
//! design lives in one place named after it:
//!
//! | module | what it owns |
//! |---|---|
//! | [`config`] | the per-biller TOML file and IC advanced settings, typed |
//! | [`bif`] | the pipe-delimited BIF invoice format: layout, parsing, validation, transform |
//! | [`pdf_link`] | remote-PDF bill links, service versions 1–4 (setting 119) |
//! | [`multispeak`] | the MultiSpeak 3.0 SOAP wire protocol (envelopes, requests, answers) |
//! | [`pump`] | the data pump: exports in, the seed's rules, the outbox swept to Daffron |
//! | [`rtdr`] | real-time balance look-ups (GetPayableItemsList → BalanceDue, blocked tenders) |
//! | [`intake`] | taking BIF files from SFTP or the drop box into the inbox, once each |
//! | [`store`] | the SQLite state: files taken, uploads, account directory, outbox |
//! | [`transport`] | SFTP, local drop box and HTTP |
//! | [`invoicecloud`] | InvoiceCloud's UploadInvoiceFile call (wire form) |
//! | [`pipeline`] | the nightly job's stages (`pull`, `upload`), each returning a summary that owns its JSON, text and exit code |
//! | [`retry`] | the one retry policy (tries, exponential backoff, full jitter, injectable clock) |
//! | [`sandbox`] | a local stand-in for Daffron's CB server and InvoiceCloud's upload (`embedded`: in-process, for the demo) |
//! | [`doctor`] | a biller's setup checked against its servers before the first night, changing nothing |
//! | [`atomic_file`] | a file written whole or not at all (reports, metrics, quarantine reports, the sandbox's state) |
//! | [`terminal`] | text from outside escaped for people; colour only on a terminal |
//! | [`commands`] | one module per CLI command: load the configuration, call a stage or a module, print |
//! | [`error`] | the crate-level error and the documented exit codes |

pub mod atomic_file;
pub mod bif;
pub mod commands;
pub mod config;
pub mod doctor;
pub mod error;
pub mod intake;
pub mod invoicecloud;
pub mod multispeak;
pub mod pdf_link;
pub mod pipeline;
pub mod pump;
pub mod report;
pub mod retry;
pub mod rtdr;
pub mod sandbox;
pub mod store;
pub mod terminal;
pub mod transport;

pub use error::{Error, ExitCode, Result};

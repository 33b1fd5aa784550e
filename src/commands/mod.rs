//! One module per command of the interface contract (`interface.md` §3).
//!
//! A command module holds its `clap` arguments and a `run` function that
//! wires the domain modules together and prints the result. Data goes to
//! stdout, logs and messages to stderr. The commands of the nightly job
//! (`pull`, `upload`, `run`) are thin: they load the configuration, take
//! their locks, call a stage of [`crate::pipeline`] and
//! [`emit`](crate::pipeline::emit) its summary.

use std::path::{Path, PathBuf};

use crate::config::{Config, DEFAULT_CONFIG_FILE};
use crate::{Error, ExitCode, Result};

pub mod balance;
pub mod doctor;
pub mod ingest;
pub mod outbox;
pub mod pdf_link;
pub mod pull;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod sweep;
pub mod transform;
pub mod upload;
pub mod validate;

/// Options every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Globals {
    /// The biller's configuration file. Default: ./daffron-bridge.toml, or
    /// the embedded demo configuration when that file does not exist.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The SQLite state file. Default: `[paths] state`, else
    /// daffron-bridge.sqlite beside the configuration file. For `sandbox`:
    /// the sandbox's own JSON state snapshot (its log is FILE.log).
    #[arg(long, global = true, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// How logs on stderr are written: `text` for people, `json` (one
    /// object a line) for log shippers. Data on stdout is not affected.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The form of the log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Makes every file and folder this process creates private: 0600 files
/// and 0700 folders (the state file, inbox, quarantine, reports, lock files,
/// the sandbox's state, SQLite's journals), whatever umask the scheduler
/// gave. Bills and payments name people and their accounts.
///
/// Called first thing in `main`, before any thread or file exists; the mask
/// is the process's and is inherited by nothing else.
pub fn private_files() {
    // SAFETY: umask(2) only sets the process's file creation mask and
    // cannot fail; no other thread is running yet to create files meanwhile.
    unsafe {
        libc::umask(0o077);
    }
}

impl Globals {
    /// Sends `tracing` output to stderr; data stays alone on stdout.
    pub fn init_logging(&self) {
        let default = match self.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        let fmt = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(crate::terminal::stderr_colour())
            .with_target(false);
        let _ = match self.log_format {
            LogFormat::Text => fmt.try_init(),
            LogFormat::Json => {
                JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
                fmt.json().flatten_event(true).try_init()
            }
        };
    }

    /// Loads the configuration: `--config`, else `./daffron-bridge.toml`,
    /// else the embedded demo default. Warnings are logged.
    pub fn load_config(&self) -> Result<Config> {
        let config = match &self.config {
            Some(path) => Config::load(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                Config::load(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => Config::embedded_default()?,
        };
        for w in &config.warnings {
            tracing::warn!("{w}");
        }
        Ok(config)
    }

    /// The state file: `--state`, else `[paths] state` (whose default is
    /// `daffron-bridge.sqlite` beside the configuration).
    pub fn state_path(&self, config: &Config) -> PathBuf {
        self.state
            .clone()
            .unwrap_or_else(|| config.paths.state.clone())
    }
}

/// Output format of a command that reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Prints a command's result on stdout: its text, or its JSON on one line.
/// A closed pipe (`| head`) is not an error of the command.
pub fn print(format: Format, text: &str, json: &serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = match format {
        Format::Text => out.write_all(crate::terminal::escape(text).as_bytes()),
        Format::Json => writeln!(out, "{json}"),
    };
}

/// Set by `--log-format json`: error lines go out as JSON log events too.
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Says an error line (`daffron-bridge: error: ...`, as [`error_line`]
/// writes it) on stderr: as it is for people, or as one JSON log event
/// (level ERROR) under `--log-format json`, so a log shipper reads every
/// line of stderr as JSON.
///
/// The line may quote a server or a file: it is escaped for the terminal
/// ([`crate::terminal::escape`], whose output holds no control, so a line
/// escaped before comes out the same).
pub fn say_error(line: &str) {
    let line = crate::terminal::escape(line);
    if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
        let message = line.trim_start_matches("daffron-bridge: error: ");
        tracing::error!("{message}");
    } else {
        eprintln!("{line}");
    }
}

/// Turns a command's result into the exit code, printing an error for people
/// on stderr.
pub fn finish(result: Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            say_error(&error_line(&e));
            e.exit_code()
        }
    }
}

/// An error as people read it on stderr: `daffron-bridge: error: ...`, with
/// its sources, escaped (it may quote a server). Commands and stages print
/// errors through this one form.
pub fn error_line(e: &Error) -> String {
    format!(
        "daffron-bridge: error: {}",
        crate::terminal::escape(&chain(e))
    )
}

/// An error with its sources, "outer: inner: innermost".
fn chain(e: &Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

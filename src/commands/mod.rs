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
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
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
        Format::Text => out.write_all(text.as_bytes()),
        Format::Json => writeln!(out, "{json}"),
    };
}

/// Turns a command's result into the exit code, printing an error for people
/// on stderr.
pub fn finish(result: Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", error_line(&e));
            e.exit_code()
        }
    }
}

/// An error as people read it on stderr: `daffron-bridge: error: ...`, with
/// its sources. Commands and stages print errors through this one form.
pub fn error_line(e: &Error) -> String {
    format!("daffron-bridge: error: {}", chain(e))
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

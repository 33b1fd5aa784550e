//! The crate-level error type and the exit codes of the interface contract
//! (`interface.md` §3): 0 success; 1 the input had errors; 2 usage or
//! configuration error; 3 a transient failure left work pending.

use std::path::PathBuf;

/// The process exit codes of the interface contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done.
    Success = 0,
    /// The input had errors: validation failures, items rejected or dead-lettered.
    InputErrors = 1,
    /// The command line or the configuration is wrong; nothing was done.
    Usage = 2,
    /// A transient failure (endpoint or SFTP unreachable) left work pending
    /// for the next run.
    Transient = 3,
}

impl ExitCode {
    /// What the code means, in words (the summary line of `run`).
    pub fn words(self) -> &'static str {
        match self {
            ExitCode::Success => "all done",
            ExitCode::InputErrors => "some input was refused or needs a person",
            ExitCode::Usage => "usage or configuration error",
            ExitCode::Transient => "something was unreachable; work is pending for the next run",
        }
    }

    /// The worse of two outcomes, so that a command made of several steps
    /// reports the most serious one. Transient outranks input errors: work is
    /// pending and the scheduler should know.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        fn rank(c: ExitCode) -> u8 {
            match c {
                ExitCode::Success => 0,
                ExitCode::InputErrors => 1,
                ExitCode::Transient => 2,
                ExitCode::Usage => 3,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}

/// Everything that can stop a command.
///
/// Each module has its own error enum; this one wraps them so the CLI can
/// print one message and choose the exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),

    #[error("{0}")]
    Usage(String),

    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Layout(#[from] crate::bif::layout::LayoutError),

    #[error(transparent)]
    Store(#[from] crate::store::StoreError),

    #[error(transparent)]
    Intake(#[from] crate::intake::IntakeError),

    #[error(transparent)]
    Lock(#[from] crate::store::LockError),

    /// A MultiSpeak (or other SOAP) call failed as a whole.
    #[error("{what} ({url}): {source}")]
    Remote {
        what: String,
        url: String,
        #[source]
        source: crate::multispeak::CallError,
    },

    #[error(transparent)]
    Rtdr(#[from] crate::rtdr::RtdrError),

    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),

    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Config(_) | Error::Usage(_) | Error::Layout(_) => ExitCode::Usage,
            Error::Read { .. } => ExitCode::Usage,
            Error::Write { .. } | Error::Store(_) => ExitCode::Usage,
            Error::Intake(e) if e.is_transient() => ExitCode::Transient,
            Error::Intake(_) => ExitCode::Usage,
            Error::Lock(e) if e.is_transient() => ExitCode::Transient,
            Error::Lock(_) => ExitCode::Usage,
            Error::Remote { source, .. } => match source {
                crate::multispeak::CallError::Transient(_) => ExitCode::Transient,
                crate::multispeak::CallError::Fault(_) => ExitCode::InputErrors,
                crate::multispeak::CallError::Rejected(_) => ExitCode::Usage,
            },
            Error::Rtdr(crate::rtdr::RtdrError::BadAccount(_)) => ExitCode::Usage,
            Error::Rtdr(
                crate::rtdr::RtdrError::BadExtension { .. }
                | crate::rtdr::RtdrError::Overflow { .. },
            ) => ExitCode::Transient,
            Error::Sandbox(_) => ExitCode::Usage,
            Error::Report(_) => ExitCode::Usage,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! Transports: SFTP and the local drop box (where BIF files come from) and
//! HTTP (MultiSpeak and InvoiceCloud calls).
//!
//! Both file sources implement one trait, [`Source`], so that intake
//! (`crate::intake`) implements the pick-up guarantees once: settling,
//! temporary names, checksums, never taking a file twice, archive and failed
//! folders (issue 4).

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

pub mod dropbox;
pub mod http;
pub mod sftp;

pub use dropbox::DropboxSource;
pub use sftp::SftpSource;

/// A file offered by a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteFile {
    /// The name as the source lists it (not a path). Names that are not
    /// UTF-8 are given lossily (with U+FFFD), and intake refuses them.
    pub name: String,
    /// Bytes, when the source gives them: an SFTP server may list a file
    /// without its size (the attribute is optional in the protocol).
    pub size: Option<u64>,
    /// Modification time, Unix seconds, when the source gives one.
    pub mtime: Option<i64>,
}

/// Where BIF files come from: an SFTP folder or a local drop box.
///
/// A source never decides anything: it lists, copies and moves. Intake
/// decides what to take and where it goes.
pub trait Source {
    /// Names this source in messages and in the state file, e.g.
    /// `sftp://daffron@127.0.0.1:22/outbound`.
    fn describe(&self) -> String;

    /// The regular files in the incoming folder (not directories, not links).
    fn list(&mut self) -> Result<Vec<RemoteFile>, TransportError>;

    /// Asks again for one listed file's size and modification time (a
    /// listing may leave the size out).
    fn stat(&mut self, f: &RemoteFile) -> Result<RemoteFile, TransportError>;

    /// Copies the file's bytes to `dest`; returns how many were copied. A
    /// write that `dest` refuses stops the copy there (intake's size limit):
    /// the rest of the file is not read.
    fn fetch(&mut self, f: &RemoteFile, dest: &mut dyn Write) -> Result<u64, TransportError>;

    /// Moves a judged file out of the incoming folder, to the archive folder
    /// or the failed folder. `sha256` (`None`: the bytes were never read)
    /// names it there when a file of the same name is already there (see
    /// [`disposal_name`]).
    fn dispose(
        &mut self,
        f: &RemoteFile,
        sha256: Option<&str>,
        to: Disposition,
    ) -> Result<(), TransportError>;
}

/// Where a judged file goes on its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Taken into the inbox: `archive_dir`.
    Archive,
    /// Failed validation: `failed_dir`, where a person will see it.
    Failed,
}

/// A transport problem. [`TransportError::is_transient`] tells a failure
/// that the next run may not meet (network, server gone) from one a person
/// must fix (host key, credentials, folders).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot reach {target}: {source}; the files stay on the server for the next run")]
    Unreachable {
        target: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "connection to {target} lost during {during}: {message}; nothing was taken from the interrupted step, the next run resumes"
    )]
    Lost {
        target: String,
        during: String,
        message: String,
    },

    #[error(
        "refusing {target}: its host key ({key_type} {fingerprint}) is not in known_hosts {}; check the fingerprint with the server's owner, then add the key (for example `ssh-keyscan -p {port} {host} >> {}`)",
        known_hosts.display(), known_hosts.display()
    )]
    HostKeyUnknown {
        target: String,
        host: String,
        port: u16,
        key_type: String,
        fingerprint: String,
        known_hosts: PathBuf,
    },

    #[error(
        "refusing {target}: its host key ({key_type} {fingerprint}) is NOT the one listed in known_hosts {}; the server was reinstalled or someone is in the middle. Ask the server's owner before replacing the line",
        known_hosts.display()
    )]
    HostKeyChanged {
        target: String,
        key_type: String,
        fingerprint: String,
        known_hosts: PathBuf,
    },

    #[error("known_hosts {}: {message}", path.display())]
    KnownHosts { path: PathBuf, message: String },

    #[error("{target}: the server refused user {user}: {message}")]
    Auth {
        target: String,
        user: String,
        message: String,
    },

    #[error("{target}: cannot {op} {path}: {message}")]
    Remote {
        target: String,
        op: &'static str,
        path: String,
        message: String,
    },

    #[error("cannot {op} {}: {source}", path.display())]
    Local {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl TransportError {
    /// Whether the failure is likely to pass by itself (exit code 3): the
    /// server unreachable or the connection lost.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TransportError::Unreachable { .. } | TransportError::Lost { .. }
        )
    }
}

/// The name a file gets in an archive or failed folder, and whether a file
/// under that name must be unlinked first; `None` when no free name was
/// found (a server that says every name exists).
///
/// Why: OpenSSH speaks SFTP v3, where a rename onto an existing file fails,
/// so the target must be free. A file of the same name already there is
/// another file (a corrected resend) or this same file (a move that broke
/// half-way, or a kept original): the name then carries the first 12 hex
/// digits of the sha256, and a file already under *that* name holds the same
/// bytes, so it may be unlinked first (`unlink_first`) without losing
/// anything. A file whose bytes were never read (`sha256` `None`: over
/// `max_file_bytes`) proves nothing about what is there, so nothing is
/// unlinked for it: it takes the first free `NAME.unread.N`.
pub fn disposal_name<E>(
    name: &str,
    sha256: Option<&str>,
    mut exists: impl FnMut(&str) -> Result<bool, E>,
) -> Result<Option<(String, bool)>, E> {
    if !exists(name)? {
        return Ok(Some((name.to_string(), false)));
    }
    match sha256 {
        Some(sha) => {
            let short: String = sha.chars().take(12).collect();
            let alt = format!("{name}.{short}");
            let taken = exists(&alt)?;
            Ok(Some((alt, taken)))
        }
        None => {
            for n in 1..=MAX_UNREAD_NAMES {
                let alt = format!("{name}.unread.{n}");
                if !exists(&alt)? {
                    return Ok(Some((alt, false)));
                }
            }
            Ok(None)
        }
    }
}

/// How many `NAME.unread.N` names are tried before a move gives up.
const MAX_UNREAD_NAMES: u32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposal_name_never_overwrites_other_bytes() {
        fn name(sha: Option<&str>, there: &[&str]) -> Option<(String, bool)> {
            disposal_name("A.BIF", sha, |n| Ok::<_, ()>(there.contains(&n))).unwrap()
        }
        let sha = Some("0123456789abcdef");
        assert_eq!(name(sha, &[]), Some(("A.BIF".into(), false)));
        assert_eq!(
            name(sha, &["A.BIF"]),
            Some(("A.BIF.0123456789ab".into(), false))
        );
        assert_eq!(
            name(sha, &["A.BIF", "A.BIF.0123456789ab"]),
            Some(("A.BIF.0123456789ab".into(), true))
        );
        // Bytes never read: never unlink, take a free name.
        assert_eq!(name(None, &[]), Some(("A.BIF".into(), false)));
        assert_eq!(
            name(None, &["A.BIF", "A.BIF.unread.1"]),
            Some(("A.BIF.unread.2".into(), false))
        );
        let all = disposal_name("A.BIF", None, |_| Ok::<_, ()>(true)).unwrap();
        assert_eq!(all, None);
        // A failed lookup is the caller's error.
        assert_eq!(disposal_name("A.BIF", None, |_| Err("down")), Err("down"));
    }

    #[test]
    fn only_network_failures_are_transient() {
        let lost = TransportError::Lost {
            target: "t".into(),
            during: "download".into(),
            message: "m".into(),
        };
        assert!(lost.is_transient());
        let auth = TransportError::Auth {
            target: "t".into(),
            user: "u".into(),
            message: "m".into(),
        };
        assert!(!auth.is_transient());
    }
}

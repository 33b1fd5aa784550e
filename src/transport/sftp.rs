//! `[sftp]`: the SFTP folder Daffron drops BIF files into (ssh2 / libssh2).
//!
//! - No blind trust: the server's host key must be listed in the configured
//!   `known_hosts` file (OpenSSH format, `[host]:port` entries for a port
//!   other than 22); an unknown or changed key is refused with the key's
//!   SHA256 fingerprint and what to do.
//! - Key or password authentication, the key first when both are set.
//! - OpenSSH speaks SFTP v3: a rename onto an existing file fails, so moves
//!   go to a free name or unlink a same-bytes copy first
//!   ([`super::disposal_name`]).
//! - Network failures (connect refused, connection lost mid-transfer) are
//!   [`TransportError::Unreachable`] / [`TransportError::Lost`], exit code 3:
//!   the files stay on the server for the next run.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use ssh2::{CheckResult, ErrorCode, HashType, KnownHostFileKind, Session, Sftp};

use super::{Disposition, RemoteFile, Source, TransportError, disposal_name};
use crate::config::SftpConfig;

/// libssh2's "no such file" SFTP status.
const FX_NO_SUCH_FILE: i32 = 2;

/// A connected, authenticated SFTP session on the configured folders.
pub struct SftpSource {
    cfg: SftpConfig,
    target: String,
    // Kept alive for the Sftp channel.
    _session: Session,
    sftp: Sftp,
}

impl SftpSource {
    /// Connects, checks the host key against `known_hosts`, authenticates.
    /// `password` is the exposed `[sftp] password`, when configured.
    pub fn connect(cfg: &SftpConfig, password: Option<&str>) -> Result<SftpSource, TransportError> {
        let target = format!(
            "sftp://{}@{}:{}{}",
            cfg.user, cfg.host, cfg.port, cfg.remote_dir
        );
        if cfg.host.contains('\0') || cfg.user.contains('\0') {
            return Err(TransportError::Remote {
                target,
                op: "use",
                path: "host or user".into(),
                message: "contains a NUL character".into(),
            });
        }
        let timeout = Duration::from_secs(cfg.timeout_seconds.max(1));
        let tcp = connect_tcp(&cfg.host, cfg.port, timeout).map_err(|source| {
            TransportError::Unreachable {
                target: target.clone(),
                source,
            }
        })?;
        let mut session = Session::new().map_err(|e| lost(&target, "session setup", &e))?;
        // Ask for a host key of a type known_hosts lists for this server, so
        // a server with several keys is checked against the one we know.
        if let Some(prefs) = std::fs::read_to_string(&cfg.known_hosts)
            .ok()
            .and_then(|text| host_key_prefs(&text, &cfg.host, cfg.port))
        {
            let _ = session.method_pref(ssh2::MethodType::HostKey, &prefs);
        }
        session.set_tcp_stream(tcp);
        session.set_timeout(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
        session
            .handshake()
            .map_err(|e| lost(&target, "handshake", &e))?;
        check_host_key(&session, cfg, &target)?;
        authenticate(&session, cfg, password, &target)?;
        let sftp = session
            .sftp()
            .map_err(|e| lost(&target, "sftp start", &e))?;
        Ok(SftpSource {
            cfg: cfg.clone(),
            target,
            _session: session,
            sftp,
        })
    }

    fn remote_path(dir: &str, name: &str) -> String {
        format!("{}/{}", dir.trim_end_matches('/'), name)
    }

    /// An ssh2 error as ours: SFTP status answers (no such file, permission
    /// denied) need a person; session errors mean the connection broke.
    fn op_err(&self, op: &'static str, path: &str, e: &ssh2::Error) -> TransportError {
        match e.code() {
            ErrorCode::SFTP(_) => TransportError::Remote {
                target: self.target.clone(),
                op,
                path: path.to_string(),
                message: e.message().to_string(),
            },
            ErrorCode::Session(_) => lost(&self.target, &format!("{op} {path}"), e),
        }
    }

    fn exists(&self, path: &str) -> Result<bool, TransportError> {
        match self.sftp.lstat(Path::new(path)) {
            Ok(_) => Ok(true),
            Err(e) if e.code() == ErrorCode::SFTP(FX_NO_SUCH_FILE) => Ok(false),
            Err(e) => Err(self.op_err("look up", path, &e)),
        }
    }

    fn ensure_dir(&self, dir: &str) -> Result<(), TransportError> {
        if self.exists(dir)? {
            return Ok(());
        }
        // Private like everything the bridge makes: bills name people.
        self.sftp
            .mkdir(Path::new(dir), 0o700)
            .map_err(|e| self.op_err("create folder", dir, &e))
    }

    /// Unlink-then-rename into `dir` (SFTP v3 cannot rename over a file).
    fn move_into(
        &mut self,
        f: &RemoteFile,
        sha256: Option<&str>,
        dir: &str,
    ) -> Result<(), TransportError> {
        self.ensure_dir(dir)?;
        let free = disposal_name(&f.name, sha256, |n| self.exists(&Self::remote_path(dir, n)))?;
        let Some((name, unlink_first)) = free else {
            return Err(TransportError::Remote {
                target: self.target.clone(),
                op: "find a free name in",
                path: dir.to_string(),
                message: format!("{}.unread.1 to .1000 are all taken", f.name),
            });
        };
        let from = Self::remote_path(&self.cfg.remote_dir, &f.name);
        let to = Self::remote_path(dir, &name);
        if unlink_first {
            self.sftp
                .unlink(Path::new(&to))
                .map_err(|e| self.op_err("remove", &to, &e))?;
        }
        self.sftp
            .rename(Path::new(&from), Path::new(&to), None)
            .map_err(|e| self.op_err("move", &format!("{from} to {to}"), &e))
    }
}

/// What [`SftpSource::probe_writable`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writable {
    /// The folder exists and a file could be made in it (and was removed).
    Yes,
    /// The folder does not exist; its parent takes new entries, so `pull`
    /// can make it.
    WillBeCreated,
}

impl SftpSource {
    /// Whether files can be put into `dir` on the server, as `pull` puts
    /// taken files into the archive: a file with a name of its own is made
    /// there and removed at once. Where `dir` does not exist yet its parent
    /// is tried the same way. Leaves nothing behind unless the server lets
    /// a file be made but not removed, which the error then names.
    pub fn probe_writable(&self, dir: &str) -> Result<Writable, TransportError> {
        let (target_dir, outcome) = if self.exists(dir)? {
            (dir.to_string(), Writable::Yes)
        } else {
            let parent = match dir.trim_end_matches('/').rsplit_once('/') {
                Some(("", _)) => "/".to_string(),
                Some((p, _)) => p.to_string(),
                None => ".".to_string(),
            };
            (parent, Writable::WillBeCreated)
        };
        let probe = Self::remote_path(
            &target_dir,
            &format!(".daffron-bridge-doctor-{}", uuid::Uuid::new_v4().simple()),
        );
        let flags = ssh2::OpenFlags::WRITE | ssh2::OpenFlags::CREATE | ssh2::OpenFlags::EXCLUSIVE;
        let file = self
            .sftp
            .open_mode(Path::new(&probe), flags, 0o600, ssh2::OpenType::File)
            .map_err(|e| self.op_err("create a file in", &target_dir, &e))?;
        drop(file);
        self.sftp
            .unlink(Path::new(&probe))
            .map_err(|e| self.op_err("remove the test file", &probe, &e))?;
        Ok(outcome)
    }
}

fn lost(target: &str, during: &str, e: &ssh2::Error) -> TransportError {
    TransportError::Lost {
        target: target.to_string(),
        during: during.to_string(),
        message: e.message().to_string(),
    }
}

fn connect_tcp(host: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{host} has no address"),
    );
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The host-key algorithms for the key types `known_hosts` lists for
/// `host`:`port` (plain entries; hashed `|1|` entries cannot be matched
/// without trying, so they give no preference), in the file's order.
fn host_key_prefs(known_hosts: &str, host: &str, port: u16) -> Option<String> {
    let want = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    let mut algs: Vec<&str> = Vec::new();
    for line in known_hosts.lines() {
        let mut parts = line.split_whitespace();
        let Some(hosts) = parts.next() else {
            continue;
        };
        // Comments, and @cert-authority / @revoked lines (not plain keys).
        if hosts.starts_with('#') || hosts.starts_with('@') {
            continue;
        }
        let Some(key_type) = parts.next() else {
            continue;
        };
        if !hosts.split(',').any(|h| h == want) {
            continue;
        }
        let for_type: &[&str] = match key_type {
            "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            "ssh-ed25519"
            | "ecdsa-sha2-nistp256"
            | "ecdsa-sha2-nistp384"
            | "ecdsa-sha2-nistp521"
            | "ssh-dss" => std::slice::from_ref(&key_type),
            _ => &[],
        };
        for a in for_type {
            if !algs.contains(a) {
                algs.push(a);
            }
        }
    }
    (!algs.is_empty()).then(|| algs.join(","))
}

/// The host key must be listed: no trust on first use.
fn check_host_key(session: &Session, cfg: &SftpConfig, target: &str) -> Result<(), TransportError> {
    let kh_err = |message: String| TransportError::KnownHosts {
        path: cfg.known_hosts.clone(),
        message,
    };
    let (key, key_type) = session
        .host_key()
        .ok_or_else(|| kh_err("the server sent no host key".into()))?;
    let fingerprint = session
        .host_key_hash(HashType::Sha256)
        .map(|h| {
            format!(
                "SHA256:{}",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(h)
            )
        })
        .unwrap_or_else(|| "(no fingerprint)".into());
    let key_type = format!("{key_type:?}");
    if !cfg.known_hosts.is_file() {
        return Err(kh_err(format!(
            "does not exist; the server's key is {key_type} {fingerprint}: check it with the server's owner, then create the file (for example `ssh-keyscan -p {} {} > {}`)",
            cfg.port,
            cfg.host,
            cfg.known_hosts.display()
        )));
    }
    let mut kh = session
        .known_hosts()
        .map_err(|e| kh_err(e.message().to_string()))?;
    kh.read_file(&cfg.known_hosts, KnownHostFileKind::OpenSSH)
        .map_err(|e| {
            kh_err(format!(
                "cannot be read as an OpenSSH known_hosts file: {}",
                e.message()
            ))
        })?;
    match kh.check_port(&cfg.host, cfg.port, key) {
        CheckResult::Match => Ok(()),
        CheckResult::NotFound => Err(TransportError::HostKeyUnknown {
            target: target.to_string(),
            host: cfg.host.clone(),
            port: cfg.port,
            key_type,
            fingerprint,
            known_hosts: cfg.known_hosts.clone(),
        }),
        CheckResult::Mismatch => Err(TransportError::HostKeyChanged {
            target: target.to_string(),
            key_type,
            fingerprint,
            known_hosts: cfg.known_hosts.clone(),
        }),
        CheckResult::Failure => Err(kh_err("libssh2 could not check the host key".into())),
    }
}

fn authenticate(
    session: &Session,
    cfg: &SftpConfig,
    password: Option<&str>,
    target: &str,
) -> Result<(), TransportError> {
    let mut why: Vec<String> = Vec::new();
    if let Some(key) = &cfg.key_file {
        if !key.is_file() {
            why.push(format!("key_file {} does not exist", key.display()));
        } else if let Err(e) = session.userauth_pubkey_file(&cfg.user, None, key, None) {
            why.push(format!("key {} refused ({})", key.display(), e.message()));
        }
    }
    if !session.authenticated()
        && let Some(pw) = password
        && let Err(e) = session.userauth_password(&cfg.user, pw)
    {
        why.push(format!("password refused ({})", e.message()));
    }
    if session.authenticated() {
        Ok(())
    } else {
        if why.is_empty() {
            why.push("no key_file or password configured".into());
        }
        Err(TransportError::Auth {
            target: target.to_string(),
            user: cfg.user.clone(),
            message: format!(
                "{}; check [sftp] user, key_file and password, and the server's authorized_keys",
                why.join("; ")
            ),
        })
    }
}

impl Source for SftpSource {
    fn describe(&self) -> String {
        self.target.clone()
    }

    fn list(&mut self) -> Result<Vec<RemoteFile>, TransportError> {
        let dir = self.cfg.remote_dir.clone();
        let mut handle = self
            .sftp
            .opendir(Path::new(&dir))
            .map_err(|e| self.op_err("list", &dir, &e))?;
        let mut out = Vec::new();
        loop {
            match handle.readdir() {
                Ok((name, stat)) => {
                    // Raw names: a `/` in a name stays visible to intake.
                    let name: PathBuf = name;
                    let name = name.to_string_lossy().into_owned();
                    if name == "." || name == ".." || !stat.is_file() {
                        continue;
                    }
                    out.push(RemoteFile {
                        name,
                        size: stat.size,
                        mtime: stat.mtime.and_then(|m| i64::try_from(m).ok()),
                    });
                }
                Err(e) if e.code() == ErrorCode::Session(ssh2_sys_error_file()) => break,
                Err(e) => return Err(self.op_err("list", &dir, &e)),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn stat(&mut self, f: &RemoteFile) -> Result<RemoteFile, TransportError> {
        let path = Self::remote_path(&self.cfg.remote_dir, &f.name);
        let stat = self
            .sftp
            .lstat(Path::new(&path))
            .map_err(|e| self.op_err("look up", &path, &e))?;
        Ok(RemoteFile {
            name: f.name.clone(),
            size: stat.size,
            mtime: stat.mtime.and_then(|m| i64::try_from(m).ok()),
        })
    }

    fn fetch(&mut self, f: &RemoteFile, dest: &mut dyn Write) -> Result<u64, TransportError> {
        let path = Self::remote_path(&self.cfg.remote_dir, &f.name);
        let mut file = self
            .sftp
            .open(Path::new(&path))
            .map_err(|e| self.op_err("open", &path, &e))?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(TransportError::Lost {
                        target: self.target.clone(),
                        during: format!("download of {path}"),
                        message: e.to_string(),
                    });
                }
            };
            dest.write_all(&buf[..n])
                .map_err(|source| TransportError::Local {
                    op: "write the download of",
                    path: PathBuf::from(&f.name),
                    source,
                })?;
            total += n as u64;
        }
        Ok(total)
    }

    fn dispose(
        &mut self,
        f: &RemoteFile,
        sha256: Option<&str>,
        to: Disposition,
    ) -> Result<(), TransportError> {
        let dir = match to {
            Disposition::Archive => self.cfg.archive_dir.clone(),
            Disposition::Failed => self.cfg.failed_dir.clone(),
        };
        self.move_into(f, sha256, &dir)
    }
}

/// libssh2's LIBSSH2_ERROR_FILE (-16): what readdir answers at the end of
/// the listing.
const fn ssh2_sys_error_file() -> i32 {
    -16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_key_preference_follows_known_hosts() {
        let kh = "\
# comment
[127.0.0.1]:2222 ssh-ed25519 AAAA
[127.0.0.1]:2222 ssh-rsa AAAA
127.0.0.1 ecdsa-sha2-nistp256 AAAA
other,127.0.0.1 ssh-ed25519 AAAA
|1|hashed= ssh-dss AAAA
@cert-authority * ssh-ed25519 AAAA
";
        assert_eq!(
            host_key_prefs(kh, "127.0.0.1", 2222).as_deref(),
            Some("ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ssh-rsa")
        );
        assert_eq!(
            host_key_prefs(kh, "127.0.0.1", 22).as_deref(),
            Some("ecdsa-sha2-nistp256,ssh-ed25519")
        );
        assert_eq!(host_key_prefs(kh, "10.0.0.1", 22), None);
        assert_eq!(host_key_prefs("", "h", 22), None);
    }
}

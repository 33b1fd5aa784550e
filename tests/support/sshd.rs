//! A private OpenSSH server on 127.0.0.1 for the SFTP tests, the same setup
//! as scripts/sshd.sh, done natively: host and client ed25519 keys, an
//! sshd_config for internal-sftp, `sshd -D -e` on a random high port (retried
//! on "Cannot bind any address"), a known_hosts for the client. Stopped on
//! drop: its per-connection children first (they call setsid() and outlive
//! the listener), then the listener, each by pid.
//!
//! A missing /usr/sbin/sshd FAILS the test with how to install it: no test
//! is skipped.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";
pub const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";
pub const INSTALL: &str =
    "install openssh-server (apt-get install -y openssh-server, or run scripts/install-deps.sh)";

pub struct Sshd {
    pub dir: PathBuf,
    pub port: u16,
    /// The SFTP user: the current user (root on CI).
    pub user: String,
    /// The authorized client key.
    pub client_key: PathBuf,
    /// `[127.0.0.1]:PORT` with the server's host key.
    pub known_hosts: PathBuf,
    /// The server's public host key line (`ssh-ed25519 AAAA...`).
    pub host_key: String,
    child: Child,
}

/// Generates an ed25519 key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path, comment: &str) {
    if path.exists() {
        return;
    }
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("ssh-keygen cannot run ({e}): {INSTALL}"));
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The public key line of a key pair, without its comment.
pub fn public_key(path: &Path) -> String {
    let mut p = path.as_os_str().to_owned();
    p.push(".pub");
    let text = fs::read_to_string(PathBuf::from(p)).expect("read .pub");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Sshd {
    /// Starts a server whose files live in `dir`, with OpenSSH's
    /// internal-sftp.
    pub fn start(dir: &Path) -> Sshd {
        Sshd::start_with(dir, "Subsystem sftp internal-sftp".to_string())
    }

    /// Starts a server whose SFTP subsystem is OpenSSH's `sftp-server`
    /// program logging at INFO to `dir/sftp.log` ([`Sshd::sftp_log`]): each
    /// file it opens and, on close, how many bytes it handed out. (sshd runs
    /// a subsystem command through the user's shell, so the redirect works;
    /// internal-sftp would log to syslog only.)
    pub fn start_logging_sftp(dir: &Path) -> Sshd {
        assert!(
            Path::new(SFTP_SERVER).is_file(),
            "{SFTP_SERVER} is missing: {INSTALL}"
        );
        fs::create_dir_all(dir).expect("create sshd dir");
        let log = dir.join("sftp.log");
        Sshd::start_with(
            dir,
            format!(
                "Subsystem sftp {SFTP_SERVER} -e -l INFO 2>>'{}'",
                log.display()
            ),
        )
    }

    fn start_with(dir: &Path, subsystem: String) -> Sshd {
        assert!(
            Path::new(SSHD).is_file(),
            "{SSHD} is missing: the SFTP tests need a real OpenSSH server; {INSTALL}"
        );
        fs::create_dir_all(dir).expect("create sshd dir");
        let run_sshd = Path::new("/run/sshd");
        if !run_sshd.is_dir() {
            // The privilege separation directory (root can create it).
            fs::create_dir_all(run_sshd).unwrap_or_else(|e| {
                panic!("/run/sshd is missing and cannot be created ({e}): run `sudo mkdir -p -m 0755 /run/sshd`")
            });
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(run_sshd, fs::Permissions::from_mode(0o755));
        }
        let host = dir.join("host_ed25519");
        let client = dir.join("id_ed25519");
        keygen(&host, "daffron-bridge test host");
        keygen(&client, "daffron-bridge test client");
        let mut pubkey = public_key(&client);
        pubkey.push('\n');
        fs::write(dir.join("authorized_keys"), pubkey).expect("authorized_keys");
        let config = dir.join("sshd_config");
        fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 HostKey {host}\n\
                 PidFile {pid}\n\
                 AuthorizedKeysFile {auth}\n\
                 StrictModes no\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\n\
                 UsePAM no\n\
                 {subsystem}\n\
                 LogLevel INFO\n",
                host = host.display(),
                pid = dir.join("sshd.pid").display(),
                auth = dir.join("authorized_keys").display(),
            ),
        )
        .expect("sshd_config");

        let host_key = public_key(&host);
        for attempt in 0..20 {
            let port: u16 = rand::random_range(20000..60000);
            let log = dir.join(format!("sshd.{attempt}.log"));
            let child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .arg("-o")
                .arg(format!("Port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).expect("sshd log"))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {SSHD} ({e}): {INSTALL}"));
            match wait_listening(child, port, &log) {
                Ok(child) => {
                    let known_hosts = dir.join("known_hosts");
                    fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_key}\n"))
                        .expect("known_hosts");
                    return Sshd {
                        dir: dir.to_path_buf(),
                        port,
                        user: current_user(),
                        client_key: client,
                        known_hosts,
                        host_key,
                        child,
                    };
                }
                Err(text) if text.contains("Cannot bind any address") => continue,
                Err(text) => panic!("sshd did not start:\n{text}"),
            }
        }
        panic!("sshd found no free port in 20 tries");
    }

    /// What the `sftp-server` of [`Sshd::start_logging_sftp`] logged so far:
    /// `open "PATH" flags READ mode 0666`, and on close `close "PATH" bytes
    /// read N written M`.
    pub fn sftp_log(&self) -> String {
        fs::read_to_string(self.dir.join("sftp.log")).unwrap_or_default()
    }

    /// Every process below the listener: the per-connection sessions.
    pub fn sessions(&self) -> Vec<u32> {
        descendants(self.child.id())
    }

    /// Kills the per-connection processes (drops every open connection),
    /// leaving the listener up for the next connection.
    pub fn kill_sessions(&self) {
        let pids = self.sessions();
        for pid in pids.iter().rev() {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_sessions();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the server accepts connections; on exit, its log.
fn wait_listening(mut child: Child, port: u16, log: &Path) -> Result<Child, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return Err(fs::read_to_string(log).unwrap_or_default());
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "not listening on port {port} after 10 s:\n{}",
        fs::read_to_string(log).unwrap_or_default()
    ))
}

/// The descendants of `root`, parents before children (from /proc, the same
/// as walking `pgrep -P`).
fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...; comm may hold spaces and parens.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = Vec::new();
    let mut queue: VecDeque<u32> = VecDeque::from([root]);
    while let Some(p) = queue.pop_front() {
        for c in children.get(&p).into_iter().flatten() {
            out.push(*c);
            queue.push_back(*c);
        }
    }
    out
}

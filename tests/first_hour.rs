//! What a newcomer meets first: every shell example of README.md runs as
//! written, in order, in a copy of the checkout; the demo configuration
//! from the checkout's root; the small things a user trips on.
//!
//! # README examples
//!
//! Every ```` ```sh ```` block of README.md is run, in the order of the
//! file, by bash, in one scratch copy of the checkout (`samples/`,
//! `specs/`, `scripts/`), so a later example sees what an earlier one did,
//! as for a reader who follows along. A new block is picked up without
//! touching this file. Each command line must exit 0, unless its comment
//! says otherwise with `(exit N)`:
//!
//! ```text
//! cargo run -- run   # (exit 1) on purpose: ...
//! ```
//!
//! `cargo run [--release] -- ARGS` runs the binary under test with ARGS and
//! `cargo build [--release]` finds it built; both `target/debug/` and
//! `target/release/` hold it, so `export PATH="$PWD/target/...:$PATH"`
//! works as written. Any other cargo command fails the test. The line
//! before a block may say how to run it:
//!
//! - `<!-- readme: not run: REASON -->`: not run; the reason must be given.
//! - `<!-- readme: serve -->`: the last command serves until stopped (the
//!   sandbox): it is started, its first stdout line must be `listening on
//!   http://...`, then it is stopped.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::json;

const README: &str = include_str!("../README.md");

/// A fenced `sh` block of README.md.
#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// `(line, command)`: each logical command line (continuations joined),
    /// with the line it starts on; comment-only and blank lines left out.
    commands: Vec<(usize, String)>,
    how: How,
}

#[derive(Debug, PartialEq, Eq)]
enum How {
    Run,
    Serve,
    NotRun(String),
}

/// The `sh` blocks of a Markdown text, with how each is to be run.
fn blocks(md: &str) -> Vec<Block> {
    let lines: Vec<&str> = md.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        if !(fence == "```sh" || fence == "```bash" || fence == "```shell") {
            i += 1;
            continue;
        }
        let start = i + 1;
        let marker = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim())
            .filter(|l| l.starts_with("<!-- readme:"));
        let how = match marker {
            None => How::Run,
            Some(m) => {
                let inner = m
                    .trim_start_matches("<!-- readme:")
                    .trim_end_matches("-->")
                    .trim();
                if inner == "serve" {
                    How::Serve
                } else if let Some(reason) = inner.strip_prefix("not run:") {
                    How::NotRun(reason.trim().to_string())
                } else {
                    panic!("README.md:{start}: unknown marker {m:?}");
                }
            }
        };
        let mut commands: Vec<(usize, String)> = Vec::new();
        let mut pending: Option<(usize, String)> = None;
        i += 1;
        while i < lines.len() && lines[i].trim_start() != "```" {
            let l = lines[i];
            let (first, mut text) = pending.take().unwrap_or((i + 1, String::new()));
            let t = l.trim_end();
            if let Some(head) = t.strip_suffix('\\') {
                text.push_str(head);
                text.push(' ');
                pending = Some((first, text));
            } else {
                text.push_str(t);
                let trimmed = text.trim();
                if !trimmed.is_empty() && !trimmed.starts_with('#') {
                    commands.push((first, trimmed.to_string()));
                }
            }
            i += 1;
        }
        assert!(
            i < lines.len(),
            "README.md:{start}: the block is not closed"
        );
        out.push(Block {
            line: start,
            commands,
            how,
        });
        i += 1;
    }
    out
}

/// The exit code a command line's comment asks for: `(exit N)`, else 0.
fn expected_exit(command: &str) -> i32 {
    let Some(comment) = command.find(" #").map(|i| &command[i..]) else {
        return 0;
    };
    comment
        .split("(exit ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// What every block starts with: the variables earlier blocks exported (a
/// reader's terminal keeps them), and `cargo` as the README means it.
const PRELUDE: &str = r#"
[ -f "$DB_ENV" ] && . "$DB_ENV"
cargo() {
  case "$1 $2 $3" in
    "run --release --") shift 3; "$DB_BIN" "$@" ;;
    "run -- "*) shift 2; "$DB_BIN" "$@" ;;
    "build --release "|"build  ") : ;;
    *) echo "README example: \`cargo $*\` is not run by the test; mark its block <!-- readme: not run: REASON -->" >&2; return 97 ;;
  esac
}
"#;

/// A bash script running `commands` in order, each checked against its
/// expected exit code; the first wrong one stops it, naming its line. What
/// it exports is kept for the next block.
fn script(commands: &[(usize, String)]) -> String {
    let mut s = String::from(PRELUDE);
    for (line, cmd) in commands {
        let want = expected_exit(cmd);
        s.push_str(&format!(
            "{cmd}\n__rc=$?\nif [ \"$__rc\" != {want} ]; then echo \"README.md:{line}: exit $__rc, expected {want}: {}\" >&2; exit 100; fi\n",
            cmd.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
                .replace('`', "\\`")
        ));
    }
    s.push_str("export -p > \"$DB_ENV\"\n");
    s
}

/// A scratch checkout: what the examples read, and the binary under test
/// where a build would have put it.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["samples", "specs", "scripts"] {
        copy_dir(&root.join(sub), &dir.path().join(sub));
    }
    for profile in ["debug", "release"] {
        let bin_dir = dir.path().join("target").join(profile);
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::os::unix::fs::symlink(bin(), bin_dir.join("daffron-bridge")).unwrap();
    }
    dir
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_daffron-bridge"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// bash in the scratch checkout, with no secret of the demo set and no
/// colour.
fn bash(dir: &Path, script: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("DB_BIN", bin())
        .env("DB_ENV", dir.join(".readme-env"))
        .env("NO_COLOR", "1")
        .env_remove("IC_WEB_SERVICE_KEY")
        .env_remove("DAFFRON_RTDR_PASSWORD")
        .env_remove("DAFFRON_PUMP_PASSWORD")
        .env_remove("RUST_LOG");
    c
}

/// Every files under `dir` (not recursing into `demo/`), relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if rel == "demo" || rel == "target" || rel == ".readme-env" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_readme_example_runs_as_written() {
    let all = blocks(README);
    assert!(all.len() >= 10, "found only {} sh blocks", all.len());
    let dir = checkout();
    let before = files(dir.path());
    let mut ran = 0;
    for b in &all {
        match &b.how {
            How::NotRun(reason) => {
                assert!(
                    reason.len() >= 10,
                    "README.md:{}: a block not run says why",
                    b.line
                );
            }
            How::Run => {
                let out = bash(dir.path(), &script(&b.commands)).output().unwrap();
                assert!(
                    out.status.success(),
                    "README.md:{} ran as:\n{}\nstdout:\n{}\nstderr:\n{}",
                    b.line,
                    b.commands
                        .iter()
                        .map(|c| c.1.as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                ran += b.commands.len();
            }
            How::Serve => {
                let (last, first) = b.commands.split_last().expect("a command to serve");
                let mut s = script(first);
                s.push_str("exec ");
                s.push_str(&last.1);
                s.push('\n');
                let mut child = bash(dir.path(), &s)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let mut line = String::new();
                BufReader::new(child.stdout.take().unwrap())
                    .read_line(&mut line)
                    .unwrap();
                let _ = child.kill();
                let _ = child.wait();
                assert!(
                    line.starts_with("listening on http://127.0.0.1:"),
                    "README.md:{}: {line:?}",
                    b.line
                );
                ran += b.commands.len();
            }
        }
    }
    assert!(ran >= 30, "only {ran} commands ran");
    // The examples write under demo/ (ignored by git), never beside the
    // checked-in files.
    assert_eq!(files(dir.path()), before, "the examples left files behind");
}

/// The parser itself: markers, continuations, comments, exit codes.
#[test]
fn the_readme_parser_reads_blocks_markers_and_exit_codes() {
    let md = "text\n\n```sh\n# a comment\ndaffron-bridge run   # (exit 1) on purpose\nexport A=1 \\\n  B=2\n```\n\n<!-- readme: not run: the test suite itself -->\n```sh\nbash scripts/test.sh\n```\n<!-- readme: serve -->\n```sh\ndaffron-bridge sandbox\n```\n```json\n{}\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 3);
    assert_eq!(b[0].line, 3);
    assert_eq!(
        b[0].commands,
        vec![
            (5, "daffron-bridge run   # (exit 1) on purpose".to_string()),
            (6, "export A=1    B=2".to_string())
        ]
    );
    assert_eq!(b[0].how, How::Run);
    assert_eq!(b[1].how, How::NotRun("the test suite itself".into()));
    assert_eq!(b[2].how, How::Serve);
    assert_eq!(expected_exit(&b[0].commands[0].1), 1);
    assert_eq!(expected_exit(&b[0].commands[1].1), 0);
    assert_eq!(expected_exit("echo '(exit 3)'"), 0);
    // A wrong exit code stops the script and names the line.
    let dir = tempfile::tempdir().unwrap();
    let out = bash(
        dir.path(),
        &script(&[(7, "false".into()), (8, "true".into())]),
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert!(String::from_utf8_lossy(&out.stderr).contains("README.md:7: exit 1, expected 0"));
    let out = bash(dir.path(), &script(&[(9, "cargo fmt".into())]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
}

/// `--config samples/daffron-bridge.toml` from the checkout's root is the
/// embedded default: the same files, and nothing written into samples/.
#[test]
fn the_sample_configuration_runs_from_the_root_and_writes_only_under_demo() {
    let dir = checkout();
    let before = files(dir.path());
    let run = |args: &[&str]| {
        let out = Command::new(bin())
            .args(args)
            .current_dir(dir.path())
            .env_remove("IC_WEB_SERVICE_KEY")
            .env_remove("DAFFRON_PUMP_PASSWORD")
            .output()
            .unwrap();
        (out.status.code(), json(&out.stdout))
    };
    let (code, first) = run(&[
        "--config",
        "samples/daffron-bridge.toml",
        "run",
        "--format",
        "json",
    ]);
    // 1: the sample scheduled payment over 70 characters (D8), on purpose.
    assert_eq!(code, Some(1), "{first}");
    assert_eq!(first["pull"]["counts"]["taken"], 1, "{first}");
    assert_eq!(first["upload"][0]["outcome"], "uploaded", "{first}");
    assert!(dir.path().join("demo/daffron-bridge.sqlite").is_file());
    assert!(dir.path().join("demo/inbox/2661_11262026.BIF").is_file());
    // The embedded default is the same configuration: nothing new.
    let (code, second) = run(&["run", "--format", "json"]);
    assert_eq!(code, Some(0), "{second}");
    assert_eq!(second["pull"]["counts"]["already_taken"], 1, "{second}");
    // The demo's uploads went to its local sandbox, and it says so.
    let out = Command::new(bin())
        .args(["upload", "--again", "demo/inbox/2661_11262026.BIF"])
        .current_dir(dir.path())
        .env_remove("IC_WEB_SERVICE_KEY")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("upload to the local sandbox, not InvoiceCloud"),
        "{text}"
    );
    assert_eq!(files(dir.path()), before, "nothing beside the samples");
}

/// `validate --checksum` says the sha256 in text too; `--name` gives a
/// file read from a pipe its name.
#[test]
fn validate_checksum_in_text_and_a_named_pipe() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/outbound/2661_11262026.BIF");
    let bytes = std::fs::read(&sample).unwrap();
    let sha = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(&bytes);
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let out = assert_cmd::Command::new(bin())
        .args(["validate", "--checksum"])
        .arg(&sample)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        format!(
            "{}: valid, 300 invoices, total 56055.34, 0 errors, 0 warnings, sha256 {sha}\n",
            sample.display()
        )
    );
    // From a pipe, the file-name rules need the name.
    let out = assert_cmd::Command::new(bin())
        .args(["validate", "/dev/stdin", "--name", "2661_11262026.BIF"])
        .write_stdin(bytes.clone())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "2661_11262026.BIF: valid, 300 invoices, total 56055.34, 0 errors, 0 warnings\n"
    );
    assert_cmd::Command::new(bin())
        .args(["validate", "/dev/stdin"])
        .write_stdin(bytes)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("bad_file_name"));
    assert_cmd::Command::new(bin())
        .args(["validate", "a.BIF", "b.BIF", "--name", "2661_11262026.BIF"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--name names one FILE"));
}

/// Help for every command and option; `help --help` works.
#[test]
fn help_texts() {
    let help = |args: &[&str]| {
        let out = assert_cmd::Command::new(bin())
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    assert!(help(&["help", "--help"]).contains("Print this help, or the help of a command"));
    assert!(help(&["help", "validate"]).contains("Usage: daffron-bridge validate"));
    assert_cmd::Command::new(bin())
        .args(["help", "nope"])
        .assert()
        .code(2);
    let pdf = help(&["pdf-link", "--help"]);
    let format = pdf.lines().find(|l| l.contains("--format")).unwrap();
    assert!(format.contains("INVOICE URL"), "{pdf}");
    let sandbox = help(&["sandbox", "--help"]);
    assert!(
        sandbox.contains("For `sandbox`: the sandbox's own JSON state"),
        "{sandbox}"
    );
    // Every option of every command says what it is.
    for cmd in [
        "validate",
        "transform",
        "pdf-link",
        "pull",
        "upload",
        "ingest",
        "sweep",
        "outbox",
        "run",
        "balance",
        "sandbox",
        "doctor",
    ] {
        let text = help(&[cmd, "--help"]);
        for l in text.lines() {
            let t = l.trim_start();
            if t.starts_with('-') && l.starts_with("  ") {
                let described = t.split("  ").filter(|p| !p.trim().is_empty()).count() >= 2;
                assert!(described, "{cmd}: {l:?} has no help text");
            }
        }
    }
}

/// A configuration value of the wrong type names the setting and the form.
#[test]
fn a_wrong_type_in_the_configuration_is_said_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::write_config(dir.path(), "[sftp]\nhost = \"h\"\nport = \"22\"\n");
    assert_cmd::Command::new(bin())
        .arg("--config")
        .arg(&cfg)
        .args(["validate", "x.BIF"])
        .assert()
        .code(2)
        .stderr(format!(
            "daffron-bridge: error: configuration {}, line 8: [sftp] port = \"22\": expected a whole number from 0 to 65535, written without quotes\n",
            cfg.display()
        ));
}

//! Progress bars of the long stages (pull, upload, ingest, sweep, verify):
//! on stderr, and only when stderr is a terminal, so a scheduler's log and
//! a pipe see nothing of them. Data goes to stdout, never a bar.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps named after its stage; hidden (every call a no-op)
/// when stderr is not a terminal.
pub fn bar(stage: &str, len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>8} {bar:40} {pos}/{len} {per_sec} {eta} {msg}")
    {
        bar.set_style(style);
    }
    bar.set_prefix(stage.to_string());
    bar
}

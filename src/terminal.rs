//! What reaches a terminal: text from outside (remote file names, server
//! messages, SOAP Fault texts, the fields of a file) printed escaped, and
//! colour only where a person looks at it.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal;

/// Text with every character a terminal would act on written as `\u{..}`:
/// C0 controls but the newline (ESC starts a sequence that can clear the
/// screen, set the window title or fake earlier output), DEL, C1 controls
/// (U+009B is a one-byte CSI) and the bidirectional overrides that make a
/// line read differently than it is. For text output only; JSON's writer
/// escapes controls itself.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(acts_on_terminal) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if acts_on_terminal(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn acts_on_terminal(c: char) -> bool {
    (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether logs on stderr may be coloured: only on a terminal, and never
/// when `NO_COLOR` is set to anything (<https://no-color.org>). A log file
/// or a journal gets plain text.
pub fn stderr_colour() -> bool {
    colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// The same for data on stdout (doctor's green and red).
pub fn stdout_colour() -> bool {
    colour(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

fn colour(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        assert!(matches!(
            escape("plain, ünïcode\nnext line"),
            Cow::Borrowed(_)
        ));
        assert_eq!(escape("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(
            escape("\x07\t\r\x7f\u{9b}"),
            "\\u{7}\\u{9}\\u{d}\\u{7f}\\u{9b}"
        );
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }
}

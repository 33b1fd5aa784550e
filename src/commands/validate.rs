//! `validate FILE...`: the implementer's dry run (`interface.md` §3). Files
//! are parsed and validated in memory; nothing is uploaded or stored.
//!
//! Exit codes: 0 every file valid (warnings allowed), 1 some file invalid,
//! 2 usage, configuration or a file that cannot be read.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use super::{Format, Globals};
use crate::bif::{self, ValidateOptions, ValidationReport};
use crate::{ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// BIF files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// `text` for people, `json` for programs (one object, `{"files":[...]}`).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Issues listed per file and severity; all are counted.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_errors: usize,

    /// Add the SHA-256 of each file to its report (`sha256`). Off by
    /// default: it costs about as much CPU as the validation itself (it is
    /// computed while the file is scanned, not as an extra pass).
    #[arg(long)]
    pub checksum: bool,

    /// The file's name for the file-name rules and the report, for one FILE
    /// read from a pipe: `validate /dev/stdin --name 2661_11262026.BIF`.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let config = g.load_config()?;
    let layout = bif::layout_for(&config)?;
    let opts = ValidateOptions {
        max_errors: args.max_errors,
        checksum: args.checksum,
        progress: std::io::stderr().is_terminal(),
        ..ValidateOptions::from_config(&config)
    };
    let started = Instant::now();
    let results = match (&args.name, args.files.as_slice()) {
        (None, files) => bif::validate_paths(files, &layout, &opts),
        (Some(name), [file]) => vec![bif::validate_path_as(file, name, &layout, &opts)],
        (Some(_), _) => {
            return Err(crate::Error::Usage(
                "--name names one FILE; give exactly one".into(),
            ));
        }
    };
    let mut code = ExitCode::Success;
    let mut reports = Vec::new();
    for r in results {
        match r {
            Ok(rep) => {
                if !rep.valid {
                    code = code.worst(ExitCode::InputErrors);
                }
                reports.push(rep);
            }
            Err(e) => {
                eprintln!(
                    "daffron-bridge: error: {}",
                    crate::terminal::escape(&e.to_string())
                );
                code = code.worst(e.exit_code());
            }
        }
    }
    let report = ValidationReport::new(reports, started.elapsed().as_secs_f64());
    let mut out = std::io::stdout().lock();
    let text = match args.format {
        Format::Json => {
            let mut s = serde_json::to_string(&report).unwrap_or_default();
            s.push('\n');
            s
        }
        // Values quoted from the files are escaped for the terminal.
        Format::Text => report
            .files
            .iter()
            .map(|f| crate::terminal::escape(&f.render_text()).into_owned())
            .collect(),
    };
    // A closed pipe (`| head`) is not an error of the validation.
    let _ = out.write_all(text.as_bytes());
    Ok(code)
}

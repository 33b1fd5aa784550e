//! `transform FILE -o OUT`: writes the BIF that would be uploaded
//! (`bif::transform`). An invalid file is refused (exit 1) and OUT is not
//! touched; OUT is written to a temporary file beside it and renamed, so it
//! is never left half-written.

use std::path::PathBuf;

use super::{Format, Globals};
use crate::bif::{self, ValidateOptions, transform};
use crate::{Error, ExitCode, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The BIF file from Daffron.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Where to write the upload form.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub out: PathBuf,

    /// `text` (messages on stderr) or `json` (the validation report and the
    /// output path on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Issues listed per severity; all are counted.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_errors: usize,
}

pub fn run(g: &Globals, args: &Args) -> Result<ExitCode> {
    let config = g.load_config()?;
    let layout = bif::layout_for(&config)?;
    let opts = ValidateOptions {
        max_errors: args.max_errors,
        ..ValidateOptions::from_config(&config)
    };
    let bytes = std::fs::read(&args.file).map_err(|source| Error::Read {
        path: args.file.clone(),
        source,
    })?;
    let name = args.file.display().to_string();
    let (report, out) = transform::transform_checked(&name, &bytes, &layout, &opts);
    if let Some(out) = &out {
        // `-o out/X.BIF` into a folder not made yet: made, as `cp -r` would.
        if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        transform::write_atomic(&args.out, out)?;
    }
    match args.format {
        Format::Json => {
            let j = serde_json::json!({
                "file": report,
                "output": args.out.display().to_string(),
                "written": out.is_some(),
                "bytes": out.as_ref().map_or(0, |o| o.len()),
            });
            println!("{j}");
        }
        Format::Text => {
            eprint!("{}", crate::terminal::escape(&report.render_text()));
            match &out {
                Some(o) => eprintln!("wrote {} ({} bytes)", args.out.display(), o.len()),
                None => eprintln!(
                    "{}: not transformed: fix the errors above; {} was not written",
                    name,
                    args.out.display()
                ),
            }
        }
    }
    Ok(if out.is_some() {
        ExitCode::Success
    } else {
        ExitCode::InputErrors
    })
}

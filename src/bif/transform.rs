//! The file that is uploaded to InvoiceCloud (`transform`, `run`).
//!
//! A valid BIF is rewritten as: fields trimmed (Daffron pads them on IBM i),
//! IH InvoiceFormatGuid set to the Daffron PDF Remote Link format (seed, BIF
//! customizations: "Invoice Cloud will set the InvoiceFormatGUID going
//! forward - it should be Daffron - PDF Remote Link"), UTF-8 (Windows-1252
//! lines decoded), LF line endings, no BOM, no blank lines. The same input
//! always gives the same bytes.

use std::io::Write;
use std::path::Path;

use super::layout::{Layout, RecordKind};
use super::report::FileReport;
use super::scan::text_of;
use super::validate::{ValidateOptions, validate_bytes};
use crate::{Error, Result};

/// InvoiceFormatGuid of "Daffron - PDF Remote Link".
pub const DAFFRON_PDF_REMOTE_LINK: &str = "BA1CEC36-997C-48E3-8406-437640EDFF84";

/// One row: its type (`None` when the RowType is unknown) and its trimmed
/// fields, RowType included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Option<RecordKind>,
    pub fields: Vec<String>,
}

/// Splits a BIF into rows: a BOM and blank lines dropped, CRLF or LF, fields
/// split on `|` and trimmed of spaces and tabs, Windows-1252 lines decoded.
pub fn parse_records(bytes: &[u8]) -> Vec<Record> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut out = Vec::new();
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if bytes.is_empty() {
        return out;
    }
    for raw in body.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = text_of(raw);
        let fields: Vec<String> = text
            .split('|')
            .map(|f| f.trim_matches([' ', '\t']).to_string())
            .collect();
        if fields.len() == 1 && fields[0].is_empty() {
            continue;
        }
        out.push(Record {
            kind: RecordKind::from_bytes(fields[0].as_bytes()),
            fields,
        });
    }
    out
}

/// Writes rows back: fields joined by `|`, one row a line, LF endings.
pub fn write_records(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(|r| r.fields.len() * 12).sum());
    for r in records {
        for (i, f) in r.fields.iter().enumerate() {
            if i > 0 {
                out.push(b'|');
            }
            out.extend_from_slice(f.as_bytes());
        }
        out.push(b'\n');
    }
    out
}

/// The upload form of an already valid file.
pub fn transform_bytes(bytes: &[u8], layout: &Layout) -> Vec<u8> {
    let at = layout.keys().ih_invoice_format_guid;
    let mut records = parse_records(bytes);
    for r in &mut records {
        if r.kind == Some(RecordKind::IH)
            && let Some(f) = r.fields.get_mut(at)
        {
            *f = DAFFRON_PDF_REMOTE_LINK.to_string();
        }
    }
    write_records(&records)
}

/// Validates and transforms bytes: the report, and the output when valid.
pub fn transform_checked(
    name: &str,
    bytes: &[u8],
    layout: &Layout,
    opts: &ValidateOptions,
) -> (FileReport, Option<Vec<u8>>) {
    let report = validate_bytes(name, bytes, layout, opts);
    let out = report.valid.then(|| transform_bytes(bytes, layout));
    (report, out)
}

/// Reads, validates and transforms a file: `Ok(Err(report))` when it is
/// invalid, `Err` only when it cannot be read.
pub fn transform_path(
    path: &Path,
    layout: &Layout,
    opts: &ValidateOptions,
) -> Result<std::result::Result<Vec<u8>, FileReport>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (report, out) = transform_checked(&path.display().to_string(), &bytes, layout, opts);
    Ok(out.ok_or(report))
}

/// Writes `bytes` to `out` all or nothing: a temporary file in the same
/// folder, synced, then renamed over `out`. A failure leaves no partial file.
pub fn write_atomic(out: &Path, bytes: &[u8]) -> Result<()> {
    let werr = |source: std::io::Error| Error::Write {
        path: out.to_path_buf(),
        source,
    };
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => {
                attempt += 1;
            }
            Err(e) => return Err(werr(e)),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|_| file.sync_all())
        .and_then(|_| {
            drop(file);
            std::fs::rename(&tmp, out)
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(werr(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &[u8] = b"\xEF\xBB\xBFFH|3F358D04-4273-4551-BB14-B9F719EC0A61|11/26/2026|1|100.00\r\n\
IH | R |00000000-0000-0000-0000-000000000000|1001|11/20/2026|12/10/2026|100.00|35909|001|3210450||35909-1001\r\n\
\r\n\
CR|35909-001|JANE DOE   |12 MAIN ST||LOWELL|MI|49331\r\n\
ID|Electric\t|100.00\r\n";

    #[test]
    fn trims_sets_guid_and_uses_lf() {
        let out = transform_bytes(FILE, &Layout::embedded());
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "FH|3F358D04-4273-4551-BB14-B9F719EC0A61|11/26/2026|1|100.00\n\
IH|R|BA1CEC36-997C-48E3-8406-437640EDFF84|1001|11/20/2026|12/10/2026|100.00|35909|001|3210450||35909-1001\n\
CR|35909-001|JANE DOE|12 MAIN ST||LOWELL|MI|49331\n\
ID|Electric|100.00\n"
        );
    }

    #[test]
    fn is_deterministic_and_idempotent() {
        let l = Layout::embedded();
        let a = transform_bytes(FILE, &l);
        assert_eq!(a, transform_bytes(FILE, &l));
        assert_eq!(a, transform_bytes(&a, &l));
    }

    #[test]
    fn cp1252_lines_become_utf8() {
        let out = transform_bytes(b"CR|1-1|Caf\xe9\n", &Layout::embedded());
        assert_eq!(out, "CR|1-1|Café\n".as_bytes());
    }

    #[test]
    fn atomic_write_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.BIF");
        write_atomic(&out, b"abc").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"abc");
        write_atomic(&out, b"def").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"def");
        let missing = dir.path().join("nope").join("x.BIF");
        assert!(write_atomic(&missing, b"abc").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
    }
}

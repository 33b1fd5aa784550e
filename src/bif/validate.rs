//! The validator's driver and public API.
//!
//! Small files are read whole and checked in one piece (or in pieces on all
//! cores when they are big enough to gain). Big files are streamed: a reader
//! fills fixed-size, line-aligned blocks ([`BLOCK`]), worker threads check
//! them ([`scan::scan_chunk`]), and the reader merges their summaries in file
//! order ([`scan::Merger`]). At most `workers + 2` blocks are in flight, so
//! memory stays bounded whatever the file size; the file is never mapped.
//! The verdict is the same, issue for issue, however the file is cut.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::format::{self, Ymd};
use super::issue::{Code, Issue};
use super::layout::Layout;
use super::report::FileReport;
use super::scan::{self, MAX_LINE, Merger, ScanRules};
use crate::config::{Config, PdfVersion};
use crate::{Error, Result};

/// Bytes read per block when streaming.
pub const BLOCK: usize = 8 << 20;

/// Files up to this size are read whole.
pub const READ_WHOLE_MAX: u64 = 32 << 20;

/// The biller rules a file is checked against, from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRules {
    /// `[biller] bid`: the file name must start with it.
    pub bid: Option<u32>,
    /// `[biller] guid`: FH BillerGuid must equal it.
    pub biller_guid: Option<uuid::Uuid>,
    /// Setting 119: from version 2 on, every invoice needs Custom10 (BCTR).
    pub pdf_version: PdfVersion,
}

impl FileRules {
    pub fn from_config(c: &Config) -> FileRules {
        FileRules {
            bid: Some(c.biller.bid),
            biller_guid: Some(c.biller.guid),
            pdf_version: c.settings.pdf_version,
        }
    }
}

/// How to validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Issues kept per severity and file (all are counted). Default 1000.
    pub max_errors: usize,
    pub rules: FileRules,
    /// Chunk size for in-memory parallel checks and streaming blocks; tests
    /// make it tiny to exercise chunk edges.
    pub block_size: usize,
    /// Files up to this size are read whole.
    pub read_whole_max: u64,
    /// Compute the SHA-256 of each file (`FileReport::sha256`; `validate
    /// --checksum`). Off by default: it costs about as much CPU as the
    /// validation. When on, it is computed while the file is scanned (by the
    /// streaming reader as it reads each block, or beside the parallel scan
    /// for a file in memory), never as an extra pass over the file.
    pub checksum: bool,
    /// Show a progress bar on stderr while streaming a big file (the CLI
    /// sets it when stderr is a terminal).
    pub progress: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            max_errors: 1000,
            rules: FileRules::default(),
            block_size: BLOCK,
            read_whole_max: READ_WHOLE_MAX,
            checksum: false,
            progress: false,
        }
    }
}

impl ValidateOptions {
    pub fn from_config(c: &Config) -> ValidateOptions {
        ValidateOptions {
            rules: FileRules::from_config(c),
            ..ValidateOptions::default()
        }
    }
}

/// The file name rule (`interface.md` §1.1): `{BID}_{MMDDYYYY}.BIF`, the
/// extension in any case, the BID the configured one, the date a real date.
/// Returns the date for the FH FileCreationDate comparison.
pub fn check_file_name(name: &str, bid: Option<u32>) -> std::result::Result<Ymd, Box<Issue>> {
    let base = Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(name);
    let bad = |why: String| Box::new(Issue::new(Code::BadFileName, None, why).value(base));
    let stem = match base.len().checked_sub(4) {
        Some(i) if base.is_char_boundary(i) && base[i..].eq_ignore_ascii_case(".bif") => &base[..i],
        _ => {
            return Err(bad(format!(
                "the file name {base} does not end in .BIF; Daffron names files {{BID}}_{{MMDDYYYY}}.BIF"
            )));
        }
    };
    let Some((b, d)) = stem.split_once('_') else {
        return Err(bad(format!(
            "the file name {base} is not {{BID}}_{{MMDDYYYY}}.BIF"
        )));
    };
    let parts = [
        super::layout::DatePart::Month,
        super::layout::DatePart::Day,
        super::layout::DatePart::Year,
    ];
    let date = match (b.parse::<u32>(), format::date(&parts, d.as_bytes())) {
        (Ok(_), Ok(date)) if b.bytes().all(|c| c.is_ascii_digit()) => date,
        _ => {
            return Err(bad(format!(
                "the file name {base} is not {{BID}}_{{MMDDYYYY}}.BIF with a real date"
            )));
        }
    };
    if let Some(want) = bid
        && b.parse::<u32>().ok() != Some(want)
    {
        return Err(bad(format!(
            "the file name {base} is for BID {b}, but this configuration is BID {want}"
        )));
    }
    Ok(date)
}

fn rules_for<'a>(
    layout: &'a Layout,
    opts: &ValidateOptions,
    name_date: Option<Ymd>,
) -> ScanRules<'a> {
    ScanRules {
        layout,
        biller_guid: opts.rules.biller_guid,
        pdf_version: opts.rules.pdf_version,
        name_date,
        max_issues: opts.max_errors,
    }
}

fn start(name: &str, opts: &ValidateOptions) -> (Merger, Option<Ymd>) {
    let mut m = Merger::new(opts.max_errors);
    let date = match check_file_name(name, opts.rules.bid) {
        Ok(d) => Some(d),
        Err(i) => {
            m.push(*i);
            None
        }
    };
    (m, date)
}

fn finish(name: &str, m: Merger, layout: &Layout, bytes: u64, sha256: String) -> FileReport {
    let rows = m.rows;
    let r = m.finish(layout);
    FileReport {
        path: name.to_string(),
        valid: r.error_count == 0,
        invoices: r.invoices,
        total_amount: scan::cents_to_decimal(r.total_cents),
        errors: r.errors,
        warnings: r.warnings,
        error_count: r.error_count,
        warning_count: r.warning_count,
        lines: r.lines,
        rows,
        bytes,
        sha256,
    }
}

/// Splits `bytes` into line-aligned pieces of about `size` bytes.
fn split_lines(bytes: &[u8], size: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() > size {
        let cut = match memchr::memchr(b'\n', &rest[size..]) {
            Some(i) => size + i + 1,
            None => rest.len(),
        };
        let (a, b) = rest.split_at(cut);
        out.push(a);
        rest = b;
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

/// Validates a file already in memory. `name` is used for the file-name rule
/// and in the report.
pub fn validate_bytes(
    name: &str,
    bytes: &[u8],
    layout: &Layout,
    opts: &ValidateOptions,
) -> FileReport {
    let (mut m, date) = start(name, opts);
    m.expect_bytes(bytes.len() as u64);
    let rules = rules_for(layout, opts, date);
    let pieces = split_lines(bytes, opts.block_size.max(1));
    let (summaries, sha) = rayon::join(
        || {
            pieces
                .par_iter()
                .enumerate()
                .map(|(i, p)| scan::scan_chunk(p, i == 0, &rules))
                .collect::<Vec<_>>()
        },
        || {
            if opts.checksum {
                hex(&Sha256::digest(bytes))
            } else {
                String::new()
            }
        },
    );
    for s in summaries {
        m.add(s);
    }
    finish(name, m, layout, bytes.len() as u64, sha)
}

/// Validates a file on disk. `Err` only when it cannot be read.
pub fn validate_path(path: &Path, layout: &Layout, opts: &ValidateOptions) -> Result<FileReport> {
    let name = path.display().to_string();
    let read_err = |source: io::Error| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    if size <= opts.read_whole_max {
        let mut bytes = Vec::with_capacity(size as usize);
        (&file).read_to_end(&mut bytes).map_err(read_err)?;
        return Ok(validate_bytes(&name, &bytes, layout, opts));
    }
    validate_stream(&name, file, size, layout, opts).map_err(read_err)
}

/// Validates many files: small ones in parallel, big ones one after the
/// other (each already uses every core). Reports come back in input order.
pub fn validate_paths(
    paths: &[PathBuf],
    layout: &Layout,
    opts: &ValidateOptions,
) -> Vec<Result<FileReport>> {
    let big = |p: &PathBuf| {
        std::fs::metadata(p)
            .map(|m| m.len() > opts.read_whole_max)
            .unwrap_or(false)
    };
    let mut out: Vec<Option<Result<FileReport>>> = (0..paths.len()).map(|_| None).collect();
    out.par_iter_mut()
        .zip(paths.par_iter())
        .filter(|(_, p)| !big(p))
        .for_each(|(slot, p)| *slot = Some(validate_path(p, layout, opts)));
    for (slot, p) in out.iter_mut().zip(paths) {
        if slot.is_none() {
            *slot = Some(validate_path(p, layout, opts));
        }
    }
    out.into_iter().flatten().collect()
}

/// Reads line-aligned blocks of a file, hashing every byte.
struct BlockReader<R> {
    r: R,
    block: usize,
    carry: Vec<u8>,
    /// Inside a line over [`MAX_LINE`]: bytes are dropped until its end.
    skipping: bool,
    eof: bool,
    hasher: Option<Sha256>,
    bytes: u64,
}

impl<R: Read> BlockReader<R> {
    fn new(r: R, block: usize, checksum: bool) -> Self {
        BlockReader {
            r,
            block: block.max(1),
            carry: Vec::new(),
            skipping: false,
            eof: false,
            hasher: checksum.then(Sha256::new),
            bytes: 0,
        }
    }

    /// Fills `buf` with whole lines (the last one may lack its newline at
    /// the end of the file). A line over [`MAX_LINE`] keeps only its first
    /// `MAX_LINE + 1` bytes, enough for the scanner to call it too long.
    /// Returns false when the file is done.
    fn next_block(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        buf.clear();
        buf.append(&mut self.carry);
        loop {
            if self.eof {
                return Ok(!buf.is_empty());
            }
            let start = buf.len();
            let n = (&mut self.r).take(self.block as u64).read_to_end(buf)?;
            if let Some(h) = self.hasher.as_mut() {
                h.update(&buf[start..]);
            }
            self.bytes += n as u64;
            if n < self.block {
                self.eof = true;
            }
            if self.skipping {
                match memchr::memchr(b'\n', &buf[start..]) {
                    None => {
                        buf.truncate(start);
                        continue;
                    }
                    Some(i) => {
                        buf.drain(start..start + i);
                        self.skipping = false;
                    }
                }
            }
            if self.eof {
                return Ok(!buf.is_empty());
            }
            match memchr::memrchr(b'\n', buf) {
                Some(p) => {
                    self.carry.extend_from_slice(&buf[p + 1..]);
                    buf.truncate(p + 1);
                    return Ok(true);
                }
                None if buf.len() > MAX_LINE => {
                    buf.truncate(MAX_LINE + 1);
                    self.skipping = true;
                }
                None => {}
            }
        }
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The streaming path: a reader (this thread) and `workers` scanners.
fn validate_stream(
    name: &str,
    file: File,
    size: u64,
    layout: &Layout,
    opts: &ValidateOptions,
) -> io::Result<FileReport> {
    let (mut m, date) = start(name, opts);
    m.expect_bytes(size);
    let rules = rules_for(layout, opts, date);
    let workers = rayon::current_num_threads().max(1);
    let max_in_flight = workers + 2;
    let mut reader = BlockReader::new(file, opts.block_size, opts.checksum);
    let bar = opts.progress.then(|| {
        let b = indicatif::ProgressBar::new(size);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ) {
            b.set_style(style);
        }
        b.set_message(name.to_string());
        b
    });

    let (job_tx, job_rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(max_in_flight);
    let job_rx = Mutex::new(job_rx);
    let (res_tx, res_rx) = mpsc::channel::<(usize, Vec<u8>, scan::ChunkSummary)>();

    std::thread::scope(|s| -> io::Result<()> {
        for _ in 0..workers {
            let res_tx = res_tx.clone();
            let job_rx = &job_rx;
            let rules = &rules;
            s.spawn(move || {
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((i, buf)) = job else { return };
                    let sum = scan::scan_chunk(&buf, i == 0, rules);
                    if res_tx.send((i, buf, sum)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(res_tx);
        let mut free: Vec<Vec<u8>> = Vec::new();
        let mut pending = std::collections::BTreeMap::new();
        let (mut sent, mut merged) = (0usize, 0usize);
        let mut merge_ready = |pending: &mut std::collections::BTreeMap<usize, _>,
                               merged: &mut usize,
                               free: &mut Vec<Vec<u8>>| {
            while let Some((buf, sum)) = pending.remove(merged) {
                m.add(sum);
                free.push(buf);
                *merged += 1;
            }
        };
        let result = (|| -> io::Result<()> {
            loop {
                while sent - merged >= max_in_flight {
                    let Ok((i, buf, sum)) = res_rx.recv() else {
                        return Err(io::Error::other("a validation worker stopped"));
                    };
                    pending.insert(i, (buf, sum));
                    merge_ready(&mut pending, &mut merged, &mut free);
                }
                let mut buf = free.pop().unwrap_or_default();
                if !reader.next_block(&mut buf)? {
                    break;
                }
                if job_tx.send((sent, buf)).is_err() {
                    return Err(io::Error::other("a validation worker stopped"));
                }
                sent += 1;
                if let Some(b) = &bar {
                    b.set_position(reader.bytes);
                }
            }
            Ok(())
        })();
        drop(job_tx);
        while merged < sent {
            let Ok((i, buf, sum)) = res_rx.recv() else {
                return Err(io::Error::other("a validation worker stopped"));
            };
            pending.insert(i, (buf, sum));
            merge_ready(&mut pending, &mut merged, &mut free);
        }
        result
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if reader.bytes == 0 {
        // An empty file still goes through the scanner once.
        m.add(scan::scan_chunk(b"", true, &rules));
    }
    let sha = reader
        .hasher
        .take()
        .map(|h| hex(&h.finalize()))
        .unwrap_or_default();
    Ok(finish(name, m, layout, reader.bytes, sha))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let d = check_file_name("samples/outbound/2661_11262026.BIF", Some(2661)).unwrap();
        assert_eq!((d.year, d.month, d.day), (2026, 11, 26));
        assert!(check_file_name("2661_11262026.bif", Some(2661)).is_ok());
        assert!(check_file_name("2661_11262026.BIF", None).is_ok());
        for bad in [
            "2661_11262026.txt",
            "2661-11262026.BIF",
            "2661_13262026.BIF",
            "2661_1126202.BIF",
            "x_11262026.BIF",
            "2662_11262026.BIF",
            "+2661_11262026.BIF",
            "é.BIF",
        ] {
            let e = check_file_name(bad, Some(2661)).unwrap_err();
            assert_eq!(e.code, Code::BadFileName, "{bad}");
        }
    }

    #[test]
    fn split_is_line_aligned_and_complete() {
        let text = b"a\nbb\nccc\ndddd\ne";
        for size in 1..20 {
            let parts = split_lines(text, size);
            assert_eq!(parts.concat(), text.to_vec());
            for p in &parts[..parts.len() - 1] {
                assert_eq!(p.last(), Some(&b'\n'));
            }
        }
        assert_eq!(split_lines(b"", 4), vec![&b""[..]]);
    }

    #[test]
    fn block_reader_aligns_and_cuts_giant_lines() {
        let mut text = b"ab\ncd\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE));
        text.extend(b"\nef\ngh");
        let mut r = BlockReader::new(&text[..], 4096, true);
        let mut buf = Vec::new();
        let mut blocks = Vec::new();
        while r.next_block(&mut buf).unwrap() {
            blocks.push(buf.clone());
        }
        assert_eq!(r.bytes, text.len() as u64);
        let all = blocks.concat();
        let lines: Vec<&[u8]> = all.split(|&b| b == b'\n').collect();
        assert_eq!(lines[0], b"ab");
        assert_eq!(lines[2].len(), MAX_LINE + 1);
        assert_eq!(lines[3], b"ef");
        assert_eq!(lines[4], b"gh");
        for b in &blocks[..blocks.len() - 1] {
            assert_eq!(b.last(), Some(&b'\n'));
        }
    }
}

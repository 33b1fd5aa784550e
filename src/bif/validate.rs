//! The validator's driver and public API.
//!
//! A file is cut into nominal ranges of [`ValidateOptions::block_size`]
//! bytes (finer near the end, so the cores finish together); task k checks
//! the lines that *start* in range k ([`scan::scan_chunk`] on a
//! line-aligned window), on every core of the rayon pool, and the summaries
//! are merged in file order as they complete ([`scan::Merger`]). On disk
//! the windows are memory-mapped one at a time and unmapped once scanned (no
//! copy, no reader thread; a `pread` fallback where mapping fails); at most
//! `2 x threads` windows are in flight, and the duplicate-InvoiceNumber
//! index spills to disk past a budget ([`super::dup`]), so memory stays
//! bounded whatever the file size. A file in memory ([`validate_bytes`])
//! goes through the same windows, so both give the same report. The
//! verdict is the same, issue for issue, however the file is cut.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::dup::{self, NumberSource};
use super::format::{self, Ymd};
use super::issue::{Code, Issue};
use super::layout::Layout;
use super::report::FileReport;
use super::scan::{self, MAX_LINE, Merger, ScanRules};
use crate::config::{Config, PdfVersion};
use crate::{Error, Result};

/// Nominal bytes per window: big enough that per-window costs (a map, two
/// small reads, a merge) vanish, small enough that `2 x threads` windows
/// are a few tens of MB.
pub const BLOCK: usize = 8 << 20;

/// [`validate_paths`] checks files up to this size several at a time, and
/// bigger ones one after the other (each on every core).
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
    /// Nominal window size ([`BLOCK`]); tests make it tiny to exercise
    /// window edges.
    pub block_size: usize,
    /// [`validate_paths`] checks files up to this size several at a time.
    pub read_whole_max: u64,
    /// Compute the SHA-256 of each file (`FileReport::sha256`; `validate
    /// --checksum`). Off by default: it costs about as much CPU as the
    /// validation. When on, it is computed by one task reading the file in
    /// order beside the parallel scan (from the page cache).
    pub checksum: bool,
    /// Show a progress bar on stderr while validating a file bigger than
    /// `read_whole_max` (the CLI sets it when stderr is a terminal).
    pub progress: bool,
    /// Memory for the duplicate-InvoiceNumber index before it spills to a
    /// temporary file ([`dup::DEFAULT_BUDGET`]); tests make it tiny.
    pub dup_budget: usize,
    /// Map windows of files on disk (default); `false` reads them with
    /// `pread` into reused buffers, as when mapping fails.
    pub mmap: bool,
    /// Check every row with the portable engine, not the fastest one this
    /// CPU has (the AVX-512 lane or AVX2). The verdict is the same; the fuzz
    /// target holds the engines to that on any input.
    pub portable: bool,
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
            dup_budget: dup::DEFAULT_BUDGET,
            mmap: true,
            portable: false,
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
        portable: opts.portable,
    }
}

fn start(name: &str, opts: &ValidateOptions) -> (Merger, Option<Ymd>) {
    let mut m = Merger::new(opts.max_errors);
    m.set_dup_budget(opts.dup_budget);
    let date = match check_file_name(name, opts.rules.bid) {
        Ok(d) => Some(d),
        Err(i) => {
            m.push(*i);
            None
        }
    };
    (m, date)
}

fn finish(
    name: &str,
    m: Merger,
    layout: &Layout,
    bytes: u64,
    sha256: String,
    numbers: &dyn NumberSource,
) -> io::Result<FileReport> {
    let rows = m.rows;
    let r = m.finish(layout, numbers)?;
    Ok(FileReport {
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
    })
}

/// Where the bytes of a file come from: a slice in memory, or the file on
/// disk (mapped windows, or `pread` into reused buffers).
trait Source: Sync {
    fn len(&self) -> u64;
    /// The position of the first `\n` in `[from, to)`.
    fn find_newline(&self, from: u64, to: u64) -> io::Result<Option<u64>>;
    /// Runs `f` on the bytes `[start, end)`.
    fn view<R>(&self, start: u64, end: u64, f: impl FnOnce(&[u8]) -> R) -> io::Result<R>;
    /// The same bytes, for reading InvoiceNumbers back.
    fn numbers(&self) -> &dyn NumberSource;
}

/// A file already in memory.
struct Memory<'a>(&'a [u8]);

impl Source for Memory<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn find_newline(&self, from: u64, to: u64) -> io::Result<Option<u64>> {
        let to = to.min(self.len()) as usize;
        Ok(self
            .0
            .get(from as usize..to)
            .and_then(|b| memchr::memchr(b'\n', b))
            .map(|i| from + i as u64))
    }

    fn view<R>(&self, start: u64, end: u64, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
        Ok(f(self
            .0
            .get(start as usize..end as usize)
            .unwrap_or_default()))
    }

    fn numbers(&self) -> &dyn NumberSource {
        &self.0
    }
}

/// A file on disk, read one window at a time.
///
/// Windows are memory-mapped (no copy, no reader thread) and unmapped as
/// soon as they are scanned, so the pages of at most a few windows are ever
/// resident, whatever the file size. The mmap caveat: if another process
/// truncates the file while a window is mapped, touching the lost pages
/// raises SIGBUS and the process dies. ripgrep makes the same trade for
/// single large files; our inbox files are private to the bridge (`pull`
/// writes them under a temporary name and renames them into place, see
/// `crate::intake`), so nobody truncates them under us. When mapping fails (a file system without mmap,
/// the address space exhausted), the same windows are read with `pread` into
/// reused buffers instead.
struct OnDisk<'a> {
    file: &'a File,
    len: u64,
    mmap: AtomicBool,
    buffers: Mutex<Vec<Vec<u8>>>,
}

impl<'a> OnDisk<'a> {
    fn new(file: &'a File, len: u64, mmap: bool) -> Self {
        OnDisk {
            file,
            len,
            mmap: AtomicBool::new(mmap),
            buffers: Mutex::new(Vec::new()),
        }
    }
}

fn shrunk(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(
            e.kind(),
            "the file got shorter while it was validated; validate it again once it is complete",
        )
    } else {
        e
    }
}

impl Source for OnDisk<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn find_newline(&self, from: u64, to: u64) -> io::Result<Option<u64>> {
        // Lines are about 100 bytes: one small read nearly always does.
        let mut buf = [0u8; 4096];
        let to = to.min(self.len);
        let mut pos = from;
        while pos < to {
            let n = ((to - pos) as usize).min(buf.len());
            let part = &mut buf[..n];
            self.file.read_exact_at(part, pos).map_err(shrunk)?;
            if let Some(i) = memchr::memchr(b'\n', part) {
                return Ok(Some(pos + i as u64));
            }
            pos += n as u64;
        }
        Ok(None)
    }

    fn view<R>(&self, start: u64, end: u64, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
        let len = usize::try_from(end.saturating_sub(start))
            .map_err(|_| io::Error::other("a window does not fit in memory"))?;
        if len == 0 {
            return Ok(f(&[]));
        }
        if self.mmap.load(Ordering::Relaxed) {
            // SAFETY: the map is only read, and dropped before this call
            // returns. It is undefined behaviour only if the file changes
            // while mapped: see the type's doc (SIGBUS on truncation).
            let map = unsafe {
                memmap2::MmapOptions::new()
                    .offset(start)
                    .len(len)
                    .populate()
                    .map(self.file)
            };
            match map {
                Ok(map) => return Ok(f(&map)),
                Err(e) => {
                    tracing::debug!("cannot map the file ({e}); reading it instead");
                    self.mmap.store(false, Ordering::Relaxed);
                }
            }
        }
        let pop = self.buffers.lock().map(|mut b| b.pop()).unwrap_or_default();
        let mut buf = pop.unwrap_or_default();
        buf.resize(len, 0);
        self.file.read_exact_at(&mut buf, start).map_err(shrunk)?;
        let r = f(&buf);
        if let Ok(mut b) = self.buffers.lock() {
            b.push(buf);
        }
        Ok(r)
    }

    fn numbers(&self) -> &dyn NumberSource {
        self.file
    }
}

/// The nominal byte ranges of the scanning tasks: `s` bytes each, except
/// that the last `threads x s` bytes or so are cut eight times finer, so
/// that the cores finish together. (With 8 MiB ranges only, the core that
/// took the last one scanned alone for a few ms while the other waited.)
#[derive(Debug, Clone, Copy)]
struct Cuts {
    len: u64,
    s: u64,
    /// Ranges of `s` bytes before the finer ones.
    big: u64,
    /// Size of the finer ranges.
    small: u64,
}

impl Cuts {
    fn new(len: u64, s: u64, threads: u64) -> Cuts {
        let s = s.max(1);
        Cuts {
            len,
            s,
            big: len.saturating_sub(threads.saturating_mul(s)) / s,
            small: (s / 8).max(1),
        }
    }

    /// Ranges of `s` bytes all through.
    #[cfg(test)]
    fn uniform(len: u64, s: u64) -> Cuts {
        let s = s.max(1);
        Cuts {
            len,
            s,
            big: len / s,
            small: s,
        }
    }

    fn count(&self) -> u64 {
        let rest = self.len.saturating_sub(self.big * self.s);
        self.big + rest.div_ceil(self.small)
    }

    /// Where range `k` starts (past the end for `k >= count`).
    fn lo(&self, k: u64) -> u64 {
        if k <= self.big {
            k.saturating_mul(self.s)
        } else {
            (k - self.big)
                .saturating_mul(self.small)
                .saturating_add(self.big * self.s)
        }
    }
}

/// The window of task `k`: the lines that start in its nominal range
/// `[lo, hi)` ([`Cuts`]), `None` when no line starts there.
///
/// Its start is the first line start at or after `lo`; its end is the next
/// task's start, except that it never reaches past `hi + MAX_LINE + 1`: a
/// giant last line is seen cut there (at least `MAX_LINE + 2` bytes, so it
/// is still reported `line_too_long`, with the length seen), and no window
/// is ever longer than `s + MAX_LINE + 1` bytes.
fn window(src: &impl Source, k: u64, cuts: &Cuts) -> io::Result<Option<(u64, u64)>> {
    let n = src.len();
    let lo = cuts.lo(k);
    if lo >= n {
        return Ok(None);
    }
    let hi = cuts.lo(k + 1).min(n);
    let start = if lo == 0 {
        0
    } else {
        // A line starts at p when byte p - 1 is '\n'.
        match src.find_newline(lo - 1, hi - 1)? {
            Some(q) => q + 1,
            None => return Ok(None),
        }
    };
    let end = if hi == n {
        n
    } else {
        let cap = hi.saturating_add(MAX_LINE as u64 + 1).min(n);
        match src.find_newline(hi - 1, cap)? {
            Some(q) => q + 1,
            None => cap,
        }
    };
    Ok(Some((start, end)))
}

/// Scans one window that starts at byte `offset` of the file.
fn scan_at(bytes: &[u8], offset: u64, rules: &ScanRules<'_>) -> scan::ChunkSummary {
    let first = offset == 0;
    let mut sum = scan::scan_chunk(bytes, first, rules);
    // The scanner numbers byte offsets after the BOM it strips.
    let bom = if first && bytes.starts_with(dup::UTF8_BOM) {
        dup::UTF8_BOM.len() as u64
    } else {
        0
    };
    sum.set_file_offset(offset + bom);
    sum
}

/// The in-order merge shared by the scanning tasks.
struct Flow {
    merger: Merger,
    /// Scanned windows waiting for the ones before them.
    pending: BTreeMap<u64, Option<scan::ChunkSummary>>,
    /// Windows merged so far (the next one to merge).
    merged: u64,
    /// The next window to take.
    next: u64,
    /// Tasks alive.
    running: usize,
    failed: Option<io::Error>,
}

/// What every scanning task shares.
struct Scan<'a, S> {
    src: &'a S,
    rules: &'a ScanRules<'a>,
    cuts: Cuts,
    tasks: u64,
    /// Most windows taken beyond the merge.
    ahead: u64,
    threads: usize,
    flow: Mutex<Flow>,
    bar: Option<&'a indicatif::ProgressBar>,
}

/// One scanning task: takes windows in order and scans them, merging
/// whatever is ready in file order after each. It ends rather than wait
/// when it is `ahead` windows past the merge, and whoever advances the
/// merge starts tasks again: nothing ever blocks a pool thread (but for the
/// short merge under the lock, which must not call into rayon), so this is
/// safe inside any rayon pool, and memory stays bounded for any file size.
fn scan_task<'a, S: Source>(sc: &rayon::Scope<'a>, cx: &'a Scan<'a, S>) {
    let lock = || cx.flow.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let k = {
            let mut f = lock();
            if f.failed.is_some() || f.next >= cx.tasks || f.next >= f.merged + cx.ahead {
                f.running -= 1;
                return;
            }
            f.next += 1;
            f.next - 1
        };
        let scanned = window(cx.src, k, &cx.cuts).and_then(|w| match w {
            Some((a, b)) => cx.src.view(a, b, |bytes| Some(scan_at(bytes, a, cx.rules))),
            None => Ok(None),
        });
        let mut f = lock();
        match scanned {
            Ok(sum) => {
                f.pending.insert(k, sum);
                while let Some(sum) = {
                    let at = f.merged;
                    f.pending.remove(&at)
                } {
                    if let Some(sum) = sum {
                        f.merger.add(sum);
                    }
                    f.merged += 1;
                }
                if let Some(b) = cx.bar {
                    b.set_position(cx.cuts.lo(f.merged).min(cx.src.len()));
                }
            }
            Err(e) => {
                f.failed.get_or_insert(e);
            }
        }
        // Start tasks again for the windows the merge made room for (this
        // one takes the next itself).
        let room = cx
            .tasks
            .min(f.merged + cx.ahead)
            .saturating_sub(f.next)
            .saturating_sub(1);
        let idle = cx.threads.saturating_sub(f.running) as u64;
        let more = if f.failed.is_some() {
            0
        } else {
            room.min(idle)
        };
        f.running += more as usize;
        drop(f);
        for _ in 0..more {
            sc.spawn(move |sc| scan_task(sc, cx));
        }
    }
}

/// Scans every window of `src` on the rayon pool and merges the summaries
/// in file order as they complete; at most `2 x threads` windows are taken
/// beyond the merge.
fn scan_windows<S: Source>(
    src: &S,
    rules: &ScanRules<'_>,
    block: usize,
    merger: Merger,
    bar: Option<&indicatif::ProgressBar>,
) -> io::Result<Merger> {
    let threads = rayon::current_num_threads().max(1);
    let cuts = Cuts::new(src.len(), block as u64, threads as u64);
    let tasks = cuts.count();
    let start = (threads as u64).min(tasks) as usize;
    let cx = Scan {
        src,
        rules,
        cuts,
        tasks,
        ahead: 2 * threads as u64,
        threads,
        flow: Mutex::new(Flow {
            merger,
            pending: BTreeMap::new(),
            merged: 0,
            next: 0,
            running: start,
            failed: None,
        }),
        bar,
    };
    rayon::scope(|sc| {
        for _ in 0..start {
            sc.spawn(|sc| scan_task(sc, &cx));
        }
    });
    let f = cx.flow.into_inner().unwrap_or_else(|p| p.into_inner());
    match f.failed {
        Some(e) => Err(e),
        None if f.merged < tasks => Err(io::Error::other(
            "a validation task stopped before the end of the file",
        )),
        None => Ok(f.merger),
    }
}

/// The SHA-256 of the whole source, read in order.
fn checksum(src: &impl Source, block: usize) -> io::Result<String> {
    let step = block.max(1 << 20) as u64;
    let mut h = Sha256::new();
    let mut pos = 0;
    while pos < src.len() {
        let end = pos.saturating_add(step).min(src.len());
        src.view(pos, end, |b| h.update(b))?;
        pos = end;
    }
    Ok(hex(&h.finalize()))
}

/// How much of a file's start is looked at for a NUL byte.
const BINARY_SNIFF_BYTES: u64 = 64 * 1024;

/// The offset of a NUL byte in the first [`BINARY_SNIFF_BYTES`] of `src`.
///
/// Why: a BIF file is text and never holds NUL; a file that does (a zip,
/// an image, a PDF sent by mistake) would otherwise be reported line by
/// line, kilobytes of control bytes quoted as values. ripgrep decides
/// "binary file" the same way.
fn binary_at(src: &impl Source) -> io::Result<Option<u64>> {
    let end = src.len().min(BINARY_SNIFF_BYTES);
    src.view(0, end, |b| memchr::memchr(0, b).map(|i| i as u64))
}

/// The report of a binary file: its name checked, one `binary_file` error,
/// nothing else read.
fn binary_report(name: &str, opts: &ValidateOptions, bytes: u64, at: u64) -> FileReport {
    let mut errors: Vec<Issue> = check_file_name(name, opts.rules.bid)
        .err()
        .map(|i| *i)
        .into_iter()
        .collect();
    errors.push(Issue::new(
        Code::BinaryFile,
        None,
        format!("not a BIF file: a binary file (a NUL byte at offset {at}); nothing more was read"),
    ));
    FileReport {
        path: name.to_string(),
        valid: false,
        invoices: 0,
        total_amount: rust_decimal::Decimal::ZERO,
        error_count: errors.len() as u64,
        warning_count: 0,
        errors,
        warnings: Vec::new(),
        lines: 0,
        rows: 0,
        bytes,
        sha256: String::new(),
    }
}

/// Validates a file from `src`: every window on all cores, the checksum
/// (when asked) beside them.
fn validate_source(
    name: &str,
    src: &impl Source,
    layout: &Layout,
    opts: &ValidateOptions,
) -> io::Result<FileReport> {
    if let Some(at) = binary_at(src)? {
        return Ok(binary_report(name, opts, src.len(), at));
    }
    let (mut m, date) = start(name, opts);
    m.expect_bytes(src.len());
    let rules = rules_for(layout, opts, date);
    // Only files big enough to be validated alone get a bar.
    let bar = (opts.progress && src.len() > opts.read_whole_max).then(|| {
        let b = indicatif::ProgressBar::new(src.len());
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ) {
            b.set_style(style);
        }
        b.set_message(name.to_string());
        b
    });
    let (scanned, sha) = rayon::join(
        || scan_windows(src, &rules, opts.block_size, m, bar.as_ref()),
        || {
            if opts.checksum {
                checksum(src, opts.block_size)
            } else {
                Ok(String::new())
            }
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut m = scanned?;
    let sha = sha?;
    if src.len() == 0 {
        // An empty file still goes through the scanner once.
        m.add(scan_at(b"", 0, &rules));
    }
    finish(name, m, layout, src.len(), sha, src.numbers())
}

/// Validates a file already in memory, exactly as [`validate_path`] would
/// validate the same bytes on disk (the same windows, no copy). `name` is
/// used for the file-name rule and in the report.
pub fn validate_bytes(
    name: &str,
    bytes: &[u8],
    layout: &Layout,
    opts: &ValidateOptions,
) -> FileReport {
    match validate_source(name, &Memory(bytes), layout, opts) {
        Ok(r) => r,
        // Reads from a slice stay inside it by construction: an error here
        // is a bug in this module, never a property of the input.
        Err(e) => unreachable!("validating bytes in memory cannot fail to read: {e}"),
    }
}

/// Validates a file on disk, in mapped windows on all cores (see
/// [`ValidateOptions::block_size`]); memory stays bounded whatever the file
/// size. `Err` only when it cannot be read.
pub fn validate_path(path: &Path, layout: &Layout, opts: &ValidateOptions) -> Result<FileReport> {
    validate_path_as(path, &path.display().to_string(), layout, opts)
}

/// [`validate_path`] with the file going by `name`: the name the file-name
/// rules check (`{BID}_{MMDDYYYY}.BIF`) and the report shows. For a file
/// read from a pipe (`validate /dev/stdin --name 2661_11262026.BIF`).
pub fn validate_path_as(
    path: &Path,
    name: &str,
    layout: &Layout,
    opts: &ValidateOptions,
) -> Result<FileReport> {
    let name = name.to_string();
    let read_err = |source: io::Error| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        // A pipe or a device has no size to cut into windows.
        let mut bytes = Vec::new();
        (&file).read_to_end(&mut bytes).map_err(read_err)?;
        return Ok(validate_bytes(&name, &bytes, layout, opts));
    }
    let src = OnDisk::new(&file, meta.len(), opts.mmap);
    validate_source(&name, &src, layout, opts).map_err(read_err)
}

/// Validates many files: small ones (up to
/// [`ValidateOptions::read_whole_max`]) several at a time, big ones one
/// after the other (each already uses every core). Reports come back in
/// input order.
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

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
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

    /// All windows of `src` for nominal ranges of `s` bytes.
    fn windows(src: &impl Source, s: u64) -> Vec<(u64, u64)> {
        let cuts = Cuts::uniform(src.len(), s);
        assert_eq!(cuts.count(), src.len().div_ceil(s));
        (0..cuts.count())
            .filter_map(|k| window(src, k, &cuts).unwrap())
            .collect()
    }

    #[test]
    fn cuts_cover_the_file_and_end_finer() {
        for len in [0u64, 1, 7, 8, 63, 64, 65, 100, 1000, 4096, 100_000] {
            for s in [1u64, 2, 7, 8, 9, 64, 1000] {
                for threads in [1u64, 2, 3, 8] {
                    let c = Cuts::new(len, s, threads);
                    let n = c.count();
                    assert_eq!(c.lo(0), 0);
                    assert!(c.lo(n) >= len, "{len} {s} {threads}");
                    for k in 0..n {
                        let (lo, hi) = (c.lo(k), c.lo(k + 1));
                        assert!(
                            lo < len && lo < hi && hi - lo <= s,
                            "{len} {s} {threads} {k}"
                        );
                    }
                    // Finer ranges at most for the last threads + 1 blocks.
                    let fine = (0..n).filter(|&k| c.lo(k + 1) - c.lo(k) < s).count() as u64;
                    assert!(
                        fine * (s / 8).max(1) <= (threads + 1) * s,
                        "{len} {s} {threads}"
                    );
                }
            }
        }
    }

    fn on_disk(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("2661_11262026.BIF");
        std::fs::write(&p, bytes).unwrap();
        (dir, p)
    }

    #[test]
    fn windows_are_line_aligned_and_complete() {
        let text = b"a\nbb\nccc\ndddd\ne";
        let (_dir, p) = on_disk(text);
        let file = File::open(&p).unwrap();
        for s in 1..20 {
            let mem = windows(&Memory(text), s);
            assert_eq!(
                mem,
                windows(&OnDisk::new(&file, text.len() as u64, true), s)
            );
            assert_eq!(mem.first().map(|w| w.0), Some(0));
            assert_eq!(mem.last().map(|w| w.1), Some(text.len() as u64));
            for w in mem.windows(2) {
                assert_eq!(w[0].1, w[1].0, "size {s}: contiguous");
                assert_eq!(text[w[0].1 as usize - 1], b'\n', "size {s}: line-aligned");
            }
            // Each window holds the lines that start in its nominal range.
            for &(a, _) in &mem {
                assert!(a == 0 || text[a as usize - 1] == b'\n');
            }
        }
        assert!(windows(&Memory(b""), 4).is_empty());
    }

    #[test]
    fn windows_align_and_cut_giant_lines() {
        let mut text = b"ab\ncd\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE));
        text.extend(b"\nef\ngh");
        let (_dir, p) = on_disk(&text);
        let file = File::open(&p).unwrap();
        let s = 4096u64;
        for disk in [false, true] {
            let ws = if disk {
                windows(&OnDisk::new(&file, text.len() as u64, true), s)
            } else {
                windows(&Memory(&text), s)
            };
            for &(a, b) in &ws {
                assert!(b - a <= s + MAX_LINE as u64 + 1, "window {a}..{b} too long");
            }
            let seen: Vec<u8> = ws
                .iter()
                .flat_map(|&(a, b)| {
                    let mut w = text[a as usize..b as usize].to_vec();
                    if w.last() != Some(&b'\n') {
                        w.push(b'\n');
                    }
                    w
                })
                .collect();
            let lines: Vec<&[u8]> = seen.split(|&b| b == b'\n').collect();
            assert_eq!(lines[0], b"ab");
            assert_eq!(lines[1], b"cd");
            assert!(lines[2].len() > MAX_LINE + 1, "still too long");
            assert!(lines[2].len() < 2 * MAX_LINE, "cut");
            assert_eq!(&lines[3..], [&b"ef"[..], b"gh", b""]);
        }
    }

    fn rules() -> ValidateOptions {
        ValidateOptions {
            rules: FileRules {
                bid: Some(2661),
                biller_guid: None,
                pdf_version: PdfVersion::V1,
            },
            ..ValidateOptions::default()
        }
    }

    /// Every way to read a file (memory, mapped, `pread`; tiny windows;
    /// a tiny duplicate budget that spills) gives `whole`'s report.
    fn all_agree(bytes: &[u8], sizes: &[usize]) -> FileReport {
        let layout = Layout::embedded();
        let name = "2661_11262026.BIF";
        let whole = validate_bytes(name, bytes, &layout, &rules());
        let (_dir, p) = on_disk(bytes);
        for &size in sizes {
            for (mmap, budget) in [(true, dup::DEFAULT_BUDGET), (false, 24), (true, 24 * 5)] {
                let o = ValidateOptions {
                    block_size: size,
                    mmap,
                    dup_budget: budget,
                    checksum: true,
                    ..rules()
                };
                let what = format!("size {size}, mmap {mmap}, budget {budget}");
                let mem = validate_bytes(name, bytes, &layout, &o);
                let mut disk = validate_path(&p, &layout, &o).unwrap();
                assert_eq!(disk.path, p.display().to_string());
                disk.path = name.to_string();
                assert_eq!(disk.sha256, mem.sha256, "{what}");
                assert_eq!(disk, mem, "{what}: disk and memory");
                let mut no_sum = mem.clone();
                no_sum.sha256 = String::new();
                assert_eq!(no_sum, whole, "{what}: windows");
            }
        }
        whole
    }

    fn good() -> Vec<u8> {
        std::fs::read("samples/outbound/2661_11262026.BIF").unwrap()
    }

    #[test]
    fn empty_file_in_every_mode() {
        let r = all_agree(b"", &[1, 7, 64, 4096]);
        assert_eq!(r.errors[0].code, Code::EmptyFile);
        assert_eq!((r.bytes, r.lines), (0, 0));
    }

    #[test]
    fn no_final_newline_and_bom_in_every_mode() {
        let g = good();
        let cut = g.strip_suffix(b"\n").unwrap_or(&g).to_vec();
        let r = all_agree(&cut, &[1, 7, 64, 4096, 1 << 20]);
        assert!(r.valid, "{:?}", r.errors);
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(&g);
        let r = all_agree(&bom, &[1, 7, 64, 4096, 1 << 20]);
        assert!(r.valid, "{:?}", r.errors);
        assert_eq!(r.invoices, 300);
    }

    /// Many duplicates, some across window edges and after a BOM: the
    /// spilled index (24-byte budget: every key its own run) and the
    /// in-memory one agree, with the first occurrence as related line.
    #[test]
    fn duplicates_spilled_or_not_in_every_mode() {
        let g = good();
        let text = String::from_utf8(g).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        let ih: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with("IH|"))
            .collect();
        // Every 3rd invoice takes the number of one of the first five.
        for (j, &i) in ih.iter().enumerate().skip(5).step_by(3) {
            lines[i] = lines[ih[j % 5]];
        }
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(lines.join("\r\n").into_bytes());
        let r = all_agree(&bytes, &[1, 64, 4096, 100_000]);
        let d: Vec<&Issue> = r
            .errors
            .iter()
            .filter(|i| i.code == Code::DuplicateInvoice)
            .collect();
        assert!(d.len() > 50, "{}", d.len());
        let first_ih = ih[0] as u64 + 1;
        assert!(d.iter().any(|i| i.related_line == Some(first_ih)));
        assert!(d.iter().all(|i| i.related_line < i.line));
        let o = ValidateOptions {
            max_errors: 3,
            dup_budget: 24,
            ..rules()
        };
        let few = validate_bytes("2661_11262026.BIF", &bytes, &Layout::embedded(), &o);
        assert_eq!(few.error_count, r.error_count);
        assert_eq!(few.errors[..], r.errors[..3]);
    }

    /// A giant line at the end of a window: reported on the same line, in
    /// every mode and window size (its message gives the length seen, which
    /// may be the cut one).
    #[test]
    fn giant_line_in_a_window() {
        let mut bytes = good();
        let at = bytes.len();
        bytes.extend(std::iter::repeat_n(b'|', 2 * MAX_LINE + 10));
        bytes.extend(b"\nFH|x\n");
        let lines = bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64;
        let layout = Layout::embedded();
        let (_dir, p) = on_disk(&bytes);
        let key = |r: &FileReport| {
            let strip = |v: &[Issue]| {
                v.iter()
                    .map(|i| (i.code, i.line, i.related_line))
                    .collect::<Vec<_>>()
            };
            (
                strip(&r.errors),
                strip(&r.warnings),
                r.lines,
                r.rows,
                r.error_count,
            )
        };
        let whole = validate_bytes("2661_11262026.BIF", &bytes, &layout, &rules());
        assert!(
            whole
                .errors
                .iter()
                .any(|i| i.code == Code::LineTooLong && i.line == Some(lines + 1))
        );
        for size in [64, 4096, at, at + 100, 1 << 20] {
            for mmap in [true, false] {
                let o = ValidateOptions {
                    block_size: size,
                    mmap,
                    ..rules()
                };
                let r = validate_path(&p, &layout, &o).unwrap();
                assert_eq!(key(&r), key(&whole), "size {size}, mmap {mmap}");
                let m = validate_bytes("2661_11262026.BIF", &bytes, &layout, &o);
                assert_eq!(key(&m), key(&whole), "size {size} in memory");
            }
        }
    }

    /// Files validated several at a time in small pools, with tiny windows
    /// and a spilling duplicate index, all finish (and agree): no task ever
    /// waits for one that cannot run.
    #[test]
    fn many_files_in_small_pools_never_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let g = good();
        let mut dupd = g.clone();
        dupd.extend_from_slice(&g);
        let paths: Vec<PathBuf> = (0..6)
            .map(|i| {
                let p = dir.path().join(format!("{i}"));
                std::fs::create_dir(&p).unwrap();
                let p = p.join("2661_11262026.BIF");
                std::fs::write(&p, if i % 2 == 0 { &g } else { &dupd }).unwrap();
                p
            })
            .collect();
        for threads in [1, 2, 3] {
            let (tx, rx) = std::sync::mpsc::channel();
            let paths = paths.clone();
            std::thread::spawn(move || {
                let o = ValidateOptions {
                    block_size: 4096,
                    dup_budget: 24 * 7,
                    checksum: true,
                    read_whole_max: u64::MAX,
                    ..rules()
                };
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let r = pool.install(|| validate_paths(&paths, &Layout::embedded(), &o));
                let _ = tx.send(r);
            });
            let r = rx
                .recv_timeout(std::time::Duration::from_secs(300))
                .expect("validation did not finish in 5 minutes: a deadlock");
            let r: Vec<FileReport> = r.into_iter().map(|r| r.unwrap()).collect();
            assert!(r[0].valid && r[2].valid && r[4].valid);
            assert_eq!(r[1].error_count, r[3].error_count);
            assert!(r[1].errors.iter().any(|i| i.code == Code::DuplicateInvoice));
        }
    }

    #[test]
    fn a_pipe_is_read_whole() {
        let layout = Layout::embedded();
        let r = validate_path(Path::new("/dev/null"), &layout, &rules()).unwrap();
        assert_eq!(
            r.errors.iter().map(|i| i.code).collect::<Vec<_>>(),
            vec![Code::BadFileName, Code::EmptyFile]
        );
    }
}

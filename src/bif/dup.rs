//! The duplicate-InvoiceNumber rule (`interface.md` §1.1: an InvoiceNumber
//! appears once per file; IC rejects the second one), in bounded memory.
//!
//! Why not a hash table of the numbers: it grows with the file (16-40 bytes
//! per invoice, 2.3 M invoices per GB) and is filled serially by the merge.
//! Instead every InvoiceNumber leaves a fixed-size [`Key`] — its hash, its
//! line, where its bytes are in the file and how long they are — and no copy
//! of the bytes. The scanning thread groups a chunk's keys into 256 buckets
//! by the top bits of the hash; the merge appends them to the file's
//! buckets, under a memory budget ([`DEFAULT_BUDGET`], about 2.8 M invoices,
//! more than a 1 GB file holds). Past it the buckets are sorted by (hash,
//! line) and spilled as a *run* to an unnamed temporary file in
//! `std::env::temp_dir()` (`TMPDIR`; deleted when closed).
//!
//! At the end, each bucket is a task on all cores. Without runs, a small
//! hash table per bucket finds the hashes that repeat (no sort: a 1 GB file
//! costs about 12 ms); with runs, the bucket's part of every run is merged
//! (k-way, in (hash, line) order) with its keys in memory. Each group of
//! equal hashes is then confirmed on the real bytes, read back from the
//! file ([`NumberSource`]), so a hash collision can neither make a false
//! duplicate nor hide one.
//!
//! The verdict is the one the in-memory index gave: `duplicate_invoice` on
//! every later occurrence, `related_line` the first occurrence's line; all
//! are counted, and only the ones that can be among the first `max-errors`
//! issues of the file are built (the merger sorts and cuts its lists at
//! finish, so adding them then is exact).
//!
//! A number longer than [`MAX_NUMBER`] bytes is left out of the rule: it is
//! already a `text_too_long` error (InvoiceNumber is at most 50 characters)
//! and its length would not fit the key.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;

use rayon::prelude::*;

use super::issue::{Code, Issue, Severity};
use super::layout::RecordKind;
use super::scan::{Sink, text_of};

/// Longest InvoiceNumber the rule considers (bytes).
pub const MAX_NUMBER: usize = u16::MAX as usize;

/// Default memory for the keys of one file before they spill to disk: about
/// 2.8 M invoices, a bit more than a 1 GB file holds.
pub const DEFAULT_BUDGET: usize = 64 << 20;

/// The UTF-8 byte order mark `scan_chunk` strips at the start of a file.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A 64-bit hash of an InvoiceNumber (multiply-rotate over 8-byte words,
/// finished with the murmur3 mixer). Only used to find candidates: every hit
/// is confirmed on the bytes.
///
/// Numbers of 8 to 16 bytes (nearly all: Daffron's are about 13) are read
/// as two overlapping words, one multiply each: this runs once per invoice.
#[inline(always)]
pub fn hash_bytes(b: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let word = |w: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&w[..8]);
        u64::from_le_bytes(a)
    };
    let n = b.len();
    if (8..=16).contains(&n) {
        let x = word(&b[..8]);
        let y = word(&b[n - 8..]);
        let h = (x ^ K).wrapping_mul(0xff51_afd7_ed55_8ccd)
            ^ (y ^ (n as u64))
                .wrapping_mul(0xc4ce_b9fe_1a85_ec53)
                .rotate_left(29);
        return fmix(h);
    }
    let mut h = (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    fmix(h)
}

/// The murmur3 finaliser: every input bit reaches every output bit.
#[inline]
fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// One InvoiceNumber occurrence: 24 bytes, no copy of the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// [`hash_bytes`] of the number.
    pub hash: u64,
    /// Line (in a chunk: the chunk's line; after the merge: the file's).
    pub line: u64,
    /// Byte offset of the number (in a chunk: in the chunk's slice; after
    /// the merge: in the file) << 16 | its length.
    pub at_len: u64,
}

const KEY_BYTES: usize = 24;

impl Key {
    fn new(hash: u64, line: u64, at: u64, len: usize) -> Key {
        Key {
            hash,
            line,
            at_len: at << 16 | len as u64,
        }
    }

    pub fn offset(&self) -> u64 {
        self.at_len >> 16
    }

    pub fn len(&self) -> usize {
        (self.at_len & 0xFFFF) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn to_bytes(self) -> [u8; KEY_BYTES] {
        let mut b = [0u8; KEY_BYTES];
        b[..8].copy_from_slice(&self.hash.to_le_bytes());
        b[8..16].copy_from_slice(&self.line.to_le_bytes());
        b[16..].copy_from_slice(&self.at_len.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8; KEY_BYTES]) -> Key {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        Key {
            hash: word(0),
            line: word(8),
            at_len: word(16),
        }
    }
}

/// Keys are kept in this many buckets by the top bits of their hash, so
/// that sorting is a sort of many cache-sized buckets on all cores.
const BUCKETS: usize = 256;

#[inline]
fn bucket(k: &Key) -> usize {
    (k.hash >> 56) as usize
}

/// The InvoiceNumbers of one chunk.
#[derive(Debug, Clone, Default)]
pub struct ChunkKeys {
    keys: Vec<Key>,
    /// Set by [`ChunkKeys::set_base`] (on the scanning thread): the keys are
    /// then grouped by bucket, their offsets made file offsets, and
    /// `bounds[b]..bounds[b + 1]` are bucket `b`'s.
    bounds: Option<Box<[u32; BUCKETS + 1]>>,
}

impl ChunkKeys {
    /// Room for the numbers of a chunk of `bytes` bytes (about one invoice
    /// per 400 bytes).
    pub fn for_chunk(bytes: usize) -> ChunkKeys {
        ChunkKeys {
            keys: Vec::with_capacity(bytes / 400 + 1),
            bounds: None,
        }
    }

    /// Records the trimmed `number` found at byte `at` of the chunk, on
    /// chunk line `line`. Empty numbers are a `required` error, not a
    /// duplicate; over-long ones see the module doc.
    #[inline]
    pub fn push(&mut self, line: u64, at: usize, number: &[u8]) {
        if number.is_empty() || number.len() > MAX_NUMBER {
            return;
        }
        self.keys
            .push(Key::new(hash_bytes(number), line, at as u64, number.len()));
    }

    /// `file_offset` is where byte 0 of the slice the scanner numbered `at`
    /// from is in the file. Also groups the keys by bucket: done here, on
    /// the thread that scanned the chunk, it keeps that work out of the
    /// serial merge.
    pub fn set_base(&mut self, file_offset: u64) {
        if self.bounds.is_some() {
            return;
        }
        let shift = file_offset << 16;
        let mut bounds = Box::new([0u32; BUCKETS + 1]);
        for k in &self.keys {
            bounds[bucket(k) + 1] += 1;
        }
        for b in 0..BUCKETS {
            bounds[b + 1] += bounds[b];
        }
        let mut next = [0u32; BUCKETS];
        next.copy_from_slice(&bounds[..BUCKETS]);
        let mut out = vec![
            Key {
                hash: 0,
                line: 0,
                at_len: 0
            };
            self.keys.len()
        ];
        for k in &self.keys {
            let b = bucket(k);
            if let Some(slot) = out.get_mut(next[b] as usize) {
                *slot = Key {
                    at_len: k.at_len + shift,
                    ..*k
                };
            }
            next[b] += 1;
        }
        self.keys = out;
        self.bounds = Some(bounds);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Where the bytes of the numbers are read back from at the end.
pub trait NumberSource: Sync {
    /// Fills `buf` with the bytes at `offset`.
    fn read_number(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl NumberSource for &[u8] {
    fn read_number(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| self.get(o..o.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "number out of range"))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl NumberSource for File {
    fn read_number(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.read_exact_at(buf, offset).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "reading an InvoiceNumber back at byte {offset} (was the file changed while it was validated?): {e}"
                ),
            )
        })
    }
}

/// The keys of the whole file, merged in file order.
pub struct DupIndex {
    /// Keys in memory, by bucket.
    buckets: Vec<Vec<Key>>,
    /// Keys in memory.
    held: usize,
    /// Most keys held in memory before a spill.
    cap: usize,
    /// Sorted runs on disk, in file order.
    runs: Vec<Run>,
    /// Keys added so far.
    total: u64,
    /// Where runs go (default `std::env::temp_dir()`).
    spill_dir: Option<std::path::PathBuf>,
}

impl Default for DupIndex {
    fn default() -> Self {
        DupIndex::new(DEFAULT_BUDGET)
    }
}

/// A run: keys sorted by (hash, line) in a temporary file, bucket after
/// bucket; bucket `b` is keys `bounds[b]..bounds[b + 1]`.
struct Run {
    file: File,
    bounds: Vec<u64>,
}

/// A duplicate found at the end: the later line, the first line, the key.
#[derive(Debug, Clone, Copy)]
struct Found {
    line: u64,
    first: u64,
    key: Key,
}

impl DupIndex {
    /// An index that keeps at most `budget` bytes of keys in memory (plus
    /// one chunk's and a quarter for growth).
    pub fn new(budget: usize) -> DupIndex {
        DupIndex {
            buckets: Vec::new(),
            held: 0,
            cap: (budget / KEY_BYTES).max(1),
            runs: Vec::new(),
            total: 0,
            spill_dir: None,
        }
    }

    /// Spills runs into `dir` instead of `std::env::temp_dir()`.
    pub fn set_spill_dir(&mut self, dir: std::path::PathBuf) {
        self.spill_dir = Some(dir);
    }

    pub fn set_budget(&mut self, budget: usize) {
        self.cap = (budget / KEY_BYTES).max(1);
    }

    /// Expects about `n` numbers: reserves room up to the budget (address
    /// space only until written).
    pub fn reserve(&mut self, n: usize) {
        let each = n.min(self.cap) / BUCKETS;
        let each = each + each / 10 + 16;
        self.buckets.resize_with(BUCKETS, Vec::new);
        for b in &mut self.buckets {
            if b.capacity() < each {
                b.reserve_exact(each - b.len());
            }
        }
    }

    /// Keys added so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Runs spilled to disk so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Adds the next chunk's keys; `line_base` is the file line before the
    /// chunk.
    pub fn add_chunk(&mut self, c: &ChunkKeys, line_base: u64) {
        if c.keys.is_empty() {
            return;
        }
        let mut sealed;
        let c = if c.bounds.is_some() {
            c
        } else {
            sealed = c.clone();
            sealed.set_base(0);
            &sealed
        };
        let Some(bounds) = &c.bounds else { return };
        if self.held > 0 && self.held + c.keys.len() > self.cap {
            self.spill();
        }
        self.buckets.resize_with(BUCKETS, Vec::new);
        for (b, dst) in self.buckets.iter_mut().enumerate() {
            let part = c
                .keys
                .get(bounds[b] as usize..bounds[b + 1] as usize)
                .unwrap_or_default();
            if dst.capacity() - dst.len() < part.len() {
                // Grow by a quarter, not double: the budget is the bound.
                dst.reserve_exact(part.len().max(dst.len() / 4 + 64));
            }
            dst.extend(part.iter().map(|k| Key {
                line: k.line + line_base,
                ..*k
            }));
        }
        self.held += c.keys.len();
        self.total += c.keys.len() as u64;
    }

    /// Sorts every bucket (on all cores when `parallel`); the buckets, in
    /// order, are then sorted by (hash, line) as a whole.
    ///
    /// A spill happens inside the merge, under the validator's lock: there
    /// it must not call into rayon (a pool thread waiting for its half of a
    /// parallel sort may pick up a task that wants the same lock).
    fn sort(&mut self, parallel: bool) {
        if parallel {
            self.buckets.par_iter_mut().for_each(|b| sort_bucket(b));
        } else {
            self.buckets.iter_mut().for_each(|b| sort_bucket(b));
        }
    }

    /// Sorts the keys in memory and writes them as a run. When the disk
    /// refuses, the keys stay in memory (the verdict stays exact; only the
    /// bound is lost) and a warning says where to make room.
    fn spill(&mut self) {
        self.sort(false);
        let dir = self.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
        let written = (|| -> io::Result<Run> {
            let mut f = tempfile::tempfile_in(&dir)?;
            {
                let mut w = BufWriter::with_capacity(1 << 20, &mut f);
                for k in self.buckets.iter().flatten() {
                    w.write_all(&k.to_bytes())?;
                }
                w.flush()?;
            }
            let mut bounds = Vec::with_capacity(BUCKETS + 1);
            let mut at = 0u64;
            bounds.push(at);
            for b in &self.buckets {
                at += b.len() as u64;
                bounds.push(at);
            }
            Ok(Run { file: f, bounds })
        })();
        match written {
            Ok(run) => {
                self.runs.push(run);
                self.buckets.iter_mut().for_each(Vec::clear);
                self.held = 0;
            }
            Err(e) => {
                tracing::warn!(
                    "cannot spill the duplicate-invoice index to {} ({e}); keeping it in memory: \
                     point TMPDIR at a directory with free space",
                    dir.display()
                );
                // Try again only when the memory doubled.
                self.cap = self.cap.saturating_mul(2);
            }
        }
    }

    /// Sorts, merges and confirms; reports every duplicate into `sink`
    /// (all counted, at most `max` built: the ones with the smallest lines).
    pub fn finish(
        mut self,
        numbers: &dyn NumberSource,
        sink: &mut Sink,
        max: usize,
    ) -> io::Result<()> {
        let started = std::time::Instant::now();
        let mut finds = Finds::new(max);
        if self.runs.is_empty() {
            // Nearly every hash is alone: no sort, a small hash table per
            // bucket (on all cores) finds the repeated ones, which are then
            // confirmed here.
            let groups: Vec<&[Key]> = self
                .buckets
                .par_iter_mut()
                .map(|b| {
                    let n = repeated_first(b);
                    &b[..n]
                })
                .flat_map_iter(equal_hashes)
                .collect();
            let mut group = Group::default();
            for g in groups {
                for &k in g {
                    group.next(k, numbers, &mut finds)?;
                }
            }
        } else {
            // Equal hashes share a bucket: each bucket merges its part of
            // every run with its keys in memory, on all cores.
            let runs = &self.runs;
            let parts: Vec<io::Result<Finds>> = self
                .buckets
                .par_iter_mut()
                .enumerate()
                .map(|(b, mem)| {
                    sort_bucket(mem);
                    let mut finds = Finds::new(max);
                    let mut group = Group::default();
                    let mut merge = RunMerge::new(runs, b, mem)?;
                    while let Some(k) = merge.next()? {
                        group.next(k, numbers, &mut finds)?;
                    }
                    Ok(finds)
                })
                .collect();
            for part in parts {
                finds.join(part?);
            }
        }
        let Finds {
            count, mut kept, ..
        } = finds;
        keep_smallest(&mut kept, max);
        // Counted by severity, as `Sink::report` does.
        let kept_n = kept.len() as u64;
        let mut buf = Vec::new();
        for f in kept {
            buf.resize(f.key.len(), 0);
            numbers.read_number(f.key.offset(), &mut buf)?;
            let n = text_of(&buf);
            sink.report(Code::DuplicateInvoice, f.line, || {
                duplicate_issue(f.line, f.first, &n)
            });
        }
        tracing::debug!(
            keys = self.total,
            runs = self.runs.len(),
            duplicates = count,
            "duplicate-invoice pass: {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        let rest = count - kept_n;
        match Code::DuplicateInvoice.severity() {
            Severity::Error => sink.error_count += rest,
            Severity::Warning => sink.warning_count += rest,
        }
        Ok(())
    }
}

/// Sorts one bucket by (hash, line): by hash alone (one integer compare),
/// then the rare runs of equal hashes by line.
fn sort_bucket(b: &mut [Key]) {
    b.sort_unstable_by_key(|k| k.hash);
    let mut i = 0;
    while i + 1 < b.len() {
        let mut j = i + 1;
        while j < b.len() && b[j].hash == b[i].hash {
            j += 1;
        }
        if j - i > 1 {
            b[i..j].sort_unstable();
        }
        i = j;
    }
}

/// The duplicates found: all counted, the `max` with the smallest lines
/// kept (and a little more, cut from time to time).
struct Finds {
    count: u64,
    kept: Vec<Found>,
    max: usize,
}

impl Finds {
    fn new(max: usize) -> Finds {
        Finds {
            count: 0,
            kept: Vec::new(),
            max,
        }
    }

    fn add(&mut self, f: Found) {
        self.count += 1;
        self.kept.push(f);
        if self.kept.len() > self.max.saturating_mul(2).max(1024) {
            keep_smallest(&mut self.kept, self.max);
        }
    }

    fn join(&mut self, other: Finds) {
        self.count += other.count;
        self.kept.extend(other.kept);
        if self.kept.len() > self.max.saturating_mul(2).max(1024) {
            keep_smallest(&mut self.kept, self.max);
        }
    }
}

/// Moves the keys whose hash occurs more than once in `keys` to its front,
/// sorted by (hash, line), and answers how many they are. The rest is left
/// unsorted: finding repeats with a hash table is several times cheaper
/// than sorting, and repeats are rare.
fn repeated_first(keys: &mut [Key]) -> usize {
    const REPEATED: u32 = 1 << 31;
    if keys.len() < 2 || keys.len() >= REPEATED as usize {
        // Too big for the table's indexes: sort it all.
        keys.sort_unstable();
        return keys.len();
    }
    let mask = (keys.len() * 2).next_power_of_two() - 1;
    // Slot: index + 1 of the first key of a hash (0: free), REPEATED set
    // once a second key has the same hash.
    let mut table = vec![0u32; mask + 1];
    let slot_of = |table: &[u32], hash: u64| -> usize {
        let mut p = hash as usize & mask;
        loop {
            let t = table[p];
            if t == 0 || keys_hash(keys, t) == hash {
                return p;
            }
            p = (p + 1) & mask;
        }
    };
    fn keys_hash(keys: &[Key], t: u32) -> u64 {
        keys.get(((t & !REPEATED) - 1) as usize)
            .map_or(0, |k| k.hash)
    }
    let mut any = false;
    for (i, k) in keys.iter().enumerate() {
        let p = slot_of(&table, k.hash);
        if table[p] == 0 {
            table[p] = i as u32 + 1;
        } else {
            table[p] |= REPEATED;
            any = true;
        }
    }
    if !any {
        return 0;
    }
    // The table points at keys by index: decide every key first, then move.
    let flags: Vec<bool> = keys
        .iter()
        .map(|k| table[slot_of(&table, k.hash)] & REPEATED != 0)
        .collect();
    let mut n = 0;
    for (i, rep) in flags.into_iter().enumerate() {
        if rep {
            keys.swap(n, i);
            n += 1;
        }
    }
    keys[..n].sort_unstable();
    n
}

/// The runs of two or more keys with the same hash in a sorted slice.
fn equal_hashes(keys: &[Key]) -> Vec<&[Key]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < keys.len() {
        if keys[i].hash != keys[i + 1].hash {
            i += 1;
            continue;
        }
        let mut j = i + 2;
        while j < keys.len() && keys[j].hash == keys[i].hash {
            j += 1;
        }
        out.push(&keys[i..j]);
        i = j;
    }
    out
}

/// The `duplicate_invoice` issue, as the rule has always worded it.
fn duplicate_issue(line: u64, first: u64, number: &str) -> Issue {
    Issue::new(
        Code::DuplicateInvoice,
        Some(line),
        format!("InvoiceNumber {number} is also on line {{related}}"),
    )
    .related(first)
    .record(RecordKind::IH)
    .field("InvoiceNumber", 4)
    .value(number)
}

/// Keeps the `max` finds with the smallest lines, sorted by line.
fn keep_smallest(kept: &mut Vec<Found>, max: usize) {
    if kept.len() > max {
        if max == 0 {
            kept.clear();
            return;
        }
        kept.select_nth_unstable_by_key(max - 1, |f| f.line);
        kept.truncate(max);
    }
    kept.sort_unstable_by_key(|f| f.line);
}

/// The keys of one hash, in line order, confirmed on the bytes.
#[derive(Default)]
struct Group {
    hash: u64,
    /// The group's first key, until a second one needs its bytes.
    first: Option<Key>,
    /// The distinct numbers of the group so far: bytes, first line.
    distinct: Vec<(Vec<u8>, u64)>,
    buf: Vec<u8>,
}

impl Group {
    fn next(&mut self, k: Key, numbers: &dyn NumberSource, finds: &mut Finds) -> io::Result<()> {
        if self.first.is_none() || k.hash != self.hash {
            self.hash = k.hash;
            self.first = Some(k);
            self.distinct.clear();
            return Ok(());
        }
        if self.distinct.is_empty()
            && let Some(f) = self.first
        {
            let mut b = vec![0u8; f.len()];
            numbers.read_number(f.offset(), &mut b)?;
            self.distinct.push((b, f.line));
        }
        self.buf.resize(k.len(), 0);
        numbers.read_number(k.offset(), &mut self.buf)?;
        match self.distinct.iter().find(|(b, _)| *b == self.buf) {
            Some(&(_, first)) => finds.add(Found {
                line: k.line,
                first,
                key: k,
            }),
            None => self.distinct.push((self.buf.clone(), k.line)),
        }
        Ok(())
    }
}

/// Bucket `b` of one run, read with `pread` a block at a time.
struct Segment<'a> {
    file: &'a File,
    /// Next byte to read, and the end.
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    at: usize,
    block: usize,
}

impl Segment<'_> {
    fn next(&mut self) -> io::Result<Option<Key>> {
        if self.at + KEY_BYTES > self.buf.len() {
            let n = (self.end - self.pos).min(self.block as u64) as usize;
            if n < KEY_BYTES {
                return Ok(None);
            }
            self.buf.resize(n, 0);
            self.file
                .read_exact_at(&mut self.buf, self.pos)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("reading back a duplicate-index spill file: {e}"),
                    )
                })?;
            self.pos += n as u64;
            self.at = 0;
        }
        let mut b = [0u8; KEY_BYTES];
        b.copy_from_slice(&self.buf[self.at..self.at + KEY_BYTES]);
        self.at += KEY_BYTES;
        Ok(Some(Key::from_bytes(&b)))
    }
}

/// A k-way merge of one bucket of every run and of memory, in (hash, line)
/// order.
struct RunMerge<'a> {
    segments: Vec<Segment<'a>>,
    memory: std::slice::Iter<'a, Key>,
    /// (key, source): source `segments.len()` is memory.
    heap: BinaryHeap<Reverse<(Key, usize)>>,
}

impl<'a> RunMerge<'a> {
    fn new(runs: &'a [Run], b: usize, memory: &'a [Key]) -> io::Result<RunMerge<'a>> {
        // Read buffers of a bucket share about 4 MB, 4 to 64 KB each.
        let block = ((4 << 20) / (runs.len() + 1)).clamp(4 << 10, 64 << 10);
        let block = block / KEY_BYTES * KEY_BYTES;
        let segments = runs
            .iter()
            .map(|r| Segment {
                file: &r.file,
                pos: r.bounds.get(b).copied().unwrap_or(0) * KEY_BYTES as u64,
                end: r.bounds.get(b + 1).copied().unwrap_or(0) * KEY_BYTES as u64,
                buf: Vec::new(),
                at: 0,
                block,
            })
            .collect();
        let mut m = RunMerge {
            segments,
            memory: memory.iter(),
            heap: BinaryHeap::new(),
        };
        for i in 0..=m.segments.len() {
            m.refill(i)?;
        }
        Ok(m)
    }

    fn refill(&mut self, src: usize) -> io::Result<()> {
        let key = match self.segments.get_mut(src) {
            Some(s) => s.next()?,
            None => self.memory.next().copied(),
        };
        if let Some(k) = key {
            self.heap.push(Reverse((k, src)));
        }
        Ok(())
    }

    fn next(&mut self) -> io::Result<Option<Key>> {
        let Some(Reverse((k, src))) = self.heap.pop() else {
            return Ok(None);
        };
        self.refill(src)?;
        Ok(Some(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(
        numbers: &[(&[u8], u64)],
        budget: usize,
        force_hash: Option<u64>,
    ) -> (Vec<u8>, DupIndex) {
        // Lay the numbers out as a "file", one per line.
        let mut file = Vec::new();
        let mut idx = DupIndex::new(budget);
        for chunk in numbers.chunks(3) {
            let base = file.len() as u64;
            let mut c = ChunkKeys::for_chunk(0);
            let mut local = Vec::new();
            for &(n, line) in chunk {
                let at = local.len();
                local.extend_from_slice(n);
                local.push(b'\n');
                c.push(line, at, n);
                if let (Some(h), Some(k)) = (force_hash, c.keys.last_mut()) {
                    k.hash = h ^ (n.len() as u64 & 1);
                }
            }
            c.set_base(base);
            file.extend_from_slice(&local);
            idx.add_chunk(&c, 0);
        }
        (file, idx)
    }

    fn dups(
        numbers: &[(&[u8], u64)],
        budget: usize,
        force: Option<u64>,
        max: usize,
    ) -> (Vec<(u64, u64, String)>, u64, usize) {
        let (file, idx) = index_of(numbers, budget, force);
        let runs = idx.runs();
        let mut sink = Sink::new(usize::MAX);
        let src: &[u8] = &file;
        idx.finish(&src, &mut sink, max).unwrap();
        let list = sink
            .errors
            .iter()
            .map(|i| {
                (
                    i.line.unwrap(),
                    i.related_line.unwrap(),
                    i.value.clone().unwrap_or_default(),
                )
            })
            .collect();
        (list, sink.error_count, runs)
    }

    fn sample() -> Vec<(&'static [u8], u64)> {
        let mut v: Vec<(&'static [u8], u64)> = Vec::new();
        let names: [&[u8]; 6] = [b"A1", b"B22", b"A1", b"C333", b"B22", b"A1"];
        for (i, n) in names.iter().cycle().take(60).enumerate() {
            v.push((n, i as u64 + 1));
        }
        v
    }

    #[test]
    fn first_occurrence_is_related_and_all_are_counted() {
        let (list, count, runs) = dups(&sample(), DEFAULT_BUDGET, None, 1000);
        assert_eq!(runs, 0);
        // 60 numbers, 3 distinct: 57 duplicates.
        assert_eq!(count, 57);
        assert_eq!(list.len(), 57);
        assert_eq!(list[0], (3, 1, "A1".to_string()));
        assert_eq!(list[1], (5, 2, "B22".to_string()));
        assert!(list.iter().all(|(l, f, _)| f < l && [1, 2, 4].contains(f)));
        assert!(list.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn spilling_and_forced_collisions_give_the_same_verdict() {
        let want = dups(&sample(), DEFAULT_BUDGET, None, 1000);
        for budget in [1, KEY_BYTES, 5 * KEY_BYTES, 17 * KEY_BYTES] {
            for force in [None, Some(42)] {
                let got = dups(&sample(), budget, force, 1000);
                assert!(budget >= DEFAULT_BUDGET || got.2 > 0, "spilled at {budget}");
                assert_eq!(
                    (&got.0, got.1),
                    (&want.0, want.1),
                    "budget {budget}, force {force:?}"
                );
            }
        }
    }

    #[test]
    fn a_disk_that_refuses_keeps_the_keys_in_memory() {
        let want = dups(&sample(), DEFAULT_BUDGET, None, 1000);
        let (file, mut idx) = index_of(&sample()[..3], 1, None);
        idx.set_spill_dir("/nonexistent/daffron-bridge-test".into());
        // The rest of the sample, chunk by chunk, each over the budget.
        let rest = &sample()[3..];
        let mut file = file;
        for chunk in rest.chunks(3) {
            let base = file.len() as u64;
            let mut c = ChunkKeys::for_chunk(0);
            for &(n, line) in chunk {
                c.push(line, file.len() - base as usize, n);
                file.extend_from_slice(n);
                file.push(b'\n');
            }
            c.set_base(base);
            idx.add_chunk(&c, 0);
        }
        assert_eq!(idx.runs(), 0);
        assert_eq!(idx.total(), 60);
        let mut sink = Sink::new(usize::MAX);
        let src: &[u8] = &file;
        idx.finish(&src, &mut sink, 1000).unwrap();
        assert_eq!(sink.error_count, want.1);
        assert_eq!(sink.errors.len(), want.0.len());
    }

    #[test]
    fn only_the_first_max_are_built() {
        let all = dups(&sample(), DEFAULT_BUDGET, None, 1000);
        for max in [0, 1, 5] {
            for budget in [KEY_BYTES * 4, DEFAULT_BUDGET] {
                let (list, count, _) = dups(&sample(), budget, Some(7), max);
                assert_eq!(count, 57);
                assert_eq!(list, all.0[..max].to_vec(), "max {max}");
            }
        }
    }

    #[test]
    fn buckets_in_order_are_sorted() {
        let mut h = 1u64;
        let mut idx = DupIndex::new(DEFAULT_BUDGET);
        let mut all = Vec::new();
        for chunk in 0..10u64 {
            let mut c = ChunkKeys::for_chunk(0);
            for i in 0..10_000u64 {
                h = h
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Some equal hashes, to order by line.
                let hash = if i % 7 == 0 { 42 << 56 } else { h };
                c.keys.push(Key::new(hash, 10_000 - i, i, 1));
                all.push(Key::new(
                    hash,
                    10_000 - i + chunk * 10_000,
                    i + chunk * 100,
                    1,
                ));
            }
            c.set_base(chunk * 100);
            idx.add_chunk(&c, chunk * 10_000);
        }
        idx.sort(true);
        all.sort();
        let got: Vec<Key> = idx.buckets.iter().flatten().copied().collect();
        assert_eq!(got, all);
        assert_eq!(idx.total(), 100_000);
    }

    #[test]
    fn repeated_hashes_come_first_in_order() {
        let mut keys: Vec<Key> = [5u64, 9, 5, 7, 9, 1, 5, 0, 0]
            .iter()
            .enumerate()
            .map(|(i, &h)| Key::new(h, 100 - i as u64, 0, 1))
            .collect();
        let n = repeated_first(&mut keys);
        let got: Vec<(u64, u64)> = keys[..n].iter().map(|k| (k.hash, k.line)).collect();
        assert_eq!(
            got,
            [
                (0, 92),
                (0, 93),
                (5, 94),
                (5, 98),
                (5, 100),
                (9, 96),
                (9, 99)
            ]
        );
        let mut rest: Vec<u64> = keys[n..].iter().map(|k| k.hash).collect();
        rest.sort();
        assert_eq!(rest, [1, 7]);
        let mut alone = vec![Key::new(3, 1, 0, 1), Key::new(4, 2, 0, 1)];
        assert_eq!(repeated_first(&mut alone), 0);
    }

    #[test]
    fn collisions_alone_are_not_duplicates() {
        let v: Vec<(&[u8], u64)> = vec![(b"X", 1), (b"Y", 2), (b"Z", 3), (b"W", 4)];
        let (list, count, _) = dups(&v, KEY_BYTES, Some(1), 10);
        assert_eq!((list.len(), count), (0, 0));
    }

    #[test]
    fn keys_round_trip_and_skip_empty_and_huge_numbers() {
        let k = Key::new(u64::MAX, 1 << 40, (1 << 47) + 5, 65535);
        assert_eq!(Key::from_bytes(&k.to_bytes()), k);
        assert_eq!((k.offset(), k.len()), ((1 << 47) + 5, 65535));
        let mut c = ChunkKeys::for_chunk(0);
        c.push(1, 0, b"");
        c.push(2, 0, &vec![b'1'; MAX_NUMBER + 1]);
        assert!(c.is_empty());
        c.push(3, 9, b"12");
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_source_out_of_range_is_an_error_not_a_panic() {
        let mut b = [0u8; 4];
        let (abc, abcdef): (&[u8], &[u8]) = (b"abc", b"abcdef");
        assert!(abc.read_number(1, &mut b).is_err());
        assert!(abc.read_number(u64::MAX, &mut b).is_err());
        abcdef.read_number(2, &mut b).unwrap();
        assert_eq!(&b, b"cdef");
    }
}

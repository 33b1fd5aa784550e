//! The duplicate-InvoiceNumber rule (`interface.md` §1.1: an InvoiceNumber
//! appears once per file; IC rejects the second one), in bounded memory.
//!
//! Why not a hash table of the numbers: it grows with the file (16-40 bytes
//! per invoice, 2.3 M invoices per GB) and is filled serially by the merge.
//! Instead every InvoiceNumber leaves a fixed-size [`Key`] — its hash, its
//! line, where its bytes are in the file and how long they are — and no copy
//! of the bytes. Keys are collected in a `Vec` under a memory budget
//! ([`DEFAULT_BUDGET`]); past it the `Vec` is sorted by (hash, line) and
//! spilled as a *run* to an unnamed temporary file (deleted when closed). At
//! the end the keys in memory are sorted too, all runs are merged
//! (k-way, in (hash, line) order), and each group of equal hashes is
//! confirmed on the real bytes, read back from the file ([`NumberSource`]),
//! so a hash collision can neither make a false duplicate nor hide one.
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
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::os::unix::fs::FileExt;

use rayon::slice::ParallelSliceMut;

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
pub fn hash_bytes(b: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
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

/// The InvoiceNumbers of one chunk, as keys relative to the chunk.
#[derive(Debug, Clone, Default)]
pub struct ChunkKeys {
    keys: Vec<Key>,
    /// File offset of byte 0 of the slice the scanner numbered `at` from
    /// (set by the caller, after a BOM strip).
    base: u64,
}

impl ChunkKeys {
    /// Room for the numbers of a chunk of `bytes` bytes (about one invoice
    /// per 400 bytes).
    pub fn for_chunk(bytes: usize) -> ChunkKeys {
        ChunkKeys {
            keys: Vec::with_capacity(bytes / 400 + 1),
            base: 0,
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

    pub fn set_base(&mut self, file_offset: u64) {
        self.base = file_offset;
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
    keys: Vec<Key>,
    /// Most keys held in memory before a spill.
    cap: usize,
    /// Sorted runs on disk, in file order.
    runs: Vec<File>,
    /// Keys added so far.
    total: u64,
}

impl Default for DupIndex {
    fn default() -> Self {
        DupIndex::new(DEFAULT_BUDGET)
    }
}

/// A duplicate found at the end: the later line, the first line, the key.
#[derive(Debug, Clone, Copy)]
struct Found {
    line: u64,
    first: u64,
    key: Key,
}

impl DupIndex {
    /// An index that keeps at most `budget` bytes of keys in memory.
    pub fn new(budget: usize) -> DupIndex {
        DupIndex {
            keys: Vec::new(),
            cap: (budget / KEY_BYTES).max(1),
            runs: Vec::new(),
            total: 0,
        }
    }

    pub fn set_budget(&mut self, budget: usize) {
        self.cap = (budget / KEY_BYTES).max(1);
    }

    /// Expects about `n` numbers: reserves room up to the budget.
    pub fn reserve(&mut self, n: usize) {
        let want = n.min(self.cap);
        if want > self.keys.capacity() {
            self.keys.reserve_exact(want - self.keys.len());
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
        let shift = c.base << 16;
        for k in &c.keys {
            if self.keys.len() >= self.cap {
                self.spill();
            }
            self.keys.push(Key {
                hash: k.hash,
                line: k.line + line_base,
                at_len: k.at_len + shift,
            });
        }
        self.total += c.keys.len() as u64;
    }

    /// Sorts the keys in memory and writes them as a run. When the disk
    /// refuses, the keys stay in memory (the verdict stays exact; only the
    /// bound is lost) and a warning says where to make room.
    fn spill(&mut self) {
        self.keys.par_sort_unstable();
        let dir = std::env::temp_dir();
        let written = (|| -> io::Result<File> {
            let mut f = tempfile::tempfile_in(&dir)?;
            {
                let mut w = BufWriter::with_capacity(1 << 20, &mut f);
                for k in &self.keys {
                    w.write_all(&k.to_bytes())?;
                }
                w.flush()?;
            }
            Ok(f)
        })();
        match written {
            Ok(f) => {
                self.runs.push(f);
                self.keys.clear();
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
        self.keys.par_sort_unstable();
        let mut count = 0u64;
        let mut kept: Vec<Found> = Vec::new();
        let mut found = |f: Found| {
            count += 1;
            kept.push(f);
            if kept.len() > max.saturating_mul(2).max(1024) {
                keep_smallest(&mut kept, max);
            }
        };
        let mut group = Group::default();
        if self.runs.is_empty() {
            for &k in &self.keys {
                group.next(k, numbers, &mut found)?;
            }
        } else {
            let mut merge = RunMerge::new(&mut self.runs, &self.keys)?;
            while let Some(k) = merge.next()? {
                group.next(k, numbers, &mut found)?;
            }
        }
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
        let rest = count - kept_n;
        match Code::DuplicateInvoice.severity() {
            Severity::Error => sink.error_count += rest,
            Severity::Warning => sink.warning_count += rest,
        }
        Ok(())
    }
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
    fn next(
        &mut self,
        k: Key,
        numbers: &dyn NumberSource,
        found: &mut impl FnMut(Found),
    ) -> io::Result<()> {
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
            Some(&(_, first)) => found(Found {
                line: k.line,
                first,
                key: k,
            }),
            None => self.distinct.push((self.buf.clone(), k.line)),
        }
        Ok(())
    }
}

/// A k-way merge of the sorted runs and the sorted keys in memory.
struct RunMerge<'a> {
    readers: Vec<BufReader<&'a mut File>>,
    memory: std::slice::Iter<'a, Key>,
    /// (key, source): source `readers.len()` is memory.
    heap: BinaryHeap<Reverse<(Key, usize)>>,
}

impl<'a> RunMerge<'a> {
    fn new(runs: &'a mut [File], memory: &'a [Key]) -> io::Result<RunMerge<'a>> {
        // Read buffers share about 16 MB, at least 64 KB each.
        let each = ((16 << 20) / (runs.len() + 1)).max(64 << 10);
        let mut readers = Vec::with_capacity(runs.len());
        for f in runs {
            f.rewind()?;
            readers.push(BufReader::with_capacity(each, f));
        }
        let mut m = RunMerge {
            readers,
            memory: memory.iter(),
            heap: BinaryHeap::new(),
        };
        for i in 0..=m.readers.len() {
            m.refill(i)?;
        }
        Ok(m)
    }

    fn refill(&mut self, src: usize) -> io::Result<()> {
        let key = match self.readers.get_mut(src) {
            Some(r) => read_key(r)?,
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

fn read_key(r: &mut impl Read) -> io::Result<Option<Key>> {
    let mut b = [0u8; KEY_BYTES];
    let mut got = 0;
    while got < KEY_BYTES {
        match r.read(&mut b[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "a duplicate-index spill file was cut short",
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(Key::from_bytes(&b)))
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

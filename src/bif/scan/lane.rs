//! The AVX-512 lane of the scanner.
//!
//! Nearly every row of a real BIF file is an ordinary, valid IH, CR or ID
//! row. This lane takes a line at a time: it finds the line's end and its
//! `|`s 64 bytes per instruction, and checks each field as its `|` is found,
//! with the class of every byte of the field (digit, hex, `-`, `.`, `@`,
//! space...) computed at once as a 64-bit mask. A field check is then a few
//! bit operations instead of a loop over its bytes. Two row shapes skip
//! the field-by-field walk: an ID row (a text and an amount) is checked
//! from its one 64-byte step, and an IH or CR row, where the CPU has VBMI2,
//! from its three ([`whole`]).
//!
//! The lane only ever *accepts*: a row it is not sure of (a field that does
//! not pass, an unusual place, a non-ASCII byte, an FH row, a long line...)
//! is handed, unchanged, to the general path of [`Scanner::line`], which
//! decides and reports. So each check here only has to be *sound*: it may
//! pass a field only when [`Compiled::check`] passes it too, with the same
//! value (property-tested against the scalar checks in `tests`).

use std::arch::x86_64::*;

pub(super) mod whole;

use super::{
    Compiled, MAX_KEPT_FIELDS, MAX_LINE, Op, Order, RecordKind, RowVals, Scanner, TextAmount,
    end_line, format, trim,
};

/// Whether this CPU can run the lane.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("popcnt")
        && std::arch::is_x86_feature_detected!("lzcnt")
}

/// Lines longer than this go to the general path whole (no BIF row is
/// near it; the lane keeps its bookkeeping to one pass).
const LANE_MAX_LINE: usize = 4096;

/// How far ahead of the line being checked its bytes are fetched.
const PREFETCH: usize = 1024;

/// The low `n` bits (all of them from 64 on), with BMI2's `bzhi`.
#[target_feature(enable = "bmi2")]
#[inline]
fn ones(n: usize) -> u64 {
    _bzhi_u64(u64::MAX, n as u32)
}

/// The same as [`ones`], in plain Rust: for the helpers that are always
/// inlined and so carry no target features of their own.
#[inline(always)]
fn low(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// A field's verdict in the lane.
enum Verdict {
    /// Nothing but blanks.
    Empty,
    /// Passes: trimmed span and the value the rules keep (as
    /// [`Compiled::check`] answers it).
    Pass(usize, usize, u64),
    /// Not sure: the general path decides.
    Unsure,
}

/// Checks the field `bytes[a..b]` (untrimmed, ASCII) with `op`. `want`:
/// the rules keep the field's value (an amount's cents are only computed
/// then).
///
/// # Safety
/// The CPU must have the lane's features; `a <= b <= bytes.len()`.
#[target_feature(enable = "avx512f,avx512bw,bmi1,bmi2,popcnt,lzcnt")]
#[inline]
unsafe fn field(c: &Compiled, op: Op, want: bool, bytes: &[u8], a: usize, b: usize) -> Verdict {
    let n0 = b - a;
    if n0 == 0 {
        return Verdict::Empty;
    }
    // Text is only a length (ASCII: bytes are characters): no load unless
    // there is something to trim.
    if let Op::Text { min, max } = op {
        let (first, last) = (bytes[a], bytes[b - 1]);
        if !matches!(first, b' ' | b'\t') && !matches!(last, b' ' | b'\t') {
            return if (min..=max).contains(&n0) {
                Verdict::Pass(a, b, 0)
            } else {
                Verdict::Unsure
            };
        }
    }
    if n0 > 64 {
        let v = trim(&bytes[a..b]);
        if v.is_empty() {
            return Verdict::Empty;
        }
        let start = a + (v.as_ptr() as usize - bytes[a..].as_ptr() as usize);
        return match c.check(op, v, true) {
            Ok(x) => Verdict::Pass(start, start + v.len(), x),
            Err(_) => Verdict::Unsure,
        };
    }
    // Every class mask below is cut to the field's bits, so the bytes after
    // it may be anything: a plain load where 64 bytes are there, else a
    // masked one.
    let v = if a + 64 <= bytes.len() {
        // SAFETY: bytes[a..a + 64] is inside the slice.
        unsafe { _mm512_loadu_si512(bytes.as_ptr().add(a).cast()) }
    } else {
        // SAFETY: the mask covers exactly bytes[a..b], inside the slice;
        // masked off bytes are neither read nor can they fault.
        unsafe { _mm512_maskz_loadu_epi8(ones(n0), bytes.as_ptr().add(a).cast()) }
    };
    let eq = |x: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(x as i8));
    let blank = (eq(b' ') | eq(b'\t')) & ones(n0);
    let (lead, n) = if blank == 0 {
        (0, n0)
    } else {
        let solid = !blank & ones(n0);
        if solid == 0 {
            return Verdict::Empty;
        }
        let lead = solid.trailing_zeros() as usize;
        let end = 64 - solid.leading_zeros() as usize;
        (lead, end - lead)
    };
    let (s, e) = (a + lead, a + lead + n);
    let all = ones(n);
    // Class masks of the trimmed value: bit i is byte s + i.
    let cls = |m: u64| (m >> lead) & all;
    let digit = || {
        cls(_mm512_cmplt_epu8_mask(
            _mm512_sub_epi8(v, _mm512_set1_epi8(b'0' as i8)),
            _mm512_set1_epi8(10),
        ))
    };
    let pass = |x: u64| Verdict::Pass(s, e, x);
    let val = &bytes[s..e];
    match op {
        Op::Text { min, max } => {
            if (min..=max).contains(&n) {
                pass(0)
            } else {
                Verdict::Unsure
            }
        }
        Op::Digits => {
            if digit() == all {
                pass(0)
            } else {
                Verdict::Unsure
            }
        }
        Op::Amount => {
            if !amount_shape(val[0] == b'-', digit(), cls(eq(b'.')), n) {
                return Verdict::Unsure;
            }
            if !want {
                return pass(0);
            }
            match format::amount_cents(val) {
                Ok(x) => pass(x as u64),
                Err(_) => Verdict::Unsure,
            }
        }
        Op::DateMdy => {
            // mm/dd/yyyy: digits at 0,1,3,4,6..9, slashes at 2 and 5.
            if n != 10 || digit() != 0b11_1101_1011 || cls(eq(b'/')) != 0b00_0010_0100 {
                return Verdict::Unsure;
            }
            let d = |i: usize| u16::from(val[i] - b'0');
            let month = d(0) * 10 + d(1);
            let day = d(3) * 10 + d(4);
            let year = d(6) * 1000 + d(7) * 100 + d(8) * 10 + d(9);
            match format::calendar(year, month as u8, day as u8) {
                Ok(ymd) => pass(super::pack_date(ymd)),
                Err(_) => Verdict::Unsure,
            }
        }
        Op::Guid => {
            const DASHES: u64 = 1 << 8 | 1 << 13 | 1 << 18 | 1 << 23;
            if n != 36 {
                return Verdict::Unsure;
            }
            let lower = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
            let af = cls(_mm512_cmplt_epu8_mask(
                _mm512_sub_epi8(lower, _mm512_set1_epi8(b'a' as i8)),
                _mm512_set1_epi8(6),
            ));
            if cls(eq(b'-')) == DASHES && (digit() | af) == all & !DASHES {
                pass(0)
            } else {
                Verdict::Unsure
            }
        }
        Op::Account | Op::BaseBctr => {
            // Digits, one dash, digits.
            let other = all & !digit();
            let single = other != 0 && other & (other - 1) == 0;
            if single && other & cls(eq(b'-')) == other && other & 1 == 0 && other >> (n - 1) == 0 {
                pass(0)
            } else {
                Verdict::Unsure
            }
        }
        Op::Phone => {
            let punct = eq(b' ') | eq(b'-') | eq(b'.') | eq(b'(') | eq(b')') | eq(b'+');
            if phone_shape(val, digit(), cls(punct), all) {
                pass(0)
            } else {
                Verdict::Unsure
            }
        }
        Op::Email => {
            let control = _mm512_cmple_epu8_mask(v, _mm512_set1_epi8(b' ' as i8)) | eq(0x7f);
            if email_shape(cls(eq(b'@')), cls(control), cls(eq(b'.')), n) {
                pass(0)
            } else {
                Verdict::Unsure
            }
        }
        // The rest are short or rare: the scalar check.
        _ => match c.check(op, val, true) {
            Ok(x) => pass(x),
            Err(_) => Verdict::Unsure,
        },
    }
}

/// An amount's shape from its class masks (bit i: byte i of the trimmed
/// value, `n` bytes): optional `-`, 1 to 16 digits, optionally `.` and one
/// or two digits (see [`format::amount_cents`]).
#[inline(always)]
fn amount_shape(neg: bool, digits: u64, dots: u64, n: usize) -> bool {
    let all = low(n);
    let body = if neg { all & !1 } else { all };
    if body == 0 || (digits | dots) & body != body || dots.count_ones() > 1 {
        return false;
    }
    let first = body.trailing_zeros() as usize;
    let (int, frac) = if dots == 0 {
        (n - first, 0)
    } else {
        let p = dots.trailing_zeros() as usize;
        (p.wrapping_sub(first), n - p - 1)
    };
    (1..=16).contains(&int) && (dots == 0 || (1..=2).contains(&frac))
}

/// A phone number's shape from its class masks (bit i: byte i of `val`;
/// `all`: its bits): digits and the usual punctuation only, and ten digits,
/// or eleven from a `1` (see [`format::phone`]).
#[inline(always)]
pub(super) fn phone_shape(val: &[u8], digits: u64, punct: u64, all: u64) -> bool {
    let k = digits.count_ones();
    (digits | punct) == all
        && (k == 10 || (k == 11 && val.get(digits.trailing_zeros() as usize) == Some(&b'1')))
}

/// An e-mail address's shape from its class masks (bit i: byte i of the
/// value, `n` bytes): one `@` after at least one byte, no blank or control
/// byte, and a domain of at least three bytes with a `.` that neither
/// starts nor ends it, never two in a row (see [`format::email`]).
#[inline(always)]
pub(super) fn email_shape(at: u64, control: u64, dots: u64, n: usize) -> bool {
    let p = at.trailing_zeros() as usize;
    let d0 = p + 1;
    if at.count_ones() != 1 || p == 0 || control != 0 || n < d0 + 3 {
        return false;
    }
    // The domain's dots.
    let dots = dots & !low(d0);
    dots != 0 && dots >> d0 & 1 == 0 && dots >> (n - 1) == 0 && dots & (dots >> 1) == 0
}

/// The trimmed part of the field at bits `a..b` of a step, from the step's
/// blank mask: `Some((start, len))`, or `None` when it is all blank.
#[inline(always)]
fn trimmed(blank: u64, a: usize, b: usize) -> Option<(usize, usize)> {
    let range = low(b) & !low(a);
    let solid = !blank & range;
    if solid == 0 {
        return None;
    }
    let s = solid.trailing_zeros() as usize;
    let e = 64 - solid.leading_zeros() as usize;
    Some((s, e - s))
}

/// The classes of a step's bytes that a text-then-amount row's check reads
/// (bit `i`: byte `i` of the step).
#[derive(Clone, Copy)]
struct RowMasks {
    nl: u64,
    high: u64,
    pipe: u64,
    blank: u64,
    digit: u64,
    dot: u64,
    dash: u64,
}

impl RowMasks {
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    fn of(v: __m512i) -> RowMasks {
        let eq = |x: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(x as i8));
        RowMasks {
            nl: eq(b'\n'),
            high: _mm512_movepi8_mask(v),
            pipe: eq(b'|'),
            blank: eq(b' ') | eq(b'\t'),
            digit: _mm512_cmplt_epu8_mask(
                _mm512_sub_epi8(v, _mm512_set1_epi8(b'0' as i8)),
                _mm512_set1_epi8(10),
            ),
            dot: eq(b'.'),
            dash: eq(b'-'),
        }
    }

    /// The masks from byte `p` (< 64) of the step on.
    #[inline(always)]
    fn from(self, p: usize) -> RowMasks {
        RowMasks {
            nl: self.nl >> p,
            high: self.high >> p,
            pipe: self.pipe >> p,
            blank: self.blank >> p,
            digit: self.digit >> p,
            dot: self.dot >> p,
            dash: self.dash >> p,
        }
    }
}

/// A text-then-amount row (ID rows) whose bytes are the masks `m` from bit
/// 0 (the row at `bytes[start..]`), its `\n` at bit `t`. True when the row
/// surely passes both checks (and is ASCII). Bit operations only, so it
/// inlines into the lane's loops (which have BMI2 and POPCNT on).
#[inline(always)]
fn text_amount_row(shape: TextAmount, bytes: &[u8], start: usize, m: RowMasks, t: usize) -> bool {
    let here = low(t);
    let pipes = m.pipe & here & !0b111;
    if m.high & here != 0 || pipes.count_ones() != 1 {
        return false;
    }
    let p = pipes.trailing_zeros() as usize;
    let mut e = t;
    if e > p + 1 && bytes[start + e - 1] == b'\r' {
        e -= 1;
    }
    match trimmed(m.blank, 3, p) {
        Some((_, n)) if (shape.min..=shape.max).contains(&n) => {}
        None if !shape.text_required => {}
        _ => return false,
    }
    match trimmed(m.blank, p + 1, e) {
        Some((s, n)) => {
            let all = low(n);
            amount_shape(
                m.dash >> s & 1 == 1,
                (m.digit >> s) & all,
                (m.dot >> s) & all,
                n,
            )
        }
        None => !shape.amount_required,
    }
}

/// The run of ID rows from `start`, in the order state after a CR or an ID
/// row (where the next ID row needs no other rule): checks the rows of each
/// 64-byte step from one set of class masks (an ID row is about 35 bytes,
/// so a step holds two), and stops at the first row that is not an ID row
/// it surely passes, or that does not end inside its step. Answers where
/// that row starts and how many rows were taken.
///
/// # Safety
/// The CPU must have the lane's features.
#[target_feature(enable = "avx512f,avx512bw,bmi1,bmi2,popcnt,lzcnt")]
unsafe fn id_run(shape: TextAmount, bytes: &[u8], mut start: usize) -> (usize, u64) {
    let mut rows = 0u64;
    while start + 64 <= bytes.len() {
        // SAFETY: bytes[start..start + 64] is inside the slice.
        let v = unsafe { _mm512_loadu_si512(bytes.as_ptr().add(start).cast()) };
        _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().wrapping_add(start + PREFETCH).cast());
        let step = RowMasks::of(v);
        // The row at byte p of the step.
        let mut p = 0usize;
        while p < 64 {
            if bytes.get(start + p..start + p + 3) != Some(b"ID|") {
                return (start + p, rows);
            }
            let nl = step.nl >> p;
            if nl == 0 {
                break;
            }
            let t = nl.trailing_zeros() as usize;
            if !text_amount_row(shape, bytes, start + p, step.from(p), t) {
                return (start + p, rows);
            }
            rows += 1;
            p += t + 1;
        }
        if p == 0 {
            break;
        }
        start += p;
    }
    (start, rows)
}

/// Where a line ends and what it holds.
struct LineScan {
    /// One past the line's last byte (at its `\n`, or the chunk's end).
    end: usize,
    /// The line's end was a `\n`.
    newline: bool,
    ascii: bool,
}

/// Runs the lane over a chunk: the same lines, fields, line numbers and
/// verdicts as `scan_lines`, with the ordinary rows checked here and every
/// other one passed to [`end_line`].
///
/// # Safety
/// The CPU must have the lane's features ([`available`]).
#[target_feature(enable = "avx512f,avx512bw,bmi1,bmi2,popcnt,lzcnt")]
pub(super) unsafe fn scan_lines(sc: &mut Scanner<'_, '_>, bytes: &[u8]) {
    // The programs, apart from the scanner that the rows update.
    let c = sc.c.clone();
    let len = bytes.len();
    let mut start = 0usize;
    let mut line_no = 0u64;
    let mut row = RowVals::default();
    let mut memo = Box::new([[whole::Memo::EMPTY; 64]; 4]);
    let whole = whole::available();
    let id_rows = c.fast[RecordKind::ID as usize]
        .as_ref()
        .filter(|p| p.min_fields <= 3)
        .and_then(|p| p.text_amount);
    while start < len {
        line_no += 1;
        // SAFETY: same features as this function; `start < len`.
        let done = unsafe {
            fast_line(
                sc,
                &c,
                bytes,
                start,
                line_no,
                &mut row,
                whole.then_some(&mut *memo),
            )
        };
        let scan = match done {
            Ok(scan) => scan,
            Err(scan) => {
                slow_line(sc, bytes, start, scan.end, line_no, scan.ascii);
                scan
            }
        };
        start = scan.end + usize::from(scan.newline);
        // After a CR or an ID row, the ID rows that follow need nothing
        // but their own check (see `fast_finish`).
        if let Some(shape) = id_rows
            && sc.state == Some(Order::OpenCr)
        {
            // SAFETY: same features as this function.
            let (at, rows) = unsafe { id_run(shape, bytes, start) };
            start = at;
            line_no += rows;
            sc.out.rows += rows;
        }
    }
    sc.out.lines = line_no;
}

/// Where the line that started at `start` ends, looking from `from` (every
/// byte before it was seen, `high`: and some was over 0x7F).
#[inline]
fn line_end(bytes: &[u8], from: usize, high: bool) -> LineScan {
    let (end, newline) = match memchr::memchr(b'\n', &bytes[from..]) {
        Some(i) => (from + i, true),
        None => (bytes.len(), false),
    };
    LineScan {
        end,
        newline,
        ascii: !high && bytes[from..end].is_ascii(),
    }
}

/// Takes the line at `start` in the lane. `Ok` when it was checked and
/// accepted; `Err` with where it ends when the general path must have it.
///
/// # Safety
/// The CPU must have the lane's features; `start < bytes.len()`.
#[target_feature(enable = "avx512f,avx512bw,bmi1,bmi2,popcnt,lzcnt")]
#[inline]
unsafe fn fast_line(
    sc: &mut Scanner<'_, '_>,
    c: &Compiled,
    bytes: &[u8],
    start: usize,
    line: u64,
    row: &mut RowVals,
    memo: Option<&mut [[whole::Memo; 64]; 4]>,
) -> Result<LineScan, LineScan> {
    let len = bytes.len();
    // The row's kind and place decide its program before any field.
    let Some((kind, next, prog)) = sc
        .fast_start(&bytes[start..len.min(start + 3)])
        .and_then(|(kind, next)| c.fast[kind as usize].as_ref().map(|p| (kind, next, p)))
    else {
        return Err(line_end(bytes, start, false));
    };
    let ops = prog.fields.as_slice();
    // The commonest row (ID): all in one step.
    if let Some(shape) = prog.text_amount
        && start + 64 <= len
    {
        // SAFETY: bytes[start..start + 64] is inside the slice.
        let v = unsafe { _mm512_loadu_si512(bytes.as_ptr().add(start).cast()) };
        _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().wrapping_add(start + PREFETCH).cast());
        let m = RowMasks::of(v);
        if m.nl != 0 {
            let t = m.nl.trailing_zeros() as usize;
            let scan = LineScan {
                end: start + t,
                newline: true,
                ascii: m.high & ones(t) == 0,
            };
            if prog.min_fields <= 3
                && text_amount_row(shape, bytes, start, m, t)
                && sc.fast_finish(kind, next, line, bytes, row)
            {
                return Ok(scan);
            }
            return Err(scan);
        }
    }
    row.seen = 0;
    // IH and CR rows: whole, where the CPU can and the row is short.
    if let (Some(w), Some(memo)) = (&prog.whole, memo)
        && start + whole::REACH <= len
    {
        // As far ahead as the row's three steps: the ID rows' one-step
        // prefetch alone left these rows waiting for memory (4-7% of the
        // scan, `scripts/ab.sh`).
        for step in [0, 64, 128] {
            _mm_prefetch::<_MM_HINT_T0>(
                bytes.as_ptr().wrapping_add(start + PREFETCH + step).cast(),
            );
        }
        // SAFETY: the lane's features and `whole::available()` (`memo` is
        // only given then); start + REACH <= len.
        let t = unsafe { whole::row(w, c, ops, &mut memo[kind as usize], bytes, start, row) };
        if let Some(t) = t {
            let scan = LineScan {
                end: start + t,
                newline: true,
                ascii: true,
            };
            if sc.fast_finish(kind, next, line, bytes, row) {
                return Ok(scan);
            }
            return Err(scan);
        }
        row.seen = 0;
    }
    // ops[i] checks field i + 1 (field 0 is the row type, matched with its
    // `|` by `fast_start`).
    let mut i = 0usize;
    let mut field_start = start + 3;
    let mut high = 0u64;
    let mut base = start;
    // The row type's own `|` (at start + 2) ends no field.
    let mut first = !0b111u64;
    // Where the line ends once the lane gives it up: known when its `\n`
    // was seen (`end`), else searched from the next step on.
    let bail = |end: Option<usize>, next: usize, high: u64| match end {
        Some(end) => LineScan {
            end,
            newline: true,
            ascii: high == 0,
        },
        None => line_end(bytes, next, high != 0),
    };
    loop {
        let rest = len - base;
        let take = rest.min(64);
        let v = if rest >= 64 {
            // SAFETY: bytes[base..base + 64] is inside the slice.
            unsafe { _mm512_loadu_si512(bytes.as_ptr().add(base).cast()) }
        } else {
            // SAFETY: the mask covers bytes[base..len], inside the slice.
            unsafe { _mm512_maskz_loadu_epi8(ones(take), bytes.as_ptr().add(base).cast()) }
        };
        // The chunk comes from the page cache, not from this core's caches:
        // ask for the bytes a little ahead now (a prefetch never faults).
        _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().wrapping_add(base + PREFETCH).cast());
        let nl = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\n' as i8));
        let pipes = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'|' as i8));
        let high_bits = _mm512_movepi8_mask(v);
        // Field ends in this step: its `|`s, and the line's `\n` (the last).
        let (mut ends, end) = if nl != 0 {
            let t = nl.trailing_zeros() as usize;
            high |= high_bits & ones(t);
            (pipes & ones(t) | 1 << t, Some(base + t))
        } else {
            high |= high_bits;
            if rest <= 64 {
                // The chunk's last line has no `\n`: the general path has it.
                return Err(LineScan {
                    end: len,
                    newline: false,
                    ascii: high == 0,
                });
            }
            (pipes, None)
        };
        ends &= first;
        while ends != 0 {
            let p = base + ends.trailing_zeros() as usize;
            ends &= ends - 1;
            // The last field stops before an optional `\r`.
            let mut q = p;
            if ends == 0 && end.is_some() && q > field_start && bytes[q - 1] == b'\r' {
                q -= 1;
            }
            let Some(f) = ops.get(i) else {
                return Err(bail(end, base + 64, high));
            };
            // SAFETY: same features; field_start <= q <= len.
            match unsafe { self::field(c, f.op, f.want, bytes, field_start, q) } {
                Verdict::Pass(a, b, x) => row.put(f.slot, x, (a, b)),
                Verdict::Empty if !f.required => {}
                _ => return Err(bail(end, base + 64, high)),
            }
            i += 1;
            field_start = p + 1;
        }
        if let Some(end) = end {
            let scan = bail(Some(end), 0, high);
            // Fields after the last one present that a row may leave off
            // are optional by construction of `min_fields`.
            let n_fields = i + 1;
            if high != 0
                || n_fields < prog.min_fields
                || end - start > LANE_MAX_LINE
                || !sc.fast_finish(kind, next, line, bytes, row)
            {
                return Err(scan);
            }
            return Ok(scan);
        }
        first = !0;
        base += 64;
        if base - start > LANE_MAX_LINE {
            return Err(line_end(bytes, base, high != 0));
        }
    }
}

/// Splits the line `start..end` into fields and gives it to the general
/// path, exactly as `scan_lines` would.
fn slow_line(
    sc: &mut Scanner<'_, '_>,
    bytes: &[u8],
    start: usize,
    end: usize,
    line_no: u64,
    ascii: bool,
) {
    let mut fields = [(0usize, 0usize); MAX_KEPT_FIELDS];
    let mut n_fields = 0usize;
    let mut field_start = start;
    // A giant line is not parsed by the general path: its fields need not
    // be found.
    if end - start <= MAX_LINE {
        for p in memchr::memchr_iter(b'|', &bytes[start..end]) {
            let p = start + p;
            if let Some(f) = fields.get_mut(n_fields) {
                *f = (field_start, p);
            }
            n_fields += 1;
            field_start = p + 1;
        }
    }
    end_line(
        sc,
        bytes,
        line_no,
        start,
        end,
        field_start,
        &mut fields,
        n_fields,
        ascii,
    );
}

/// The lane's checks against the scalar ones: a field the lane passes must
/// pass [`Compiled::check`] with the same value, and the usual valid
/// values must pass in the lane (or it would be no faster).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::bif::layout::Layout;
    use proptest::prelude::*;

    fn compiled() -> Compiled {
        Compiled::new(&Layout::embedded())
    }

    const OPS: [Op; 12] = [
        Op::Text { min: 1, max: 10 },
        Op::Text { min: 0, max: 50 },
        Op::Amount,
        Op::DateMdy,
        Op::Digits,
        Op::Guid,
        Op::Account,
        Op::BaseBctr,
        Op::Phone,
        Op::Email,
        Op::Zip,
        Op::Yn,
    ];

    /// Runs the lane's check on `v` placed inside a larger buffer (so that
    /// loads near it are real), and the scalar check on its trimmed bytes.
    fn both(c: &Compiled, op: Op, v: &[u8]) -> (Option<(Vec<u8>, u64)>, Option<u64>) {
        let mut buf = b"xx|".to_vec();
        buf.extend_from_slice(v);
        let (a, b) = (3, 3 + v.len());
        buf.extend_from_slice(b"|yy");
        // SAFETY: only called when `available()`; a <= b <= len.
        let lane = match unsafe { field(c, op, true, &buf, a, b) } {
            Verdict::Pass(s, e, x) => Some((buf[s..e].to_vec(), x)),
            Verdict::Empty => Some((Vec::new(), 0)),
            Verdict::Unsure => None,
        };
        let t = trim(v);
        let scalar = if t.is_empty() {
            Some(0)
        } else {
            c.check(op, t, true).ok()
        };
        (lane, scalar)
    }

    fn sound(op: Op, v: &[u8]) {
        if !available() || !v.is_ascii() {
            return;
        }
        let c = compiled();
        let (lane, scalar) = both(&c, op, v);
        if let Some((got, x)) = lane {
            assert_eq!(
                got,
                trim(v),
                "{op:?} {:?}: trimmed span",
                String::from_utf8_lossy(v)
            );
            assert_eq!(
                Some(x),
                scalar,
                "{op:?} {:?}: the lane passed what the scalar check does not",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn usual_values_pass_in_the_lane() {
        if !available() {
            return;
        }
        let c = compiled();
        let cases: &[(Op, &[u8])] = &[
            (Op::Text { min: 1, max: 100 }, b"CUSTOMER CHARGE    "),
            (Op::Amount, b"12.00"),
            (Op::Amount, b"-311.61"),
            (Op::Amount, b"7"),
            (Op::Amount, b"0.5"),
            (Op::DateMdy, b"11/20/2026"),
            (Op::DateMdy, b"02/29/2028"),
            (Op::Digits, b"10139"),
            (Op::Digits, b"96165     "),
            (Op::Guid, b"6E0B1D56-6C4A-4F69-9D6F-1F2A3B4C5D6E"),
            (Op::Guid, b"ba1cec36-997c-48e3-8406-437640edff84"),
            (Op::Account, b"10139-002"),
            (Op::BaseBctr, b"10141-96165"),
            (Op::Phone, b"(616) 295-1260"),
            (Op::Phone, b"6162639159"),
            (Op::Phone, b"+1 616 555 0100"),
            (Op::Email, b"john.walker92@lowellschools.example"),
        ];
        for &(op, v) in cases {
            let (lane, scalar) = both(&c, op, v);
            assert!(
                scalar.is_some(),
                "{op:?} {:?}: scalar",
                String::from_utf8_lossy(v)
            );
            assert!(
                lane.is_some(),
                "{op:?} {:?}: lane",
                String::from_utf8_lossy(v)
            );
            sound(op, v);
        }
    }

    #[test]
    fn near_misses_are_not_passed() {
        let cases: &[(Op, &[u8])] = &[
            (Op::Amount, b"-"),
            (Op::Amount, b"."),
            (Op::Amount, b"1."),
            (Op::Amount, b".5"),
            (Op::Amount, b"1.234"),
            (Op::Amount, b"--1"),
            (Op::Amount, b"1-"),
            (Op::Amount, b"1.2.3"),
            (Op::Amount, b"12345678901234567"),
            (Op::DateMdy, b"02/30/2026"),
            (Op::DateMdy, b"13/01/2026"),
            (Op::DateMdy, b"1/1/2026"),
            (Op::DateMdy, b"00/10/0000"),
            (Op::Guid, b"6E0B1D56-6C4A-4F69-9D6F-1F2A3B4C5D6G"),
            (Op::Guid, b"6E0B1D56+6C4A-4F69-9D6F-1F2A3B4C5D6E"),
            (Op::Account, b"-001"),
            (Op::Account, b"10139-"),
            (Op::Account, b"10139--002"),
            (Op::Account, b"10139.002"),
            (Op::Phone, b"616-555-010"),
            (Op::Phone, b"2616-555-0100"),
            (Op::Phone, b"616/555/0100"),
            (Op::Email, b"a@b.c."),
            (Op::Email, b"@b.co"),
            (Op::Email, b"a@.co"),
            (Op::Email, b"a@b..co"),
            (Op::Email, b"a b@c.co"),
            (Op::Email, b"a@b@c.co"),
            (Op::Email, b"a@bco"),
            (Op::Digits, b"12a"),
        ];
        for &(op, v) in cases {
            sound(op, v);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn the_lane_never_passes_what_the_scalar_check_refuses(
            op in 0..OPS.len(),
            v in proptest::collection::vec(
                prop_oneof![
                    Just(b'0'), Just(b'1'), Just(b'9'), Just(b'-'), Just(b'.'), Just(b'/'),
                    Just(b'@'), Just(b' '), Just(b'\t'), Just(b'('), Just(b')'), Just(b'+'),
                    Just(b'a'), Just(b'F'), Just(b'g'), Just(b'Y'), Just(b'N'), 0u8..0x80,
                ],
                0..80,
            ),
        ) {
            sound(OPS[op], &v);
        }
    }
}

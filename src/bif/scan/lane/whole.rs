//! The lane's whole-row check of IH and CR rows.
//!
//! An IH or CR row is a dozen or more short fields, most of them text whose
//! only rule is a length. Checking them one by one (find the `|`, load, trim,
//! dispatch on the format, keep the value) costs tens of instructions a
//! field. This check takes a row of up to [`WHOLE_MAX`] bytes in three
//! 64-byte registers and decides most of it at once:
//!
//! * the `|`s become one byte position per field (compressed out of the
//!   row's `|` mask), so every field's length is one vector subtraction and
//!   every length rule (required, text min/max, amount at most 16 bytes) one
//!   vector compare;
//! * the character rules of digits, amounts and account numbers are masks
//!   over the whole row: `pdep` spreads a set of fields onto the row's `|`s,
//!   and a subtraction turns the bits before and after each field into the
//!   field's own bytes (`region`), which are then tested against the row's
//!   digit, `.` and `-` masks;
//! * zip codes, phone numbers and e-mail addresses, which differ from row
//!   to row, are each checked from one 64-byte load at the field, inline
//!   ([`sure_single`]);
//! * what is left (dates, GUIDs, states, Y/N...) goes through the lane's
//!   one-field check; the values that repeat from row to row (the format
//!   GUID, the bill and due dates, the record type) are remembered per
//!   field, so a repeat is one 64-byte compare.
//!
//! Everything called per row here is inlined into [`row`]: the small
//! helpers carry no target features of their own (a function with its own
//! features is not inlined into one with others), and closures that LLVM
//! would not inline are plain functions. Each of those calls, found with
//! `objdump` and removed, was worth 2 to 7% of the whole scan
//! (`scripts/ab.sh`).
//!
//! Like the rest of the lane it only ever *accepts*: any doubt (a longer
//! row, a field that starts with a blank, an amount of more than 16 bytes,
//! a failed rule...) answers `None`, and the caller checks the row field by
//! field, or the general path decides. The unit tests hold it to the scalar
//! checks on generated and mutated rows.

use std::arch::x86_64::*;

use super::super::{Compiled, FastField, Op, RowVals, format, trim};
use super::{Verdict, email_shape, field, low, ones, phone_shape};

/// The longest row (with its `\n`) checked whole: three 64-byte steps.
const WHOLE_MAX: usize = 192;

/// How far past a row's start [`row`] may read: its three steps, and a
/// 64-byte compare from the start of any of its fields.
pub(in crate::bif::scan) const REACH: usize = WHOLE_MAX + 64;

/// Whether this CPU has what [`row`] needs beyond the lane's features:
/// byte compress (VBMI2) and byte permutes (VBMI).
pub(in crate::bif::scan) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512vbmi")
        && std::arch::is_x86_feature_detected!("avx512vbmi2")
}

/// What is done one field at a time once the bulk rules hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// A text the rules keep: its span, trimmed on the right.
    Text,
    /// Digits or an account number the rules keep: its span as it is.
    Raw,
    /// An amount the rules keep: its cents.
    Cents,
    /// Checked alone by the lane's field check; `memo`: its last passing
    /// value is remembered (formats whose values repeat row after row).
    Single { memo: bool },
}

/// A row kind compiled for [`row`].
#[derive(Debug, Clone)]
pub(in crate::bif::scan) struct Whole {
    /// Fields after the row type in the layout.
    n_ops: usize,
    /// Fields after the row type a row must have.
    min_present: usize,
    /// Per field (bit/lane `k` is field `k + 1`): the least and greatest
    /// length of a field that is not empty. The least is at least 1.
    min_len: [u8; 64],
    max_len: [u8; 64],
    /// Fields that may be empty.
    optional: u64,
    /// Fields of ASCII digits only.
    digits: u64,
    /// Amounts (optional `-`, digits, optional `.` and one or two digits).
    amounts: u64,
    /// Account numbers: digits, one `-`, digits; one field each.
    dashed: Vec<usize>,
    /// The fields that need an [`Act`], one list per act (a loop each, so
    /// no dispatch per field), each in order of `k`.
    texts: Vec<usize>,
    raws: Vec<usize>,
    cents: Vec<usize>,
    /// `(k, memo)`.
    singles: Vec<(usize, bool)>,
}

impl Whole {
    /// Compiles the fields of a fast row program (`fields[k]` checks field
    /// `k + 1`), or `None` where a row of this kind is better checked field
    /// by field.
    pub(in crate::bif::scan) fn compile(fields: &[FastField], min_fields: usize) -> Option<Whole> {
        // Field positions are bytes and field sets 64-bit masks.
        if fields.is_empty() || fields.len() >= 64 {
            return None;
        }
        let mut w = Whole {
            n_ops: fields.len(),
            min_present: min_fields.saturating_sub(1),
            min_len: [1; 64],
            max_len: [u8::MAX; 64],
            optional: 0,
            digits: 0,
            amounts: 0,
            dashed: Vec::new(),
            texts: Vec::new(),
            raws: Vec::new(),
            cents: Vec::new(),
            singles: Vec::new(),
        };
        for (k, f) in fields.iter().enumerate() {
            let bit = 1u64 << k;
            if !f.required {
                w.optional |= bit;
            }
            let act = match f.op {
                Op::RowType => return None,
                // Texts of at least one character: a first byte that is not
                // blank makes the trimmed text non-empty, and the length
                // untrimmed bounds it from above.
                Op::Text { min, max } if min <= 1 => {
                    w.max_len[k] = max.min(usize::from(u8::MAX)) as u8;
                    f.want.then_some(Act::Text)
                }
                Op::Digits => {
                    w.digits |= bit;
                    f.want.then_some(Act::Raw)
                }
                Op::Amount => {
                    // At most 16 bytes: never more than 16 integer digits.
                    w.amounts |= bit;
                    w.max_len[k] = 16;
                    f.want.then_some(Act::Cents)
                }
                Op::Account | Op::BaseBctr => {
                    w.dashed.push(k);
                    w.min_len[k] = 3;
                    f.want.then_some(Act::Raw)
                }
                Op::DateMdy
                | Op::Date(_)
                | Op::Guid
                | Op::Enum(_)
                | Op::Literal(_)
                | Op::Yn
                | Op::UsState => Some(Act::Single { memo: true }),
                _ => Some(Act::Single { memo: false }),
            };
            match act {
                Some(Act::Text) => w.texts.push(k),
                Some(Act::Raw) => w.raws.push(k),
                Some(Act::Cents) => w.cents.push(k),
                Some(Act::Single { memo }) => w.singles.push((k, memo)),
                None => {}
            }
        }
        Some(w)
    }
}

/// The last value of a field that passed its one-field check, by its raw
/// bytes.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(in crate::bif::scan) struct Memo {
    bytes: [u8; 64],
    /// 0: nothing remembered.
    len: u8,
    /// The trimmed value's span, from the field's start.
    a: u8,
    b: u8,
    x: u64,
}

impl Memo {
    pub(in crate::bif::scan) const EMPTY: Memo = Memo {
        bytes: [0; 64],
        len: 0,
        a: 0,
        b: 0,
        x: 0,
    };
}

/// 192 bits, one per byte of a row (three 64-bit words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bits([u64; 3]);

impl Bits {
    /// Bits `0..n`.
    #[inline(always)]
    fn below(n: usize) -> Bits {
        let w = |i: usize| low(n.saturating_sub(64 * i));
        Bits([w(0), w(1), w(2)])
    }

    #[inline(always)]
    fn bit(i: usize) -> Bits {
        let w = |j: usize| if i / 64 == j { 1u64 << (i % 64) } else { 0 };
        Bits([w(0), w(1), w(2)])
    }

    #[inline(always)]
    fn and(self, o: Bits) -> Bits {
        Bits([self.0[0] & o.0[0], self.0[1] & o.0[1], self.0[2] & o.0[2]])
    }

    #[inline(always)]
    fn or(self, o: Bits) -> Bits {
        Bits([self.0[0] | o.0[0], self.0[1] | o.0[1], self.0[2] | o.0[2]])
    }

    #[inline(always)]
    fn and_not(self, o: Bits) -> Bits {
        Bits([
            self.0[0] & !o.0[0],
            self.0[1] & !o.0[1],
            self.0[2] & !o.0[2],
        ])
    }

    #[inline(always)]
    fn any(self) -> bool {
        self.0[0] | self.0[1] | self.0[2] != 0
    }

    #[inline(always)]
    fn count(self) -> u32 {
        self.0[0].count_ones() + self.0[1].count_ones() + self.0[2].count_ones()
    }

    /// Moved `k` (1..=63) bytes later in the row.
    #[inline(always)]
    fn shl(self, k: u32) -> Bits {
        let [a, b, c] = self.0;
        Bits([a << k, b << k | a >> (64 - k), c << k | b >> (64 - k)])
    }

    /// Moved `k` (1..=63) bytes earlier in the row.
    #[inline(always)]
    fn shr(self, k: u32) -> Bits {
        let [a, b, c] = self.0;
        Bits([a >> k | b << (64 - k), b >> k | c << (64 - k), c >> k])
    }

    /// `self - o` as 192-bit numbers.
    #[inline(always)]
    fn sub(self, o: Bits) -> Bits {
        let (a, b1) = self.0[0].overflowing_sub(o.0[0]);
        let (b, b2) = self.0[1].overflowing_sub(o.0[1]);
        let (b, b3) = b.overflowing_sub(u64::from(b1));
        let c = self.0[2]
            .wrapping_sub(o.0[2])
            .wrapping_sub(u64::from(b2 | b3));
        Bits([a, b, c])
    }
}

/// The row's delimiters, with what `pdep` needs to spread a set of fields
/// onto them.
struct Delims {
    bits: Bits,
    /// Set bits in word 0, and in words 0 and 1.
    c0: u32,
    c01: u32,
}

impl Delims {
    #[inline(always)]
    fn new(bits: Bits) -> Delims {
        let c0 = bits.0[0].count_ones();
        Delims {
            bits,
            c0,
            c01: c0 + bits.0[1].count_ones(),
        }
    }

    /// The delimiters of the fields in `g` (bit `k`: the `k`-th delimiter).
    /// `g` has fewer than 64 bits and so do the delimiters.
    #[target_feature(enable = "bmi2")]
    #[inline]
    fn spread(&self, g: u64) -> Bits {
        Bits([
            _pdep_u64(g, self.bits.0[0]),
            _pdep_u64(g >> self.c0, self.bits.0[1]),
            _pdep_u64(g >> self.c01, self.bits.0[2]),
        ])
    }
}

/// The bytes of the fields in `g`, with the bits of their first and last
/// bytes' neighbours (`before`: the `|` before each; `after`: the
/// delimiter after each).
struct Region {
    bytes: Bits,
    before: Bits,
    after: Bits,
}

/// The fields in `g` as a [`Region`].
///
/// Always inlined, and so without target features of its own: it only runs
/// inside [`row`], which has BMI2.
#[inline(always)]
fn region(opens: &Delims, closes: &Delims, g: u64) -> Region {
    // SAFETY: only called from `row`, which has BMI2.
    let (before, after) = unsafe { (opens.spread(g), closes.spread(g)) };
    // after - before sets the bits from each field's `|` up to, not
    // including, its closing delimiter (the fields do not overlap, so no
    // borrow crosses from one to another).
    Region {
        bytes: after.sub(before).and_not(before),
        before,
        after,
    }
}

/// The byte positions 0..63.
static IOTA: [u8; 64] = {
    let mut a = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        a[i] = i as u8;
        i += 1;
    }
    a
};

/// Checks the row that starts at `start` (its first three bytes, the row
/// type and its `|`, already matched) with `w`, and on success puts the
/// values the rules keep into `row`: then answers where its `\n` is, from
/// `start`. `None`: not sure, check the row another way (nothing the caller
/// reads was changed but `row`, which it resets).
///
/// # Safety
/// The CPU must have the lane's features and [`available`];
/// `start + REACH <= bytes.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,bmi1,bmi2,popcnt,lzcnt")]
#[allow(clippy::too_many_arguments)]
pub(in crate::bif::scan) unsafe fn row(
    w: &Whole,
    c: &Compiled,
    fields: &[FastField],
    memo: &mut [Memo; 64],
    bytes: &[u8],
    start: usize,
    row: &mut RowVals,
) -> Option<usize> {
    debug_assert!(start + REACH <= bytes.len());
    // SAFETY: start + 192 <= bytes.len().
    let v = unsafe {
        let base = bytes.as_ptr().add(start);
        [
            _mm512_loadu_si512(base.cast()),
            _mm512_loadu_si512(base.add(64).cast()),
            _mm512_loadu_si512(base.add(128).cast()),
        ]
    };
    // A mask of the three steps.
    macro_rules! class {
        (|$x:ident| $e:expr) => {
            Bits([
                {
                    let $x = v[0];
                    $e
                },
                {
                    let $x = v[1];
                    $e
                },
                {
                    let $x = v[2];
                    $e
                },
            ])
        };
    }
    let eq = |b: u8| {
        let b = _mm512_set1_epi8(b as i8);
        class!(|x| _mm512_cmpeq_epi8_mask(x, b))
    };
    let nl = eq(b'\n');
    let t = if nl.0[0] != 0 {
        nl.0[0].trailing_zeros() as usize
    } else if nl.0[1] != 0 {
        64 + nl.0[1].trailing_zeros() as usize
    } else if nl.0[2] != 0 {
        128 + nl.0[2].trailing_zeros() as usize
    } else {
        return None;
    };
    let live = Bits::below(t);
    if class!(|x| _mm512_movepi8_mask(x)).and(live).any() {
        return None;
    }
    // The last field stops before a `\r` that ends the line.
    let e = if bytes[start + t - 1] == b'\r' {
        t - 1
    } else {
        t
    };
    // `|`s from the row type's on: `pipes[k]` opens field k + 1.
    let pipes = eq(b'|').and(live);
    // The row type's `|` opens the first field.
    if pipes.0[0] & 0b100 == 0 {
        return None;
    }
    let n = pipes.count() as usize;
    if n < w.min_present || n > w.n_ops {
        return None;
    }
    let closes_bits = pipes.and_not(Bits::bit(2)).or(Bits::bit(e));

    // Field k: bytes opens[k] + 1 .. closes[k].
    // SAFETY (these loads): 64-byte arrays.
    let (iota, min_len, max_len) = unsafe {
        (
            _mm512_loadu_si512(IOTA.as_ptr().cast()),
            _mm512_loadu_si512(w.min_len.as_ptr().cast()),
            _mm512_loadu_si512(w.max_len.as_ptr().cast()),
        )
    };
    let at = |x: u32| _mm512_set1_epi8(x as i8);
    let k0 = pipes.0[0].count_ones();
    let k01 = k0 + pipes.0[1].count_ones();
    let opens = _mm512_or_si512(
        _mm512_or_si512(
            _mm512_maskz_compress_epi8(pipes.0[0], iota),
            _mm512_maskz_permutexvar_epi8(
                !ones(k0 as usize),
                _mm512_sub_epi8(iota, at(k0)),
                _mm512_maskz_compress_epi8(pipes.0[1], _mm512_add_epi8(iota, at(64))),
            ),
        ),
        _mm512_maskz_permutexvar_epi8(
            !ones(k01 as usize),
            _mm512_sub_epi8(iota, at(k01)),
            _mm512_maskz_compress_epi8(pipes.0[2], _mm512_add_epi8(iota, at(128))),
        ),
    );
    let closes = _mm512_mask_set1_epi8(
        _mm512_permutexvar_epi8(_mm512_add_epi8(iota, at(1)), opens),
        1 << (n - 1),
        e as i8,
    );
    let len = _mm512_sub_epi8(_mm512_sub_epi8(closes, opens), at(1));
    let some = ones(n);
    let fits = _mm512_mask_cmpge_epu8_mask(some, len, min_len)
        & _mm512_mask_cmple_epu8_mask(some, len, max_len);
    let empty_ok = _mm512_mask_cmpeq_epi8_mask(some & w.optional, len, _mm512_setzero_si512());
    if fits | empty_ok != some {
        return None;
    }

    // No field starts with a blank: trimming can only shorten a text (its
    // length untrimmed bounds it), and leaves it non-empty.
    let blank = eq(b' ').or(eq(b'\t'));
    if blank.and(pipes.shl(1)).and_not(closes_bits).any() {
        return None;
    }
    let digit = class!(|x| _mm512_cmplt_epu8_mask(_mm512_sub_epi8(x, at(u32::from(b'0'))), at(10)));
    let dash = eq(b'-');
    let dot = eq(b'.');
    let opens_d = Delims::new(pipes);
    let closes_d = Delims::new(closes_bits);
    let digits = w.digits & some;
    if digits != 0
        && region(&opens_d, &closes_d, digits)
            .bytes
            .and_not(digit)
            .any()
    {
        return None;
    }
    let amounts = w.amounts & some;
    if amounts != 0 {
        let r = region(&opens_d, &closes_d, amounts);
        let first = r.before.shl(1);
        let dots = dot.and(r.bytes);
        let dashes = dash.and(r.bytes);
        let delims = pipes.or(closes_bits);
        let bad = r.bytes.and_not(digit.or(dot).or(dash)).any()
            // `-` only first, and not alone.
            || dashes.and_not(first).any()
            || dashes.and(r.after.shr(1)).any()
            // One `.`, after an integer digit, before one or two digits:
            // not first, not after the `-` or another `.`, not last, two or
            // three from the end.
            || dots.and(first.or(dash.shl(1)).or(dot.shl(1)).or(delims.shr(1))).any()
            || dots.and_not(r.after.shr(2).or(r.after.shr(3))).any();
        if bad {
            return None;
        }
    }
    for &k in &w.dashed {
        if k < n {
            let r = region(&opens_d, &closes_d, 1 << k);
            let dashes = dash.and(r.bytes);
            if r.bytes.and_not(digit.or(dash)).any()
                || dashes.count() != 1
                || dashes.and(r.before.shl(1).or(r.after.shr(1))).any()
            {
                return None;
            }
        }
    }

    let mut open_at = [0u8; 64];
    let mut close_at = [0u8; 64];
    // SAFETY: 64 bytes each.
    unsafe {
        _mm512_storeu_si512(open_at.as_mut_ptr().cast(), opens);
        _mm512_storeu_si512(close_at.as_mut_ptr().cast(), closes);
    }
    // Field k's bytes, untrimmed; empty only where it may be (the length
    // rules held).
    // (A plain function: LLVM did not inline this as a closure; the one
    // below only forwards to it.)
    #[inline(always)]
    fn span_at(start: usize, open_at: &[u8; 64], close_at: &[u8; 64], k: usize) -> (usize, usize) {
        // k < n < 64.
        let k = k & 63;
        (
            start + usize::from(open_at[k]) + 1,
            start + usize::from(close_at[k]),
        )
    }
    let span = |k: usize| span_at(start, &open_at, &close_at, k);
    for &k in &w.texts {
        if k >= n {
            break;
        }
        let (s, e) = span(k);
        let v = trim(&bytes[s..e]);
        if !v.is_empty() {
            row.put(fields[k].slot, 0, (s, s + v.len()));
        }
    }
    for &k in &w.raws {
        if k >= n {
            break;
        }
        let (s, e) = span(k);
        if s < e {
            row.put(fields[k].slot, 0, (s, e));
        }
    }
    for &k in &w.cents {
        if k >= n {
            break;
        }
        let (s, e) = span(k);
        if s < e {
            match format::amount_cents(&bytes[s..e]) {
                Ok(x) => row.put(fields[k].slot, x as u64, (s, e)),
                Err(_) => return None,
            }
        }
    }
    for &(k, remember) in &w.singles {
        if k >= n {
            break;
        }
        let (s, e) = span(k);
        if s == e {
            continue;
        }
        let f = &fields[k];
        // SAFETY: the lane's features; s < start + 192, so s + 64 <= bytes.len().
        if !remember && !f.want && unsafe { sure_single(f.op, bytes, s, e) } {
            continue;
        }
        let raw = e - s;
        let m = &mut memo[k];
        let here = if remember && raw <= 64 {
            // SAFETY: s < start + 192, so s + 64 <= bytes.len();
            // the memo holds 64 bytes.
            let (x, known) = unsafe {
                (
                    _mm512_loadu_si512(bytes.as_ptr().add(s).cast()),
                    _mm512_loadu_si512(m.bytes.as_ptr().cast()),
                )
            };
            if usize::from(m.len) == raw && _mm512_mask_cmpneq_epi8_mask(ones(raw), x, known) == 0 {
                if f.want {
                    row.put(f.slot, m.x, (s + usize::from(m.a), s + usize::from(m.b)));
                }
                continue;
            }
            Some(x)
        } else {
            None
        };
        // SAFETY: the lane's features; s <= e <= bytes.len().
        match unsafe { field(c, f.op, f.want, bytes, s, e) } {
            Verdict::Pass(a, b, x) => {
                if let Some(v) = here {
                    // SAFETY: 64 bytes.
                    unsafe { _mm512_storeu_si512(m.bytes.as_mut_ptr().cast(), v) };
                    m.len = raw as u8;
                    m.a = (a - s) as u8;
                    m.b = (b - s) as u8;
                    m.x = x;
                }
                if f.want {
                    row.put(f.slot, x, (a, b));
                }
            }
            Verdict::Empty if !f.required => {}
            _ => return None,
        }
    }
    Some(t)
}

/// Whether the zip code, phone number or e-mail address `bytes[s..e]`
/// (not empty, no leading blank) surely passes its check: the lane's
/// one-field check of these three, without its trimming and dispatch.
///
/// Always inlined into [`row`], so without target features of its own.
/// Through the lane's `field` (a call, then a dispatch on the format)
/// these three fields cost 5% more of a whole scan.
///
/// # Safety
/// The CPU must have the lane's features; `s < e`, `s + 64 <= bytes.len()`.
#[inline(always)]
unsafe fn sure_single(op: Op, bytes: &[u8], s: usize, e: usize) -> bool {
    let n = e - s;
    if n > 64 {
        return false;
    }
    // SAFETY (the intrinsics): the caller's CPU features; s + 64 <=
    // bytes.len() for the load.
    unsafe {
        let v = _mm512_loadu_si512(bytes.as_ptr().add(s).cast());
        let all = _bzhi_u64(u64::MAX, n as u32);
        let eq = |x: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(x as i8)) & all;
        let digit = _mm512_cmplt_epu8_mask(
            _mm512_sub_epi8(v, _mm512_set1_epi8(b'0' as i8)),
            _mm512_set1_epi8(10),
        ) & all;
        match op {
            Op::Zip => match n {
                5 | 9 => digit == all,
                10 => digit == all & !(1 << 5) && bytes[s + 5] == b'-',
                _ => false,
            },
            Op::Phone => {
                let punct = eq(b' ') | eq(b'-') | eq(b'.') | eq(b'(') | eq(b')') | eq(b'+');
                phone_shape(&bytes[s..e], digit, punct, all)
            }
            Op::Email => {
                let control =
                    (_mm512_cmple_epu8_mask(v, _mm512_set1_epi8(b' ' as i8)) | eq(0x7f)) & all;
                email_shape(eq(b'@'), control, eq(b'.'), n)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{Compiled, FastRec, RowVals, trim};
    use super::*;
    use crate::bif::layout::{Layout, RecordKind};
    use proptest::prelude::*;

    /// A kept field: its slot, its value and its trimmed span.
    type Kept = Vec<(usize, u64, (usize, usize))>;

    /// What the scalar checks keep of the row at the start of `buf`: the
    /// row split at its `|`s, each field trimmed and checked alone with
    /// [`Compiled::check`]; `(slot, value, trimmed span)` per kept field,
    /// or `None` where the row does not pass.
    fn scalar(c: &Compiled, rec: &FastRec, buf: &[u8]) -> Option<Kept> {
        let end = memchr::memchr(b'\n', buf)?;
        let line = &buf[..end];
        if !line.is_ascii() {
            return None;
        }
        let body = line.strip_suffix(b"\r").unwrap_or(line);
        // Spans of the fields after the row type.
        let mut spans = Vec::new();
        let mut at = 3;
        for (i, &b) in body.iter().enumerate().skip(3) {
            if b == b'|' {
                spans.push((at, i));
                at = i + 1;
            }
        }
        spans.push((at, body.len()));
        if spans.len() > rec.fields.len() || spans.len() + 1 < rec.min_fields {
            return None;
        }
        let mut kept = Vec::new();
        for (k, f) in rec.fields.iter().enumerate() {
            let Some(&(s, e)) = spans.get(k) else {
                if f.required {
                    return None;
                }
                continue;
            };
            let v = trim(&buf[s..e]);
            if v.is_empty() {
                if f.required {
                    return None;
                }
                continue;
            }
            let x = c.check(f.op, v, true).ok()?;
            if f.want {
                let a = s + buf[s..e]
                    .iter()
                    .take_while(|&&b| b == b' ' || b == b'\t')
                    .count();
                kept.push((f.slot, x, (a, a + v.len())));
            }
        }
        kept.sort_unstable();
        Some(kept)
    }

    /// What [`row`] kept, in the scalar reference's shape.
    fn kept(r: &RowVals) -> Kept {
        (0..r.vals.len())
            .filter(|&s| r.has(s))
            .map(|s| (s, r.vals[s], r.spans[s]))
            .collect()
    }

    /// Runs [`row`] on each line of `lines` in turn (one memo for all, as
    /// in a file), each at the start of a buffer with other rows after it,
    /// and holds it to the scalar checks: whatever it accepts, they accept
    /// with the same values. Answers how many it accepted.
    fn agree(kind: RecordKind, lines: &[Vec<u8>]) -> usize {
        let c = Compiled::new(&Layout::embedded());
        let rec = c.fast[kind as usize].as_ref().expect("a fast program");
        let w = rec.whole.as_ref().expect("a whole-row program");
        let mut memo = Box::new([Memo::EMPTY; 64]);
        let mut accepted = 0;
        for line in lines {
            let mut buf = line.clone();
            buf.push(b'\n');
            while buf.len() < REACH + 64 {
                buf.extend_from_slice(b"ID|CUSTOMER CHARGE|12.00\n");
            }
            let mut r = RowVals::default();
            // SAFETY: the features are checked by the caller; the buffer
            // holds REACH bytes past the start.
            let got = unsafe { row(w, &c, &rec.fields, &mut memo, &buf, 0, &mut r) };
            let want = scalar(&c, rec, &buf);
            let text = String::from_utf8_lossy(line);
            if let Some(t) = got {
                accepted += 1;
                assert_eq!(Some(t), memchr::memchr(b'\n', &buf), "{text:?}: row end");
                assert_eq!(want, Some(kept(&r)), "{text:?}: kept values");
            }
        }
        accepted
    }

    fn runs() -> bool {
        let ok = super::super::available() && available();
        if !ok {
            eprintln!("this CPU lacks AVX-512 VBMI2: the whole-row check is never used here");
        }
        ok
    }

    fn sample_rows(kind: &[u8]) -> Vec<Vec<u8>> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples/outbound/2661_11262026.BIF");
        let bytes = std::fs::read(&path).expect("the sample");
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(kind))
            .map(<[u8]>::to_vec)
            .collect()
    }

    #[test]
    fn accepts_every_row_of_the_valid_sample() {
        if !runs() {
            return;
        }
        for (kind, tag) in [(RecordKind::IH, b"IH|"), (RecordKind::CR, b"CR|")] {
            let rows = sample_rows(tag);
            assert!(rows.len() >= 100);
            assert_eq!(agree(kind, &rows), rows.len(), "{kind:?}");
            // The sample has Windows line ends; Unix ones too.
            assert!(rows.iter().all(|r| r.ends_with(b"\r")));
            let lf: Vec<Vec<u8>> = rows.iter().map(|r| r[..r.len() - 1].to_vec()).collect();
            assert_eq!(agree(kind, &lf), rows.len(), "{kind:?} with LF");
        }
    }

    #[test]
    fn turns_down_what_it_cannot_decide() {
        if !runs() {
            return;
        }
        let ih = &sample_rows(b"IH|")[0];
        let longer: Vec<u8> = [ih.as_slice(), &[b'x'; 200]].concat();
        let blank_first = {
            let mut r = ih.clone();
            let at = r.iter().rposition(|&b| b == b'|').unwrap_or(3);
            r.insert(at + 1, b' ');
            r
        };
        let high = [ih.as_slice(), "é".as_bytes()].concat();
        assert_eq!(agree(RecordKind::IH, &[longer, blank_first, high]), 0);
    }

    /// An edit of one row: replace, insert or delete a byte.
    fn edit(row: &mut Vec<u8>, at: usize, op: u8, b: u8) {
        const BYTES: &[u8] = b"0123456789.-|| \t\rAZaz@/\n\xE9";
        let b = BYTES[usize::from(b) % BYTES.len()];
        let at = 3 + at % row.len().saturating_sub(3).max(1);
        match op % 3 {
            0 if at < row.len() => row[at] = b,
            1 => row.insert(at.min(row.len()), b),
            _ if at < row.len() => {
                row.remove(at);
            }
            _ => row.push(b),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn agrees_with_the_scalar_checks_on_damaged_rows(
            picks in proptest::collection::vec((0usize..1000, proptest::collection::vec((0usize..200, 0u8..3, any::<u8>()), 0..4)), 1..6),
            cr in any::<bool>(),
        ) {
            if !runs() {
                return Ok(());
            }
            let (kind, tag) = if cr { (RecordKind::CR, b"CR|") } else { (RecordKind::IH, b"IH|") };
            let rows = sample_rows(tag);
            let lines: Vec<Vec<u8>> = picks
                .into_iter()
                .map(|(i, edits)| {
                    let mut r = rows[i % rows.len()].clone();
                    for (at, op, b) in edits {
                        edit(&mut r, at, op, b);
                    }
                    r
                })
                .collect();
            agree(kind, &lines);
        }
    }

    /// The usual values of the three formats [`sure_single`] takes.
    const USUAL: [(Op, &[u8]); 10] = [
        (Op::Zip, b"49331"),
        (Op::Zip, b"49331-1234"),
        (Op::Zip, b"493311234"),
        (Op::Phone, b"616-555-0100"),
        (Op::Phone, b"(616) 555-0100"),
        (Op::Phone, b"616.555.0100"),
        (Op::Phone, b"+1 616 555 0100"),
        (Op::Phone, b"6165550100 "),
        (Op::Email, b"jane.doe@lowell-mi.example"),
        (Op::Email, b"a@b.co"),
    ];

    /// A usual value of one of the three formats, then up to four edits
    /// with the bytes their rules turn on: near misses of every kind, and
    /// values that still pass.
    fn single_value() -> impl Strategy<Value = (Op, Vec<u8>)> {
        let edit = (
            0usize..64,
            0u8..3,
            proptest::sample::select(b"0123456789-.()+ @a\t1".to_vec()),
        );
        (
            0..USUAL.len(),
            proptest::collection::vec(edit, 0..5),
            0usize..70,
        )
            .prop_map(|(i, edits, pad)| {
                let (op, v) = USUAL[i];
                let mut v = v.to_vec();
                for (at, how, b) in edits {
                    let at = at % (v.len() + 1);
                    match how {
                        0 if at < v.len() => v[at] = b,
                        1 => v.insert(at, b),
                        _ if at < v.len() && v.len() > 1 => {
                            v.remove(at);
                        }
                        _ => v.push(b),
                    }
                }
                // Sometimes one too long for the 64-byte load.
                if pad > 60 {
                    v.extend(std::iter::repeat_n(b'1', pad));
                }
                // No leading blank: the whole-row check refuses the row then.
                if matches!(v[0], b' ' | b'\t') {
                    v[0] = b'1';
                }
                (op, v)
            })
    }

    #[test]
    fn sure_single_takes_the_usual_values() {
        if !runs() {
            return;
        }
        for (op, v) in USUAL {
            let mut buf = v.to_vec();
            buf.resize(v.len() + 64, b'|');
            // SAFETY: the features are checked above; 64 bytes past it.
            let sure = unsafe { sure_single(op, &buf, 0, v.len()) };
            assert!(sure, "{op:?} {:?}", String::from_utf8_lossy(v));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]
        /// Whatever [`sure_single`] passes, the scalar check passes.
        #[test]
        fn sure_single_is_sound((op, v) in single_value(), filler in any::<u8>()) {
            if !runs() {
                return Ok(());
            }
            let mut buf = v.clone();
            buf.resize(v.len() + 64, filler);
            // SAFETY: the features are checked above; 64 bytes past it.
            let sure = unsafe { sure_single(op, &buf, 0, v.len()) };
            let c = Compiled::new(&Layout::embedded());
            if sure {
                prop_assert!(
                    c.check(op, trim(&v), true).is_ok(),
                    "{:?} {:?}", op, String::from_utf8_lossy(&v)
                );
            }
        }
    }

    /// The 192-bit operations against one bit per `bool`.
    fn bools(b: Bits) -> Vec<bool> {
        (0..192).map(|i| b.0[i / 64] >> (i % 64) & 1 == 1).collect()
    }

    proptest! {
        #[test]
        fn bits_shift_and_subtract(a in any::<[u64; 3]>(), o in any::<[u64; 3]>(), k in 1u32..64) {
            let (a, o) = (Bits(a), Bits(o));
            let x = bools(a);
            let left: Vec<bool> = (0..192).map(|i| i >= k as usize && x[i - k as usize]).collect();
            let right: Vec<bool> = (0..192).map(|i| i + (k as usize) < 192 && x[i + k as usize]).collect();
            prop_assert_eq!(bools(a.shl(k)), left);
            prop_assert_eq!(bools(a.shr(k)), right);
            // Subtraction, as u128 on the low two words plus the third.
            let lo = |b: Bits| u128::from(b.0[0]) | u128::from(b.0[1]) << 64;
            let d = a.sub(o);
            prop_assert_eq!(lo(d), lo(a).wrapping_sub(lo(o)));
            let borrow = u64::from(lo(a) < lo(o));
            prop_assert_eq!(d.0[2], a.0[2].wrapping_sub(o.0[2]).wrapping_sub(borrow));
            prop_assert_eq!(a.count(), x.iter().filter(|&&b| b).count() as u32);
        }
    }
}

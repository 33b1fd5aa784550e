//! Runs of ID rows, checked 64 bytes at a time.
//!
//! Most lines of a BIF file are ID rows (`ID|text|amount`), five or so after
//! every invoice's CR. Taken one by one, each costs a line search, a dispatch
//! on its kind and its own masks. Here every rule of an ordinary ID row is
//! a bit operation over a 64-byte block, so all the ID rows that end in
//! the block are accepted at once (two or three for typical rows):
//!
//! * a row starts at the block's start or after a `\n`, with `ID|`;
//! * its other `|`s and its `\n` alternate (one more `|` per row), which a
//!   prefix XOR shows; between its `|`s is the text, then the amount;
//! * the text is not all blanks (the carry of an addition runs through the
//!   blanks after each first `|`, and must stop before the second);
//! * the amount is digits, at most one `-` (first) and one `.` (two or
//!   three bytes before the end, after a digit), at most 16 bytes.
//!
//! Like the rest of the lane it only ever *accepts*. A block is cut before
//! the first row that is not an ID row (the next invoice's IH); a block with
//! an unusual ID row (a blank in an amount, a byte over 0x7F, a long amount,
//! a missing text...) is not taken at all, and its rows go through the
//! lane's one-row path, which decides and reports. The tests hold the block
//! to the scalar rules on generated and mutated rows.

use std::arch::x86_64::*;

use super::super::TextAmount;
use super::{PREFETCH, ones};

/// Whether ID rows of `shape` can be checked in blocks: a row that ends
/// inside a block is shorter than 64 bytes, so a text that is not empty
/// meets a minimum length of at most 1 and a maximum of at least 64.
pub(super) fn fits(shape: &TextAmount) -> bool {
    shape.min <= 1 && shape.max >= 64
}

/// Bit i of the result is the XOR of bits 0..=i of `x`.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// Bits 1..=16 after each bit of `x`.
#[inline(always)]
fn next16(x: u64) -> u64 {
    let mut s = x << 1;
    s |= s << 1;
    s |= s << 2;
    s |= s << 4;
    s |= s << 8;
    s
}

/// Accepts the ordinary ID rows from `start` (a line start, the scanner in
/// the state where ID rows are expected), block after block: answers how
/// many lines, and where the line after them starts. Stops at the first
/// block it cannot take (0 lines when that is the first).
///
/// # Safety
/// The CPU must have the lane's features; `fits(&shape)`.
#[target_feature(enable = "avx512f,avx512bw,bmi1,bmi2,popcnt,lzcnt")]
pub(super) unsafe fn run(shape: TextAmount, bytes: &[u8], mut start: usize) -> (u64, usize) {
    let mut lines = 0u64;
    while start + 64 <= bytes.len() {
        // SAFETY: bytes[start..start + 64] is inside the slice.
        let v = unsafe { _mm512_loadu_si512(bytes.as_ptr().add(start).cast()) };
        _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().wrapping_add(start + PREFETCH).cast());
        let Some(n) = block(shape, v) else {
            break;
        };
        lines += u64::from(n.0);
        start += n.1;
    }
    (lines, start)
}

/// The ID rows that end in the block `v` (which starts at a line start),
/// up to the first row that is not an ID row: `Some((rows, bytes))` when
/// there is at least one and every one of them is ordinary, else `None`.
#[target_feature(enable = "avx512f,avx512bw,bmi1,bmi2,popcnt,lzcnt")]
#[inline]
fn block(shape: TextAmount, v: __m512i) -> Option<(u32, usize)> {
    let eq = |x: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(x as i8));
    let nl = eq(b'\n');
    let pipe = eq(b'|');
    // Line starts, and those of ID rows.
    let starts = 1 | nl << 1;
    let id = starts & eq(b'I') & eq(b'D') >> 1 & pipe >> 2;
    // Rows up to the first line start that is not an ID row's (the line
    // cut by the block's end is never taken: it ends at no `\n` here).
    let before = ones((starts & !id).trailing_zeros() as usize);
    let nls = nl & before;
    if nls == 0 {
        return None;
    }
    let last = 63 - nls.leading_zeros() as usize;
    let span = ones(last + 1);
    let starts = starts & span;
    let first = starts << 2;
    let second = pipe & span & !first;
    // One more `|` per row: seconds and `\n`s alternate, a second first.
    let amount_run = prefix_xor(second | nls);
    let mut bad = second & !amount_run | nls & amount_run;
    bad |= _mm512_movepi8_mask(v) & span;
    // The amount ends before a `\r` that ends the line.
    let cr_end = nls >> 1 & eq(b'\r');
    let end = cr_end | nls & !(cr_end << 1);
    let amount = amount_run & !second & !cr_end;
    let text = prefix_xor(first | second) & !first;
    let blank = eq(b' ') | eq(b'\t');
    if shape.text_required {
        // The carry from each text's first byte runs through its leading
        // blanks to its first solid byte: the second `|` if there is none.
        let solid_first = (first << 1).wrapping_add(blank & text) & !(blank & text);
        bad |= solid_first & second;
    }
    let empty_amount = second << 1 & end;
    if shape.amount_required {
        bad |= empty_amount;
    }
    let digit = _mm512_cmplt_epu8_mask(
        _mm512_sub_epi8(v, _mm512_set1_epi8(b'0' as i8)),
        _mm512_set1_epi8(10),
    );
    let dash = eq(b'-') & amount;
    let dot = eq(b'.') & amount;
    bad |= amount & !(digit | dash | dot);
    // `-` first, then a digit.
    bad |= dash & !(second << 1) | (dash << 1) & !digit;
    // `.` after a digit, one or two digits before the end: so at most one.
    bad |= dot & !(end >> 2 | end >> 3) | (dot >> 1) & !digit | dot & dot >> 1;
    // At most 16 bytes (so at most 16 digits before the point).
    bad |= amount & !next16(second);
    if bad != 0 {
        return None;
    }
    Some((nls.count_ones(), last + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHAPE: TextAmount = TextAmount {
        min: 1,
        max: 100,
        text_required: true,
        amount_required: true,
    };

    /// The rows `block` accepts at the start of `text` (padded to 64 bytes
    /// with `pad`), as their byte length.
    fn accepted(shape: TextAmount, text: &[u8], pad: u8) -> Option<usize> {
        if !super::super::available() {
            return None;
        }
        let mut buf = text.to_vec();
        buf.resize(64.max(buf.len()), pad);
        // SAFETY: the lane's features were checked; 64 bytes are there.
        let v = unsafe { _mm512_loadu_si512(buf.as_ptr().cast()) };
        unsafe { block(shape, v) }.map(|(_, n)| n)
    }

    /// Whether one row (without its `\n`) is an ordinary ID row by the
    /// scalar rules.
    fn scalar_ok(shape: TextAmount, row: &[u8]) -> bool {
        let Some(rest) = row.strip_prefix(b"ID|") else {
            return false;
        };
        if !row.is_ascii() {
            return false;
        }
        let parts: Vec<&[u8]> = rest.split(|&b| b == b'|').collect();
        let [text, amount] = parts.as_slice() else {
            return false;
        };
        let amount = amount.strip_suffix(b"\r").unwrap_or(amount);
        let t = crate::bif::scan::trim(text);
        let text_ok = if t.is_empty() {
            !shape.text_required
        } else {
            (shape.min..=shape.max).contains(&t.len())
        };
        let a = crate::bif::scan::trim(amount);
        let amount_ok = if a.is_empty() {
            !shape.amount_required
        } else {
            crate::bif::format::amount_cents(a).is_ok()
        };
        text_ok && amount_ok
    }

    /// What `block` accepts is a prefix of the rows, each of which the
    /// scalar rules accept.
    fn sound(shape: TextAmount, text: &[u8], pad: u8) {
        let Some(n) = accepted(shape, text, pad) else {
            return;
        };
        let mut buf = text.to_vec();
        buf.resize(64.max(buf.len()), pad);
        assert!(n > 0 && n <= 64 && buf[n - 1] == b'\n');
        for row in buf[..n - 1].split(|&b| b == b'\n') {
            assert!(
                scalar_ok(shape, row),
                "accepted {:?} in {:?}",
                String::from_utf8_lossy(row),
                String::from_utf8_lossy(&buf)
            );
        }
    }

    #[test]
    fn ordinary_rows_are_accepted() {
        if !super::super::available() {
            return;
        }
        let rows = b"ID|CUSTOMER CHARGE|12.00\nID|SALES TAX 6%|-6.92\nID|X|7\nIH|R|";
        assert_eq!(
            accepted(SHAPE, rows, b'x'),
            Some(rows.len() - b"IH|R|".len())
        );
        let crlf = b"ID|CUSTOMER CHARGE   |12.5\r\nID|A|0\r\n";
        assert_eq!(accepted(SHAPE, crlf, b'x'), Some(crlf.len()));
        // A row cut by the block's end is left for the next block.
        let cut = b"ID|CUSTOMER CHARGE|12.00\nID|ENERGY CHARGE 761 KWH @ 0.1321|100.52";
        assert_eq!(accepted(SHAPE, cut, b'9'), Some(25));
    }

    #[test]
    fn unusual_rows_stop_the_block() {
        for row in [
            &b"ID|   |1.00\n"[..],
            b"ID|A|\n",
            b"ID|A|1.\n",
            b"ID|A|.5\n",
            b"ID|A|-.5\n",
            b"ID|A|1.234\n",
            b"ID|A|1..2\n",
            b"ID|A|1.2.3\n",
            b"ID|A|--1\n",
            b"ID|A|1-\n",
            b"ID|A|-\n",
            b"ID|A|+1\n",
            b"ID|A| 1\n",
            b"ID|A|1|2\n",
            b"ID|A\n",
            b"ID|A|12345678901234567\n",
            b"ID|A|1\r2\n",
            b"ID|\xe9|1\n",
            b"IH|A|1\n",
            b"\n",
        ] {
            assert_eq!(
                accepted(SHAPE, row, b'x'),
                None,
                "{:?}",
                String::from_utf8_lossy(row)
            );
            sound(SHAPE, row, b'x');
        }
    }

    fn row_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                8 => Just(b'0'), 4 => Just(b'5'), 4 => Just(b'.'), 3 => Just(b'-'),
                4 => Just(b'|'), 6 => Just(b'\n'), 4 => Just(b' '), 1 => Just(b'\t'),
                2 => Just(b'\r'), 3 => Just(b'I'), 3 => Just(b'D'), 2 => Just(b'A'),
                1 => 0u8..=255,
            ],
            0..70,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn accepts_only_what_the_scalar_rules_accept(
            rows in proptest::collection::vec(
                prop_oneof![
                    // Ordinary rows, mutated below.
                    (0usize..40, 0usize..6, any::<bool>()).prop_map(|(t, a, neg)| {
                        let mut r = b"ID|".to_vec();
                        r.extend(std::iter::repeat_n(b'T', t));
                        r.push(b'|');
                        if neg { r.push(b'-'); }
                        r.extend(std::iter::repeat_n(b'4', a));
                        r.extend_from_slice(b".25\n");
                        r
                    }),
                    row_bytes(),
                ],
                1..5,
            ),
            edits in proptest::collection::vec((0usize..64, prop_oneof![
                Just(b'|'), Just(b'\n'), Just(b'.'), Just(b'-'), Just(b' '), Just(b'\r'), Just(b'x'), Just(0x80u8),
            ]), 0..3),
            pad in prop_oneof![Just(b'x'), Just(b'\n'), Just(b'|')],
            required in any::<(bool, bool)>(),
        ) {
            let mut text: Vec<u8> = rows.concat();
            for (i, b) in edits {
                if let Some(x) = text.get_mut(i) {
                    *x = b;
                }
            }
            let shape = TextAmount { text_required: required.0, amount_required: required.1, ..SHAPE };
            sound(shape, &text, pad);
        }
    }
}

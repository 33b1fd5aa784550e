//! Field format checks (`interface.md` §1.1, formats of `bif-layout.csv`).
//!
//! One function per format. They work on the trimmed bytes of a non-empty
//! field, never allocate, and answer with the [`Code`] of the problem. They
//! are the validator's hot path: a 1 GB file has tens of millions of fields.

use super::issue::Code;
use super::layout::{DatePart, FieldFormat};

/// A calendar date, packed so that comparing packs compares dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ymd {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Ymd {
    pub fn to_naive(self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::from_ymd_opt(self.year.into(), self.month.into(), self.day.into())
    }
}

/// Checks `v` (trimmed, non-empty) against `format`.
pub fn check(format: &FieldFormat, v: &[u8]) -> Result<(), Code> {
    match format {
        FieldFormat::Literal(x) => literal(x, v),
        FieldFormat::Enum(xs) => one_of(xs, v),
        FieldFormat::Guid => guid(v),
        FieldFormat::Int => int(v).map(|_| ()),
        FieldFormat::Amount => amount_cents(v).map(|_| ()),
        FieldFormat::Date { parts, .. } => date(parts, v).map(|_| ()),
        FieldFormat::Digits => digits(v),
        FieldFormat::Text { min, max } => text(*min, *max, v),
        FieldFormat::BaseBctr => base_bctr(v),
        FieldFormat::Account => account(v),
        FieldFormat::UsState => us_state(v),
        FieldFormat::Zip => zip(v),
        FieldFormat::Phone => phone(v),
        FieldFormat::Email => email(v),
        FieldFormat::Yn => yn(v),
    }
}

/// `literal:X`: exactly X (RowType).
#[inline]
pub fn literal(x: &str, v: &[u8]) -> Result<(), Code> {
    if same(x.as_bytes(), v) {
        Ok(())
    } else {
        Err(Code::BadLiteral)
    }
}

/// `a == b` for the few bytes of a literal or enum value, without a call
/// to `memcmp` (these run on every row).
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// `enum:A|B`: one of the values, case-sensitive (IH RecordType `R`).
#[inline]
pub fn one_of(xs: &[String], v: &[u8]) -> Result<(), Code> {
    if xs.iter().any(|x| same(x.as_bytes(), v)) {
        Ok(())
    } else {
        Err(Code::BadEnum)
    }
}

/// `guid`: 8-4-4-4-12 hex digits, either case, no braces (BillerGuid,
/// InvoiceFormatGuid).
#[inline]
pub fn guid(v: &[u8]) -> Result<(), Code> {
    let Ok(v) = <&[u8; 36]>::try_from(v) else {
        return Err(Code::BadGuid);
    };
    // No early exit: a fixed-size, branch-free pass.
    let mut bad = false;
    for (i, &b) in v.iter().enumerate() {
        bad |= match i {
            8 | 13 | 18 | 23 => b != b'-',
            _ => !HEX[usize::from(b)],
        };
    }
    if bad { Err(Code::BadGuid) } else { Ok(()) }
}

/// Which bytes are hex digits.
const HEX: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).is_ascii_hexdigit();
        i += 1;
    }
    t
};

/// `int`: a whole non-negative number that fits in 64 bits (InvoiceCount).
#[inline]
pub fn int(v: &[u8]) -> Result<u64, Code> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Code::BadInt);
    }
    Ok(v.iter().fold(0u64, |n, &b| n * 10 + u64::from(b - b'0')))
}

/// `amount`: optional `-`, digits, optionally `.` and one or two digits; no
/// `$`, commas, `+` or exponent. Returns the value in cents. Amounts beyond
/// ±10^16 dollars are refused rather than risk overflow.
#[inline]
pub fn amount_cents(v: &[u8]) -> Result<i64, Code> {
    let (neg, rest) = match v.split_first() {
        Some((b'-', r)) => (true, r),
        _ => (false, v),
    };
    let mut cents: i64 = 0;
    let mut int_digits = 0usize;
    let mut i = 0usize;
    while i < rest.len() {
        let b = rest[i];
        if b.is_ascii_digit() {
            if int_digits == 16 {
                // Refused before the value could overflow (found by fuzzing).
                return Err(Code::BadAmount);
            }
            cents = cents * 10 + i64::from(b - b'0');
            int_digits += 1;
            i += 1;
        } else {
            break;
        }
    }
    if int_digits == 0 || int_digits > 16 {
        return Err(Code::BadAmount);
    }
    cents *= 100;
    match &rest[i..] {
        [] => {}
        [b'.', d0] if d0.is_ascii_digit() => cents += i64::from(d0 - b'0') * 10,
        [b'.', d0, d1] if d0.is_ascii_digit() && d1.is_ascii_digit() => {
            cents += i64::from(d0 - b'0') * 10 + i64::from(d1 - b'0')
        }
        _ => return Err(Code::BadAmount),
    }
    Ok(if neg { -cents } else { cents })
}

/// `date:PATTERN` (`%m/%d/%Y`): two-digit month and day, four-digit year,
/// literal characters as in the pattern, and a real calendar day (no
/// 02/30/2026). Parsed by hand: chrono's parser is far slower.
pub fn date(parts: &[DatePart], v: &[u8]) -> Result<Ymd, Code> {
    let mut i = 0usize;
    let (mut y, mut m, mut d) = (0u16, 0u8, 0u8);
    let take = |n: usize, i: &mut usize| -> Result<u16, Code> {
        let s = v.get(*i..*i + n).ok_or(Code::BadDate)?;
        *i += n;
        if !s.iter().all(u8::is_ascii_digit) {
            return Err(Code::BadDate);
        }
        Ok(s.iter().fold(0u16, |n, &b| n * 10 + u16::from(b - b'0')))
    };
    for p in parts {
        match p {
            DatePart::Month => m = take(2, &mut i)? as u8,
            DatePart::Day => d = take(2, &mut i)? as u8,
            DatePart::Year => y = take(4, &mut i)?,
            DatePart::Lit(c) => {
                if v.get(i) != Some(c) {
                    return Err(Code::BadDate);
                }
                i += 1;
            }
        }
    }
    if i != v.len() {
        return Err(Code::BadDate);
    }
    calendar(y, m, d)
}

/// A real calendar day (no 02/30, no year 0).
#[inline]
pub fn calendar(year: u16, month: u8, day: u8) -> Result<Ymd, Code> {
    if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(Code::BadDate);
    }
    Ok(Ymd { year, month, day })
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        _ => 28,
    }
}

/// `digits`: ASCII digits only (Custom2, Custom3, Custom4).
#[inline]
pub fn digits(v: &[u8]) -> Result<(), Code> {
    if !v.is_empty() && v.iter().all(u8::is_ascii_digit) {
        Ok(())
    } else {
        Err(Code::BadDigits)
    }
}

/// The number of characters in `v`: UTF-8 where it is valid, one per byte
/// where it is not (Windows-1252).
pub fn char_count(v: &[u8]) -> usize {
    match simdutf8::basic::from_utf8(v) {
        Ok(_) => v.iter().filter(|&&b| (b as i8) >= -0x40).count(),
        Err(_) => v.len(),
    }
}

/// `text:MIN..MAX`: a length in characters. Characters are only counted when
/// the byte length cannot decide (a character is 1 to 4 bytes).
#[inline]
pub fn text(min: usize, max: usize, v: &[u8]) -> Result<(), Code> {
    let n = v.len();
    if n <= max && n >= min.saturating_mul(4) {
        return Ok(());
    }
    let chars = char_count(v);
    if chars > max {
        Err(Code::TextTooLong)
    } else if chars < min {
        Err(Code::TextTooShort)
    } else {
        Ok(())
    }
}

/// Digits, a dash, digits: both halves non-empty. In one pass: exactly one
/// byte is not a digit, and it is a dash with digits on both sides.
#[inline]
fn digits_dash_digits(v: &[u8]) -> bool {
    let mut others = 0usize;
    let mut at = 0usize;
    for (i, &b) in v.iter().enumerate() {
        if !b.is_ascii_digit() {
            others += 1;
            at = i;
        }
    }
    others == 1 && at > 0 && at + 1 < v.len() && v[at] == b'-'
}

/// `base-bctr`: Custom10, base account and billing control number
/// (`1234-12345`; seed, Custom10 examples). The part after the dash is the
/// BCTR of the PDF link where setting 131 says ValueAfterDash (INT-5475).
#[inline]
pub fn base_bctr(v: &[u8]) -> Result<(), Code> {
    if digits_dash_digits(v) {
        Ok(())
    } else {
        Err(Code::BadBaseBctr)
    }
}

/// `account`: base-sub (`35909-001`, seed: MSACCT-MSUB).
#[inline]
pub fn account(v: &[u8]) -> Result<(), Code> {
    if digits_dash_digits(v) {
        Ok(())
    } else {
        Err(Code::BadAccount)
    }
}

/// USPS codes of the states, DC, territories and military "states".
const STATES: [&[u8; 2]; 62] = [
    b"AL", b"AK", b"AZ", b"AR", b"CA", b"CO", b"CT", b"DE", b"FL", b"GA", b"HI", b"ID", b"IL",
    b"IN", b"IA", b"KS", b"KY", b"LA", b"ME", b"MD", b"MA", b"MI", b"MN", b"MS", b"MO", b"MT",
    b"NE", b"NV", b"NH", b"NJ", b"NM", b"NY", b"NC", b"ND", b"OH", b"OK", b"OR", b"PA", b"RI",
    b"SC", b"SD", b"TN", b"TX", b"UT", b"VT", b"VA", b"WA", b"WV", b"WI", b"WY", b"DC", b"AS",
    b"GU", b"MP", b"PR", b"VI", b"UM", b"FM", b"MH", b"PW", b"AA", b"AE",
];

/// [`STATES`] and `AP` as a bit table: bit `second - 'A'` of entry
/// `first - 'A'`.
const STATE_BITS: [u32; 26] = {
    let mut t = [0u32; 26];
    let mut i = 0;
    while i < STATES.len() {
        let s = STATES[i];
        t[(s[0] - b'A') as usize] |= 1 << (s[1] - b'A');
        i += 1;
    }
    t[0] |= 1 << (b'P' - b'A');
    t
};

/// `us-state`: a two-letter USPS code, upper case.
#[inline]
pub fn us_state(v: &[u8]) -> Result<(), Code> {
    match *v {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z']
            if STATE_BITS[usize::from(a - b'A')] >> (b - b'A') & 1 == 1 =>
        {
            Ok(())
        }
        _ => Err(Code::BadState),
    }
}

/// `zip`: `49331`, `49331-1234` or `493311234`.
#[inline]
pub fn zip(v: &[u8]) -> Result<(), Code> {
    let ok = match v.len() {
        5 | 9 => v.iter().all(u8::is_ascii_digit),
        10 => v[5] == b'-' && v[..5].iter().chain(&v[6..]).all(u8::is_ascii_digit),
        _ => false,
    };
    if ok { Ok(()) } else { Err(Code::BadZip) }
}

/// `phone`: ten digits once spaces, dashes, dots and parentheses are
/// removed (`616-555-0100`, `(616) 555-0100`, `616.555.0100`); a leading
/// country code `1` is accepted (`+1 616 555 0100`).
#[inline]
pub fn phone(v: &[u8]) -> Result<(), Code> {
    let mut n = 0usize;
    let mut first = 0u8;
    for &b in v {
        match b {
            b'0'..=b'9' => {
                if n == 0 {
                    first = b;
                }
                n += 1;
            }
            b' ' | b'-' | b'.' | b'(' | b')' | b'+' => {}
            _ => return Err(Code::BadPhone),
        }
    }
    if n == 10 || (n == 11 && first == b'1') {
        Ok(())
    } else {
        Err(Code::BadPhone)
    }
}

/// `email`: one `@`, a non-empty local part, a domain with a dot that
/// neither starts nor ends it, no spaces or control characters. Deliberately
/// simple: IC sends mail to it; the CIS is the place for stricter checks.
#[inline]
pub fn email(v: &[u8]) -> Result<(), Code> {
    // Plain loops: these strings are short, and a memmem searcher costs
    // more to build than the whole check.
    let clean = |b: u8| b > b' ' && b != 0x7f && b != b'@';
    let Some(at) = v.iter().position(|&b| b == b'@') else {
        return Err(Code::BadEmail);
    };
    let (local, domain) = (&v[..at], &v[at + 1..]);
    let ok = match (domain.first(), domain.last()) {
        (Some(&first), Some(&last)) => {
            !local.is_empty()
                && local.iter().all(|&b| clean(b))
                && domain.len() >= 3
                && first != b'.'
                && last != b'.'
        }
        _ => false,
    };
    if !ok {
        return Err(Code::BadEmail);
    }
    let (mut dot, mut prev) = (false, 0u8);
    for &b in domain {
        if !clean(b) || (b == b'.' && prev == b'.') {
            return Err(Code::BadEmail);
        }
        dot |= b == b'.';
        prev = b;
    }
    if dot { Ok(()) } else { Err(Code::BadEmail) }
}

/// `yn`: `Y` or `N`.
#[inline]
pub fn yn(v: &[u8]) -> Result<(), Code> {
    if v == b"Y" || v == b"N" {
        Ok(())
    } else {
        Err(Code::BadYn)
    }
}

/// What a format expects, for messages ("is not a date in %m/%d/%Y").
pub fn expectation(format: &FieldFormat) -> String {
    match format {
        FieldFormat::Literal(x) => format!("must be {x}"),
        FieldFormat::Enum(xs) => format!("must be one of {}", xs.join(", ")),
        FieldFormat::Guid => "is not a GUID (8-4-4-4-12 hex digits)".into(),
        FieldFormat::Int => "is not a whole number".into(),
        FieldFormat::Amount => {
            "is not an amount (optional -, digits, at most two decimals, no $ or commas)".into()
        }
        FieldFormat::Date { pattern, .. } => format!("is not a date in {pattern}"),
        FieldFormat::Digits => "is not digits only".into(),
        FieldFormat::Text { min, max } => format!("must be {min} to {max} characters"),
        FieldFormat::BaseBctr => "is not base-BCTR (digits-digits, e.g. 1234-12345)".into(),
        FieldFormat::Account => "is not base-sub (digits-digits, e.g. 35909-001)".into(),
        FieldFormat::UsState => "is not a two-letter US state code".into(),
        FieldFormat::Zip => "is not a ZIP code (12345 or 12345-6789)".into(),
        FieldFormat::Phone => "is not a 10-digit phone number".into(),
        FieldFormat::Email => "is not an e-mail address".into(),
        FieldFormat::Yn => "must be Y or N".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Vec<DatePart> {
        match FieldFormat::parse("date:%m/%d/%Y").unwrap() {
            FieldFormat::Date { parts, .. } => parts,
            _ => unreachable!(),
        }
    }

    #[test]
    fn literal_and_enum() {
        assert!(literal("FH", b"FH").is_ok());
        assert_eq!(literal("FH", b"fh"), Err(Code::BadLiteral));
        assert!(one_of(&["R".into()], b"R").is_ok());
        assert_eq!(one_of(&["R".into()], b"S"), Err(Code::BadEnum));
    }

    #[test]
    fn guids() {
        assert!(guid(b"3F358D04-4273-4551-BB14-B9F719EC0A61").is_ok());
        assert!(guid(b"3f358d04-4273-4551-bb14-b9f719ec0a61").is_ok());
        for bad in [
            &b"{3F358D04-4273-4551-BB14-B9F719EC0A61}"[..],
            b"3F358D04427345 51BB14B9F719EC0A61",
            b"3F358D04-4273-4551-BB14-B9F719EC0A6G",
            b"3F358D04-4273-4551-BB14B-9F719EC0A61",
        ] {
            assert_eq!(guid(bad), Err(Code::BadGuid));
        }
    }

    #[test]
    fn ints() {
        assert_eq!(int(b"0"), Ok(0));
        assert_eq!(int(b"312"), Ok(312));
        for bad in [&b"-1"[..], b"1.0", b"x", b"99999999999999999999"] {
            assert_eq!(int(bad), Err(Code::BadInt));
        }
    }

    #[test]
    fn amounts() {
        assert_eq!(amount_cents(b"0"), Ok(0));
        assert_eq!(amount_cents(b"1.5"), Ok(150));
        assert_eq!(amount_cents(b"-1.05"), Ok(-105));
        assert_eq!(amount_cents(b"48213.77"), Ok(4821377));
        assert_eq!(
            amount_cents(b"9999999999999999.99"),
            Ok(999_999_999_999_999_999)
        );
        for bad in [
            &b"-"[..],
            b"1.",
            b".5",
            b"1.234",
            b"$1",
            b"1,000",
            b"+1",
            b"1e3",
            b"--1",
            b"12345678901234567",
            b"99999999999999999999999999999999",
            b"-99999999999999999999999999999999.99",
        ] {
            assert_eq!(amount_cents(bad), Err(Code::BadAmount), "{bad:?}");
        }
    }

    #[test]
    fn dates_are_calendar_dates() {
        let p = parts();
        assert_eq!(
            date(&p, b"11/26/2026"),
            Ok(Ymd {
                year: 2026,
                month: 11,
                day: 26
            })
        );
        assert!(date(&p, b"02/29/2028").is_ok());
        assert!(date(&p, b"02/29/2000").is_ok());
        for bad in [
            &b"13/01/2026"[..],
            b"02/29/2026",
            b"02/29/2100",
            b"04/31/2026",
            b"1/2/2026",
            b"11-26-2026",
            b"11/26/26",
            b"11/26/20266",
            b"00/10/2026",
            b"01/00/2026",
            b"01/01/0000",
        ] {
            assert_eq!(date(&p, bad), Err(Code::BadDate), "{bad:?}");
        }
        assert!(
            date(&p, b"01/31/2026").unwrap() < date(&p, b"02/01/2026").unwrap(),
            "packed dates compare as dates"
        );
    }

    #[test]
    fn digits_and_pairs() {
        assert!(digits(b"0012").is_ok());
        assert_eq!(digits(b"12a"), Err(Code::BadDigits));
        assert!(base_bctr(b"1234-12345").is_ok());
        assert!(account(b"35909-001").is_ok());
        for bad in [&b"1234"[..], b"-1", b"1-", b"1-2-3", b"a-1"] {
            assert_eq!(base_bctr(bad), Err(Code::BadBaseBctr), "{bad:?}");
            assert_eq!(account(bad), Err(Code::BadAccount), "{bad:?}");
        }
    }

    #[test]
    fn text_counts_characters_not_bytes() {
        assert!(text(1, 3, "ééé".as_bytes()).is_ok());
        assert_eq!(text(1, 3, "éééé".as_bytes()), Err(Code::TextTooLong));
        assert_eq!(text(2, 3, b"a"), Err(Code::TextTooShort));
        // Windows-1252 bytes count one each.
        assert!(text(1, 3, b"\xe9\xe9\xe9").is_ok());
        assert_eq!(char_count("aé".as_bytes()), 2);
    }

    #[test]
    fn states_zips_phones() {
        assert!(us_state(b"MI").is_ok());
        assert!(us_state(b"PR").is_ok());
        assert_eq!(us_state(b"mi"), Err(Code::BadState));
        assert_eq!(us_state(b"XX"), Err(Code::BadState));
        for ok in [&b"49331"[..], b"49331-1234", b"493311234"] {
            assert!(zip(ok).is_ok());
        }
        for bad in [&b"4933"[..], b"49331-123", b"4933a", b"49331 1234"] {
            assert_eq!(zip(bad), Err(Code::BadZip));
        }
        for ok in [
            &b"616-555-0100"[..],
            b"(616) 555-0100",
            b"616.555.0100",
            b"6165550100",
            b"+1 616 555 0100",
        ] {
            assert!(phone(ok).is_ok(), "{ok:?}");
        }
        for bad in [&b"555-0100"[..], b"616-555-0100 x12", b"2616-555-0100"] {
            assert_eq!(phone(bad), Err(Code::BadPhone), "{bad:?}");
        }
    }

    #[test]
    fn emails_and_yn() {
        assert!(email(b"jane.doe@lowell-mi.example").is_ok());
        for bad in [
            &b"jane"[..],
            b"@x.com",
            b"a@b",
            b"a@.com",
            b"a@com.",
            b"a b@x.com",
            b"a@@x.com",
            b"a@x..com",
        ] {
            assert_eq!(email(bad), Err(Code::BadEmail), "{bad:?}");
        }
        assert!(yn(b"Y").is_ok() && yn(b"N").is_ok());
        assert_eq!(yn(b"y"), Err(Code::BadYn));
    }

    /// The straightforward versions the fast checks replaced: the fast ones
    /// must agree with them on any input.
    mod reference {
        use super::super::STATES;

        pub fn guid(v: &[u8]) -> bool {
            v.len() == 36
                && v.iter().enumerate().all(|(i, &b)| match i {
                    8 | 13 | 18 | 23 => b == b'-',
                    _ => b.is_ascii_hexdigit(),
                })
        }

        pub fn digits_dash_digits(v: &[u8]) -> bool {
            match memchr::memchr(b'-', v) {
                Some(i) => {
                    let (a, b) = (&v[..i], &v[i + 1..]);
                    !a.is_empty()
                        && !b.is_empty()
                        && a.iter().all(u8::is_ascii_digit)
                        && b.iter().all(u8::is_ascii_digit)
                }
                None => false,
            }
        }

        pub fn us_state(v: &[u8]) -> bool {
            v.len() == 2 && (STATES.iter().any(|s| s[..] == *v) || v == b"AP")
        }

        pub fn email(v: &[u8]) -> bool {
            let Some(at) = memchr::memchr(b'@', v) else {
                return false;
            };
            let (local, domain) = (&v[..at], &v[at + 1..]);
            let clean = |s: &[u8]| s.iter().all(|&b| b > b' ' && b != 0x7f && b != b'@');
            !local.is_empty()
                && clean(local)
                && clean(domain)
                && domain.len() >= 3
                && memchr::memchr(b'.', domain).is_some()
                && domain[0] != b'.'
                && domain[domain.len() - 1] != b'.'
                && memchr::memmem::find(domain, b"..").is_none()
        }
    }

    /// Bytes drawn mostly from the characters these formats care about.
    fn field() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let byte = prop_oneof![
            6 => proptest::sample::select(b"0123456789-.@ aAfFgGzZMIPK\t\x7f\xe9".to_vec()),
            1 => any::<u8>(),
        ];
        proptest::collection::vec(byte, 0..40)
    }

    proptest::proptest! {
        #[test]
        fn fast_checks_agree_with_the_reference(v in field()) {
            proptest::prop_assert_eq!(guid(&v).is_ok(), reference::guid(&v));
            proptest::prop_assert_eq!(digits_dash_digits(&v), reference::digits_dash_digits(&v));
            proptest::prop_assert_eq!(us_state(&v).is_ok(), reference::us_state(&v));
            proptest::prop_assert_eq!(email(&v).is_ok(), reference::email(&v));
        }

        #[test]
        fn fast_checks_agree_on_near_misses(
            hex in proptest::collection::vec(proptest::sample::select(b"0123456789abcdefABCDEFgG-".to_vec()), 36),
            a in 0u8..26, b in 0u8..26,
        ) {
            proptest::prop_assert_eq!(guid(&hex).is_ok(), reference::guid(&hex));
            let st = [b'A' + a, b'A' + b];
            proptest::prop_assert_eq!(us_state(&st).is_ok(), reference::us_state(&st));
        }
    }
}

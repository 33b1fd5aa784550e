//! Per-chunk validation and the exact merge of chunk summaries.
//!
//! A file is checked in line-aligned chunks, on all cores. Everything that
//! concerns one row (formats, required fields, column counts, encoding) is
//! decided inside its chunk. What spans rows is carried in a small, mergeable
//! [`ChunkSummary`]:
//!
//! * counts and totals are sums;
//! * InvoiceNumbers are kept as (64-bit hash, line, file offset, length), no
//!   copy of the bytes, and checked at the end of the file in bounded memory
//!   ([`super::dup`]), where equal hashes are confirmed on the real bytes, so
//!   a hash collision can never produce a false duplicate;
//! * row order (`FH` first; then `IH`, exactly one `CR`, any `ID`s) is a tiny
//!   state machine ([`Order`]). A chunk may start in the middle of an invoice,
//!   so until its first `IH` (after which every start converges) it runs the
//!   machine from each of the four possible entry states and keeps the events
//!   of each (the *head*). The merge picks the head of the state the previous
//!   chunk ended in, and resolves events that concern the previous chunk's
//!   open invoice (its missing CR, its account number) against that chunk's
//!   *tail*.
//!
//! Chunks number their lines from 1; the merge rebases them.

pub use super::dup::hash_bytes;
use super::dup::{ChunkKeys, DupIndex, NumberSource};
use super::format::{self, Ymd};
use super::issue::{Code, Issue, Severity};
use super::layout::{DatePart, FieldFormat, Layout, RecordKind};
use crate::config::PdfVersion;

#[cfg(target_arch = "x86_64")]
mod lane;

/// Lines longer than this are reported as `line_too_long` and not parsed:
/// no BIF row comes near it, and it bounds the streaming reader's memory.
pub const MAX_LINE: usize = 1 << 20;

/// What the scanner needs besides the bytes.
#[derive(Debug, Clone)]
pub struct ScanRules<'a> {
    pub layout: &'a Layout,
    /// FH BillerGuid must equal this, where set.
    pub biller_guid: Option<uuid::Uuid>,
    /// Setting 119: decides where Custom10 (BCTR) is needed.
    pub pdf_version: PdfVersion,
    /// The date in the file name, compared with FH FileCreationDate.
    pub name_date: Option<Ymd>,
    /// Issues kept per severity (all are counted).
    pub max_issues: usize,
    /// Use the portable engine whatever the CPU has.
    pub portable: bool,
}

/// Where the row-order machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// Nothing but blank lines so far: the next row must be FH.
    Start = 0,
    /// After FH (or a finished invoice's header errors): no invoice open.
    Ready = 1,
    /// An IH is open and waits for its CR.
    OpenIh = 2,
    /// The open invoice has its CR; ID rows may follow.
    OpenCr = 3,
}

const ENTRY_STATES: [Order; 4] = [Order::Start, Order::Ready, Order::OpenIh, Order::OpenCr];

/// An order event, before it is tied to a line and an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// The first row is not FH.
    MissingHeader,
    /// A CR or ID row out of place; the text says why.
    Orphan(&'static str),
    /// The open IH got no CR (a new IH came first).
    MissingCustomerOfOpen,
    /// This CR belongs to the open IH: check its account number.
    CustomerOfOpen,
}

/// One step of the row-order machine (`interface.md` §1.1 "Order"): the
/// state after a row of `kind`, and up to two events. Pure, so every rule of
/// the order is tested in one place.
#[inline]
pub fn step(state: Order, kind: RecordKind) -> (Order, [Option<OrderEvent>; 2]) {
    use OrderEvent::*;
    use RecordKind::*;
    if state == Order::Start {
        if kind == FH {
            return (Order::Ready, [None, None]);
        }
        let (next, [e, _]) = step(Order::Ready, kind);
        return (next, [Some(MissingHeader), e]);
    }
    match (state, kind) {
        // A later FH is reported by the merge (duplicate_header), not here.
        (s, FH) => (s, [None, None]),
        (Order::OpenIh, IH) => (Order::OpenIh, [Some(MissingCustomerOfOpen), None]),
        (_, IH) => (Order::OpenIh, [None, None]),
        (Order::OpenIh, CR) => (Order::OpenCr, [Some(CustomerOfOpen), None]),
        (Order::OpenCr, CR) => (
            Order::OpenCr,
            [Some(Orphan("a second CR row for the same invoice")), None],
        ),
        (s, CR) => (s, [Some(Orphan("a CR row without its IH")), None]),
        (Order::OpenCr, ID) => (Order::OpenCr, [None, None]),
        (Order::OpenIh, ID) => (
            Order::OpenIh,
            [Some(Orphan("an ID row before its invoice's CR row")), None],
        ),
        (s, ID) => (s, [Some(Orphan("an ID row without its IH")), None]),
    }
}

/// Issues kept up to a cap, counted all.
///
/// Within a chunk issues arrive in line order (every rule reports on the
/// line that reveals the problem), so keeping the first `max` plus the rest
/// of the line where the cap is reached keeps a superset of the file's first
/// `max` issues; the merge sorts and cuts exactly.
#[derive(Debug, Default, Clone)]
pub struct Sink {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
    pub error_count: u64,
    pub warning_count: u64,
    max: usize,
    last_error_line: u64,
    last_warning_line: u64,
}

impl Sink {
    pub fn new(max: usize) -> Sink {
        Sink {
            max,
            ..Sink::default()
        }
    }

    /// Counts an issue of `code` on `line` and builds it only while it may
    /// be kept, so a file with millions of bad rows costs no allocation per
    /// row.
    #[inline]
    pub fn report(&mut self, code: Code, line: u64, build: impl FnOnce() -> Issue) {
        let (list, count, last) = match code.severity() {
            Severity::Error => (
                &mut self.errors,
                &mut self.error_count,
                &mut self.last_error_line,
            ),
            Severity::Warning => (
                &mut self.warnings,
                &mut self.warning_count,
                &mut self.last_warning_line,
            ),
        };
        *count += 1;
        if list.len() < self.max || line <= *last {
            list.push(build());
            *last = (*last).max(line);
        }
    }

    pub fn push(&mut self, issue: Issue) {
        let code = issue.code;
        let line = issue.line.unwrap_or(0);
        self.report(code, line, || issue);
    }

    fn rebase(&mut self, delta: u64) {
        for i in self.errors.iter_mut().chain(self.warnings.iter_mut()) {
            if let Some(l) = i.line.as_mut() {
                *l += delta;
            }
            if let Some(l) = i.related_line.as_mut() {
                *l += delta;
            }
        }
    }
}

/// What the merge must do for a head event of one entry state.
#[derive(Debug, Clone)]
enum HeadEvent {
    Issue(Issue),
    /// The previous chunk's open IH has no CR; `at` is the row that showed it.
    MissingCustomerOfTail,
    /// A CR (line, trimmed AccountNumber when well formed) for the previous
    /// chunk's open IH.
    AccountOfTail {
        line: u64,
        account: Option<String>,
    },
}

#[derive(Debug, Clone)]
struct Head {
    state: Order,
    events: Vec<HeadEvent>,
    dropped: u64,
    last_line: u64,
}

/// The open invoice at the end of a chunk.
#[derive(Debug, Clone, Default)]
pub struct OpenIh {
    pub line: u64,
    pub custom2: Vec<u8>,
    pub custom3: Vec<u8>,
}

/// An FH row's numbers.
#[derive(Debug, Clone)]
pub struct FhRow {
    pub line: u64,
    pub invoice_count: Option<u64>,
    pub total_cents: Option<i64>,
}

/// Everything a chunk contributes to the file's verdict.
#[derive(Debug, Clone)]
pub struct ChunkSummary {
    pub lines: u64,
    pub invoices: u64,
    pub total_cents: i128,
    /// Rows that are not blank.
    pub rows: u64,
    sink: Sink,
    heads: [Head; 4],
    /// Set when the chunk has an IH: the state it ends in and its last IH.
    tail: Option<(Order, OpenIh)>,
    fh_rows: Vec<FhRow>,
    fh_count: u64,
    /// Line of the chunk's first IH.
    first_ih: Option<u64>,
    /// Its InvoiceNumbers, for the duplicate rule.
    keys: ChunkKeys,
}

impl ChunkSummary {
    /// Records an IH row's trimmed InvoiceNumber, `number`, found at byte
    /// `at` of the chunk on chunk line `line`, for the duplicate rule.
    #[inline]
    fn invoice_number(&mut self, line: u64, at: usize, number: &[u8]) {
        self.keys.push(line, at, number);
    }

    /// Where the slice the scanner numbered byte offsets from starts in the
    /// file (after a BOM it stripped). The caller sets it; the merge turns
    /// the chunk's InvoiceNumber offsets into file offsets with it.
    pub fn set_file_offset(&mut self, offset: u64) {
        self.keys.set_base(offset);
    }
}

#[inline]
fn trim(mut v: &[u8]) -> &[u8] {
    // Most fields have nothing to trim.
    match (v.first(), v.last()) {
        (Some(a), Some(b)) if !matches!(a, b' ' | b'\t') && !matches!(b, b' ' | b'\t') => {
            return v;
        }
        (None, _) | (_, None) => return v,
        _ => {}
    }
    // IBM i pads on the right, often by tens of spaces: drop 8 at a time.
    while v.len() >= 8 && v[v.len() - 8..] == *b"        " {
        v = &v[..v.len() - 8];
    }
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// A field's text for messages: UTF-8 where valid, else Windows-1252.
pub fn text_of(v: &[u8]) -> String {
    match std::str::from_utf8(v) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(v)
            .0
            .into_owned(),
    }
}

/// The PDF version an invoice's link uses (Custom9 may force 2); see
/// [`crate::pdf_link::effective_version`].
fn needs_bctr(configured: PdfVersion, custom9: &[u8]) -> bool {
    crate::pdf_link::effective_version(configured, custom9) >= PdfVersion::V2
}

/// Up to this many columns are kept per row; more are only counted.
const MAX_KEPT_FIELDS: usize = 64;

/// What a field is to the cross-field rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    None,
    FhGuid,
    FhDate,
    FhCount,
    FhTotal,
    IhNumber,
    IhDate,
    IhDue,
    IhTotal,
    IhCustom2,
    IhCustom3,
    IhCustom9,
    IhCustom10,
    CrAccount,
}

/// One field's check, compiled from its [`FieldFormat`] so that the hot
/// loop makes one jump per field and calls the check directly (inlined),
/// instead of going through [`format::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// RowType: already matched to the record kind.
    RowType,
    Text {
        min: usize,
        max: usize,
    },
    Amount,
    /// The usual `%m/%d/%Y`, checked without the generic pattern walk.
    DateMdy,
    /// Another date pattern: index into [`Compiled::dates`].
    Date(usize),
    Digits,
    Int,
    Guid,
    Account,
    BaseBctr,
    UsState,
    Zip,
    Phone,
    Email,
    Yn,
    /// `enum:`: index into [`Compiled::enums`].
    Enum(usize),
    /// `literal:` past position 1: index into [`Compiled::literals`].
    Literal(usize),
}

/// Which checked value the cross-field rules keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cap {
    None,
    Cents,
    Date,
    Due,
    Count,
}

#[derive(Debug, Clone)]
struct Spec {
    op: Op,
    cap: Cap,
    required: bool,
    role: Role,
    /// The check's verdict is what FhGuid / CrAccount call well formed
    /// (formats other than date, text, amount, digits).
    sets_ok: bool,
    /// `cap` or `role` is set: the field feeds a cross-field rule.
    post: bool,
}

#[derive(Debug, Clone)]
struct Rec {
    specs: Vec<Spec>,
    min_fields: usize,
}

/// Where the fast path keeps a field's value or place (index into its
/// small arrays).
mod slot {
    pub const NONE: usize = 0;
    pub const CENTS: usize = 1;
    pub const DATE: usize = 2;
    pub const DUE: usize = 3;
    pub const NUMBER: usize = 4;
    pub const C2: usize = 5;
    pub const C3: usize = 6;
    pub const ACCOUNT: usize = 7;
    pub const COUNT: usize = 8;
}

/// One field of a fast row program.
#[derive(Debug, Clone, Copy)]
struct FastField {
    op: Op,
    required: bool,
    slot: usize,
    /// The rules keep this field's value (`slot` is not [`slot::NONE`]).
    want: bool,
}

/// `a == b` for the few bytes of an account part, without a call to
/// `memcmp`.
#[inline(always)]
fn same_short(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// What the fast path keeps of a row's fields, by [`slot`]. A value or
/// span is only read when its bit of `seen` is set, so clearing `seen` is
/// enough to reuse it for the next row.
#[derive(Default)]
struct RowVals {
    vals: [u64; 9],
    spans: [(usize, usize); 9],
    seen: u32,
}

impl RowVals {
    #[inline(always)]
    fn put(&mut self, slot: usize, x: u64, span: (usize, usize)) {
        if let (Some(v), Some(s)) = (self.vals.get_mut(slot), self.spans.get_mut(slot)) {
            *v = x;
            *s = span;
            self.seen |= 1 << slot;
        }
    }

    #[inline(always)]
    fn has(&self, slot: usize) -> bool {
        self.seen >> slot & 1 == 1
    }

    /// The span kept in `slot`, or an empty one.
    #[inline(always)]
    fn span(&self, slot: usize) -> (usize, usize) {
        if self.has(slot) {
            self.spans[slot]
        } else {
            (0, 0)
        }
    }
}

/// A record kind compiled for [`Scanner::fast_row`]: the checks of columns
/// 1.. in order, and where the values the cross-field rules use go.
#[derive(Debug, Clone)]
struct FastRec {
    fields: Vec<FastField>,
    min_fields: usize,
    /// The row is a text then an amount, neither kept by the rules (ID rows
    /// of the usual layout): the lane checks it from one 64-byte step.
    text_amount: Option<TextAmount>,
    /// The program as the lane's whole-row check (IH and CR rows).
    #[cfg(target_arch = "x86_64")]
    whole: Option<lane::whole::Whole>,
}

/// The shape of a [`FastRec::text_amount`] row.
#[derive(Debug, Clone, Copy)]
struct TextAmount {
    min: usize,
    max: usize,
    text_required: bool,
    amount_required: bool,
}

/// The layout compiled for scanning: one [`Rec`] per record kind.
#[derive(Debug, Clone)]
struct Compiled {
    recs: [Rec; 4],
    /// The fast program of IH, CR and ID rows (`None`: the kind always takes
    /// the general path, as FH does).
    fast: [Option<FastRec>; 4],
    dates: Vec<Vec<DatePart>>,
    enums: Vec<Vec<String>>,
    literals: Vec<String>,
}

impl Compiled {
    fn new(layout: &Layout) -> Compiled {
        let k = layout.keys();
        let mut dates = Vec::new();
        let mut enums = Vec::new();
        let mut literals = Vec::new();
        let mut rec = |kind: RecordKind| {
            let r = layout.record(kind);
            let specs: Vec<Spec> = r
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    use RecordKind::*;
                    let role = match kind {
                        FH if i == k.fh_biller_guid => Role::FhGuid,
                        FH if i == k.fh_creation_date => Role::FhDate,
                        FH if i == k.fh_invoice_count => Role::FhCount,
                        FH if i == k.fh_total_amount => Role::FhTotal,
                        IH if i == k.ih_invoice_number => Role::IhNumber,
                        IH if i == k.ih_invoice_date => Role::IhDate,
                        IH if i == k.ih_due_date => Role::IhDue,
                        IH if i == k.ih_total_amount_due => Role::IhTotal,
                        IH if i == k.ih_custom2 => Role::IhCustom2,
                        IH if i == k.ih_custom3 => Role::IhCustom3,
                        IH if i == k.ih_custom9 => Role::IhCustom9,
                        IH if i == k.ih_custom10 => Role::IhCustom10,
                        CR if i == k.cr_account_number => Role::CrAccount,
                        _ => Role::None,
                    };
                    let op = match &f.format {
                        _ if i == 0 => Op::RowType,
                        FieldFormat::Literal(x) => {
                            literals.push(x.clone());
                            Op::Literal(literals.len() - 1)
                        }
                        FieldFormat::Enum(xs) => {
                            enums.push(xs.clone());
                            Op::Enum(enums.len() - 1)
                        }
                        FieldFormat::Date { pattern, .. } if pattern == "%m/%d/%Y" => Op::DateMdy,
                        FieldFormat::Date { parts, .. } => {
                            dates.push(parts.clone());
                            Op::Date(dates.len() - 1)
                        }
                        FieldFormat::Text { min, max } => Op::Text {
                            min: *min,
                            max: *max,
                        },
                        FieldFormat::Amount => Op::Amount,
                        FieldFormat::Digits => Op::Digits,
                        FieldFormat::Int => Op::Int,
                        FieldFormat::Guid => Op::Guid,
                        FieldFormat::BaseBctr => Op::BaseBctr,
                        FieldFormat::Account => Op::Account,
                        FieldFormat::UsState => Op::UsState,
                        FieldFormat::Zip => Op::Zip,
                        FieldFormat::Phone => Op::Phone,
                        FieldFormat::Email => Op::Email,
                        FieldFormat::Yn => Op::Yn,
                    };
                    let is_date = matches!(op, Op::DateMdy | Op::Date(_));
                    let cap = match role {
                        Role::FhTotal | Role::IhTotal if op == Op::Amount => Cap::Cents,
                        Role::FhDate | Role::IhDate if is_date => Cap::Date,
                        Role::IhDue if is_date => Cap::Due,
                        Role::FhCount if op == Op::Int => Cap::Count,
                        _ => Cap::None,
                    };
                    Spec {
                        op,
                        cap,
                        required: f.required,
                        role,
                        post: cap != Cap::None || role != Role::None,
                        sets_ok: i != 0
                            && !matches!(
                                f.format,
                                FieldFormat::Date { .. }
                                    | FieldFormat::Text { .. }
                                    | FieldFormat::Amount
                                    | FieldFormat::Digits
                            ),
                    }
                })
                .collect();
            Rec {
                specs,
                min_fields: r.min_fields(),
            }
        };
        let recs = RecordKind::ALL.map(&mut rec);
        let fast = RecordKind::ALL.map(|kind| {
            let r = &recs[kind as usize];
            if kind == RecordKind::FH {
                return None;
            }
            let fields: Vec<FastField> = r
                .specs
                .iter()
                .skip(1)
                .map(|s| (s, fast_slot(s)))
                .map(|(s, slot)| FastField {
                    op: s.op,
                    required: s.required,
                    slot,
                    want: slot != slot::NONE,
                })
                .collect();
            let text_amount = match fields.as_slice() {
                [
                    FastField {
                        op: Op::Text { min, max },
                        want: false,
                        required: text_required,
                        ..
                    },
                    FastField {
                        op: Op::Amount,
                        want: false,
                        required: amount_required,
                        ..
                    },
                ] => Some(TextAmount {
                    min: *min,
                    max: *max,
                    text_required: *text_required,
                    amount_required: *amount_required,
                }),
                _ => None,
            };
            Some(FastRec {
                #[cfg(target_arch = "x86_64")]
                whole: match text_amount {
                    None => lane::whole::Whole::compile(&fields, r.min_fields),
                    Some(_) => None,
                },
                fields,
                min_fields: r.min_fields,
                text_amount,
            })
        });
        fn fast_slot(s: &Spec) -> usize {
            match (s.role, s.cap) {
                (_, Cap::Cents) => slot::CENTS,
                (_, Cap::Date) => slot::DATE,
                (_, Cap::Due) => slot::DUE,
                (_, Cap::Count) => slot::COUNT,
                (Role::IhNumber, _) => slot::NUMBER,
                (Role::IhCustom2, _) => slot::C2,
                (Role::IhCustom3, _) => slot::C3,
                (Role::CrAccount, _) => slot::ACCOUNT,
                _ => slot::NONE,
            }
        }
        Compiled {
            recs,
            fast,
            dates,
            enums,
            literals,
        }
    }

    /// Runs one field's check on `v` (trimmed, non-empty). `ascii`: the
    /// row has no byte over 0x7F, so text length is byte length. Answers
    /// the value the rules may keep: cents, a packed date, a count, else 0.
    #[inline(always)]
    fn check(&self, op: Op, v: &[u8], ascii: bool) -> Result<u64, Code> {
        match op {
            Op::RowType => Ok(0),
            Op::Text { min, max } => {
                if ascii {
                    let n = v.len();
                    if n > max {
                        Err(Code::TextTooLong)
                    } else if n < min {
                        Err(Code::TextTooShort)
                    } else {
                        Ok(0)
                    }
                } else {
                    format::text(min, max, v).map(|_| 0)
                }
            }
            Op::Amount => format::amount_cents(v).map(|c| c as u64),
            Op::DateMdy => date_mdy(v).map(pack_date),
            Op::Date(i) => match self.dates.get(i) {
                Some(parts) => format::date(parts, v).map(pack_date),
                None => Err(Code::BadDate),
            },
            Op::Digits => format::digits(v).map(|_| 0),
            Op::Int => format::int(v),
            Op::Guid => format::guid(v).map(|_| 0),
            Op::Account => format::account(v).map(|_| 0),
            Op::BaseBctr => format::base_bctr(v).map(|_| 0),
            Op::UsState => format::us_state(v).map(|_| 0),
            Op::Zip => format::zip(v).map(|_| 0),
            Op::Phone => format::phone(v).map(|_| 0),
            Op::Email => format::email(v).map(|_| 0),
            Op::Yn => format::yn(v).map(|_| 0),
            Op::Enum(i) => match self.enums.get(i) {
                Some(xs) => format::one_of(xs, v).map(|_| 0),
                None => Err(Code::BadEnum),
            },
            Op::Literal(i) => match self.literals.get(i) {
                Some(x) => format::literal(x, v).map(|_| 0),
                None => Err(Code::BadLiteral),
            },
        }
    }
}

#[inline]
fn pack_date(d: Ymd) -> u64 {
    (u64::from(d.year) << 16) | (u64::from(d.month) << 8) | u64::from(d.day)
}

#[inline]
fn unpack_date(x: u64) -> Ymd {
    Ymd {
        year: (x >> 16) as u16,
        month: (x >> 8) as u8,
        day: x as u8,
    }
}

/// `%m/%d/%Y` by hand: the commonest check of the file.
#[inline]
fn date_mdy(v: &[u8]) -> Result<Ymd, Code> {
    let &[m1, m2, b'/', d1, d2, b'/', y1, y2, y3, y4] = v else {
        return Err(Code::BadDate);
    };
    let dig = |b: u8| -> Result<u16, Code> {
        if b.is_ascii_digit() {
            Ok(u16::from(b - b'0'))
        } else {
            Err(Code::BadDate)
        }
    };
    let month = dig(m1)? * 10 + dig(m2)?;
    let day = dig(d1)? * 10 + dig(d2)?;
    let year = dig(y1)? * 1000 + dig(y2)? * 100 + dig(y3)? * 10 + dig(y4)?;
    format::calendar(year, month as u8, day as u8)
}

/// Bit masks of 64 bytes (bit i = byte i): `|`, `\n`, and bytes over 0x7F.
#[derive(Clone, Copy)]
struct Masks {
    pipes: u64,
    nls: u64,
    high: u64,
}

/// [`Masks`] with SSE2 (part of the x86_64 baseline) or plain code.
#[inline(always)]
fn masks_base(block: &[u8; 64]) -> Masks {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let (mut pipes, mut nls, mut high) = (0u64, 0u64, 0u64);
        // SAFETY: SSE2 is part of the x86_64 baseline; every load reads 16
        // bytes inside the 64-byte array.
        unsafe {
            let p = _mm_set1_epi8(b'|' as i8);
            let n = _mm_set1_epi8(b'\n' as i8);
            for k in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
                pipes |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, p)) as u16) << (16 * k);
                nls |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, n)) as u16) << (16 * k);
                high |= u64::from(_mm_movemask_epi8(v) as u16) << (16 * k);
            }
        }
        Masks { pipes, nls, high }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let (mut pipes, mut nls, mut high) = (0u64, 0u64, 0u64);
        for (i, &b) in block.iter().enumerate() {
            pipes |= u64::from(b == b'|') << i;
            nls |= u64::from(b == b'\n') << i;
            high |= u64::from(b >> 7) << i;
        }
        Masks { pipes, nls, high }
    }
}

/// [`Masks`] with AVX2: two 32-byte compares per mask.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn masks_avx2(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::*;
    // SAFETY: both loads read 32 bytes inside the 64-byte array; the caller
    // guarantees AVX2.
    unsafe {
        let lo = _mm256_loadu_si256(block.as_ptr() as *const __m256i);
        let hi = _mm256_loadu_si256(block.as_ptr().add(32) as *const __m256i);
        let p = _mm256_set1_epi8(b'|' as i8);
        let n = _mm256_set1_epi8(b'\n' as i8);
        let m = |x: __m256i| u64::from(_mm256_movemask_epi8(x) as u32);
        Masks {
            pipes: m(_mm256_cmpeq_epi8(lo, p)) | m(_mm256_cmpeq_epi8(hi, p)) << 32,
            nls: m(_mm256_cmpeq_epi8(lo, n)) | m(_mm256_cmpeq_epi8(hi, n)) << 32,
            high: m(lo) | m(hi) << 32,
        }
    }
}

struct Scanner<'r, 'a> {
    rules: &'r ScanRules<'a>,
    c: Compiled,
    out: ChunkSummary,
    /// `None` until the chunk's first IH; then the single machine's state.
    state: Option<Order>,
    /// The open IH of this chunk, once there is one (line, Custom2, Custom3
    /// as ranges of the chunk).
    open_line: u64,
    open_c2: (usize, usize),
    open_c3: (usize, usize),
}

/// How a chunk is cut into lines and fields. Every engine gives the same
/// summary (tested); they differ in speed and in what the CPU needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    /// The AVX-512 lane for ordinary rows ([`lane`]), the general path for
    /// the rest.
    #[cfg(target_arch = "x86_64")]
    Lane,
    /// 64-byte AVX2 delimiter masks, every row through [`Scanner::line`].
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// The same with SSE2 or plain code.
    Portable,
}

impl Engine {
    /// The fastest engine this CPU runs.
    fn best() -> Engine {
        #[cfg(target_arch = "x86_64")]
        {
            if lane::available() {
                return Engine::Lane;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Engine::Avx2;
            }
        }
        Engine::Portable
    }
}

/// Validates one line-aligned chunk. `at_file_start` strips a UTF-8 BOM.
pub fn scan_chunk(bytes: &[u8], at_file_start: bool, rules: &ScanRules<'_>) -> ChunkSummary {
    let engine = if rules.portable {
        Engine::Portable
    } else {
        Engine::best()
    };
    scan_chunk_on(engine, bytes, at_file_start, rules)
}

fn scan_chunk_on(
    engine: Engine,
    bytes: &[u8],
    at_file_start: bool,
    rules: &ScanRules<'_>,
) -> ChunkSummary {
    let mut bytes = bytes;
    if at_file_start && bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes = &bytes[3..];
    }
    let head = |s: Order| Head {
        state: s,
        events: Vec::new(),
        dropped: 0,
        last_line: 0,
    };
    let mut sc = Scanner {
        rules,
        c: Compiled::new(rules.layout),
        out: ChunkSummary {
            lines: 0,
            invoices: 0,
            total_cents: 0,
            rows: 0,
            sink: Sink::new(rules.max_issues),
            heads: ENTRY_STATES.map(head),
            tail: None,
            fh_rows: Vec::new(),
            fh_count: 0,
            first_ih: None,
            keys: ChunkKeys::for_chunk(bytes.len()),
        },
        state: None,
        open_line: 0,
        open_c2: (0, 0),
        open_c3: (0, 0),
    };
    match engine {
        #[cfg(target_arch = "x86_64")]
        Engine::Lane if lane::available() => {
            // SAFETY: the lane's CPU features were just detected.
            unsafe { lane::scan_lines(&mut sc, bytes) };
        }
        #[cfg(target_arch = "x86_64")]
        Engine::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
            // SAFETY: AVX2 was just detected.
            unsafe { scan_avx2(&mut sc, bytes) };
        }
        _ => scan_lines::<false>(&mut sc, bytes),
    }
    if let Some(state) = sc.state {
        sc.out.tail = Some((
            state,
            OpenIh {
                line: sc.open_line,
                custom2: bytes[sc.open_c2.0..sc.open_c2.1].to_vec(),
                custom3: bytes[sc.open_c3.0..sc.open_c3.1].to_vec(),
            },
        ));
    }
    sc.out
}

/// [`scan_lines`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_avx2(sc: &mut Scanner<'_, '_>, bytes: &[u8]) {
    scan_lines::<true>(sc, bytes);
}

/// Cuts `bytes` into lines and fields, 64 bytes at a time, and hands each
/// line to [`Scanner::line`]. A line is known to be ASCII (no UTF-8 or
/// Windows-1252 questions) when no byte over 0x7F was seen from its start
/// on: one more mask of the same pass, instead of a UTF-8 pass per chunk.
#[inline(always)]
fn scan_lines<const AVX2: bool>(sc: &mut Scanner<'_, '_>, bytes: &[u8]) {
    let mut fields = [(0usize, 0usize); MAX_KEPT_FIELDS];
    let mut n_fields = 0usize;
    let mut line_start = 0usize;
    let mut field_start = 0usize;
    let mut line_no = 0u64;
    // One past the last byte over 0x7F seen so far (0: none).
    let mut high_end = 0usize;
    let mut base = 0usize;
    while base < bytes.len() {
        let mut pad = [0u8; 64];
        // The block is read in place; only the chunk's last, short one is
        // copied (padding bytes are neither delimiters nor high).
        let block: &[u8; 64] = match bytes.get(base..base + 64).and_then(|b| b.try_into().ok()) {
            Some(b) => b,
            None => {
                let rest = bytes.get(base..).unwrap_or_default();
                pad[..rest.len()].copy_from_slice(rest);
                &pad
            }
        };
        #[cfg(target_arch = "x86_64")]
        let m = if AVX2 {
            // SAFETY: AVX2 instantiations only run where it was detected.
            unsafe { masks_avx2(block) }
        } else {
            masks_base(block)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let m = masks_base(block);
        if m.high != 0 {
            high_end = base + 64 - m.high.leading_zeros() as usize;
        }
        let mut d = m.pipes | m.nls;
        while d != 0 {
            let bit = d.trailing_zeros();
            d &= d - 1;
            let p = base + bit as usize;
            if m.nls >> bit & 1 == 0 {
                if let Some(f) = fields.get_mut(n_fields) {
                    *f = (field_start, p);
                }
                n_fields += 1;
                field_start = p + 1;
            } else {
                line_no += 1;
                end_line(
                    sc,
                    bytes,
                    line_no,
                    line_start,
                    p,
                    field_start,
                    &mut fields,
                    n_fields,
                    high_end <= line_start,
                );
                n_fields = 0;
                line_start = p + 1;
                field_start = p + 1;
            }
        }
        base += 64;
    }
    if line_start < bytes.len() {
        line_no += 1;
        end_line(
            sc,
            bytes,
            line_no,
            line_start,
            bytes.len(),
            field_start,
            &mut fields,
            n_fields,
            high_end <= line_start,
        );
    }
    sc.out.lines = line_no;
}

/// Closes the line `start..end` (`end` at its `\n` or the chunk's end):
/// its last field, then the row's checks.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn end_line(
    sc: &mut Scanner<'_, '_>,
    bytes: &[u8],
    line_no: u64,
    start: usize,
    end: usize,
    field_start: usize,
    fields: &mut [(usize, usize); MAX_KEPT_FIELDS],
    n_fields: usize,
    ascii: bool,
) {
    let mut content_end = end;
    if content_end > start && bytes.get(content_end - 1) == Some(&b'\r') {
        content_end -= 1;
    }
    if let Some(f) = fields.get_mut(n_fields) {
        *f = (field_start.min(content_end), content_end);
    }
    let n_fields = n_fields + 1;
    let kept = n_fields.min(MAX_KEPT_FIELDS);
    sc.line(
        bytes,
        line_no,
        start,
        content_end,
        &fields[..kept],
        n_fields,
        ascii,
    );
}

/// Values of the fields the cross-field rules use, from one row.
#[derive(Default)]
struct Captured {
    cents: Option<i64>,
    count: Option<u64>,
    date: Option<Ymd>,
    due: Option<Ymd>,
    guid_ok: bool,
    number: (usize, usize),
    c2: (usize, usize),
    c3: (usize, usize),
    account_ok: bool,
    account: (usize, usize),
    guid: (usize, usize),
}

/// The offsets of `v`, a sub-slice of `bytes`.
#[inline]
fn span(bytes: &[u8], v: &[u8]) -> (usize, usize) {
    let off = v.as_ptr() as usize - bytes.as_ptr() as usize;
    (off, off + v.len())
}

impl Scanner<'_, '_> {
    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        bytes: &[u8],
        line: u64,
        start: usize,
        end: usize,
        fields: &[(usize, usize)],
        n_fields: usize,
        ascii: bool,
    ) {
        let raw = &bytes[start..end];
        if ascii && end - start <= MAX_LINE && self.fast_row(line, bytes, raw, fields, n_fields) {
            return;
        }
        if end - start > MAX_LINE {
            self.out.rows += 1;
            self.out.sink.report(Code::LineTooLong, line, || {
                Issue::new(
                    Code::LineTooLong,
                    Some(line),
                    format!(
                        "the line is {} bytes long; no BIF row is over {MAX_LINE} bytes, so it was not read (is this a BIF file?)",
                        end - start
                    ),
                )
                .value(&text_of(&raw[..200]))
            });
            return;
        }
        if n_fields == 1 && trim(raw).is_empty() {
            self.out.sink.report(Code::BlankLine, line, || {
                Issue::new(Code::BlankLine, Some(line), "blank line; skipped")
            });
            return;
        }
        self.out.rows += 1;
        // A chunk is valid UTF-8 exactly when each of its lines is (`\n`
        // never occurs inside a multi-byte character).
        if !ascii && simdutf8::basic::from_utf8(raw).is_err() {
            self.out.sink.report(Code::Cp1252Encoding, line, || {
                Issue::new(
                    Code::Cp1252Encoding,
                    Some(line),
                    "the line is not UTF-8; it was read as Windows-1252 (ask Daffron to send UTF-8)",
                )
                .value(&text_of(raw))
            });
        }
        let row_type = trim(&bytes[fields[0].0..fields[0].1]);
        let kind = match RecordKind::from_bytes(row_type) {
            Some(k) => Some(k),
            None => {
                // `ih` for `IH`: the row is read as what it plainly is, and
                // the RowType reported (bad_literal) instead of every field
                // of the row being lost to unknown_record.
                let upper = row_type.to_ascii_uppercase();
                let k = RecordKind::from_bytes(&upper);
                if let Some(k) = k {
                    self.out.sink.report(Code::BadLiteral, line, || {
                        Issue::new(
                            Code::BadLiteral,
                            Some(line),
                            format!("\"{}\" must be {k}", text_of(row_type)),
                        )
                        .record(k)
                        .field("RowType", 1)
                        .value(&text_of(row_type))
                    });
                }
                k
            }
        };
        let Some(kind) = kind else {
            self.out.sink.report(Code::UnknownRecord, line, || {
                Issue::new(
                    Code::UnknownRecord,
                    Some(line),
                    format!(
                        "\"{}\" is not a record type (FH, IH, CR or ID)",
                        text_of(row_type)
                    ),
                )
                .field("RowType", 1)
                .value(&text_of(row_type))
            });
            return;
        };
        let cap = self.fields(kind, line, bytes, fields, n_fields, ascii);

        match kind {
            RecordKind::FH => self.fh_row(line, bytes, &cap),
            RecordKind::IH => {
                self.out.invoices += 1;
                self.out.first_ih.get_or_insert(line);
                if let Some(c) = cap.cents {
                    self.out.total_cents += i128::from(c);
                }
                self.out
                    .invoice_number(line, cap.number.0, &bytes[cap.number.0..cap.number.1]);
                if let (Some(inv), Some(due)) = (cap.date, cap.due)
                    && due < inv
                {
                    self.due_before(line, inv, due);
                }
            }
            RecordKind::CR | RecordKind::ID => {}
        }
        let account = cap.account_ok.then(|| &bytes[cap.account.0..cap.account.1]);

        // Row order.
        match self.state {
            // The common transitions, without the general machine.
            Some(Order::OpenCr) if kind == RecordKind::ID => {}
            Some(Order::OpenCr | Order::Ready) if kind == RecordKind::IH => {
                self.state = Some(Order::OpenIh);
            }
            Some(Order::OpenIh) if kind == RecordKind::CR => {
                self.order_event(OrderEvent::CustomerOfOpen, line, kind, account, bytes);
                self.state = Some(Order::OpenCr);
            }
            Some(state) => {
                let (next, events) = step(state, kind);
                for e in events.into_iter().flatten() {
                    self.order_event(e, line, kind, account, bytes);
                }
                self.state = Some(next);
            }
            None => {
                for h in self.out.heads.iter_mut() {
                    let (next, events) = step(h.state, kind);
                    for e in events.into_iter().flatten() {
                        let ev = match e {
                            OrderEvent::MissingHeader => {
                                HeadEvent::Issue(missing_header(line, kind))
                            }
                            OrderEvent::Orphan(why) => HeadEvent::Issue(orphan(line, kind, why)),
                            OrderEvent::MissingCustomerOfOpen => HeadEvent::MissingCustomerOfTail,
                            OrderEvent::CustomerOfOpen => HeadEvent::AccountOfTail {
                                line,
                                account: account.map(text_of),
                            },
                        };
                        if h.events.len() < self.rules.max_issues || line <= h.last_line {
                            h.events.push(ev);
                            h.last_line = line;
                        } else {
                            h.dropped += 1;
                        }
                    }
                    h.state = next;
                }
                if kind == RecordKind::IH {
                    self.state = Some(Order::OpenIh);
                }
            }
        }
        if kind == RecordKind::IH {
            self.open_line = line;
            self.open_c2 = cap.c2;
            self.open_c3 = cap.c3;
        }
    }

    /// The fast path for the rows that make up nearly all of a file: an
    /// ASCII IH, CR or ID row in its usual place (IH after a finished
    /// invoice, CR after its IH, ID after the CR) whose every field passes
    /// and whose CR agrees with its IH. It checks the row with the compiled
    /// program of its kind and does what [`Scanner::line`] would do for it;
    /// it answers false, having changed nothing, at the first thing out of
    /// the ordinary, and the general path then looks at the row afresh.
    #[inline(always)]
    fn fast_row(
        &mut self,
        line: u64,
        bytes: &[u8],
        raw: &[u8],
        fields: &[(usize, usize)],
        n_fields: usize,
    ) -> bool {
        let Some((kind, next)) = self.fast_start(raw) else {
            return false;
        };
        let Some(prog) = &self.c.fast[kind as usize] else {
            return false;
        };
        if n_fields < prog.min_fields || n_fields > prog.fields.len() + 1 || n_fields > fields.len()
        {
            return false;
        }
        let mut row = RowVals::default();
        for (f, &(a, b)) in prog.fields.iter().zip(&fields[1..n_fields]) {
            let v = trim(&bytes[a..b]);
            if v.is_empty() {
                if f.required {
                    return false;
                }
                continue;
            }
            match self.c.check(f.op, v, true) {
                Ok(x) => row.put(f.slot, x, span(bytes, v)),
                Err(_) => return false,
            }
        }
        self.fast_finish(kind, next, line, bytes, &row)
    }

    /// The kind of a row the fast path may take (from its first three
    /// bytes) and the order state after it, when the row is where such a
    /// row usually is.
    #[inline(always)]
    fn fast_start(&self, raw: &[u8]) -> Option<(RecordKind, Order)> {
        let kind = match raw.get(..3) {
            Some(b"ID|") => RecordKind::ID,
            Some(b"IH|") => RecordKind::IH,
            Some(b"CR|") => RecordKind::CR,
            _ => return None,
        };
        let next = match (self.state, kind) {
            (Some(Order::OpenCr), RecordKind::ID) => Order::OpenCr,
            (Some(Order::OpenCr | Order::Ready), RecordKind::IH) => Order::OpenIh,
            (Some(Order::OpenIh), RecordKind::CR) => Order::OpenCr,
            _ => return None,
        };
        Some((kind, next))
    }

    /// The end of the fast path, once every field of the row passed: the
    /// cross-field rules of [`Scanner::line`] for a row of `kind`. False
    /// (nothing changed) when a rule has something to report.
    #[inline(always)]
    fn fast_finish(
        &mut self,
        kind: RecordKind,
        next: Order,
        line: u64,
        bytes: &[u8],
        row: &RowVals,
    ) -> bool {
        match kind {
            RecordKind::ID => {}
            RecordKind::IH => {
                if row.has(slot::DATE)
                    && row.has(slot::DUE)
                    && row.vals[slot::DUE] < row.vals[slot::DATE]
                {
                    // A warning to report: the general path does it.
                    return false;
                }
                self.out.invoices += 1;
                self.out.first_ih.get_or_insert(line);
                if row.has(slot::CENTS) {
                    self.out.total_cents += i128::from(row.vals[slot::CENTS] as i64);
                }
                if row.has(slot::NUMBER) {
                    let (a, b) = row.spans[slot::NUMBER];
                    self.out.invoice_number(line, a, &bytes[a..b]);
                }
                self.open_line = line;
                self.open_c2 = row.span(slot::C2);
                self.open_c3 = row.span(slot::C3);
            }
            RecordKind::CR => {
                let c2 = &bytes[self.open_c2.0..self.open_c2.1];
                let c3 = &bytes[self.open_c3.0..self.open_c3.1];
                if row.has(slot::ACCOUNT) && !c2.is_empty() && !c3.is_empty() {
                    let (a, b) = row.spans[slot::ACCOUNT];
                    let account = &bytes[a..b];
                    // Base, dash, sub: as long as both, the account's
                    // first dash where the base ends (so no dash in it;
                    // a loop, where `contains` would call `memchr`).
                    let d = c2.len();
                    let agrees = account.len() == d + 1 + c3.len()
                        && c2.iter().all(|&b| b != b'-')
                        && account[d] == b'-'
                        && same_short(&account[..d], c2)
                        && same_short(&account[d + 1..], c3);
                    if !agrees {
                        return false;
                    }
                }
            }
            RecordKind::FH => return false,
        }
        self.out.rows += 1;
        self.state = Some(next);
        true
    }

    /// Column counts, required fields and formats of one row; returns the
    /// values the cross-field rules need.
    fn fields(
        &mut self,
        kind: RecordKind,
        line: u64,
        bytes: &[u8],
        fields: &[(usize, usize)],
        n_fields: usize,
        ascii: bool,
    ) -> Captured {
        let mut cap = Captured::default();
        let rec = &self.c.recs[kind as usize];
        let specs = &rec.specs;
        let layout = self.rules.layout.record(kind);
        if n_fields > specs.len() {
            let extra = fields
                .get(specs.len())
                .map(|&(a, b)| text_of(trim(&bytes[a..b])))
                .unwrap_or_default();
            self.out.sink.report(Code::TooManyFields, line, || {
                Issue::new(
                    Code::TooManyFields,
                    Some(line),
                    format!(
                        "the row has {n_fields} columns; {kind} has {} (a `|` inside a value?)",
                        specs.len()
                    ),
                )
                .record(kind)
                .value(&extra)
            });
        }
        let min = rec.min_fields;
        if n_fields < min {
            let missing = &layout.fields[n_fields];
            self.out.sink.report(Code::TooFewFields, line, || {
                Issue::new(
                    Code::TooFewFields,
                    Some(line),
                    format!(
                        "the row stops after {n_fields} columns; {kind} needs at least {min} (through {})",
                        layout.fields[min - 1].name
                    ),
                )
                .record(kind)
                .field(&missing.name, missing.position)
            });
        }
        let mut custom9: &[u8] = b"";
        let n = n_fields.min(fields.len()).min(specs.len());
        for i in 1..n {
            let spec = &specs[i];
            let (a, b) = fields[i];
            let v = trim(&bytes[a..b]);
            if v.is_empty() {
                if spec.role == Role::IhCustom10 && needs_bctr(self.rules.pdf_version, custom9) {
                    let f = &layout.fields[i];
                    self.out.sink.report(Code::MissingBctr, line, || {
                        Issue::new(
                            Code::MissingBctr,
                            Some(line),
                            "Custom10 is empty, but this invoice's PDF link needs BCTR (setting 119 >= 2, or Custom9 with INV/EBIL)",
                        )
                        .record(kind)
                        .field(&f.name, f.position)
                    });
                } else if spec.required {
                    missing_required(&mut self.out.sink, self.rules.layout, kind, line, i);
                }
                continue;
            }
            let res = self.c.check(spec.op, v, ascii);
            if spec.post {
                Self::capture(spec, v, bytes, &res, &mut cap, &mut custom9);
            }
            if let Err(code) = res {
                field_issue(
                    &mut self.out.sink,
                    self.rules.layout,
                    kind,
                    line,
                    i,
                    code,
                    v,
                );
            }
        }
        cap
    }

    /// Keeps what the cross-field rules need of a field that feeds one
    /// (`spec.post`): its value when it passed, its place, and for FH
    /// BillerGuid and CR AccountNumber whether it is well formed.
    fn capture<'b>(
        spec: &Spec,
        v: &'b [u8],
        bytes: &[u8],
        res: &Result<u64, Code>,
        cap: &mut Captured,
        custom9: &mut &'b [u8],
    ) {
        if let Ok(x) = *res {
            match spec.cap {
                Cap::None => {}
                Cap::Cents => cap.cents = Some(x as i64),
                Cap::Date => cap.date = Some(unpack_date(x)),
                Cap::Due => cap.due = Some(unpack_date(x)),
                Cap::Count => cap.count = Some(x),
            }
        }
        match spec.role {
            Role::None => {}
            Role::IhNumber => cap.number = span(bytes, v),
            Role::IhCustom2 => cap.c2 = span(bytes, v),
            Role::IhCustom3 => cap.c3 = span(bytes, v),
            Role::IhCustom9 => *custom9 = v,
            Role::CrAccount => {
                cap.account = span(bytes, v);
                if spec.sets_ok {
                    cap.account_ok = res.is_ok();
                }
            }
            Role::FhGuid => {
                cap.guid = span(bytes, v);
                if spec.sets_ok {
                    cap.guid_ok = res.is_ok();
                }
            }
            _ => {}
        }
    }

    fn fh_row(&mut self, line: u64, bytes: &[u8], cap: &Captured) {
        let keys = self.rules.layout.keys();
        let layout = self.rules.layout.record(RecordKind::FH);
        self.out.fh_count += 1;
        if self.out.fh_rows.len() <= self.rules.max_issues {
            self.out.fh_rows.push(FhRow {
                line,
                invoice_count: cap.count,
                total_cents: cap.cents,
            });
        }
        let g = &bytes[cap.guid.0..cap.guid.1];
        if let (Some(want), true) = (self.rules.biller_guid, cap.guid_ok)
            && let Ok(got) = uuid::Uuid::try_parse_ascii(g)
            && got != want
        {
            let spec = &layout.fields[keys.fh_biller_guid];
            self.out.sink.report(Code::BillerMismatch, line, || {
                Issue::new(
                    Code::BillerMismatch,
                    Some(line),
                    format!(
                        "BillerGuid {got} is not this biller's ({want}, [biller] guid): is the file for another biller?"
                    ),
                )
                .record(RecordKind::FH)
                .field(&spec.name, spec.position)
                .value(&text_of(g))
            });
        }
        if let (Some(want), Some(got)) = (self.rules.name_date, cap.date)
            && got != want
        {
            let spec = &layout.fields[keys.fh_creation_date];
            let v = format!("{:02}/{:02}/{:04}", got.month, got.day, got.year);
            self.out.sink.report(Code::FileDateMismatch, line, || {
                Issue::new(
                    Code::FileDateMismatch,
                    Some(line),
                    format!(
                        "FileCreationDate {v} is not the date in the file name ({:02}/{:02}/{:04})",
                        want.month, want.day, want.year
                    ),
                )
                .record(RecordKind::FH)
                .field(&spec.name, spec.position)
                .value(&v)
            });
        }
    }

    /// A due date before the invoice date is suspicious, not fatal (warning).
    fn due_before(&mut self, line: u64, inv: Ymd, due: Ymd) {
        let keys = self.rules.layout.keys();
        let spec = &self.rules.layout.record(RecordKind::IH).fields[keys.ih_due_date];
        let show = |d: Ymd| format!("{:02}/{:02}/{:04}", d.month, d.day, d.year);
        self.out.sink.report(Code::DueBeforeInvoiceDate, line, || {
            Issue::new(
                Code::DueBeforeInvoiceDate,
                Some(line),
                format!(
                    "InvoiceDueDate {} is before InvoiceDate {}",
                    show(due),
                    show(inv)
                ),
            )
            .record(RecordKind::IH)
            .field(&spec.name, spec.position)
            .value(&show(due))
        });
    }

    fn order_event(
        &mut self,
        e: OrderEvent,
        line: u64,
        kind: RecordKind,
        account: Option<&[u8]>,
        bytes: &[u8],
    ) {
        match e {
            OrderEvent::MissingHeader => {
                self.out
                    .sink
                    .report(Code::MissingHeader, line, || missing_header(line, kind));
            }
            OrderEvent::Orphan(why) => {
                self.out
                    .sink
                    .report(Code::OrphanRecord, line, || orphan(line, kind, why));
            }
            OrderEvent::MissingCustomerOfOpen => {
                let at = self.open_line;
                self.out.sink.report(Code::MissingCustomer, line, || {
                    missing_customer(at, line, false)
                });
            }
            OrderEvent::CustomerOfOpen => {
                let c2 = &bytes[self.open_c2.0..self.open_c2.1];
                let c3 = &bytes[self.open_c3.0..self.open_c3.1];
                if let Some(a) = account
                    && let Some(issue) = account_mismatch(line, a, c2, c3, self.open_line)
                {
                    self.out.sink.push(issue);
                }
            }
        }
    }
}

/// A required field that is empty.
#[cold]
#[inline(never)]
fn missing_required(sink: &mut Sink, layout: &Layout, kind: RecordKind, line: u64, i: usize) {
    let Some(f) = layout.record(kind).fields.get(i) else {
        return;
    };
    sink.report(Code::MissingRequired, line, || {
        Issue::new(
            Code::MissingRequired,
            Some(line),
            format!("{} is required", f.name),
        )
        .record(kind)
        .field(&f.name, f.position)
    });
}

/// A field that fails its format check.
#[cold]
#[inline(never)]
fn field_issue(
    sink: &mut Sink,
    layout: &Layout,
    kind: RecordKind,
    line: u64,
    i: usize,
    code: Code,
    v: &[u8],
) {
    let Some(f) = layout.record(kind).fields.get(i) else {
        return;
    };
    sink.report(code, line, || {
        let text = text_of(v);
        Issue::new(
            code,
            Some(line),
            format!(
                "\"{}\" {}",
                super::issue::truncate(&text),
                format::expectation(&f.format)
            ),
        )
        .record(kind)
        .field(&f.name, f.position)
        .value(&text)
    });
}

fn missing_header(line: u64, kind: RecordKind) -> Issue {
    Issue::new(
        Code::MissingHeader,
        Some(line),
        format!("the file must start with an FH row; the first row is {kind}"),
    )
    .record(kind)
}

fn orphan(line: u64, kind: RecordKind, why: &str) -> Issue {
    Issue::new(
        Code::OrphanRecord,
        Some(line),
        format!("{why}: rows go IH, CR, then any ID rows"),
    )
    .record(kind)
}

/// The invoice on `ih_line` got no CR row. Reported on the line that shows
/// it (the next IH, or the file's last line), so that issues always arrive
/// in line order; the IH's line is the related line.
fn missing_customer(ih_line: u64, seen_at: u64, at_end: bool) -> Issue {
    let msg = if at_end {
        "the file ends, but the invoice on line {related} has no CR row"
    } else {
        "the invoice on line {related} has no CR row (this IH starts the next invoice)"
    };
    Issue::new(Code::MissingCustomer, Some(seen_at), msg)
        .record(RecordKind::IH)
        .related(ih_line)
}

/// CR AccountNumber must be Custom2-Custom3 of its IH where both are present
/// (seed field mapping: AccountNumber = MSACCT-MSUB, Custom2 = base, Custom3
/// = sub; D2 builds MultiSpeak ids from them, so they must agree).
pub fn account_mismatch(
    line: u64,
    account: &[u8],
    custom2: &[u8],
    custom3: &[u8],
    ih_line: u64,
) -> Option<Issue> {
    if custom2.is_empty() || custom3.is_empty() {
        return None;
    }
    let dash = memchr::memchr(b'-', account)?;
    if &account[..dash] == custom2 && &account[dash + 1..] == custom3 {
        return None;
    }
    let a = text_of(account);
    Some(
        Issue::new(
            Code::AccountMismatch,
            Some(line),
            format!(
                "AccountNumber {a} is not Custom2-Custom3 of its IH (line {{related}}): {}-{}",
                text_of(custom2),
                text_of(custom3)
            ),
        )
        .record(RecordKind::CR)
        .field("AccountNumber", 2)
        .value(&a)
        .related(ih_line),
    )
}

/// The file-level state the chunk summaries are merged into, in file order.
pub struct Merger {
    state: Order,
    tail: Option<OpenIh>,
    line_base: u64,
    pub invoices: u64,
    pub total_cents: i128,
    pub rows: u64,
    fh: Option<FhRow>,
    sink: Sink,
    dups: DupIndex,
    max: usize,
}

/// The merged verdict.
#[derive(Debug, Clone)]
pub struct Merged {
    pub lines: u64,
    pub invoices: u64,
    pub total_cents: i128,
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
    pub error_count: u64,
    pub warning_count: u64,
}

impl Merger {
    pub fn new(max_issues: usize) -> Merger {
        Merger {
            state: Order::Start,
            tail: None,
            line_base: 0,
            invoices: 0,
            total_cents: 0,
            rows: 0,
            fh: None,
            sink: Sink::new(usize::MAX),
            dups: DupIndex::default(),
            max: max_issues,
        }
    }

    /// Sizes the duplicate-invoice index for a file of `bytes` bytes (about
    /// one invoice per 400 bytes, up to its memory budget), so that it does
    /// not grow while merging.
    pub fn expect_bytes(&mut self, bytes: u64) {
        self.dups
            .reserve(usize::try_from(bytes / 400).unwrap_or(usize::MAX));
    }

    /// Memory for the duplicate-invoice index before it spills to disk.
    pub fn set_dup_budget(&mut self, bytes: usize) {
        self.dups.set_budget(bytes);
    }

    /// A file-level issue (its name).
    pub fn push(&mut self, issue: Issue) {
        self.sink.push(issue);
    }

    /// Adds the next chunk of the file.
    pub fn add(&mut self, mut c: ChunkSummary) {
        let base = self.line_base;
        let entry = self.state as usize;
        let head = std::mem::replace(
            &mut c.heads[entry],
            Head {
                state: Order::Start,
                events: Vec::new(),
                dropped: 0,
                last_line: 0,
            },
        );
        for ev in head.events {
            match ev {
                HeadEvent::Issue(mut i) => {
                    i.line = i.line.map(|l| l + base);
                    i.related_line = i.related_line.map(|l| l + base);
                    self.sink.push(i);
                }
                HeadEvent::MissingCustomerOfTail => {
                    // Only reachable from OpenIh, which only a chunk with an IH leaves.
                    if let Some(t) = &self.tail {
                        let first_ih = c.first_ih.map_or(0, |l| l + base);
                        self.sink.push(missing_customer(t.line, first_ih, false));
                    }
                }
                HeadEvent::AccountOfTail { line, account } => {
                    if let (Some(t), Some(a)) = (&self.tail, account)
                        && let Some(i) = account_mismatch(
                            line + base,
                            a.as_bytes(),
                            &t.custom2,
                            &t.custom3,
                            t.line,
                        )
                    {
                        self.sink.push(i);
                    }
                }
            }
        }
        self.sink.error_count += head.dropped;
        c.sink.rebase(base);
        let mut rest = c.sink;
        // The capped lists of every chunk come in file order; keep the cap's
        // worth plus slack and trim as we go.
        self.sink.error_count += rest.error_count;
        self.sink.warning_count += rest.warning_count;
        self.sink.errors.append(&mut rest.errors);
        self.sink.warnings.append(&mut rest.warnings);

        // Header rows: the first one is the file's header; later ones are
        // duplicates.
        for fh in c.fh_rows {
            let line = fh.line + base;
            if self.fh.is_none() {
                self.fh = Some(FhRow { line, ..fh });
            } else {
                let first = self.fh.as_ref().map_or(0, |f| f.line);
                self.sink.push(
                    Issue::new(
                        Code::DuplicateHeader,
                        Some(line),
                        "a second FH row (the header is line {related}); a file has one FH",
                    )
                    .record(RecordKind::FH)
                    .related(first),
                );
            }
        }
        let kept = c.fh_count.min(self.max as u64 + 1);
        if c.fh_count > kept {
            self.sink.error_count += c.fh_count - kept;
        }

        // Duplicate InvoiceNumbers: collected now, decided at finish.
        self.dups.add_chunk(&c.keys, base);

        self.invoices += c.invoices;
        self.total_cents += c.total_cents;
        self.rows += c.rows;
        match c.tail {
            Some((state, mut open)) => {
                open.line += base;
                self.state = state;
                self.tail = Some(open);
            }
            None => self.state = head.state,
        }
        self.line_base += c.lines;
        // Cutting to the `max` smallest at any time is exact: what is cut is
        // larger than everything kept.
        self.trim_lists(2);
    }

    fn trim_lists(&mut self, slack: usize) {
        let cap = self.max;
        for list in [&mut self.sink.errors, &mut self.sink.warnings] {
            if list.len() > cap.saturating_mul(slack) {
                list.sort_by(issue_order);
                list.truncate(cap);
            }
        }
    }

    /// Ends the file: duplicate invoices (their numbers read back from
    /// `numbers`, the file's bytes), open invoice, header numbers, empty
    /// file. `Err` only when `numbers` cannot be read.
    pub fn finish(
        mut self,
        layout: &Layout,
        numbers: &dyn NumberSource,
    ) -> std::io::Result<Merged> {
        std::mem::take(&mut self.dups).finish(numbers, &mut self.sink, self.max)?;
        if self.rows == 0 {
            self.sink.push(Issue::new(
                Code::EmptyFile,
                None,
                "the file has no rows: expected an FH row, then invoices",
            ));
        } else if self.state == Order::Start {
            // Rows, but none of them FH, IH, CR or ID (each is reported as
            // unknown_record): the file is not a BIF file, not an empty one.
            self.sink.push(Issue::new(
                Code::MissingHeader,
                None,
                "no row is an FH, IH, CR or ID record: expected an FH row, then invoices (is this a BIF file?)",
            ));
        }
        if self.state == Order::OpenIh
            && let Some(t) = &self.tail
        {
            self.sink
                .push(missing_customer(t.line, self.line_base.max(1), true));
        }
        if let Some(fh) = &self.fh {
            let keys = layout.keys();
            let fhl = layout.record(RecordKind::FH);
            if let Some(n) = fh.invoice_count
                && n != self.invoices
            {
                let spec = &fhl.fields[keys.fh_invoice_count];
                self.sink.push(
                    Issue::new(
                        Code::CountMismatch,
                        Some(fh.line),
                        format!(
                            "InvoiceCount is {n} but the file has {} IH rows (a truncated transfer?)",
                            self.invoices
                        ),
                    )
                    .record(RecordKind::FH)
                    .field(&spec.name, spec.position)
                    .value(&n.to_string()),
                );
            }
            if let Some(t) = fh.total_cents
                && i128::from(t) != self.total_cents
            {
                let spec = &fhl.fields[keys.fh_total_amount];
                self.sink.push(
                    Issue::new(
                        Code::TotalMismatch,
                        Some(fh.line),
                        format!(
                            "TotalInvoiceAmount is {} but the IH TotalAmountDue values add up to {}",
                            cents_to_decimal(i128::from(t)),
                            cents_to_decimal(self.total_cents)
                        ),
                    )
                    .record(RecordKind::FH)
                    .field(&spec.name, spec.position)
                    .value(&cents_to_decimal(i128::from(t)).to_string()),
                );
            }
        }
        for list in [&mut self.sink.errors, &mut self.sink.warnings] {
            list.sort_by(issue_order);
            list.truncate(self.max);
            list.iter_mut().for_each(Issue::resolve_related);
        }
        Ok(Merged {
            lines: self.line_base,
            invoices: self.invoices,
            total_cents: self.total_cents,
            errors: self.sink.errors,
            warnings: self.sink.warnings,
            error_count: self.sink.error_count,
            warning_count: self.sink.warning_count,
        })
    }
}

/// File order: by line, then by column (whole-row issues first), then by
/// code and message, so the order never depends on chunk edges.
pub fn issue_order(a: &Issue, b: &Issue) -> std::cmp::Ordering {
    (a.line.unwrap_or(0), a.field_position.unwrap_or(0), a.code)
        .cmp(&(b.line.unwrap_or(0), b.field_position.unwrap_or(0), b.code))
        .then_with(|| a.message.cmp(&b.message))
}

/// Cents as a decimal amount (`4821377` -> `48213.77`).
pub fn cents_to_decimal(c: i128) -> rust_decimal::Decimal {
    rust_decimal::Decimal::from_i128_with_scale(c, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEvent::*;
    use RecordKind::*;

    /// Every engine this CPU runs gives the same summary as the portable
    /// one: on the samples, and on the valid sample with bytes changed
    /// (proptest), cut into chunks at random places.
    fn engines_agree(bytes: &[u8], block: usize) {
        let layout = Layout::embedded();
        let rules = ScanRules {
            layout: &layout,
            biller_guid: None,
            pdf_version: PdfVersion::V2,
            name_date: None,
            max_issues: 1000,
            portable: false,
        };
        let summaries = |engine: Engine| {
            let mut out = Vec::new();
            let (mut at, mut first) = (0usize, true);
            while at < bytes.len() || first {
                let end = match bytes.get(at + block..) {
                    Some(rest) => {
                        memchr::memchr(b'\n', rest).map_or(bytes.len(), |i| at + block + i + 1)
                    }
                    None => bytes.len(),
                };
                out.push(format!(
                    "{:?}",
                    scan_chunk_on(engine, &bytes[at..end], first, &rules)
                ));
                at = end;
                first = false;
            }
            out
        };
        let portable = summaries(Engine::Portable);
        #[cfg(target_arch = "x86_64")]
        for engine in [Engine::Lane, Engine::Avx2] {
            assert_eq!(
                summaries(engine),
                portable,
                "{engine:?} differs from Portable"
            );
        }
    }

    fn sample(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn engines_agree_on_the_samples() {
        for name in ["outbound/2661_11262026.BIF", "broken/2661_11252026.BIF"] {
            let bytes = sample(name);
            for block in [1, 100, 4096, usize::MAX / 2] {
                engines_agree(&bytes, block);
            }
            // Windows line ends, and no newline at the end.
            let crlf: Vec<u8> = bytes
                .iter()
                .flat_map(|&b| {
                    if b == b'\n' {
                        vec![b'\r', b'\n']
                    } else {
                        vec![b]
                    }
                })
                .collect();
            engines_agree(&crlf, 4096);
            engines_agree(bytes.strip_suffix(b"\n").unwrap_or(&bytes), 4096);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        #[test]
        fn engines_agree_on_damaged_files(
            edits in proptest::collection::vec((0usize..60_000, proptest::prelude::any::<u8>()), 1..12),
            block in 1usize..20_000,
        ) {
            let mut bytes = sample("outbound/2661_11262026.BIF");
            bytes.truncate(60_000);
            let n = bytes.len();
            for (at, b) in edits {
                // Delimiters, digits, blanks and bytes over 0x7F are the
                // interesting edits.
                let b = match b % 8 {
                    0 => b'|',
                    1 => b'\n',
                    2 => b' ',
                    3 => b'0' + b % 10,
                    4 => 0xE9,
                    5 => b'\r',
                    _ => b,
                };
                bytes[at % n] = b;
            }
            engines_agree(&bytes, block);
        }
    }

    #[test]
    fn order_machine() {
        assert_eq!(step(Order::Start, FH), (Order::Ready, [None, None]));
        assert_eq!(
            step(Order::Start, IH),
            (Order::OpenIh, [Some(MissingHeader), None])
        );
        assert!(matches!(
            step(Order::Start, CR),
            (Order::Ready, [Some(MissingHeader), Some(Orphan(_))])
        ));
        assert_eq!(step(Order::Ready, IH), (Order::OpenIh, [None, None]));
        assert_eq!(
            step(Order::OpenIh, CR),
            (Order::OpenCr, [Some(CustomerOfOpen), None])
        );
        assert_eq!(
            step(Order::OpenIh, IH),
            (Order::OpenIh, [Some(MissingCustomerOfOpen), None])
        );
        assert_eq!(step(Order::OpenCr, ID), (Order::OpenCr, [None, None]));
        assert!(matches!(
            step(Order::OpenCr, CR),
            (Order::OpenCr, [Some(Orphan(_)), None])
        ));
        assert!(matches!(
            step(Order::OpenIh, ID),
            (Order::OpenIh, [Some(Orphan(_)), None])
        ));
        assert!(matches!(
            step(Order::Ready, ID),
            (Order::Ready, [Some(Orphan(_)), None])
        ));
        assert_eq!(step(Order::OpenCr, FH), (Order::OpenCr, [None, None]));
    }

    #[test]
    fn hash_differs_for_near_strings() {
        assert_ne!(hash_bytes(b"1001"), hash_bytes(b"1002"));
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        assert_ne!(hash_bytes(b"12345678"), hash_bytes(b"123456780"));
    }

    #[test]
    fn account_rule() {
        assert!(account_mismatch(2, b"35909-001", b"35909", b"001", 1).is_none());
        assert!(account_mismatch(2, b"35909-001", b"", b"001", 1).is_none());
        let i = account_mismatch(2, b"35909-002", b"35909", b"001", 1).unwrap();
        assert_eq!(i.code, Code::AccountMismatch);
        assert!(i.message.contains("35909-001"), "{}", i.message);
    }

    #[test]
    fn trims_spaces_and_tabs_only() {
        assert_eq!(trim(b"  a b \t"), b"a b");
        assert_eq!(trim(b"   "), b"");
        assert_eq!(trim(b"\ra"), b"\ra");
    }
}

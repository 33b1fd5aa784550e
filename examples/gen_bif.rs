//! Generates realistic, valid BIF files as Daffron sends them: Lowell Light &
//! Power (BID 2661) customers in West Michigan, CRLF line endings, IBM i pad
//! spaces on some fields, several ID lines per invoice, zero balances and
//! credits. Deterministic: the same arguments give the same bytes.
//!
//! ```text
//! cargo run --example gen_bif -- --invoices 300 --seed 2661 -o samples/outbound/2661_11262026.BIF
//! cargo run --release --example gen_bif -- --bytes 1000000000 --seed 1 -o bench-data/2661_11262026.BIF
//! ```
//!
//! Options: `--invoices N` or `--bytes N` (stop once the file reaches N
//! bytes), `--seed S` (default 2661), `-o FILE` (default stdout), `--date
//! MMDDYYYY` (11262026, the FH FileCreationDate), `--guid` (the sample
//! biller's BillerGuid).

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

/// SplitMix64: tiny, fast and stable forever (unlike a library RNG whose
/// stream may change between versions).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const FIRST: &[&str] = &[
    "JAMES",
    "MARY",
    "ROBERT",
    "PATRICIA",
    "JOHN",
    "JENNIFER",
    "MICHAEL",
    "LINDA",
    "DAVID",
    "ELIZABETH",
    "WILLIAM",
    "BARBARA",
    "RICHARD",
    "SUSAN",
    "JOSEPH",
    "JESSICA",
    "THOMAS",
    "KAREN",
    "DANIEL",
    "NANCY",
    "MATTHEW",
    "LISA",
    "GARY",
    "SANDRA",
    "KEVIN",
    "DONNA",
    "BRIAN",
    "CAROL",
    "TIMOTHY",
    "MICHELLE",
    "JASON",
    "AMANDA",
    "RYAN",
    "MELISSA",
    "ERIC",
    "DEBORAH",
    "DALE",
    "JOYCE",
    "LARRY",
    "SHIRLEY",
    "DOUGLAS",
    "KATHLEEN",
    "GERALD",
    "JUDITH",
    "HEIDI",
];
const LAST: &[&str] = &[
    "VANDERMOLEN",
    "DEVRIES",
    "VANDYKE",
    "SMITH",
    "JOHNSON",
    "WILLIAMS",
    "BROWN",
    "JONES",
    "MILLER",
    "DAVIS",
    "WILSON",
    "ANDERSON",
    "TAYLOR",
    "THOMAS",
    "MOORE",
    "MARTIN",
    "JACKSON",
    "THOMPSON",
    "WHITE",
    "HARRIS",
    "CLARK",
    "LEWIS",
    "ROBINSON",
    "WALKER",
    "YOUNG",
    "KING",
    "BOERSMA",
    "HOEKSTRA",
    "VANDENBERG",
    "KOOISTRA",
    "POSTMA",
    "KUIPER",
    "MEYER",
    "SCHUTTE",
    "NIEBOER",
    "BYLSMA",
    "WIERSMA",
    "VANHOUTEN",
    "OSTERHOUSE",
    "DEKKER",
    "STRAUB",
    "KOWALSKI",
    "NOWAK",
    "WISNIEWSKI",
    "GRAVES",
    "HALE",
    "BRANDT",
    "FOREMAN",
    "AVERY",
    "ROTH",
];
const BUSINESS: &[&str] = &[
    "LOWELL AREA SCHOOLS",
    "FLAT RIVER OUTFITTERS LLC",
    "KENT COUNTY ROAD COMMISSION",
    "SHOWBOAT PROPERTIES INC",
    "RIVERSIDE DENTAL PC",
    "GRAND RIVER GRAIN CO",
    "CITY OF LOWELL - WWTP",
    "MAIN STREET BAKERY",
    "ALTO FAMILY DINER",
    "ST MARY CATHOLIC CHURCH",
];
const STREETS: &[&str] = &[
    "MAIN ST",
    "MONROE ST",
    "HUDSON ST",
    "JACKSON ST",
    "VERGENNES ST",
    "RIVERSIDE DR",
    "FOREMAN ST",
    "AVERY ST",
    "KING ST",
    "WASHINGTON ST",
    "BROADWAY ST",
    "BOWES RD",
    "FULTON ST",
    "LINCOLN LAKE AVE",
    "PARK ST",
    "SUFFOLK ST",
    "HIGH ST",
    "SPRING ST",
    "CHATHAM ST",
    "AMITY ST",
    "GEE DR",
    "SEGWUN AVE",
    "N DIVISION ST",
    "GRAND RIVER DR",
    "MCPHERSON ST",
    "EAST ST",
    "WEST ST",
    "PLEASANT ST",
    "CASCADE RD",
    "ALDEN NASH AVE",
];
/// (city, ZIP) pairs of the service area.
const CITIES: &[(&str, &str)] = &[
    ("LOWELL", "49331"),
    ("LOWELL", "49331"),
    ("LOWELL", "49331"),
    ("ADA", "49301"),
    ("ALTO", "49302"),
    ("SARANAC", "48881"),
    ("IONIA", "48846"),
    ("BELDING", "48809"),
    ("ROCKFORD", "49341"),
    ("CLARKSVILLE", "48815"),
    ("GRAND RAPIDS", "49546"),
];
const MAIL: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "att.net",
    "comcast.net",
    "charter.net",
    "outlook.com",
    "lowellschools.example",
];

struct Args {
    invoices: Option<u64>,
    bytes: Option<u64>,
    seed: u64,
    out: Option<String>,
    date: String,
    guid: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        invoices: None,
        bytes: None,
        seed: 2661,
        out: None,
        date: "11262026".into(),
        guid: "3F358D04-4273-4551-BB14-B9F719EC0A61".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|_| format!("{v} is not a number"));
        match flag.as_str() {
            "--invoices" => a.invoices = Some(num(val()?)?),
            "--bytes" => a.bytes = Some(num(val()?)?),
            "--seed" => a.seed = num(val()?)?,
            "-o" | "--output" => a.out = Some(val()?),
            "--date" => a.date = val()?,
            "--guid" => a.guid = val()?,
            "-h" | "--help" => {
                return Err("usage: gen_bif (--invoices N | --bytes N) [--seed S] [-o FILE] [--date MMDDYYYY] [--guid GUID]".into());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.invoices.is_none() == a.bytes.is_none() {
        return Err("give exactly one of --invoices N or --bytes N".into());
    }
    if a.date.len() != 8 || !a.date.bytes().all(|b| b.is_ascii_digit()) {
        return Err("--date is MMDDYYYY".into());
    }
    Ok(a)
}

/// `1234` cents as `12.34`.
fn money(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

/// One invoice's IH, CR and ID rows (CRLF), and its TotalAmountDue in cents.
fn invoice(rng: &mut Rng, i: u64, date: &str) -> (String, i64) {
    let (mm, dd, yyyy) = (&date[0..2], &date[2..4], &date[4..8]);
    let base = 10000 + i;
    let sub = format!("{:03}", 1 + rng.below(3));
    let bctr = 12000 + rng.below(88000);
    let location = format!("3210{:08}", (base * 7 + rng.below(7)) % 100_000_000);
    let inv_no = format!("{base}{sub}{bctr}");
    let inv_date = format!(
        "{mm}/{:02}/{yyyy}",
        (dd.parse::<u64>().unwrap_or(26)).saturating_sub(6).max(1)
    );
    let due = {
        let m: u64 = mm.parse().unwrap_or(11);
        let (m2, y2) = if m == 12 {
            (1, yyyy.parse::<u64>().unwrap_or(2026) + 1)
        } else {
            (m + 1, yyyy.parse::<u64>().unwrap_or(2026))
        };
        format!("{m2:02}/10/{y2}")
    };

    // Detail lines, in cents.
    let mut lines: Vec<(String, i64)> = Vec::new();
    let kind = rng.below(100);
    let kwh = 200 + rng.below(1800) as i64;
    if kind < 4 {
        // Prepaid-like account: charges covered, zero due.
        let c = kwh * 13;
        lines.push((format!("ENERGY CHARGE {kwh} KWH"), c));
        lines.push(("PREPAID BALANCE APPLIED".into(), -c));
    } else {
        lines.push(("CUSTOMER CHARGE".into(), 1200));
        lines.push((
            format!("ENERGY CHARGE {kwh} KWH @ 0.1321"),
            kwh * 1321 / 100,
        ));
        lines.push(("POWER SUPPLY COST RECOVERY".into(), kwh * 38 / 100));
        if rng.chance(45) {
            lines.push(("WATER SERVICE".into(), 1850 + rng.below(4000) as i64));
            lines.push(("SEWER SERVICE".into(), 2100 + rng.below(3500) as i64));
        }
        if rng.chance(30) {
            lines.push(("MI LOW-INCOME ENERGY ASSISTANCE FUND".into(), 92));
        }
        let sub_total: i64 = lines.iter().map(|l| l.1).sum();
        lines.push(("SALES TAX 6%".into(), sub_total * 6 / 100));
        if kind < 10 {
            // Overpaid last month: a credit balance.
            let sub_total: i64 = lines.iter().map(|l| l.1).sum();
            lines.push((
                "PAYMENT - THANK YOU".into(),
                -(sub_total + 500 + rng.below(20000) as i64),
            ));
        } else if kind < 18 {
            lines.push(("PRIOR BALANCE".into(), 2000 + rng.below(15000) as i64));
            lines.push(("LATE PAYMENT CHARGE".into(), 500));
        }
    }
    let total: i64 = lines.iter().map(|l| l.1).sum();
    let past_due = lines
        .iter()
        .find(|l| l.0 == "PRIOR BALANCE")
        .map(|l| money(l.1))
        .unwrap_or_default();
    let custom9 = if rng.chance(2) {
        "EBIL".to_string()
    } else {
        bctr.to_string()
    };
    // IBM i pads some fields with trailing spaces.
    let pad = |s: &str, w: usize, on: bool| {
        if on {
            format!("{s:<w$}")
        } else {
            s.to_string()
        }
    };
    let padded = rng.chance(20);

    let mut s = String::with_capacity(512);
    let _ = write!(
        s,
        "IH|R|6E0B1D56-6C4A-4F69-9D6F-1F2A3B4C5D6E|{inv_no}|{inv_date}|{due}|{}|{base}|{sub}|{location}|{}|{base}-{bctr}|{past_due}",
        money(total),
        pad(&custom9, 10, padded),
    );
    if rng.chance(25) {
        let _ = write!(s, "|{}|{}|Y", money(total.max(0) / 2), money(total));
    }
    s.push_str("\r\n");

    let business = rng.chance(6);
    let name = if business {
        rng.pick(BUSINESS).to_string()
    } else {
        format!("{} {}", rng.pick(FIRST), rng.pick(LAST))
    };
    let (city, zip) = CITIES[rng.below(CITIES.len() as u64) as usize];
    let street = format!("{} {}", 100 + rng.below(12900), rng.pick(STREETS));
    let addr2 = if rng.chance(8) {
        format!("APT {}", 1 + rng.below(24))
    } else {
        String::new()
    };
    let zip = if rng.chance(15) {
        format!("{zip}-{:04}", rng.below(10000))
    } else {
        zip.to_string()
    };
    let (a, b, c) = (
        ["616", "616", "616", "269", "517"][rng.below(5) as usize],
        200 + rng.below(800),
        rng.below(10000),
    );
    let phone = match rng.below(4) {
        0 => format!("{a}-{b}-{c:04}"),
        1 => format!("({a}) {b}-{c:04}"),
        2 => format!("{a}{b}{c:04}"),
        _ => String::new(),
    };
    let email = if business || rng.chance(35) {
        String::new()
    } else {
        let first = name.split(' ').next().unwrap_or("x").to_lowercase();
        let last = name.split(' ').nth(1).unwrap_or("x").to_lowercase();
        format!("{first}.{last}{}@{}", rng.below(100), rng.pick(MAIL))
    };
    let block_cc = if rng.chance(3) { "Y" } else { "N" };
    let _ = write!(
        s,
        "CR|{base}-{sub}|{}|{}|{addr2}|{}|MI|{zip}|{phone}|{email}|{block_cc}|{base}-{sub}\r\n",
        pad(&name, 30, padded),
        pad(&street, 30, padded),
        pad(city, 20, padded),
    );
    for (desc, amount) in &lines {
        let _ = write!(s, "ID|{}|{}\r\n", pad(desc, 40, padded), money(*amount));
    }
    (s, total)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gen_bif: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("gen_bif: {e}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> io::Result<()> {
    let mm_dd_yyyy = format!("{}/{}/{}", &a.date[0..2], &a.date[2..4], &a.date[4..8]);
    // First pass: how many invoices, and their total, for the FH row. The
    // generator is deterministic, so the second pass writes the same ones.
    let mut rng = Rng(a.seed);
    let (mut n, mut total, mut size) = (0u64, 0i64, 0u64);
    loop {
        if a.invoices.is_some_and(|want| n >= want) || a.bytes.is_some_and(|want| size >= want) {
            break;
        }
        let (s, t) = invoice(&mut rng, n, &a.date);
        n += 1;
        total += t;
        size += s.len() as u64;
    }
    let out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(std::fs::File::create(p)?),
        None => Box::new(io::stdout().lock()),
    };
    let mut w = BufWriter::with_capacity(1 << 20, out);
    write!(w, "FH|{}|{mm_dd_yyyy}|{n}|{}\r\n", a.guid, money(total))?;
    let mut rng = Rng(a.seed);
    for i in 0..n {
        let (s, _) = invoice(&mut rng, i, &a.date);
        w.write_all(s.as_bytes())?;
    }
    w.flush()?;
    Ok(())
}

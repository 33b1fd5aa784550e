//! Generates InvoiceCloud exports for the accounts of a BIF file: a
//! `payments.csv` of N payments (every tender, payment sources with and
//! without a mode in settings 64/65, fees, kiosk ids, long approval codes,
//! grouped autopay charges, a few donations) and, with `--events N`, an
//! `events.csv`. Deterministic: the same arguments give the same bytes.
//!
//! ```text
//! cargo run --release --example gen_exports -- --bif bench-data/pump/2661_11262026.BIF \
//!     --payments 100000 -o bench-data/pump/payments.csv
//! ```

use std::io::{self, BufWriter, Write};

/// SplitMix64, as in gen_bif: stable forever.
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
    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

fn main() -> io::Result<()> {
    let mut bif = None;
    let mut payments = 1000u64;
    let mut events = 0u64;
    let mut seed = 2661u64;
    let mut out: Option<String> = None;
    let mut events_out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().expect("a value after the option");
        match a.as_str() {
            "--bif" => bif = Some(val()),
            "--payments" => payments = val().parse().expect("--payments N"),
            "--events" => events = val().parse().expect("--events N"),
            "--seed" => seed = val().parse().expect("--seed N"),
            "-o" => out = Some(val()),
            "--events-out" => events_out = Some(val()),
            other => panic!("unknown option {other}"),
        }
    }
    let bif = bif.expect("--bif FILE: the accounts are taken from its CR rows");
    let text = std::fs::read_to_string(&bif)?;
    let accounts: Vec<(String, String)> = {
        let mut acc = Vec::new();
        let mut invoice = String::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split('|').map(str::trim).collect();
            match f.first().copied() {
                Some("IH") => invoice = f.get(3).copied().unwrap_or("").to_string(),
                Some("CR") => {
                    acc.push((f.get(1).copied().unwrap_or("").to_string(), invoice.clone()))
                }
                _ => {}
            }
        }
        acc
    };
    assert!(!accounts.is_empty(), "{bif} has no CR rows");
    let mut rng = Rng(seed);
    let mut w: Box<dyn Write> = match &out {
        Some(p) => Box::new(BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(BufWriter::new(io::stdout())),
    };
    writeln!(
        w,
        "payment_guid,account_number,invoice_number,invoice_type,tender,amount,fee,auth_code,payment_source_id,kiosk_id,group_key,paid_at"
    )?;
    let mut i = 0;
    while i < payments {
        let (account, invoice) = &accounts[rng.below(accounts.len() as u64) as usize];
        let minute = i % (24 * 60);
        let paid_at = format!(
            "2026-11-26T{:02}:{:02}:{:02}-06:00",
            minute / 60,
            minute % 60,
            i % 60
        );
        // One in 200 is a grouped autopay charge of three accounts.
        if rng.below(200) == 0 && i + 3 <= payments {
            let group = format!("{}-{}", 800000 + rng.below(99999), 10000 + rng.below(89999));
            for _ in 0..3 {
                let (a, inv) = &accounts[rng.below(accounts.len() as u64) as usize];
                writeln!(
                    w,
                    "{},{a},{inv},,ACH,{}.{:02},0.00,AUTOPAY-{group},0,,{group},{paid_at}",
                    rng.uuid(),
                    1 + rng.below(900),
                    rng.below(100)
                )?;
                i += 1;
            }
            continue;
        }
        let tender = ["CC", "CC", "CC", "ACH", "ECHECK", "CASH"][rng.below(6) as usize];
        let source = [0, 0, 0, 2, 8, 5][rng.below(6) as usize];
        let fee = if tender == "CC" { "2.95" } else { "0.00" };
        let kiosk = if source == 8 && rng.below(3) == 0 {
            "BHappy"
        } else {
            ""
        };
        let auth = match rng.below(10) {
            0 => format!(
                "A01 - Approved (EXACT MATCH) - AVS Y ZIP MATCH - REF {:010}",
                rng.below(1 << 32)
            ),
            1 if tender == "CASH" => String::new(),
            _ => format!(
                "A{:02} - Approved {:06}",
                rng.below(20),
                rng.below(1_000_000)
            ),
        };
        let (inv, kind) = if rng.below(500) == 0 {
            (format!("DON-{i}"), "Donation")
        } else {
            (invoice.clone(), "")
        };
        writeln!(
            w,
            "{},{account},{inv},{kind},{tender},{}.{:02},{fee},\"{auth}\",{source},{kiosk},,{paid_at}",
            rng.uuid(),
            1 + rng.below(2000),
            rng.below(100)
        )?;
        i += 1;
    }
    w.flush()?;
    if events > 0 {
        let path = events_out.expect("--events-out FILE with --events");
        let mut w = BufWriter::new(std::fs::File::create(path)?);
        writeln!(
            w,
            "event_id,kind,action,account_number,service_location_id,scheduled_date,amount,invoice_number,occurred_at"
        )?;
        for i in 0..events {
            let (account, invoice) = &accounts[rng.below(accounts.len() as u64) as usize];
            let t = format!(
                "2026-11-26T{:02}:{:02}:{:02}-06:00",
                (i / 60) % 24,
                i % 60,
                i % 60
            );
            match rng.below(4) {
                0 => writeln!(
                    w,
                    "EV-{i},PAPERLESS,{},{account},,,,,{t}",
                    ["ENROLL", "UNENROLL"][rng.below(2) as usize]
                )?,
                1 => writeln!(
                    w,
                    "EV-{i},AUTOPAY,{},{account},,,,,{t}",
                    ["ON", "OFF"][rng.below(2) as usize]
                )?,
                _ => writeln!(
                    w,
                    "EV-{i},SCHEDULED_PAYMENT,{},{account},,2026-12-{:02},{}.{:02},{invoice},{t}",
                    ["CREATE", "CANCEL", "UPDATE"][rng.below(3) as usize],
                    1 + rng.below(28),
                    1 + rng.below(900),
                    rng.below(100)
                )?,
            }
        }
        w.flush()?;
    }
    Ok(())
}

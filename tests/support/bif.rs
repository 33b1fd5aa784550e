//! Small BIF files for tests, per specs/bif-layout.csv:
//! FH|GUID|MM/DD/YYYY|count|total, IH|R|GUID|INVNO|date|due|amount|base|sub|
//! location||base-bctr, CR|base-sub|NAME, ID|desc|amount.

use super::GUID;

/// A valid file with `n` invoices of 10.00 each (accounts 35900+i-001).
pub fn valid(n: usize) -> String {
    padded(n, 0)
}

/// A valid file whose CR rows are padded with `pad` trailing spaces each
/// (Daffron pads fields; readers trim them): a big file that stays valid.
pub fn padded(n: usize, pad: usize) -> String {
    let mut s = format!("FH|{GUID}|11/26/2026|{n}|{}.00\r\n", n * 10);
    let spaces = " ".repeat(pad);
    for i in 0..n {
        let base = 35900 + i;
        s.push_str(&format!(
            "IH|R|{GUID}|{}|11/20/2026|12/10/2026|10.00|{base}|001|32104{i:05}||{base}-{i}\r\n\
             CR|{base}-001|CUSTOMER {i}{spaces}\r\n\
             ID|Electric service|10.00\r\n",
            1000 + i
        ));
    }
    s
}

/// An invalid file: the first invoice date is 13/45/2026.
pub fn bad_date() -> String {
    valid(2).replacen("11/20/2026", "13/45/2026", 1)
}

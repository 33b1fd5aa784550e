//! The bench's baseline: POSTs request bodies to a URL one after another
//! over one keep-alive connection (ureq, as the bridge), doing nothing
//! else: no state file, no parsing beyond reading the status. Reads the
//! calls that `daffron-bridge sweep --dry-run` printed (a `<!-- call N: OP
//! to URL ... -->` line before each envelope).
//!
//! ```text
//! bare_post BODIES.xml http://127.0.0.1:PORT/tbx-daily/services/CB
//! ```
//! Prints `calls SECONDS`.

use std::io::Read;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args.next().expect("BODIES.xml");
    let url = args.next().expect("URL");
    let text = std::fs::read_to_string(&file).expect("read the bodies");
    let mut calls: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some(rest) = l.strip_prefix("<!-- call ") {
            let op = rest
                .split_whitespace()
                .nth(1)
                .expect("an operation name")
                .to_string();
            let body = lines.next().expect("an envelope after the call line");
            calls.push((op, body.to_string()));
        }
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let start = Instant::now();
    let mut failed = 0;
    for (op, body) in &calls {
        let mut resp = agent
            .post(&url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header(
                "SOAPAction",
                format!("\"http://www.multispeak.org/Version_3.0/{op}\""),
            )
            .send(body.as_str())
            .expect("POST");
        if resp.status() != 200 {
            failed += 1;
        }
        let mut sink = Vec::new();
        resp.body_mut()
            .as_reader()
            .read_to_end(&mut sink)
            .expect("read the answer");
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(failed, 0, "every call must be answered 200");
    println!("{} {secs:.3}", calls.len());
}

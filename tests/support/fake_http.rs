//! A scripted HTTP server on loopback: each connection gets the next
//! [`Reply`] of the script (the last one repeats), so a test can make an
//! endpoint answer what no real server would, or take a request and never
//! answer it. It counts the requests it read.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What the server does with one connection.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Reads the request, answers this status and body.
    Answer(u16, String),
    /// Reads the whole request, then closes without a byte of answer.
    CloseAfterRequest,
    /// Reads the whole request and never answers (holds the connection).
    Hang,
}

pub struct FakeServer {
    pub url: String,
    requests: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl FakeServer {
    /// Serves `script` on a fresh loopback port, in a background thread.
    pub fn start(script: Vec<Reply>) -> FakeServer {
        Self::start_with(script, |s| Box::new(s))
    }

    /// The same, each accepted stream first wrapped by `wrap` (TLS).
    pub fn start_with(
        script: Vec<Reply>,
        wrap: impl Fn(TcpStream) -> Box<dyn ReadWrite> + Send + 'static,
    ) -> FakeServer {
        assert!(!script.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (requests.clone(), bodies.clone());
        std::thread::spawn(move || {
            let mut n = 0usize;
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let reply = script[n.min(script.len() - 1)].clone();
                n += 1;
                let mut s = wrap(stream);
                let Some(body) = read_request(&mut s) else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                seen.lock().unwrap().push(body);
                match reply {
                    Reply::Answer(status, body) => {
                        let _ = write!(
                            s,
                            "HTTP/1.1 {status} X\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = s.flush();
                    }
                    Reply::CloseAfterRequest => {}
                    Reply::Hang => {
                        std::thread::spawn(move || {
                            let mut b = [0u8; 1];
                            let _ = s.read(&mut b);
                        });
                    }
                }
            }
        });
        FakeServer {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            bodies,
        }
    }

    /// Requests read so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The bodies of the requests read so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }
}

/// A stream the server can read a request from and answer on.
pub trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// Reads one request (headers, then Content-Length bytes); its body.
fn read_request(s: &mut Box<dyn ReadWrite>) -> Option<String> {
    let mut r = BufReader::new(s);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

/// A SOAP 1.1 Fault envelope with `text` as its faultstring (not escaped:
/// the test decides what goes on the wire).
pub fn fault(text: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>{text}</faultstring></soap:Fault></soap:Body></soap:Envelope>"#
    )
}

/// UploadInvoiceFile's D16 answer.
pub fn upload_answer(success: bool, message: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><UploadInvoiceFileResponse xmlns="https://www.invoicecloud.com/portal/webservices/CloudInvoicing/"><UploadInvoiceFileResult><Success>{success}</Success><Message>{message}</Message></UploadInvoiceFileResult></UploadInvoiceFileResponse></soap:Body></soap:Envelope>"#
    )
}

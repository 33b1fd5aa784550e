//! HTTP for SOAP calls (MultiSpeak to Daffron, UploadInvoiceFile to
//! InvoiceCloud): one keep-alive agent with timeouts, a cap on answer size,
//! and HTTP error statuses handed back with their bodies, because SOAP
//! Faults arrive as HTTP 500 (ureq 3 drops the body of an error status unless
//! the agent is built with `http_status_as_error(false)`).

use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::config::ConfigError;

/// The largest answer read (16 MiB). A MultiSpeak answer for one batch is a
/// few hundred KiB at most; anything larger is refused, not buffered.
pub const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// How the HTTP agent behaves.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The whole request, connect to last byte.
    pub timeout: Duration,
    /// Connecting alone.
    pub connect_timeout: Duration,
    pub max_response_bytes: u64,
    /// Keep connections open between calls. Off for a call without an
    /// idempotency key: a request written to a connection the server had
    /// already closed fails after it may have been read, which would make a
    /// harmless reconnect an "unknown" outcome.
    pub keep_alive: bool,
    /// The certificate authorities a `https://` server must chain to: the
    /// built-in web roots (`None`), or only these (`ca_file`, an
    /// on-premises server with a private CA).
    pub roots: Option<Arc<Vec<Certificate<'static>>>>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: MAX_RESPONSE_BYTES,
            keep_alive: true,
            roots: None,
        }
    }
}

fn roots(
    config: &crate::config::Config,
    what: &'static str,
    ca_file: Option<&std::path::Path>,
) -> Result<Option<Arc<Vec<Certificate<'static>>>>, ConfigError> {
    ca_file
        .map(|path| {
            read_ca_file(path)
                .map(Arc::new)
                .map_err(|message| ConfigError::CaFile {
                    origin: config.origin.clone(),
                    what,
                    path: path.to_path_buf(),
                    message,
                })
        })
        .transpose()
}

/// Reads a PEM file of CA certificates (`ca_file`). Error: why, in words.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("is not PEM: {e}")),
        }
    }
    if certs.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certs)
}

impl HttpOptions {
    /// For Daffron's MultiSpeak endpoints: `[pump] timeout_seconds`, and
    /// `[daffron] ca_file` as the only roots when it is set.
    pub fn daffron(config: &crate::config::Config) -> Result<HttpOptions, ConfigError> {
        Ok(HttpOptions {
            roots: roots(config, "[daffron]", config.daffron.ca_file.as_deref())?,
            ..HttpOptions::with_timeout_seconds(config.pump.timeout_seconds)
        })
    }

    /// For InvoiceCloud's UploadInvoiceFile: `[pump] timeout_seconds`, no
    /// keep-alive (see [`HttpOptions::keep_alive`]), `[invoicecloud]
    /// ca_file`.
    pub fn invoicecloud(config: &crate::config::Config) -> Result<HttpOptions, ConfigError> {
        let ca = config
            .invoicecloud
            .as_ref()
            .and_then(|i| i.ca_file.as_deref());
        Ok(HttpOptions {
            roots: roots(config, "[invoicecloud]", ca)?,
            keep_alive: false,
            ..HttpOptions::with_timeout_seconds(config.pump.timeout_seconds)
        })
    }

    /// `[pump] timeout_seconds` as the whole-request timeout.
    pub fn with_timeout_seconds(seconds: u64) -> Self {
        let t = Duration::from_secs(seconds.max(1));
        HttpOptions {
            timeout: t,
            connect_timeout: t.min(Duration::from_secs(10)),
            ..HttpOptions::default()
        }
    }
}

/// An answer of any status, with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why no answer was read. None of these carries request content, so a
/// secret in a request never reaches a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{url} did not answer within the timeout ({message})")]
    Timeout { url: String, message: String },
    #[error("the answer from {url} is larger than {limit} bytes; refused")]
    TooLarge { url: String, limit: u64 },
    #[error("{url} is not a usable http:// URL: {message}")]
    BadUrl { url: String, message: String },
    #[error("HTTP exchange with {url} failed: {message}")]
    Protocol { url: String, message: String },
}

/// A keep-alive HTTP client for SOAP 1.1 POSTs.
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    max_response_bytes: u64,
}

impl HttpClient {
    pub fn new(opts: &HttpOptions) -> Self {
        let tls = match &opts.roots {
            Some(roots) => TlsConfig::builder()
                .root_certs(RootCerts::Specific(roots.clone()))
                .build(),
            None => TlsConfig::default(),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(opts.timeout))
            .timeout_connect(Some(opts.connect_timeout))
            .max_idle_connections_per_host(if opts.keep_alive { 4 } else { 0 })
            .max_idle_connections(if opts.keep_alive { 10 } else { 0 })
            .tls_config(tls)
            .user_agent(concat!("daffron-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        HttpClient {
            agent,
            max_response_bytes: opts.max_response_bytes,
        }
    }

    /// POSTs a SOAP 1.1 request: `Content-Type: text/xml; charset=utf-8`
    /// and `SOAPAction: "<soap_action>"` (quoted, as SOAP 1.1 wants). Any
    /// HTTP status is an answer; only failing to get one is an error.
    pub fn post_soap(
        &self,
        url: &str,
        soap_action: &str,
        body: &str,
    ) -> Result<HttpReply, HttpError> {
        let u = || url.to_string();
        let mut resp = self
            .agent
            .post(url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("\"{soap_action}\""))
            .send(body)
            .map_err(|e| classify(e, url, self.max_response_bytes))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(self.max_response_bytes)
            .read_to_vec()
            .map_err(|e| match classify(e, url, self.max_response_bytes) {
                // A cut answer is an exchange failure, not a connect failure.
                HttpError::Connect { message, .. } => HttpError::Protocol { url: u(), message },
                other => other,
            })?;
        Ok(HttpReply { status, body })
    }
}

/// What a GET of a URL showed: the status and the server's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Looked {
    pub status: u16,
    /// The `Date` header as sent (RFC 7231 IMF-fixdate), when there was one.
    pub date: Option<String>,
}

impl HttpClient {
    /// GETs `url` to see that a server answers there (any status is an
    /// answer) and what its clock says; the body is read and thrown away.
    /// Changes nothing on a SOAP endpoint, which only acts on POSTs.
    pub fn look(&self, url: &str) -> Result<Looked, HttpError> {
        let mut resp = self
            .agent
            .get(url)
            .call()
            .map_err(|e| classify(e, url, self.max_response_bytes))?;
        let date = resp
            .headers()
            .get("date")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let _ = resp
            .body_mut()
            .with_config()
            .limit(self.max_response_bytes)
            .read_to_vec();
        Ok(Looked {
            status: resp.status().as_u16(),
            date,
        })
    }
}

fn classify(e: ureq::Error, url: &str, limit: u64) -> HttpError {
    let url = url.to_string();
    if let Some(message) = tls_failure(&e) {
        // The handshake comes before the request: nothing was sent.
        return HttpError::Connect {
            url,
            message: format!(
                "{TLS_MARK}{message} (a server with a private CA needs its certificate in ca_file)"
            ),
        };
    }
    match e {
        // Nothing was sent while resolving or connecting.
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            HttpError::Connect {
                url,
                message: e.to_string(),
            }
        }
        ureq::Error::Timeout(t) => HttpError::Timeout {
            url,
            message: t.to_string(),
        },
        ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge { url, limit },
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => HttpError::Connect {
            url,
            message: e.to_string(),
        },
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => HttpError::Timeout {
                url,
                message: io.to_string(),
            },
            std::io::ErrorKind::ConnectionRefused => HttpError::Connect {
                url,
                message: io.to_string(),
            },
            _ => HttpError::Protocol {
                url,
                message: io.to_string(),
            },
        },
        ureq::Error::BadUri(m) => HttpError::BadUrl { url, message: m },
        ureq::Error::Http(h) => HttpError::BadUrl {
            url,
            message: h.to_string(),
        },
        other => HttpError::Protocol {
            url,
            message: other.to_string(),
        },
    }
}

/// The TLS failure in `e`, if it is one (rustls reports through io errors).
/// What begins the message of a connection that failed in its TLS
/// handshake ([`is_tls_failure`]).
const TLS_MARK: &str = "TLS: ";

/// Whether an error's text (an [`HttpError`], or a call error made of one)
/// says the TLS handshake failed: a certificate to fix, not a server to
/// wait for.
pub fn is_tls_failure(error_text: &str) -> bool {
    error_text.contains(TLS_MARK)
}

fn tls_failure(e: &ureq::Error) -> Option<String> {
    match e {
        ureq::Error::Rustls(r) => Some(r.to_string()),
        ureq::Error::Tls(m) => Some(m.to_string()),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(|r| r.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_connection_is_connect_error() {
        // Bind then drop a listener to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = HttpClient::new(&HttpOptions::with_timeout_seconds(2));
        let e = c
            .post_soap(&format!("http://127.0.0.1:{port}/x"), "a", "<x/>")
            .unwrap_err();
        assert!(matches!(e, HttpError::Connect { .. }), "{e:?}");
    }

    #[test]
    fn bad_url() {
        let c = HttpClient::new(&HttpOptions::default());
        assert!(c.post_soap("not a url", "a", "").is_err());
    }
}

//! InvoiceCloud's `UploadInvoiceFile` call, the one place that knows its
//! wire form (`interface.md` §1.3 and D16).
//!
//! No public sample of this call exists; the contract fixes a SOAP 1.1 body
//! `<UploadInvoiceFile><Req><BillerGUID/><WebServiceKey/><FileName/>
//! <FileContents>base64</FileContents></Req></UploadInvoiceFile>` and the
//! answer `<UploadInvoiceFileResponse><UploadInvoiceFileResult><Success/>
//! <Message/></UploadInvoiceFileResult></UploadInvoiceFileResponse>`. Keeping
//! both here means the real contract can replace them without touching the
//! pipeline.

use base64::Engine as _;

use crate::multispeak::response::{ResponseError, SoapFault, fault_of, read_envelope};
use crate::multispeak::xml::{Element, esc};

/// The XML namespace of InvoiceCloud's CloudInvoicing web service.
pub const NAMESPACE: &str = "https://www.invoicecloud.com/portal/webservices/CloudInvoicing/";

/// The SOAPAction header value of UploadInvoiceFile.
pub const UPLOAD_SOAP_ACTION: &str =
    "https://www.invoicecloud.com/portal/webservices/CloudInvoicing/UploadInvoiceFile";

/// What UploadInvoiceFile said (D16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadAnswer {
    /// `true`: InvoiceCloud took the file. `false`: a rejection with its message.
    pub success: bool,
    pub message: String,
}

/// An answer (or, on the sandbox's side, a request) that is not the
/// contract's shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("InvoiceCloud's message cannot be read: {0}")]
    Unreadable(#[from] ResponseError),
    #[error("InvoiceCloud answered a SOAP Fault: {0}")]
    Fault(SoapFault),
    #[error("expected {expected} in namespace {NAMESPACE}, found {found}")]
    Unexpected {
        expected: &'static str,
        found: String,
    },
    #[error("InvoiceCloud's message lacks {0}")]
    Missing(&'static str),
    #[error("InvoiceCloud's answer has Success = {0:?}; expected true or false")]
    BadSuccess(String),
    #[error("FileContents is not base64: {0}")]
    BadBase64(String),
}

/// The SOAP 1.1 envelope of an UploadInvoiceFile call. The web-service key
/// is inside; callers must never log the result (see
/// [`crate::multispeak::redact`]).
pub fn upload_request(
    biller_guid: &str,
    web_service_key: &str,
    file_name: &str,
    contents: &[u8],
) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(contents);
    let mut s = String::with_capacity(b64.len() + 512);
    s.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    s.push_str(
        r#"<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">"#,
    );
    s.push_str("<soap:Body><UploadInvoiceFile xmlns=\"");
    s.push_str(NAMESPACE);
    s.push_str("\"><Req><BillerGUID>");
    s.push_str(&esc(biller_guid));
    s.push_str("</BillerGUID><WebServiceKey>");
    s.push_str(&esc(web_service_key));
    s.push_str("</WebServiceKey><FileName>");
    s.push_str(&esc(file_name));
    s.push_str("</FileName><FileContents>");
    s.push_str(&b64);
    s.push_str("</FileContents></Req></UploadInvoiceFile></soap:Body></soap:Envelope>");
    s
}

/// The one element of the body, which must be `expected` in our namespace,
/// or the Fault the server sent instead.
fn body_element(bytes: &[u8], expected: &'static str) -> Result<Element, AnswerError> {
    let env = read_envelope(bytes)?;
    if let Some(f) = fault_of(&env.body) {
        return Err(AnswerError::Fault(f));
    }
    if !env.body.is(NAMESPACE, expected) {
        return Err(AnswerError::Unexpected {
            expected,
            found: env.body.qualified(),
        });
    }
    Ok(env.body)
}

/// Reads an UploadInvoiceFile answer (an HTTP 200 or 500 body). Namespaces
/// are resolved, so any prefix is accepted and an element of another
/// namespace is never mistaken for ours.
pub fn parse_upload_answer(body: &[u8]) -> Result<UploadAnswer, AnswerError> {
    let response = body_element(body, "UploadInvoiceFileResponse")?;
    let result = response
        .child(NAMESPACE, "UploadInvoiceFileResult")
        .ok_or(AnswerError::Missing("UploadInvoiceFileResult"))?;
    let message = result
        .child_text(NAMESPACE, "Message")
        .unwrap_or("")
        .to_string();
    match result.child_text(NAMESPACE, "Success") {
        Some("true") | Some("1") => Ok(UploadAnswer {
            success: true,
            message,
        }),
        Some("false") | Some("0") => Ok(UploadAnswer {
            success: false,
            message,
        }),
        Some(other) => Err(AnswerError::BadSuccess(other.to_string())),
        None => Err(AnswerError::Missing("UploadInvoiceFileResult/Success")),
    }
}

/// An UploadInvoiceFile request as the sandbox reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct UploadRequest {
    pub biller_guid: String,
    pub web_service_key: String,
    pub file_name: String,
    pub contents: Vec<u8>,
}

impl std::fmt::Debug for UploadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadRequest")
            .field("biller_guid", &self.biller_guid)
            .field("web_service_key", &"***")
            .field("file_name", &self.file_name)
            .field("contents", &format_args!("{} bytes", self.contents.len()))
            .finish()
    }
}

/// Parses an UploadInvoiceFile request body.
pub fn parse_upload_request(body: &[u8]) -> Result<UploadRequest, AnswerError> {
    let call = body_element(body, "UploadInvoiceFile")?;
    let req = call
        .child(NAMESPACE, "Req")
        .ok_or(AnswerError::Missing("Req"))?;
    let text = |name: &'static str| {
        req.child_text(NAMESPACE, name)
            .ok_or(AnswerError::Missing(name))
    };
    let b64: String = text("FileContents")?.split_ascii_whitespace().collect();
    Ok(UploadRequest {
        biller_guid: text("BillerGUID")?.to_string(),
        web_service_key: text("WebServiceKey")?.to_string(),
        file_name: text("FileName")?.to_string(),
        contents: base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| AnswerError::BadBase64(e.to_string()))?,
    })
}

/// The D16 answer, as the sandbox sends it.
pub fn upload_answer(success: bool, message: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#,
            r#"<UploadInvoiceFileResponse xmlns="{ns}"><UploadInvoiceFileResult>"#,
            "<Success>{s}</Success><Message>{m}</Message>",
            "</UploadInvoiceFileResult></UploadInvoiceFileResponse></soap:Body></soap:Envelope>"
        ),
        ns = NAMESPACE,
        s = success,
        m = esc(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_and_escapes() {
        let body = upload_request("G<1>", "k&ey", "2661_11262026.BIF", b"FH|x\r\nIH|\xff\n");
        assert!(
            body.contains("G&lt;1&gt;") && body.contains("k&amp;ey"),
            "{body}"
        );
        let r = parse_upload_request(body.as_bytes()).unwrap();
        assert_eq!(r.biller_guid, "G<1>");
        assert_eq!(r.web_service_key, "k&ey");
        assert_eq!(r.file_name, "2661_11262026.BIF");
        assert_eq!(r.contents, b"FH|x\r\nIH|\xff\n");
    }

    #[test]
    fn answers() {
        let ok = parse_upload_answer(upload_answer(true, "1 file queued").as_bytes()).unwrap();
        assert_eq!(
            ok,
            UploadAnswer {
                success: true,
                message: "1 file queued".into()
            }
        );
        let no = parse_upload_answer(upload_answer(false, "Bad <key>").as_bytes()).unwrap();
        assert_eq!(
            no,
            UploadAnswer {
                success: false,
                message: "Bad <key>".into()
            }
        );
        // Another prefix for the same namespace is fine.
        let prefixed = format!(
            r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><x:UploadInvoiceFileResponse xmlns:x="{NAMESPACE}"><x:UploadInvoiceFileResult><x:Success>true</x:Success></x:UploadInvoiceFileResult></x:UploadInvoiceFileResponse></e:Body></e:Envelope>"#
        );
        assert!(parse_upload_answer(prefixed.as_bytes()).unwrap().success);
    }

    #[test]
    fn wrong_answers_are_errors_not_success() {
        let unreadable =
            |b: &[u8]| matches!(parse_upload_answer(b), Err(AnswerError::Unreadable(_)));
        // Not a SOAP envelope, not well-formed, unfinished, a DOCTYPE.
        let no_soap =
            r#"<Envelope><Body><UploadInvoiceFileResponse xmlns="urn:x"/></Body></Envelope>"#;
        assert!(unreadable(no_soap.as_bytes()));
        assert!(unreadable(b"<a><b></a>"));
        assert!(unreadable(b"<a>"));
        assert!(unreadable(b"<!DOCTYPE x [<!ENTITY a \"b\">]><a>&a;</a>"));
        // The right names in another namespace are not our answer.
        let wrong_ns = upload_answer(true, "").replace(NAMESPACE, "urn:other");
        assert!(matches!(
            parse_upload_answer(wrong_ns.as_bytes()),
            Err(AnswerError::Unexpected { .. })
        ));
        let fault = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>boom</faultstring></soap:Fault></soap:Body></soap:Envelope>"#;
        match parse_upload_answer(fault.as_bytes()) {
            Err(AnswerError::Fault(f)) => assert_eq!(f.string, "boom"),
            other => panic!("{other:?}"),
        }
        let maybe = upload_answer(true, "").replace(">true<", ">maybe<");
        assert!(matches!(
            parse_upload_answer(maybe.as_bytes()),
            Err(AnswerError::BadSuccess(_))
        ));
        let no_success = upload_answer(true, "").replace("<Success>true</Success>", "");
        assert!(matches!(
            parse_upload_answer(no_success.as_bytes()),
            Err(AnswerError::Missing(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_answers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_upload_answer(&bytes);
            let _ = parse_upload_request(&bytes);
        }
    }
}

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

use crate::multispeak::CallError;
use crate::multispeak::client::{http_error, settle};
use crate::multispeak::request::soap_envelope;
use crate::multispeak::response::{Answer, ResponseError, fault_of, read_envelope};
use crate::multispeak::xml::esc;
use crate::transport::http::HttpClient;

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

/// A request that is not the contract's shape (the sandbox's side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the request cannot be read: {0}")]
    Unreadable(#[from] ResponseError),
    #[error("expected UploadInvoiceFile in namespace {NAMESPACE}, found {0}")]
    Unexpected(String),
    #[error("the request lacks Req/{0}")]
    Missing(&'static str),
    #[error("FileContents is not base64: {0}")]
    BadBase64(String),
}

/// The SOAP 1.1 envelope of an UploadInvoiceFile call. The web-service key
/// is inside; callers must never log the result (see
/// [`crate::multispeak::request::redact`]).
pub fn upload_request(
    biller_guid: &str,
    web_service_key: &str,
    file_name: &str,
    contents: &[u8],
) -> String {
    let body = format!(
        "<UploadInvoiceFile xmlns=\"{NAMESPACE}\"><Req><BillerGUID>{}</BillerGUID><WebServiceKey>{}</WebServiceKey><FileName>{}</FileName><FileContents>{}</FileContents></Req></UploadInvoiceFile>",
        esc(biller_guid),
        esc(web_service_key),
        esc(file_name),
        base64::engine::general_purpose::STANDARD.encode(contents)
    );
    soap_envelope("", &body)
}

/// Reads an UploadInvoiceFile answer (an HTTP 200 or 500 body): the D16
/// result, or the SOAP Fault sent instead. Namespaces are resolved, so any
/// prefix is accepted and an element of another namespace is never taken
/// for ours. Whether a failure is worth retrying is decided with the
/// MultiSpeak calls' rules ([`crate::multispeak::client::settle`]).
pub fn parse_upload_answer(body: &[u8]) -> Result<Answer<UploadAnswer>, ResponseError> {
    let env = read_envelope(body)?;
    if let Some(f) = fault_of(&env.body) {
        return Ok(Answer::Fault(f));
    }
    if !env.body.is(NAMESPACE, "UploadInvoiceFileResponse") {
        return Err(ResponseError::Missing(format!(
            "UploadInvoiceFileResponse in namespace {NAMESPACE} (found {})",
            env.body.qualified()
        )));
    }
    let result = env
        .body
        .child(NAMESPACE, "UploadInvoiceFileResult")
        .ok_or_else(|| ResponseError::Missing("UploadInvoiceFileResult".into()))?;
    let message = result
        .child_text(NAMESPACE, "Message")
        .unwrap_or("")
        .to_string();
    let success = match result.child_text(NAMESPACE, "Success") {
        Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(other) => {
            return Err(ResponseError::BadValue {
                what: "UploadInvoiceFileResult/Success".into(),
                value: other.to_string(),
                expected: "true or false",
            });
        }
        None => {
            return Err(ResponseError::Missing(
                "UploadInvoiceFileResult/Success".into(),
            ));
        }
    };
    Ok(Answer::Ok(UploadAnswer { success, message }))
}

/// Sends one file to UploadInvoiceFile.
///
/// Failures are sorted like MultiSpeak calls' ([`CallError`]): no answer,
/// HTTP 5xx without a Fault, or an unusable answer are transient and worth
/// another try; a Fault or HTTP 4xx is final. `Success=false` is an answer,
/// not an error: the caller records the rejection with its message.
pub fn upload(
    http: &HttpClient,
    url: &str,
    biller_guid: &str,
    web_service_key: &str,
    file_name: &str,
    contents: &[u8],
) -> Result<UploadAnswer, CallError> {
    let body = upload_request(biller_guid, web_service_key, file_name, contents);
    let reply = http
        .post_soap(url, UPLOAD_SOAP_ACTION, &body)
        .map_err(http_error)?;
    settle(reply.status, parse_upload_answer(&reply.body))
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
pub fn parse_upload_request(body: &[u8]) -> Result<UploadRequest, RequestError> {
    let call = read_envelope(body)?.body;
    if !call.is(NAMESPACE, "UploadInvoiceFile") {
        return Err(RequestError::Unexpected(call.qualified()));
    }
    let req = call
        .child(NAMESPACE, "Req")
        .ok_or(RequestError::Missing("Req"))?;
    let text = |name: &'static str| {
        req.child_text(NAMESPACE, name)
            .ok_or(RequestError::Missing(name))
    };
    let b64: String = text("FileContents")?.split_ascii_whitespace().collect();
    Ok(UploadRequest {
        biller_guid: text("BillerGUID")?.to_string(),
        web_service_key: text("WebServiceKey")?.to_string(),
        file_name: text("FileName")?.to_string(),
        contents: base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| RequestError::BadBase64(e.to_string()))?,
    })
}

/// The D16 answer, as the sandbox sends it.
pub fn upload_answer(success: bool, message: &str) -> String {
    soap_envelope(
        "",
        &format!(
            "<UploadInvoiceFileResponse xmlns=\"{NAMESPACE}\"><UploadInvoiceFileResult><Success>{success}</Success><Message>{}</Message></UploadInvoiceFileResult></UploadInvoiceFileResponse>",
            esc(message)
        ),
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

    fn answer_of(body: &str) -> Result<Answer<UploadAnswer>, ResponseError> {
        parse_upload_answer(body.as_bytes())
    }

    #[test]
    fn answers() {
        let ok = UploadAnswer {
            success: true,
            message: "1 file queued".into(),
        };
        assert_eq!(
            answer_of(&upload_answer(true, "1 file queued")),
            Ok(Answer::Ok(ok))
        );
        let no = UploadAnswer {
            success: false,
            message: "Bad <key>".into(),
        };
        assert_eq!(
            answer_of(&upload_answer(false, "Bad <key>")),
            Ok(Answer::Ok(no))
        );
        // Another prefix for the same namespace is fine.
        let prefixed = format!(
            r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><x:UploadInvoiceFileResponse xmlns:x="{NAMESPACE}"><x:UploadInvoiceFileResult><x:Success>true</x:Success></x:UploadInvoiceFileResult></x:UploadInvoiceFileResponse></e:Body></e:Envelope>"#
        );
        assert!(matches!(
            answer_of(&prefixed),
            Ok(Answer::Ok(UploadAnswer { success: true, .. }))
        ));
    }

    #[test]
    fn wrong_answers_are_errors_not_success() {
        // Not a SOAP envelope, not well-formed, unfinished, a DOCTYPE.
        for bad in [
            r#"<Envelope><Body><UploadInvoiceFileResponse xmlns="urn:x"/></Body></Envelope>"#,
            "<a><b></a>",
            "<a>",
            "<!DOCTYPE x [<!ENTITY a \"b\">]><a>&a;</a>",
        ] {
            assert!(answer_of(bad).is_err(), "{bad}");
        }
        // The right names in another namespace are not our answer.
        let wrong_ns = upload_answer(true, "").replace(NAMESPACE, "urn:other");
        assert!(matches!(
            answer_of(&wrong_ns),
            Err(ResponseError::Missing(_))
        ));
        let fault = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>boom</faultstring></soap:Fault></soap:Body></soap:Envelope>"#;
        assert!(matches!(answer_of(fault), Ok(Answer::Fault(f)) if f.string == "boom"));
        let maybe = upload_answer(true, "").replace(">true<", ">maybe<");
        assert!(matches!(
            answer_of(&maybe),
            Err(ResponseError::BadValue { .. })
        ));
        let no_success = upload_answer(true, "").replace("<Success>true</Success>", "");
        assert!(matches!(
            answer_of(&no_success),
            Err(ResponseError::Missing(_))
        ));
    }

    #[test]
    fn requests_must_be_ours() {
        let other = upload_request("g", "k", "f", b"x").replace(NAMESPACE, "urn:other");
        assert!(matches!(
            parse_upload_request(other.as_bytes()),
            Err(RequestError::Unexpected(_))
        ));
        let no_name = upload_request("g", "k", "f", b"x").replace("<FileName>f</FileName>", "");
        assert_eq!(
            parse_upload_request(no_name.as_bytes()),
            Err(RequestError::Missing("FileName"))
        );
        let bad_b64 = upload_request("g", "k", "f", b"x").replace("eA==", "!!");
        assert!(matches!(
            parse_upload_request(bad_b64.as_bytes()),
            Err(RequestError::BadBase64(_))
        ));
        let dbg = format!(
            "{:?}",
            parse_upload_request(upload_request("g", "s3cret", "f", b"x").as_bytes())
        );
        assert!(!dbg.contains("s3cret"), "{dbg}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_answers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_upload_answer(&bytes);
            let _ = parse_upload_request(&bytes);
        }
    }
}

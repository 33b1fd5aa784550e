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
use quick_xml::escape::escape;
use quick_xml::events::Event;

/// The XML namespace of InvoiceCloud's CloudInvoicing web service.
pub const NAMESPACE: &str = "https://www.invoicecloud.com/portal/webservices/CloudInvoicing/";

/// The SOAPAction header value of UploadInvoiceFile.
pub const UPLOAD_SOAP_ACTION: &str =
    "https://www.invoicecloud.com/portal/webservices/CloudInvoicing/UploadInvoiceFile";

/// The largest answer read; UploadInvoiceFile answers a few hundred bytes.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// What UploadInvoiceFile said (D16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadAnswer {
    /// `true`: InvoiceCloud took the file. `false`: a rejection with its message.
    pub success: bool,
    pub message: String,
}

/// An answer that is not the D16 shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("InvoiceCloud's answer is not well-formed XML: {0}")]
    Malformed(String),
    #[error("InvoiceCloud answered a SOAP Fault: {0}")]
    Fault(String),
    #[error(
        "InvoiceCloud's answer has no UploadInvoiceFileResult/Success in namespace {NAMESPACE}"
    )]
    Missing,
    #[error("InvoiceCloud's answer has Success = {0:?}; expected true or false")]
    BadSuccess(String),
}

/// The SOAP 1.1 envelope of an UploadInvoiceFile call. The web-service key
/// is inside; callers must never log the result.
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
    s.push_str(&escape(biller_guid));
    s.push_str("</BillerGUID><WebServiceKey>");
    s.push_str(&escape(web_service_key));
    s.push_str("</WebServiceKey><FileName>");
    s.push_str(&escape(file_name));
    s.push_str("</FileName><FileContents>");
    s.push_str(&b64);
    s.push_str("</FileContents></Req></UploadInvoiceFile></soap:Body></soap:Envelope>");
    s
}

/// Reads an UploadInvoiceFile answer (an HTTP 200 or 500 body).
///
/// Namespaces are checked by resolving prefixes, so any prefix the server
/// picks is accepted and an element from another namespace is not mistaken
/// for ours.
pub fn parse_upload_answer(body: &[u8]) -> Result<UploadAnswer, AnswerError> {
    let mut success: Option<String> = None;
    let mut message = String::new();
    let mut fault: Option<String> = None;
    walk(body, |path, value| {
        let n = path.len();
        let ours = |i: usize| path[i].0;
        let name = |i: usize| path[i].1.as_str();
        if n >= 3
            && (n - 3..n).all(ours)
            && name(n - 3) == "UploadInvoiceFileResponse"
            && name(n - 2) == "UploadInvoiceFileResult"
        {
            match name(n - 1) {
                "Success" => success = Some(value),
                "Message" => message = value,
                _ => {}
            }
        } else if n >= 2 && name(n - 2) == "Fault" && name(n - 1) == "faultstring" {
            fault = Some(value);
        }
    })?;
    if let Some(f) = fault {
        return Err(AnswerError::Fault(f));
    }
    match success.as_deref().map(str::trim) {
        Some("true") | Some("1") => Ok(UploadAnswer {
            success: true,
            message,
        }),
        Some("false") | Some("0") => Ok(UploadAnswer {
            success: false,
            message,
        }),
        Some(other) => Err(AnswerError::BadSuccess(other.to_string())),
        None => Err(AnswerError::Missing),
    }
}

/// Reads an UploadInvoiceFile request (the sandbox's side): biller GUID,
/// web-service key, file name and the decoded file contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    pub biller_guid: String,
    pub web_service_key: String,
    pub file_name: String,
    pub contents: Vec<u8>,
}

/// Parses an UploadInvoiceFile request body.
pub fn parse_upload_request(body: &[u8]) -> Result<UploadRequest, AnswerError> {
    let (mut guid, mut key, mut name, mut b64) = (None, None, None, None);
    walk(body, |path, value| {
        let n = path.len();
        if n >= 3 && path[n - 3].1 == "UploadInvoiceFile" && path[n - 2].1 == "Req" {
            match path[n - 1].1.as_str() {
                "BillerGUID" => guid = Some(value),
                "WebServiceKey" => key = Some(value),
                "FileName" => name = Some(value),
                "FileContents" => b64 = Some(value),
                _ => {}
            }
        }
    })?;
    let (Some(biller_guid), Some(web_service_key), Some(file_name), Some(b64)) =
        (guid, key, name, b64)
    else {
        return Err(AnswerError::Missing);
    };
    let clean: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let contents = base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|e| AnswerError::Malformed(format!("FileContents is not base64: {e}")))?;
    Ok(UploadRequest {
        biller_guid,
        web_service_key,
        file_name,
        contents,
    })
}

/// Walks a document, calling `on_end(path, text)` as each element closes,
/// where `path` lists (in InvoiceCloud's namespace, local name) from the root
/// and `text` is the element's own text with references resolved.
///
/// Refuses a DOCTYPE (SOAP has none, and entity tricks start there), unknown
/// entities, nesting deeper than 64 and a document that ends inside an element.
fn walk(body: &[u8], mut on_end: impl FnMut(&[(bool, String)], String)) -> Result<(), AnswerError> {
    use quick_xml::name::ResolveResult;
    let malformed = |e: &dyn std::fmt::Display| AnswerError::Malformed(e.to_string());
    let mut reader = quick_xml::reader::NsReader::from_reader(body);
    let mut path: Vec<(bool, String)> = Vec::new();
    let mut text = String::new();
    let mut buf = Vec::new();
    loop {
        let (ns, ev) = reader
            .read_resolved_event_into(&mut buf)
            .map_err(|e| malformed(&e))?;
        let ours = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == NAMESPACE);
        match ev {
            Event::Start(e) => {
                if path.len() >= 64 {
                    return Err(malformed(&"elements nested too deeply"));
                }
                path.push((ours, e.local_name().as_ref().to_string()));
                text.clear();
            }
            Event::Empty(e) => {
                path.push((ours, e.local_name().as_ref().to_string()));
                on_end(&path, String::new());
                path.pop();
            }
            Event::End(_) => {
                on_end(&path, std::mem::take(&mut text));
                path.pop();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => push_reference(&mut text, &r)?,
            Event::DocType(_) => {
                return Err(malformed(&"a DOCTYPE is not allowed in a SOAP message"));
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !path.is_empty() {
        return Err(malformed(&"the document ends inside an element"));
    }
    Ok(())
}

/// Appends the text of `&name;` or `&#N;`: the five predefined entities and
/// character references. Anything else is refused: SOAP has no DTD, so an
/// unknown entity can only be an attack or garbage.
fn push_reference(
    text: &mut String,
    r: &quick_xml::events::BytesRef<'_>,
) -> Result<(), AnswerError> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => {
                text.push(c);
                Ok(())
            }
            _ => Err(AnswerError::Malformed(format!(
                "bad character reference &{};",
                &**r
            ))),
        };
    }
    text.push(match &**r {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        other => return Err(AnswerError::Malformed(format!("unknown entity &{other};"))),
    });
    Ok(())
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
        m = escape(message)
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
        let wrong_ns = r#"<Envelope><Body><UploadInvoiceFileResponse xmlns="urn:other"><UploadInvoiceFileResult><Success>true</Success></UploadInvoiceFileResult></UploadInvoiceFileResponse></Body></Envelope>"#;
        assert_eq!(
            parse_upload_answer(wrong_ns.as_bytes()),
            Err(AnswerError::Missing)
        );
        assert!(matches!(
            parse_upload_answer(b"<a><b></a>"),
            Err(AnswerError::Malformed(_))
        ));
        assert!(matches!(
            parse_upload_answer(b"<a>"),
            Err(AnswerError::Malformed(_))
        ));
        assert!(matches!(
            parse_upload_answer(b"<!DOCTYPE x [<!ENTITY a \"b\">]><a>&a;</a>"),
            Err(AnswerError::Malformed(_))
        ));
        let fault = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>boom</faultstring></soap:Fault></soap:Body></soap:Envelope>"#;
        assert_eq!(
            parse_upload_answer(fault.as_bytes()),
            Err(AnswerError::Fault("boom".into()))
        );
        let maybe = upload_answer(true, "").replace(">true<", ">maybe<");
        assert!(matches!(
            parse_upload_answer(maybe.as_bytes()),
            Err(AnswerError::BadSuccess(_))
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

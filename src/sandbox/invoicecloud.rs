//! The sandbox's InvoiceCloud UploadInvoiceFile (interface.md §1.3, D16).
//!
//! No public sample of this call exists; the shape here is the contract's:
//! `<UploadInvoiceFile><Req><BillerGUID/><WebServiceKey/><FileName/>
//! <FileContents>base64</FileContents></Req></UploadInvoiceFile>` in
//! namespace [`NS`], answered with `UploadInvoiceFileResult` holding
//! `Success` and `Message`.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::{
    JournalEntry, Reply, Shared, UploadedFile, entry, envelope, fault_envelope, lock, xml_reply,
};
use crate::multispeak::response;
use crate::multispeak::xml::{Element, esc};

/// InvoiceCloud's CloudInvoicing namespace.
pub const NS: &str = "https://www.invoicecloud.com/portal/webservices/CloudInvoicing/";

/// The SOAPAction of UploadInvoiceFile, unquoted.
pub const UPLOAD_ACTION: &str =
    "https://www.invoicecloud.com/portal/webservices/CloudInvoicing/UploadInvoiceFile";

/// The D16 answer.
pub fn answer(success: bool, message: &str) -> String {
    envelope(&format!(
        "<UploadInvoiceFileResponse xmlns=\"{NS}\"><UploadInvoiceFileResult><Success>{success}</Success><Message>{}</Message></UploadInvoiceFileResult></UploadInvoiceFileResponse>",
        esc(message)
    ))
}

fn field<'a>(req: &'a Element, name: &str) -> Option<&'a str> {
    req.children
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.text.trim())
}

pub(super) fn upload(shared: &Shared, body: &[u8]) -> (Reply, JournalEntry) {
    let op = "UploadInvoiceFile";
    let env = match response::read_envelope(body) {
        Ok(env) if env.body.is(NS, "UploadInvoiceFile") => env,
        Ok(env) => {
            let mut e = entry(op, vec![], "fault");
            e.message = Some(format!(
                "expected UploadInvoiceFile in {NS}, found {}",
                env.body.qualified()
            ));
            return (
                xml_reply(
                    500,
                    fault_envelope("soap:Client", e.message.as_deref().unwrap_or("")),
                ),
                e,
            );
        }
        Err(err) => {
            let mut e = entry(op, vec![], "fault");
            e.message = Some(format!("not a SOAP 1.1 envelope: {err}"));
            return (
                xml_reply(
                    500,
                    fault_envelope("soap:Client", e.message.as_deref().unwrap_or("")),
                ),
                e,
            );
        }
    };
    let req = env
        .body
        .children
        .iter()
        .find(|c| c.name == "Req")
        .unwrap_or(&env.body);
    let guid = field(req, "BillerGUID").unwrap_or("").to_ascii_uppercase();
    let key = field(req, "WebServiceKey").unwrap_or("");
    let name = field(req, "FileName").unwrap_or("").to_string();
    let contents: String = field(req, "FileContents")
        .unwrap_or("")
        .split_whitespace()
        .collect();

    let reject = |msg: String, file: Option<UploadedFile>| {
        let mut e = entry(op, vec![], "rejected");
        e.message = Some(msg.clone());
        e.file = file;
        (xml_reply(200, answer(false, &msg)), e)
    };
    if let Some(k) = &shared.opts.web_service_key
        && key != k
    {
        return reject(
            "the WebServiceKey is not valid for this biller".into(),
            None,
        );
    }
    if !lock(&shared.state).biller_guids.contains(&guid) {
        return reject(format!("BillerGUID {guid} is not a known biller"), None);
    }
    if name.is_empty() {
        return reject("FileName is required".into(), None);
    }
    let bytes = match base64::engine::general_purpose::STANDARD.decode(contents.as_bytes()) {
        Ok(b) => b,
        Err(e) => return reject(format!("FileContents is not base64: {e}"), None),
    };
    let file = UploadedFile {
        name: name.clone(),
        size: bytes.len() as u64,
        sha256: format!("{:x}", Sha256::digest(&bytes)),
    };
    if bytes.is_empty() {
        return reject("the file is empty".into(), Some(file));
    }
    let msg = format!("accepted {} ({} bytes)", file.name, file.size);
    let mut e = entry(op, vec![], "ok");
    e.file = Some(file);
    (xml_reply(200, answer(true, &msg)), e)
}

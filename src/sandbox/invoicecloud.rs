//! The sandbox's InvoiceCloud UploadInvoiceFile (interface.md §1.3, D16).
//!
//! No public sample of this call exists; the shape here is the contract's:
//! `<UploadInvoiceFile><Req><BillerGUID/><WebServiceKey/><FileName/>
//! <FileContents>base64</FileContents></Req></UploadInvoiceFile>` in
//! namespace [`crate::invoicecloud::NAMESPACE`], answered with `UploadInvoiceFileResult` holding
//! `Success` and `Message`.

use sha2::{Digest, Sha256};

use super::{JournalEntry, Reply, Shared, UploadedFile, entry, fault_envelope, lock, xml_reply};
use crate::invoicecloud::{RequestError, parse_upload_request, upload_answer};

pub(super) fn upload(shared: &Shared, body: &[u8]) -> (Reply, JournalEntry) {
    let op = "UploadInvoiceFile";
    let req = match parse_upload_request(body) {
        Ok(req) => req,
        Err(RequestError::BadBase64(m)) => {
            let mut e = entry(op, vec![], "rejected");
            e.message = Some(format!("FileContents is not base64: {m}"));
            return (
                xml_reply(
                    200,
                    upload_answer(false, e.message.as_deref().unwrap_or("")),
                ),
                e,
            );
        }
        Err(err) => {
            let mut e = entry(op, vec![], "fault");
            e.message = Some(err.to_string());
            return (
                xml_reply(
                    500,
                    fault_envelope("soap:Client", e.message.as_deref().unwrap_or("")),
                ),
                e,
            );
        }
    };
    let guid = req.biller_guid.trim().to_ascii_uppercase();
    let reject = |msg: String, file: Option<UploadedFile>| {
        let mut e = entry(op, vec![], "rejected");
        e.message = Some(msg.clone());
        e.file = file;
        (xml_reply(200, upload_answer(false, &msg)), e)
    };
    if let Some(k) = &shared.opts.web_service_key
        && req.web_service_key.trim() != k
    {
        return reject(
            "the WebServiceKey is not valid for this biller".into(),
            None,
        );
    }
    if !lock(&shared.live).state.biller_guids.contains(&guid) {
        return reject(format!("BillerGUID {guid} is not a known biller"), None);
    }
    let name = req.file_name.trim().to_string();
    if name.is_empty() {
        return reject("FileName is required".into(), None);
    }
    let file = UploadedFile {
        name,
        size: req.contents.len() as u64,
        sha256: format!("{:x}", Sha256::digest(&req.contents)),
    };
    if req.contents.is_empty() {
        return reject("the file is empty".into(), Some(file));
    }
    let msg = format!("accepted {} ({} bytes)", file.name, file.size);
    let mut e = entry(op, vec![], "ok");
    e.file = Some(file);
    (xml_reply(200, upload_answer(true, &msg)), e)
}

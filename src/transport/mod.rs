//! Transports: SFTP and the local drop box (where BIF files come from) and
//! HTTP (MultiSpeak and InvoiceCloud calls).

pub mod http;

//! The data-pump business rules: what InvoiceCloud collected, posted back to
//! Daffron (payments, paperless, autopay and scheduled-payment comments).

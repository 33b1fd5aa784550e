//! The BIF (Billing Invoice File) format: InvoiceCloud's pipe-delimited
//! invoice file, as Daffron sends it (`interface.md` §1.1).

pub mod layout;

pub mod invoice;

pub use invoice::{Customer, Detail, Invoice, read_invoices};
pub use layout::{Layout, RecordKind};

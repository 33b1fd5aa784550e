//! The BIF (Billing Invoice File) format: InvoiceCloud's pipe-delimited
//! invoice file, as Daffron sends it (`interface.md` §1.1).
//!
//! | module | what it owns |
//! |---|---|
//! | [`layout`] | the field table (`specs/bif-layout.csv`) as data |
//! | [`format`](mod@format) | one check per field format, on bytes, allocation-free |
//! | [`issue`] | `Issue` and the stable `Code`s of the contract |
//! | [`scan`] | per-chunk validation and the exact merge of chunks |
//! | [`dup`] | the duplicate-InvoiceNumber rule in bounded memory |
//! | [`validate`] | the driver: mapped windows on all cores; the public API |
//! | [`report`] | `FileReport` / `ValidationReport`: JSON (§3) and text |
//! | [`transform`] | the upload form of a valid file |
//! | [`invoice`] | typed invoices of a valid file |

pub mod dup;
pub mod format;
pub mod invoice;
pub mod issue;
pub mod layout;
pub mod report;
pub mod scan;
pub mod transform;
pub mod validate;

pub use invoice::{Customer, Detail, Invoice, read_invoices};
pub use issue::{Code, Issue, Severity};
pub use layout::{Layout, RecordKind};
pub use report::{FileReport, ValidationReport};
pub use validate::{
    FileRules, ValidateOptions, validate_bytes, validate_path, validate_path_as, validate_paths,
};

/// The layout a configuration asks for: its `[paths] layout`, else the
/// embedded one.
pub fn layout_for(config: &crate::config::Config) -> Result<Layout, layout::LayoutError> {
    match &config.paths.layout {
        Some(p) => Layout::load(p),
        None => Ok(Layout::embedded()),
    }
}

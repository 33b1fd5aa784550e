//! A local stand-in for Daffron's MultiSpeak CB server and InvoiceCloud's
//! UploadInvoiceFile, for tests and implementers' dry runs.

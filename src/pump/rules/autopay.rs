//! Autopay enrollments → WriteAccountHistoryComments `AUTOPAY ON` /
//! `AUTOPAY OFF` (seed, "Data Pump: AutoPay Enrollment"), and D10, which
//! scheduled-payment comments share.

/// The comment Daffron reads: `AUTOPAY ON` or `AUTOPAY OFF`.
pub fn comment(on: bool) -> String {
    if on { "AUTOPAY ON" } else { "AUTOPAY OFF" }.to_string()
}

/// D10: a history comment always carries a serviceLocationID (INT-8007:
/// Daffron mis-files comments without one): the event's own, else the
/// Custom4 of the account's latest invoice from the account directory that
/// `pull` keeps. `None` means the item is held until a BIF brings one.
pub fn service_location(event: Option<&str>, directory: Option<&str>) -> Option<String> {
    event
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .or(directory.map(str::trim).filter(|l| !l.is_empty()))
        .map(str::to_string)
}

/// Why an item without a location waits.
pub fn held_reason() -> String {
    "no serviceLocationID: the event has none and no BIF file has brought this account's \
     location (Custom4) yet; released by a sweep after a BIF brings it (D10)"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d10_event_location_first_then_directory_else_held() {
        assert_eq!(
            service_location(Some("321"), Some("999")).as_deref(),
            Some("321")
        );
        assert_eq!(
            service_location(Some(" "), Some("999")).as_deref(),
            Some("999")
        );
        assert_eq!(service_location(None, Some("999")).as_deref(), Some("999"));
        assert_eq!(service_location(None, Some("")), None);
        assert_eq!(service_location(None, None), None);
        assert_eq!(comment(true), "AUTOPAY ON");
        assert_eq!(comment(false), "AUTOPAY OFF");
    }
}

//! How an amount is written to Daffron: the one place for D1.

use rust_decimal::Decimal;

use crate::config::ServiceVersion;

/// Writes `amount` as setting 35 (Service Version, D1, INT-2321) asks:
/// version 1 the shortest form (`232.1`, `5`), version 2 exactly two
/// decimals (`232.10`, `5.00`, "ServiceVersion2"). Amounts with more than two
/// decimals are rounded half away from zero to cents first: Daffron posts
/// cents, and version 1 must never send more precision than version 2.
pub fn format(amount: Decimal, version: ServiceVersion) -> String {
    let cents =
        amount.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    match version {
        ServiceVersion::V1 => {
            let n = cents.normalize();
            if n.is_zero() {
                "0".to_string()
            } else {
                n.to_string()
            }
        }
        ServiceVersion::V2 => {
            let mut c = cents;
            c.rescale(2);
            if c.is_zero() {
                "0.00".to_string()
            } else {
                c.to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn d1_versions() {
        let v1 = ServiceVersion::V1;
        let v2 = ServiceVersion::V2;
        assert_eq!(format(d("232.10"), v1), "232.1");
        assert_eq!(format(d("232.10"), v2), "232.10");
        assert_eq!(format(d("232.1"), v2), "232.10");
        assert_eq!(format(d("5"), v1), "5");
        assert_eq!(format(d("5"), v2), "5.00");
        assert_eq!(format(d("0.00"), v1), "0");
        assert_eq!(format(d("-0.00"), v2), "0.00");
        assert_eq!(format(d("-12.50"), v1), "-12.5");
        assert_eq!(format(d("1.005"), v2), "1.01");
        assert_eq!(format(d("1.005"), v1), "1.01");
        assert_eq!(format(d("100.00"), v1), "100");
    }
}

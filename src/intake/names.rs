//! Which names intake takes: `{BID}_MMDDYYYY.BIF` for this biller, the
//! extension in any case (interface.md §1.1). Names with `/`, `..` or control
//! characters are refused outright (issue 4): a server must not be able to
//! make intake write outside its folders, and such a name is never a Daffron
//! file.
//!
//! The eight digits are not checked as a date here: a file named like a BIF
//! with an impossible date is taken and fails validation (`bad_file_name`),
//! so it lands in quarantine where a person sees it, instead of lying on the
//! server ignored.

/// What a listed name is to intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameClass {
    /// This biller's BIF file.
    Bif,
    /// Not a BIF file of this biller: ignored (logged at debug).
    Other,
    /// Refused: the reason says why.
    Unsafe(&'static str),
}

/// Classifies a listed name for biller `bid`.
pub fn classify(name: &str, bid: u32) -> NameClass {
    if name.is_empty() {
        return NameClass::Unsafe("empty name");
    }
    if name.contains('/') || name.contains('\\') {
        return NameClass::Unsafe("contains a path separator");
    }
    if name.contains("..") {
        return NameClass::Unsafe("contains `..`");
    }
    if name.chars().any(char::is_control) {
        return NameClass::Unsafe("contains a control character");
    }
    if name.contains('\u{FFFD}') {
        return NameClass::Unsafe("is not valid UTF-8");
    }
    let Some(rest) = name.strip_prefix(&format!("{bid}_")) else {
        return NameClass::Other;
    };
    let Some((date, ext)) = rest.split_once('.') else {
        return NameClass::Other;
    };
    if date.len() == 8
        && date.bytes().all(|b| b.is_ascii_digit())
        && ext.eq_ignore_ascii_case("bif")
    {
        NameClass::Bif
    } else {
        NameClass::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn takes_this_billers_bif_names_in_any_case() {
        for n in [
            "2661_11262026.BIF",
            "2661_11262026.bif",
            "2661_99999999.Bif",
        ] {
            assert_eq!(classify(n, 2661), NameClass::Bif, "{n}");
        }
        for n in [
            "3337_11262026.BIF",
            "2661_1126202.BIF",
            "2661_11262026.BIF.tmp",
            "2661_11262026.txt",
            "x2661_11262026.BIF",
            "2661_11262026",
            ".2661_11262026.BIF",
            "26610_11262026.BIF",
        ] {
            assert_eq!(classify(n, 2661), NameClass::Other, "{n}");
        }
    }

    #[test]
    fn refuses_dangerous_names() {
        for n in [
            "../2661_11262026.BIF",
            "a/2661_11262026.BIF",
            "2661_11262026.BIF\n",
            "2661_1126\u{1b}2026.BIF",
            "..",
            "",
            "2661_\u{FFFD}.BIF",
            "a\\b",
        ] {
            assert!(matches!(classify(n, 2661), NameClass::Unsafe(_)), "{n:?}");
        }
    }

    proptest! {
        #[test]
        fn a_taken_name_is_always_a_plain_file_name(name in "\\PC{0,40}") {
            if classify(&name, 2661) == NameClass::Bif {
                prop_assert!(!name.contains('/') && !name.contains(".."));
                prop_assert!(!name.chars().any(char::is_control));
                prop_assert!(name.starts_with("2661_"));
            }
        }

        #[test]
        fn never_panics_on_hostile_names(name in any::<String>()) {
            let _ = classify(&name, 2661);
        }
    }
}

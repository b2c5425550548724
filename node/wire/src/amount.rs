//! Amounts as people read them: minor units (fen) to a decimal string in
//! the asset's major units ("100001.25") and back. Exact: integers only,
//! never floating point.

/// `minor` in major units with exactly `decimals` digits after the point:
/// `format(10_000_125, 2)` is `"100001.25"`; with no decimals, no point.
pub fn format(minor: u128, decimals: u8) -> String {
    let Some(unit) = 10u128.checked_pow(u32::from(decimals)) else {
        // More decimals than a u128 has digits: every digit is a fraction.
        return format!("0.{minor:0>width$}", width = usize::from(decimals));
    };
    if decimals == 0 {
        return minor.to_string();
    }
    format!(
        "{}.{:0width$}",
        minor / unit,
        minor % unit,
        width = usize::from(decimals)
    )
}

/// [`format`] with thousands separators, for terminals: `"100,001.25"`.
pub fn format_grouped(minor: u128, decimals: u8) -> String {
    let plain = format(minor, decimals);
    let (whole, frac) = match plain.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (plain.as_str(), None),
    };
    let mut grouped = String::with_capacity(plain.len() + whole.len() / 3);
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match frac {
        Some(f) => format!("{grouped}.{f}"),
        None => grouped,
    }
}

/// Why a decimal amount does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount {0:?} is not a decimal number (digits, at most one '.')")]
    NotANumber(String),
    #[error("amount {text:?} has more than {decimals} decimals")]
    TooPrecise { text: String, decimals: u8 },
    #[error("amount {0:?} is too large")]
    TooLarge(String),
}

/// A decimal amount in major units ("12.5") to minor units (1250 with 2
/// decimals). Digits and at most one point; no sign, exponent or
/// separators; more decimals than the asset has is an error, not rounded.
pub fn parse(text: &str, decimals: u8) -> Result<u128, AmountError> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return Err(AmountError::NotANumber(text.to_string()));
    }
    if text.ends_with('.') {
        return Err(AmountError::NotANumber(text.to_string()));
    }
    if frac.len() > usize::from(decimals) {
        return Err(AmountError::TooPrecise {
            text: text.to_string(),
            decimals,
        });
    }
    let unit = 10u128
        .checked_pow(u32::from(decimals))
        .ok_or_else(|| AmountError::TooLarge(text.to_string()))?;
    let too_large = || AmountError::TooLarge(text.to_string());
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let frac_value: u128 = if frac.is_empty() {
        0
    } else {
        let scale = 10u128.pow((usize::from(decimals) - frac.len()) as u32);
        frac.parse::<u128>().map_err(|_| too_large())? * scale
    };
    whole
        .checked_mul(unit)
        .and_then(|w| w.checked_add(frac_value))
        .ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_exactly() {
        assert_eq!(format(10_000_125, 2), "100001.25");
        assert_eq!(format(5, 2), "0.05");
        assert_eq!(format(0, 2), "0.00");
        assert_eq!(format(42, 0), "42");
        assert_eq!(format_grouped(10_000_125, 2), "100,001.25");
        assert_eq!(format_grouped(999, 0), "999");
        assert_eq!(format_grouped(1_000_000, 0), "1,000,000");
        assert_eq!(
            format(u128::MAX, 2),
            "3402823669209384634633746074317682114.55"
        );
        for (minor, d) in [
            (0u128, 2u8),
            (1, 2),
            (10_000_125, 2),
            (u128::MAX, 2),
            (7, 0),
        ] {
            assert_eq!(parse(&format(minor, d), d), Ok(minor), "{minor} {d}");
        }
        assert_eq!(parse("12.5", 2), Ok(1250));
        assert_eq!(parse(".5", 2), Ok(50));
        assert_eq!(parse("12", 2), Ok(1200));
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        for bad in [
            "", ".", "1.", "-1", "+1", "1e3", "1,000", "1.2.3", " 1", "abc",
        ] {
            assert!(
                matches!(parse(bad, 2), Err(AmountError::NotANumber(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse("1.234", 2),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse("1.5", 0),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse("3402823669209384634633746074317682114.56", 2),
            Err(AmountError::TooLarge(_))
        ));
    }
}

//! Money: a non-negative decimal string with at most the currency's ISO 4217
//! minor-unit digits, held as exact integer minor units. Currencies are never
//! converted into each other; sums are per currency and exact.

use crate::limits::MONEY_DIGITS_MAX;
use std::fmt;

/// An ISO 4217 currency that has a minor unit (so not XAU, XDR and the like).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency {
    code: [u8; 3],
    minor_digits: u8,
}

impl Currency {
    /// Looks a code up in ISO 4217 (the `iso_currency` crate's table).
    pub fn from_code(code: &str) -> Result<Currency, String> {
        let currency = iso_currency::Currency::from_code(code)
            .ok_or_else(|| format!("`{code}` is not an ISO 4217 currency code"))?;
        let digits =
            currency.exponent().ok_or_else(|| format!("`{code}` has no minor unit, so it cannot count money"))?;
        let code_bytes: [u8; 3] = code.as_bytes().try_into().expect("ISO 4217 codes are three letters");
        Ok(Currency { code: code_bytes, minor_digits: digits as u8 })
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).expect("ISO codes are ASCII")
    }

    /// How many digits follow the decimal point: 2 for USD, 0 for VND.
    pub fn minor_digits(&self) -> u32 {
        u32::from(self.minor_digits)
    }

    /// Formats minor units as the spec's decimal string (`"3000000.00"`).
    pub fn format(&self, minor: u128) -> String {
        let digits = self.minor_digits();
        if digits == 0 {
            return minor.to_string();
        }
        let scale = 10u128.pow(digits);
        format!("{}.{:0width$}", minor / scale, minor % scale, width = digits as usize)
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::from_code(&code).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An exact amount: minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub minor: u128,
    pub currency: Currency,
}

impl Money {
    /// Parses `amount` (the decimal string) in `currency`. The error is the
    /// rule broken, for the caller to prefix with the field.
    /// The rules an amount keeps in any currency: a plain, non-negative
    /// decimal of at most [`MONEY_DIGITS_MAX`] digits.
    pub fn check_form(amount: &str) -> Result<(), String> {
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        if amount.starts_with('-') {
            return Err("must not be negative".into());
        }
        let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !plain(whole) || (amount.contains('.') && !plain(fraction)) {
            return Err(format!("`{amount}` is not a plain decimal like 3000000.00 (no sign, exponent or separators)"));
        }
        if whole.len() + fraction.len() > MONEY_DIGITS_MAX {
            return Err(format!("more than {MONEY_DIGITS_MAX} digits"));
        }
        Ok(())
    }

    pub fn parse(amount: &str, currency: Currency) -> Result<Money, String> {
        Money::check_form(amount)?;
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        let digits = currency.minor_digits() as usize;
        if fraction.len() > digits {
            return Err(format!("more than {digits} decimals for {currency}"));
        }
        let mut minor: u128 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            minor = minor * 10 + u128::from(b - b'0');
        }
        minor *= 10u128.pow((digits - fraction.len()) as u32);
        Ok(Money { minor, currency })
    }

    pub fn amount_string(&self) -> String {
        self.currency.format(self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(amount: &str, code: &str, expected: Result<&str, &str>) {
        let result = Currency::from_code(code).and_then(|c| Money::parse(amount, c));
        match (result, expected) {
            (Ok(money), Ok(text)) => assert_eq!(money.amount_string(), text, "{amount} {code}"),
            (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{amount} {code}: `{e}` lacks `{fragment}`"),
            (got, want) => panic!("{amount} {code}: got {got:?}, wanted {want:?}"),
        }
    }

    #[test]
    fn amounts_normalise_to_minor_digits() {
        check("3000000", "USD", Ok("3000000.00"));
        check("3000000.5", "USD", Ok("3000000.50"));
        check("3000000.00", "USD", Ok("3000000.00"));
        check("0", "EUR", Ok("0.00"));
        check("5000000000", "VND", Ok("5000000000"));
        check("12.345", "KWD", Ok("12.345"));
        check("100", "LAK", Ok("100.00"));
        check("100", "JPY", Ok("100"));
        check("007", "KRW", Ok("7"));
    }

    #[test]
    fn bad_amounts_and_currencies_are_rejected() {
        check("1.001", "USD", Err("more than 2 decimals for USD"));
        check("1.5", "VND", Err("more than 0 decimals for VND"));
        check("-1", "USD", Err("must not be negative"));
        check("1e6", "USD", Err("not a plain decimal"));
        check("1,000", "USD", Err("not a plain decimal"));
        check(".5", "USD", Err("not a plain decimal"));
        check("5.", "USD", Err("not a plain decimal"));
        check("", "USD", Err("not a plain decimal"));
        check("+5", "USD", Err("not a plain decimal"));
        check("1234567890123456789012345", "USD", Err("more than 24 digits"));
        check("1", "XYZ", Err("not an ISO 4217"));
        check("1", "usd", Err("not an ISO 4217"));
        check("1", "XAU", Err("no minor unit"));
    }

    #[test]
    fn the_required_currencies_have_their_iso_digits() {
        for (code, digits) in [
            ("USD", 2),
            ("EUR", 2),
            ("VND", 0),
            ("LAK", 2),
            ("THB", 2),
            ("CNY", 2),
            ("JPY", 0),
            ("KRW", 0),
            ("AUD", 2),
            ("GBP", 2),
        ] {
            assert_eq!(Currency::from_code(code).unwrap().minor_digits(), digits, "{code}");
        }
    }
}

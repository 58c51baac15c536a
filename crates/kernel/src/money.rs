//! Money is an integer count of the currency's minor unit (fen for CNY), never a float.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 code: three ASCII capital letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const CNY: Currency = Currency(*b"CNY");

    pub fn parse(code: &str) -> Option<Self> {
        let bytes: [u8; 3] = code.as_bytes().try_into().ok()?;
        bytes.iter().all(u8::is_ascii_uppercase).then_some(Self(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII capitals can be stored, so this never fails.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("not an ISO 4217 currency code: {s:?}"))
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Amount in minor units (1 CNY = 100 minor units).
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// `None` on a currency mismatch or overflow: money is never silently wrong.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| self.minor.checked_add(other.minor))
            .flatten()
            .map(|minor| Money { minor, currency: self.currency })
    }

    pub fn checked_mul(self, quantity: i64) -> Option<Money> {
        self.minor.checked_mul(quantity).map(|minor| Money { minor, currency: self.currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_accepts_only_three_capitals() {
        assert_eq!(Currency::parse("CNY"), Some(Currency::CNY));
        assert_eq!(Currency::parse("cny"), None);
        assert_eq!(Currency::parse("CNYX"), None);
        assert!(serde_json::from_str::<Currency>("\"US\"").is_err());
    }

    #[test]
    fn money_adds_only_the_same_currency_and_never_overflows() {
        let usd = Currency::parse("USD").unwrap();
        let a = Money::new(150, Currency::CNY);
        assert_eq!(a.checked_add(Money::new(50, Currency::CNY)), Some(Money::new(200, Currency::CNY)));
        assert_eq!(a.checked_add(Money::new(50, usd)), None);
        assert_eq!(Money::new(i64::MAX, usd).checked_add(Money::new(1, usd)), None);
        assert_eq!(Money::new(-1999, Currency::CNY).to_string(), "-19.99 CNY");
    }
}

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

    /// Splits this amount into parts proportional to `weights`, in whole minor units, so that the
    /// parts always add up to exactly this amount: shipping over an order's lines, a discount
    /// over its items, a payment between merchant and creator. The largest-remainder method:
    /// each part gets its exact share rounded towards zero, and the units left over go one each
    /// to the parts whose shares lost the most, the earlier part first on a tie. A part is never
    /// more than one minor unit from its exact share, a zero weight gets nothing, and a larger
    /// weight never gets less than a smaller one.
    ///
    /// `None` when there are no weights, one is negative, or all are zero.
    pub fn allocate(self, weights: &[i64]) -> Option<Vec<Money>> {
        if weights.iter().any(|&w| w < 0) {
            return None;
        }
        let total: i128 = weights.iter().map(|&w| i128::from(w)).sum();
        if total == 0 {
            return None;
        }
        // Shares of the magnitude, then the sign: a refund splits as its payment did.
        let amount = i128::from(self.minor).abs();
        let exact: Vec<(i128, i128)> = weights
            .iter()
            .map(|&w| {
                let scaled = amount * i128::from(w);
                (scaled / total, scaled % total)
            })
            .collect();
        let mut parts: Vec<i128> = exact.iter().map(|&(share, _)| share).collect();
        let left = amount - parts.iter().sum::<i128>();
        // Fewer units are left than there are parts (each remainder is below `total`).
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
        for &i in order.iter().take(usize::try_from(left).ok()?) {
            parts[i] += 1;
        }
        let sign = if self.minor < 0 { -1 } else { 1 };
        parts
            .into_iter()
            .map(|part| i64::try_from(sign * part).ok().map(|minor| Money { minor, currency: self.currency }))
            .collect()
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

    #[test]
    fn an_allocation_hands_the_leftover_units_to_the_largest_remainders() {
        let cny = |minor| Money::new(minor, Currency::CNY);
        let minors = |parts: Option<Vec<Money>>| parts.map(|p| p.iter().map(|m| m.minor).collect::<Vec<_>>());
        assert_eq!(minors(cny(100).allocate(&[1, 1, 1])), Some(vec![34, 33, 33]));
        assert_eq!(minors(cny(-100).allocate(&[1, 1, 1])), Some(vec![-34, -33, -33]));
        // 1000 × 1/6 = 166.67, × 2/6 = 333.33, × 3/6 = 500: the unit left goes to 0.67.
        assert_eq!(minors(cny(1000).allocate(&[1, 2, 3])), Some(vec![167, 333, 500]));
        assert_eq!(minors(cny(5).allocate(&[0, 7])), Some(vec![0, 5]));
        assert_eq!(minors(cny(1).allocate(&[3, 3])), Some(vec![1, 0]), "a tie goes to the earlier part");
        assert_eq!(minors(cny(i64::MIN).allocate(&[i64::MAX, 1])).map(|p| p.iter().map(|&m| i128::from(m)).sum::<i128>()), Some(i128::from(i64::MIN)));
        for weights in [&[][..], &[0, 0], &[-1, 2]] {
            assert_eq!(cny(100).allocate(weights), None, "{weights:?}");
        }
        let usd = Currency::parse("USD").unwrap();
        assert!(Money::new(10, usd).allocate(&[1, 2]).unwrap().iter().all(|m| m.currency == usd));
    }

    proptest::proptest! {
        #[test]
        fn allocated_parts_add_up_and_each_is_within_a_unit_of_its_share(
            minor in proptest::num::i64::ANY,
            weights in proptest::collection::vec(proptest::prop_oneof![0i64..1_000, 0i64..=i64::MAX / 16], 1..16),
        ) {
            let total: i128 = weights.iter().map(|&w| i128::from(w)).sum();
            let Some(parts) = Money::new(minor, Currency::CNY).allocate(&weights) else {
                proptest::prop_assert_eq!(total, 0);
                return Ok(());
            };
            proptest::prop_assert_eq!(parts.iter().map(|m| i128::from(m.minor)).sum::<i128>(), i128::from(minor));
            for (i, (part, &w)) in parts.iter().zip(&weights).enumerate() {
                // |part − minor × w / total| < 1 unit, and never of the other sign.
                let off = i128::from(part.minor) * total - i128::from(minor) * i128::from(w);
                proptest::prop_assert!(off.abs() < total, "part {} of {:?} is {} ({} over)", i, weights, part.minor, off);
                proptest::prop_assert!(part.minor == 0 || (part.minor < 0) == (minor < 0));
                if w == 0 {
                    proptest::prop_assert_eq!(part.minor, 0);
                }
                for (other, &v) in parts.iter().zip(&weights) {
                    if w > v {
                        proptest::prop_assert!(part.minor.unsigned_abs() >= other.minor.unsigned_abs(), "{:?} over {:?}", parts, weights);
                    }
                }
            }
        }
    }
}

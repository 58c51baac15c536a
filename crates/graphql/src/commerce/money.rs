//! Money in the schema: amounts as integer minor units (`MinorUnits`, never a float), with their
//! currency and a display string.

use async_graphql::{InputValueError, InputValueResult, Object, Scalar, ScalarType, Value};

/// The largest integer a JSON number holds exactly in every client (JavaScript's
/// `Number.MAX_SAFE_INTEGER`, 2^53 − 1).
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// An amount as an integer count of its currency's minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinorUnits(pub i64);

/// An amount of money as an integer count of its currency's minor unit: fen for CNY (1234 is
/// ¥12.34), cents for USD, yen for JPY (no minor unit). Sent and received as a JSON number,
/// never a string nor a fraction; exact up to ±2^53 − 1 (9007199254740991), the largest integer
/// every JSON client reads exactly, and refused beyond it in inputs. The currency is not part of
/// the scalar: it is the shop's (`Money.currency`).
#[Scalar(name = "MinorUnits")]
impl ScalarType for MinorUnits {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::Number(n) = &value else { return Err(InputValueError::expected_type(value)) };
        match n.as_i64() {
            Some(minor) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&minor) => Ok(Self(minor)),
            Some(_) => Err(InputValueError::custom("an amount in minor units must be within ±(2^53 − 1)")),
            None => Err(InputValueError::custom("an amount in minor units must be a whole number")),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::Number(n) if n.as_i64().is_some_and(|m| (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&m)))
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

pub struct Money(pub kanjian_kernel::Money);

/// An amount of money: integer minor units and the currency they are of. Totals are computed by
/// the server; clients show `formatted` or format `minor` themselves, never with floats.
#[Object]
impl Money {
    /// The amount in the currency's minor unit (fen for CNY: 1234 is ¥12.34).
    async fn minor(&self) -> MinorUnits {
        MinorUnits(self.0.minor)
    }

    /// ISO 4217 code, e.g. `CNY`.
    async fn currency(&self) -> &str {
        self.0.currency.as_str()
    }

    /// For showing as is: `¥12.34` for CNY, otherwise the amount in major units and the code,
    /// `12.34 USD` (`1234 JPY` for a currency without a minor unit). Negative amounts start with
    /// `-`.
    async fn formatted(&self) -> String {
        format_money(self.0)
    }
}

impl From<kanjian_kernel::Money> for Money {
    fn from(m: kanjian_kernel::Money) -> Self {
        Self(m)
    }
}

/// How many digits of the minor unit a currency has (ISO 4217): 2 unless listed.
fn minor_digits(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
        | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

pub(crate) fn format_money(money: kanjian_kernel::Money) -> String {
    let code = money.currency.as_str();
    let digits = minor_digits(code);
    let sign = if money.minor < 0 { "-" } else { "" };
    let abs = money.minor.unsigned_abs();
    let amount = if digits == 0 {
        abs.to_string()
    } else {
        let scale = 10u64.pow(digits);
        format!("{}.{:0width$}", abs / scale, abs % scale, width = digits as usize)
    };
    if code == "CNY" { format!("{sign}¥{amount}") } else { format!("{sign}{amount} {code}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kanjian_kernel::Currency;

    fn money(minor: i64, code: &str) -> kanjian_kernel::Money {
        kanjian_kernel::Money::new(minor, Currency::parse(code).unwrap())
    }

    #[test]
    fn formats_yuan_with_the_sign_and_others_with_their_code_and_minor_digits() {
        assert_eq!(format_money(money(1234, "CNY")), "¥12.34");
        assert_eq!(format_money(money(5, "CNY")), "¥0.05");
        assert_eq!(format_money(money(0, "CNY")), "¥0.00");
        assert_eq!(format_money(money(-1200, "CNY")), "-¥12.00");
        assert_eq!(format_money(money(1234, "USD")), "12.34 USD");
        assert_eq!(format_money(money(1234, "JPY")), "1234 JPY");
        assert_eq!(format_money(money(1234, "KWD")), "1.234 KWD");
        assert_eq!(format_money(money(i64::MIN, "CNY")), "-¥92233720368547758.08");
    }

    #[test]
    fn minor_units_are_whole_safe_json_integers() {
        let parse = |v: serde_json::Value| MinorUnits::parse(Value::from_json(v).unwrap()).ok();
        assert_eq!(parse(serde_json::json!(1234)), Some(MinorUnits(1234)));
        assert_eq!(parse(serde_json::json!(-5)), Some(MinorUnits(-5)));
        assert_eq!(parse(serde_json::json!(MAX_SAFE_INTEGER)), Some(MinorUnits(MAX_SAFE_INTEGER)));
        assert_eq!(parse(serde_json::json!(MAX_SAFE_INTEGER + 1)), None);
        assert_eq!(parse(serde_json::json!(12.5)), None);
        assert_eq!(parse(serde_json::json!(12.0)), None);
        assert_eq!(parse(serde_json::json!("1234")), None);
        assert_eq!(parse(serde_json::json!(null)), None);
        assert_eq!(parse(serde_json::json!(u64::MAX)), None);
        assert_eq!(MinorUnits(1234).to_value(), Value::from(1234));
    }
}

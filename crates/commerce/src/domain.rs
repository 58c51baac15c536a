//! What the module's fields may hold and how money is worked out: pure, with tests beside them.

use kanjian_contracts::commerce::{MAX_IMAGES, MAX_QUANTITY, MAX_SKUS, MAX_SPECS, SpecValue};
use kanjian_kernel::text::{self, TextRules};
use kanjian_kernel::{Currency, Money, UserError, UserErrorCode};

pub const SHOP_NAME: TextRules = TextRules::required("name", "shop name", 30).min(2);
pub const SHOP_DESCRIPTION: TextRules = TextRules::optional("description", "description", 500).multiline();
pub const TITLE: TextRules = TextRules::required("title", "title", 60);
pub const DESCRIPTION: TextRules = TextRules::optional("description", "description", 5000).multiline();
pub const CATEGORY: TextRules = TextRules::required("category", "category", 30);
pub const SPEC_NAME: TextRules = TextRules::required("skus.specs.name", "spec name", 20);
pub const SPEC_VALUE: TextRules = TextRules::required("skus.specs.value", "spec value", 40);
pub const RECIPIENT: TextRules = TextRules::required("recipient", "recipient", 25);
pub const REGION_PART: TextRules = TextRules::required("region", "region", 30);
pub const DETAIL: TextRules = TextRules::required("detail", "address", 120).min(2);
pub const CARRIER: TextRules = TextRules::required("carrier", "carrier", 30);
pub const TRACKING_NUMBER: TextRules = TextRules::required("trackingNumber", "tracking number", 40).min(4);

/// The highest unit price: ¥10,000,000.00. With [`MAX_QUANTITY`] a line stays far inside `i64`
/// and inside the 2^53 that JSON clients read exactly.
pub const MAX_PRICE_MINOR: i64 = 1_000_000_000;
// The largest line fits in what JSON clients read exactly.
const _: () = assert!(MAX_PRICE_MINOR * MAX_QUANTITY < 1 << 53);

/// The most stock one SKU may hold.
pub const MAX_STOCK: i64 = 100_000_000;

fn err(field: &str, code: UserErrorCode, message: impl Into<String>) -> UserError {
    UserError::new(field, code, message)
}

pub fn parse_currency(raw: Option<&str>) -> Result<Currency, UserError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Currency::CNY),
        Some(code) => Currency::parse(code)
            .ok_or_else(|| err("currency", UserErrorCode::Invalid, "The currency must be an ISO 4217 code such as CNY.")),
    }
}

/// A price in minor units: more than zero, at most [`MAX_PRICE_MINOR`].
pub fn parse_price(minor: i64, field: &str) -> Result<i64, UserError> {
    if minor <= 0 {
        return Err(err(field, UserErrorCode::TooShort, "A price must be more than zero."));
    }
    if minor > MAX_PRICE_MINOR {
        return Err(err(field, UserErrorCode::TooLong, "A price can be at most 10,000,000.00."));
    }
    Ok(minor)
}

/// A fee or threshold in minor units: zero or more.
pub fn parse_fee(minor: i64, field: &str) -> Result<i64, UserError> {
    if minor < 0 {
        return Err(err(field, UserErrorCode::TooShort, "This amount cannot be negative."));
    }
    if minor > MAX_PRICE_MINOR {
        return Err(err(field, UserErrorCode::TooLong, "This amount can be at most 10,000,000.00."));
    }
    Ok(minor)
}

pub fn parse_stock(units: i64, field: &str) -> Result<i64, UserError> {
    if units < 0 {
        return Err(err(field, UserErrorCode::TooShort, "Stock cannot be negative."));
    }
    if units > MAX_STOCK {
        return Err(err(field, UserErrorCode::TooLong, format!("A SKU can hold at most {MAX_STOCK} units.")));
    }
    Ok(units)
}

/// How many units one order line may take: 1 to [`MAX_QUANTITY`].
pub fn parse_quantity(quantity: i64) -> Result<i64, UserError> {
    if quantity < 1 {
        return Err(err("quantity", UserErrorCode::TooShort, "Buy at least one."));
    }
    if quantity > MAX_QUANTITY {
        return Err(err("quantity", UserErrorCode::TooLong, format!("At most {MAX_QUANTITY} at a time.")));
    }
    Ok(quantity)
}

pub fn parse_purchase_limit(limit: Option<i64>) -> Result<Option<i64>, UserError> {
    match limit {
        Some(n) if n < 1 => Err(err("purchaseLimit", UserErrorCode::TooShort, "A purchase limit must be at least 1.")),
        Some(n) if n > MAX_STOCK => Err(err("purchaseLimit", UserErrorCode::TooLong, "This purchase limit is too large.")),
        other => Ok(other),
    }
}

pub fn parse_image_urls(urls: &[String]) -> Result<Vec<String>, UserError> {
    if urls.len() > MAX_IMAGES {
        return Err(err("imageUrls", UserErrorCode::TooLong, format!("A product shows at most {MAX_IMAGES} images.")));
    }
    urls.iter().map(|u| kanjian_kernel::web_url::parse(u, "imageUrls")).collect()
}

/// A SKU's spec values: at most [`MAX_SPECS`], each name once.
pub fn parse_specs(specs: &[SpecValue]) -> Result<Vec<SpecValue>, UserError> {
    if specs.len() > MAX_SPECS {
        return Err(err("skus.specs", UserErrorCode::TooLong, format!("A SKU has at most {MAX_SPECS} specs.")));
    }
    let mut parsed: Vec<SpecValue> = Vec::with_capacity(specs.len());
    for spec in specs {
        let spec = SpecValue { name: text::parse(&spec.name, &SPEC_NAME)?, value: text::parse(&spec.value, &SPEC_VALUE)? };
        if parsed.iter().any(|p| p.name == spec.name) {
            return Err(err("skus.specs", UserErrorCode::Invalid, format!("The spec {:?} is given twice.", spec.name)));
        }
        parsed.push(spec);
    }
    Ok(parsed)
}

/// The SKUs of a new product: 1 to [`MAX_SKUS`], every one with the same spec names in the same
/// order, and no two with the same values.
pub fn check_sku_set(all_specs: &[Vec<SpecValue>]) -> Result<(), UserError> {
    if all_specs.is_empty() {
        return Err(err("skus", UserErrorCode::Required, "A product needs at least one SKU."));
    }
    if all_specs.len() > MAX_SKUS {
        return Err(err("skus", UserErrorCode::TooLong, format!("A product has at most {MAX_SKUS} SKUs.")));
    }
    let names = |specs: &Vec<SpecValue>| specs.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    let first = names(&all_specs[0]);
    if all_specs.iter().any(|s| names(s) != first) {
        return Err(err("skus.specs", UserErrorCode::Invalid, "Every SKU must have the same spec names, in the same order."));
    }
    let mut seen = std::collections::HashSet::new();
    if all_specs.iter().any(|s| !seen.insert(s.clone())) {
        return Err(err("skus.specs", UserErrorCode::Invalid, "Two SKUs have the same spec values."));
    }
    Ok(())
}

/// A phone number: digits, spaces, `+` and `-`, with 5 to 20 digits.
pub fn parse_phone(raw: &str) -> Result<String, UserError> {
    let trimmed = raw.trim();
    let digits = trimmed.chars().filter(char::is_ascii_digit).count();
    if trimmed.is_empty() {
        return Err(err("phone", UserErrorCode::Required, "A phone number is required for delivery."));
    }
    if !trimmed.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-')) || !(5..=20).contains(&digits) {
        return Err(err("phone", UserErrorCode::Invalid, "This is not a phone number."));
    }
    Ok(trimmed.to_owned())
}

/// 1 to 4 region names, widest first (省, 市, 区, 街道).
pub fn parse_region(parts: &[String]) -> Result<Vec<String>, UserError> {
    if parts.is_empty() {
        return Err(err("region", UserErrorCode::Required, "Give the region: province, city and district."));
    }
    if parts.len() > 4 {
        return Err(err("region", UserErrorCode::TooLong, "A region has at most 4 parts."));
    }
    parts.iter().map(|p| text::parse(p, &REGION_PART)).collect()
}

pub fn parse_postal_code(raw: Option<&str>) -> Result<Option<String>, UserError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(code) if code.len() <= 12 && code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-')) => {
            Ok(Some(code.to_owned()))
        }
        Some(_) => Err(err("postalCode", UserErrorCode::Invalid, "This is not a postal code.")),
    }
}

/// Shipping for an order whose items come to `items`: the shop's flat fee, nothing at or above
/// its free-shipping threshold.
pub fn shipping_for(items: Money, fee: Money, free_from: Option<Money>) -> Money {
    match free_from {
        Some(threshold) if items.minor >= threshold.minor => Money::new(0, items.currency),
        _ => fee,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny(minor: i64) -> Money {
        Money::new(minor, Currency::CNY)
    }

    fn spec(name: &str, value: &str) -> SpecValue {
        SpecValue { name: name.into(), value: value.into() }
    }

    #[test]
    fn quantities_outside_one_to_the_maximum_are_refused() {
        assert_eq!(parse_quantity(0).unwrap_err().code, UserErrorCode::TooShort);
        assert_eq!(parse_quantity(-3).unwrap_err().code, UserErrorCode::TooShort);
        assert_eq!(parse_quantity(MAX_QUANTITY + 1).unwrap_err().code, UserErrorCode::TooLong);
        assert_eq!(parse_quantity(1).unwrap(), 1);
        assert_eq!(parse_quantity(MAX_QUANTITY).unwrap(), MAX_QUANTITY);
    }

    #[test]
    fn prices_are_positive_and_bounded() {
        assert_eq!(parse_price(0, "price").unwrap_err().code, UserErrorCode::TooShort);
        assert_eq!(parse_price(-1, "price").unwrap_err().code, UserErrorCode::TooShort);
        assert_eq!(parse_price(MAX_PRICE_MINOR + 1, "price").unwrap_err().code, UserErrorCode::TooLong);
        assert_eq!(parse_price(1, "price").unwrap(), 1);
    }

    #[test]
    fn shipping_is_flat_and_free_from_the_threshold() {
        assert_eq!(shipping_for(cny(9_999), cny(800), Some(cny(10_000))), cny(800));
        assert_eq!(shipping_for(cny(10_000), cny(800), Some(cny(10_000))), cny(0));
        assert_eq!(shipping_for(cny(1_000_000), cny(800), None), cny(800));
    }

    #[test]
    fn sku_sets_need_the_same_spec_names_and_distinct_values() {
        let red_m = vec![spec("颜色", "红"), spec("尺码", "M")];
        let red_l = vec![spec("颜色", "红"), spec("尺码", "L")];
        assert!(check_sku_set(&[red_m.clone(), red_l.clone()]).is_ok());
        assert_eq!(check_sku_set(&[red_m.clone(), red_m.clone()]).unwrap_err().code, UserErrorCode::Invalid);
        let swapped = vec![spec("尺码", "L"), spec("颜色", "红")];
        assert_eq!(check_sku_set(&[red_m, swapped]).unwrap_err().code, UserErrorCode::Invalid);
        assert_eq!(check_sku_set(&[]).unwrap_err().code, UserErrorCode::Required);
        // One SKU with no specs is a product with one variant.
        assert!(check_sku_set(&[vec![]]).is_ok());
    }

    #[test]
    fn specs_are_trimmed_and_a_name_may_not_repeat() {
        let parsed = parse_specs(&[spec(" 颜色 ", " 红 ")]).unwrap();
        assert_eq!(parsed, vec![spec("颜色", "红")]);
        assert_eq!(parse_specs(&[spec("颜色", "红"), spec("颜色", "蓝")]).unwrap_err().code, UserErrorCode::Invalid);
        assert_eq!(parse_specs(&[spec("", "红")]).unwrap_err().code, UserErrorCode::Required);
    }

    #[test]
    fn phones_and_regions_are_checked() {
        assert_eq!(parse_phone(" +86 138-0013-8000 ").unwrap(), "+86 138-0013-8000");
        assert_eq!(parse_phone("call me").unwrap_err().code, UserErrorCode::Invalid);
        assert_eq!(parse_phone("123").unwrap_err().code, UserErrorCode::Invalid);
        assert_eq!(parse_phone("").unwrap_err().code, UserErrorCode::Required);
        assert_eq!(parse_region(&[]).unwrap_err().code, UserErrorCode::Required);
        assert_eq!(parse_region(&["广东省".into(), "深圳市".into(), "南山区".into()]).unwrap().len(), 3);
        assert_eq!(parse_postal_code(Some("518000")).unwrap().as_deref(), Some("518000"));
        assert_eq!(parse_postal_code(Some("<script>")).unwrap_err().code, UserErrorCode::Invalid);
    }

    #[test]
    fn image_urls_must_be_web_urls_and_few() {
        assert!(parse_image_urls(&["https://cdn.example/a.jpg".into()]).is_ok());
        assert!(parse_image_urls(&["javascript:alert(1)".into()]).is_err());
        let many = vec!["https://cdn.example/a.jpg".to_owned(); MAX_IMAGES + 1];
        assert_eq!(parse_image_urls(&many).unwrap_err().code, UserErrorCode::TooLong);
    }
}

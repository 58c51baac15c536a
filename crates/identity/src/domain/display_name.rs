use kanjian_kernel::UserError;
use kanjian_kernel::text::{self, TextRules};

/// A channel's display name: trimmed, 1 to 40 characters as people count them (grapheme
/// clusters), no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const FIELD: &'static str = "displayName";
    pub const MAX_LEN: usize = 40;
    const RULES: TextRules = TextRules::required(Self::FIELD, "display name", Self::MAX_LEN);

    pub fn parse(raw: &str) -> Result<Self, UserError> {
        text::parse(raw, &Self::RULES).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kanjian_kernel::UserErrorCode;

    #[test]
    fn a_name_is_trimmed() {
        assert_eq!(
            DisplayName::parse("  Alice 的厨房  ").unwrap().as_str(),
            "Alice 的厨房"
        );
    }

    #[test]
    fn an_empty_name_is_required() {
        assert_eq!(
            DisplayName::parse(" \t ").unwrap_err().code,
            UserErrorCode::Required
        );
    }

    #[test]
    fn length_counts_graphemes_not_bytes() {
        // A family emoji is several code points but one grapheme.
        let family = "👨‍👩‍👧‍👦";
        assert!(DisplayName::parse(&family.repeat(40)).is_ok());
        assert_eq!(
            DisplayName::parse(&family.repeat(41)).unwrap_err().code,
            UserErrorCode::TooLong
        );
        assert!(DisplayName::parse(&"看".repeat(40)).is_ok());
        assert_eq!(
            DisplayName::parse(&"a".repeat(41)).unwrap_err().code,
            UserErrorCode::TooLong
        );
    }

    #[test]
    fn control_characters_are_rejected() {
        for raw in ["Ali\u{0}ce", "Ali\nce", "Al\u{7f}ice", "Ali\u{1b}[31mce"] {
            let e = DisplayName::parse(raw).unwrap_err();
            assert_eq!(e.code, UserErrorCode::Invalid, "{raw:?}");
            assert_eq!(e.field, vec!["input", "displayName"]);
        }
    }
}

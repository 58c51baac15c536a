use kanjian_kernel::UserError;
use kanjian_kernel::text::{self, TextRules};

/// A display name, of a channel or of a user (昵称): trimmed, one line, no control characters,
/// 1 to [`DisplayName::CHANNEL_MAX_LEN`] (channels) or [`DisplayName::USER_MAX_LEN`] (users)
/// characters as people count them (grapheme clusters). Both are the input field `displayName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const FIELD: &'static str = "displayName";
    pub const CHANNEL_MAX_LEN: usize = 40;
    pub const USER_MAX_LEN: usize = 32;
    const CHANNEL_RULES: TextRules =
        TextRules::required(Self::FIELD, "display name", Self::CHANNEL_MAX_LEN);
    const USER_RULES: TextRules =
        TextRules::required(Self::FIELD, "display name", Self::USER_MAX_LEN);

    /// A channel's display name.
    pub fn parse_channel(raw: &str) -> Result<Self, UserError> {
        text::parse(raw, &Self::CHANNEL_RULES).map(Self)
    }

    /// A user's display name (昵称).
    pub fn parse_user(raw: &str) -> Result<Self, UserError> {
        text::parse(raw, &Self::USER_RULES).map(Self)
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
            DisplayName::parse_channel("  Alice 的厨房  ")
                .unwrap()
                .as_str(),
            "Alice 的厨房"
        );
    }

    #[test]
    fn an_empty_name_is_required() {
        assert_eq!(
            DisplayName::parse_channel(" \t ").unwrap_err().code,
            UserErrorCode::Required
        );
    }

    #[test]
    fn length_counts_graphemes_not_bytes() {
        // A family emoji is several code points but one grapheme.
        let family = "👨‍👩‍👧‍👦";
        assert!(DisplayName::parse_channel(&family.repeat(40)).is_ok());
        assert_eq!(
            DisplayName::parse_channel(&family.repeat(41))
                .unwrap_err()
                .code,
            UserErrorCode::TooLong
        );
        assert!(DisplayName::parse_channel(&"看".repeat(40)).is_ok());
        assert_eq!(
            DisplayName::parse_channel(&"a".repeat(41))
                .unwrap_err()
                .code,
            UserErrorCode::TooLong
        );
    }

    #[test]
    fn control_characters_are_rejected() {
        for raw in ["Ali\u{0}ce", "Ali\nce", "Al\u{7f}ice", "Ali\u{1b}[31mce"] {
            for e in [
                DisplayName::parse_channel(raw).unwrap_err(),
                DisplayName::parse_user(raw).unwrap_err(),
            ] {
                assert_eq!(e.code, UserErrorCode::Invalid, "{raw:?}");
                assert_eq!(e.field, vec!["input", "displayName"]);
            }
        }
    }

    #[test]
    fn a_user_name_is_shorter_than_a_channel_name() {
        assert_eq!(DisplayName::parse_user("  李雷 ").unwrap().as_str(), "李雷");
        assert!(DisplayName::parse_user(&"雷".repeat(32)).is_ok());
        assert_eq!(
            DisplayName::parse_user(&"雷".repeat(33)).unwrap_err().code,
            UserErrorCode::TooLong
        );
        assert!(DisplayName::parse_channel(&"雷".repeat(33)).is_ok());
        assert_eq!(
            DisplayName::parse_user("").unwrap_err().code,
            UserErrorCode::Required
        );
    }
}

use kanjian_kernel::{UserError, UserErrorCode};

use super::{grapheme_count, has_control_chars};

/// A channel's display name: trimmed, 1 to 40 characters as people count them (grapheme
/// clusters), no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const FIELD: &'static str = "displayName";
    pub const MAX_LEN: usize = 40;

    pub fn parse(raw: &str) -> Result<Self, UserError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::Required,
                "Enter a display name.",
            ));
        }
        if grapheme_count(name) > Self::MAX_LEN {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::TooLong,
                format!("A display name has at most {} characters.", Self::MAX_LEN),
            ));
        }
        if has_control_chars(name, &[]) {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::Invalid,
                "A display name may not contain control characters.",
            ));
        }
        Ok(Self(name.to_owned()))
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

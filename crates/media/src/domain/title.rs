//! A video title: 1 to 100 characters (grapheme clusters) after trimming, no control characters.

use kanjian_kernel::UserError;
use kanjian_kernel::text::{self, TextRules};

pub const MAX_TITLE_CHARS: usize = 100;

const RULES: TextRules = TextRules::required("title", "title", MAX_TITLE_CHARS);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTitle(String);

impl VideoTitle {
    pub fn parse(raw: &str) -> Result<Self, UserError> {
        text::parse(raw, &RULES).map(Self)
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
    fn a_title_is_trimmed() {
        assert_eq!(
            VideoTitle::parse("  My trip  ").unwrap().as_str(),
            "My trip"
        );
    }

    #[test]
    fn an_empty_or_blank_title_is_required() {
        for raw in ["", "   ", "\t"] {
            let e = VideoTitle::parse(raw).unwrap_err();
            assert_eq!(e.code, UserErrorCode::Required);
            assert_eq!(e.field, vec!["input", "title"]);
        }
    }

    #[test]
    fn a_title_counts_characters_not_bytes() {
        assert!(VideoTitle::parse(&"看".repeat(100)).is_ok());
        let e = VideoTitle::parse(&"看".repeat(101)).unwrap_err();
        assert_eq!(e.code, UserErrorCode::TooLong);
        assert!(VideoTitle::parse(&"a".repeat(100)).is_ok());
        // An emoji with a skin tone is two chars but one character to a person.
        assert!(VideoTitle::parse(&"👍🏽".repeat(100)).is_ok());
        assert_eq!(
            VideoTitle::parse(&"👍🏽".repeat(101)).unwrap_err().code,
            UserErrorCode::TooLong
        );
    }

    #[test]
    fn a_title_has_no_line_breaks() {
        assert_eq!(
            VideoTitle::parse("a\nb").unwrap_err().code,
            UserErrorCode::Invalid
        );
    }
}

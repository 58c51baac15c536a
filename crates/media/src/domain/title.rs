//! A video title: 1 to 100 characters after trimming, no control characters.

use kanjian_kernel::{UserError, UserErrorCode};

pub const MAX_TITLE_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTitle(String);

impl VideoTitle {
    pub fn parse(raw: &str) -> Result<Self, UserError> {
        let title = raw.trim();
        if title.is_empty() {
            return Err(UserError::new(
                "title",
                UserErrorCode::Required,
                "a title is required",
            ));
        }
        if title.chars().count() > MAX_TITLE_CHARS {
            return Err(UserError::new(
                "title",
                UserErrorCode::TooLong,
                format!("the title may have at most {MAX_TITLE_CHARS} characters"),
            ));
        }
        if title.chars().any(char::is_control) {
            return Err(UserError::new(
                "title",
                UserErrorCode::Invalid,
                "the title may not contain control characters such as line breaks",
            ));
        }
        Ok(Self(title.to_owned()))
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
    }

    #[test]
    fn a_title_has_no_line_breaks() {
        assert_eq!(
            VideoTitle::parse("a\nb").unwrap_err().code,
            UserErrorCode::Invalid
        );
    }
}

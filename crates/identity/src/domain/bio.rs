use kanjian_kernel::{UserError, UserErrorCode};

use super::{grapheme_count, has_control_chars};

/// A channel's bio: trimmed, at most 200 characters (grapheme clusters), may be empty, may hold
/// line breaks but no other control characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bio(String);

impl Bio {
    pub const FIELD: &'static str = "bio";
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, UserError> {
        let bio = raw.trim();
        if grapheme_count(bio) > Self::MAX_LEN {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::TooLong,
                format!("A bio has at most {} characters.", Self::MAX_LEN),
            ));
        }
        if has_control_chars(bio, &['\n', '\r']) {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::Invalid,
                "A bio may not contain control characters other than line breaks.",
            ));
        }
        Ok(Self(bio.to_owned()))
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
    fn a_bio_may_be_empty_and_is_trimmed() {
        assert_eq!(Bio::parse("").unwrap().as_str(), "");
        assert_eq!(
            Bio::parse("  I cook.\nDaily.  ").unwrap().as_str(),
            "I cook.\nDaily."
        );
    }

    #[test]
    fn at_most_200_graphemes() {
        assert!(Bio::parse(&"看".repeat(200)).is_ok());
        let e = Bio::parse(&"看".repeat(201)).unwrap_err();
        assert_eq!(
            (e.code, e.field),
            (UserErrorCode::TooLong, vec!["input".into(), "bio".into()])
        );
    }

    #[test]
    fn control_characters_other_than_line_breaks_are_rejected() {
        assert_eq!(
            Bio::parse("bell\u{7}").unwrap_err().code,
            UserErrorCode::Invalid
        );
    }
}

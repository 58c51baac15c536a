use kanjian_kernel::UserError;
use kanjian_kernel::text::{self, TextRules};

/// A channel's bio: trimmed, at most 200 characters (grapheme clusters), may be empty, may hold
/// line breaks (stored as `\n`) but no other control characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bio(String);

impl Bio {
    pub const FIELD: &'static str = "bio";
    pub const MAX_LEN: usize = 200;
    const RULES: TextRules = TextRules::optional(Self::FIELD, "bio", Self::MAX_LEN).multiline();

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
    fn a_bio_may_be_empty_and_is_trimmed() {
        assert_eq!(Bio::parse("").unwrap().as_str(), "");
        assert_eq!(
            Bio::parse("  I cook.\nDaily.  ").unwrap().as_str(),
            "I cook.\nDaily."
        );
        assert_eq!(
            Bio::parse("I cook.\r\nDaily.").unwrap().as_str(),
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

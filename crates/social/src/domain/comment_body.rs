use kanjian_kernel::UserError;
use kanjian_kernel::text::{self, TextRules};

/// The text of a comment or reply: trimmed, 1 to `max` characters (grapheme clusters), line
/// breaks allowed (stored as `\n`), no other control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentBody(String);

impl CommentBody {
    pub const FIELD: &'static str = "body";

    pub fn parse(raw: &str, max: usize) -> Result<Self, UserError> {
        let rules = TextRules::required(Self::FIELD, "comment", max).multiline();
        text::parse(raw, &rules).map(Self)
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
    fn a_comment_is_trimmed_and_keeps_line_breaks() {
        assert_eq!(
            CommentBody::parse("  好看！\r\n再来一个 ", 500)
                .unwrap()
                .as_str(),
            "好看！\n再来一个"
        );
    }

    #[test]
    fn an_empty_comment_is_required() {
        let e = CommentBody::parse(" \n ", 500).unwrap_err();
        assert_eq!(e.code, UserErrorCode::Required);
        assert_eq!(e.field, ["input", "body"]);
        assert_eq!(e.message, "The comment is required.");
    }

    #[test]
    fn at_most_max_characters() {
        assert!(CommentBody::parse(&"👍🏽".repeat(500), 500).is_ok());
        let e = CommentBody::parse(&"看".repeat(501), 500).unwrap_err();
        assert_eq!(e.code, UserErrorCode::TooLong);
        assert_eq!(e.message, "The comment may have at most 500 characters.");
    }

    #[test]
    fn control_characters_are_invalid() {
        assert_eq!(
            CommentBody::parse("a\u{1b}[31m", 500).unwrap_err().code,
            UserErrorCode::Invalid
        );
    }
}

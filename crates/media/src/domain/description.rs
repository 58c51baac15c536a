//! A video description: optional, at most 2000 characters (grapheme clusters) after trimming,
//! line breaks (stored as `\n`) but no other control characters.

use kanjian_kernel::UserError;
use kanjian_kernel::text::{self, TextRules};

pub const MAX_DESCRIPTION_CHARS: usize = 2000;

const RULES: TextRules =
    TextRules::optional("description", "description", MAX_DESCRIPTION_CHARS).multiline();

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoDescription(String);

impl VideoDescription {
    /// `None` is the empty description.
    pub fn parse(raw: Option<&str>) -> Result<Self, UserError> {
        text::parse(raw.unwrap_or_default(), &RULES).map(Self)
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
    fn a_missing_description_is_empty() {
        assert_eq!(VideoDescription::parse(None).unwrap().as_str(), "");
    }

    #[test]
    fn a_description_keeps_line_breaks_and_is_trimmed() {
        let d = VideoDescription::parse(Some("  line one\nline two \n")).unwrap();
        assert_eq!(d.as_str(), "line one\nline two");
        let d = VideoDescription::parse(Some("line one\r\nline two")).unwrap();
        assert_eq!(d.as_str(), "line one\nline two");
    }

    #[test]
    fn a_description_has_no_other_control_characters() {
        let e = VideoDescription::parse(Some("ding\u{7}")).unwrap_err();
        assert_eq!(
            (e.code, e.field),
            (
                UserErrorCode::Invalid,
                vec!["input".into(), "description".into()]
            )
        );
    }

    #[test]
    fn a_description_is_at_most_2000_characters() {
        assert!(VideoDescription::parse(Some(&"字".repeat(2000))).is_ok());
        let e = VideoDescription::parse(Some(&"字".repeat(2001))).unwrap_err();
        assert_eq!(
            (e.code, e.field),
            (
                UserErrorCode::TooLong,
                vec!["input".into(), "description".into()]
            )
        );
    }
}

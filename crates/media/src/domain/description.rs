//! A video description: optional, at most 2000 characters after trimming.

use kanjian_kernel::{UserError, UserErrorCode};

pub const MAX_DESCRIPTION_CHARS: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoDescription(String);

impl VideoDescription {
    /// `None` is the empty description.
    pub fn parse(raw: Option<&str>) -> Result<Self, UserError> {
        let text = raw.unwrap_or_default().trim();
        if text.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(UserError::new(
                "description",
                UserErrorCode::TooLong,
                format!("the description may have at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        Ok(Self(text.to_owned()))
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
    fn a_missing_description_is_empty() {
        assert_eq!(VideoDescription::parse(None).unwrap().as_str(), "");
    }

    #[test]
    fn a_description_keeps_line_breaks_and_is_trimmed() {
        let d = VideoDescription::parse(Some("  line one\nline two \n")).unwrap();
        assert_eq!(d.as_str(), "line one\nline two");
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

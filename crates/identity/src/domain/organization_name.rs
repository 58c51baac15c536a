use kanjian_kernel::UserError;
use kanjian_kernel::text::{self, TextRules};

/// An organization's name: trimmed, 2 to 60 characters (grapheme clusters), no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationName(String);

impl OrganizationName {
    pub const FIELD: &'static str = "name";
    pub const MIN_LEN: usize = 2;
    pub const MAX_LEN: usize = 60;
    const RULES: TextRules =
        TextRules::required(Self::FIELD, "organization name", Self::MAX_LEN).min(Self::MIN_LEN);

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
            OrganizationName::parse(" 看见小店 ").unwrap().as_str(),
            "看见小店"
        );
        assert!(OrganizationName::parse("看见").is_ok());
    }

    #[test]
    fn length_is_2_to_60_graphemes() {
        assert_eq!(
            OrganizationName::parse("  ").unwrap_err().code,
            UserErrorCode::Required
        );
        assert_eq!(
            OrganizationName::parse("看").unwrap_err().code,
            UserErrorCode::TooShort
        );
        assert!(OrganizationName::parse(&"x".repeat(60)).is_ok());
        assert_eq!(
            OrganizationName::parse(&"x".repeat(61)).unwrap_err().code,
            UserErrorCode::TooLong
        );
    }

    #[test]
    fn control_characters_are_rejected() {
        let e = OrganizationName::parse("Shop\u{0}Inc").unwrap_err();
        assert_eq!(
            (e.code, e.field),
            (UserErrorCode::Invalid, vec!["input".into(), "name".into()])
        );
    }
}

use email_address::{EmailAddress, Options};
use kanjian_kernel::{UserError, UserErrorCode};

/// An email address: trimmed, lowercased, at most 254 characters, a plain `local@domain.tld`
/// (no display name, no domain literal).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const FIELD: &'static str = "email";
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, UserError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::Required,
                "Enter an email address.",
            ));
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::TooLong,
                format!("An email address has at most {} characters.", Self::MAX_LEN),
            ));
        }
        let options = Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        EmailAddress::parse_with_options(trimmed, options).map_err(|_| {
            UserError::new(
                Self::FIELD,
                UserErrorCode::Invalid,
                "This is not a valid email address.",
            )
        })?;
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> UserErrorCode {
        Email::parse(raw).unwrap_err().code
    }

    #[test]
    fn a_valid_email_is_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Alice.Smith@Example.COM ").unwrap().as_str(),
            "alice.smith@example.com"
        );
        assert_eq!(
            Email::parse("a+tag@sub.example.cn").unwrap().as_str(),
            "a+tag@sub.example.cn"
        );
    }

    #[test]
    fn an_empty_email_is_required() {
        assert_eq!(code(""), UserErrorCode::Required);
        assert_eq!(code("   "), UserErrorCode::Required);
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for raw in [
            "alice",
            "alice@",
            "@example.com",
            "alice@@example.com",
            "alice example@example.com",
            "Alice <alice@example.com>",
            "alice@[127.0.0.1]",
            "alice@localhost",
        ] {
            assert_eq!(code(raw), UserErrorCode::Invalid, "{raw}");
        }
    }

    #[test]
    fn an_email_over_254_characters_is_too_long() {
        let raw = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        assert_eq!(code(&raw), UserErrorCode::TooLong);
    }

    #[test]
    fn the_error_names_the_email_field() {
        assert_eq!(
            Email::parse("nope").unwrap_err().field,
            vec!["input", "email"]
        );
    }
}

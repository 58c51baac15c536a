use kanjian_kernel::{UserError, UserErrorCode};

/// A channel's unique `@handle`: 3 to 30 of `a-z`, `0-9`, `_` and `.`, starting with a letter,
/// without `..` and not ending with `.`. Case-insensitive: stored lowercase. A few handles are
/// reserved for the platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Handle(String);

const RESERVED: &[&str] = &[
    "admin",
    "administrator",
    "api",
    "graphql",
    "graphiql",
    "kanjian",
    "support",
    "help",
    "root",
    "system",
    "official",
    "staff",
    "moderator",
    "security",
    "www",
    "static",
    "assets",
    "login",
    "logout",
    "signup",
    "settings",
    "null",
    "undefined",
];

impl Handle {
    pub const FIELD: &'static str = "handle";
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 30;

    pub fn parse(raw: &str) -> Result<Self, UserError> {
        let handle = raw.trim().to_lowercase();
        let invalid =
            |message: &str| Err(UserError::new(Self::FIELD, UserErrorCode::Invalid, message));
        if handle.is_empty() {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::Required,
                "Choose a handle.",
            ));
        }
        let len = handle.chars().count();
        if len < Self::MIN_LEN {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::TooShort,
                format!("A handle has at least {} characters.", Self::MIN_LEN),
            ));
        }
        if len > Self::MAX_LEN {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::TooLong,
                format!("A handle has at most {} characters.", Self::MAX_LEN),
            ));
        }
        if !handle
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        {
            return invalid("A handle uses only letters a-z, digits, '_' and '.'.");
        }
        if !handle.starts_with(|c: char| c.is_ascii_lowercase()) {
            return invalid("A handle starts with a letter.");
        }
        if handle.contains("..") || handle.ends_with('.') {
            return invalid("A handle has no '..' and does not end with '.'.");
        }
        if RESERVED.contains(&handle.as_str()) {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::Taken,
                "This handle is taken.",
            ));
        }
        Ok(Self(handle))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for Handle {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> UserErrorCode {
        Handle::parse(raw).unwrap_err().code
    }

    #[test]
    fn valid_handles_are_stored_lowercase() {
        assert_eq!(
            Handle::parse(" Alice_Cooks.2024 ").unwrap().as_str(),
            "alice_cooks.2024"
        );
        assert_eq!(Handle::parse("abc").unwrap().as_str(), "abc");
        assert!(Handle::parse(&"a".repeat(30)).is_ok());
        assert!(Handle::parse("a.b_c").is_ok());
    }

    #[test]
    fn length_is_checked() {
        assert_eq!(code(""), UserErrorCode::Required);
        assert_eq!(code("ab"), UserErrorCode::TooShort);
        assert_eq!(code(&"a".repeat(31)), UserErrorCode::TooLong);
    }

    #[test]
    fn only_letters_digits_underscore_and_dot() {
        for raw in [
            "has space",
            "dash-ed",
            "émile",
            "看见看见",
            "at@sign",
            "semi;colon",
        ] {
            assert_eq!(code(raw), UserErrorCode::Invalid, "{raw}");
        }
    }

    #[test]
    fn starts_with_a_letter_and_has_no_double_or_trailing_dot() {
        for raw in ["1abc", "_abc", ".abc", "ab..c", "abc."] {
            assert_eq!(code(raw), UserErrorCode::Invalid, "{raw}");
        }
    }

    #[test]
    fn reserved_handles_are_taken_whatever_their_case() {
        for raw in ["admin", "Kanjian", "API", "graphql", "support"] {
            assert_eq!(code(raw), UserErrorCode::Taken, "{raw}");
        }
    }
}

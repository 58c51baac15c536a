use kanjian_kernel::{UserError, UserErrorCode};

use super::common_passwords::is_common;

/// A password good enough to set: 8 to 128 characters, not one of the most common passwords,
/// not the account's email. Never trimmed, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const FIELD: &'static str = "password";
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 128;

    /// `email` is what the user typed as their email; the password may not equal it.
    pub fn parse(raw: &str, email: &str) -> Result<Self, UserError> {
        let len = raw.chars().count();
        if len == 0 {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::Required,
                "Enter a password.",
            ));
        }
        if len < Self::MIN_LEN {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::TooShort,
                format!("A password has at least {} characters.", Self::MIN_LEN),
            ));
        }
        if len > Self::MAX_LEN {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::TooLong,
                format!("A password has at most {} characters.", Self::MAX_LEN),
            ));
        }
        let lowered = raw.to_lowercase();
        if is_common(&lowered) {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::WeakPassword,
                "This password is one of the most common ones; choose another.",
            ));
        }
        if lowered.trim() == email.trim().to_lowercase() {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::WeakPassword,
                "The password may not be your email address.",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL: &str = "alice@example.com";

    fn code(raw: &str) -> UserErrorCode {
        Password::parse(raw, EMAIL).unwrap_err().code
    }

    #[test]
    fn a_reasonable_password_is_accepted_as_is() {
        let p = Password::parse(" correct horse battery ", EMAIL).unwrap();
        assert_eq!(p.expose(), " correct horse battery ");
        assert!(Password::parse("密码很长很长很长", EMAIL).is_ok());
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert_eq!(code(""), UserErrorCode::Required);
        assert_eq!(code("Xk3#vq9"), UserErrorCode::TooShort);
        assert!(Password::parse("Xk3#vq9z", EMAIL).is_ok());
        assert!(Password::parse(&"é".repeat(128), EMAIL).is_ok());
        assert_eq!(code(&"é".repeat(129)), UserErrorCode::TooLong);
    }

    #[test]
    fn common_passwords_are_weak_whatever_their_case() {
        for raw in [
            "password",
            "Password1",
            "12345678",
            "QWERTYUIOP",
            "iloveyou",
            "1q2w3e4r",
        ] {
            assert_eq!(code(raw), UserErrorCode::WeakPassword, "{raw}");
        }
    }

    #[test]
    fn the_email_as_password_is_weak() {
        assert_eq!(code("Alice@Example.com"), UserErrorCode::WeakPassword);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::parse("s3cret-horse-battery", EMAIL).unwrap();
        assert!(!format!("{p:?}").contains("s3cret"));
    }
}

use kanjian_kernel::{UserError, UserErrorCode};
use url::Url;

/// An absolute `http` or `https` URL with a host, at most 2048 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarUrl(String);

impl AvatarUrl {
    pub const FIELD: &'static str = "avatarUrl";
    pub const MAX_LEN: usize = 2048;

    pub fn parse(raw: &str) -> Result<Self, UserError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::Required,
                "Enter an image URL.",
            ));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::TooLong,
                format!("A URL has at most {} characters.", Self::MAX_LEN),
            ));
        }
        let invalid = || {
            UserError::new(
                Self::FIELD,
                UserErrorCode::Invalid,
                "Enter an http or https URL.",
            )
        };
        let url = Url::parse(raw).map_err(|_| invalid())?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid());
        }
        let normalized = String::from(url);
        if normalized.len() > Self::MAX_LEN {
            return Err(UserError::new(
                Self::FIELD,
                UserErrorCode::TooLong,
                format!("A URL has at most {} characters.", Self::MAX_LEN),
            ));
        }
        Ok(Self(normalized))
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

    fn code(raw: &str) -> UserErrorCode {
        AvatarUrl::parse(raw).unwrap_err().code
    }

    #[test]
    fn http_and_https_urls_are_accepted() {
        assert_eq!(
            AvatarUrl::parse(" https://cdn.example.com/a.png ")
                .unwrap()
                .as_str(),
            "https://cdn.example.com/a.png"
        );
        assert!(AvatarUrl::parse("http://127.0.0.1:8080/x.jpg").is_ok());
    }

    #[test]
    fn other_schemes_and_garbage_are_invalid() {
        for raw in [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "file:///etc/passwd",
            "ftp://example.com/a.png",
            "not a url",
            "/relative/path.png",
        ] {
            assert_eq!(code(raw), UserErrorCode::Invalid, "{raw}");
        }
    }

    #[test]
    fn empty_and_overlong_urls_are_rejected() {
        assert_eq!(code(""), UserErrorCode::Required);
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert_eq!(code(&long), UserErrorCode::TooLong);
    }
}

use kanjian_kernel::UserError;

/// A channel's avatar: an absolute `http` or `https` URL (see `kanjian_kernel::web_url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarUrl(String);

impl AvatarUrl {
    pub const FIELD: &'static str = "avatarUrl";

    pub fn parse(raw: &str) -> Result<Self, UserError> {
        kanjian_kernel::web_url::parse(raw, Self::FIELD).map(Self)
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
        let long = format!("https://example.com/{}", "a".repeat(kanjian_kernel::web_url::MAX_LEN));
        assert_eq!(code(&long), UserErrorCode::TooLong);
    }
}

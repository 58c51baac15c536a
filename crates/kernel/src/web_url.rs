//! Links people give us to show (an avatar, a live room's cover): absolute `http` or `https`
//! URLs with a host, at most [`MAX_LEN`] characters once normalised. Nothing else (`javascript:`,
//! `data:`, `file:`, relative paths) reaches a page or a mail.

use url::Url;

use crate::{UserError, UserErrorCode};

pub const MAX_LEN: usize = 2048;

/// The normalised URL, or the user error on `field` (a GraphQL input field, camelCase).
pub fn parse(raw: &str, field: &str) -> Result<String, UserError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(UserError::new(field, UserErrorCode::Required, "Enter an image URL."));
    }
    let too_long = || UserError::new(field, UserErrorCode::TooLong, format!("A URL has at most {MAX_LEN} characters."));
    if raw.len() > MAX_LEN {
        return Err(too_long());
    }
    let invalid = || UserError::new(field, UserErrorCode::Invalid, "Enter an http or https URL.");
    let url = Url::parse(raw).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    let normalized = String::from(url);
    if normalized.len() > MAX_LEN {
        return Err(too_long());
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> UserErrorCode {
        parse(raw, "coverUrl").unwrap_err().code
    }

    #[test]
    fn http_and_https_urls_are_accepted_and_normalised() {
        assert_eq!(parse(" https://cdn.example.com/a.png ", "coverUrl").unwrap(), "https://cdn.example.com/a.png");
        assert_eq!(parse("HTTP://Example.COM", "coverUrl").unwrap(), "http://example.com/");
        assert!(parse("http://127.0.0.1:8080/x.jpg", "coverUrl").is_ok());
    }

    #[test]
    fn other_schemes_and_garbage_are_invalid_on_the_named_field() {
        for raw in [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "file:///etc/passwd",
            "ftp://example.com/a.png",
            "not a url",
            "/relative/path.png",
        ] {
            let error = parse(raw, "coverUrl").unwrap_err();
            assert_eq!(error.code, UserErrorCode::Invalid, "{raw}");
            assert_eq!(error.field, ["input", "coverUrl"]);
        }
    }

    #[test]
    fn empty_and_overlong_urls_are_rejected() {
        assert_eq!(code(""), UserErrorCode::Required);
        let long = format!("https://example.com/{}", "a".repeat(MAX_LEN));
        assert_eq!(code(&long), UserErrorCode::TooLong);
    }
}

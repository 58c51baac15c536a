//! What notify accepts from other modules' events, parsed once at the edge: a value of these
//! types is valid by construction. A request that does not parse is refused for good (the
//! handler returns `Permanent`): retrying cannot fix it.

use std::fmt;

/// The languages mail is written in. Anything else falls back to English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    ZhCn,
    En,
}

impl Locale {
    /// `zh`, `zh-CN`, `zh-Hans`, `zh-Hans-CN`, `zh-SG` (any case, `_` or `-`) are Simplified
    /// Chinese; everything else, including Traditional Chinese for now, is English.
    pub fn resolve(tag: &str) -> Self {
        let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
        match tag.as_str() {
            "zh" | "zh-cn" | "zh-hans" | "zh-hans-cn" | "zh-sg" | "zh-hans-sg" => Self::ZhCn,
            _ => Self::En,
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Self::ZhCn => "zh-CN",
            Self::En => "en",
        }
    }
}

/// A link shown in a mail: an absolute `https` or `http` URL with a host, up to 2048
/// characters. `javascript:`, `data:` and relative links are refused, so a hostile parameter
/// cannot become a script behind a button even though the HTML is escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link(String);

impl Link {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(field: &str, raw: &str) -> Result<Self, InvalidRequest> {
        let raw = raw.trim();
        let bad = |why: &str| InvalidRequest(format!("{field}: {why}"));
        if raw.len() > Self::MAX_LEN {
            return Err(bad("longer than 2048 characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| bad(&format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
            return Err(bad("not an absolute http(s) URL"));
        }
        Ok(Self(url.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text shown in a mail (a channel name, a room title): trimmed, 1 to `max` characters,
/// control characters (line breaks included) replaced by spaces so it stays on one line.
pub fn one_line(field: &str, raw: &str, max: usize) -> Result<String, InvalidRequest> {
    let cleaned: String = raw.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match cleaned.chars().count() {
        0 => Err(InvalidRequest(format!("{field}: empty"))),
        n if n > max => Err(InvalidRequest(format!("{field}: longer than {max} characters"))),
        _ => Ok(cleaned),
    }
}

/// The kind of an in-app notification: `module.thing`, 1 to 64 of `a-z 0-9 _ .`, starting
/// with a letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationKind(String);

impl NotificationKind {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidRequest> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        if ok { Ok(Self(raw.to_owned())) } else { Err(InvalidRequest(format!("kind {raw:?} is not `module.thing`"))) }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A notification's payload: a JSON object of at most [`Payload::MAX_BYTES`] serialised.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload(String);

impl Payload {
    pub const MAX_BYTES: usize = 8 * 1024;

    pub fn parse(value: &serde_json::Value) -> Result<Self, InvalidRequest> {
        if !value.is_object() {
            return Err(InvalidRequest("payload: not a JSON object".into()));
        }
        let text = value.to_string();
        if text.len() > Self::MAX_BYTES {
            return Err(InvalidRequest(format!("payload: {} bytes, more than 8 KiB", text.len())));
        }
        Ok(Self(text))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The key that makes two requests one mail or one notification: the sender's, trimmed, or the
/// event's id when it gave none. Up to 255 characters.
pub fn dedupe_key(given: &str, event_id: uuid::Uuid) -> Result<String, InvalidRequest> {
    let given = given.trim();
    if given.is_empty() {
        return Ok(format!("event:{event_id}"));
    }
    if given.chars().count() > 255 {
        return Err(InvalidRequest("dedupe_key: longer than 255 characters".into()));
    }
    Ok(given.to_owned())
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest(pub String);

impl fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid request: {}", self.0)
    }
}

impl std::error::Error for InvalidRequest {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_fall_back_to_english() {
        for tag in ["zh-CN", "zh", "zh_cn", " ZH-Hans ", "zh-Hans-CN"] {
            assert_eq!(Locale::resolve(tag), Locale::ZhCn, "{tag}");
        }
        for tag in ["en", "en-GB", "fr", "", "zh-TW", "<script>"] {
            assert_eq!(Locale::resolve(tag), Locale::En, "{tag}");
        }
    }

    #[test]
    fn links_are_absolute_http_urls_only() {
        assert_eq!(
            Link::parse("link", " https://kanjian.example/verify?t=a&b=<c> ").unwrap().as_str(),
            "https://kanjian.example/verify?t=a&b=%3Cc%3E"
        );
        assert!(Link::parse("link", "http://localhost:8080/x").is_ok());
        for hostile in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "/relative/path",
            "//evil.example/x",
            "mailto:a@b.c",
            "file:///etc/passwd",
            "https://",
            "",
        ] {
            assert!(Link::parse("link", hostile).is_err(), "{hostile:?} was accepted");
        }
        assert!(Link::parse("link", &format!("https://a.example/{}", "x".repeat(2048))).is_err());
    }

    #[test]
    fn one_line_text_is_trimmed_bounded_and_has_no_line_breaks() {
        assert_eq!(one_line("t", "  Hi\r\nBcc: x@y.z\t! ", 40).unwrap(), "Hi  Bcc: x@y.z !");
        assert!(one_line("t", " \n ", 40).is_err());
        assert_eq!(one_line("t", "看见看见", 4).unwrap(), "看见看见");
        assert!(one_line("t", "看见看见看", 4).is_err());
    }

    #[test]
    fn notification_kinds_and_payloads_are_bounded() {
        assert!(NotificationKind::parse("live.reminder").is_ok());
        assert!(NotificationKind::parse("commerce.order_shipped2").is_ok());
        for bad in ["", "Live.reminder", "1live", "live reminder", "live-reminder", "<b>", &"a".repeat(65)] {
            assert!(NotificationKind::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Payload::parse(&serde_json::json!({"room": 1})).is_ok());
        assert!(Payload::parse(&serde_json::json!([1])).is_err());
        assert!(Payload::parse(&serde_json::json!("text")).is_err());
        assert!(Payload::parse(&serde_json::json!({"x": "y".repeat(9000)})).is_err());
    }

    #[test]
    fn dedupe_keys_default_to_the_event() {
        let id = uuid::Uuid::nil();
        assert_eq!(dedupe_key("  ", id).unwrap(), format!("event:{id}"));
        assert_eq!(dedupe_key(" k:1 ", id).unwrap(), "k:1");
        assert!(dedupe_key(&"k".repeat(256), id).is_err());
    }
}

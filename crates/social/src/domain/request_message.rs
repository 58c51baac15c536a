use kanjian_kernel::UserError;
use kanjian_kernel::text::{self, TextRules};

/// The optional note sent with a friend request ("I'm Li Lei from the cooking class"): trimmed,
/// at most `max` characters, one line. Blank means no message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMessage(String);

impl RequestMessage {
    pub const FIELD: &'static str = "message";

    /// `None` for a missing or blank message.
    pub fn parse(raw: Option<&str>, max: usize) -> Result<Option<Self>, UserError> {
        let Some(raw) = raw else { return Ok(None) };
        let rules = TextRules::optional(Self::FIELD, "message", max);
        let message = text::parse(raw, &rules)?;
        Ok((!message.is_empty()).then_some(Self(message)))
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
    fn blank_is_no_message() {
        assert_eq!(RequestMessage::parse(None, 100).unwrap(), None);
        assert_eq!(RequestMessage::parse(Some("  "), 100).unwrap(), None);
        assert_eq!(
            RequestMessage::parse(Some(" 我是李雷 "), 100)
                .unwrap()
                .unwrap()
                .into_inner(),
            "我是李雷"
        );
    }

    #[test]
    fn long_or_multi_line_messages_are_refused() {
        let e = RequestMessage::parse(Some(&"a".repeat(101)), 100).unwrap_err();
        assert_eq!(
            (e.code, e.field),
            (
                UserErrorCode::TooLong,
                vec!["input".into(), "message".into()]
            )
        );
        assert_eq!(
            RequestMessage::parse(Some("a\nb"), 100).unwrap_err().code,
            UserErrorCode::Invalid
        );
    }
}

use serde::Deserialize;

/// The `[social]` section of the server config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SocialConfig {
    /// Most characters (grapheme clusters) in a comment or reply.
    pub comment_max_chars: usize,
    /// Most characters in the optional message of a friend request.
    pub friend_request_message_max_chars: usize,
}

impl Default for SocialConfig {
    fn default() -> Self {
        Self {
            comment_max_chars: 500,
            friend_request_message_max_chars: 100,
        }
    }
}

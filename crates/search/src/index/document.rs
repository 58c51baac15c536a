//! What the index keeps of a video, channel, live room or product.

use serde::{Deserialize, Serialize};

/// The kinds of things search finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    Video,
    Channel,
    LiveRoom,
    Product,
}

impl DocKind {
    pub const ALL: [DocKind; 4] = [Self::Video, Self::Channel, Self::LiveRoom, Self::Product];

    /// A short stable code: part of every key, and the index's kind term.
    pub fn code(self) -> &'static str {
        match self {
            Self::Video => "v",
            Self::Channel => "c",
            Self::LiveRoom => "l",
            Self::Product => "p",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// A document's identity in every engine: its kind and its id in the owning module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocKey {
    pub kind: DocKind,
    pub id: i64,
}

impl DocKey {
    pub fn new(kind: DocKind, id: i64) -> Self {
        Self { kind, id }
    }

    /// `v-123`: letters, digits and `-` only, as Meilisearch wants document ids.
    pub fn encode(self) -> String {
        format!("{}-{}", self.kind.code(), self.id)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (kind, id) = s.split_once('-')?;
        Some(Self { kind: DocKind::from_code(kind)?, id: id.parse().ok()? })
    }
}

/// The longest title the index takes, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest body (a description, a bio) the index takes, in characters.
pub const MAX_BODY_CHARS: usize = 2_000;
/// The longest category, in characters.
pub const MAX_CATEGORY_CHARS: usize = 64;

/// A document, as the index stores and returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchDocument {
    pub kind: DocKind,
    pub id: i64,
    /// What is searched first and highlighted: a video's or room's title, a channel's name, a
    /// product's name.
    pub title: String,
    /// Searched too, ranked below the title: a description, a bio, the channel's name.
    pub body: String,
    /// The user who owns it (blocks hide by owner).
    pub owner_id: i64,
    pub channel_id: Option<i64>,
    pub category: Option<String>,
    /// Products: the lowest price of its SKUs, in minor units.
    pub price: Option<i64>,
    /// Likes, recommends, views, sales, followers, as the owning kind counts them.
    pub popularity: i64,
    /// Milliseconds since the epoch: published, opened, created, went live.
    pub published_at: i64,
    /// Live rooms: broadcasting now.
    pub live: bool,
}

/// A document an index refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the {field} of {key} is {chars} characters; at most {max} are indexed")]
    TooLong { key: String, field: &'static str, chars: usize, max: usize },
    #[error("the title of {key} is empty")]
    EmptyTitle { key: String },
}

impl SearchDocument {
    pub fn key(&self) -> DocKey {
        DocKey::new(self.kind, self.id)
    }

    /// Whether an index may take it: a non-empty title and fields within their limits.
    pub fn check(&self) -> Result<(), DocumentError> {
        let key = || self.key().encode();
        if self.title.trim().is_empty() {
            return Err(DocumentError::EmptyTitle { key: key() });
        }
        let fields: [(&'static str, &str, usize); 3] = [
            ("title", &self.title, MAX_TITLE_CHARS),
            ("body", &self.body, MAX_BODY_CHARS),
            ("category", self.category.as_deref().unwrap_or(""), MAX_CATEGORY_CHARS),
        ];
        for (field, text, max) in fields {
            let chars = text.chars().count();
            if chars > max {
                return Err(DocumentError::TooLong { key: key(), field, chars, max });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn doc(title: &str) -> SearchDocument {
        SearchDocument {
            kind: DocKind::Video,
            id: 7,
            title: title.to_owned(),
            body: String::new(),
            owner_id: 1,
            channel_id: Some(1),
            category: None,
            price: None,
            popularity: 0,
            published_at: 0,
            live: false,
        }
    }

    #[test]
    fn keys_round_trip_and_refuse_garbage() {
        for kind in DocKind::ALL {
            let key = DocKey::new(kind, 42);
            assert_eq!(DocKey::decode(&key.encode()), Some(key));
        }
        for bad in ["", "v", "v-", "x-1", "v-1x", "v-1-2", "-1"] {
            assert_eq!(DocKey::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn fields_over_their_limits_are_refused_by_name() {
        assert!(doc("好").check().is_ok());
        assert!(doc(&"好".repeat(MAX_TITLE_CHARS)).check().is_ok());
        assert_eq!(
            doc(&"好".repeat(MAX_TITLE_CHARS + 1)).check(),
            Err(DocumentError::TooLong { key: "v-7".into(), field: "title", chars: MAX_TITLE_CHARS + 1, max: MAX_TITLE_CHARS })
        );
        let mut long_body = doc("好");
        long_body.body = "字".repeat(MAX_BODY_CHARS + 1);
        assert!(matches!(long_body.check(), Err(DocumentError::TooLong { field: "body", .. })));
        assert_eq!(doc("  ").check(), Err(DocumentError::EmptyTitle { key: "v-7".into() }));
    }
}

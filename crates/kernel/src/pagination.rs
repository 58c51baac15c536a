//! Cursor pagination (Relay connections). A cursor is opaque to clients: base64 of the sort key
//! of the row it points at, so pages stay stable while rows are added.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, UserErrorCode};

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub String);

impl Cursor {
    pub fn encode<K: Serialize>(key: &K) -> Self {
        // Serialising plain keys (numbers, strings, tuples) cannot fail.
        let json = serde_json::to_vec(key).unwrap_or_default();
        Self(URL_SAFE_NO_PAD.encode(json))
    }

    pub fn decode<K: DeserializeOwned>(&self) -> Result<K, Error> {
        URL_SAFE_NO_PAD
            .decode(&self.0)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| Error::user("after", UserErrorCode::Invalid, "the cursor is not valid"))
    }
}

/// Forward pagination: `first` items after `after`.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub first: Option<u32>,
    pub after: Option<Cursor>,
}

impl PageRequest {
    pub fn limit(&self) -> u32 {
        self.first.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE)
    }

    pub fn after_key<K: DeserializeOwned>(&self) -> Result<Option<K>, Error> {
        self.after.as_ref().map(Cursor::decode).transpose()
    }
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<(Cursor, T)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says there is a next page.
    pub fn from_rows<K: Serialize>(
        mut rows: Vec<T>,
        limit: u32,
        had_cursor: bool,
        key: impl Fn(&T) -> K,
    ) -> Self {
        let has_next_page = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Self {
            items: rows.into_iter().map(|r| (Cursor::encode(&key(&r)), r)).collect(),
            has_next_page,
            has_previous_page: had_cursor,
        }
    }

    pub fn map<U>(self, f: impl Fn(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(|(c, t)| (c, f(t))).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor::encode(&(1700000000i64, 42i64));
        assert_eq!(c.decode::<(i64, i64)>().unwrap(), (1700000000, 42));
        assert!(Cursor("not base64!".into()).decode::<(i64, i64)>().is_err());
        assert!(Cursor::encode(&"text").decode::<(i64, i64)>().is_err());
    }

    #[test]
    fn page_uses_the_extra_row_only_to_say_more_exist() {
        let page = Page::from_rows(vec![1, 2, 3], 2, false, |n| *n);
        assert!(page.has_next_page);
        assert_eq!(page.items.len(), 2);
        let last = Page::from_rows(vec![1, 2], 2, true, |n| *n);
        assert!(!last.has_next_page && last.has_previous_page);
        assert_eq!(PageRequest { first: Some(1000), after: None }.limit(), MAX_PAGE_SIZE);
    }
}

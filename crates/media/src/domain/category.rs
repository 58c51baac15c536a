//! A video category, one of a fixed list.

use kanjian_kernel::{UserError, UserErrorCode};

/// Every category a video may have. Add at the end; never rename (clients store them).
pub const CATEGORIES: &[&str] = &[
    "life",
    "food",
    "travel",
    "music",
    "dance",
    "games",
    "tech",
    "education",
    "sports",
    "fashion",
    "beauty",
    "pets",
    "news",
    "film",
    "comedy",
    "parenting",
    "cars",
    "finance",
    "health",
    "shopping",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category(&'static str);

impl Category {
    /// Case and surrounding spaces are ignored; an empty value is no category.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, UserError> {
        let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let value = value.to_lowercase();
        CATEGORIES
            .iter()
            .find(|c| **c == value)
            .map(|c| Some(Self(c)))
            .ok_or_else(|| {
                UserError::new(
                    "category",
                    UserErrorCode::Invalid,
                    format!(
                        "unknown category {value:?}; choose one of: {}",
                        CATEGORIES.join(", ")
                    ),
                )
            })
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_categories_parse_ignoring_case() {
        assert_eq!(
            Category::parse(Some(" Food ")).unwrap().unwrap().as_str(),
            "food"
        );
        assert_eq!(CATEGORIES.len(), 20);
        for c in CATEGORIES {
            assert!(Category::parse(Some(c)).unwrap().is_some());
        }
    }

    #[test]
    fn no_category_is_fine() {
        assert_eq!(Category::parse(None).unwrap(), None);
        assert_eq!(Category::parse(Some("  ")).unwrap(), None);
    }

    #[test]
    fn unknown_categories_are_refused() {
        let e = Category::parse(Some("cooking")).unwrap_err();
        assert_eq!(
            (e.code, e.field),
            (
                UserErrorCode::Invalid,
                vec!["input".into(), "category".into()]
            )
        );
        assert!(e.message.contains("food"));
    }
}

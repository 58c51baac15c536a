//! Hashtags: at most 10, each 1 to 30 characters (grapheme clusters) without whitespace, a
//! leading `#` dropped, duplicates (ignoring case) removed keeping the first spelling.

use kanjian_kernel::text::grapheme_count;
use kanjian_kernel::{UserError, UserErrorCode};

pub const MAX_HASHTAGS: usize = 10;
pub const MAX_HASHTAG_CHARS: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hashtags(Vec<String>);

impl Hashtags {
    /// Every bad tag is reported, not only the first.
    pub fn parse(raw: &[String]) -> Result<Self, Vec<UserError>> {
        let mut tags: Vec<String> = Vec::with_capacity(raw.len());
        let mut errors = Vec::new();
        for raw_tag in raw {
            let tag = raw_tag.trim().trim_start_matches('#');
            if tag.is_empty() {
                errors.push(UserError::new(
                    "hashtags",
                    UserErrorCode::Invalid,
                    "a hashtag cannot be empty",
                ));
            } else if grapheme_count(tag) > MAX_HASHTAG_CHARS {
                errors.push(UserError::new(
                    "hashtags",
                    UserErrorCode::TooLong,
                    format!("the hashtag #{tag} is longer than {MAX_HASHTAG_CHARS} characters"),
                ));
            } else if tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
                errors.push(UserError::new(
                    "hashtags",
                    UserErrorCode::Invalid,
                    format!("the hashtag {:?} may not contain spaces", tag),
                ));
            } else if !tags.iter().any(|t| t.to_lowercase() == tag.to_lowercase()) {
                tags.push(tag.to_owned());
            }
        }
        if tags.len() > MAX_HASHTAGS {
            errors.push(UserError::new(
                "hashtags",
                UserErrorCode::TooLong,
                format!("a video may have at most {MAX_HASHTAGS} hashtags"),
            ));
        }
        if errors.is_empty() {
            Ok(Self(tags))
        } else {
            Err(errors)
        }
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn into_inner(self) -> Vec<String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(raw: &[&str]) -> Vec<String> {
        raw.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_leading_hash_is_dropped_and_duplicates_ignore_case() {
        let h =
            Hashtags::parse(&tags(&["#Travel", "travel", " food ", "#美食", "TRAVEL"])).unwrap();
        assert_eq!(h.as_slice(), ["Travel", "food", "美食"]);
    }

    #[test]
    fn at_most_ten_distinct_hashtags() {
        let ten: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        assert!(Hashtags::parse(&ten).is_ok());
        let mut eleven = ten.clone();
        eleven.push("t10".into());
        let errors = Hashtags::parse(&eleven).unwrap_err();
        assert_eq!(errors[0].code, UserErrorCode::TooLong);
        // Duplicates do not count.
        let mut with_dup = ten;
        with_dup.push("T0".into());
        assert!(Hashtags::parse(&with_dup).is_ok());
    }

    #[test]
    fn each_bad_tag_is_reported() {
        let errors =
            Hashtags::parse(&tags(&["#", "two words", &"x".repeat(31), "ok"])).unwrap_err();
        let codes: Vec<_> = errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [
                UserErrorCode::Invalid,
                UserErrorCode::Invalid,
                UserErrorCode::TooLong
            ]
        );
        assert!(errors.iter().all(|e| e.field == ["input", "hashtags"]));
        assert!(Hashtags::parse(&tags(&[&"x".repeat(30)])).is_ok());
        assert!(Hashtags::parse(&tags(&[&"👍🏽".repeat(30)])).is_ok());
    }
}

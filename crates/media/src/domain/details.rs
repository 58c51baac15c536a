//! The editable description of a video, parsed as a whole so every failure is reported at once.

use kanjian_contracts::media::{UpdateVideoInput, VideoDetailsInput};
use kanjian_kernel::{Result, Validation};

use super::{Category, Hashtags, VideoDescription, VideoTitle};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoDetails {
    pub title: VideoTitle,
    pub description: VideoDescription,
    pub hashtags: Hashtags,
    pub category: Option<Category>,
    pub is_original: bool,
}

impl VideoDetails {
    pub fn parse(input: &VideoDetailsInput) -> Result<Self> {
        let mut v = Validation::new();
        let details = Self::collect(input, &mut v);
        v.finish()?;
        details.ok_or_else(|| kanjian_kernel::Error::internal("validation passed without a value"))
    }

    /// Parses into `v`, so callers can add checks of their own before `finish`.
    pub fn collect(input: &VideoDetailsInput, v: &mut Validation) -> Option<Self> {
        let title = v.check(VideoTitle::parse(&input.title));
        let description = v.check(VideoDescription::parse(input.description.as_deref()));
        let hashtags = check_all(v, Hashtags::parse(&input.hashtags));
        let category = v.check(Category::parse(input.category.as_deref()));
        Some(Self {
            title: title?,
            description: description?,
            hashtags: hashtags?,
            category: category?,
            is_original: input.is_original,
        })
    }
}

/// An edit: `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoChanges {
    pub title: Option<VideoTitle>,
    pub description: Option<VideoDescription>,
    pub hashtags: Option<Hashtags>,
    /// `Some(None)` clears the category.
    pub category: Option<Option<Category>>,
    pub is_original: Option<bool>,
}

impl VideoChanges {
    pub fn parse(input: &UpdateVideoInput) -> Result<Self> {
        let mut v = Validation::new();
        let mut changes = Self {
            is_original: input.is_original,
            ..Self::default()
        };
        if let Some(title) = &input.title {
            changes.title = v.check(VideoTitle::parse(title));
        }
        if let Some(description) = &input.description {
            changes.description = v.check(VideoDescription::parse(Some(description)));
        }
        if let Some(hashtags) = &input.hashtags {
            changes.hashtags = check_all(&mut v, Hashtags::parse(hashtags));
        }
        if let Some(category) = &input.category {
            changes.category = v.check(Category::parse(category.as_deref()));
        }
        v.finish()?;
        Ok(changes)
    }
}

fn check_all<T>(
    v: &mut Validation,
    parsed: std::result::Result<T, Vec<kanjian_kernel::UserError>>,
) -> Option<T> {
    match parsed {
        Ok(value) => Some(value),
        Err(errors) => {
            errors.into_iter().for_each(|e| v.push(e));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kanjian_kernel::{Error, UserErrorCode};

    #[test]
    fn good_details_parse() {
        let d = VideoDetails::parse(&VideoDetailsInput {
            title: " Hello ".into(),
            description: None,
            hashtags: vec!["#a".into(), "A".into()],
            category: Some("Travel".into()),
            is_original: true,
        })
        .unwrap();
        assert_eq!(d.title.as_str(), "Hello");
        assert_eq!(d.hashtags.as_slice(), ["a"]);
        assert_eq!(d.category.map(|c| c.as_str()), Some("travel"));
    }

    #[test]
    fn every_failure_is_reported_at_once() {
        let Err(Error::User(errors)) = VideoDetails::parse(&VideoDetailsInput {
            title: " ".into(),
            description: Some("x".repeat(2001)),
            hashtags: vec!["a b".into(), "".into()],
            category: Some("nope".into()),
            is_original: false,
        }) else {
            panic!("expected user errors")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field[1].as_str()).collect();
        assert_eq!(
            fields,
            ["title", "description", "hashtags", "hashtags", "category"]
        );
        assert_eq!(errors[0].code, UserErrorCode::Required);
    }

    #[test]
    fn changes_check_only_what_is_given() {
        let c = VideoChanges::parse(&UpdateVideoInput {
            category: Some(None),
            is_original: Some(true),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.category, Some(None));
        assert_eq!(c.title, None);
        let Err(Error::User(errors)) = VideoChanges::parse(&UpdateVideoInput {
            title: Some(String::new()),
            hashtags: Some(vec!["#".into()]),
            ..Default::default()
        }) else {
            panic!("expected user errors")
        };
        assert_eq!(errors.len(), 2);
    }
}

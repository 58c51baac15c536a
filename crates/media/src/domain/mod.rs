//! Input parsed into types that cannot hold bad values. Each type checks one rule and says which
//! input field (camelCase, as in GraphQL) was wrong.

pub mod category;
pub mod description;
pub mod details;
pub mod failure;
pub mod hashtags;
pub mod media_path;
pub mod status;
pub mod title;

pub use category::{CATEGORIES, Category};
pub use description::VideoDescription;
pub use details::{VideoChanges, VideoDetails};
pub use hashtags::Hashtags;
pub use media_path::MediaPath;
pub use title::VideoTitle;

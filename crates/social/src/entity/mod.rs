//! sea-orm entities of the social tables. They never leave the crate: use cases map them to the
//! DTOs of `kanjian_contracts::social`.

pub mod block;
pub mod channel_stats;
pub mod comment;
pub mod comment_like;
pub mod feed_snapshot;
pub mod follow;
pub mod friend_request;
pub mod friendship;
pub mod reaction;
pub mod settings;
pub mod share;
pub mod user_stats;
pub mod video;
pub mod view;

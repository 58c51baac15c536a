//! The social graph and engagement in the schema. Each core type gets one `social` field
//! (`Video.social`, `Channel.social`, `User.social`) so this module's fields live here, not in
//! the identity or media folders.

mod feeds;
mod mutations;
mod types;

pub use feeds::FeedQuery;
pub use mutations::SocialMutation;
pub use types::{ChannelSocial, UserSocial, VideoSocial};

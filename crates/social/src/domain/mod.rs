//! Input parsed at the edge into types that cannot hold bad values, and the way the module's
//! enums are stored. Each `parse` returns a `UserError` tied to the GraphQL input field
//! (camelCase).

mod comment_body;
mod request_message;
pub mod stored;
mod watch_time;

pub use comment_body::CommentBody;
pub use request_message::RequestMessage;
pub use watch_time::{WatchTime, utc_day};

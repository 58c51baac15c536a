//! Videos in the schema: uploads, editing, publishing, processing updates.

mod mutations;
mod subscriptions;
mod types;

pub use mutations::MediaMutation;
pub use subscriptions::MediaSubscription;
pub use types::{MediaQuery, Video};

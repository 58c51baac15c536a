//! Accounts, sessions, channels and organizations in the schema.

mod mutations;
mod types;

pub use mutations::IdentityMutation;
pub use types::{Channel, IdentityQuery, Organization, User};

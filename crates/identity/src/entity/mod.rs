//! sea-orm entities of the identity tables. They never leave the crate: use cases map them to
//! the DTOs of `kanjian_contracts::identity`.

pub mod channel;
pub mod email_token;
pub mod login_attempt;
pub mod mail_request;
pub mod membership;
pub mod organization;
pub mod session;
pub mod user;

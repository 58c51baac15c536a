//! sea-orm entities of the identity tables. They never leave the crate: use cases map them to
//! the DTOs of `kanjian_contracts::identity`.

pub mod channel;
pub mod login_attempt;
pub mod membership;
pub mod organization;
pub mod session;
pub mod user;

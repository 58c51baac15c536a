//! sea-orm entities of the notify tables. They never leave the crate: use cases map them to the
//! DTOs of `kanjian_contracts::notify`.

pub mod email;
pub mod notification;
pub mod preference;
pub mod unsubscribe_token;

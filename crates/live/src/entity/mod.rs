//! sea-orm entities of the live tables. They never leave the crate: use cases map them to the
//! DTOs of `kanjian_contracts::live`.

pub mod channel;
pub mod comment;
pub mod keyword;
pub mod member;
pub mod part;
pub mod reservation;
pub mod room;
pub mod segment;
pub mod viewer;

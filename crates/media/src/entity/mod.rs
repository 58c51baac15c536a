//! Database rows of the media module. They never leave the crate: DTOs do.

pub mod rendition;
pub mod upload;
pub mod video;

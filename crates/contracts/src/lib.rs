#![doc = include_str!("../README.md")]

pub mod apis;
pub mod commerce;
pub mod events;
pub mod identity;
pub mod live;
pub mod media;
pub mod notify;
pub mod search;
pub mod social;

pub use apis::Apis;
pub use events::{EventEnvelope, IntegrationEvent, VersionedEvent};

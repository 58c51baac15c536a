#![doc = include_str!("../README.md")]

pub mod events;
pub mod identity;
pub mod media;
pub mod notify;
pub mod social;

pub use events::{EventEnvelope, IntegrationEvent, VersionedEvent};

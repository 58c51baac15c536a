#![doc = include_str!("../README.md")]

pub mod dispatcher;
pub mod hub;
pub mod outbox;

pub use dispatcher::{Dispatcher, DispatcherConfig, DispatcherStats, EventHandler, HandlerError};
pub use hub::{InProcessHub, RealtimeHub};
pub use outbox::{NOTIFY_CHANNEL, Outbox};

#![doc = include_str!("../README.md")]

pub mod dead_letters;
pub mod dispatcher;
pub mod hub;
pub mod outbox;
pub mod presence;

pub use dead_letters::{DeadLetter, Requeue, dead_letters, requeue_dead_letters};
pub use dispatcher::{Dispatcher, DispatcherConfig, DispatcherStats, EventHandler, HandlerError};
pub use hub::{InProcessHub, NatsHub, NatsHubConfig, RealtimeHub, redact_url};
pub use outbox::{NOTIFY_CHANNEL, Outbox};
pub use presence::{Presence, PresenceConfig, PresenceGuard};

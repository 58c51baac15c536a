//! Integration events: immutable facts one module publishes through the outbox for others.

use kanjian_kernel::Timestamp;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A fact a module publishes. `KIND` names it on the wire (`module.thing_happened`) and never changes.
pub trait IntegrationEvent: Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: &'static str;
}

/// An event about one aggregate (a video, later an order or a room), numbered per aggregate: the
/// owning module counts 1, 2, 3, … in the order the aggregate's changes commit. Delivery may
/// repeat or reorder events; a projection applies one only when its version is newer than the
/// one it holds, and keeps a tombstone of a deleted aggregate so nothing older revives it.
pub trait VersionedEvent: IntegrationEvent {
    fn aggregate_id(&self) -> i64;
    /// 1 and up; 0 marks an event written before versions existed.
    fn version(&self) -> i64;
}

/// An event as the outbox stores and delivers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub id: uuid::Uuid,
    pub kind: String,
    pub occurred_at: Timestamp,
    pub payload: serde_json::Value,
}

impl EventEnvelope {
    /// `None` when this envelope holds another kind of event.
    pub fn decode<E: IntegrationEvent>(&self) -> Option<Result<E, serde_json::Error>> {
        (self.kind == E::KIND).then(|| serde_json::from_value(self.payload.clone()))
    }
}

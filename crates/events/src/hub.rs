//! The realtime hub: ephemeral publish/subscribe for things people watch as they happen
//! (processing progress, live comments). Nothing here is durable; durable work goes through
//! the outbox. In-process by default; a NATS implementation fans out across nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

#[async_trait]
pub trait RealtimeHub: Send + Sync {
    /// Delivers `message` to everyone subscribed to `topic` now; nobody listening is fine.
    async fn publish(&self, topic: &str, message: serde_json::Value) -> anyhow::Result<()>;
    /// Messages published to `topic` from now on. A slow subscriber skips what it missed.
    async fn subscribe(&self, topic: &str) -> anyhow::Result<BoxStream<'static, serde_json::Value>>;
}

/// One process: a broadcast channel per topic, dropped when its last subscriber leaves.
#[derive(Clone, Default)]
pub struct InProcessHub {
    topics: Arc<Mutex<HashMap<String, broadcast::Sender<serde_json::Value>>>>,
}

const TOPIC_BUFFER: usize = 256;

impl InProcessHub {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RealtimeHub for InProcessHub {
    async fn publish(&self, topic: &str, message: serde_json::Value) -> anyhow::Result<()> {
        let mut topics = self.topics.lock().map_err(|_| anyhow::anyhow!("hub lock poisoned"))?;
        if let Some(sender) = topics.get(topic)
            && sender.send(message).is_err()
        {
            // Every receiver is gone: forget the topic.
            topics.remove(topic);
        }
        Ok(())
    }

    async fn subscribe(&self, topic: &str) -> anyhow::Result<BoxStream<'static, serde_json::Value>> {
        let mut topics = self.topics.lock().map_err(|_| anyhow::anyhow!("hub lock poisoned"))?;
        let receiver = topics
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(TOPIC_BUFFER).0)
            .subscribe();
        Ok(BroadcastStream::new(receiver)
            .filter_map(|m| async move { m.ok() })
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_messages_of_their_topic_only() {
        let hub = InProcessHub::new();
        let mut a = hub.subscribe("video:1").await.unwrap();
        let mut b = hub.subscribe("video:2").await.unwrap();
        hub.publish("video:1", serde_json::json!({"n": 1})).await.unwrap();
        hub.publish("video:2", serde_json::json!({"n": 2})).await.unwrap();
        hub.publish("nobody:listens", serde_json::json!({})).await.unwrap();
        assert_eq!(a.next().await.unwrap()["n"], 1);
        assert_eq!(b.next().await.unwrap()["n"], 2);
    }
}

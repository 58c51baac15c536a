//! The realtime hub: ephemeral publish/subscribe for things people watch as they happen
//! (processing progress, live comments). Nothing here is durable; durable work goes through
//! the outbox. `InProcessHub` serves one node; `NatsHub` (over NATS) fans out across nodes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

pub mod nats;

pub use nats::{NatsHub, NatsHubConfig, redact_url};

#[async_trait]
pub trait RealtimeHub: Send + Sync {
    /// Delivers `message` to everyone subscribed to `topic` now; nobody listening is fine.
    async fn publish(&self, topic: &str, message: serde_json::Value) -> anyhow::Result<()>;
    /// Messages published to `topic` from now on. A slow subscriber skips what it missed.
    /// Dropping the stream unsubscribes; a topic with no subscriber left is freed.
    async fn subscribe(&self, topic: &str) -> anyhow::Result<BoxStream<'static, serde_json::Value>>;
}

type Topics = Arc<Mutex<HashMap<String, broadcast::Sender<serde_json::Value>>>>;

/// One process: a broadcast channel per topic, freed when its last subscriber leaves.
#[derive(Clone, Default)]
pub struct InProcessHub {
    topics: Topics,
}

/// Messages a subscriber may fall behind by before it skips (per topic, per node).
pub(crate) const TOPIC_BUFFER: usize = 256;

impl InProcessHub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Topics that have at least one subscriber (a topic nobody listens to is not kept).
    pub fn topic_count(&self) -> usize {
        lock(&self.topics).len()
    }
}

/// The map stays usable after a panic elsewhere: it holds no invariant a half-done change breaks.
fn lock(topics: &Topics) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<serde_json::Value>>> {
    topics.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A subscriber's stream. Dropping it drops its receiver first, then frees the topic if that was
/// the last one (under the lock `subscribe` takes, so a subscriber arriving meanwhile keeps it).
struct Subscription {
    messages: BoxStream<'static, serde_json::Value>,
    _lease: TopicLease,
}

impl futures::Stream for Subscription {
    type Item = serde_json::Value;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.messages.poll_next_unpin(cx)
    }
}

struct TopicLease {
    topics: Topics,
    topic: String,
}

impl Drop for TopicLease {
    fn drop(&mut self) {
        let mut topics = lock(&self.topics);
        if topics.get(&self.topic).is_some_and(|sender| sender.receiver_count() == 0) {
            topics.remove(&self.topic);
        }
    }
}

#[async_trait]
impl RealtimeHub for InProcessHub {
    async fn publish(&self, topic: &str, message: serde_json::Value) -> anyhow::Result<()> {
        let mut topics = lock(&self.topics);
        if let Some(sender) = topics.get(topic)
            && sender.send(message).is_err()
        {
            // Every receiver is gone: forget the topic.
            topics.remove(topic);
        }
        Ok(())
    }

    async fn subscribe(&self, topic: &str) -> anyhow::Result<BoxStream<'static, serde_json::Value>> {
        let mut topics = lock(&self.topics);
        let receiver = topics
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(TOPIC_BUFFER).0)
            .subscribe();
        drop(topics);
        let messages = BroadcastStream::new(receiver)
            .filter_map(|m| async move { m.ok() })
            .boxed();
        let lease = TopicLease { topics: self.topics.clone(), topic: topic.to_owned() };
        Ok(Subscription { messages, _lease: lease }.boxed())
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

    #[tokio::test]
    async fn a_topic_is_freed_when_its_last_subscriber_leaves() {
        let hub = InProcessHub::new();
        assert_eq!(hub.topic_count(), 0);
        let first = hub.subscribe("video:1").await.unwrap();
        let mut second = hub.subscribe("video:1").await.unwrap();
        let other = hub.subscribe("video:2").await.unwrap();
        assert_eq!(hub.topic_count(), 2);

        // One of two leaves: the topic stays and still delivers.
        drop(first);
        assert_eq!(hub.topic_count(), 2);
        hub.publish("video:1", serde_json::json!({"n": 1})).await.unwrap();
        assert_eq!(second.next().await.unwrap()["n"], 1);

        // The last one leaves without anything published after: freed all the same.
        drop(second);
        assert_eq!(hub.topic_count(), 1);
        drop(other);
        assert_eq!(hub.topic_count(), 0);

        // Publishing to a freed topic creates nothing; subscribing again works.
        hub.publish("video:1", serde_json::json!({"n": 2})).await.unwrap();
        assert_eq!(hub.topic_count(), 0);
        let mut again = hub.subscribe("video:1").await.unwrap();
        hub.publish("video:1", serde_json::json!({"n": 3})).await.unwrap();
        assert_eq!(again.next().await.unwrap()["n"], 3);
        drop(again);
        assert_eq!(hub.topic_count(), 0);
    }

    #[tokio::test]
    async fn many_watchers_coming_and_going_leave_no_topic_behind() {
        let hub = InProcessHub::new();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let hub = hub.clone();
            tasks.push(tokio::spawn(async move {
                let topic = format!("video:{}", i % 7);
                let mut s = hub.subscribe(&topic).await.unwrap();
                hub.publish(&topic, serde_json::json!({"i": i})).await.unwrap();
                let _ = s.next().await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(hub.topic_count(), 0);
    }
}

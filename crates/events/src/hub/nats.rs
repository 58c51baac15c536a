//! `NatsHub`: the realtime hub across nodes, over NATS core pub/sub (async-nats).
//!
//! Each topic is one NATS subject under the deployment's namespace (`kanjian.<namespace>.…`).
//! A node holds one NATS subscription per topic it has local subscribers for, fanned out to
//! them through a broadcast channel as `InProcessHub` does, and drops it when the last one
//! leaves: a node receives only the topics (rooms) it has viewers for. Publishing always goes
//! through NATS, the node's own subscribers included, so every node sees one order per topic
//! (per publisher connection, which is what NATS orders).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::connection::State;
use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use tokio::sync::{broadcast, oneshot, watch};
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;

use super::{RealtimeHub, TOPIC_BUFFER};

/// How a `NatsHub` connects. Its `Debug` hides credentials in the URL.
#[derive(Clone)]
pub struct NatsHubConfig {
    /// `nats://host:port` (several, comma-separated, for a cluster; `nats://user:password@…`
    /// with credentials, which logs and errors show as `***`).
    pub url: String,
    /// Keeps deployments (and test runs) sharing one NATS apart: subjects are
    /// `kanjian.<namespace>.<topic>`. Letters, digits, `-` and `_` only.
    pub namespace: String,
    /// How long the first connection may take before `connect` fails.
    pub connect_timeout: Duration,
    /// How long `publish` and `subscribe` wait on NATS before giving up (a message is then
    /// dropped: the hub is ephemeral).
    pub request_timeout: Duration,
    /// Shown by the NATS server's monitoring for this connection.
    pub client_name: Option<String>,
}

impl std::fmt::Debug for NatsHubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsHubConfig")
            .field("url", &redact_url(&self.url))
            .field("namespace", &self.namespace)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("client_name", &self.client_name)
            .finish()
    }
}

/// `url` (or a comma-separated list of them) with any `user:password@` written `***@`, for logs
/// and errors.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|server| match (server.find("://"), server.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &server[..scheme + 3], &server[at..]),
            (None, Some(at)) => format!("***{}", &server[at..]),
            _ => server.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl NatsHubConfig {
    pub fn new(url: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            namespace: namespace.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(2),
            client_name: None,
        }
    }
}

/// The realtime hub over NATS. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct NatsHub {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    /// `kanjian.<namespace>.`
    prefix: String,
    request_timeout: Duration,
    topics: Mutex<HashMap<String, Arc<Topic>>>,
    /// NATS subscriptions for topics this node holds at the server right now.
    subscriptions: AtomicUsize,
    barrier: Arc<Barrier>,
    /// Stops the barrier's subscription when the hub goes.
    shutdown: CancellationToken,
}

/// One topic with local subscribers: its broadcast channel and the task that forwards its NATS
/// subscription into it.
struct Topic {
    sender: broadcast::Sender<serde_json::Value>,
    /// `None` until the NATS subscription is registered at the server, then its outcome.
    ready: watch::Receiver<Option<Result<(), String>>>,
    /// Cancelled by the last local subscriber leaving: the task unsubscribes.
    stop: CancellationToken,
    /// Cancelled by the task when the NATS subscription ends for good: the streams end.
    ended: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl NatsHub {
    /// Connects to NATS. Fails (rather than retrying forever) when no server answers within
    /// `connect_timeout`, so a misconfigured node does not start; after that, async-nats
    /// reconnects by itself and re-registers every subscription.
    #[tracing::instrument(skip_all, fields(url = %redact_url(&config.url), namespace = %config.namespace))]
    pub async fn connect(config: NatsHubConfig) -> anyhow::Result<Self> {
        check_namespace(&config.namespace)?;
        let shown = redact_url(&config.url);
        let mut options = async_nats::ConnectOptions::new()
            .connection_timeout(config.connect_timeout)
            // A node waits for NATS to come back however long it takes; what is published
            // meanwhile is dropped (see `publish`).
            .max_reconnects(None::<usize>)
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("connected to NATS"),
                    async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS; reconnecting"),
                    async_nats::Event::SlowConsumer(sid) => {
                        tracing::warn!(sid, "a NATS subscription fell behind; the server dropped messages for it")
                    }
                    other => tracing::info!(event = %other, "NATS"),
                }
            });
        if let Some(name) = &config.client_name {
            options = options.name(name);
        }
        let client = tokio::time::timeout(config.connect_timeout, options.connect(config.url.as_str()))
            .await
            .map_err(|_| anyhow::anyhow!("no NATS server answered at {shown} within {:?}", config.connect_timeout))?
            // async-nats's own message names no server, and never the credentials.
            .with_context(|| format!("connecting to NATS at {shown}"))?;
        let prefix = format!("kanjian.{}.", config.namespace);
        let shutdown = CancellationToken::new();
        let barrier = Barrier::start(&client, &prefix, shutdown.clone()).await?;
        let hub = Self {
            inner: Arc::new(Inner {
                client,
                prefix,
                request_timeout: config.request_timeout,
                topics: Mutex::new(HashMap::new()),
                subscriptions: AtomicUsize::new(0),
                barrier,
                shutdown,
            }),
        };
        // Proves the connection carries messages both ways before the node says it is ready.
        hub.inner.sync().await.context("the first round trip to NATS")?;
        tracing::info!("realtime hub on NATS");
        Ok(hub)
    }

    /// NATS subscriptions this node holds for topics: one per topic with local subscribers.
    /// Counted once the server has registered them, and uncounted once it has dropped them.
    pub fn subscription_count(&self) -> usize {
        self.inner.subscriptions.load(Ordering::SeqCst)
    }

    /// Topics with local subscribers on this node.
    pub fn topic_count(&self) -> usize {
        self.inner.lock_topics().len()
    }

    /// The NATS subject `topic` travels on.
    pub fn subject(&self, topic: &str) -> String {
        format!("{}{}", self.inner.prefix, topic_to_subject(topic))
    }

    /// The underlying connection (its statistics and state, for tests and metrics).
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// Returns once the NATS server has processed everything this node sent before the call
    /// (subscriptions, unsubscriptions, messages): a round trip through the server.
    pub async fn sync(&self) -> anyhow::Result<()> {
        self.inner.sync().await
    }
}

impl Inner {
    fn lock_topics(&self) -> MutexGuard<'_, HashMap<String, Arc<Topic>>> {
        // The map holds no invariant a panic half-way could break.
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn sync(&self) -> anyhow::Result<()> {
        self.barrier.round_trip(&self.client, self.request_timeout).await
    }

    /// Forgets `topic` if it is still `entry` (a new subscriber may have made a new one).
    fn forget(&self, topic: &str, entry: &Arc<Topic>) {
        let mut topics = self.lock_topics();
        if topics.get(topic).is_some_and(|t| Arc::ptr_eq(t, entry)) {
            topics.remove(topic);
        }
    }
}

#[async_trait]
impl RealtimeHub for NatsHub {
    #[tracing::instrument(level = "debug", skip_all, fields(topic = %topic))]
    async fn publish(&self, topic: &str, message: serde_json::Value) -> anyhow::Result<()> {
        // Nothing queues up behind a lost connection: what cannot go now is dropped, as an
        // ephemeral message may be.
        if self.inner.client.connection_state() == State::Disconnected {
            anyhow::bail!("NATS is disconnected; the message for {topic} is dropped");
        }
        let payload = serde_json::to_vec(&message).context("encoding the message")?;
        let subject = self.subject(topic);
        tokio::time::timeout(self.inner.request_timeout, self.inner.client.publish(subject, payload.into()))
            .await
            .map_err(|_| anyhow::anyhow!("NATS did not take the message for {topic} in time; dropped"))?
            .with_context(|| format!("publishing to {topic} on NATS"))?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(topic = %topic))]
    async fn subscribe(&self, topic: &str) -> anyhow::Result<BoxStream<'static, serde_json::Value>> {
        let (entry, receiver) = {
            let mut topics = self.inner.lock_topics();
            let entry = match topics.get(topic) {
                Some(entry) => entry.clone(),
                None => {
                    let entry = self.start_topic(topic);
                    topics.insert(topic.to_owned(), entry.clone());
                    entry
                }
            };
            // Under the lock, so a leaving subscriber sees this one and keeps the topic.
            let receiver = entry.sender.subscribe();
            (entry, receiver)
        };
        let lease = Lease { inner: self.inner.clone(), topic: topic.to_owned(), entry: entry.clone() };
        let mut ready = entry.ready.clone();
        let waited = tokio::time::timeout(self.inner.request_timeout * 2, ready.wait_for(Option::is_some)).await;
        let state: Result<(), String> = match waited {
            Ok(Ok(state)) => state.clone().unwrap_or(Ok(())),
            // The forwarding task ended before saying anything.
            Ok(Err(_)) => Err("the subscription ended".to_owned()),
            Err(_) => Err("no answer in time".to_owned()),
        };
        // On failure the lease goes with this function, freeing the topic if nobody else holds it.
        state.map_err(|e| anyhow::anyhow!("subscribing to {topic} on NATS: {e}"))?;
        let messages = BroadcastStream::new(receiver)
            .filter_map(|m| async move { m.ok() })
            .take_until(entry.ended.clone().cancelled_owned())
            .boxed();
        Ok(Subscription { messages, _lease: lease }.boxed())
    }
}

impl NatsHub {
    /// A topic's entry, with its forwarding task started.
    fn start_topic(&self, topic: &str) -> Arc<Topic> {
        let (sender, _) = broadcast::channel(TOPIC_BUFFER);
        let (ready_tx, ready) = watch::channel(None);
        let entry = Arc::new(Topic { sender, ready, stop: CancellationToken::new(), ended: CancellationToken::new() });
        tokio::spawn(forward(self.inner.clone(), topic.to_owned(), self.subject(topic), entry.clone(), ready_tx));
        entry
    }
}

/// Holds the topic's NATS subscription while the topic has local subscribers, passing what
/// arrives to them. Never waits on a subscriber: a slow one lags and skips (broadcast).
async fn forward(
    inner: Arc<Inner>,
    topic: String,
    subject: String,
    entry: Arc<Topic>,
    ready: watch::Sender<Option<Result<(), String>>>,
) {
    let fail = |error: String| {
        tracing::warn!(topic, error, "could not subscribe on NATS");
        inner.forget(&topic, &entry);
        let _ = ready.send(Some(Err(error)));
    };
    let mut subscriber = match inner.client.subscribe(subject).await {
        Ok(subscriber) => subscriber,
        Err(e) => return fail(e.to_string()),
    };
    // Registered at the server before anyone is told: a message published on any node after
    // `subscribe` returns reaches this one.
    if let Err(e) = inner.sync().await {
        let _ = subscriber.unsubscribe().await;
        return fail(format!("{e:#}"));
    }
    inner.subscriptions.fetch_add(1, Ordering::SeqCst);
    let _ = ready.send(Some(Ok(())));
    let sender = entry.sender.clone();
    loop {
        tokio::select! {
            biased;
            _ = entry.stop.cancelled() => break,
            message = subscriber.next() => match message {
                Some(message) => match serde_json::from_slice::<serde_json::Value>(&message.payload) {
                    // No receiver left is fine: the lease is about to stop this task.
                    Ok(value) => { let _ = sender.send(value); }
                    Err(e) => tracing::warn!(topic, error = %e, "a message on NATS that is not JSON; skipped"),
                },
                // The client is closed for good: end the local streams rather than leave them
                // waiting for nothing.
                None => {
                    tracing::warn!(topic, "the NATS subscription ended");
                    inner.forget(&topic, &entry);
                    entry.ended.cancel();
                    break;
                }
            },
        }
    }
    drop(sender);
    if let Err(e) = subscriber.unsubscribe().await {
        tracing::debug!(topic, error = %e, "unsubscribing on NATS");
    }
    // Uncounted once the server has dropped it, so the count says what the server holds.
    if let Err(e) = inner.sync().await {
        tracing::debug!(topic, error = %e, "no round trip after unsubscribing");
    }
    inner.subscriptions.fetch_sub(1, Ordering::SeqCst);
}

/// A subscriber's stream: its receiver goes first, then the lease, which frees the topic (and
/// so its NATS subscription) when that was the last local subscriber.
struct Subscription {
    messages: BoxStream<'static, serde_json::Value>,
    _lease: Lease,
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

struct Lease {
    inner: Arc<Inner>,
    topic: String,
    entry: Arc<Topic>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut topics = self.inner.lock_topics();
        let current = topics.get(&self.topic).is_some_and(|t| Arc::ptr_eq(t, &self.entry));
        if current && self.entry.sender.receiver_count() == 0 {
            topics.remove(&self.topic);
            self.entry.stop.cancel();
        }
    }
}

/// Round trips through the server: a message to this connection's own sync subject comes back
/// only after the server has processed everything the connection sent before it.
struct Barrier {
    subject: String,
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

impl Barrier {
    async fn start(client: &async_nats::Client, prefix: &str, shutdown: CancellationToken) -> anyhow::Result<Arc<Self>> {
        // `_sync` cannot be a topic's subject: topics escape `_` (see `topic_to_subject`).
        let subject = format!("{prefix}_sync.{}", uuid::Uuid::new_v4().simple());
        let mut subscriber = client.subscribe(subject.clone()).await.context("subscribing to the sync subject")?;
        let barrier = Arc::new(Self { subject, next: AtomicU64::new(0), waiting: Mutex::new(HashMap::new()) });
        let weak = Arc::downgrade(&barrier);
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    message = subscriber.next() => match message { Some(m) => m, None => break },
                };
                let Some(barrier) = weak.upgrade() else { break };
                let id = std::str::from_utf8(&message.payload).ok().and_then(|s| s.parse::<u64>().ok());
                if let Some(waiter) = id.and_then(|id| barrier.lock().remove(&id)) {
                    let _ = waiter.send(());
                }
            }
            let _ = subscriber.unsubscribe().await;
        });
        Ok(barrier)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, oneshot::Sender<()>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn round_trip(&self, client: &async_nats::Client, timeout: Duration) -> anyhow::Result<()> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, tx);
        let result = tokio::time::timeout(timeout, async {
            client.publish(self.subject.clone(), id.to_string().into()).await.context("publishing to the sync subject")?;
            rx.await.context("the sync subscription ended")
        })
        .await;
        self.lock().remove(&id);
        result.map_err(|_| anyhow::anyhow!("no round trip through NATS within {timeout:?}"))?
    }
}

fn check_namespace(namespace: &str) -> anyhow::Result<()> {
    let valid = !namespace.is_empty()
        && namespace.len() <= 64
        && namespace.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    anyhow::ensure!(
        valid,
        "the realtime namespace {namespace:?} must be 1 to 64 letters, digits, '-' or '_' (it becomes one NATS subject token)"
    );
    Ok(())
}

/// A topic as NATS subject tokens: each `:`-separated part is one token (so `room:7:comments`
/// becomes `room.7.comments`, and a node could watch `room.7.>`), with every byte other than an
/// ASCII letter, digit or `-` written `_XX` (hex), and an empty part written `_`. Reversible
/// (`subject_to_topic`), so two topics never share a subject, and never `*`, `>`, `.`,
/// whitespace or an empty token, which NATS gives meaning to or refuses.
pub fn topic_to_subject(topic: &str) -> String {
    let mut subject = String::with_capacity(topic.len() + 8);
    for (i, part) in topic.split(':').enumerate() {
        if i > 0 {
            subject.push('.');
        }
        if part.is_empty() {
            subject.push('_');
        }
        for byte in part.bytes() {
            if byte.is_ascii_alphanumeric() || byte == b'-' {
                subject.push(char::from(byte));
            } else {
                let _ = write!(subject, "_{byte:02X}");
            }
        }
    }
    subject
}

/// The topic `topic_to_subject` made `subject` from; `None` for a subject it cannot make.
pub fn subject_to_topic(subject: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(subject.len());
    for (i, token) in subject.split('.').enumerate() {
        if i > 0 {
            bytes.push(b':');
        }
        if token == "_" {
            continue;
        }
        let mut rest = token.as_bytes();
        if rest.is_empty() {
            return None;
        }
        while let Some((&first, tail)) = rest.split_first() {
            if first == b'_' {
                let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
                let byte = u8::from_str_radix(hex, 16).ok()?;
                // Only what encoding escapes, in its spelling: one subject per topic.
                if byte.is_ascii_alphanumeric() || byte == b'-' || hex != format!("{byte:02X}") {
                    return None;
                }
                bytes.push(byte);
                rest = tail.get(2..)?;
            } else if first.is_ascii_alphanumeric() || first == b'-' {
                bytes.push(first);
                rest = tail;
            } else {
                return None;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_become_safe_reversible_subjects() {
        let cases = [
            ("video:42", "video.42"),
            ("room:7:comments", "room.7.comments"),
            ("", "_"),
            (":", "_._"),
            ("a::b", "a._.b"),
            ("a.b", "a_2Eb"),
            ("a:b", "a.b"),
            ("*", "_2A"),
            (">", "_3E"),
            ("a b\tc\r\n", "a_20b_09c_0D_0A"),
            ("_", "_5F"),
            ("_5F", "_5F5F"),
            ("直播", "_E7_9B_B4_E6_92_AD"),
            ("kanjian.other.room", "kanjian_2Eother_2Eroom"),
        ];
        for (topic, subject) in cases {
            assert_eq!(topic_to_subject(topic), subject, "{topic:?}");
            assert_eq!(subject_to_topic(subject).as_deref(), Some(topic), "{subject:?}");
            assert!(
                subject.split('.').all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')),
                "{subject:?} has an unsafe token"
            );
        }
    }

    #[test]
    fn subjects_no_topic_makes_are_refused() {
        for subject in ["", "a..b", "_2", "_zz", "_41", "_2e", "a*", "a b", "_E7_9B"] {
            assert_eq!(subject_to_topic(subject), None, "{subject:?}");
        }
    }

    #[test]
    fn credentials_in_urls_are_hidden() {
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redact_url("nats://kanjian:s3cr@t@nats-1:4222,tls://tok@nats-2"), "nats://***@nats-1:4222,tls://***@nats-2");
        assert_eq!(redact_url("user:pw@host:4222"), "***@host:4222");
        let config = NatsHubConfig::new("nats://kanjian:s3cret@nats:4222", "prod");
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn namespaces_are_one_safe_token() {
        assert!(check_namespace("prod").is_ok());
        assert!(check_namespace("test-1_a").is_ok());
        for bad in ["", "a.b", "a*", "a b", ">", &"x".repeat(65)] {
            assert!(check_namespace(bad).is_err(), "{bad:?}");
        }
    }
}

//! Global presence counts (viewers in a live room) over any `RealtimeHub`: one node with
//! `InProcessHub`, every node with `NatsHub`.
//!
//! Each node counts its own joins per key and, every `interval`, publishes them on the key's
//! topic (`<topic_prefix>:<key>`): only keys it has, plus one last 0 for a key it just lost, so
//! the others see it go at once. A node watching a key keeps the latest count heard from each
//! other node and sums them with its own; a node not heard from within `expiry` (it crashed, or
//! lost its connection) no longer counts. Watchers get the total at most once an `interval`,
//! and only when it changed.
//!
//! Timers are tokio's, so tests run them on paused time (`#[tokio::test(start_paused = true)]`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;

use crate::hub::RealtimeHub;

#[derive(Debug, Clone)]
pub struct PresenceConfig {
    /// Counts for key `K` travel on the hub topic `<topic_prefix>:<K>`.
    pub topic_prefix: String,
    /// How often a node publishes its counts, and the most often a watcher hears a new total.
    pub interval: Duration,
    /// A node not heard from for this long is gone, with its count.
    pub expiry: Duration,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self { topic_prefix: "presence".into(), interval: Duration::from_secs(1), expiry: Duration::from_secs(3) }
    }
}

/// What a node publishes for a key.
#[derive(Debug, Serialize, Deserialize)]
struct Report {
    node: String,
    count: u64,
}

/// This node's presence: joins counted here, totals summed across nodes. Cheap to clone. The
/// reporter task runs while any clone, guard or watch stream is alive; when the last goes it
/// publishes a 0 for every key it had, so other nodes drop its count at once.
#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Arc<dyn RealtimeHub>,
    node: String,
    config: PresenceConfig,
    state: Mutex<State>,
    stop: CancellationToken,
}

#[derive(Default)]
struct State {
    /// Joins on this node, per key (a key at 0 is removed).
    local: HashMap<String, u64>,
    /// Keys that fell to 0 since the last report: they get one last 0.
    left: HashSet<String>,
    /// The total per watched key, kept by one aggregator task each.
    watched: HashMap<String, Arc<watch::Sender<u64>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Presence {
    /// Starts this node's reporter (needs a tokio runtime). The node id is random.
    pub fn new(hub: Arc<dyn RealtimeHub>, config: PresenceConfig) -> Self {
        let inner = Arc::new(Inner {
            hub: hub.clone(),
            node: uuid::Uuid::new_v4().simple().to_string(),
            config,
            state: Mutex::new(State::default()),
            stop: CancellationToken::new(),
        });
        tokio::spawn(report(Arc::downgrade(&inner), hub, inner.node.clone(), inner.config.clone(), inner.stop.clone()));
        Self { inner }
    }

    /// This node's id in the reports.
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }

    /// Counts one presence on `key` (a viewer in a room) until the guard is dropped.
    pub fn join(&self, key: &str) -> PresenceGuard {
        let mut state = self.inner.lock();
        *state.local.entry(key.to_owned()).or_insert(0) += 1;
        state.left.remove(key);
        PresenceGuard { inner: self.inner.clone(), key: key.to_owned() }
    }

    /// Joins on `key` on this node now.
    pub fn local_count(&self, key: &str) -> u64 {
        self.inner.lock().local.get(key).copied().unwrap_or(0)
    }

    /// The total on `key` across nodes: the current value first, then each change, at most once
    /// an `interval`. A slow reader sees only the latest. Ends only if the hub's stream does.
    #[tracing::instrument(skip_all, fields(key = %key))]
    pub async fn watch(&self, key: &str) -> anyhow::Result<BoxStream<'static, u64>> {
        if let Some(total) = self.inner.lock().watched.get(key) {
            return Ok(WatchStream::new(total.subscribe()).boxed());
        }
        let reports = self.inner.hub.subscribe(&self.inner.topic(key)).await?;
        let mut state = self.inner.lock();
        // Another watcher may have started the key while this one subscribed: share it (and
        // drop this hub stream).
        if let Some(total) = state.watched.get(key) {
            return Ok(WatchStream::new(total.subscribe()).boxed());
        }
        let own = state.local.get(key).copied().unwrap_or(0);
        let (sender, receiver) = watch::channel(own);
        let sender = Arc::new(sender);
        state.watched.insert(key.to_owned(), sender.clone());
        drop(state);
        tokio::spawn(aggregate(Arc::downgrade(&self.inner), key.to_owned(), reports, sender));
        Ok(WatchStream::new(receiver).boxed())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Counts stay usable after a panic elsewhere; each change is one step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn topic(&self, key: &str) -> String {
        format!("{}:{key}", self.config.topic_prefix)
    }
}

/// One presence on a key; dropping it leaves.
pub struct PresenceGuard {
    inner: Arc<Inner>,
    key: String,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        if let Some(count) = state.local.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.local.remove(&self.key);
                state.left.insert(self.key.clone());
            }
        }
    }
}

/// Publishes this node's counts every interval, and zeros for all of them when it stops.
async fn report(inner: Weak<Inner>, hub: Arc<dyn RealtimeHub>, node: String, config: PresenceConfig, stop: CancellationToken) {
    let mut tick = tokio::time::interval(config.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut reported: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let Some(presence) = inner.upgrade() else { break };
        let counts: Vec<(String, u64)> = {
            let mut state = presence.lock();
            let left: Vec<String> = state.left.drain().collect();
            state.local.iter().map(|(k, c)| (k.clone(), *c)).chain(left.into_iter().map(|k| (k, 0))).collect()
        };
        drop(presence);
        for (key, count) in counts {
            if count == 0 {
                reported.remove(&key);
            } else {
                reported.insert(key.clone());
            }
            publish(hub.as_ref(), &config, &node, &key, count).await;
        }
    }
    // Stopping on purpose: say so now rather than let the others wait for the expiry.
    for key in reported {
        publish(hub.as_ref(), &config, &node, &key, 0).await;
    }
}

async fn publish(hub: &dyn RealtimeHub, config: &PresenceConfig, node: &str, key: &str, count: u64) {
    let report = Report { node: node.to_owned(), count };
    let message = match serde_json::to_value(&report) {
        Ok(message) => message,
        Err(e) => return tracing::warn!(error = %e, "encoding a presence report"),
    };
    // Missing one report is fine: the next comes within an interval, and expiry is longer.
    if let Err(e) = hub.publish(&format!("{}:{key}", config.topic_prefix), message).await {
        tracing::debug!(key, error = %e, "a presence report was not published");
    }
}

/// Keeps one watched key's total: the latest report of every other node, plus this node's own
/// joins, summed once an interval. Stops (ending the watch streams) when nobody watches.
async fn aggregate(
    inner: Weak<Inner>,
    key: String,
    mut reports: BoxStream<'static, serde_json::Value>,
    total: Arc<watch::Sender<u64>>,
) {
    let (node, config) = match inner.upgrade() {
        Some(presence) => (presence.node.clone(), presence.config.clone()),
        None => return,
    };
    let mut nodes: HashMap<String, (u64, Instant)> = HashMap::new();
    let mut tick = tokio::time::interval_at(Instant::now() + config.interval, config.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            report = reports.next() => match report {
                Some(report) => match serde_json::from_value::<Report>(report) {
                    // This node's own count is read from its joins, not from its reports.
                    Ok(report) if report.node == node => {}
                    Ok(report) if report.count == 0 => { nodes.remove(&report.node); }
                    Ok(report) => { nodes.insert(report.node, (report.count, Instant::now())); }
                    Err(e) => tracing::debug!(key, error = %e, "not a presence report; skipped"),
                },
                None => break,
            },
            _ = tick.tick() => {
                let Some(presence) = inner.upgrade() else { break };
                let mut state = presence.lock();
                // Under the lock, so a watcher arriving now finds no entry and starts anew.
                if total.receiver_count() == 0 {
                    forget(&mut state, &key, &total);
                    return;
                }
                nodes.retain(|_, (_, heard)| heard.elapsed() < config.expiry);
                let sum = state.local.get(&key).copied().unwrap_or(0) + nodes.values().map(|(count, _)| count).sum::<u64>();
                drop(state);
                total.send_if_modified(|current| {
                    let changed = *current != sum;
                    *current = sum;
                    changed
                });
            }
        }
    }
    if let Some(presence) = inner.upgrade() {
        forget(&mut presence.lock(), &key, &total);
    }
}

fn forget(state: &mut State, key: &str, total: &Arc<watch::Sender<u64>>) {
    if state.watched.get(key).is_some_and(|t| Arc::ptr_eq(t, total)) {
        state.watched.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::InProcessHub;
    use std::sync::atomic::{AtomicBool, Ordering};

    const SECOND: Duration = Duration::from_secs(1);

    /// A hub whose publishing can be cut, as a crashed node's is.
    struct Cuttable {
        hub: Arc<InProcessHub>,
        cut: AtomicBool,
    }

    #[async_trait::async_trait]
    impl RealtimeHub for Cuttable {
        async fn publish(&self, topic: &str, message: serde_json::Value) -> anyhow::Result<()> {
            if self.cut.load(Ordering::SeqCst) {
                return Ok(());
            }
            self.hub.publish(topic, message).await
        }

        async fn subscribe(&self, topic: &str) -> anyhow::Result<BoxStream<'static, serde_json::Value>> {
            self.hub.subscribe(topic).await
        }
    }

    /// The next total within `within` (paused time runs ahead to it), with the time it came.
    async fn next(watch: &mut BoxStream<'static, u64>, within: Duration) -> Option<(u64, Instant)> {
        tokio::time::timeout(within, watch.next()).await.ok().flatten().map(|v| (v, Instant::now()))
    }

    #[tokio::test(start_paused = true)]
    async fn one_node_counts_its_joins_at_most_once_an_interval() {
        let hub: Arc<dyn RealtimeHub> = Arc::new(InProcessHub::new());
        let presence = Presence::new(hub, PresenceConfig::default());
        let mut watch = presence.watch("room:1").await.unwrap();
        assert_eq!(next(&mut watch, SECOND).await.unwrap().0, 0, "the current total comes at once");

        let start = Instant::now();
        let guards: Vec<_> = (0..5).map(|_| presence.join("room:1")).collect();
        let _other = presence.join("room:2");
        assert_eq!(presence.local_count("room:1"), 5);
        let (total, at) = next(&mut watch, 2 * SECOND).await.unwrap();
        assert_eq!(total, 5);
        assert!(at - start <= SECOND, "within one interval");

        // A burst of changes: one total for the interval, the latest.
        let burst = Instant::now();
        drop(guards);
        let _a = presence.join("room:1");
        let _b = presence.join("room:1");
        let (total, at) = next(&mut watch, 2 * SECOND).await.unwrap();
        assert_eq!(total, 2);
        assert!(at - burst <= SECOND);
        // Nothing changed: nothing more comes.
        assert_eq!(next(&mut watch, 5 * SECOND).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn totals_add_up_across_nodes_and_a_crashed_node_is_forgotten() {
        let shared = Arc::new(InProcessHub::new());
        let a = Presence::new(shared.clone(), PresenceConfig::default());
        let b_hub = Arc::new(Cuttable { hub: shared.clone(), cut: AtomicBool::new(false) });
        let b = Presence::new(b_hub.clone(), PresenceConfig::default());
        let c = Presence::new(shared.clone(), PresenceConfig::default());
        assert_ne!(a.node_id(), b.node_id());

        let mut on_a = a.watch("room:7").await.unwrap();
        let mut on_b = b.watch("room:7").await.unwrap();
        let _a_viewers: Vec<_> = (0..2).map(|_| a.join("room:7")).collect();
        let _b_viewers: Vec<_> = (0..3).map(|_| b.join("room:7")).collect();
        let c_viewers: Vec<_> = (0..4).map(|_| c.join("room:7")).collect();
        let _elsewhere = b.join("room:8");
        for watch in [&mut on_a, &mut on_b] {
            let mut last = 0;
            while last != 9 {
                last = next(watch, 3 * SECOND).await.expect("the total reaches 9").0;
            }
        }

        // c's viewers leave: its last report (0) takes them off within an interval.
        drop(c_viewers);
        let left = Instant::now();
        assert_eq!(next(&mut on_a, 3 * SECOND).await.unwrap().0, 5);
        assert!(Instant::now() - left <= 2 * SECOND);

        // b crashes (nothing more from it): gone after the expiry, not before.
        b_hub.cut.store(true, Ordering::SeqCst);
        let crashed = Instant::now();
        let (total, at) = next(&mut on_a, 10 * SECOND).await.unwrap();
        assert_eq!(total, 2);
        let after = at - crashed;
        assert!(after >= Duration::from_secs(2) && after <= Duration::from_secs(5), "forgotten after {after:?}");

        // A node that stops on purpose says so at once.
        let d = Presence::new(shared.clone(), PresenceConfig::default());
        let d_viewer = d.join("room:7");
        assert_eq!(next(&mut on_a, 3 * SECOND).await.unwrap().0, 3);
        drop(d_viewer);
        let d_again = d.join("room:7");
        drop(d);
        drop(d_again);
        let stopped = Instant::now();
        assert_eq!(next(&mut on_a, 3 * SECOND).await.unwrap().0, 2);
        assert!(Instant::now() - stopped <= Duration::from_millis(1500), "not waiting for the expiry");
    }

    #[tokio::test(start_paused = true)]
    async fn watchers_share_one_aggregator_which_stops_when_the_last_leaves() {
        let hub = Arc::new(InProcessHub::new());
        let presence = Presence::new(hub.clone(), PresenceConfig::default());
        let first = presence.watch("room:1").await.unwrap();
        let mut second = presence.watch("room:1").await.unwrap();
        assert_eq!(hub.topic_count(), 1, "one hub subscription for the key");
        drop(first);
        let _v = presence.join("room:1");
        assert_eq!(next(&mut second, 3 * SECOND).await.unwrap().0, 0);
        assert_eq!(next(&mut second, 3 * SECOND).await.unwrap().0, 1);
        drop(second);
        tokio::time::sleep(2 * SECOND).await; // paused time: the aggregator's next tick
        assert_eq!(hub.topic_count(), 0, "the key's hub subscription is gone");
        assert!(presence.inner.lock().watched.is_empty());
        let mut again = presence.watch("room:1").await.unwrap();
        assert_eq!(next(&mut again, SECOND).await.unwrap().0, 1);
    }
}

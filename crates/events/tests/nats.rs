//! `NatsHub` and `Presence` against a real NATS server: two hubs are two connections, so two
//! nodes. The server is `KANJIAN_TEST_NATS_URL` (default `nats://127.0.0.1:4222`; `scripts/test`
//! starts one when nothing answers there, see `ensure_nats` in `scripts/lib.sh`). Without one,
//! each test prints SKIPPED, or fails under `CI=true`. Every test uses a namespace of its own, so
//! runs sharing a server never hear each other.
//!
//! The reconnect test runs a private `nats-server` (`KANJIAN_TEST_NATS_SERVER`, else
//! `nats-server` on the PATH or `/usr/sbin/nats-server`), since it stops and restarts it.

// Helpers here are test code too (clippy exempts only #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kanjian_events::{NatsHub, NatsHubConfig, Presence, PresenceConfig, RealtimeHub};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn nats_url() -> String {
    std::env::var("KANJIAN_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A failure under `CI=true`; otherwise a clear SKIPPED line.
fn skip(test: &str, why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs a NATS server, and CI=true allows no skip: {why} (scripts/test starts one: ensure_nats)");
    }
    eprintln!("SKIPPED {test}: {why}");
}

fn namespace() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

async fn hub_at(url: &str, namespace: &str) -> anyhow::Result<NatsHub> {
    let mut config = NatsHubConfig::new(url, namespace);
    config.connect_timeout = Duration::from_secs(3);
    NatsHub::connect(config).await
}

/// Two nodes in one fresh namespace, or `None` (skipped) when no NATS server answers.
async fn two_nodes(test: &str) -> Option<(NatsHub, NatsHub)> {
    let ns = namespace();
    match hub_at(&nats_url(), &ns).await {
        Ok(a) => Some((a, hub_at(&nats_url(), &ns).await.unwrap())),
        Err(e) => {
            skip(test, &format!("no NATS server at {}: {e:#}", nats_url()));
            None
        }
    }
}

async fn next(stream: &mut BoxStream<'static, Value>) -> Value {
    tokio::time::timeout(WAIT, stream.next()).await.expect("a message within 10 s").expect("the stream goes on")
}

/// Waits (polling, with a deadline) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn in_messages(hub: &NatsHub) -> u64 {
    hub.client().statistics().in_messages.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_message_published_on_one_node_reaches_subscribers_on_both() {
    let Some((a, b)) = two_nodes("a_message_published_on_one_node_reaches_subscribers_on_both").await else { return };
    let mut on_b = b.subscribe("room:7:comments").await.unwrap();
    let mut on_a = a.subscribe("room:7:comments").await.unwrap();
    for n in 0..20 {
        a.publish("room:7:comments", json!({ "n": n, "text": "你好 ✨" })).await.unwrap();
    }
    // One order per topic, the same on every node, the publisher's own included.
    for n in 0..20 {
        assert_eq!(next(&mut on_b).await, json!({ "n": n, "text": "你好 ✨" }));
        assert_eq!(next(&mut on_a).await["n"], n);
    }
    // And back the other way.
    b.publish("room:7:comments", json!({ "from": "b" })).await.unwrap();
    assert_eq!(next(&mut on_a).await["from"], "b");
}

#[tokio::test]
async fn a_node_holds_a_nats_subscription_only_while_it_has_subscribers() {
    let Some((a, b)) = two_nodes("a_node_holds_a_nats_subscription_only_while_it_has_subscribers").await else { return };
    assert_eq!(b.subscription_count(), 0);

    // Nobody on b listens to room:1: what a publishes there never reaches b's connection.
    let mut marker = b.subscribe("marker").await.unwrap();
    let before = in_messages(&b);
    a.publish("room:1", json!({ "unheard": true })).await.unwrap();
    a.publish("marker", json!(1)).await.unwrap();
    assert_eq!(next(&mut marker).await, json!(1));
    assert_eq!(in_messages(&b) - before, 1, "only the marker reached b");

    // Two local subscribers share one NATS subscription.
    let first = b.subscribe("room:1").await.unwrap();
    let mut second = b.subscribe("room:1").await.unwrap();
    assert_eq!(b.subscription_count(), 2, "marker and room:1");
    assert_eq!(b.topic_count(), 2);
    drop(first);
    assert_eq!(b.subscription_count(), 2, "one subscriber left: kept");
    a.publish("room:1", json!(2)).await.unwrap();
    assert_eq!(next(&mut second).await, json!(2));

    // The last one leaves: the NATS subscription goes, and room:1 stops reaching b.
    drop(second);
    assert_eq!(b.topic_count(), 1);
    until("room:1's NATS subscription is dropped", || b.subscription_count() == 1).await;
    let before = in_messages(&b);
    a.publish("room:1", json!(3)).await.unwrap();
    a.publish("marker", json!(4)).await.unwrap();
    assert_eq!(next(&mut marker).await, json!(4));
    assert_eq!(in_messages(&b) - before, 1, "room:1 no longer reaches b");

    // Coming back subscribes again.
    let mut again = b.subscribe("room:1").await.unwrap();
    assert_eq!(b.subscription_count(), 2);
    a.publish("room:1", json!(5)).await.unwrap();
    assert_eq!(next(&mut again).await, json!(5));
}

#[tokio::test]
async fn many_subscribers_coming_and_going_leave_no_subscription_behind() {
    let Some((a, b)) = two_nodes("many_subscribers_coming_and_going_leave_no_subscription_behind").await else { return };
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (a, b) = (a.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            let topic = format!("video:{}", i % 5);
            let mut s = b.subscribe(&topic).await.unwrap();
            a.publish(&topic, json!({ "i": i })).await.unwrap();
            // Others on the topic publish too: read until this task's own message.
            while next(&mut s).await["i"] != i {}
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(b.topic_count(), 0);
    until("every NATS subscription is dropped", || b.subscription_count() == 0).await;
}

#[tokio::test]
async fn namespaces_keep_deployments_apart() {
    let url = nats_url();
    let Ok(prod) = hub_at(&url, &namespace()).await else {
        return skip("namespaces_keep_deployments_apart", &format!("no NATS server at {url}"));
    };
    let staging = hub_at(&url, &namespace()).await.unwrap();
    assert_ne!(prod.subject("room:1"), staging.subject("room:1"));
    let mut on_prod = prod.subscribe("room:1").await.unwrap();
    let mut on_staging = staging.subscribe("room:1").await.unwrap();

    staging.publish("room:1", json!("staging")).await.unwrap();
    // The server has routed it (to whoever matches) before prod publishes.
    staging.sync().await.unwrap();
    prod.publish("room:1", json!("prod")).await.unwrap();
    assert_eq!(next(&mut on_prod).await, json!("prod"), "staging's message did not reach prod");
    assert_eq!(next(&mut on_staging).await, json!("staging"));
    prod.sync().await.unwrap();
    let nothing = tokio::time::timeout(Duration::from_millis(200), on_staging.next()).await;
    assert!(nothing.is_err(), "prod's message reached staging: {nothing:?}");
}

#[tokio::test]
async fn a_slow_subscriber_skips_and_never_holds_up_the_others() {
    let Some((a, b)) = two_nodes("a_slow_subscriber_skips_and_never_holds_up_the_others").await else { return };
    let mut slow = b.subscribe("room:9").await.unwrap();
    let mut fast = b.subscribe("room:9").await.unwrap();
    const N: i64 = 2000;
    let reader = tokio::spawn(async move {
        let mut last = -1;
        while last < N - 1 {
            let n = next(&mut fast).await["n"].as_i64().unwrap();
            assert!(n > last, "in order");
            last = n;
        }
    });
    for n in 0..N {
        a.publish("room:9", json!({ "n": n })).await.unwrap();
    }
    reader.await.unwrap();
    // The slow one has not read at all: it skipped what fell out of its buffer, and goes on.
    let first = next(&mut slow).await["n"].as_i64().unwrap();
    assert!(first > 0, "the oldest messages were skipped (got {first})");
    a.publish("room:9", json!({ "n": N })).await.unwrap();
    let mut last = first;
    while last < N {
        last = next(&mut slow).await["n"].as_i64().unwrap();
    }
}

#[tokio::test]
async fn presence_totals_add_up_across_nodes_and_a_node_that_stops_is_dropped() {
    let Some((a, b)) = two_nodes("presence_totals_add_up_across_nodes_and_a_node_that_stops_is_dropped").await else { return };
    let config = PresenceConfig { interval: Duration::from_millis(100), expiry: Duration::from_millis(500), ..Default::default() };
    let on_a = Presence::new(Arc::new(a.clone()), config.clone());
    let b_hub: Arc<dyn RealtimeHub> = Arc::new(b.clone());
    let on_b = Presence::new(b_hub, config.clone());

    let mut watch_a = on_a.watch("room:3").await.unwrap();
    let mut watch_b = on_b.watch("room:3").await.unwrap();
    let _a_viewers: Vec<_> = (0..2).map(|_| on_a.join("room:3")).collect();
    let b_viewers: Vec<_> = (0..3).map(|_| on_b.join("room:3")).collect();
    for watch in [&mut watch_a, &mut watch_b] {
        wait_for_total(watch, 5).await;
    }

    // b's viewers leave: its last report (0) takes them off.
    drop(b_viewers);
    wait_for_total(&mut watch_a, 2).await;
    let _b_again = on_b.join("room:3");
    wait_for_total(&mut watch_a, 3).await;

    // b's node dies with a viewer on it (its connection closes, no last report): a forgets it
    // after the expiry. b's own streams end rather than wait for nothing.
    b.client().drain().await.unwrap();
    assert_eq!(tokio::time::timeout(WAIT, async { while watch_b.next().await.is_some() {} }).await, Ok(()), "b's watch ends");
    let died = tokio::time::Instant::now();
    wait_for_total(&mut watch_a, 2).await;
    assert!(died.elapsed() >= Duration::from_millis(300), "forgotten only after the expiry");
}

async fn wait_for_total(watch: &mut BoxStream<'static, u64>, want: u64) {
    let result = tokio::time::timeout(WAIT, async {
        loop {
            match watch.next().await {
                Some(total) if total == want => return,
                Some(_) => {}
                None => panic!("the watch ended"),
            }
        }
    })
    .await;
    assert!(result.is_ok(), "the total did not reach {want} within {WAIT:?}");
}

/// A `nats-server` of the test's own on `port`, killed when dropped.
struct PrivateServer(Child);

impl PrivateServer {
    fn binary() -> Option<String> {
        if let Ok(path) = std::env::var("KANJIAN_TEST_NATS_SERVER") {
            return Some(path);
        }
        let found = Command::new("sh").args(["-c", "command -v nats-server"]).output().ok()?;
        let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
        if !path.is_empty() {
            return Some(path);
        }
        std::path::Path::new("/usr/sbin/nats-server").exists().then(|| "/usr/sbin/nats-server".to_owned())
    }

    fn start(binary: &str, port: u16) -> Self {
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "nats-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn subscribers_keep_receiving_after_nats_restarts() {
    let Some(binary) = PrivateServer::binary() else {
        return skip("subscribers_keep_receiving_after_nats_restarts", "no nats-server binary (set KANJIAN_TEST_NATS_SERVER)");
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("nats://127.0.0.1:{port}");
    let server = PrivateServer::start(&binary, port);
    let ns = namespace();
    let (a, b) = (hub_at(&url, &ns).await.unwrap(), hub_at(&url, &ns).await.unwrap());
    let mut on_b = b.subscribe("room:5").await.unwrap();
    a.publish("room:5", json!("before")).await.unwrap();
    assert_eq!(next(&mut on_b).await, json!("before"));

    drop(server);
    until("both nodes see the connection drop", || {
        [&a, &b].iter().all(|h| h.client().connection_state() != async_nats::connection::State::Connected)
    })
    .await;
    // Meanwhile a publish fails fast instead of queueing behind the lost connection.
    let during = a.publish("room:5", json!("during")).await;
    assert!(during.is_err(), "a publish while disconnected is refused");

    let _server = PrivateServer::start(&binary, port);
    // Back: each node reconnects and re-registers its subscriptions by itself.
    for hub in [&a, &b] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while hub.sync().await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "no reconnection within 20 s");
        }
    }
    a.publish("room:5", json!("after")).await.unwrap();
    assert_eq!(next(&mut on_b).await, json!("after"), "the subscription survived the restart");
    assert_eq!(b.subscription_count(), 1);
}

#[tokio::test]
async fn connecting_to_nothing_fails_clearly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let error = hub_at(&format!("nats://127.0.0.1:{port}"), "x").await.err().expect("no server there");
    let text = format!("{error:#}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(hub_at(&nats_url(), "not.one.token").await.err().is_some_and(|e| e.to_string().contains("namespace")));
}

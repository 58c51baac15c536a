//! The realtime hub through the real server: `[realtime] nats_url` wiring, and WebSocket clients
//! that stop reading. The server runs on NATS (`KANJIAN_TEST_NATS_URL`, default
//! `nats://127.0.0.1:4222`, in a namespace of the test's own), and the test publishes on the
//! same subjects through a `NatsHub` of its own: another node, as far as the server can tell.
//! Without a NATS server a test prints SKIPPED, or fails under `CI=true`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use kanjian_contracts::notify::NotificationDto;
use kanjian_events::{NatsHub, NatsHubConfig, RealtimeHub};
use kanjian_kernel::ids::{NotificationId, UserId};
use kanjian_system_tests::TestApp;
use kanjian_system_tests::ws::{Connection, Subscription};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

fn nats_url() -> String {
    std::env::var("KANJIAN_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Another node's hub in `namespace`, or `None` (SKIPPED; a failure under `CI=true`).
async fn other_node(test: &str, namespace: &str) -> Option<NatsHub> {
    match NatsHub::connect(NatsHubConfig::new(nats_url(), namespace)).await {
        Ok(hub) => Some(hub),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: needs a NATS server, and CI=true allows no skip: {e:#} (scripts/test starts one: ensure_nats)")
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: no NATS server at {}: {e:#}", nats_url());
            None
        }
    }
}

/// The number in a global id (`base64url("User:7")` → 7).
fn number(global_id: &str) -> i64 {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(global_id).unwrap();
    String::from_utf8(raw).unwrap().rsplit(':').next().unwrap().parse().unwrap()
}

/// A notification as notify pushes it on the hub (`notify.user.<id>`), `pad` bytes long.
fn notification(user: i64, n: i64, pad: usize) -> Value {
    serde_json::to_value(NotificationDto {
        id: NotificationId(n),
        user_id: UserId(user),
        kind: "test.burst".into(),
        payload: json!({ "n": n, "pad": "x".repeat(pad) }),
        created_at: chrono::Utc::now(),
        read_at: None,
    })
    .unwrap()
}

const ADDED: &str = "subscription { notificationAdded { payload } }";

type RawSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A graphql-transport-ws client on a socket with a 4 KiB receive buffer, so that the server
/// feels at once that it stopped reading.
async fn small_buffer_client(base: &str, token: &str) -> RawSocket {
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into())).await.unwrap();
    let ack = next_text(&mut ws, Duration::from_secs(10)).await.unwrap();
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": ADDED } });
    ws.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    ws
}

/// The next text message, `Err` with the close frame (code, reason) when the server closed.
async fn next_text(ws: &mut RawSocket, within: Duration) -> Result<Value, (u16, String)> {
    let read = tokio::time::timeout(within, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new())));
                }
                Some(Ok(_)) => {}
                other => panic!("the connection ended without a close frame: {other:?}"),
            }
        }
    })
    .await;
    read.unwrap_or_else(|_| panic!("nothing from the server within {within:?}"))
}

/// The `n` of a `next` message of notificationAdded.
fn n_of(message: &Value) -> Option<i64> {
    (message["type"] == "next").then(|| message["payload"]["data"]["notificationAdded"]["payload"]["n"].as_i64()).flatten()
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_and_holds_up_nobody() {
    let test = "a_client_that_stops_reading_is_closed_and_holds_up_nobody";
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let Some(other) = other_node(test, &namespace).await else { return };
    let app = TestApp::spawn_with(|c| {
        c.realtime.nats_url = Some(nats_url().into());
        c.realtime.namespace = namespace;
        c.http.max_queued_messages_per_connection = 16;
        c.http.max_connections_per_user = 2;
        c.http.slow_client_timeout_ms = 1000;
    })
    .await;
    let (token, user_id) = app.sign_up("reader@example.com").await;
    let user = number(&user_id);
    let topic = format!("notify.user.{user}");

    // Two connections of one person: one reads everything, one stops reading.
    let mut slow = small_buffer_client(&app.base, &token).await;
    let mut reader = Subscription::start(&app.base, Some(&token), ADDED, json!({})).await;

    // Both are subscribed once each has seen a message sent from the other node.
    let (mut slow_ready, mut reader_ready) = (false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(slow_ready && reader_ready) {
        assert!(tokio::time::Instant::now() < deadline, "the subscriptions did not start");
        other.publish(&topic, notification(user, 0, 10)).await.unwrap();
        if !slow_ready {
            slow_ready = tokio::time::timeout(Duration::from_millis(200), next_text(&mut slow, Duration::from_secs(1)))
                .await
                .is_ok_and(|m| m.is_ok_and(|m| n_of(&m) == Some(0)));
        }
        if !reader_ready {
            reader_ready = tokio::time::timeout(Duration::from_millis(200), reader.next()).await.is_ok();
        }
    }

    // The reader reads on its own until told to stop; the slow client reads nothing from now on.
    let read = Arc::new(AtomicI64::new(0));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reading = tokio::spawn({
        let read = read.clone();
        async move {
            tokio::pin!(stopped);
            let mut expected = 1;
            loop {
                let message = tokio::select! {
                    _ = &mut stopped => return reader,
                    message = reader.next() => message.expect("the reader's subscription goes on").unwrap(),
                };
                let n = message["data"]["notificationAdded"]["payload"]["n"].as_i64().unwrap();
                if n == 0 {
                    continue; // a late probe
                }
                assert_eq!(n, expected, "the reader gets every message, in order");
                read.store(n, Ordering::SeqCst);
                expected += 1;
            }
        }
    });
    // Batches of 50 messages of 6 KB, each read by the reader before the next (so it is never
    // more than a batch behind, well within the hub's buffer), until the server has given up on
    // the slow client: its connection slot is free again (the limit is 2 connections; a third
    // is refused with 4429 while the slow one still counts). How much goes first depends on
    // the kernel's socket buffers, which grow as they fill.
    let mut sent = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        for _ in 0..50 {
            sent += 1;
            other.publish(&topic, notification(user, sent, 6000)).await.unwrap();
        }
        while read.load(Ordering::SeqCst) < sent {
            assert!(!reading.is_finished(), "the reader stopped");
            assert!(tokio::time::Instant::now() < deadline, "the reader got {} of {sent}", read.load(Ordering::SeqCst));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        match Connection::open(&app.base, Some(&token)).await {
            Ok(third) => break third.close().await,
            Err((code, _)) => assert_eq!(code, 4429, "the slow client still holds its slot"),
        }
        assert!(tokio::time::Instant::now() < deadline, "the slow client was not closed after {sent} messages");
    }
    stop.send(()).unwrap();
    let mut reader = reading.await.unwrap();

    // The slow client reads again: what the server had passed on before, then the close.
    let mut got = 0;
    let close = loop {
        let message = tokio::time::timeout(Duration::from_secs(20), next_text(&mut slow, Duration::from_secs(30))).await;
        match message.unwrap_or_else(|_| panic!("no close frame: the slow client read {got} of {sent} and then nothing for 20 s")) {
            Ok(message) => got += i64::from(n_of(&message).is_some_and(|n| n > 0)),
            Err(close) => break close,
        }
    };
    assert_eq!(close.0, 4008, "closed as too slow: {close:?}");
    assert!(close.1.starts_with("too slow"), "{close:?}");
    assert!(got < sent, "the slow client was closed, not sent everything ({got} of {sent})");
    eprintln!("the slow client read {got} of {sent} messages before the close");

    // The other connection carries on.
    other.publish(&topic, notification(user, sent + 1, 10)).await.unwrap();
    let after = tokio::time::timeout(Duration::from_secs(10), reader.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(after["data"]["notificationAdded"]["payload"]["n"], sent + 1);
}

#[tokio::test]
async fn a_node_whose_nats_does_not_answer_does_not_start() {
    let database = kanjian_db::testing::TestDatabase::create().await;
    let data_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = kanjian_server::Config { data_dir: data_dir.path().to_path_buf(), ..Default::default() };
    config.database.url = Some(database.url.clone().into());
    config.realtime.nats_url = Some(format!("nats://kanjian:s3cret@127.0.0.1:{port}").into());
    config.realtime.connect_timeout_secs = 1;
    let Err(error) = kanjian_server::Kanjian::build(config).await else { panic!("built without NATS") };
    let text = format!("{error:#}");
    assert!(text.contains(&format!("nats://***@127.0.0.1:{port}")) && text.contains("nats_url"), "{text}");
    assert!(!text.contains("s3cret"), "credentials stay out of errors: {text}");
}

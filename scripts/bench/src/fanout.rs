//! Hot-room fan-out (issue 14): one LIVE room with N viewers on `liveRoomEvents` over
//! graphql-transport-ws, M signed-in people sending comments at a fixed total rate R through
//! `sendLiveComment`, and the creator sending one a second (the priority lane). Each side runs on
//! the release `kanjian` (SQLite in a temp data dir), restarted for every (side, N) so its memory
//! starts clean:
//!
//! - coalesced: kanjian's defaults, batches every `comment_batch_ms` = 150 with about
//!   `comments_per_viewer_per_second` = 20 per viewer;
//! - uncoalesced (the baseline): `comment_batch_ms` = 10 and `comments_per_viewer_per_second` =
//!   100000, so every comment goes to every viewer, nearly unbatched.
//!
//! Every comment's text carries the time it was sent (µs since this process started), so the
//! viewers, in this process on the same clock, measure send → receive. Most viewers only count
//! (messages, comments, the creator's comments) by scanning the frames; a sample of them also
//! reads every comment's time. Measures and prints; asserts nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::api::Api;
use crate::report::{Table, load_average, ms, per_sec, ratio};
use crate::servers::{self, ChildServer};

const EVENTS: &str = "subscription($id: ID!) { liveRoomEvents(liveRoomId: $id) { __typename \
    ... on LiveRoomChanged { liveRoom { state } } \
    ... on LiveCommentsAdded { comments { id text authorName authorRole createdAt } omitted } \
    ... on LiveCountsChanged { counts { viewersNow viewersPeak viewersTotal likes } } } }";
const SEND: &str = "mutation($id: ID!, $t: String!) { sendLiveComment(input: { liveRoomId: $id, text: $t }) { comment { id } userErrors { code } } }";
const SCHEDULE: &str = "mutation($i: ScheduleLiveInput!) { scheduleLive(input: $i) { liveRoom { id state } userErrors { field code message } } }";

/// Handshakes in flight while the viewers connect.
const OPENING_AT_ONCE: usize = 128;
/// `sendLiveComment` requests in flight at most; a send due while all are taken is skipped
/// (and counted), so the load stays open-loop at the rate asked.
const SENDS_IN_FLIGHT: usize = 512;
/// A side whose server grows past this is stopped: it has fallen over (and would take the
/// machine, shared with others, with it).
const RSS_CAP_BYTES: u64 = 6 << 30;

#[derive(Debug, Clone)]
pub struct FanoutSettings {
    pub viewers: Vec<usize>,
    pub rates: Vec<u32>,
    pub commenters: usize,
    pub seconds: u64,
    pub warmup: u64,
    /// Viewers whose every comment's latency is read.
    pub sampled: usize,
    /// Viewers that are signed in (the rest are not).
    pub signed_in: usize,
    pub workers: usize,
}

#[derive(Debug, Clone, Copy)]
struct Side {
    name: &'static str,
    batch_ms: u64,
    per_viewer: u32,
}

const SIDES: [Side; 2] = [
    Side { name: "coalesced", batch_ms: 150, per_viewer: 20 },
    Side { name: "uncoalesced", batch_ms: 10, per_viewer: 100_000 },
];

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_us() -> u64 {
    base().elapsed().as_micros() as u64
}

/// Resident memory of `pid`, from `/proc/<pid>/status`.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Raises this process's open-file limit (children inherit it): N viewers are N sockets here
/// and N in kanjian. `prlimit` from util-linux; the hard limit only rises as root.
fn raise_open_files(want: u64) -> Result<u64> {
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={want}:{want}")])
        .stderr(std::process::Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        let _ = std::process::Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={want}")])
            .stderr(std::process::Stdio::null())
            .status();
    }
    let out = std::process::Command::new("prlimit")
        .args(["--pid", &pid, "--nofile", "--noheadings", "--raw", "--output=SOFT"])
        .output()
        .context("running prlimit")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("reading the open-file limit")
}

// ---------------------------------------------------------------------------------------------
// Viewers

#[derive(Default)]
struct ViewerStat {
    messages: AtomicU64,
    comments: AtomicU64,
    priority: AtomicU64,
}

struct Shared {
    stats: Vec<ViewerStat>,
    /// Past `connection_init`.
    connected: AtomicUsize,
    /// Set once every viewer is connected: they subscribe then.
    subscribe: tokio::sync::watch::Sender<bool>,
    /// Subscribed, the room received.
    opened: AtomicUsize,
    failed: AtomicUsize,
    closed_slow: AtomicUsize,
    closed_other: AtomicUsize,
    broken: AtomicUsize,
    ended: AtomicUsize,
    measuring: AtomicBool,
    latency: Mutex<Histogram<u64>>,
    priority_latency: Mutex<Histogram<u64>>,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn new(n: usize) -> Result<Self> {
        Ok(Self {
            stats: (0..n).map(|_| ViewerStat::default()).collect(),
            connected: AtomicUsize::new(0),
            subscribe: tokio::sync::watch::Sender::new(false),
            opened: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            closed_slow: AtomicUsize::new(0),
            closed_other: AtomicUsize::new(0),
            broken: AtomicUsize::new(0),
            ended: AtomicUsize::new(0),
            measuring: AtomicBool::new(false),
            latency: Mutex::new(histogram()?),
            priority_latency: Mutex::new(histogram()?),
            first_error: Mutex::new(None),
        })
    }

    /// Viewer `i` could not connect or subscribe.
    fn viewer_failed(&self, i: usize, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.note_error(format!("viewer {i}: {why}"));
    }

    fn note_error(&self, e: String) {
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(e);
        }
    }

    fn snapshot(&self) -> Vec<[u64; 3]> {
        self.stats
            .iter()
            .map(|s| {
                [
                    s.messages.load(Ordering::Relaxed),
                    s.comments.load(Ordering::Relaxed),
                    s.priority.load(Ordering::Relaxed),
                ]
            })
            .collect()
    }

    fn gone(&self) -> usize {
        self.closed_slow.load(Ordering::Relaxed)
            + self.closed_other.load(Ordering::Relaxed)
            + self.broken.load(Ordering::Relaxed)
            + self.ended.load(Ordering::Relaxed)
    }
}

fn histogram() -> Result<Histogram<u64>> {
    // µs, 1 µs to 10 min.
    Histogram::new_with_bounds(1, 600_000_000, 3).context("a latency histogram")
}

fn record(h: &Mutex<Histogram<u64>>, us: u64) {
    let mut h = h.lock().unwrap_or_else(|e| e.into_inner());
    let _ = h.record(us.max(1));
}

/// The digits at the start of `s`.
fn leading_number(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// Counts one `next` frame's comments (every `"text":"…"`), the creator's among them (`P#…`),
/// and reads the send times it must.
fn count_frame(shared: &Shared, stat: &ViewerStat, frame: &str, sampled: bool) {
    stat.messages.fetch_add(1, Ordering::Relaxed);
    let measuring = shared.measuring.load(Ordering::Relaxed);
    let now = now_us();
    let mut comments = 0;
    for (at, _) in frame.match_indices("\"text\":\"") {
        comments += 1;
        let text = &frame[at + 8..];
        if let Some(rest) = text.strip_prefix("P#") {
            stat.priority.fetch_add(1, Ordering::Relaxed);
            if measuring && let Some(sent) = leading_number(rest) {
                record(&shared.priority_latency, now.saturating_sub(sent));
            }
        } else if sampled
            && measuring
            && let Some(sent) = text.strip_prefix('m').and_then(leading_number)
        {
            record(&shared.latency, now.saturating_sub(sent));
        }
    }
    stat.comments.fetch_add(comments, Ordering::Relaxed);
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects (small buffers, as a client holding thousands would), authenticates, subscribes,
/// and waits for the first event (the room as it is).
/// A WebSocket to kanjian, past `connection_init`: a connection with no subscription yet.
async fn connect_viewer(url: &str, token: Option<&str>) -> Result<Socket> {
    let mut request = url.into_client_request().context("a WebSocket request")?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .context("connecting")?;
    let payload = match token {
        Some(t) => json!({ "authorization": format!("Bearer {t}") }),
        None => json!({}),
    };
    socket
        .send(Message::Text(json!({ "type": "connection_init", "payload": payload }).to_string().into()))
        .await
        .context("connection_init")?;
    while let Some(frame) = socket.next().await {
        match frame.context("reading the handshake")? {
            Message::Text(text) if text.contains("\"connection_ack\"") => return Ok(socket),
            Message::Text(text) => bail!("expected connection_ack, got {text}"),
            Message::Close(frame) => bail!("closed during the handshake: {frame:?}"),
            _ => {}
        }
    }
    bail!("the connection ended during the handshake")
}

/// Subscribes `socket` to the room's events; returns once the room arrives, LIVE.
async fn subscribe_viewer(socket: &mut Socket, room: &str) -> Result<()> {
    socket
        .send(Message::Text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS, "variables": { "id": room } } })
                .to_string()
                .into(),
        ))
        .await
        .context("subscribe")?;
    while let Some(frame) = socket.next().await {
        match frame.context("reading the first event")? {
            Message::Text(text) => {
                if text.contains("\"LiveRoomChanged\"") && text.contains("\"LIVE\"") {
                    return Ok(());
                }
                bail!("expected the room, LIVE, got {text}");
            }
            Message::Close(frame) => bail!("closed before the first event: {frame:?}"),
            _ => {}
        }
    }
    bail!("the connection ended before the first event")
}

/// Waits for `until` while reading `socket`, so kanjian's pings are answered meanwhile
/// (tungstenite answers a ping as it reads it) and the connection is not closed as gone; the
/// wait may be longer than kanjian's ping timeout. `None` if the connection closed first.
async fn reading_while<T>(socket: &mut Socket, until: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::pin!(until);
    loop {
        tokio::select! {
            done = &mut until => return Some(done),
            frame = socket.next() => match frame {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn viewer(
    shared: Arc<Shared>,
    i: usize,
    url: String,
    token: Option<String>,
    room: String,
    opening: Arc<Semaphore>,
    sampled: bool,
) {
    // Connected first, all of them, so the connections' memory is measured apart from the
    // subscriptions'; then subscribed once `subscribe` opens.
    let permit = opening.clone().acquire_owned().await;
    let connected = tokio::time::timeout(Duration::from_secs(60), connect_viewer(&url, token.as_deref())).await;
    drop(permit);
    let mut socket = match connected {
        Ok(Ok(socket)) => socket,
        Ok(Err(e)) => {
            shared.viewer_failed(i, format!("{e:#}"));
            return;
        }
        Err(_) => {
            shared.viewer_failed(i, "not connected within 60 s".into());
            return;
        }
    };
    shared.connected.fetch_add(1, Ordering::Relaxed);
    // Subscribing waits for every viewer to be connected, then for a turn among OPENING_AT_ONCE.
    let mut subscribe = shared.subscribe.subscribe();
    let turn = async move {
        subscribe.wait_for(|go| *go).await.ok()?;
        opening.acquire_owned().await.ok()
    };
    let permit = match reading_while(&mut socket, turn).await {
        Some(Some(permit)) => permit,
        // The bench is over.
        Some(None) => return,
        None => {
            shared.viewer_failed(i, "closed while waiting to subscribe".into());
            return;
        }
    };
    let subscribed = tokio::time::timeout(Duration::from_secs(60), subscribe_viewer(&mut socket, &room)).await;
    drop(permit);
    match subscribed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            shared.viewer_failed(i, format!("{e:#}"));
            return;
        }
        Err(_) => {
            shared.viewer_failed(i, "no subscription within 60 s".into());
            return;
        }
    }
    shared.opened.fetch_add(1, Ordering::Relaxed);
    let stat = &shared.stats[i];
    while let Some(frame) = socket.next().await {
        match frame {
            Ok(Message::Text(text)) => {
                let text: &str = &text;
                if text.contains("\"type\":\"next\"") {
                    count_frame(&shared, stat, text, sampled);
                } else if text.contains("\"type\":\"ping\"") {
                    let _ = socket
                        .send(Message::Text(r#"{"type":"pong"}"#.to_owned().into()))
                        .await;
                } else if text.contains("\"type\":\"complete\"")
                    || text.contains("\"type\":\"error\"")
                {
                    shared.ended.fetch_add(1, Ordering::Relaxed);
                    shared.note_error(format!("viewer {i}: {text}"));
                    return;
                }
            }
            Ok(Message::Close(frame)) => {
                if frame.as_ref().is_some_and(|f| u16::from(f.code) == 4008) {
                    shared.closed_slow.fetch_add(1, Ordering::Relaxed);
                } else {
                    shared.closed_other.fetch_add(1, Ordering::Relaxed);
                    shared.note_error(format!("viewer {i}: closed {frame:?}"));
                }
                return;
            }
            Ok(_) => {}
            Err(e) => {
                shared.broken.fetch_add(1, Ordering::Relaxed);
                shared.note_error(format!("viewer {i}: {e}"));
                return;
            }
        }
    }
    shared.broken.fetch_add(1, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------------------
// Commenters

#[derive(Default)]
struct SendCounts {
    attempted: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl SendCounts {
    fn note_error(&self, e: String) {
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(e);
        }
    }
}

async fn send_comment(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    room: &str,
    text: String,
    counts: &SendCounts,
) {
    counts.attempted.fetch_add(1, Ordering::Relaxed);
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": SEND, "variables": { "id": room, "t": text } }))
        .send()
        .await;
    let body = match response {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            counts.note_error(format!("{e}"));
            return;
        }
    };
    if body.contains("\"comment\":{\"id\"") {
        counts.accepted.fetch_add(1, Ordering::Relaxed);
    } else if body.contains("\"errors\"") {
        counts.failed.fetch_add(1, Ordering::Relaxed);
        counts.note_error(body);
    } else {
        counts.refused.fetch_add(1, Ordering::Relaxed);
        counts.note_error(body);
    }
}

/// Sends at `rate` a second in total, round-robin over `tokens`, until `stop`; returns the
/// counts of the sends started in `[measure_from, stop)`.
async fn commenters(
    http: reqwest::Client,
    url: String,
    tokens: Arc<Vec<String>>,
    room: String,
    rate: u32,
    measure_from: Instant,
    stop: Instant,
) -> Arc<SendCounts> {
    let warm = Arc::new(SendCounts::default());
    let measured = Arc::new(SendCounts::default());
    let in_flight = Arc::new(Semaphore::new(SENDS_IN_FLIGHT));
    let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = tokio::time::Instant::now();
    let mut k: u64 = 0;
    let mut tasks = Vec::new();
    loop {
        let due = start + every.mul_f64(k as f64);
        if due.into_std() >= stop {
            break;
        }
        tokio::time::sleep_until(due).await;
        let counts = if Instant::now() >= measure_from { measured.clone() } else { warm.clone() };
        let token = tokens[(k as usize) % tokens.len()].clone();
        k += 1;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            counts.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let (http, url, room) = (http.clone(), url.clone(), room.clone());
        tasks.push(tokio::spawn(async move {
            let text = format!("m{} 主播好，这个多少钱？", now_us());
            send_comment(&http, &url, &token, &room, text, &counts).await;
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    measured
}

/// The creator: one comment a second (the priority lane) in `[from, stop)`.
async fn creator_lane(
    http: reqwest::Client,
    url: String,
    token: String,
    room: String,
    from: Instant,
    stop: Instant,
) -> Arc<SendCounts> {
    let counts = Arc::new(SendCounts::default());
    let mut next = from + Duration::from_millis(300);
    while next < stop {
        tokio::time::sleep_until(next.into()).await;
        let text = format!("P#{} 欢迎来到直播间", now_us());
        send_comment(&http, &url, &token, &room, text, &counts).await;
        next += Duration::from_secs(1);
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// Runs

struct Idle {
    side: Side,
    n: usize,
    opened: usize,
    failed: usize,
    open_secs: f64,
    rss0: u64,
    /// With every viewer connected, none subscribed.
    rss_connected: u64,
    connected: usize,
    rss_idle: u64,
    idle_cores: f64,
    load: f64,
    error: Option<String>,
}

struct Loaded {
    side: Side,
    n: usize,
    rate: u32,
    seconds: f64,
    attempted: u64,
    accepted: u64,
    refused: u64,
    failed: u64,
    skipped: u64,
    messages: Spread,
    comments: Spread,
    priority_sent: u64,
    priority_missed: u64,
    viewers_missing: usize,
    p50_ms: f64,
    p99_ms: f64,
    samples: u64,
    prio_p50_ms: f64,
    prio_p99_ms: f64,
    server_cores: f64,
    client_cores: f64,
    rss_max: u64,
    closed_slow: usize,
    closed_other: usize,
    broken: usize,
    open_after: usize,
    fell_over: Option<String>,
    load: f64,
    errors: Vec<String>,
    drain_secs: f64,
}

/// Mean and max per viewer per second, over the viewers still open at the end of the window.
#[derive(Default, Clone, Copy)]
struct Spread {
    mean: f64,
    max: f64,
}

fn spread(values: &[f64]) -> Spread {
    if values.is_empty() {
        return Spread::default();
    }
    Spread {
        mean: values.iter().sum::<f64>() / values.len() as f64,
        max: values.iter().copied().fold(0.0, f64::max),
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / 1_048_576.0)
}

fn start_kanjian(
    kanjian_bin: &std::path::Path,
    data_dir: &std::path::Path,
    db_url: &str,
    log: &std::path::Path,
    workers: usize,
    side: Side,
) -> Result<ChildServer> {
    let env = vec![
        ("KANJIAN_LIVE__INGEST__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("KANJIAN_LIVE__COMMENTS_PER_USER".to_owned(), "[]".to_owned()),
        ("KANJIAN_IDENTITY__SIGN_UPS_PER_IP".to_owned(), "[]".to_owned()),
        ("KANJIAN_HTTP__MAX_CONNECTIONS_PER_USER".to_owned(), "1000000".to_owned()),
        ("KANJIAN_LIVE__COMMENT_BATCH_MS".to_owned(), side.batch_ms.to_string()),
        (
            "KANJIAN_LIVE__COMMENTS_PER_VIEWER_PER_SECOND".to_owned(),
            side.per_viewer.to_string(),
        ),
    ];
    servers::spawn_kanjian(kanjian_bin, data_dir, Some(db_url), log, workers, 4, &env)
}

pub async fn run(
    settings: &FanoutSettings,
    kanjian_bin: &std::path::Path,
    work: &std::path::Path,
) -> Result<(Vec<Table>, Vec<String>)> {
    let _ = base();
    let max_n = settings.viewers.iter().copied().max().unwrap_or(0) as u64;
    let limit = raise_open_files((2 * max_n + 4096).max(65_536))?;
    println!("==> fan-out: open-file limit {limit}");
    // kanjian holds one socket per viewer, plus its database, logs and listeners: keep 1000 spare.
    let cap = limit.saturating_sub(1000) as usize;
    if cap < 100 {
        bail!("the open-file limit is {limit}, too low for a hot room");
    }
    let mut capped_note = None;
    let mut settings = settings.clone();
    if max_n as usize > cap {
        println!("    the open-file limit ({limit}, and it cannot be raised here) allows {cap} viewers, not {max_n}: {cap} it is");
        capped_note = Some(format!(
            "the open-file limit here is {limit} and could not be raised (`prlimit` refused: no CAP_SYS_RESOURCE), so {max_n} viewers became {cap} (kanjian needs a socket per viewer plus its files)"
        ));
        for n in &mut settings.viewers {
            *n = (*n).min(cap);
        }
        settings.viewers.dedup();
    }
    let settings = &settings;
    let data_dir = work.join("fanout-data");
    let db_file = data_dir.join("kanjian.sqlite");
    let db_url = format!("sqlite://{}?mode=rwc", db_file.display());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(SENDS_IN_FLIGHT)
        .build()
        .context("an HTTP client")?;

    // Set-up on the first side's server: the creator, the room, the commenters, made LIVE.
    let mut server = start_kanjian(kanjian_bin, &data_dir, &db_url, &work.join("fanout-setup.log"), settings.workers, SIDES[0])?;
    server.wait_ready(&http, "/readyz", Duration::from_secs(120)).await?;
    let api = Api::new(server.url(""))?;
    println!("==> set-up: a creator with a channel and a room; {} commenters and {} signed-in viewers sign up", settings.commenters, settings.signed_in);
    let setup = Instant::now();
    let creator = api.creator("fanout").await?;
    let data = api
        .data(Some(&creator), SCHEDULE, json!({ "i": { "title": "热门直播间 fan-out bench" } }))
        .await?;
    let room = data["scheduleLive"]["liveRoom"]["id"]
        .as_str()
        .with_context(|| format!("scheduleLive returned no room: {data}"))?
        .to_owned();
    let accounts = settings.commenters + settings.signed_in;
    let tokens: Vec<String> = futures::stream::iter(0..accounts)
        .map(|i| {
            let api = &api;
            async move { api.sign_up(&format!("fan{i}@example.com")).await }
        })
        .buffered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let (commenter_tokens, viewer_tokens) = tokens.split_at(settings.commenters);
    let commenter_tokens = Arc::new(commenter_tokens.to_vec());
    let viewer_tokens = viewer_tokens.to_vec();
    go_live(&db_url, &room).await?;
    println!("    room {room} LIVE; set-up took {:.1} s", setup.elapsed().as_secs_f64());
    server.stop();

    let mut idles = Vec::new();
    let mut loads = Vec::new();
    for &n in &settings.viewers {
        for side in SIDES {
            let (idle, loaded) = run_side(
                settings,
                kanjian_bin,
                work,
                &data_dir,
                &db_url,
                &http,
                side,
                n,
                &room,
                &creator,
                &commenter_tokens,
                &viewer_tokens,
            )
            .await?;
            idles.push(idle);
            loads.extend(loaded);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    let (tables, mut lines) = tables(settings, &idles, &loads);
    lines.extend(capped_note);
    Ok((tables, lines))
}

/// Puts the room on air without a publisher: `state = 'LIVE'` in kanjian's database, as a
/// publisher's arrival would (no publisher session, so no grace runs out).
async fn go_live(db_url: &str, room: &str) -> Result<()> {
    use base64::Engine as _;
    use sea_orm::{ConnectionTrait, Database, Statement};
    let raw = room.trim_end_matches('=');
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw))
        .context("the room's id is not base64")?;
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    let id: i64 = decoded
        .rsplit(':')
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("the room's id {decoded:?} has no number"))?;
    let db = Database::connect(db_url).await.context("opening kanjian's SQLite")?;
    let changed = db
        .execute_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            "UPDATE live_rooms SET state = 'LIVE', started_at = updated_at, version = version + 1 WHERE id = ? AND state = 'SCHEDULED'",
            [id.into()],
        ))
        .await
        .context("putting the room LIVE")?
        .rows_affected();
    db.close().await.ok();
    if changed != 1 {
        bail!("room {id} was not SCHEDULED");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn run_side(
    settings: &FanoutSettings,
    kanjian_bin: &std::path::Path,
    work: &std::path::Path,
    data_dir: &std::path::Path,
    db_url: &str,
    http: &reqwest::Client,
    side: Side,
    n: usize,
    room: &str,
    creator: &str,
    commenter_tokens: &Arc<Vec<String>>,
    viewer_tokens: &[String],
) -> Result<(Idle, Vec<Loaded>)> {
    let log = work.join(format!("fanout-{}-{n}.log", side.name));
    let mut server = start_kanjian(kanjian_bin, data_dir, db_url, &log, settings.workers, side)?;
    server.wait_ready(http, "/readyz", Duration::from_secs(120)).await?;
    let pid = server.pid();
    let graphql = server.url("/graphql");
    let ws_url = graphql.replacen("http", "ws", 1);
    // Warm: the room once over HTTP, then quiet, then the memory with no viewer.
    let _ = http
        .post(&graphql)
        .json(&json!({ "query": "query($id: ID!) { node(id: $id) { id } }", "variables": { "id": room } }))
        .send()
        .await;
    // kanjian's RSS settles about 2 s after it starts (start-up buffers handed back).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let rss0 = rss_bytes(pid).unwrap_or(0);

    println!("==> {}: {n} viewers connecting (batch {} ms, {} per viewer per second)", side.name, side.batch_ms, side.per_viewer);
    let shared = Arc::new(Shared::new(n)?);
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let opened_at = Instant::now();
    let handles: Vec<JoinHandle<()>> = (0..n)
        .map(|i| {
            let token = viewer_tokens.get(i).cloned();
            tokio::spawn(viewer(
                shared.clone(),
                i,
                ws_url.clone(),
                token,
                room.to_owned(),
                opening.clone(),
                i < settings.sampled,
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(90 + n as u64 / 50);
    while shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connected = shared.connected.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_connected = rss_bytes(pid).unwrap_or(0);
    println!(
        "    {connected} connected (no subscription yet): RSS {} MB, {:.1} KB per connection",
        mb(rss_connected),
        (rss_connected as f64 - rss0 as f64) / connected.max(1) as f64 / 1024.0
    );
    shared.subscribe.send_replace(true);
    while shared.opened.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_secs = opened_at.elapsed().as_secs_f64();
    let opened = shared.opened.load(Ordering::Relaxed);
    let failed = shared.failed.load(Ordering::Relaxed);
    println!("    {opened} open, {failed} failed, in {open_secs:.1} s");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu_a = crate::load::cpu_seconds(pid).unwrap_or(0.0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_cores = (crate::load::cpu_seconds(pid).unwrap_or(0.0) - cpu_a) / 3.0;
    let rss_idle = rss_bytes(pid).unwrap_or(0);
    let idle = Idle {
        side,
        n,
        opened,
        failed,
        open_secs,
        rss0,
        rss_connected,
        connected,
        rss_idle,
        idle_cores,
        load: load_average().unwrap_or(f64::NAN),
        error: shared.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
    };
    println!(
        "    RSS {} MB with none, {} MB with {opened} idle: {:.1} KB per connection; idle server {:.2} cores",
        mb(rss0),
        mb(rss_idle),
        (rss_idle as f64 - rss0 as f64) / opened.max(1) as f64 / 1024.0,
        idle_cores
    );

    let mut loaded = Vec::new();
    let mut fell_over: Option<String> = None;
    for &rate in &settings.rates {
        if let Some(why) = &fell_over {
            println!("    skipping {rate}/s: {why}");
            continue;
        }
        let result = load_phase(settings, http, &graphql, pid, &shared, side, n, rate, room, creator, commenter_tokens).await;
        fell_over = result.fell_over.clone();
        println!(
            "    {rate}/s: {} accepted/s; per viewer {:.1} msgs/s (max {:.1}), {:.1} comments/s (max {:.1}); creator {} sent, {} missed; p50 {} ms p99 {} ms; server {:.2} cores, {} MB; closed 4008 {}, other {}; load {:.1}",
            per_sec(result.accepted as f64 / result.seconds),
            result.messages.mean,
            result.messages.max,
            result.comments.mean,
            result.comments.max,
            result.priority_sent,
            result.priority_missed,
            ms(result.p50_ms),
            ms(result.p99_ms),
            result.server_cores,
            mb(result.rss_max),
            result.closed_slow,
            result.closed_other + result.broken,
            result.load,
        );
        for e in &result.errors {
            println!("      first error: {}", e.chars().take(300).collect::<String>());
        }
        loaded.push(result);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    for h in &handles {
        h.abort();
    }
    for h in handles {
        let _ = h.await;
    }
    server.stop();
    Ok((idle, loaded))
}

#[allow(clippy::too_many_arguments)]
async fn load_phase(
    settings: &FanoutSettings,
    http: &reqwest::Client,
    graphql: &str,
    pid: u32,
    shared: &Arc<Shared>,
    side: Side,
    n: usize,
    rate: u32,
    room: &str,
    creator: &str,
    commenter_tokens: &Arc<Vec<String>>,
) -> Loaded {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(settings.warmup);
    let stop = measure_from + Duration::from_secs(settings.seconds);
    let sending = tokio::spawn(commenters(
        http.clone(),
        graphql.to_owned(),
        commenter_tokens.clone(),
        room.to_owned(),
        rate,
        measure_from,
        stop,
    ));
    let lane = tokio::spawn(creator_lane(
        http.clone(),
        graphql.to_owned(),
        creator.to_owned(),
        room.to_owned(),
        measure_from,
        stop,
    ));
    // The window: from measure_from to stop; memory watched all along.
    let mut rss_max = 0;
    let mut fell_over = None;
    let mut before = None;
    let mut after = None;
    let (mut cpu0, mut client0, mut t0) = (0.0, 0.0, Instant::now());
    let (mut cpu1, mut client1, mut t1) = (0.0, 0.0, Instant::now());
    let me = std::process::id();
    let drops0 = [
        shared.closed_slow.load(Ordering::Relaxed),
        shared.closed_other.load(Ordering::Relaxed) + shared.ended.load(Ordering::Relaxed),
        shared.broken.load(Ordering::Relaxed),
    ];
    loop {
        let now = Instant::now();
        if before.is_none() && now >= measure_from {
            shared.measuring.store(true, Ordering::Relaxed);
            before = Some(shared.snapshot());
            (cpu0, client0, t0) = (crate::load::cpu_seconds(pid).unwrap_or(0.0), crate::load::cpu_seconds(me).unwrap_or(0.0), now);
        }
        if now >= stop {
            after = Some(shared.snapshot());
            shared.measuring.store(false, Ordering::Relaxed);
            (cpu1, client1, t1) = (crate::load::cpu_seconds(pid).unwrap_or(0.0), crate::load::cpu_seconds(me).unwrap_or(0.0), now);
            break;
        }
        match rss_bytes(pid) {
            Some(rss) => {
                rss_max = rss_max.max(rss);
                if rss > RSS_CAP_BYTES {
                    fell_over = Some(format!("kanjian grew past {} MB", RSS_CAP_BYTES >> 20));
                    break;
                }
            }
            None => {
                fell_over = Some("kanjian exited".into());
                break;
            }
        }
        if shared.gone() >= n {
            fell_over = Some("every viewer was disconnected".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if after.is_none() {
        after = Some(shared.snapshot());
        shared.measuring.store(false, Ordering::Relaxed);
        (cpu1, client1, t1) = (crate::load::cpu_seconds(pid).unwrap_or(cpu0), crate::load::cpu_seconds(me).unwrap_or(0.0), Instant::now());
    }
    let load = load_average().unwrap_or(f64::NAN);
    if fell_over.is_some() {
        // Stop the server now; the senders then fail fast.
        let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    let sent = sending.await.unwrap_or_default();
    let prio = lane.await.unwrap_or_default();
    // The last batches on their way: wait until the viewers' count of the creator's comments
    // has not moved for 2 s (at least 1.5 s, at most 30 s after the window).
    let drain_from = Instant::now();
    let priority_seen = |s: &Shared| s.stats.iter().map(|v| v.priority.load(Ordering::Relaxed)).sum::<u64>();
    let (mut last, mut still_since) = (priority_seen(shared), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let seen = priority_seen(shared);
        if seen != last {
            (last, still_since) = (seen, Instant::now());
        }
        let waited = drain_from.elapsed();
        if (waited >= Duration::from_millis(1500) && still_since.elapsed() >= Duration::from_secs(2))
            || waited >= Duration::from_secs(30)
        {
            break;
        }
    }
    let drain_secs = drain_from.elapsed().as_secs_f64();
    let drained = shared.snapshot();
    let before = before.unwrap_or_else(|| vec![[0; 3]; n]);
    let after = after.unwrap_or_else(|| shared.snapshot());
    let secs = if t1 > t0 { (t1 - t0).as_secs_f64() } else { settings.seconds as f64 };
    let gone = shared.gone();
    // Viewers still open: those whose counters moved after the window or who are not gone. The
    // per-viewer figures are over every viewer that opened (a closed one counts its own).
    let mut messages = Vec::with_capacity(n);
    let mut comments = Vec::with_capacity(n);
    let priority_sent = prio.accepted.load(Ordering::Relaxed);
    let (mut missed, mut viewers_missing) = (0, 0);
    for i in 0..n {
        messages.push((after[i][0] - before[i][0]) as f64 / secs);
        comments.push((after[i][1] - before[i][1]) as f64 / secs);
        let got = drained[i][2] - before[i][2];
        if got < priority_sent {
            missed += priority_sent - got;
            viewers_missing += 1;
        }
    }
    let lat = shared.latency.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let plat = shared.priority_latency.lock().unwrap_or_else(|e| e.into_inner()).clone();
    shared.latency.lock().unwrap_or_else(|e| e.into_inner()).reset();
    shared.priority_latency.lock().unwrap_or_else(|e| e.into_inner()).reset();
    let q = |h: &Histogram<u64>, q: f64| if h.is_empty() { f64::NAN } else { h.value_at_quantile(q) as f64 / 1000.0 };
    let mut errors = Vec::new();
    for e in [
        sent.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        prio.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        shared.first_error.lock().unwrap_or_else(|e| e.into_inner()).take(),
    ]
    .into_iter()
    .flatten()
    {
        errors.push(e);
    }
    Loaded {
        side,
        n,
        rate,
        seconds: secs,
        attempted: sent.attempted.load(Ordering::Relaxed),
        accepted: sent.accepted.load(Ordering::Relaxed),
        refused: sent.refused.load(Ordering::Relaxed),
        failed: sent.failed.load(Ordering::Relaxed),
        skipped: sent.skipped.load(Ordering::Relaxed),
        messages: spread(&messages),
        comments: spread(&comments),
        priority_sent,
        priority_missed: missed,
        viewers_missing,
        p50_ms: q(&lat, 0.5),
        p99_ms: q(&lat, 0.99),
        samples: lat.len(),
        prio_p50_ms: q(&plat, 0.5),
        prio_p99_ms: q(&plat, 0.99),
        server_cores: (cpu1 - cpu0) / secs,
        client_cores: (client1 - client0) / secs,
        rss_max,
        closed_slow: shared.closed_slow.load(Ordering::Relaxed) - drops0[0],
        closed_other: shared.closed_other.load(Ordering::Relaxed) + shared.ended.load(Ordering::Relaxed) - drops0[1],
        broken: shared.broken.load(Ordering::Relaxed) - drops0[2],
        open_after: n.saturating_sub(gone).saturating_sub(shared.failed.load(Ordering::Relaxed)),
        fell_over,
        load,
        errors,
        drain_secs,
    }
}

fn tables(settings: &FanoutSettings, idles: &[Idle], loads: &[Loaded]) -> (Vec<Table>, Vec<String>) {
    let mut memory = Table::new(
        "hot room: memory per viewer connection (kanjian's RSS, idle room, each side on a fresh kanjian)",
        &["side", "viewers", "opened", "failed", "open s", "RSS 0 conns MB", "RSS N connected MB", "RSS N subscribed MB", "KB per conn", "of it: connection", "of it: subscription", "idle server cores", "load 1m"],
    );
    for i in idles {
        memory.row(vec![
            i.side.name.into(),
            i.n.to_string(),
            i.opened.to_string(),
            i.failed.to_string(),
            format!("{:.1}", i.open_secs),
            mb(i.rss0),
            mb(i.rss_connected),
            mb(i.rss_idle),
            format!("{:.1}", (i.rss_idle as f64 - i.rss0 as f64) / i.opened.max(1) as f64 / 1024.0),
            format!("{:.1}", (i.rss_connected as f64 - i.rss0 as f64) / i.connected.max(1) as f64 / 1024.0),
            format!("{:.1}", (i.rss_idle as f64 - i.rss_connected as f64) / i.opened.max(1) as f64 / 1024.0),
            format!("{:.2}", i.idle_cores),
            format!("{:.1}", i.load),
        ]);
    }
    memory.note("KB per conn = (RSS with N open, idle − RSS of the same fresh kanjian before any viewer) / N: the WebSocket, its subscription, the viewer's place in the room's feed, allocator slack");
    memory.note("of it: connection = (RSS with N connected past connection_init, none subscribed − RSS before) / N; subscription = (RSS once all N subscribed − RSS connected) / N");
    for i in idles.iter().filter(|i| i.error.is_some()) {
        memory.note(format!("{} {}: first viewer error: {}", i.side.name, i.n, i.error.as_deref().unwrap_or_default()));
    }

    let mut table = Table::new(
        format!(
            "hot room: fan-out of comments, coalesced (batch 150 ms, 20/viewer/s) vs uncoalesced baseline (batch 10 ms, 100000/viewer/s); {} commenters, creator 1/s, {} s after {} s warm-up",
            settings.commenters, settings.seconds, settings.warmup
        ),
        &[
            "side", "viewers", "rate/s", "accepted/s", "msgs/viewer/s", "max", "comments/viewer/s", "max",
            "creator sent", "creator missed", "p50 ms", "p99 ms", "latency samples", "creator p50 ms", "creator p99 ms", "server cores", "server RSS MB",
            "client cores", "closed 4008", "other drops", "open at end", "load 1m",
        ],
    );
    let row = |l: &Loaded| -> Vec<String> {
        vec![
            l.side.name.into(),
            l.n.to_string(),
            l.rate.to_string(),
            per_sec(l.accepted as f64 / l.seconds),
            format!("{:.1}", l.messages.mean),
            format!("{:.1}", l.messages.max),
            format!("{:.1}", l.comments.mean),
            format!("{:.1}", l.comments.max),
            l.priority_sent.to_string(),
            format!("{} ({} viewers; waited {:.1} s)", l.priority_missed, l.viewers_missing, l.drain_secs),
            ms(l.p50_ms),
            ms(l.p99_ms),
            l.samples.to_string(),
            ms(l.prio_p50_ms),
            ms(l.prio_p99_ms),
            format!("{:.2}", l.server_cores),
            mb(l.rss_max),
            format!("{:.2}", l.client_cores),
            l.closed_slow.to_string(),
            (l.closed_other + l.broken).to_string(),
            l.open_after.to_string(),
            format!("{:.1}", l.load),
        ]
    };
    let mut falls = Vec::new();
    for &n in &settings.viewers {
        for &rate in &settings.rates {
            let c = loads.iter().find(|l| l.n == n && l.rate == rate && l.side.name == "coalesced");
            let u = loads.iter().find(|l| l.n == n && l.rate == rate && l.side.name == "uncoalesced");
            for l in [c, u].into_iter().flatten() {
                table.row(row(l));
                if let Some(why) = &l.fell_over {
                    falls.push(format!("{} {n} viewers at {rate}/s fell over: {why}", l.side.name));
                }
                if l.skipped > 0 || l.failed > 0 || l.refused > 0 {
                    falls.push(format!(
                        "{} {n} viewers at {rate}/s: of {} sends, {} accepted, {} refused, {} failed, {} skipped (all {SENDS_IN_FLIGHT} in flight){}",
                        l.side.name, l.attempted, l.accepted, l.refused, l.failed, l.skipped,
                        l.errors.first().map(|e| format!("; first error: {}", e.chars().take(200).collect::<String>())).unwrap_or_default()
                    ));
                }
            }
            if let (Some(c), Some(u)) = (c, u) {
                table.row(vec![
                    "ratio coalesced/uncoalesced".into(),
                    n.to_string(),
                    rate.to_string(),
                    ratio(c.accepted as f64, u.accepted as f64),
                    ratio(c.messages.mean, u.messages.mean),
                    ratio(c.messages.max, u.messages.max),
                    ratio(c.comments.mean, u.comments.mean),
                    ratio(c.comments.max, u.comments.max),
                    String::new(),
                    String::new(),
                    ratio(c.p50_ms, u.p50_ms),
                    ratio(c.p99_ms, u.p99_ms),
                    String::new(),
                    ratio(c.prio_p50_ms, u.prio_p50_ms),
                    ratio(c.prio_p99_ms, u.prio_p99_ms),
                    ratio(c.server_cores, u.server_cores),
                    ratio(c.rss_max as f64, u.rss_max as f64),
                    ratio(c.client_cores, u.client_cores),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
        }
    }
    table.note("accepted/s: sendLiveComment answered with its comment, sent open-loop at the rate (round-robin over the commenters, at most 512 in flight; a send due while all are in flight is skipped and counted below)");
    table.note("msgs and comments per viewer per second: WebSocket `next` messages and the comments in them, mean and max over all N viewers in the measured window (a viewer closed early counts what it got)");
    table.note("creator missed: the creator's comments (1/s, the priority lane) accepted in the window that a viewer never got, summed over viewers; in brackets the viewers missing at least one, and how long after the window the bench waited for late ones (until no viewer got one of the creator's comments for 2 s, at most 30 s)");
    table.note(format!("p50/p99: send → receive of other people's comments, read by the first {} viewers (same clock: the text carries the send time); creator p99: the same for the creator's comments, read by every viewer", settings.sampled));
    table.note("server cores / client cores: CPU seconds per second of kanjian and of this process (the commenters and all N viewers) in the window; server RSS: the most seen during warm-up and window");
    table.note("closed 4008: viewers kanjian closed as too slow (its queue of 256 messages full for 3 s); other drops: other closes, errors and ended streams. The client shares the 2 cores: a viewer this process cannot read fast enough is closed as slow too");
    for f in falls {
        table.note(f);
    }
    let settings_lines = vec![format!(
        "fan-out: viewers {}; rates {}/s; {} commenters, {} signed-in viewers (the rest signed out), the creator 1/s; {} s warm-up + {} s measured per rate; SQLite; the room put LIVE in kanjian's database (no RTMP publisher); per-user comment limit off (`KANJIAN_LIVE__COMMENTS_PER_USER=[]`), WebSocket connections per user/IP raised",
        settings.viewers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        settings.rates.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        settings.commenters,
        settings.signed_in,
        settings.warmup,
        settings.seconds,
    )];
    (vec![memory, table], settings_lines)
}

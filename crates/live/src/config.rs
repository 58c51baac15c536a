//! The `[live]` section of the server's config.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::ingest::IngestConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LiveConfig {
    /// What creators paste into OBS as the server, e.g. `rtmp://live.example:1935/live`.
    /// Default: the host of `http.public_url` with the ingest port.
    pub rtmp_public_url: Option<String>,
    /// The RTMP listener inside `kanjian` (`[live.ingest]`). Its port is the one creators are
    /// shown unless `rtmp_public_url` says otherwise.
    pub ingest: IngestConfig,
    /// Whether this node takes RTMP publishers (every node serves every room either way).
    pub ingest_enabled: bool,
    /// How long a LIVE room waits for its publisher to come back after the connection drops,
    /// in seconds. See the crate README for why 60.
    pub reconnect_grace_secs: u64,
    /// How often a node looks for rooms whose grace ran out, or whose publisher went silent, in
    /// milliseconds: a room ends at most this late.
    pub grace_check_ms: u64,
    /// Most characters (grapheme clusters) in a live comment.
    pub comment_max_chars: usize,
    /// Comments one person may send, over every room and node: each `{ max, window_secs }`
    /// (`kanjian_db::rate_limit`). Default: 11 per 30 s, as Channels allows.
    pub comments_per_user: Vec<kanjian_db::Rate>,
    /// Likes (taps) one person may send, as above. Default: 300 per 30 s.
    pub likes_per_user: Vec<kanjian_db::Rate>,
    /// How often a node sends its viewers what arrived (comments, counts), in milliseconds.
    pub comment_batch_ms: u64,
    /// About how many viewers' comments one viewer receives per second in a busy room (the
    /// creator's, moderators' and their own come on top).
    pub comments_per_viewer_per_second: u32,
    /// How often a node writes its likes and refreshes viewer counts, in milliseconds.
    pub counts_interval_ms: u64,
    /// How people reach the server (links in reminders). Set from `http.public_url` when the
    /// module is built.
    pub public_url: String,
    /// Replays are joined in work folders under `<data_dir>/tmp` (rooms' files are in the blob
    /// store). Set from the top-level `data_dir`.
    pub data_dir: PathBuf,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            rtmp_public_url: None,
            ingest: IngestConfig::default(),
            ingest_enabled: true,
            reconnect_grace_secs: 60,
            grace_check_ms: 1_000,
            comment_max_chars: 200,
            comments_per_user: vec![kanjian_db::Rate::new(11, 30)],
            likes_per_user: vec![kanjian_db::Rate::new(300, 30)],
            comment_batch_ms: 150,
            comments_per_viewer_per_second: 20,
            counts_interval_ms: 1_000,
            public_url: "http://127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
        }
    }
}

impl LiveConfig {
    pub fn reconnect_grace(&self) -> Duration {
        Duration::from_secs(self.reconnect_grace_secs)
    }

    /// The RTMP server URL creators are shown (without the key): `rtmp_public_url`, or the
    /// public URL's host with the port the ingest listens on (`bound`, once it listens).
    pub fn rtmp_server_url(&self, bound: Option<SocketAddr>) -> String {
        if let Some(url) = &self.rtmp_public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = url::Url::parse(&self.public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "127.0.0.1".into());
        let port = bound.map_or(self.ingest.listen.port(), |a| a.port());
        format!("rtmp://{host}:{port}/{}", crate::broadcast::APP)
    }
}

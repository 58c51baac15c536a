//! The `[live]` section of the server's config.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LiveConfig {
    /// What creators paste into OBS as the server, e.g. `rtmp://live.example:1935/live`.
    /// Default: the host of `http.public_url` with the ingest port.
    pub rtmp_public_url: Option<String>,
    /// The RTMP port creators push to, for the default `rtmp_public_url`.
    pub rtmp_port: u16,
    /// How long a LIVE room waits for its publisher to come back after the connection drops,
    /// in seconds. See the crate README for why 60.
    pub reconnect_grace_secs: u64,
    /// How people reach the server (links in reminders). Set from `http.public_url` when the
    /// module is built.
    pub public_url: String,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            rtmp_public_url: None,
            rtmp_port: 1935,
            reconnect_grace_secs: 60,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

impl LiveConfig {
    pub fn reconnect_grace(&self) -> Duration {
        Duration::from_secs(self.reconnect_grace_secs)
    }

    /// The RTMP server URL creators are shown (without the key).
    pub fn rtmp_server_url(&self) -> String {
        if let Some(url) = &self.rtmp_public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = url::Url::parse(&self.public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "127.0.0.1".into());
        format!("rtmp://{host}:{}/live", self.rtmp_port)
    }
}

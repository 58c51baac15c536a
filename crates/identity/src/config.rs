use serde::Deserialize;

/// The `[identity]` section of the server config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IdentityConfig {
    /// How long a session token stays valid after log-in.
    pub session_ttl_days: i64,
    /// Failed log-ins allowed for one email within the window; more are `RATE_LIMITED` until
    /// the oldest of them leaves the window. A successful log-in clears the email's count.
    pub login_max_failures: u32,
    /// The sliding window of the log-in limits, in seconds.
    pub login_failure_window_secs: i64,
    /// Failed log-ins allowed from one IP address within the window (any emails).
    pub login_max_failures_per_ip: u32,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            session_ttl_days: 30,
            login_max_failures: 5,
            login_failure_window_secs: 900,
            login_max_failures_per_ip: 30,
        }
    }
}

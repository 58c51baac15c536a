use kanjian_db::Rate;
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
    /// Sign-ups from one client address (`kanjian_db::rate_limit`, shared by every node): each
    /// `{ max, window_secs }` lets `max` through at once and refills one every
    /// `window_secs / max`. Counted once the input is valid, taken email or not. Empty: no limit.
    pub sign_ups_per_ip: Vec<Rate>,
    /// How long an email verification link works.
    pub email_verification_ttl_hours: i64,
    /// How long a password reset link works (also shown in the mail).
    pub password_reset_ttl_minutes: u32,
    /// The sliding window of the mail request limits below, in seconds.
    pub mail_request_window_secs: i64,
    /// Verification mails one account may get within the window, the one sent at sign-up
    /// included (0 disables the limit).
    pub email_verification_max_requests: u32,
    /// Password reset requests for one email within the window, whether or not it has an
    /// account (0 disables).
    pub password_reset_max_per_email: u32,
    /// Password reset requests from one IP address within the window, any emails (0 disables).
    pub password_reset_max_per_ip: u32,
    /// The language of identity's mail (`zh-CN` or `en`; see notify's templates). Users have no
    /// language of their own yet.
    pub mail_locale: String,
    /// How people reach this server, for the links in mail (`<public_url>/verify-email?token=…`,
    /// `<public_url>/reset-password?token=…`). Not read from the `[identity]` section: the
    /// module takes the server's `http.public_url` when it is built.
    #[serde(skip)]
    pub public_url: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            session_ttl_days: 30,
            login_max_failures: 5,
            login_failure_window_secs: 900,
            login_max_failures_per_ip: 30,
            sign_ups_per_ip: vec![Rate::new(5, 3600)],
            email_verification_ttl_hours: 24,
            password_reset_ttl_minutes: 30,
            mail_request_window_secs: 3600,
            email_verification_max_requests: 5,
            password_reset_max_per_email: 3,
            password_reset_max_per_ip: 20,
            mail_locale: "zh-CN".into(),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

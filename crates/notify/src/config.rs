//! The `[notify]` section of the server's config.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NotifyConfig {
    /// Without an SMTP host, mail is written as `.eml` files into `data_dir/mail`. Set from the
    /// top-level `data_dir` when the module is built.
    pub data_dir: PathBuf,
    /// How people reach the server: unsubscribe links are `<public_url>/unsubscribe?token=…`.
    /// Set from `http.public_url` when the module is built. Mail clients honour one-click unsubscribe only
    /// over `https`.
    pub public_url: String,
    /// The `From` of every mail.
    pub from_address: String,
    /// The display name beside it.
    pub from_name: String,
    pub smtp: SmtpConfig,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            public_url: "http://127.0.0.1:8080".into(),
            from_address: "no-reply@kanjian.localhost".into(),
            from_name: "Kanjian 看见".into(),
            smtp: SmtpConfig::default(),
        }
    }
}

impl NotifyConfig {
    /// Where the file transport writes.
    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }
}

/// `[notify.smtp]`: a relay to send through. Without `host`, mail goes to files instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    pub host: Option<String>,
    /// Defaults to 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub port: Option<u16>,
    pub tls: SmtpTls,
    /// Log in with these when both are set.
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// Connecting and each command, in seconds.
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self { host: None, port: None, tls: SmtpTls::Starttls, username: None, password: None, timeout_secs: 30 }
    }
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (submission, port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption at all: only for a test server on this machine.
    None,
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn missing_settings_take_their_defaults_and_the_password_stays_secret() {
        let c: NotifyConfig = serde_json::from_str(
            r#"{"public_url": "https://kanjian.example",
                "smtp": {"host": "smtp.example.com", "tls": "tls", "username": "u", "password": "hunter2"}}"#,
        )
        .unwrap();
        assert_eq!(c.public_url, "https://kanjian.example");
        assert_eq!(c.from_address, "no-reply@kanjian.localhost");
        assert_eq!(c.smtp.tls, SmtpTls::Tls);
        assert_eq!(c.smtp.port(), 465);
        assert_eq!(c.smtp.timeout_secs, 30);
        assert_eq!(c.smtp.password.as_ref().unwrap().expose_secret(), "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.mail_dir(), PathBuf::from("./data/mail"));

        let d: NotifyConfig = serde_json::from_str("{}").unwrap();
        assert!(d.smtp.host.is_none());
        assert_eq!((d.smtp.tls, d.smtp.port()), (SmtpTls::Starttls, 587));
        let none: SmtpConfig = serde_json::from_str(r#"{"tls": "none"}"#).unwrap();
        assert_eq!(none.port(), 25);
    }
}

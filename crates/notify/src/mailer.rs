//! Putting a rendered mail in an envelope and handing it to lettre: SMTP when a host is
//! configured, otherwise lettre's file transport (`.eml` files in `data_dir/mail`). Failures
//! come back sorted into what a retry may fix and what it cannot.

use std::time::Duration;

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{NotifyConfig, SmtpTls};
use crate::templates::Rendered;

/// Why a mail did not go out.
#[derive(Debug)]
pub enum SendError {
    /// Worth trying again later: the server is down or busy, a 4xx reply, a network error.
    Transient(anyhow::Error),
    /// Trying again cannot help: the server refused the recipient or the message (5xx).
    Permanent(anyhow::Error),
}

/// `List-Unsubscribe: <https://…>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): a POST to the link
/// unsubscribes without further questions.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// One mail to build.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub to: &'a Address,
    /// Without the angle brackets: `hex@domain`.
    pub message_id: &'a str,
    pub unsubscribe_url: Option<&'a str>,
    pub content: &'a Rendered,
}

/// Where mail goes. Built once from the config; a config that cannot work (a bad `From`, TLS
/// set-up failing) is kept as the reason every send fails, so the service still starts and
/// the mails wait, retried, until the config is fixed.
pub enum Mailer {
    Smtp { from: Mailbox, transport: AsyncSmtpTransport<Tokio1Executor> },
    File { from: Mailbox, dir: std::path::PathBuf, transport: AsyncFileTransport<Tokio1Executor> },
    Broken(String),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { from, .. } => f.debug_struct("Mailer::Smtp").field("from", from).finish_non_exhaustive(),
            Self::File { from, dir, .. } => {
                f.debug_struct("Mailer::File").field("from", from).field("dir", dir).finish_non_exhaustive()
            }
            Self::Broken(why) => f.debug_tuple("Mailer::Broken").field(why).finish(),
        }
    }
}

impl Mailer {
    pub fn from_config(config: &NotifyConfig) -> Self {
        match Self::try_from_config(config) {
            Ok(mailer) => mailer,
            Err(why) => {
                tracing::error!(error = %why, "the [notify] mail settings cannot work; mail waits until they are fixed");
                Self::Broken(why)
            }
        }
    }

    fn try_from_config(config: &NotifyConfig) -> Result<Self, String> {
        let address: Address =
            config.from_address.trim().parse().map_err(|e| format!("from_address {:?}: {e}", config.from_address))?;
        let name = config.from_name.trim();
        let from = Mailbox::new((!name.is_empty()).then(|| name.to_owned()), address);
        let smtp = &config.smtp;
        let Some(host) = smtp.host.as_deref().map(str::trim).filter(|h| !h.is_empty()) else {
            let dir = config.mail_dir();
            let transport = AsyncFileTransport::<Tokio1Executor>::new(&dir);
            return Ok(Self::File { from, dir, transport });
        };
        let builder = match smtp.tls {
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| format!("STARTTLS to {host}: {e}"))?,
            SmtpTls::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| format!("TLS to {host}: {e}"))?
            }
            SmtpTls::None => {
                tracing::warn!(host, "SMTP without TLS: only for a test server on this machine");
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            }
        };
        let mut builder = builder.port(smtp.port()).timeout(Some(Duration::from_secs(smtp.timeout_secs.max(1))));
        match (&smtp.username, &smtp.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
            }
            (None, None) => {}
            _ => return Err("smtp.username and smtp.password go together".into()),
        }
        Ok(Self::Smtp { from, transport: builder.build() })
    }

    /// The domain of the `From` address (Message-IDs end in it).
    pub fn sender_domain(&self) -> &str {
        match self {
            Self::Smtp { from, .. } | Self::File { from, .. } => from.email.domain(),
            Self::Broken(_) => "kanjian.invalid",
        }
    }

    pub fn build(&self, envelope: &Envelope<'_>) -> Result<Message, SendError> {
        let (Self::Smtp { from, .. } | Self::File { from, .. }) = self else {
            return Err(self.broken());
        };
        let mut builder = Message::builder()
            .from(from.clone())
            .to(Mailbox::new(None, envelope.to.clone()))
            .subject(envelope.content.subject.clone())
            .message_id(Some(format!("<{}>", envelope.message_id)));
        if let Some(url) = envelope.unsubscribe_url {
            builder = builder.header(ListUnsubscribe(url.to_owned())).header(ListUnsubscribePost);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(envelope.content.text.clone(), envelope.content.html.clone()))
            .map_err(|e| SendError::Permanent(anyhow::Error::new(e).context("building the message")))
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Self::Smtp { transport, .. } => transport.send(message).await.map(drop).map_err(classify_smtp),
            Self::File { dir, transport, .. } => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| SendError::Transient(anyhow::Error::new(e).context("creating the mail folder")))?;
                transport
                    .send(message)
                    .await
                    .map(drop)
                    .map_err(|e| SendError::Transient(anyhow::Error::new(e).context("writing the mail file")))
            }
            Self::Broken(_) => Err(self.broken()),
        }
    }

    fn broken(&self) -> SendError {
        let why = match self {
            Self::Broken(why) => why.as_str(),
            _ => "",
        };
        SendError::Transient(anyhow::anyhow!("the mail settings cannot work: {why}"))
    }
}

/// 5xx replies are final, except the ones about logging in (530, 534, 535, 538): those are our
/// configuration, which an operator fixes, after which the retry goes through. So are lettre's
/// client errors (the server offers no STARTTLS, no login mechanism we speak): the server or
/// the settings change, not the mail. 4xx replies, timeouts and connection failures may pass.
fn classify_smtp(e: lettre::transport::smtp::Error) -> SendError {
    let code = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
    let auth = matches!(code, Some(530 | 534 | 535 | 538));
    let permanent = e.is_permanent() && !auth;
    let e = anyhow::Error::new(e).context("sending through SMTP");
    if permanent { SendError::Permanent(e) } else { SendError::Transient(e) }
}

//! A real SMTP server for the tests (aiosmtpd with `smtp_sink.Sink`, see `smtp_sink.py`), and
//! reading back what it received. Shared with the system tests, which include this file by path
//! (`tests/system/support/lib.rs`): keep it free of anything notify-specific.
//!
//! aiosmtpd comes from PyPI (`scripts/lib.sh` `ensure_aiosmtpd`). When it is not importable the
//! support code installs it with pip, once. If that is impossible, a test that needs it fails
//! with `CI=true` and otherwise prints `SKIPPED` and passes.

use std::net::TcpStream;

use mail_parser::MimeHeaders;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn importable() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether aiosmtpd can be imported, installing it with pip the first time it cannot.
fn aiosmtpd_ready() -> Result<(), String> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            if importable() {
                return Ok(());
            }
            eprintln!("aiosmtpd is not installed: installing it with `python3 -m pip install --quiet aiosmtpd`");
            let installed = Command::new("python3").args(["-m", "pip", "install", "--quiet", "aiosmtpd"]).output();
            match installed {
                Ok(out) if out.status.success() && importable() => Ok(()),
                Ok(out) => Err(format!(
                    "aiosmtpd is not importable and pip could not install it: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => Err(format!("aiosmtpd is not importable and python3 could not run pip: {e}")),
            }
        })
        .clone()
}

/// `true` when the SMTP server can run. Otherwise: a failure under `CI=true`, a clear SKIPPED
/// line anywhere else.
pub fn smtp_available(test: &str) -> bool {
    match aiosmtpd_ready() {
        Ok(()) => true,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "{test}: needs a real SMTP server, and CI=true allows no skip: {why} (run scripts/test, which calls ensure_aiosmtpd)"
            )
        }
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            false
        }
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `python3 -m aiosmtpd` on 127.0.0.1, writing each message it accepts into `inbox`. Killed
/// when dropped (and with the test process, however that ends).
pub struct SmtpServer {
    child: Child,
    pub inbox: PathBuf,
}

impl SmtpServer {
    /// Starts on `port`, keeping messages in `inbox`; returns once it answers.
    pub fn start(port: u16, inbox: &Path) -> Self {
        std::fs::create_dir_all(inbox).unwrap();
        // The handler is compiled in and written beside the inbox, so this file also serves the
        // system tests (`tests/system/support/lib.rs` includes it by path).
        let support = inbox.with_extension(format!("{port}.sink"));
        std::fs::create_dir_all(&support).unwrap();
        std::fs::write(support.join("smtp_sink.py"), include_str!("smtp_sink.py")).unwrap();
        let log = inbox.with_extension(format!("{port}.log"));
        let mut command = Command::new("python3");
        command
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "smtp_sink.Sink"])
            .arg(inbox)
            .env("PYTHONPATH", &support)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = spawn(command);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("aiosmtpd exited ({status}): {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port} within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, inbox: inbox.to_owned() }
    }

    /// The messages received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        read_mails(&self.inbox, "eml")
    }

    /// Waits until `n` messages arrived, then returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mails = self.messages();
            if mails.len() >= n {
                return mails;
            }
            assert!(tokio::time::Instant::now() < deadline, "{} of {n} messages arrived", mails.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(target_os = "linux")]
fn spawn(command: Command) -> Child {
    ur_taking_me_with_you::spawn_dying_with_parent(command).unwrap()
}

#[cfg(not(target_os = "linux"))]
fn spawn(mut command: Command) -> Child {
    command.spawn().unwrap()
}

/// The files ending in `.{ext}` under `dir`, parsed, in name order.
pub fn read_mails(dir: &Path, ext: &str) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> =
        entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == ext)).collect();
    paths.sort();
    paths.iter().map(|p| Mail::parse(&std::fs::read(p).unwrap())).collect()
}

/// A received message, decoded (headers, both parts) by a real MIME parser.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from_name: Option<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub content_type: String,
    pub list_unsubscribe: Option<String>,
    pub list_unsubscribe_post: Option<String>,
    /// The `text/plain` part, decoded.
    pub text: Option<String>,
    /// The `text/html` part, decoded.
    pub html: Option<String>,
}

impl Mail {
    pub fn parse(raw: &[u8]) -> Self {
        let message = mail_parser::MessageParser::default().parse(raw).expect("a parseable message");
        let addr = |a: Option<&mail_parser::Address>| {
            let first = a.and_then(|a| a.first()).expect("an address");
            (first.name().map(str::to_owned), first.address().unwrap_or_default().to_owned())
        };
        let (from_name, from) = addr(message.from());
        let (_, to) = addr(message.to());
        let root = message.root_part().content_type().expect("a content type");
        let mut text = None;
        let mut html = None;
        for part in &message.parts {
            let Some(ct) = part.content_type() else { continue };
            match (ct.ctype(), ct.subtype()) {
                ("text", Some("plain")) => text = part.text_contents().map(str::to_owned),
                ("text", Some("html")) => html = part.text_contents().map(str::to_owned),
                _ => {}
            }
        }
        let raw_header = |name: &str| message.header_raw(name).map(|v| v.trim().to_owned());
        Self {
            from_name,
            from,
            to,
            subject: message.subject().unwrap_or_default().to_owned(),
            message_id: message.message_id().unwrap_or_default().to_owned(),
            content_type: format!("{}/{}", root.ctype(), root.subtype().unwrap_or_default()),
            list_unsubscribe: raw_header("List-Unsubscribe"),
            list_unsubscribe_post: raw_header("List-Unsubscribe-Post"),
            text,
            html,
        }
    }

    /// The token of the unsubscribe link in `List-Unsubscribe`.
    pub fn unsubscribe_token(&self) -> String {
        let header = self.list_unsubscribe.as_deref().expect("a List-Unsubscribe header");
        header.split("token=").nth(1).expect("a token in the link").trim_end_matches('>').to_owned()
    }
}

/// What a browser shows for the escapes minijinja writes.
pub fn unescape_html(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

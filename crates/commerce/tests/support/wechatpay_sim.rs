//! The WeChat Pay simulator as a separate process (`wechatpay-simulator`, built with this crate's
//! `wechatpay-simulator` feature), its control API, the adapter configured against it, and a
//! small webhook that receives its notifications and reads each with the adapter.
//!
//! The simulator is killed when its `Simulator` is dropped, and with the test process however
//! that ends (Linux: `PR_SET_PDEATHSIG`).

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kanjian_commerce::payments::provider::{IncomingNotification, Notification, NotificationRejected, PaymentProvider};
use kanjian_commerce::payments::wechatpay::{WechatPayConfig, WechatPayProvider};
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub const MCHID: &str = "1230000109";
pub const APPID: &str = "wxd678efh567hg6787";
pub const MERCHANT_SERIAL_NO: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
pub const API_V3_KEY: &str = "kanjian-test-apiv3-key-32-bytes!";

pub fn key_path(name: &str) -> String {
    format!("{}/tests/support/wechatpay/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn key(name: &str) -> String {
    std::fs::read_to_string(key_path(name)).unwrap()
}

/// A running simulator.
pub struct Simulator {
    child: Child,
    _dir: tempfile::TempDir,
    pub base_url: String,
    pub platform_public_key: String,
    pub platform_public_key_id: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Simulator {
    /// Starts one on a free port with a short retry schedule; returns once it listens.
    pub fn start() -> Self {
        Self::start_with(&["--retry-schedule-ms", "50,100,150"])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready.json");
        let log = dir.path().join("simulator.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_wechatpay-simulator"));
        command
            .args(["--listen", "127.0.0.1:0", "--mchid", MCHID, "--appid", APPID, "--merchant-serial-no", MERCHANT_SERIAL_NO])
            .args(["--merchant-public-key", &key_path("merchant_public_key.pem"), "--api-v3-key", API_V3_KEY])
            .arg("--ready-file")
            .arg(&ready)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = spawn(command);
        let deadline = Instant::now() + Duration::from_secs(60);
        let info: Value = loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the simulator exited ({status}): {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            if let Ok(text) = std::fs::read_to_string(&ready) {
                break serde_json::from_str(&text).unwrap();
            }
            assert!(Instant::now() < deadline, "the simulator did not start within 60 s: {}", std::fs::read_to_string(&log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(20));
        };
        Self {
            child,
            _dir: dir,
            base_url: info["base_url"].as_str().unwrap().to_owned(),
            platform_public_key: info["platform_public_key"].as_str().unwrap().to_owned(),
            platform_public_key_id: info["platform_public_key_id"].as_str().unwrap().to_owned(),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    /// The adapter, configured as a merchant of this simulator would configure it.
    pub fn config(&self) -> WechatPayConfig {
        WechatPayConfig {
            mchid: MCHID.into(),
            appid: APPID.into(),
            merchant_serial_no: MERCHANT_SERIAL_NO.into(),
            merchant_private_key: key("merchant_private_key.pem").into(),
            api_v3_key: API_V3_KEY.into(),
            platform_public_key: self.platform_public_key.clone(),
            platform_public_key_id: self.platform_public_key_id.clone(),
            base_url: self.base_url.clone(),
            timeout_secs: 5,
            ..WechatPayConfig::default()
        }
    }

    pub fn provider(&self) -> Arc<WechatPayProvider> {
        Arc::new(WechatPayProvider::new(self.config()).unwrap())
    }

    /// A control call (`/_sim/…`): its status and JSON answer.
    pub async fn control(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_url))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default())))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A control call that must succeed.
    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.control(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer
    }

    /// Marks an order paid, with `fault` on its notification: (transaction_id, notification id).
    pub async fn pay(&self, out_trade_no: &str, fault: Value) -> (String, String) {
        let answer = self.ok("POST", &format!("/_sim/orders/{out_trade_no}/pay"), Some(json!({ "fault": fault }))).await;
        (answer["transaction_id"].as_str().unwrap().to_owned(), answer["notification_id"].as_str().unwrap().to_owned())
    }

    pub async fn order(&self, out_trade_no: &str) -> Value {
        self.ok("GET", &format!("/_sim/orders/{out_trade_no}"), None).await
    }

    pub async fn notifications(&self) -> Vec<Value> {
        self.ok("GET", "/_sim/notifications", None).await.as_array().unwrap().clone()
    }

    pub async fn deliveries_of(&self, notification_id: &str) -> Vec<Value> {
        let all = self.ok("GET", "/_sim/deliveries", None).await;
        all.as_array().unwrap().iter().filter(|d| d["notification_id"] == notification_id).cloned().collect()
    }

    /// Waits until the notification is in `state` (the simulator's record).
    pub async fn wait_notification_state(&self, id: &str, state: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let all = self.notifications().await;
            let current = all.iter().find(|n| n["id"] == id).map(|n| n["state"].clone());
            if current.as_ref().and_then(Value::as_str) == Some(state) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "notification {id} is {current:?}, not {state}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Simulator {
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

/// A notification as it reached the webhook, and what the adapter made of it.
#[derive(Debug)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub parsed: Result<Notification, NotificationRejected>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn ok(self) -> Notification {
        match self.parsed {
            Ok(n) => n,
            Err(e) => panic!("the notification was rejected ({e}): {}", String::from_utf8_lossy(&self.body)),
        }
    }
}

/// The merchant's webhook: reads every notification with the adapter, answers as the server's
/// webhook does (the acknowledgement when believed, 401 or 400 when not), and hands each over.
pub struct Webhook {
    pub url: String,
    received: mpsc::UnboundedReceiver<Received>,
    server: actix_web::dev::ServerHandle,
}

impl Webhook {
    pub fn start(provider: Arc<WechatPayProvider>) -> Self {
        let (tx, received) = mpsc::unbounded_channel();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/payments/notify/wechatpay", listener.local_addr().unwrap());
        let state = web::Data::new((provider, tx));
        let server = HttpServer::new(move || {
            App::new().app_data(state.clone()).route(
                "/payments/notify/wechatpay",
                web::post().to(
                    |state: web::Data<(Arc<WechatPayProvider>, mpsc::UnboundedSender<Received>)>, req: HttpRequest, body: web::Bytes| async move {
                        let headers: Vec<(String, String)> = req
                            .headers()
                            .iter()
                            .map(|(n, v)| (n.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_owned()))
                            .collect();
                        let (provider, tx) = &**state;
                        let parsed = provider.parse_notification(IncomingNotification { headers: &headers, body: &body }, chrono::Utc::now());
                        let status = match &parsed {
                            Ok(_) => provider.acknowledgement().0,
                            Err(NotificationRejected::Malformed(_)) => 400,
                            Err(_) => 401,
                        };
                        let _ = tx.send(Received { headers, body: body.to_vec(), parsed, at: Instant::now() });
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
                    },
                ),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url, received, server: handle }
    }

    /// The next notification to arrive (20 s at most).
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(20), self.received.recv())
            .await
            .expect("a notification within 20 s")
            .expect("the webhook is running")
    }

    /// What has arrived and not been taken yet.
    pub fn pending(&mut self) -> Option<Received> {
        self.received.try_recv().ok()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let handle = self.server.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

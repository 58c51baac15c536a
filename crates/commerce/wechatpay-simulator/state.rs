//! What the simulator keeps in memory: orders, refunds, notifications, what was delivered, and
//! the faults it was told to inject.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::crypto::{MerchantKey, PlatformKey};

pub struct Settings {
    pub mchid: String,
    pub appid: String,
    pub merchant_serial_no: String,
    pub api_v3_key: [u8; 32],
    pub platform_key_id: String,
    pub retry_schedule: Vec<Duration>,
    pub delivery_timeout: Duration,
    pub request_window_secs: i64,
}

pub struct Sim {
    pub settings: Settings,
    pub merchant: MerchantKey,
    pub platform: PlatformKey,
    state: Mutex<State>,
    pub outbox: UnboundedSender<Outgoing>,
}

impl Sim {
    pub fn new(settings: Settings, merchant: MerchantKey, platform: PlatformKey, outbox: UnboundedSender<Outgoing>) -> Self {
        Self { settings, merchant, platform, state: Mutex::new(State::default()), outbox }
    }

    /// The state, even after a panic elsewhere (a test double keeps answering).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
pub struct State {
    pub orders: HashMap<String, Order>,
    pub refunds: HashMap<String, Refund>,
    pub api_faults: ApiFaults,
    /// Applied to every notification made while set.
    pub all_notifications: Option<Fault>,
    /// Applied to the next notifications made, one each.
    pub next_notifications: VecDeque<Fault>,
    pub refund_behaviour: RefundBehaviour,
    pub notifications: Vec<NotificationRecord>,
    pub held: Vec<Outgoing>,
    pub deliveries: Vec<DeliveryRecord>,
}

impl State {
    /// The fault of a notification about to be made: the one given for it, else the next queued
    /// one, else the global one.
    pub fn fault_for(&mut self, given: Option<Fault>) -> Fault {
        given.or_else(|| self.next_notifications.pop_front()).or_else(|| self.all_notifications.clone()).unwrap_or_default()
    }

    pub fn note(&mut self, id: &str, state: &str) {
        if let Some(n) = self.notifications.iter_mut().find(|n| n.id == id) {
            n.state = state.to_owned();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    Notpay,
    Success,
    Refund,
    Closed,
}

pub struct Order {
    pub appid: String,
    pub mchid: String,
    pub description: String,
    pub out_trade_no: String,
    pub notify_url: String,
    pub total: i64,
    pub currency: String,
    pub time_expire: Option<String>,
    pub expires_at: Option<DateTime<FixedOffset>>,
    pub attach: Option<String>,
    pub code_url: String,
    pub state: TradeState,
    pub transaction_id: Option<String>,
    pub success_time: Option<String>,
    pub openid: String,
    /// Refunded or being refunded, in fen.
    pub refunded: i64,
}

impl Order {
    /// An unpaid order past its `time_expire` is closed (WeChat Pay shows it so when asked).
    pub fn expire(&mut self, now: DateTime<Utc>) {
        if self.state == TradeState::Notpay && self.expires_at.is_some_and(|at| at <= now) {
            self.state = TradeState::Closed;
        }
    }

    /// As `GET /v3/pay/transactions/out-trade-no/…` answers it, and as a `TRANSACTION.SUCCESS`
    /// resource holds it.
    pub fn transaction_json(&self) -> serde_json::Value {
        let paid = self.transaction_id.is_some();
        let desc = match self.state {
            TradeState::Notpay => "订单未支付",
            TradeState::Success => "支付成功",
            TradeState::Refund => "订单发生过退款",
            TradeState::Closed => "订单已关闭",
        };
        let mut t = serde_json::json!({
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": self.out_trade_no,
            "trade_state": self.state,
            "trade_state_desc": desc,
            "attach": self.attach.clone().unwrap_or_default(),
            "amount": if paid {
                serde_json::json!({"total": self.total, "payer_total": self.total, "currency": self.currency, "payer_currency": self.currency})
            } else {
                serde_json::json!({"total": self.total, "currency": self.currency})
            },
        });
        if paid {
            t["transaction_id"] = self.transaction_id.clone().into();
            t["trade_type"] = "NATIVE".into();
            t["bank_type"] = "OTHERS".into();
            t["success_time"] = self.success_time.clone().into();
            t["payer"] = serde_json::json!({ "openid": self.openid });
        }
        t
    }
}

pub struct Refund {
    pub refund_id: String,
    pub out_refund_no: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub refund: i64,
    pub total: i64,
    pub notify_url: Option<String>,
    pub status: String,
    pub create_time: String,
    pub success_time: Option<String>,
}

impl Refund {
    /// As `POST /v3/refund/domestic/refunds` answers it.
    pub fn answer_json(&self) -> serde_json::Value {
        let mut r = serde_json::json!({
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "transaction_id": self.transaction_id,
            "out_trade_no": self.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": self.create_time,
            "status": self.status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": self.total, "refund": self.refund, "payer_total": self.total, "payer_refund": self.refund,
                "settlement_total": self.total, "settlement_refund": self.refund, "discount_refund": 0, "currency": "CNY",
                "from": [],
            },
        });
        if let Some(at) = &self.success_time {
            r["success_time"] = at.clone().into();
        }
        r
    }

    /// As a `REFUND.*` notification's resource holds it.
    pub fn resource_json(&self, mchid: &str) -> serde_json::Value {
        let mut r = serde_json::json!({
            "mchid": mchid,
            "out_trade_no": self.out_trade_no,
            "transaction_id": self.transaction_id,
            "out_refund_no": self.out_refund_no,
            "refund_id": self.refund_id,
            "refund_status": self.status,
            "user_received_account": "支付用户零钱",
            "amount": { "total": self.total, "refund": self.refund, "payer_total": self.total, "payer_refund": self.refund },
        });
        if let Some(at) = &self.success_time {
            r["success_time"] = at.clone().into();
        }
        r
    }
}

/// How refunds go: what `POST /v3/refund/domestic/refunds` answers, and what becomes of a
/// `PROCESSING` one by itself.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefundBehaviour {
    /// `PROCESSING` (WeChat Pay's usual answer) or `SUCCESS`.
    pub answer: String,
    /// For a `PROCESSING` one: `SUCCESS`, `ABNORMAL` or `CLOSED` after `delay_ms`, or `null` to
    /// wait for `POST /_sim/refunds/{out_refund_no}/complete`.
    pub then: Option<String>,
    pub delay_ms: u64,
}

impl Default for RefundBehaviour {
    fn default() -> Self {
        Self { answer: "PROCESSING".into(), then: Some("SUCCESS".into()), delay_ms: 0 }
    }
}

/// Faults of the WeChat Pay API (`/v3/…`): counters, each spent by one call.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiFaults {
    /// The next N calls answer `fail_status` (500 when unset) with `SYSTEM_ERROR`.
    pub fail_next: u32,
    pub fail_status: Option<u16>,
    /// The next N calls wait `slow_ms` before they are handled.
    pub slow_next: u32,
    pub slow_ms: u64,
    /// The next N answers carry a signature that does not verify.
    pub bad_signature_next: u32,
    /// The next N answers carry no signature.
    pub unsigned_next: u32,
}

/// What goes wrong with one notification. The ones that spoil a delivery (`tamper`,
/// `bad_signature`, `wrong_serial`, `unsigned`, `stale`) spoil the first request only: WeChat
/// Pay's retries then deliver it intact, as a notification spoilt in transit arrives next time.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    /// Deliver it this many times in all (each a separate request, same body and id).
    pub duplicate: u32,
    /// Wait this long before the first request.
    pub delay_ms: u64,
    /// Keep it until `POST /_sim/notifications/release` (later ones go first: reordering).
    pub hold: bool,
    /// Never deliver it: only a query finds the payment.
    pub drop: bool,
    /// Change the body after signing it.
    pub tamper: bool,
    /// Send a signature that does not verify.
    pub bad_signature: bool,
    /// Name another key in `Wechatpay-Serial`.
    pub wrong_serial: bool,
    /// Send no `Wechatpay-Signature`/`-Timestamp`/`-Nonce`/`-Serial` headers.
    pub unsigned: bool,
    /// Sign it with a timestamp an hour old.
    pub stale: bool,
    /// Encrypt the resource with another APIv3 key (correctly signed; every delivery).
    pub wrong_key: bool,
}

impl Fault {
    /// The names of the faults set, for the record.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for (on, name) in [
            (self.duplicate > 1, "duplicate"),
            (self.delay_ms > 0, "delay"),
            (self.hold, "hold"),
            (self.drop, "drop"),
            (self.tamper, "tamper"),
            (self.bad_signature, "bad_signature"),
            (self.wrong_serial, "wrong_serial"),
            (self.unsigned, "unsigned"),
            (self.stale, "stale"),
            (self.wrong_key, "wrong_key"),
        ] {
            if on {
                names.push(name);
            }
        }
        names
    }

    /// Only what spoils a single request.
    pub fn spoils_request(&self) -> bool {
        self.tamper || self.bad_signature || self.wrong_serial || self.unsigned || self.stale
    }
}

/// A notification made, ready to be delivered.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: String,
    pub notify_url: String,
    pub body: String,
    pub fault: Fault,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotificationRecord {
    pub id: String,
    pub event_type: String,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub notify_url: String,
    pub faults: Vec<&'static str>,
    /// `queued`, `held`, `dropped`, `delivering`, `delivered` or `failed` (retries used up).
    pub state: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub notification_id: String,
    /// Which copy (0 unless duplicated) and which try of it (0 is the first).
    pub copy: u32,
    pub attempt: u32,
    /// What spoilt this request, if anything.
    pub spoilt_by: Vec<&'static str>,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub at: String,
}

pub fn now_beijing() -> String {
    beijing(Utc::now())
}

pub fn beijing(at: DateTime<Utc>) -> String {
    match FixedOffset::east_opt(8 * 3600) {
        Some(offset) => at.with_timezone(&offset).format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        None => at.to_rfc3339(),
    }
}

/// `n` random characters from `alphabet`.
pub fn random(n: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
}

pub const DIGITS: &[u8] = b"0123456789";
pub const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const HEX: &[u8] = b"0123456789abcdef";

/// A notification id as WeChat Pay writes them now (a UUID).
pub fn uuid() -> String {
    let h = random(32, HEX);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

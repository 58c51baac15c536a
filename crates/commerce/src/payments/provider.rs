//! What commerce asks of a payment provider, whichever it is: the built-in sandbox (the embedded
//! default) or WeChat Pay APIv3. Commerce keeps its own record of every payment and every
//! notification; a provider only speaks its wire format.
//!
//! The rules every provider keeps:
//! - `out_trade_no` is ours and names one payment attempt; a provider answers the same
//!   `create_payment` for the same `out_trade_no` (or says it already exists) and never charges
//!   twice for one.
//! - `parse_notification` checks everything before anything is believed: the signature, the
//!   timestamp window, the decryption. It does no I/O, so a webhook can store the notification
//!   and answer at once.
//! - `refund` is idempotent by `out_refund_no`.

use std::fmt;

use async_trait::async_trait;
use kanjian_kernel::{Money, Timestamp};

/// One payment attempt of an order, as the provider is asked to create it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// Our id for this attempt (`KJ<payment id>`), unique across every attempt ever made.
    pub out_trade_no: String,
    pub amount: Money,
    /// What the payer sees on the provider's page or in their wallet ("看见好物 订单 123").
    pub description: String,
    /// When the order stops waiting for payment: the provider should refuse to be paid later.
    pub expires_at: Timestamp,
    /// Where the provider sends its notifications.
    pub notify_url: String,
}

/// What the payer does next to pay.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PayAction {
    /// Open this page (the sandbox's payment page; WeChat Pay's H5 `h5_url`).
    OpenUrl(String),
    /// Show this as a QR code to scan with the wallet (WeChat Pay Native `code_url`).
    QrCode(String),
}

/// What the provider says of a payment when asked (reconciliation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderPaymentState {
    /// Created, not paid (yet).
    NotPaid,
    /// Paid: this is the provider's transaction.
    Paid { transaction_id: String, amount: Money, paid_at: Timestamp },
    /// Closed or expired without payment.
    Closed,
    /// Paid and then refunded (in part or in full).
    Refunded { transaction_id: String, amount: Money },
    /// The provider has never heard of it.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub out_trade_no: String,
    /// Ours, names this refund (`KJR<payment id>-<n>`): asking twice refunds once.
    pub out_refund_no: String,
    pub refund: Money,
    /// What was paid (WeChat Pay asks for both).
    pub total: Money,
    pub reason: String,
    pub notify_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundState {
    /// Accepted; a notification (or a later query) says when it is done.
    Processing,
    Succeeded,
    /// Refused for good (the message says why).
    Failed(String),
}

/// A notification as it reached our webhook: its headers (names lower-case) and raw body.
#[derive(Debug, Clone, Copy)]
pub struct IncomingNotification<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl IncomingNotification<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A verified notification.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    /// The provider's id of this notification: the same notification delivered again carries
    /// the same id (stored once, keyed by provider and id).
    pub event_id: String,
    pub kind: NotificationKind,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NotificationKind {
    PaymentSucceeded { out_trade_no: String, transaction_id: String, amount: Money, paid_at: Timestamp },
    RefundSucceeded { out_trade_no: String, out_refund_no: String, refund: Money },
    RefundFailed { out_trade_no: String, out_refund_no: String, reason: String },
    /// A kind we do not act on (recorded, acknowledged).
    Other { event_type: String },
}

/// Why a notification was not believed. Answered with a 4xx so the provider retries later (a
/// notification tampered in transit may arrive intact next time); nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationRejected {
    /// No signature, or one that does not verify with the provider's key.
    BadSignature,
    /// Its timestamp is too far from now (a replay, or a clock far off).
    Stale,
    /// The body is not what the protocol says, or its resource does not decrypt.
    Malformed(String),
}

impl fmt::Display for NotificationRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSignature => f.write_str("the signature does not verify"),
            Self::Stale => f.write_str("the timestamp is outside the accepted window"),
            Self::Malformed(why) => write!(f, "malformed notification: {why}"),
        }
    }
}

/// A provider call that did not get an answer we can act on.
#[derive(Debug)]
pub enum ProviderError {
    /// Not reached, timed out, or a 5xx: try again later.
    Unavailable(anyhow::Error),
    /// The provider answered and refused (a 4xx with its code and message).
    Refused { code: String, message: String },
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(e) => write!(f, "payment provider unavailable: {e:#}"),
            Self::Refused { code, message } => write!(f, "payment provider refused ({code}): {message}"),
        }
    }
}

impl std::error::Error for ProviderError {}

/// A payment provider.
#[async_trait]
pub trait PaymentProvider: Send + Sync + fmt::Debug {
    /// Stored with each payment and in the webhook path (`/payments/notify/<name>`):
    /// `sandbox`, `wechatpay`.
    fn name(&self) -> &'static str;
    async fn create_payment(&self, request: &PaymentRequest) -> Result<PayAction, ProviderError>;
    async fn query_payment(&self, out_trade_no: &str) -> Result<ProviderPaymentState, ProviderError>;
    async fn refund(&self, request: &RefundRequest) -> Result<RefundState, ProviderError>;
    /// Verifies and reads a notification. No I/O.
    fn parse_notification(&self, notification: IncomingNotification<'_>, now: Timestamp) -> Result<Notification, NotificationRejected>;
    /// What the webhook answers a notification it stored, as the provider expects it
    /// (WeChat Pay: 200 with an empty body, or `{"code":"SUCCESS"}`).
    fn acknowledgement(&self) -> (u16, String) {
        (200, String::new())
    }
}

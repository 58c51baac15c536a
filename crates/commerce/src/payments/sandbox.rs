//! The built-in sandbox provider (the embedded default): a payment page served by Kanjian where
//! a person clicks to pay or to fail, after which the sandbox sends a signed notification, as a
//! real provider would. Nothing is charged.
//!
//! Its side of each payment is in `commerce_sandbox_payments`, so any node serves the page.
//! Notifications are signed like WeChat Pay's, over `timestamp\nnonce\nbody\n`, but with
//! HMAC-SHA256 and the deployment's sandbox secret (`[commerce] sandbox_secret`), and go
//! through the same webhook entry as any provider's: verified, stored once, processed by the
//! outbox.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kanjian_db::Db;
use kanjian_kernel::{Currency, Money, Timestamp};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use super::provider::{
    IncomingNotification, Notification, NotificationKind, NotificationRejected, PayAction, PaymentProvider, PaymentRequest, ProviderError,
    ProviderPaymentState, RefundRequest, RefundState,
};
use crate::access::execute;
use crate::entity::sandbox_payment;

pub const NAME: &str = "sandbox";
pub const TIMESTAMP_HEADER: &str = "kanjian-sandbox-timestamp";
pub const NONCE_HEADER: &str = "kanjian-sandbox-nonce";
pub const SIGNATURE_HEADER: &str = "kanjian-sandbox-signature";
/// How far a notification's timestamp may be from now.
pub const WINDOW_SECS: i64 = 300;

/// The body of a sandbox notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Body {
    id: String,
    event_type: String,
    out_trade_no: String,
    transaction_id: String,
    amount_minor: i64,
    currency: String,
    at: Timestamp,
}

pub struct SandboxProvider {
    db: Db,
    key: ring::hmac::Key,
    public_url: String,
}

impl std::fmt::Debug for SandboxProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxProvider").field("public_url", &self.public_url).finish_non_exhaustive()
    }
}

fn unavailable(e: impl Into<anyhow::Error>) -> ProviderError {
    ProviderError::Unavailable(e.into())
}

impl SandboxProvider {
    pub fn new(db: Db, secret: &[u8], public_url: String) -> Self {
        Self { db, key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret), public_url }
    }

    fn signature(&self, timestamp: &str, nonce: &str, body: &str) -> String {
        let message = format!("{timestamp}\n{nonce}\n{body}\n");
        STANDARD.encode(ring::hmac::sign(&self.key, message.as_bytes()).as_ref())
    }

    /// The page's payment, by the token in its URL.
    pub(crate) async fn checkout(&self, token: &str) -> kanjian_kernel::Result<Option<sandbox_payment::Model>> {
        use kanjian_kernel::Context;
        use sea_orm::{ColumnTrait, QueryFilter};
        sandbox_payment::Entity::find()
            .filter(sandbox_payment::Column::Token.eq(token))
            .one(self.db.reader())
            .await
            .context("loading a sandbox payment")
    }

    /// The person decided: `OPEN` becomes `PAID` or `FAILED` (a compare-and-set), and for a
    /// payment the signed notification to deliver is returned: `(headers, body)`.
    pub(crate) async fn decide(
        &self,
        row: &sandbox_payment::Model,
        pay: bool,
    ) -> kanjian_kernel::Result<Option<(Vec<(String, String)>, String)>> {
        let now = self.db.now();
        let transaction_id = format!("SBX{}", hex_id());
        let done = execute(
            self.db.writer(),
            "UPDATE commerce_sandbox_payments SET state = $1, transaction_id = $2, updated_at = $3 \
             WHERE out_trade_no = $4 AND state = 'OPEN' AND expires_at > $3",
            vec![if pay { "PAID" } else { "FAILED" }.into(), transaction_id.clone().into(), now.into(), row.out_trade_no.clone().into()],
            "deciding a sandbox payment",
        )
        .await?;
        if done.rows_affected() == 0 || !pay {
            return Ok(None);
        }
        let body = Body {
            id: format!("sandbox-{}", hex_id()),
            event_type: "PAYMENT.SUCCEEDED".into(),
            out_trade_no: row.out_trade_no.clone(),
            transaction_id,
            amount_minor: row.amount_minor,
            currency: row.currency.clone(),
            at: now,
        };
        Ok(Some(self.sign(&body, now)))
    }

    fn sign(&self, body: &Body, now: Timestamp) -> (Vec<(String, String)>, String) {
        let body = serde_json::to_string(body).unwrap_or_default();
        let timestamp = now.timestamp().to_string();
        let nonce = hex_id();
        let signature = self.signature(&timestamp, &nonce, &body);
        (
            vec![
                (TIMESTAMP_HEADER.to_owned(), timestamp),
                (NONCE_HEADER.to_owned(), nonce),
                (SIGNATURE_HEADER.to_owned(), signature),
            ],
            body,
        )
    }

    /// A signed notification for tests of the webhook: replays, tampering, stale timestamps.
    pub fn sign_for_test(&self, event_id: &str, out_trade_no: &str, amount: Money, at: Timestamp) -> (Vec<(String, String)>, String) {
        let body = Body {
            id: event_id.into(),
            event_type: "PAYMENT.SUCCEEDED".into(),
            out_trade_no: out_trade_no.into(),
            transaction_id: format!("SBX-{event_id}"),
            amount_minor: amount.minor,
            currency: amount.currency.as_str().into(),
            at,
        };
        self.sign(&body, at)
    }
}

fn hex_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[async_trait]
impl PaymentProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn create_payment(&self, request: &PaymentRequest) -> Result<PayAction, ProviderError> {
        let now = self.db.now();
        let existing = sandbox_payment::Entity::find_by_id(request.out_trade_no.clone()).one(self.db.reader()).await.map_err(unavailable)?;
        let row = match existing {
            Some(row) if row.state == "OPEN" => row,
            Some(row) => {
                return Err(ProviderError::Refused { code: "ORDER_CLOSED".into(), message: format!("this payment is {}", row.state) });
            }
            None => sandbox_payment::ActiveModel {
                out_trade_no: Set(request.out_trade_no.clone()),
                token: Set(token()),
                currency: Set(request.amount.currency.as_str().to_owned()),
                amount_minor: Set(request.amount.minor),
                description: Set(request.description.chars().take(120).collect()),
                state: Set("OPEN".into()),
                transaction_id: Set(None),
                expires_at: Set(request.expires_at),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(self.db.writer())
            .await
            .map_err(unavailable)?,
        };
        Ok(PayAction::OpenUrl(format!("{}/pay/sandbox/{}", self.public_url.trim_end_matches('/'), row.token)))
    }

    async fn query_payment(&self, out_trade_no: &str) -> Result<ProviderPaymentState, ProviderError> {
        let Some(row) = sandbox_payment::Entity::find_by_id(out_trade_no.to_owned()).one(self.db.reader()).await.map_err(unavailable)? else {
            return Ok(ProviderPaymentState::Unknown);
        };
        let amount = Money::new(row.amount_minor, Currency::parse(&row.currency).unwrap_or(Currency::CNY));
        Ok(match row.state.as_str() {
            "PAID" => ProviderPaymentState::Paid { transaction_id: row.transaction_id.unwrap_or_default(), amount, paid_at: row.updated_at },
            "REFUNDED" => ProviderPaymentState::Refunded { transaction_id: row.transaction_id.unwrap_or_default(), amount },
            "OPEN" if row.expires_at > self.db.now() => ProviderPaymentState::NotPaid,
            _ => ProviderPaymentState::Closed,
        })
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundState, ProviderError> {
        // Refunding a refunded payment again answers success: refunds are idempotent.
        let done = execute(
            self.db.writer(),
            "UPDATE commerce_sandbox_payments SET state = 'REFUNDED', updated_at = $1 WHERE out_trade_no = $2 AND state IN ('PAID', 'REFUNDED')",
            vec![self.db.now().into(), request.out_trade_no.clone().into()],
            "refunding a sandbox payment",
        )
        .await
        .map_err(|e| unavailable(anyhow::anyhow!("{e}")))?;
        Ok(if done.rows_affected() == 1 { RefundState::Succeeded } else { RefundState::Failed("nothing was paid".into()) })
    }

    fn parse_notification(&self, notification: IncomingNotification<'_>, now: Timestamp) -> Result<Notification, NotificationRejected> {
        let (Some(timestamp), Some(nonce), Some(signature)) = (
            notification.header(TIMESTAMP_HEADER),
            notification.header(NONCE_HEADER),
            notification.header(SIGNATURE_HEADER),
        ) else {
            return Err(NotificationRejected::BadSignature);
        };
        let body = std::str::from_utf8(notification.body).map_err(|_| NotificationRejected::Malformed("the body is not UTF-8".into()))?;
        let signature = STANDARD.decode(signature).map_err(|_| NotificationRejected::BadSignature)?;
        let message = format!("{timestamp}\n{nonce}\n{body}\n");
        ring::hmac::verify(&self.key, message.as_bytes(), &signature).map_err(|_| NotificationRejected::BadSignature)?;
        let sent: i64 = timestamp.parse().map_err(|_| NotificationRejected::Malformed("the timestamp is not a number".into()))?;
        if (now.timestamp() - sent).abs() > WINDOW_SECS {
            return Err(NotificationRejected::Stale);
        }
        let body: Body = serde_json::from_str(body).map_err(|e| NotificationRejected::Malformed(e.to_string()))?;
        let currency = Currency::parse(&body.currency).ok_or_else(|| NotificationRejected::Malformed("unknown currency".into()))?;
        let kind = match body.event_type.as_str() {
            "PAYMENT.SUCCEEDED" => NotificationKind::PaymentSucceeded {
                out_trade_no: body.out_trade_no,
                transaction_id: body.transaction_id,
                amount: Money::new(body.amount_minor, currency),
                paid_at: body.at,
            },
            other => NotificationKind::Other { event_type: other.to_owned() },
        };
        Ok(Notification { event_id: body.id, kind })
    }
}

//! WeChat Pay APIv3's JSON, as far as Kanjian reads and writes it. Answers carry more fields than
//! these; serde ignores the rest.

use serde::{Deserialize, Serialize};

/// `POST /v3/pay/transactions/native`.
#[derive(Debug, Serialize)]
pub(crate) struct NativeOrder<'a> {
    pub appid: &'a str,
    pub mchid: &'a str,
    pub description: &'a str,
    pub out_trade_no: &'a str,
    /// RFC 3339 with the offset, seconds precision (`2018-06-08T10:34:56+08:00`).
    pub time_expire: String,
    pub notify_url: &'a str,
    pub amount: OrderAmount<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct OrderAmount<'a> {
    /// In fen.
    pub total: i64,
    pub currency: &'a str,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NativeOrderAnswer {
    pub code_url: String,
}

/// A transaction, as `GET /v3/pay/transactions/out-trade-no/{out_trade_no}` answers it and as a
/// `TRANSACTION.SUCCESS` notification's resource holds it.
#[derive(Debug, Deserialize)]
pub(crate) struct Transaction {
    #[serde(default)]
    pub mchid: Option<String>,
    pub out_trade_no: String,
    #[serde(default)]
    pub transaction_id: Option<String>,
    pub trade_state: String,
    #[serde(default)]
    pub success_time: Option<String>,
    #[serde(default)]
    pub amount: Option<TransactionAmount>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TransactionAmount {
    /// What the order was for, in fen.
    #[serde(default)]
    pub total: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// `POST /v3/refund/domestic/refunds`.
#[derive(Debug, Serialize)]
pub(crate) struct RefundOrder<'a> {
    pub out_trade_no: &'a str,
    pub out_refund_no: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub reason: &'a str,
    pub notify_url: &'a str,
    pub amount: RefundAmount<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RefundAmount<'a> {
    pub refund: i64,
    pub total: i64,
    pub currency: &'a str,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefundAnswer {
    pub out_refund_no: String,
    /// `SUCCESS`, `PROCESSING`, `ABNORMAL` or `CLOSED`.
    pub status: String,
}

/// The body of every 4xx and 5xx.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorAnswer {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// A notification's body.
#[derive(Debug, Deserialize)]
pub(crate) struct NotificationBody {
    pub id: String,
    pub event_type: String,
    #[serde(default)]
    pub resource: Option<Resource>,
}

/// An encrypted resource of a notification.
#[derive(Debug, Deserialize)]
pub(crate) struct Resource {
    pub algorithm: String,
    pub ciphertext: String,
    pub nonce: String,
    #[serde(default)]
    pub associated_data: Option<String>,
}

/// The resource of a `REFUND.*` notification.
#[derive(Debug, Deserialize)]
pub(crate) struct RefundResource {
    #[serde(default)]
    pub mchid: Option<String>,
    pub out_trade_no: String,
    pub out_refund_no: String,
    /// `SUCCESS`, `ABNORMAL` or `CLOSED`.
    pub refund_status: String,
    pub amount: RefundResourceAmount,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefundResourceAmount {
    /// In fen; a refund notification names no currency (CNY).
    pub refund: i64,
}

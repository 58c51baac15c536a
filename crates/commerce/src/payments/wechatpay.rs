//! WeChat Pay APIv3 (微信支付 APIv3) for a directly connected merchant (直连商户), Native payment
//! (the payer scans a QR code with WeChat):
//!
//! - `create_payment`: `POST /v3/pay/transactions/native` → `code_url` (`PayAction::QrCode`).
//!   WeChat Pay answers the same `code_url` for the same `out_trade_no` while it is unpaid, and
//!   refuses a paid or closed one (`ORDERPAID`, `ORDER_CLOSED`) or one asked with other
//!   parameters (`INVALID_REQUEST`, "201 商户订单号重复"): one `out_trade_no` is charged once.
//! - `query_payment`: `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`.
//! - `refund`: `POST /v3/refund/domestic/refunds`, idempotent by `out_refund_no` at WeChat Pay.
//! - `parse_notification`: a `TRANSACTION.SUCCESS` or `REFUND.*` notification, signed by WeChat
//!   Pay and its `resource` encrypted with the APIv3 key.
//!
//! Every request is signed with the merchant's API key (`Authorization:
//! WECHATPAY2-SHA256-RSA2048 …`). Every answer that carries a signature is verified with WeChat
//! Pay's public key (the "微信支付公钥" mode: a PEM key and its id `PUB_KEY_ID_…`, which the answer
//! names in `Wechatpay-Serial`), and a 2xx must carry one. WeChat Pay does not sign its 401
//! (it could not tell who asked), so a 4xx without a signature is believed only as a refusal,
//! which moves no money. See `crypto.rs` for the algorithms and why ring does them.
//!
//! How failures map: not reached, timed out, a 5xx, a 429, an answer that fails verification or
//! cannot be read → `ProviderError::Unavailable` (try again later); a 4xx with WeChat Pay's
//! `{code, message}` → `ProviderError::Refused` (a wrong merchant key is `SIGN_ERROR`).

mod client;
mod crypto;
mod wire;

use std::fmt;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::Full;
use kanjian_kernel::{Currency, Money, Timestamp};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use self::client::HttpClient;
use self::crypto::{MerchantSigner, PlatformVerifier, ResourceCipher, request_message, response_message};
use super::provider::{
    IncomingNotification, Notification, NotificationKind, NotificationRejected, PayAction, PaymentProvider, PaymentRequest, ProviderError,
    ProviderPaymentState, RefundRequest, RefundState,
};

/// The provider's name: stored with each payment and in the webhook path.
pub const NAME: &str = "wechatpay";

const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
const HEADER_SERIAL: &str = "wechatpay-serial";
const HEADER_SIGNATURE: &str = "wechatpay-signature";
const HEADER_TIMESTAMP: &str = "wechatpay-timestamp";
const HEADER_NONCE: &str = "wechatpay-nonce";
const HEADER_REQUEST_ID: &str = "request-id";

/// `[commerce.wechatpay]`: a directly connected merchant's credentials, as the merchant platform
/// (商户平台 → 账户中心 → API安全) shows them.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct WechatPayConfig {
    /// 商户号, e.g. `1230000109`.
    pub mchid: String,
    /// The AppID bound to the merchant (公众号 / 小程序 / 移动应用), e.g. `wxd678efh567hg6787`.
    pub appid: String,
    /// The serial number of the merchant's API certificate (商户API证书序列号).
    pub merchant_serial_no: String,
    /// The merchant's API private key, PEM (`apiclient_key.pem`: `BEGIN PRIVATE KEY`).
    pub merchant_private_key: SecretString,
    /// The APIv3 key (APIv3密钥): exactly 32 bytes.
    pub api_v3_key: SecretString,
    /// WeChat Pay's public key (微信支付公钥), PEM (`BEGIN PUBLIC KEY`).
    pub platform_public_key: String,
    /// Its id (`PUB_KEY_ID_…`): answers and notifications name it in `Wechatpay-Serial`.
    pub platform_public_key_id: String,
    /// `https://api.mch.weixin.qq.com`, or `https://api2.mch.weixin.qq.com` (the backup domain).
    pub base_url: String,
    /// How far a signed timestamp may be from our clock (answers and notifications).
    pub notification_window_secs: u64,
    /// The longest a call may take, connecting included.
    pub timeout_secs: u64,
}

impl Default for WechatPayConfig {
    fn default() -> Self {
        Self {
            mchid: String::new(),
            appid: String::new(),
            merchant_serial_no: String::new(),
            merchant_private_key: SecretString::from(String::new()),
            api_v3_key: SecretString::from(String::new()),
            platform_public_key: String::new(),
            platform_public_key_id: String::new(),
            base_url: "https://api.mch.weixin.qq.com".into(),
            notification_window_secs: 300,
            timeout_secs: 10,
        }
    }
}

impl fmt::Debug for WechatPayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatPayConfig")
            .field("mchid", &self.mchid)
            .field("appid", &self.appid)
            .field("merchant_serial_no", &self.merchant_serial_no)
            .field("merchant_private_key", &self.merchant_private_key)
            .field("api_v3_key", &self.api_v3_key)
            .field("platform_public_key_id", &self.platform_public_key_id)
            .field("base_url", &self.base_url)
            .field("notification_window_secs", &self.notification_window_secs)
            .field("timeout_secs", &self.timeout_secs)
            .finish_non_exhaustive()
    }
}

/// The WeChat Pay APIv3 adapter.
pub struct WechatPayProvider {
    mchid: String,
    appid: String,
    merchant_serial_no: String,
    signer: MerchantSigner,
    platform: PlatformVerifier,
    platform_key_id: String,
    cipher: ResourceCipher,
    /// `scheme://authority`, without a trailing slash.
    origin: String,
    /// A path the API sits under (empty for WeChat Pay itself), without a trailing slash.
    path_prefix: String,
    window_secs: i64,
    timeout: Duration,
    http: HttpClient,
}

impl fmt::Debug for WechatPayProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatPayProvider")
            .field("mchid", &self.mchid)
            .field("appid", &self.appid)
            .field("platform_key_id", &self.platform_key_id)
            .field("base_url", &format_args!("{}{}", self.origin, self.path_prefix))
            .finish_non_exhaustive()
    }
}

fn config_error(key: &str) -> impl FnOnce(anyhow::Error) -> anyhow::Error + '_ {
    move |e| e.context(format!("[commerce.wechatpay] {key}"))
}

impl WechatPayProvider {
    /// Checks every key and setting now, so that a wrong one stops the server at start.
    pub fn new(config: WechatPayConfig) -> anyhow::Result<Self> {
        let printable = |key: &str, value: &str| -> anyhow::Result<()> {
            ensure!(!value.trim().is_empty(), "[commerce.wechatpay] {key} is not set");
            ensure!(
                value.bytes().all(|b| b.is_ascii_graphic() && b != b'"'),
                "[commerce.wechatpay] {key} has characters WeChat Pay never uses in it"
            );
            Ok(())
        };
        printable("mchid", &config.mchid)?;
        printable("appid", &config.appid)?;
        printable("merchant_serial_no", &config.merchant_serial_no)?;
        printable("platform_public_key_id", &config.platform_public_key_id)?;
        let signer = MerchantSigner::from_pem(config.merchant_private_key.expose_secret()).map_err(config_error("merchant_private_key"))?;
        let platform = PlatformVerifier::from_pem(&config.platform_public_key).map_err(config_error("platform_public_key"))?;
        let cipher = ResourceCipher::new(config.api_v3_key.expose_secret().as_bytes()).map_err(config_error("api_v3_key"))?;
        let (origin, path_prefix) = split_base_url(&config.base_url).map_err(config_error("base_url"))?;
        ensure!(config.timeout_secs > 0, "[commerce.wechatpay] timeout_secs must be at least 1");
        let window_secs = i64::try_from(config.notification_window_secs).context("[commerce.wechatpay] notification_window_secs is too large")?;
        Ok(Self {
            mchid: config.mchid.trim().to_owned(),
            appid: config.appid.trim().to_owned(),
            merchant_serial_no: config.merchant_serial_no.trim().to_owned(),
            signer,
            platform,
            platform_key_id: config.platform_public_key_id.trim().to_owned(),
            cipher,
            origin,
            path_prefix,
            window_secs,
            timeout: Duration::from_secs(config.timeout_secs),
            http: HttpClient::new()?,
        })
    }
}

/// `https://host[:port][/prefix]` → (`https://host[:port]`, `/prefix` or empty).
fn split_base_url(base_url: &str) -> anyhow::Result<(String, String)> {
    let uri: http::Uri = base_url.trim().parse().context("not a URL")?;
    let scheme = uri.scheme_str().unwrap_or_default();
    ensure!(scheme == "https" || scheme == "http", "must start with https:// (or http:// for a local simulator)");
    let Some(authority) = uri.authority() else { bail!("has no host") };
    ensure!(uri.query().is_none(), "must not have a query");
    Ok((format!("{scheme}://{authority}"), uri.path().trim_end_matches('/').to_owned()))
}

/// An answer that passed the transport and, when signed, the signature check.
struct Answer {
    status: StatusCode,
    body: Bytes,
    /// It carried a signature, and it verified.
    signed: bool,
}

/// Why a signed message (an answer or a notification) is not believed.
#[derive(Debug, PartialEq, Eq)]
enum Untrusted {
    Unsigned,
    WrongSerial(String),
    BadSignature,
    BadTimestamp,
    Stale { skew_secs: i64 },
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsigned => f.write_str("it carries no signature (Wechatpay-Signature, -Timestamp, -Nonce, -Serial)"),
            Self::WrongSerial(serial) => {
                write!(f, "it is signed with key {serial:?}, not the configured platform_public_key_id (was the key rotated?)")
            }
            Self::BadSignature => f.write_str("its signature does not verify with WeChat Pay's public key"),
            Self::BadTimestamp => f.write_str("its Wechatpay-Timestamp is not a number"),
            Self::Stale { skew_secs } => write!(f, "its timestamp is {skew_secs} s from our clock"),
        }
    }
}

impl From<Untrusted> for NotificationRejected {
    fn from(why: Untrusted) -> Self {
        match why {
            Untrusted::Unsigned | Untrusted::WrongSerial(_) | Untrusted::BadSignature => Self::BadSignature,
            Untrusted::Stale { .. } => Self::Stale,
            Untrusted::BadTimestamp => Self::Malformed(why.to_string()),
        }
    }
}

fn unavailable(error: anyhow::Error) -> ProviderError {
    ProviderError::Unavailable(error)
}

/// Refused here, before asking WeChat Pay: what it would refuse too.
fn refused_here(message: impl Into<String>) -> ProviderError {
    ProviderError::Refused { code: "PARAM_ERROR".into(), message: format!("{} (refused before sending)", message.into()) }
}

/// `out_trade_no`: 1 to 32 of digits, letters, `_`, `-`, `*` (it also goes into a URL path).
fn check_out_trade_no(no: &str) -> Result<(), ProviderError> {
    if (1..=32).contains(&no.len()) && no.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-*".contains(&b)) {
        Ok(())
    } else {
        Err(refused_here(format!("out_trade_no {no:?} is not 1 to 32 of digits, letters, _ - *")))
    }
}

/// `out_refund_no`: 1 to 64 of digits, letters, `_`, `-`, `|`, `*`, `@`.
fn check_out_refund_no(no: &str) -> Result<(), ProviderError> {
    if (1..=64).contains(&no.len()) && no.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b)) {
        Ok(())
    } else {
        Err(refused_here(format!("out_refund_no {no:?} is not 1 to 64 of digits, letters, _ - | * @")))
    }
}

/// WeChat Pay takes fen of CNY for domestic payments.
fn fen(money: Money, what: &str) -> Result<i64, ProviderError> {
    if money.currency != Currency::CNY {
        return Err(refused_here(format!("{what} is in {}, and WeChat Pay takes CNY only", money.currency.as_str())));
    }
    if money.minor < 1 {
        return Err(refused_here(format!("{what} must be at least 1 fen")));
    }
    Ok(money.minor)
}

/// At most `max` characters.
fn clip(text: &str, max: usize) -> &str {
    text.char_indices().nth(max).map_or(text, |(at, _)| &text[..at])
}

/// RFC 3339 at whole seconds in Beijing time, as WeChat Pay writes it (`2018-06-08T10:34:56+08:00`).
fn beijing_time(at: Timestamp) -> String {
    match FixedOffset::east_opt(8 * 3600) {
        Some(beijing) => at.with_timezone(&beijing).format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        None => at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
    }
}

fn parse_time(text: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// The `Authorization` header of a request.
fn authorization(mchid: &str, nonce: &str, signature: &str, timestamp: i64, serial_no: &str) -> String {
    format!(r#"{AUTH_SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",timestamp="{timestamp}",serial_no="{serial_no}""#)
}

/// What WeChat Pay's `trade_state` says of a payment.
fn payment_state(t: wire::Transaction) -> anyhow::Result<ProviderPaymentState> {
    let amount = || -> anyhow::Result<Money> {
        let amount = t.amount.as_ref().context("no amount")?;
        let total = amount.total.context("no amount.total")?;
        let currency = amount.currency.as_deref().unwrap_or("CNY");
        Ok(Money::new(total, Currency::parse(currency).with_context(|| format!("unknown currency {currency:?}"))?))
    };
    let transaction_id = || t.transaction_id.clone().filter(|id| !id.is_empty()).context("no transaction_id");
    Ok(match t.trade_state.as_str() {
        "SUCCESS" => {
            let success_time = t.success_time.as_deref().context("no success_time")?;
            ProviderPaymentState::Paid {
                transaction_id: transaction_id()?,
                amount: amount()?,
                paid_at: parse_time(success_time).with_context(|| format!("success_time {success_time:?} is not RFC 3339"))?,
            }
        }
        "REFUND" => ProviderPaymentState::Refunded { transaction_id: transaction_id()?, amount: amount()? },
        // USERPAYING: the payer is entering the password (payment-code payments only).
        "NOTPAY" | "USERPAYING" => ProviderPaymentState::NotPaid,
        // REVOKED and PAYERROR are payment-code (付款码) endings: unpaid for good.
        "CLOSED" | "REVOKED" | "PAYERROR" => ProviderPaymentState::Closed,
        other => bail!("unknown trade_state {other:?}"),
    })
}

fn refund_state(status: &str) -> anyhow::Result<RefundState> {
    Ok(match status {
        "SUCCESS" => RefundState::Succeeded,
        "PROCESSING" => RefundState::Processing,
        // The payer's card was closed or frozen: WeChat Pay keeps the money until the merchant
        // sends it elsewhere (发起异常退款, in the merchant platform). Not refunded.
        "ABNORMAL" => RefundState::Failed("ABNORMAL: the refund could not reach the payer's account; handle it in the merchant platform".into()),
        "CLOSED" => RefundState::Failed("CLOSED: WeChat Pay closed the refund".into()),
        other => bail!("unknown refund status {other:?}"),
    })
}

impl WechatPayProvider {
    /// Checks a signed answer or notification: the key it names, the signature, then the time.
    fn check_signed(&self, header: impl Fn(&str) -> Option<String>, body: &[u8], now_secs: i64) -> Result<(), Untrusted> {
        let (Some(serial), Some(signature), Some(timestamp), Some(nonce)) =
            (header(HEADER_SERIAL), header(HEADER_SIGNATURE), header(HEADER_TIMESTAMP), header(HEADER_NONCE))
        else {
            return Err(Untrusted::Unsigned);
        };
        if serial.trim() != self.platform_key_id {
            return Err(Untrusted::WrongSerial(serial));
        }
        if !self.platform.verify(&response_message(&timestamp, &nonce, body), &signature) {
            return Err(Untrusted::BadSignature);
        }
        let sent: i64 = timestamp.trim().parse().map_err(|_| Untrusted::BadTimestamp)?;
        let skew_secs = now_secs.saturating_sub(sent);
        if skew_secs.saturating_abs() > self.window_secs {
            return Err(Untrusted::Stale { skew_secs });
        }
        Ok(())
    }

    /// Signs and sends one request; verifies the answer's signature when it has one, and insists
    /// on one for a 2xx.
    async fn call(&self, method: Method, path_and_query: &str, body: Option<Vec<u8>>) -> Result<Answer, ProviderError> {
        let path = format!("{}{path_and_query}", self.path_prefix);
        let body = body.unwrap_or_default();
        let timestamp = Utc::now().timestamp();
        let nonce = self.signer.nonce().map_err(unavailable)?;
        let signature = self.signer.sign(&request_message(method.as_str(), &path, timestamp, &nonce, &body)).map_err(unavailable)?;
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.origin))
            .header(http::header::AUTHORIZATION, authorization(&self.mchid, &nonce, &signature, timestamp, &self.merchant_serial_no))
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, concat!("kanjian/", env!("CARGO_PKG_VERSION")))
            // Tells WeChat Pay which of its keys to answer with (the public-key mode).
            .header(HEADER_SERIAL, &self.platform_key_id);
        if method == Method::POST {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(Bytes::from(body))).context("building a request").map_err(unavailable)?;
        let what = format!("{method} {path}");
        let (parts, body) = match tokio::time::timeout(self.timeout, self.http.send(request)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(unavailable(e.context(format!("WeChat Pay ({what}) was not reached")))),
            Err(_) => return Err(unavailable(anyhow::anyhow!("WeChat Pay ({what}) did not answer within {:?}", self.timeout))),
        };
        let status = parts.status;
        let request_id = header_value(&parts.headers, HEADER_REQUEST_ID).unwrap_or_default();
        if status.is_server_error() {
            return Err(unavailable(anyhow::anyhow!("WeChat Pay ({what}) answered {status}{} (Request-ID {request_id:?})", error_detail(&body))));
        }
        let signed = parts.headers.contains_key(HEADER_SIGNATURE);
        if status.is_success() || signed {
            self.check_signed(|name| header_value(&parts.headers, name), &body, Utc::now().timestamp()).map_err(|why| {
                tracing::warn!(%what, %status, %request_id, reason = %why, "a WeChat Pay answer failed verification");
                unavailable(anyhow::anyhow!("WeChat Pay's answer to {what} ({status}) failed verification: {why}"))
            })?;
        }
        Ok(Answer { status, body, signed })
    }

    /// A 4xx (or anything else that is not a 2xx) as an error.
    fn refusal(&self, what: &str, answer: &Answer) -> ProviderError {
        match serde_json::from_slice::<wire::ErrorAnswer>(&answer.body) {
            Ok(e) if answer.status == StatusCode::TOO_MANY_REQUESTS => {
                unavailable(anyhow::anyhow!("WeChat Pay ({what}) is rate limiting: {}: {}", e.code, e.message))
            }
            Ok(e) if answer.status.is_client_error() => ProviderError::Refused { code: e.code, message: e.message },
            _ => unavailable(anyhow::anyhow!("WeChat Pay ({what}) answered {}{}", answer.status, error_detail(&answer.body))),
        }
    }
}

fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// `: CODE: message` from an error body, or a short piece of whatever it is.
fn error_detail(body: &[u8]) -> String {
    match serde_json::from_slice::<wire::ErrorAnswer>(body) {
        Ok(e) => format!(": {}: {}", e.code, e.message),
        Err(_) if body.is_empty() => String::new(),
        Err(_) => format!(" ({:?})", clip(&String::from_utf8_lossy(body), 200)),
    }
}

fn read<T: serde::de::DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| unavailable(anyhow::anyhow!("WeChat Pay's answer to {what} is not what its API describes: {e}")))
}

#[async_trait]
impl PaymentProvider for WechatPayProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    #[tracing::instrument(skip_all, fields(out_trade_no = %request.out_trade_no))]
    async fn create_payment(&self, request: &PaymentRequest) -> Result<PayAction, ProviderError> {
        check_out_trade_no(&request.out_trade_no)?;
        let total = fen(request.amount, "the amount")?;
        let description = clip(request.description.trim(), 127);
        let order = wire::NativeOrder {
            appid: &self.appid,
            mchid: &self.mchid,
            description: if description.is_empty() { "Kanjian" } else { description },
            out_trade_no: &request.out_trade_no,
            time_expire: beijing_time(request.expires_at),
            notify_url: &request.notify_url,
            amount: wire::OrderAmount { total, currency: "CNY" },
        };
        let body = serde_json::to_vec(&order).context("writing a Native order").map_err(unavailable)?;
        let what = "a Native order";
        let answer = self.call(Method::POST, "/v3/pay/transactions/native", Some(body)).await?;
        if !answer.status.is_success() {
            return Err(self.refusal(what, &answer));
        }
        let created: wire::NativeOrderAnswer = read(what, &answer.body)?;
        Ok(PayAction::QrCode(created.code_url))
    }

    #[tracing::instrument(skip_all, fields(%out_trade_no))]
    async fn query_payment(&self, out_trade_no: &str) -> Result<ProviderPaymentState, ProviderError> {
        check_out_trade_no(out_trade_no)?;
        let what = "an order query";
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}", self.mchid);
        let answer = self.call(Method::GET, &path, None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            let code = serde_json::from_slice::<wire::ErrorAnswer>(&answer.body).map(|e| e.code).unwrap_or_default();
            if code == "ORDER_NOT_EXIST" {
                // Only WeChat Pay's own word says an order does not exist.
                return if answer.signed {
                    Ok(ProviderPaymentState::Unknown)
                } else {
                    Err(unavailable(anyhow::anyhow!("an unsigned ORDER_NOT_EXIST for {out_trade_no} is not believed")))
                };
            }
        }
        if !answer.status.is_success() {
            return Err(self.refusal(what, &answer));
        }
        let transaction: wire::Transaction = read(what, &answer.body)?;
        if transaction.out_trade_no != out_trade_no {
            return Err(unavailable(anyhow::anyhow!("asked about {out_trade_no}, WeChat Pay answered about {}", transaction.out_trade_no)));
        }
        payment_state(transaction).map_err(|e| unavailable(e.context(format!("reading WeChat Pay's answer to {what}"))))
    }

    #[tracing::instrument(skip_all, fields(out_trade_no = %request.out_trade_no, out_refund_no = %request.out_refund_no))]
    async fn refund(&self, request: &RefundRequest) -> Result<RefundState, ProviderError> {
        check_out_trade_no(&request.out_trade_no)?;
        check_out_refund_no(&request.out_refund_no)?;
        let refund = fen(request.refund, "the refund")?;
        let total = fen(request.total, "the total")?;
        if refund > total {
            return Err(refused_here("the refund is more than was paid"));
        }
        let order = wire::RefundOrder {
            out_trade_no: &request.out_trade_no,
            out_refund_no: &request.out_refund_no,
            reason: clip(request.reason.trim(), 80),
            notify_url: &request.notify_url,
            amount: wire::RefundAmount { refund, total, currency: "CNY" },
        };
        let body = serde_json::to_vec(&order).context("writing a refund").map_err(unavailable)?;
        let what = "a refund";
        let answer = self.call(Method::POST, "/v3/refund/domestic/refunds", Some(body)).await?;
        if !answer.status.is_success() {
            return Err(self.refusal(what, &answer));
        }
        let refund: wire::RefundAnswer = read(what, &answer.body)?;
        if refund.out_refund_no != request.out_refund_no {
            return Err(unavailable(anyhow::anyhow!("asked for refund {}, WeChat Pay answered about {}", request.out_refund_no, refund.out_refund_no)));
        }
        refund_state(&refund.status).map_err(|e| unavailable(e.context(format!("reading WeChat Pay's answer to {what}"))))
    }

    fn parse_notification(&self, notification: IncomingNotification<'_>, now: Timestamp) -> Result<Notification, NotificationRejected> {
        let header = |name: &str| notification.header(name).map(str::to_owned);
        if let Err(why) = self.check_signed(header, notification.body, now.timestamp()) {
            tracing::warn!(reason = %why, request_id = notification.header(HEADER_REQUEST_ID).unwrap_or_default(), "a WeChat Pay notification is not believed");
            return Err(why.into());
        }
        let malformed = |why: String| NotificationRejected::Malformed(why);
        let body: wire::NotificationBody =
            serde_json::from_slice(notification.body).map_err(|e| malformed(format!("the body is not a notification: {e}")))?;
        let open = |original: &str| -> Result<Vec<u8>, NotificationRejected> {
            let resource = body.resource.as_ref().ok_or_else(|| malformed(format!("a {original} notification without a resource")))?;
            if resource.algorithm != "AEAD_AES_256_GCM" {
                return Err(malformed(format!("the resource is encrypted with {:?}, not AEAD_AES_256_GCM", resource.algorithm)));
            }
            self.cipher
                .open(&resource.ciphertext, &resource.nonce, resource.associated_data.as_deref().unwrap_or_default())
                .map_err(|e| malformed(format!("{e:#}")))
        };
        let ours = |mchid: Option<&str>| -> Result<(), NotificationRejected> {
            match mchid {
                Some(m) if m != self.mchid => Err(malformed(format!("a notification for merchant {m}, not {}", self.mchid))),
                _ => Ok(()),
            }
        };
        let kind = match body.event_type.as_str() {
            "TRANSACTION.SUCCESS" => {
                let t: wire::Transaction =
                    serde_json::from_slice(&open("TRANSACTION.SUCCESS")?).map_err(|e| malformed(format!("the transaction does not read: {e}")))?;
                ours(t.mchid.as_deref())?;
                let out_trade_no = t.out_trade_no.clone();
                match payment_state(t).map_err(|e| malformed(format!("{e:#}")))? {
                    ProviderPaymentState::Paid { transaction_id, amount, paid_at } => {
                        NotificationKind::PaymentSucceeded { out_trade_no, transaction_id, amount, paid_at }
                    }
                    other => return Err(malformed(format!("TRANSACTION.SUCCESS of a transaction in state {other:?}"))),
                }
            }
            event_type @ ("REFUND.SUCCESS" | "REFUND.ABNORMAL" | "REFUND.CLOSED") => {
                let r: wire::RefundResource =
                    serde_json::from_slice(&open(event_type)?).map_err(|e| malformed(format!("the refund does not read: {e}")))?;
                ours(r.mchid.as_deref())?;
                match r.refund_status.as_str() {
                    "SUCCESS" => NotificationKind::RefundSucceeded {
                        out_trade_no: r.out_trade_no,
                        out_refund_no: r.out_refund_no,
                        refund: Money::new(r.amount.refund, Currency::CNY),
                    },
                    status => NotificationKind::RefundFailed {
                        out_trade_no: r.out_trade_no,
                        out_refund_no: r.out_refund_no,
                        reason: match refund_state(status) {
                            Ok(RefundState::Failed(why)) => why,
                            _ => format!("{event_type} with refund_status {status}"),
                        },
                    },
                }
            }
            other => NotificationKind::Other { event_type: other.to_owned() },
        };
        Ok(Notification { event_id: body.id, kind })
    }

    /// WeChat Pay takes a 200 or 204 as received, whatever the body.
    fn acknowledgement(&self) -> (u16, String) {
        (200, String::new())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    const PRIVATE: &str = include_str!("../../tests/support/wechatpay/merchant_private_key.pem");
    const PUBLIC: &str = include_str!("../../tests/support/wechatpay/merchant_public_key.pem");

    /// A notification made with other tools than this code (see `crypto.rs`'s tests): the
    /// resource sealed by python3's `cryptography`, the body signed by `openssl dgst -sha256
    /// -sign` with the test merchant key, standing in for WeChat Pay's.
    const NOTIFICATION_BODY: &str = r#"{"id":"EV-2026113020000000001","create_time":"2026-11-30T20:00:01+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"支付成功","resource":{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","ciphertext":"FFVaR3nAjvgRYDRke5Du8p+dJupvKJ6wDjP+/+SLL32GQJRefJn3GJRsir4LODueit25RHNSXp0eJOgMstrrUriOiqUUmAMxLGqKOYUmbcUTkHOq4OPpweuMyFPsxrd9Lk5lMqlOteBxEI7HgM5C1tm8sZpZk9KIB+PwmAo9m0ZA+mZa/PGKRvUc24jPdLYRNXKK5d7lwevvJr/AnjcJCptnaDlHVmzCtpaLZNs026CV3mUXIbz0mSZsbZZa8Kbmkabmn+V9/9xVdiQBkUVqFJUdbDBwmTDQFYt51ATy4hcyzkCFBEZrkAlB","associated_data":"transaction","nonce":"fdasflkja484"}}"#;
    const NOTIFICATION_TIMESTAMP: i64 = 1796040001;
    const NOTIFICATION_NONCE: &str = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
    const NOTIFICATION_SIGNATURE: &str = "kfkYj0acQ9UIrJ7qpgn9CHkPYJvAugz/C83GICA0xqXcLYzwOuO4qF40tLTPDfkPnGz74j+TqmScWqn4L3ZgUYvgPr6XTkQwIkIJIR7fwbk+QiDBPzu0u11adbULI+YxCxNprdI00SbHApWJg7uMmRVjxuD+x3kajGFJHmydmxZWRi1exOU4zNLAEdUGhEnm3fYH8P+MLPBzGQJer33fSCEzP/7re41ZqC+SsZ0mrj6F/pQIsWPk7OfQ/Pnm9vPueWH3ipuLn09icflPmQEry74GOY4is4UJuWBPcbYZPGDVZBJCSGppplhQu8SOjTTEbftqHn9LdLnZ9YjxWgsUEg==";
    const KEY_ID: &str = "PUB_KEY_ID_0112345678901234567890123456789012";

    fn config() -> WechatPayConfig {
        WechatPayConfig {
            mchid: "1230000109".into(),
            appid: "wxd678efh567hg6787".into(),
            merchant_serial_no: "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C".into(),
            merchant_private_key: PRIVATE.into(),
            api_v3_key: "kanjian-test-apiv3-key-32-bytes!".into(),
            platform_public_key: PUBLIC.into(),
            platform_public_key_id: KEY_ID.into(),
            ..WechatPayConfig::default()
        }
    }

    fn headers(serial: &str, signature: &str, timestamp: i64) -> Vec<(String, String)> {
        vec![
            ("wechatpay-serial".into(), serial.into()),
            ("wechatpay-signature".into(), signature.into()),
            ("wechatpay-timestamp".into(), timestamp.to_string()),
            ("wechatpay-nonce".into(), NOTIFICATION_NONCE.into()),
            ("wechatpay-signature-type".into(), AUTH_SCHEME.into()),
        ]
    }

    fn at(secs: i64) -> Timestamp {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn the_config_takes_defaults_and_keeps_its_secrets() {
        let c: WechatPayConfig = serde_json::from_str(
            r#"{"mchid": "1230000109", "api_v3_key": "kanjian-test-apiv3-key-32-bytes!", "merchant_private_key": "-----BEGIN PRIVATE KEY-----"}"#,
        )
        .unwrap();
        assert_eq!(c.base_url, "https://api.mch.weixin.qq.com");
        assert_eq!((c.notification_window_secs, c.timeout_secs), (300, 10));
        let shown = format!("{c:?}");
        assert!(shown.contains("1230000109"));
        assert!(!shown.contains("kanjian-test-apiv3") && !shown.contains("BEGIN PRIVATE"), "{shown}");
    }

    #[test]
    fn new_checks_every_key_up_front() {
        let provider = WechatPayProvider::new(config()).unwrap();
        assert_eq!(provider.name(), "wechatpay");
        assert!(!format!("{provider:?}").contains("PRIVATE"));

        let error = |c: WechatPayConfig| format!("{:#}", WechatPayProvider::new(c).unwrap_err());
        let e = error(WechatPayConfig { api_v3_key: "too-short".into(), ..config() });
        assert!(e.contains("api_v3_key") && e.contains("exactly 32 bytes") && e.contains("not 9"), "{e}");
        let e = error(WechatPayConfig { merchant_private_key: PUBLIC.into(), ..config() });
        assert!(e.contains("merchant_private_key"), "{e}");
        let e = error(WechatPayConfig { platform_public_key: "-----BEGIN CERTIFICATE-----".into(), ..config() });
        assert!(e.contains("platform_public_key"), "{e}");
        let e = error(WechatPayConfig { mchid: String::new(), ..config() });
        assert!(e.contains("mchid is not set"), "{e}");
        let e = error(WechatPayConfig { base_url: "ftp://example.com".into(), ..config() });
        assert!(e.contains("base_url"), "{e}");
        let e = error(WechatPayConfig { platform_public_key_id: "PUB KEY".into(), ..config() });
        assert!(e.contains("platform_public_key_id"), "{e}");
    }

    #[test]
    fn the_base_url_may_carry_a_path_prefix() {
        assert_eq!(split_base_url("https://api.mch.weixin.qq.com").unwrap(), ("https://api.mch.weixin.qq.com".into(), String::new()));
        assert_eq!(split_base_url("https://api2.mch.weixin.qq.com/").unwrap(), ("https://api2.mch.weixin.qq.com".into(), String::new()));
        assert_eq!(split_base_url("http://127.0.0.1:9000/wx/").unwrap(), ("http://127.0.0.1:9000".into(), "/wx".into()));
        assert!(split_base_url("127.0.0.1:9000").is_err());
        assert!(split_base_url("https://x?y=1").is_err());
    }

    #[test]
    fn the_authorization_header_is_as_wechat_pay_documents_it() {
        assert_eq!(
            authorization("1900009191", "593BEC0C930BF1AFEB40B4A08C8FB242", "c2ln", 1554208460, "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"),
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="c2ln",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C""#
        );
    }

    #[test]
    fn times_are_written_in_beijing_time_and_read_in_any_offset() {
        let t = Utc.with_ymd_and_hms(2018, 6, 8, 2, 34, 56).unwrap() + chrono::Duration::milliseconds(789);
        assert_eq!(beijing_time(t), "2018-06-08T10:34:56+08:00");
        assert_eq!(parse_time("2018-06-08T10:34:56+08:00"), Some(Utc.with_ymd_and_hms(2018, 6, 8, 2, 34, 56).unwrap()));
        assert_eq!(parse_time("2018-06-08T02:34:56Z"), Some(Utc.with_ymd_and_hms(2018, 6, 8, 2, 34, 56).unwrap()));
        assert_eq!(parse_time("2018-06-08 10:34:56"), None);
    }

    #[test]
    fn our_numbers_are_checked_before_they_reach_a_url() {
        assert!(check_out_trade_no("KJ1").is_ok());
        assert!(check_out_trade_no("1217752501201407033233368018").is_ok());
        for bad in ["", "KJ1/../x", "KJ1?mchid=2", "KJ 1", "订单1", &"1".repeat(33)] {
            assert!(matches!(check_out_trade_no(bad), Err(ProviderError::Refused { .. })), "{bad:?}");
        }
        assert!(check_out_refund_no("KJR12-1").is_ok());
        assert!(check_out_refund_no("KJR12/1").is_err());
        assert!(matches!(fen(Money::new(100, Currency::parse("USD").unwrap()), "x"), Err(ProviderError::Refused { .. })));
        assert!(fen(Money::new(0, Currency::CNY), "x").is_err());
        assert_eq!(clip("看见好物", 2), "看见");
        assert_eq!(clip("ab", 5), "ab");
    }

    #[test]
    fn trade_states_map_to_what_commerce_knows() {
        let t = |json: &str| payment_state(serde_json::from_str(json).unwrap());
        assert_eq!(
            t(r#"{"out_trade_no":"KJ1","transaction_id":"42","trade_state":"SUCCESS","success_time":"2026-11-30T20:00:00+08:00","amount":{"total":1234,"currency":"CNY"}}"#).unwrap(),
            ProviderPaymentState::Paid {
                transaction_id: "42".into(),
                amount: Money::new(1234, Currency::CNY),
                paid_at: Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
            }
        );
        assert_eq!(
            t(r#"{"out_trade_no":"KJ1","transaction_id":"42","trade_state":"REFUND","amount":{"total":5}}"#).unwrap(),
            ProviderPaymentState::Refunded { transaction_id: "42".into(), amount: Money::new(5, Currency::CNY) }
        );
        for (state, want) in [
            ("NOTPAY", ProviderPaymentState::NotPaid),
            ("USERPAYING", ProviderPaymentState::NotPaid),
            ("CLOSED", ProviderPaymentState::Closed),
            ("REVOKED", ProviderPaymentState::Closed),
            ("PAYERROR", ProviderPaymentState::Closed),
        ] {
            assert_eq!(t(&format!(r#"{{"out_trade_no":"KJ1","trade_state":"{state}","amount":{{"total":5}}}}"#)).unwrap(), want);
        }
        // A success without its transaction or time, or a state nobody documented, is not guessed.
        assert!(t(r#"{"out_trade_no":"KJ1","trade_state":"SUCCESS","amount":{"total":5}}"#).is_err());
        assert!(t(r#"{"out_trade_no":"KJ1","trade_state":"PAID"}"#).is_err());
        assert_eq!(refund_state("PROCESSING").unwrap(), RefundState::Processing);
        assert_eq!(refund_state("SUCCESS").unwrap(), RefundState::Succeeded);
        assert!(matches!(refund_state("ABNORMAL").unwrap(), RefundState::Failed(why) if why.starts_with("ABNORMAL")));
        assert!(matches!(refund_state("CLOSED").unwrap(), RefundState::Failed(why) if why.starts_with("CLOSED")));
        assert!(refund_state("DONE").is_err());
    }

    #[test]
    fn reads_a_notification_made_by_other_tools() {
        let provider = WechatPayProvider::new(config()).unwrap();
        let parse = |headers: &[(String, String)], body: &str, now: i64| {
            provider.parse_notification(IncomingNotification { headers, body: body.as_bytes() }, at(now))
        };
        let good = headers(KEY_ID, NOTIFICATION_SIGNATURE, NOTIFICATION_TIMESTAMP);
        let n = parse(&good, NOTIFICATION_BODY, NOTIFICATION_TIMESTAMP + 2).unwrap();
        assert_eq!(n.event_id, "EV-2026113020000000001");
        assert_eq!(
            n.kind,
            NotificationKind::PaymentSucceeded {
                out_trade_no: "KJ1001".into(),
                transaction_id: "4200000000202011300000000001".into(),
                amount: Money::new(1234, Currency::CNY),
                paid_at: Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap(),
            }
        );
        // Within the window either way; outside it, stale.
        assert!(parse(&good, NOTIFICATION_BODY, NOTIFICATION_TIMESTAMP - 300).is_ok());
        assert_eq!(parse(&good, NOTIFICATION_BODY, NOTIFICATION_TIMESTAMP + 301), Err(NotificationRejected::Stale));
        assert_eq!(parse(&good, NOTIFICATION_BODY, NOTIFICATION_TIMESTAMP - 301), Err(NotificationRejected::Stale));
        // Another key id, a re-dated timestamp, a changed body, no signature: not believed.
        let wrong_serial = headers("PUB_KEY_ID_0199999999999999999999999999999999", NOTIFICATION_SIGNATURE, NOTIFICATION_TIMESTAMP);
        assert_eq!(parse(&wrong_serial, NOTIFICATION_BODY, NOTIFICATION_TIMESTAMP), Err(NotificationRejected::BadSignature));
        let redated = headers(KEY_ID, NOTIFICATION_SIGNATURE, NOTIFICATION_TIMESTAMP + 600);
        assert_eq!(parse(&redated, NOTIFICATION_BODY, NOTIFICATION_TIMESTAMP + 600), Err(NotificationRejected::BadSignature));
        let altered = NOTIFICATION_BODY.replace("支付成功", "支付成功 ");
        assert_eq!(parse(&good, &altered, NOTIFICATION_TIMESTAMP), Err(NotificationRejected::BadSignature));
        let unsigned: Vec<_> = good.iter().filter(|(n, _)| n != "wechatpay-signature").cloned().collect();
        assert_eq!(parse(&unsigned, NOTIFICATION_BODY, NOTIFICATION_TIMESTAMP), Err(NotificationRejected::BadSignature));
        assert_eq!(parse(&[], NOTIFICATION_BODY, NOTIFICATION_TIMESTAMP), Err(NotificationRejected::BadSignature));
        // Signed, but the APIv3 key is not the one it was sealed with.
        let other_key = WechatPayProvider::new(WechatPayConfig { api_v3_key: "kanjian-test-apiv3-key-32-bytes?".into(), ..config() }).unwrap();
        let e = other_key.parse_notification(IncomingNotification { headers: &good, body: NOTIFICATION_BODY.as_bytes() }, at(NOTIFICATION_TIMESTAMP));
        assert!(matches!(e, Err(NotificationRejected::Malformed(why)) if why.contains("does not decrypt")));
        // Signed and sealed for another merchant.
        let other_merchant = WechatPayProvider::new(WechatPayConfig { mchid: "1900000001".into(), ..config() }).unwrap();
        let e =
            other_merchant.parse_notification(IncomingNotification { headers: &good, body: NOTIFICATION_BODY.as_bytes() }, at(NOTIFICATION_TIMESTAMP));
        assert!(matches!(e, Err(NotificationRejected::Malformed(why)) if why.contains("1230000109")));
    }
}

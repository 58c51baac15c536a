//! Payments: attempts at a provider, the notifications providers send (webhooks), and
//! reconciliation by query.
//!
//! - **Paying** (`pay_order`) creates an attempt row, asks the provider, and answers what the
//!   payer does next. Idempotent by key; an open attempt with the same provider is answered
//!   again instead of a second one.
//! - **A notification** is verified by its provider (signature, timestamp window, decryption),
//!   stored once per (provider, event id) with an outbox event in the same transaction, and only
//!   then answered 2xx. A replay or a duplicate is answered 2xx and stored no second time.
//! - **Processing** (the outbox handler) moves the attempt `CREATED → SUCCEEDED` and the order
//!   `PENDING_PAYMENT → PAID` in one transaction, each a compare-and-set. Money that arrives for an
//!   order that can no longer take it (cancelled, expired, paid by another attempt) is refunded
//!   automatically: stock that was released is never sold again by a late payment.
//! - **Reconciliation** (the sweep) asks the provider about attempts whose notification did not
//!   come, before an order expires and every `reconcile_after_secs` after, and drives refunds
//!   that did not finish.

pub mod provider;
pub mod sandbox;
pub mod wechatpay;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use kanjian_contracts::commerce::{
    OrderDto, OrderEventKind, OrderState, PayActionDto, PayOrderInput, PaymentDto, PaymentState, SandboxCheckoutDto, WebhookReply,
};
use kanjian_contracts::{EventEnvelope, IntegrationEvent};
use kanjian_db::idempotency::{self, Begun, Key};
use kanjian_events::{EventHandler, HandlerError};
use kanjian_kernel::ids::{OrderId, PaymentId};
use kanjian_kernel::{Actor, Context, Error, Money, Result, Timestamp, UserErrorCode};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};

use self::provider::{
    IncomingNotification, Notification, NotificationKind, NotificationRejected, PayAction, PaymentProvider, PaymentRequest, ProviderError,
    ProviderPaymentState, RefundRequest, RefundState,
};
use crate::Deps;
use crate::access::{self, execute, money};
use crate::entity::{order, payment, payment_notification};
use crate::orders;

/// The providers of this deployment, by name, and the one used when a client names none.
#[derive(Clone, Debug)]
pub struct Providers {
    by_name: HashMap<&'static str, Arc<dyn PaymentProvider>>,
    default: &'static str,
}

impl Providers {
    pub fn new(providers: Vec<Arc<dyn PaymentProvider>>, default: &str) -> anyhow::Result<Self> {
        let by_name: HashMap<&'static str, Arc<dyn PaymentProvider>> = providers.into_iter().map(|p| (p.name(), p)).collect();
        let default = by_name
            .keys()
            .copied()
            .find(|n| *n == default)
            .ok_or_else(|| anyhow::anyhow!("the default payment provider {default:?} is not configured (have: {:?})", by_name.keys()))?;
        Ok(Self { by_name, default })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn PaymentProvider>> {
        self.by_name.get(name)
    }

    pub fn default_name(&self) -> &'static str {
        self.default
    }
}

/// A stored notification is waiting to be processed (commerce's own event).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PaymentNotificationStored {
    pub notification_id: i64,
}
impl IntegrationEvent for PaymentNotificationStored {
    const KIND: &'static str = "commerce.payment_notification_stored";
}

/// The key of a payment attempt at its provider: `KJ` and ten digits (WeChat Pay wants 6 to 32
/// characters).
pub fn out_trade_no(id: PaymentId) -> String {
    format!("KJ{:010}", id.0)
}

fn state_of(row: &payment::Model) -> Result<PaymentState> {
    PaymentState::parse(&row.state).ok_or_else(|| Error::internal(format!("payment {} has unknown state {}", row.id, row.state)))
}

fn dto(row: &payment::Model) -> Result<PaymentDto> {
    let state = state_of(row)?;
    let action: Option<PayAction> = row.action.as_deref().map(serde_json::from_str).transpose().context("reading a payment's action")?;
    Ok(PaymentDto {
        id: PaymentId(row.id),
        order_id: OrderId(row.order_id),
        provider: row.provider.clone(),
        provider_reference: row.out_trade_no.clone(),
        amount: money(row.amount_minor, &row.currency)?,
        state,
        action: action.filter(|_| state == PaymentState::Created).map(|a| match a {
            PayAction::OpenUrl(url) => PayActionDto::OpenUrl(url),
            PayAction::QrCode(code) => PayActionDto::QrCode(code),
        }),
        paid_at: row.paid_at,
        refunded_at: row.refunded_at,
        created_at: row.created_at,
    })
}

fn notify_url(deps: &Deps, provider: &str) -> String {
    format!("{}/payments/notify/{provider}", deps.public_url.trim_end_matches('/'))
}

// ---------------------------------------------------------------------------------------------
// Paying

#[derive(Serialize)]
struct PayFingerprint<'a> {
    order: i64,
    provider: &'a str,
}

#[tracing::instrument(skip_all, fields(order_id = input.order_id.0, provider = tracing::field::Empty))]
pub(crate) async fn pay_order(deps: &Deps, actor: &Actor, input: PayOrderInput) -> Result<PaymentDto> {
    let user = actor.require_user()?;
    let order = orders::own_order(deps.db.reader(), actor, input.order_id).await?;
    let name = input.provider.as_deref().unwrap_or(deps.payments.default_name());
    let Some(provider) = deps.payments.get(name).cloned() else {
        return Err(Error::user("provider", UserErrorCode::Invalid, format!("There is no payment provider {name:?} here.")));
    };
    tracing::Span::current().record("provider", provider.name());
    let key = Key { operation: "pay_order", caller: format!("user:{}", user.0), key: &input.idempotency_key };
    let claim = match idempotency::begin::<PaymentId>(&deps.db, key, &PayFingerprint { order: order.id, provider: provider.name() }).await? {
        Begun::Answered(payment) => return one(deps, payment.0).await,
        Begun::Run(claim) => claim,
    };
    match start_payment(deps, &order, provider.as_ref()).await {
        Ok(payment) => {
            let txn = deps.db.begin().await.context("starting to store a payment's answer")?;
            idempotency::finish(&txn, &claim, &PaymentId(payment.id)).await?;
            txn.commit().await.context("committing a payment's answer")?;
            dto(&payment)
        }
        Err(e) => {
            idempotency::release(&deps.db, claim).await?;
            Err(e)
        }
    }
}

async fn one(deps: &Deps, id: i64) -> Result<PaymentDto> {
    let row = payment::Entity::find_by_id(id).one(deps.db.reader()).await.context("loading a payment")?.ok_or_else(|| Error::not_found("payment"))?;
    dto(&row)
}

/// Checks the order can be paid, then reuses its open attempt with this provider or creates one.
async fn start_payment(deps: &Deps, order: &order::Model, provider: &dyn PaymentProvider) -> Result<payment::Model> {
    let now = deps.db.now();
    match orders::state_of(order)? {
        OrderState::PendingPayment if order.pay_by > now => {}
        OrderState::PendingPayment => {
            return Err(Error::user("orderId", UserErrorCode::Expired, "The payment window of this order has closed."));
        }
        OrderState::Cancelled if order.cancel_reason.as_deref() == Some("PAYMENT_EXPIRED") => {
            return Err(Error::user("orderId", UserErrorCode::Expired, "The payment window of this order closed, so it was cancelled."));
        }
        state => return Err(orders::wrong_state("Only an unpaid order can be paid", state)),
    }
    // All of the order's open attempts (a handful), the newest picked here: with `ORDER BY id
    // DESC LIMIT 1` PostgreSQL walked the primary key backwards through every payment, 3–5 ms
    // each in a flash sale, instead of taking the order's few by its index.
    let open = payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order.id))
        .filter(payment::Column::Provider.eq(provider.name()))
        .filter(payment::Column::State.eq(PaymentState::Created.as_str()))
        .filter(payment::Column::Action.is_not_null())
        .all(deps.db.reader())
        .await
        .context("looking for an open payment")?
        .into_iter()
        .max_by_key(|p| p.id);
    if let Some(open) = open {
        return Ok(open);
    }
    let row = payment::ActiveModel {
        order_id: Set(order.id),
        provider: Set(provider.name().to_owned()),
        out_trade_no: Set(format!("pending-{}", uuid_like())),
        currency: Set(order.currency.clone()),
        amount_minor: Set(order.total_minor),
        state: Set(PaymentState::Created.as_str().to_owned()),
        action: Set(None),
        transaction_id: Set(None),
        paid_at: Set(None),
        refund_reason: Set(None),
        refunded_at: Set(None),
        checked_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(deps.db.writer())
    .await
    .context("creating a payment")?;
    let trade_no = out_trade_no(PaymentId(row.id));
    let mut active: payment::ActiveModel = row.into();
    active.out_trade_no = Set(trade_no.clone());
    let row = active.update(deps.db.writer()).await.context("naming a payment")?;
    let shop = access::find_shop(deps.db.reader(), kanjian_kernel::ids::ShopId(order.shop_id)).await?;
    let request = PaymentRequest {
        out_trade_no: trade_no,
        amount: money(order.total_minor, &order.currency)?,
        description: format!("{} 订单 {}", shop.map(|s| s.name).unwrap_or_default(), order.id),
        expires_at: order.pay_by,
        notify_url: notify_url(deps, provider.name()),
    };
    // Outside any transaction: the provider may take seconds. An attempt left without an answer
    // is found by reconciliation.
    let action = provider.create_payment(&request).await.map_err(|e| match e {
        ProviderError::Unavailable(cause) => {
            tracing::warn!(error = %format!("{cause:#}"), "the payment provider did not answer");
            Error::user("", UserErrorCode::PaymentUnavailable, "The payment provider did not answer; nothing was charged. Try again in a moment.")
        }
        ProviderError::Refused { code, message } => {
            tracing::warn!(%code, %message, "the payment provider refused a payment");
            Error::user("", UserErrorCode::InvalidState, format!("The payment provider refused: {message}"))
        }
    })?;
    let mut active: payment::ActiveModel = row.into();
    active.action = Set(Some(serde_json::to_string(&action).context("storing a payment's action")?));
    active.updated_at = Set(deps.db.now());
    let row = active.update(deps.db.writer()).await.context("storing a payment's action")?;
    tracing::info!(payment_id = row.id, "payment started");
    Ok(row)
}

fn uuid_like() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) async fn order_payments(deps: &Deps, actor: &Actor, order: OrderId) -> Result<Vec<PaymentDto>> {
    if orders::orders_by_ids(deps, actor, &[order]).await?.is_empty() {
        return Err(Error::not_found("order"));
    }
    payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order.0))
        .order_by_desc(payment::Column::Id)
        .all(deps.db.reader())
        .await
        .context("loading an order's payments")?
        .iter()
        .map(dto)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Notifications

fn reply(status: u16, body: impl Into<String>) -> WebhookReply {
    WebhookReply { status, content_type: "application/json", body: body.into() }
}

fn refusal(status: u16, code: &str, message: &str) -> WebhookReply {
    reply(status, serde_json::json!({ "code": code, "message": message }).to_string())
}

pub(crate) async fn receive_notification(deps: &Deps, provider: &str, headers: &[(String, String)], body: &[u8]) -> WebhookReply {
    let Some(provider) = deps.payments.get(provider).cloned() else {
        return refusal(404, "NOT_FOUND", "no such payment provider");
    };
    let parsed = provider.parse_notification(IncomingNotification { headers, body }, deps.db.now());
    let notification = match parsed {
        Ok(n) => n,
        Err(why) => {
            tracing::warn!(provider = provider.name(), reason = %why, "payment notification refused");
            let status = if matches!(why, NotificationRejected::Malformed(_)) { 400 } else { 401 };
            return refusal(status, "FAIL", &why.to_string());
        }
    };
    match store_notification(deps, provider.name(), &notification).await {
        Ok(stored) => {
            match stored {
                // Processed now, so the buyer sees PAID at once rather than after whatever the
                // outbox has queued (a flash sale queues thousands). Its outbox event stays the
                // durable path: it runs again if this fails or the node dies, and finds it done.
                Some(id) => {
                    if let Err(e) = process_notification(deps, id).await {
                        tracing::warn!(error = %e, notification_id = id, "processing a payment notification failed; the outbox will retry it");
                    }
                }
                None => tracing::info!(provider = provider.name(), event_id = %notification.event_id, "payment notification already stored"),
            }
            let (status, body) = provider.acknowledgement();
            WebhookReply { status, content_type: "application/json", body }
        }
        Err(e) => {
            // Not stored: a 5xx, so the provider delivers it again.
            tracing::error!(error = %e, "storing a payment notification failed");
            refusal(500, "FAIL", "not stored; deliver again")
        }
    }
}

/// Stores a verified notification once, with its outbox event: its id, or `None` when it was
/// stored before.
async fn store_notification(deps: &Deps, provider: &str, notification: &Notification) -> Result<Option<i64>> {
    let now = deps.db.now();
    let json = serde_json::to_string(notification).context("storing a notification")?;
    let txn = deps.db.begin().await.context("starting to store a notification")?;
    let inserted = execute(
        &txn,
        "INSERT INTO commerce_payment_notifications (provider, event_id, notification, received_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (provider, event_id) DO NOTHING",
        vec![provider.into(), notification.event_id.clone().into(), json.into(), now.into()],
        "storing a notification",
    )
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(None);
    }
    let id: i64 = payment_notification::Entity::find()
        .select_only()
        .column(payment_notification::Column::Id)
        .filter(payment_notification::Column::Provider.eq(provider))
        .filter(payment_notification::Column::EventId.eq(notification.event_id.clone()))
        .into_tuple()
        .one(&txn)
        .await
        .context("reading a stored notification")?
        .ok_or_else(|| Error::internal("a stored notification vanished"))?;
    deps.outbox.enqueue(&txn, &PaymentNotificationStored { notification_id: id }).await?;
    txn.commit().await.context("committing a notification")?;
    deps.outbox.notify();
    Ok(Some(id))
}

/// Processes a stored notification (the outbox handler). Safe to run twice.
async fn process_notification(deps: &Deps, id: i64) -> Result<()> {
    let Some(row) = payment_notification::Entity::find_by_id(id).one(deps.db.reader()).await.context("loading a notification")? else {
        return Ok(());
    };
    if row.processed_at.is_some() {
        return Ok(());
    }
    let notification: Notification = serde_json::from_str(&row.notification).context("reading a stored notification")?;
    match notification.kind {
        NotificationKind::PaymentSucceeded { out_trade_no, transaction_id, amount, paid_at } => {
            apply_success(deps, &row.provider, &out_trade_no, &transaction_id, amount, paid_at).await?;
        }
        NotificationKind::RefundSucceeded { out_trade_no, .. } => {
            finish_refund(deps, &row.provider, &out_trade_no, true).await?;
        }
        NotificationKind::RefundFailed { out_trade_no, reason, .. } => {
            tracing::error!(%out_trade_no, %reason, "a refund failed at the provider");
            finish_refund(deps, &row.provider, &out_trade_no, false).await?;
        }
        NotificationKind::Other { event_type } => tracing::info!(%event_type, "payment notification of a kind not acted on"),
    }
    execute(
        deps.db.writer(),
        "UPDATE commerce_payment_notifications SET processed_at = $1 WHERE id = $2",
        vec![deps.db.now().into(), id.into()],
        "marking a notification processed",
    )
    .await?;
    Ok(())
}

/// The provider took the money for `out_trade_no`: the attempt succeeds and pays its order, or,
/// if the order can no longer be paid, the money goes back. Safe to run twice.
async fn apply_success(deps: &Deps, provider: &str, out_trade_no: &str, transaction_id: &str, amount: Money, paid_at: Timestamp) -> Result<()> {
    let Some(row) = payment::Entity::find()
        .filter(payment::Column::OutTradeNo.eq(out_trade_no))
        .filter(payment::Column::Provider.eq(provider))
        .one(deps.db.reader())
        .await
        .context("loading a payment")?
    else {
        tracing::warn!(%out_trade_no, "a payment notification for an attempt we never made");
        return Ok(());
    };
    if amount != money(row.amount_minor, &row.currency)? {
        tracing::error!(payment_id = row.id, paid = %amount, expected = row.amount_minor, "a provider reported another amount than the attempt's; not applied");
        return Ok(());
    }
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to apply a payment")?;
    // CLOSED too: money for an attempt closed with its order must be recorded, then refunded.
    let moved = execute(
        &txn,
        "UPDATE commerce_payments SET state = 'SUCCEEDED', transaction_id = $1, paid_at = $2, updated_at = $3 \
         WHERE id = $4 AND state IN ('CREATED', 'CLOSED')",
        vec![transaction_id.into(), paid_at.into(), now.into(), row.id.into()],
        "recording a payment",
    )
    .await?;
    if moved.rows_affected() == 0 {
        // Applied before: a duplicate, or a query after the notification.
        return Ok(());
    }
    let order_id = OrderId(row.order_id);
    let refund_reason = if orders::pay_in(deps, &txn, order_id, now).await? {
        None
    } else {
        let order = order::Entity::find_by_id(row.order_id).one(&txn).await.context("loading an order")?;
        Some(match order.as_ref().map(orders::state_of).transpose()? {
            Some(OrderState::Cancelled) => "The order was cancelled before the payment arrived.",
            _ => "The order was already paid by another payment.",
        })
    };
    if let Some(reason) = refund_reason {
        execute(
            &txn,
            "UPDATE commerce_payments SET state = 'REFUNDING', refund_reason = $1, updated_at = $2 WHERE id = $3",
            vec![reason.into(), now.into(), row.id.into()],
            "starting a refund",
        )
        .await?;
    }
    txn.commit().await.context("committing a payment")?;
    deps.outbox.notify();
    match refund_reason {
        None => tracing::info!(payment_id = row.id, order_id = row.order_id, "payment applied; order paid"),
        Some(reason) => {
            tracing::warn!(payment_id = row.id, order_id = row.order_id, reason, "payment arrived for an order that cannot take it; refunding");
            drive_refund(deps, row.id).await?;
        }
    }
    Ok(())
}

/// Asks the provider to refund a REFUNDING attempt (idempotent by `out_refund_no`), and records
/// the answer. Run again by reconciliation until it is done.
async fn drive_refund(deps: &Deps, id: i64) -> Result<()> {
    let Some(row) = payment::Entity::find_by_id(id).one(deps.db.reader()).await.context("loading a payment")? else { return Ok(()) };
    if row.state != PaymentState::Refunding.as_str() {
        return Ok(());
    }
    let Some(provider) = deps.payments.get(&row.provider).cloned() else {
        return Err(Error::internal(format!("payment {} is of provider {} that is not configured", row.id, row.provider)));
    };
    let amount = money(row.amount_minor, &row.currency)?;
    let request = RefundRequest {
        out_trade_no: row.out_trade_no.clone(),
        out_refund_no: format!("KJR{:010}", row.id),
        refund: amount,
        total: amount,
        reason: row.refund_reason.clone().unwrap_or_default(),
        notify_url: notify_url(deps, provider.name()),
    };
    let state = provider.refund(&request).await;
    execute(
        deps.db.writer(),
        "UPDATE commerce_payments SET checked_at = $1 WHERE id = $2",
        vec![deps.db.now().into(), row.id.into()],
        "noting a refund attempt",
    )
    .await?;
    match state {
        Ok(RefundState::Succeeded) => finish_refund(deps, &row.provider, &row.out_trade_no, true).await,
        Ok(RefundState::Processing) => Ok(()),
        Ok(RefundState::Failed(why)) => {
            tracing::error!(payment_id = row.id, %why, "a refund was refused");
            finish_refund(deps, &row.provider, &row.out_trade_no, false).await
        }
        Err(e) => {
            tracing::warn!(payment_id = row.id, error = %e, "a refund did not reach the provider; reconciliation retries it");
            Ok(())
        }
    }
}

/// A refund is over: REFUNDING becomes REFUNDED (with an entry on the order's timeline) or
/// REFUND_FAILED.
async fn finish_refund(deps: &Deps, provider: &str, out_trade_no: &str, succeeded: bool) -> Result<()> {
    let Some(row) = payment::Entity::find()
        .filter(payment::Column::OutTradeNo.eq(out_trade_no))
        .filter(payment::Column::Provider.eq(provider))
        .one(deps.db.reader())
        .await
        .context("loading a payment")?
    else {
        return Ok(());
    };
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to finish a refund")?;
    let to = if succeeded { PaymentState::Refunded } else { PaymentState::RefundFailed };
    let moved = execute(
        &txn,
        "UPDATE commerce_payments SET state = $1, refunded_at = $2, updated_at = $2 WHERE id = $3 AND state = 'REFUNDING'",
        vec![to.as_str().into(), if succeeded { Some(now) } else { None }.into(), row.id.into()],
        "finishing a refund",
    )
    .await?;
    if moved.rows_affected() == 1 && succeeded {
        let note = format!("{} was refunded: {}", money(row.amount_minor, &row.currency)?, row.refund_reason.clone().unwrap_or_default());
        orders::add_timeline(&txn, row.order_id, OrderEventKind::Refunded, now, None, note).await?;
    }
    txn.commit().await.context("committing a refund")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reconciliation

/// How many attempts one pass asks about.
const RECONCILE_BATCH: u64 = 50;

/// Asks the provider about `order`'s open attempts and applies any that was paid: called before
/// the order expires, so a payment whose notification is late is not taken for none.
pub(crate) async fn settle_open_attempts(deps: &Deps, order: i64) -> Result<()> {
    let open = payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order))
        .filter(payment::Column::State.eq(PaymentState::Created.as_str()))
        .all(deps.db.reader())
        .await
        .context("loading an order's open payments")?;
    for row in open {
        check_with_provider(deps, &row).await?;
    }
    Ok(())
}

async fn check_with_provider(deps: &Deps, row: &payment::Model) -> Result<()> {
    let Some(provider) = deps.payments.get(&row.provider).cloned() else { return Ok(()) };
    let answer = provider.query_payment(&row.out_trade_no).await;
    execute(
        deps.db.writer(),
        "UPDATE commerce_payments SET checked_at = $1 WHERE id = $2",
        vec![deps.db.now().into(), row.id.into()],
        "noting a payment check",
    )
    .await?;
    match answer {
        Ok(ProviderPaymentState::Paid { transaction_id, amount, paid_at }) => {
            tracing::info!(payment_id = row.id, "reconciliation found a payment whose notification did not arrive");
            apply_success(deps, &row.provider, &row.out_trade_no, &transaction_id, amount, paid_at).await
        }
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(payment_id = row.id, error = %e, "reconciliation could not reach the payment provider");
            Ok(())
        }
    }
}

/// One pass: open attempts not heard of for `reconcile_after_secs`, and refunds not finished.
pub(crate) async fn reconcile(deps: &Deps) -> Result<u64> {
    let now = deps.db.now();
    let quiet_since = now - chrono::Duration::seconds(i64::try_from(deps.config.reconcile_after_secs).unwrap_or(60));
    let mut checked = 0;
    for state in [PaymentState::Created, PaymentState::Refunding] {
        let rows = payment::Entity::find()
            .filter(payment::Column::State.eq(state.as_str()))
            .filter(payment::Column::CreatedAt.lte(quiet_since))
            .filter(payment::Column::CheckedAt.is_null().or(payment::Column::CheckedAt.lte(quiet_since)))
            .order_by_asc(payment::Column::CheckedAt)
            .limit(RECONCILE_BATCH)
            .all(deps.db.reader())
            .await
            .context("finding payments to reconcile")?;
        for row in rows {
            checked += 1;
            match state {
                PaymentState::Created => check_with_provider(deps, &row).await?,
                _ => drive_refund(deps, row.id).await?,
            }
        }
    }
    Ok(checked)
}

// ---------------------------------------------------------------------------------------------
// The sandbox page

pub(crate) async fn sandbox_checkout(deps: &Deps, token: &str) -> Result<SandboxCheckoutDto> {
    let sandbox = deps.sandbox.as_ref().ok_or_else(|| Error::not_found("payment"))?;
    let row = sandbox.checkout(token).await?.ok_or_else(|| Error::not_found("payment"))?;
    let state = if row.state == "OPEN" && row.expires_at <= deps.db.now() { "CLOSED".to_owned() } else { row.state.clone() };
    Ok(SandboxCheckoutDto { amount: money(row.amount_minor, &row.currency)?, description: row.description, state, expires_at: row.expires_at })
}

pub(crate) async fn sandbox_decide(deps: &Deps, token: &str, pay: bool) -> Result<SandboxCheckoutDto> {
    let sandbox = deps.sandbox.as_ref().ok_or_else(|| Error::not_found("payment"))?;
    let row = sandbox.checkout(token).await?.ok_or_else(|| Error::not_found("payment"))?;
    if let Some((headers, body)) = sandbox.decide(&row, pay).await? {
        // Delivered through the webhook's own entry (verified, stored, answered) as a provider's
        // HTTP request would be; a failure here is found by reconciliation's query.
        let answer = receive_notification(deps, sandbox::NAME, &headers, body.as_bytes()).await;
        if answer.status >= 300 {
            tracing::warn!(status = answer.status, body = %answer.body, "the sandbox's notification was not taken; reconciliation will find the payment");
        }
    }
    sandbox_checkout(deps, token).await
}

// ---------------------------------------------------------------------------------------------
// Watching an order

fn topic(order: i64) -> String {
    format!("commerce.orders.{order}")
}

pub(crate) async fn watch_order(deps: &Arc<Deps>, actor: &Actor, id: OrderId) -> Result<BoxStream<'static, OrderDto>> {
    // Subscribed before the first read, so a change between the two is not missed.
    let changes = deps.hub.subscribe(&topic(id.0)).await.map_err(Error::Internal)?;
    let first = orders::orders_by_ids(deps, actor, &[id]).await?.pop().ok_or_else(|| Error::not_found("order"))?;
    let deps = deps.clone();
    let actor = actor.clone();
    let done = |o: &OrderDto| matches!(o.state, OrderState::Completed | OrderState::Cancelled);
    let stream = futures::stream::unfold(
        (Some(first), changes, 0i64, false),
        move |(pending, mut changes, mut last, finished)| {
            let deps = deps.clone();
            let actor = actor.clone();
            async move {
                if let Some(order) = pending {
                    last = order.version;
                    let finished = done(&order);
                    return Some((order, (None, changes, last, finished)));
                }
                if finished {
                    return None;
                }
                while changes.next().await.is_some() {
                    let Ok(Some(order)) = orders::orders_by_ids(&deps, &actor, &[id]).await.map(|mut o| o.pop()) else { continue };
                    if order.version > last {
                        last = order.version;
                        let finished = done(&order);
                        return Some((order, (None, changes, last, finished)));
                    }
                }
                None
            }
        },
    );
    Ok(stream.boxed())
}

/// Tells watchers of an order that it changed, on every node: run for every order event.
pub(crate) struct PushOrderChanges {
    pub deps: Arc<Deps>,
}

#[derive(Deserialize)]
struct AnyOrderEvent {
    order_id: OrderId,
    version: i64,
}

#[async_trait]
impl EventHandler for PushOrderChanges {
    fn name(&self) -> &'static str {
        "commerce.push_order_changes"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &[
            kanjian_contracts::commerce::OrderPlaced::KIND,
            kanjian_contracts::commerce::OrderPaid::KIND,
            kanjian_contracts::commerce::OrderShipped::KIND,
            kanjian_contracts::commerce::OrderCompleted::KIND,
            kanjian_contracts::commerce::OrderCancelled::KIND,
        ]
    }

    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let e: AnyOrderEvent = serde_json::from_value(event.payload.clone()).map_err(|e| HandlerError::Permanent(e.into()))?;
        self.deps.hub.publish(&topic(e.order_id.0), serde_json::json!({ "version": e.version })).await.map_err(HandlerError::Transient)
    }
}

/// Processes stored payment notifications.
pub(crate) struct ProcessNotifications {
    pub deps: Arc<Deps>,
}

#[async_trait]
impl EventHandler for ProcessNotifications {
    fn name(&self) -> &'static str {
        "commerce.process_payment_notification"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &[PaymentNotificationStored::KIND]
    }

    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let e: PaymentNotificationStored = serde_json::from_value(event.payload.clone()).map_err(|e| HandlerError::Permanent(e.into()))?;
        Ok(process_notification(&self.deps, e.notification_id).await?)
    }
}

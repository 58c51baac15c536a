//! Paying orders: the sandbox provider's page and signed notifications, the webhook that stores
//! each notification once before answering, processing through the outbox, refunds of money
//! that arrives too late, and reconciliation by query. On a real database, events handed to the
//! handlers as the dispatcher would (`deliver`), sometimes twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use futures::StreamExt;
use kanjian_commerce::payments::{out_trade_no, sandbox};
use kanjian_contracts::commerce::*;
use kanjian_kernel::ids::{AddressId, OrderId, SkuId};
use kanjian_kernel::{Error, UserErrorCode};
use support::*;

fn token_of(payment: &PaymentDto) -> String {
    match payment.action.as_ref().unwrap() {
        PayActionDto::OpenUrl(url) => url.rsplit('/').next().unwrap().to_owned(),
        other => panic!("the sandbox opens a page, got {other:?}"),
    }
}

impl TestApp {
    async fn pay(&self, buyer: i64, order: OrderId, key: &str) -> kanjian_kernel::Result<PaymentDto> {
        self.commerce
            .pay_order(&user(buyer), PayOrderInput { order_id: order, provider: None, idempotency_key: key.into() })
            .await
    }

    async fn order(&self, buyer: i64, id: OrderId) -> OrderDto {
        self.commerce.orders_by_ids(&user(buyer), &[id]).await.unwrap().pop().unwrap()
    }

    async fn payments_of(&self, buyer: i64, id: OrderId) -> Vec<PaymentDto> {
        self.commerce.order_payments(&user(buyer), id).await.unwrap()
    }

    async fn notifications(&self) -> i64 {
        self.scalar("SELECT COUNT(*) FROM commerce_payment_notifications").await
    }

    async fn webhook(&self, headers: &[(String, String)], body: &str) -> WebhookReply {
        let gateway: &dyn PaymentGateway = &self.commerce;
        gateway.receive_notification(sandbox::NAME, headers, body.as_bytes()).await
    }

    async fn placed(&self) -> (Catalog, AddressId, OrderDto) {
        let c = self.catalog(5, None).await;
        let addr = self.address(10).await;
        let order = self.buy(10, c.red, 2, addr, "buy-1").await.unwrap();
        (c, addr, order)
    }
}

#[tokio::test]
async fn a_sandbox_payment_pays_the_order_through_its_signed_notification() {
    let app = app().await;
    let (c, _, order) = app.placed().await;
    let watch = app.commerce.watch_order(&user(10), order.id).await.unwrap();
    let payment = app.pay(10, order.id, "pay-1").await.unwrap();
    assert_eq!(payment.state, PaymentState::Created);
    assert_eq!(payment.amount, order.total);
    assert_eq!(payment.provider, "sandbox");
    let url = match payment.action.as_ref().unwrap() {
        PayActionDto::OpenUrl(url) => url.clone(),
        other => panic!("{other:?}"),
    };
    assert!(url.starts_with("https://kanjian.example/pay/sandbox/"), "{url}");
    // The same key answers the same attempt; a new key finds the open attempt instead of a
    // second one.
    assert_eq!(app.pay(10, order.id, "pay-1").await.unwrap().id, payment.id);
    assert_eq!(app.pay(10, order.id, "pay-2").await.unwrap().id, payment.id);
    // Someone else cannot pay (nor learn of) the order.
    assert!(matches!(app.pay(STRANGER, order.id, "x").await, Err(Error::NotFound(_))));

    let gateway: &dyn PaymentGateway = &app.commerce;
    let page = gateway.sandbox_checkout(&token_of(&payment)).await.unwrap();
    assert_eq!((page.amount, page.state.as_str()), (order.total, "OPEN"));
    assert!(matches!(gateway.sandbox_checkout("no-such-token").await, Err(Error::NotFound(_))));
    let page = gateway.sandbox_decide(&token_of(&payment), true).await.unwrap();
    assert_eq!(page.state, "PAID");
    assert_eq!(app.notifications().await, 1, "stored before it was answered");
    // Processed before the answer too; its outbox event (the durable path) then finds it done.
    let paid = app.order(10, order.id).await;
    assert_eq!(paid.state, OrderState::Paid, "processed as it was received");
    let before = app.fingerprint().await;
    app.deliver().await;
    assert_eq!(app.fingerprint().await, before, "the outbox's run of a processed notification moves nothing");
    let paid = app.order(10, order.id).await;
    assert_eq!(paid.state, OrderState::Paid);
    assert_eq!(app.payments_of(10, order.id).await[0].state, PaymentState::Succeeded);
    let red = app.sku(c.red, OWNER).await;
    assert_eq!((red.stock, red.held, red.sold), (3, 0, 2));
    app.check_stock().await;
    // Delivered again: nothing moves a second time.
    let before = app.fingerprint().await;
    app.deliver_after(0).await;
    assert_eq!(app.fingerprint().await, before);
    // Deciding again on the page changes nothing either.
    assert_eq!(gateway.sandbox_decide(&token_of(&payment), true).await.unwrap().state, "PAID");
    assert_eq!(app.notifications().await, 1);

    // The watcher saw the order, then saw it paid.
    let seen: Vec<OrderState> = watch.take(2).map(|o| o.state).collect().await;
    assert_eq!(seen, vec![OrderState::PendingPayment, OrderState::Paid]);
    // Paying a paid order is refused, and writes nothing.
    let before = app.fingerprint().await;
    assert_eq!(code(&app.pay(10, order.id, "pay-3").await.unwrap_err()), UserErrorCode::InvalidState);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn notifications_that_are_replayed_tampered_unsigned_or_stale_are_refused_or_stored_once() {
    let app = app().await;
    let (_, _, order) = app.placed().await;
    let payment = app.pay(10, order.id, "pay-1").await.unwrap();
    let trade_no = out_trade_no(payment.id);
    let sandbox = app.commerce.sandbox().unwrap();
    let now = app.clock.now();
    let (headers, body) = sandbox.sign_for_test("evt-1", &trade_no, order.total, now);

    // Tampered: the amount changed after signing.
    let tampered = body.replace(&format!("\"amount_minor\":{}", order.total.minor), "\"amount_minor\":1");
    assert_ne!(tampered, body);
    assert_eq!(app.webhook(&headers, &tampered).await.status, 401);
    // Unsigned, and signed with another key.
    assert_eq!(app.webhook(&[], &body).await.status, 401);
    let mut forged = headers.clone();
    forged.iter_mut().find(|(n, _)| n == sandbox::SIGNATURE_HEADER).unwrap().1 = "AAAA".into();
    assert_eq!(app.webhook(&forged, &body).await.status, 401);
    // Stale: signed six minutes ago.
    let (old_headers, old_body) = sandbox.sign_for_test("evt-old", &trade_no, order.total, now - chrono::Duration::minutes(6));
    assert_eq!(app.webhook(&old_headers, &old_body).await.status, 401);
    assert_eq!(app.notifications().await, 0, "nothing refused is stored");
    assert_eq!(app.order(10, order.id).await.state, OrderState::PendingPayment);

    // The genuine one, delivered three times (a provider retrying): stored once, 2xx each time.
    for _ in 0..3 {
        assert_eq!(app.webhook(&headers, &body).await.status, 200);
    }
    assert_eq!(app.notifications().await, 1);
    app.deliver().await;
    assert_eq!(app.order(10, order.id).await.state, OrderState::Paid);
    // A second notification of the same payment (another event id, e.g. after reconciliation):
    // applied once only.
    let (h2, b2) = sandbox.sign_for_test("evt-2", &trade_no, order.total, now);
    assert_eq!(app.webhook(&h2, &b2).await.status, 200);
    let before = app.fingerprint().await;
    app.deliver().await;
    assert_eq!(app.fingerprint().await, before);
    // A notification for an attempt that was never made is acknowledged and changes nothing.
    let (h3, b3) = sandbox.sign_for_test("evt-3", "KJ9999999999", order.total, now);
    assert_eq!(app.webhook(&h3, &b3).await.status, 200);
    app.deliver().await;
    app.check_stock().await;
}

#[tokio::test]
async fn money_that_arrives_after_the_order_expired_is_refunded_and_sells_nothing() {
    let app = app().await;
    let (c, _, order) = app.placed().await;
    let payment = app.pay(10, order.id, "pay-1").await.unwrap();
    app.clock.advance(Duration::from_secs(15 * 60 + 1));
    // The sweep asks the sandbox first (not paid), then cancels and releases the stock.
    let swept = app.commerce.sweep_once().await.unwrap();
    assert_eq!(swept.expired, 1);
    app.deliver().await;
    assert_eq!(app.payments_of(10, order.id).await[0].state, PaymentState::Closed);
    assert_eq!(app.sku(c.red, OWNER).await.stock, 5);
    // Paying it now is refused as expired.
    assert_eq!(code(&app.pay(10, order.id, "pay-2").await.unwrap_err()), UserErrorCode::Expired);
    // The page refuses too (its window closed).
    let gateway: &dyn PaymentGateway = &app.commerce;
    assert_eq!(gateway.sandbox_decide(&token_of(&payment), true).await.unwrap().state, "CLOSED");

    // A provider that took the money anyway: its notification is stored, and the money goes
    // back; the released stock is not sold.
    let sandbox = app.commerce.sandbox().unwrap();
    execute_sql(&app, &format!("UPDATE commerce_sandbox_payments SET state = 'PAID' WHERE out_trade_no = '{}'", out_trade_no(payment.id))).await;
    let (headers, body) = sandbox.sign_for_test("late-1", &out_trade_no(payment.id), order.total, app.clock.now());
    assert_eq!(app.webhook(&headers, &body).await.status, 200);
    app.deliver().await;
    let payments = app.payments_of(10, order.id).await;
    assert_eq!(payments[0].state, PaymentState::Refunded);
    let expired = app.order(10, order.id).await;
    assert_eq!(expired.state, OrderState::Cancelled);
    let red = app.sku(c.red, OWNER).await;
    assert_eq!((red.stock, red.held, red.sold), (5, 0, 0));
    let timeline = app.commerce.order_timeline(&user(10), order.id).await.unwrap();
    assert_eq!(timeline.last().unwrap().kind, OrderEventKind::Refunded);
    app.check_stock().await;
}

#[tokio::test]
async fn a_cancelled_order_cannot_be_paid_and_a_payment_racing_the_cancel_is_refunded() {
    let app = app().await;
    let (_, _, order) = app.placed().await;
    let payment = app.pay(10, order.id, "pay-1").await.unwrap();
    app.commerce.cancel_order(&user(10), CancelOrderInput { order_id: order.id, idempotency_key: "c".into() }).await.unwrap();
    let before = app.fingerprint().await;
    assert_eq!(code(&app.pay(10, order.id, "pay-2").await.unwrap_err()), UserErrorCode::InvalidState);
    assert_eq!(app.fingerprint().await, before);
    // The person still had the page open and paid: the money goes back.
    let gateway: &dyn PaymentGateway = &app.commerce;
    gateway.sandbox_decide(&token_of(&payment), true).await.unwrap();
    app.deliver().await;
    assert_eq!(app.payments_of(10, order.id).await[0].state, PaymentState::Refunded);
    assert_eq!(app.order(10, order.id).await.state, OrderState::Cancelled);
    app.check_stock().await;
}

#[tokio::test]
async fn a_payment_whose_notification_never_comes_is_found_by_asking_the_provider() {
    let app = app().await;
    let (_, _, order) = app.placed().await;
    let payment = app.pay(10, order.id, "pay-1").await.unwrap();
    // Paid at the provider, but the notification is lost.
    execute_sql(&app, &format!("UPDATE commerce_sandbox_payments SET state = 'PAID', transaction_id = 'SBX-lost' WHERE out_trade_no = '{}'", out_trade_no(payment.id))).await;
    assert_eq!(app.commerce.sweep_once().await.unwrap().reconciled, 0, "too soon to ask");
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(app.commerce.sweep_once().await.unwrap().reconciled, 1);
    assert_eq!(app.order(10, order.id).await.state, OrderState::Paid);
    assert_eq!(app.payments_of(10, order.id).await[0].state, PaymentState::Succeeded);
    app.check_stock().await;

    // Another order whose payment is lost right before its window closes: the expiry asks
    // first, and the order is paid, not cancelled.
    let addr = app.address(10).await;
    let c = app.catalog_sku_of(&order).await;
    let second = app.buy(10, c, 1, addr, "buy-2").await.unwrap();
    let p2 = app.pay(10, second.id, "pay-2").await.unwrap();
    execute_sql(&app, &format!("UPDATE commerce_sandbox_payments SET state = 'PAID' WHERE out_trade_no = '{}'", out_trade_no(p2.id))).await;
    app.clock.advance(Duration::from_secs(15 * 60 + 1));
    let swept = app.commerce.sweep_once().await.unwrap();
    assert_eq!(swept.expired, 0);
    assert_eq!(app.order(10, second.id).await.state, OrderState::Paid);
    app.check_stock().await;
}

async fn execute_sql(app: &TestApp, sql: &str) {
    use sea_orm::ConnectionTrait;
    app.db.execute_unprepared(sql).await.unwrap();
}

impl TestApp {
    async fn catalog_sku_of(&self, order: &OrderDto) -> SkuId {
        order.lines[0].sku_id
    }
}

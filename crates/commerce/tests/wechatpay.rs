//! The WeChat Pay APIv3 adapter against the WeChat Pay simulator, a separate process with its own
//! keys and its own implementation of the protocol (`wechatpay-simulator/`): Native orders,
//! queries, refunds, signed and encrypted notifications, and the faults WeChat Pay and the
//! network can bring.

#[path = "support/wechatpay_sim.rs"]
mod sim;

use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound as _, Utc};
use kanjian_commerce::payments::provider::{
    IncomingNotification, NotificationKind, NotificationRejected, PayAction, PaymentProvider, PaymentRequest, ProviderError,
    ProviderPaymentState, RefundRequest, RefundState,
};
use kanjian_commerce::payments::wechatpay::{WechatPayConfig, WechatPayProvider};
use kanjian_kernel::{Currency, Money};
use serde_json::json;
use sim::{Simulator, Webhook};

fn cny(fen: i64) -> Money {
    Money::new(fen, Currency::CNY)
}

fn payment(out_trade_no: &str, fen: i64, webhook: &Webhook) -> PaymentRequest {
    PaymentRequest {
        out_trade_no: out_trade_no.into(),
        amount: cny(fen),
        description: "看见好物 订单 1001".into(),
        expires_at: Utc::now() + chrono::Duration::minutes(15),
        notify_url: webhook.url.clone(),
    }
}

fn refund(out_trade_no: &str, out_refund_no: &str, fen: i64, total: i64, webhook: &Webhook) -> RefundRequest {
    RefundRequest {
        out_trade_no: out_trade_no.into(),
        out_refund_no: out_refund_no.into(),
        refund: cny(fen),
        total: cny(total),
        reason: "买家取消".into(),
        notify_url: webhook.url.clone(),
    }
}

#[track_caller]
fn refused(result: Result<impl std::fmt::Debug, ProviderError>, want: &str) {
    match result {
        Err(ProviderError::Refused { code, .. }) if code == want => {}
        other => panic!("expected a refusal {want}, got {other:?}"),
    }
}

#[track_caller]
fn unavailable(result: Result<impl std::fmt::Debug, ProviderError>, says: &str) {
    match result {
        Err(ProviderError::Unavailable(e)) if format!("{e:#}").contains(says) => {}
        other => panic!("expected Unavailable saying {says:?}, got {other:?}"),
    }
}

/// A simulator, the adapter configured for it, and the merchant's webhook.
async fn start() -> (Simulator, std::sync::Arc<WechatPayProvider>, Webhook) {
    let sim = Simulator::start();
    let provider = sim.provider();
    let webhook = Webhook::start(provider.clone());
    (sim, provider, webhook)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_payment_is_created_paid_notified_and_queried() {
    let (sim, provider, mut webhook) = start().await;
    let request = payment("KJ1001", 1234, &webhook);

    let action = provider.create_payment(&request).await.unwrap();
    let PayAction::QrCode(code_url) = &action else { panic!("a Native payment is a QR code: {action:?}") };
    assert!(code_url.starts_with("weixin://wxpay/bizpayurl?pr="), "{code_url}");
    // What WeChat Pay was sent: fen, the expiry in Beijing time at whole seconds.
    let order = sim.order("KJ1001").await;
    assert_eq!(order["amount"]["total"], 1234);
    assert_eq!(order["amount"]["currency"], "CNY");
    let time_expire = order["time_expire"].as_str().unwrap();
    assert!(time_expire.ends_with("+08:00"), "{time_expire}");
    assert_eq!(DateTime::parse_from_rfc3339(time_expire).unwrap(), request.expires_at.trunc_subsecs(0));
    assert_eq!(order["notify_url"], webhook.url.as_str());
    assert_eq!(provider.query_payment("KJ1001").await.unwrap(), ProviderPaymentState::NotPaid);

    // Asked again while unpaid: the same code, nothing new. With other parameters: refused.
    assert_eq!(provider.create_payment(&request).await.unwrap(), action);
    refused(provider.create_payment(&PaymentRequest { amount: cny(999), ..request.clone() }).await, "INVALID_REQUEST");

    // The payer scans and pays: the notification is believed and says so.
    let (transaction_id, notification_id) = sim.pay("KJ1001", json!({})).await;
    let notification = webhook.next().await.ok();
    assert_eq!(notification.event_id, notification_id);
    let NotificationKind::PaymentSucceeded { out_trade_no, transaction_id: tid, amount, paid_at } = notification.kind else {
        panic!("{notification:?}")
    };
    assert_eq!((out_trade_no.as_str(), tid.as_str(), amount), ("KJ1001", transaction_id.as_str(), cny(1234)));
    assert!((Utc::now() - paid_at).num_seconds().abs() < 10);
    // The webhook's 200 ended it: one delivery.
    sim.wait_notification_state(&notification_id, "delivered").await;
    let deliveries = sim.deliveries_of(&notification_id).await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0]["status"], 200);

    // The query agrees, to the second.
    assert_eq!(
        provider.query_payment("KJ1001").await.unwrap(),
        ProviderPaymentState::Paid { transaction_id: transaction_id.clone(), amount: cny(1234), paid_at }
    );
    // Paid once: asking to create it again is refused, not charged again.
    refused(provider.create_payment(&request).await, "ORDERPAID");
    // An order WeChat Pay never saw.
    assert_eq!(provider.query_payment("KJ404404").await.unwrap(), ProviderPaymentState::Unknown);
    // A closed one.
    provider.create_payment(&payment("KJ1002", 50, &webhook)).await.unwrap();
    sim.ok("POST", "/_sim/orders/KJ1002/close", None).await;
    assert_eq!(provider.query_payment("KJ1002").await.unwrap(), ProviderPaymentState::Closed);
    refused(provider.create_payment(&payment("KJ1002", 50, &webhook)).await, "ORDER_CLOSED");
    // Past its time_expire, an unpaid one is closed too, and cannot be paid.
    let expired = PaymentRequest { expires_at: Utc::now() - chrono::Duration::seconds(1), ..payment("KJ1003", 50, &webhook) };
    provider.create_payment(&expired).await.unwrap();
    assert_eq!(provider.query_payment("KJ1003").await.unwrap(), ProviderPaymentState::Closed);
    assert_eq!(sim.control("POST", "/_sim/orders/KJ1003/pay", None).await.0, 409);
    assert!(webhook.pending().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_delayed_and_reordered_notifications() {
    let (sim, provider, mut webhook) = start().await;
    for no in ["KJ2001", "KJ2002", "KJ2003", "KJ2004"] {
        provider.create_payment(&payment(no, 100, &webhook)).await.unwrap();
    }

    // Delivered three times: the same event each time, so it is stored once.
    let (_, id) = sim.pay("KJ2001", json!({"duplicate": 3})).await;
    for _ in 0..3 {
        let n = webhook.next().await.ok();
        assert_eq!(n.event_id, id);
        assert!(matches!(n.kind, NotificationKind::PaymentSucceeded { ref out_trade_no, .. } if out_trade_no == "KJ2001"));
    }
    sim.wait_notification_state(&id, "delivered").await;
    assert_eq!(sim.deliveries_of(&id).await.len(), 3);

    // Held back while a later one goes first.
    let (_, held) = sim.pay("KJ2002", json!({"hold": true})).await;
    let (_, later) = sim.pay("KJ2003", json!({})).await;
    assert_eq!(webhook.next().await.ok().event_id, later);
    assert_eq!(sim.ok("POST", "/_sim/notifications/release", None).await["released"], 1);
    assert_eq!(webhook.next().await.ok().event_id, held);

    // Delayed.
    let asked = Instant::now();
    let (_, delayed) = sim.pay("KJ2004", json!({"delay_ms": 300})).await;
    let n = webhook.next().await;
    assert!(n.at.duration_since(asked) >= Duration::from_millis(300));
    assert_eq!(n.ok().event_id, delayed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoilt_notifications_are_rejected_and_their_retries_believed() {
    let (sim, provider, mut webhook) = start().await;
    let cases = [
        ("tamper", NotificationRejected::BadSignature),
        ("bad_signature", NotificationRejected::BadSignature),
        ("wrong_serial", NotificationRejected::BadSignature),
        ("unsigned", NotificationRejected::BadSignature),
        ("stale", NotificationRejected::Stale),
    ];
    for (i, (fault, rejected)) in cases.into_iter().enumerate() {
        let no = format!("KJ300{i}");
        provider.create_payment(&payment(&no, 100, &webhook)).await.unwrap();
        let (_, id) = sim.pay(&no, json!({ fault: true })).await;
        let first = webhook.next().await;
        match fault {
            "tamper" => assert!(String::from_utf8_lossy(&first.body).contains("(tampered)")),
            "unsigned" => assert!(first.header("wechatpay-signature").is_none()),
            "wrong_serial" => assert_ne!(first.header("wechatpay-serial"), Some(sim.platform_public_key_id.as_str())),
            _ => {}
        }
        assert_eq!(first.parsed.as_ref().err(), Some(&rejected), "{fault}");
        // Refused with a 4xx, WeChat Pay delivers it again, intact this time.
        let retry = webhook.next().await.ok();
        assert_eq!(retry.event_id, id, "{fault}");
        assert!(matches!(retry.kind, NotificationKind::PaymentSucceeded { ref out_trade_no, .. } if *out_trade_no == no));
        sim.wait_notification_state(&id, "delivered").await;
        let deliveries = sim.deliveries_of(&id).await;
        assert_eq!(deliveries.len(), 2, "{fault}: {deliveries:?}");
        assert_eq!(deliveries[0]["status"], 401);
        assert_eq!(deliveries[1]["status"], 200);
    }

    // Encrypted with another APIv3 key: signed correctly, and never readable. Every try is
    // refused until WeChat Pay gives up; the payment is found by a query.
    provider.create_payment(&payment("KJ3100", 100, &webhook)).await.unwrap();
    let (transaction_id, id) = sim.pay("KJ3100", json!({"wrong_key": true})).await;
    for _ in 0..4 {
        let n = webhook.next().await;
        assert!(matches!(&n.parsed, Err(NotificationRejected::Malformed(why)) if why.contains("does not decrypt")), "{:?}", n.parsed);
    }
    sim.wait_notification_state(&id, "failed").await;
    assert!(matches!(provider.query_payment("KJ3100").await.unwrap(), ProviderPaymentState::Paid { transaction_id: t, .. } if t == transaction_id));

    // A notification that was believed, replayed later or stripped of its signature, is not.
    provider.create_payment(&payment("KJ3200", 100, &webhook)).await.unwrap();
    sim.pay("KJ3200", json!({})).await;
    let good = webhook.next().await;
    let parse = |headers: &[(String, String)], now| provider.parse_notification(IncomingNotification { headers, body: &good.body }, now);
    assert!(parse(&good.headers, Utc::now()).is_ok());
    assert_eq!(parse(&good.headers, Utc::now() + chrono::Duration::minutes(10)).err(), Some(NotificationRejected::Stale));
    for missing in ["wechatpay-signature", "wechatpay-timestamp", "wechatpay-nonce", "wechatpay-serial"] {
        let stripped: Vec<_> = good.headers.iter().filter(|(n, _)| n != missing).cloned().collect();
        assert_eq!(parse(&stripped, Utc::now()).err(), Some(NotificationRejected::BadSignature), "without {missing}");
    }
    // Read by an adapter that holds another platform key: not believed.
    let other = WechatPayProvider::new(WechatPayConfig { platform_public_key: sim::key("merchant_public_key.pem"), ..sim.config() }).unwrap();
    let n = other.parse_notification(IncomingNotification { headers: &good.headers, body: &good.body }, Utc::now());
    assert_eq!(n.err(), Some(NotificationRejected::BadSignature));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_notification_is_found_by_query() {
    let (sim, provider, mut webhook) = start().await;
    provider.create_payment(&payment("KJ4001", 880, &webhook)).await.unwrap();
    let (transaction_id, id) = sim.pay("KJ4001", json!({"drop": true})).await;
    let record = sim.notifications().await.into_iter().find(|n| n["id"] == id.as_str()).unwrap();
    assert_eq!(record["state"], "dropped");
    assert!(sim.deliveries_of(&id).await.is_empty());
    match provider.query_payment("KJ4001").await.unwrap() {
        ProviderPaymentState::Paid { transaction_id: t, amount, .. } => assert_eq!((t, amount), (transaction_id, cny(880))),
        other => panic!("{other:?}"),
    }
    // Faults for every notification, until cleared.
    sim.ok("PUT", "/_sim/faults/notifications", Some(json!({"drop": true}))).await;
    provider.create_payment(&payment("KJ4002", 1, &webhook)).await.unwrap();
    let (_, second) = sim.pay("KJ4002", json!(null)).await;
    sim.wait_notification_state(&second, "dropped").await;
    sim.ok("PUT", "/_sim/faults/notifications", Some(json!({}))).await;
    provider.create_payment(&payment("KJ4003", 1, &webhook)).await.unwrap();
    let (_, third) = sim.pay("KJ4003", json!(null)).await;
    assert_eq!(webhook.next().await.ok().event_id, third);
    assert!(webhook.pending().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_answer_and_then_notify() {
    let (sim, provider, mut webhook) = start().await;
    provider.create_payment(&payment("KJ5001", 1234, &webhook)).await.unwrap();
    let (transaction_id, _) = sim.pay("KJ5001", json!({})).await;
    webhook.next().await.ok();

    // Accepted as PROCESSING (WeChat Pay's usual answer), then done: REFUND.SUCCESS.
    let first = refund("KJ5001", "KJR5001-1", 400, 1234, &webhook);
    assert_eq!(provider.refund(&first).await.unwrap(), RefundState::Processing);
    let n = webhook.next().await.ok();
    assert_eq!(
        n.kind,
        NotificationKind::RefundSucceeded { out_trade_no: "KJ5001".into(), out_refund_no: "KJR5001-1".into(), refund: cny(400) }
    );
    // Asked again: the same refund, in its state now; refunded once.
    assert_eq!(provider.refund(&first).await.unwrap(), RefundState::Succeeded);
    assert_eq!(sim.order("KJ5001").await["refunded"], 400);
    assert_eq!(
        provider.query_payment("KJ5001").await.unwrap(),
        ProviderPaymentState::Refunded { transaction_id: transaction_id.clone(), amount: cny(1234) }
    );

    // Answered SUCCESS at once, and notified.
    sim.ok("PUT", "/_sim/refund-behaviour", Some(json!({"answer": "SUCCESS"}))).await;
    assert_eq!(provider.refund(&refund("KJ5001", "KJR5001-2", 300, 1234, &webhook)).await.unwrap(), RefundState::Succeeded);
    assert!(matches!(webhook.next().await.ok().kind, NotificationKind::RefundSucceeded { refund, .. } if refund == cny(300)));

    // Left PROCESSING, then abnormal (the payer's card was closed): a failed refund.
    sim.ok("PUT", "/_sim/refund-behaviour", Some(json!({"answer": "PROCESSING", "then": null}))).await;
    assert_eq!(provider.refund(&refund("KJ5001", "KJR5001-3", 100, 1234, &webhook)).await.unwrap(), RefundState::Processing);
    sim.ok("POST", "/_sim/refunds/KJR5001-3/complete", Some(json!({"status": "ABNORMAL"}))).await;
    match webhook.next().await.ok().kind {
        NotificationKind::RefundFailed { out_trade_no, out_refund_no, reason } => {
            assert_eq!((out_trade_no.as_str(), out_refund_no.as_str()), ("KJ5001", "KJR5001-3"));
            assert!(reason.starts_with("ABNORMAL"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(provider.refund(&refund("KJ5001", "KJR5001-3", 100, 1234, &webhook)).await.unwrap(), RefundState::Failed(why) if why.starts_with("ABNORMAL")));
    // Closed.
    assert_eq!(provider.refund(&refund("KJ5001", "KJR5001-4", 100, 1234, &webhook)).await.unwrap(), RefundState::Processing);
    sim.ok("POST", "/_sim/refunds/KJR5001-4/complete", Some(json!({"status": "CLOSED"}))).await;
    assert!(matches!(webhook.next().await.ok().kind, NotificationKind::RefundFailed { reason, .. } if reason.starts_with("CLOSED")));

    // More than is left, an unpaid order, an unknown one, a wrong total: refused.
    refused(provider.refund(&refund("KJ5001", "KJR5001-5", 1000, 1234, &webhook)).await, "INVALID_REQUEST");
    provider.create_payment(&payment("KJ5002", 100, &webhook)).await.unwrap();
    refused(provider.refund(&refund("KJ5002", "KJR5002-1", 100, 100, &webhook)).await, "INVALID_REQUEST");
    refused(provider.refund(&refund("KJ5999", "KJR5999-1", 100, 100, &webhook)).await, "RESOURCE_NOT_EXISTS");
    refused(provider.refund(&refund("KJ5001", "KJR5001-6", 10, 1000, &webhook)).await, "INVALID_REQUEST");
    // Checked before sending.
    refused(provider.refund(&refund("KJ5001", "KJR5001-7", 20, 10, &webhook)).await, "PARAM_ERROR");
    assert!(webhook.pending().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_usable_answer_is_unavailable() {
    let (sim, provider, webhook) = start().await;
    let request = payment("KJ6001", 100, &webhook);

    sim.ok("PUT", "/_sim/faults/api", Some(json!({"fail_next": 2}))).await;
    unavailable(provider.create_payment(&request).await, "500");
    unavailable(provider.query_payment("KJ6001").await, "SYSTEM_ERROR");
    provider.create_payment(&request).await.unwrap();

    sim.ok("PUT", "/_sim/faults/api", Some(json!({"fail_next": 1, "fail_status": 503}))).await;
    unavailable(provider.query_payment("KJ6001").await, "503");
    // 429 is "not now": Unavailable, not a refusal.
    sim.ok("PUT", "/_sim/faults/api", Some(json!({"fail_next": 1, "fail_status": 429}))).await;
    unavailable(provider.query_payment("KJ6001").await, "rate limiting");

    // An answer whose signature does not verify, or that has none, is not believed.
    sim.ok("PUT", "/_sim/faults/api", Some(json!({"bad_signature_next": 1}))).await;
    unavailable(provider.query_payment("KJ6001").await, "does not verify");
    sim.ok("PUT", "/_sim/faults/api", Some(json!({"unsigned_next": 1}))).await;
    unavailable(provider.query_payment("KJ6001").await, "carries no signature");
    sim.ok("PUT", "/_sim/faults/api", Some(json!({"unsigned_next": 1}))).await;
    unavailable(provider.query_payment("KJ6404").await, "unsigned ORDER_NOT_EXIST");
    let wrong_platform_key =
        WechatPayProvider::new(WechatPayConfig { platform_public_key: sim::key("merchant_public_key.pem"), ..sim.config() }).unwrap();
    unavailable(wrong_platform_key.query_payment("KJ6001").await, "does not verify");
    assert_eq!(provider.query_payment("KJ6001").await.unwrap(), ProviderPaymentState::NotPaid);

    // Too slow.
    let impatient = WechatPayProvider::new(WechatPayConfig { timeout_secs: 1, ..sim.config() }).unwrap();
    sim.ok("PUT", "/_sim/faults/api", Some(json!({"slow_next": 1, "slow_ms": 2500}))).await;
    unavailable(impatient.query_payment("KJ6001").await, "did not answer within");

    // Nobody there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = WechatPayProvider::new(WechatPayConfig { base_url: format!("http://127.0.0.1:{port}"), ..sim.config() }).unwrap();
    unavailable(nowhere.query_payment("KJ6001").await, "was not reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_signed_with_another_key_are_refused() {
    let (sim, _, webhook) = start().await;
    let request = payment("KJ7001", 100, &webhook);
    let wrong_key = WechatPayProvider::new(WechatPayConfig { merchant_private_key: sim::key("wrong_private_key.pem").into(), ..sim.config() }).unwrap();
    refused(wrong_key.create_payment(&request).await, "SIGN_ERROR");
    refused(wrong_key.query_payment("KJ7001").await, "SIGN_ERROR");
    let wrong_serial = WechatPayProvider::new(WechatPayConfig { merchant_serial_no: "00AA".into(), ..sim.config() }).unwrap();
    refused(wrong_serial.create_payment(&request).await, "SIGN_ERROR");
    let wrong_mchid = WechatPayProvider::new(WechatPayConfig { mchid: "1900000001".into(), ..sim.config() }).unwrap();
    refused(wrong_mchid.create_payment(&request).await, "SIGN_ERROR");
    // Nothing was created.
    assert_eq!(sim.control("GET", "/_sim/orders/KJ7001", None).await.0, 404);
}

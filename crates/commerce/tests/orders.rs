//! Shops, products and orders against a real, freshly migrated database (SQLite, or PostgreSQL
//! with `KANJIAN_TEST_DATABASE=postgres`). Every refused request is checked to have written
//! nothing (`fingerprint`), and stock is checked to add up after every step (`check_stock`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use kanjian_contracts::commerce::*;
use kanjian_kernel::ids::{LiveRoomId, OrderId, SkuId, UserId};
use kanjian_kernel::{Error, PageRequest, UserErrorCode};
use support::*;

#[tokio::test]
async fn owners_open_one_shop_agents_and_strangers_cannot() {
    let app = app().await;
    let input = |name: &str| OpenShopInput {
        organization_id: ORG,
        name: name.into(),
        description: None,
        currency: None,
        shipping_fee_minor: 0,
        free_shipping_threshold_minor: None,
    };
    let before = app.fingerprint().await;
    assert!(matches!(app.commerce.open_shop(&user(AGENT), input("看见好物")).await, Err(Error::Forbidden(_))));
    assert!(matches!(app.commerce.open_shop(&user(STRANGER), input("看见好物")).await, Err(Error::NotFound(_))));
    assert_eq!(code(&app.commerce.open_shop(&user(OWNER), input("x")).await.unwrap_err()), UserErrorCode::TooShort);
    let bad_fee = OpenShopInput { shipping_fee_minor: -1, ..input("看见好物") };
    assert_eq!(code(&app.commerce.open_shop(&user(OWNER), bad_fee).await.unwrap_err()), UserErrorCode::TooShort);
    assert_eq!(app.fingerprint().await, before, "refused shops write nothing");

    let shop = app.commerce.open_shop(&user(OWNER), input("看见好物")).await.unwrap();
    assert_eq!(shop.shipping_fee.currency.as_str(), "CNY");
    assert_eq!(code(&app.commerce.open_shop(&user(OWNER), input("第二家")).await.unwrap_err()), UserErrorCode::AlreadyExists);
    let seen = app.commerce.shop_of_organization(&user(STRANGER), ORG).await.unwrap().unwrap();
    assert_eq!(seen.id, shop.id);
    assert!(!seen.actor_is_member);
    assert!(app.commerce.shop_of_organization(&user(AGENT), ORG).await.unwrap().unwrap().actor_is_member);
}

#[tokio::test]
async fn products_are_checked_and_unlisted_ones_are_hidden_from_shoppers() {
    let app = app().await;
    let shop = app.open_shop().await;
    let good = |skus: Vec<SkuInput>| CreateProductInput {
        shop_id: shop,
        title: "纯棉T恤".into(),
        description: None,
        category: "服饰".into(),
        image_urls: vec![],
        purchase_limit: None,
        skus,
        on_shelf: false,
    };
    let before = app.fingerprint().await;
    for (skus, expected) in [
        (vec![], UserErrorCode::Required),
        (vec![SkuInput { specs: vec![], price_minor: 0, stock: 1 }], UserErrorCode::TooShort),
        (vec![SkuInput { specs: vec![], price_minor: 100, stock: -1 }], UserErrorCode::TooShort),
        (
            vec![
                SkuInput { specs: vec![spec("颜色", "红")], price_minor: 100, stock: 1 },
                SkuInput { specs: vec![spec("颜色", "红")], price_minor: 200, stock: 1 },
            ],
            UserErrorCode::Invalid,
        ),
    ] {
        assert_eq!(code(&app.commerce.create_product(&user(OWNER), good(skus)).await.unwrap_err()), expected);
    }
    let one = || vec![SkuInput { specs: vec![], price_minor: 100, stock: 1 }];
    assert!(matches!(app.commerce.create_product(&user(AGENT), good(one())).await, Err(Error::Forbidden(_))));
    assert!(matches!(app.commerce.create_product(&user(STRANGER), good(one())).await, Err(Error::Forbidden(_))));
    assert_eq!(app.fingerprint().await, before, "refused products write nothing");

    let product = app.commerce.create_product(&user(OWNER), good(one())).await.unwrap();
    assert_eq!(product.status, ProductStatus::OffShelf);
    assert!(app.commerce.products_by_ids(&user(STRANGER), &[product.id]).await.unwrap().is_empty(), "unlisted: hidden");
    assert_eq!(app.commerce.products_by_ids(&user(AGENT), &[product.id]).await.unwrap().len(), 1, "members see it");
    // A stranger cannot even learn it exists by trying to list it.
    assert!(matches!(app.commerce.set_product_status(&user(STRANGER), product.id, ProductStatus::OnShelf).await, Err(Error::NotFound(_))));
    app.commerce.set_product_status(&user(OWNER), product.id, ProductStatus::OnShelf).await.unwrap();
    assert_eq!(app.commerce.products_by_ids(&user(STRANGER), &[product.id]).await.unwrap().len(), 1);
    let page = app.commerce.products_of_shop(&user(STRANGER), shop, PageRequest::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    app.commerce.set_product_status(&user(OWNER), product.id, ProductStatus::Deleted).await.unwrap();
    assert!(app.commerce.products_by_ids(&user(OWNER), &[product.id]).await.unwrap().is_empty(), "deleted is gone for all");
    assert!(matches!(app.commerce.set_product_status(&user(OWNER), product.id, ProductStatus::OnShelf).await, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn buy_now_holds_stock_charges_the_server_price_and_ships_free_over_the_threshold() {
    let app = app().await;
    let c = app.catalog(10, None).await;
    let addr = app.address(10).await;

    // 2 × ¥39.00 = ¥78.00, under ¥100: flat ¥8.00 shipping.
    let order = app.buy(10, c.red, 2, addr, "k-1").await.unwrap();
    assert_eq!(order.state, OrderState::PendingPayment);
    assert_eq!((order.items_total.minor, order.shipping_fee.minor, order.total.minor), (7_800, 800, 8_600));
    assert_eq!(order.pay_by, order.created_at + chrono::Duration::minutes(15));
    assert_eq!(order.address.recipient, "张三");
    assert_eq!(order.lines[0].attribution.live_room_id, Some(LiveRoomId(7)));
    let red = app.sku(c.red, OWNER).await;
    assert_eq!((red.stock, red.held, red.sold), (8, 2, 0));
    app.check_stock().await;

    // 3 × ¥45.00 = ¥135.00: free shipping. The shopper saw ¥40.00: the order says so.
    let seen = app
        .commerce
        .buy_now(
            &user(10),
            BuyNowInput {
                sku_id: c.blue,
                quantity: 3,
                address_id: addr,
                attribution: AttributionInput { source: SaleSource::Shop, live_room_id: None, video_id: None, channel_id: None },
                seen_unit_price_minor: Some(4_000),
                idempotency_key: "k-2".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!((seen.items_total.minor, seen.shipping_fee.minor, seen.total.minor), (13_500, 0, 13_500));
    assert_eq!(seen.lines[0].seen_unit_price.map(|m| m.minor), Some(4_000));
    assert_eq!(seen.lines[0].unit_price.minor, 4_500);
    let timeline = app.commerce.order_timeline(&user(10), seen.id).await.unwrap();
    assert!(timeline[0].note.contains("40.00") && timeline[0].note.contains("45.00"), "{timeline:?}");

    let placed = app.events::<OrderPlaced>().await;
    assert_eq!(placed.len(), 2);
    assert_eq!(placed[0].lines[0].attribution.source, SaleSource::LiveRoom);
    assert_eq!(placed[0].version, 1);
    app.check_stock().await;
}

#[tokio::test]
async fn bad_purchases_get_clear_errors_and_write_nothing() {
    let app = app().await;
    let c = app.catalog(3, Some(5)).await;
    let addr = app.address(10).await;
    let other_addr = app.address(11).await;
    let before = app.fingerprint().await;

    assert_eq!(code(&app.buy(10, c.red, 0, addr, "a").await.unwrap_err()), UserErrorCode::TooShort);
    assert_eq!(code(&app.buy(10, c.red, -2, addr, "b").await.unwrap_err()), UserErrorCode::TooShort);
    assert_eq!(code(&app.buy(10, c.red, 6, addr, "c").await.unwrap_err()), UserErrorCode::PurchaseLimitExceeded);
    assert_eq!(code(&app.buy(10, c.red, 4, addr, "d").await.unwrap_err()), UserErrorCode::InsufficientStock);
    assert_eq!(code(&app.buy(10, c.red, 1, other_addr, "e").await.unwrap_err()), UserErrorCode::Invalid, "someone else's address");
    assert!(matches!(app.buy(10, SkuId(999_999), 1, addr, "f").await, Err(Error::NotFound(_))));
    assert!(matches!(app.buy(10, c.red, 1, addr, "").await, Err(Error::User(_))), "a key is required");
    assert_eq!(app.fingerprint().await, before, "nothing half-written");

    // Sold out.
    app.buy(11, c.red, 3, other_addr, "g").await.unwrap();
    let before = app.fingerprint().await;
    assert_eq!(code(&app.buy(10, c.red, 1, addr, "h").await.unwrap_err()), UserErrorCode::SoldOut);
    // Off the shelf, a removed SKU, a deleted product.
    app.commerce.update_sku(&user(OWNER), UpdateSkuInput { sku_id: c.blue, price_minor: None, stock_delta: None, remove: true }).await.unwrap();
    let before_removed = app.fingerprint().await;
    assert_eq!(code(&app.buy(10, c.blue, 1, addr, "i").await.unwrap_err()), UserErrorCode::Unavailable);
    app.commerce.set_product_status(&user(OWNER), c.product.id, ProductStatus::OffShelf).await.unwrap();
    let before_off = app.fingerprint().await;
    assert_eq!(code(&app.buy(10, c.red, 1, addr, "j").await.unwrap_err()), UserErrorCode::Unavailable);
    assert_eq!(app.fingerprint().await, before_off);
    app.commerce.set_product_status(&user(OWNER), c.product.id, ProductStatus::Deleted).await.unwrap();
    let before_deleted = app.fingerprint().await;
    assert_eq!(code(&app.buy(10, c.red, 1, addr, "k").await.unwrap_err()), UserErrorCode::Unavailable);
    assert_eq!(app.fingerprint().await, before_deleted);
    assert_ne!(before, before_removed);
    app.check_stock().await;
}

#[tokio::test]
async fn an_idempotency_key_answers_its_first_order_and_refuses_other_input() {
    let app = app().await;
    let c = app.catalog(10, None).await;
    let addr = app.address(10).await;
    let first = app.buy(10, c.red, 1, addr, "same").await.unwrap();
    let again = app.buy(10, c.red, 1, addr, "same").await.unwrap();
    assert_eq!(first.id, again.id);
    let before = app.fingerprint().await;
    assert_eq!(code(&app.buy(10, c.red, 2, addr, "same").await.unwrap_err()), UserErrorCode::IdempotencyKeyReused);
    assert_eq!(app.fingerprint().await, before);
    // Another person's identical key is theirs alone.
    let addr11 = app.address(11).await;
    let theirs = app.buy(11, c.red, 1, addr11, "same").await.unwrap();
    assert_ne!(theirs.id, first.id);

    // A failed run leaves the key free: a retry after restocking places the order.
    let c2_sku = c.blue;
    app.buy(11, c2_sku, 5, addr11, "all-blue").await.unwrap();
    assert_eq!(code(&app.buy(10, c2_sku, 1, addr, "retry").await.unwrap_err()), UserErrorCode::SoldOut);
    app.commerce.update_sku(&user(OWNER), UpdateSkuInput { sku_id: c2_sku, price_minor: None, stock_delta: Some(1), remove: false }).await.unwrap();
    app.buy(10, c2_sku, 1, addr, "retry").await.unwrap();

    // Concurrent retries of one key place one order.
    let tries = futures::future::join_all((0..8).map(|_| app.buy(10, c.red, 1, addr, "burst"))).await;
    let ids: std::collections::HashSet<OrderId> = tries.iter().filter_map(|t| t.as_ref().ok()).map(|o| o.id).collect();
    assert_eq!(ids.len(), 1, "{tries:?}");
    for t in &tries {
        if let Err(e) = t {
            assert_eq!(code(e), UserErrorCode::InProgress);
        }
    }
    // The first call was still running when the others came: they heard so.
    assert!(tries.iter().any(Result::is_err), "{tries:?}");
    app.check_stock().await;
}

#[tokio::test]
async fn many_buyers_at_once_never_oversell_and_limits_hold_under_concurrency() {
    let app = app().await;
    let c = app.catalog(10, Some(3)).await;
    let mut addresses = HashMap::new();
    for buyer in 10..40 {
        addresses.insert(buyer, app.address(buyer).await);
    }
    // 30 buyers, 10 units: exactly 10 succeed, the rest are told it sold out.
    let attempts = futures::future::join_all((10..40).map(|b| app.buy(b, c.red, 1, addresses[&b], "flash"))).await;
    let won = attempts.iter().filter(|a| a.is_ok()).count();
    assert_eq!(won, 10);
    for a in attempts.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(code(a), UserErrorCode::SoldOut);
    }
    let red = app.sku(c.red, OWNER).await;
    assert_eq!((red.stock, red.held, red.sold), (0, 10, 0));
    app.check_stock().await;

    // One person, limit 3 over the product, eight tries of one blue unit each at once (5 in
    // stock): if buyer 10 won a red unit above, 2 more pass, otherwise 3.
    let red_held = attempts.iter().filter_map(|a| a.as_ref().ok()).filter(|o| o.buyer_id == UserId(10)).count();
    let attempts = futures::future::join_all((0..8).map(|i| app.buy(10, c.blue, 1, addresses[&10], format!("mine-{i}")))).await;
    let mine = attempts.iter().filter(|a| a.is_ok()).count();
    assert_eq!(mine, 3 - red_held, "{attempts:?}");
    for a in attempts.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(code(a), UserErrorCode::PurchaseLimitExceeded);
    }
    app.check_stock().await;
}

#[tokio::test]
async fn a_crowd_on_one_sku_shares_transactions_and_each_buyer_gets_their_own_order() {
    let app = app().await;
    let c = app.catalog(100, Some(2)).await;
    let mut addresses = HashMap::new();
    for buyer in 10..50 {
        addresses.insert(buyer, app.address(buyer).await);
    }
    // Buyer 10 already holds the limit; buyer 11 asks for more than it in one order.
    app.buy(10, c.red, 2, addresses[&10], "before").await.unwrap();
    let before = app.commerce.buy_now_batching();
    let quantity = |b: i64| if b == 11 { 3 } else { 1 };
    let attempts = futures::future::join_all((10..50).map(|b| app.buy(b, c.red, quantity(b), addresses[&b], format!("crowd-{b}")))).await;
    let after = app.commerce.buy_now_batching();
    assert!(after.batches > before.batches && after.orders >= before.orders + 2, "the crowd was placed in shared transactions: {before:?} → {after:?}");

    let mut placed = HashMap::new();
    for (b, attempt) in (10..50).zip(&attempts) {
        if b == 10 || b == 11 {
            assert_eq!(code(attempt.as_ref().unwrap_err()), UserErrorCode::PurchaseLimitExceeded, "buyer {b}");
            continue;
        }
        let order = attempt.as_ref().unwrap_or_else(|e| panic!("buyer {b}: {e:?}"));
        assert_eq!(order.buyer_id, UserId(b));
        assert_eq!(order.state, OrderState::PendingPayment);
        assert_eq!((order.lines.len(), order.lines[0].quantity, order.lines[0].sku_id), (1, 1, c.red));
        // ¥39.00 under the ¥100 threshold: ¥8.00 shipping.
        assert_eq!((order.items_total.minor, order.shipping_fee.minor, order.total.minor), (3_900, 800, 4_700));
        placed.insert(b, order.id);
    }
    assert_eq!(placed.len(), 38);
    // Refused in the crowd, their keys were given back: a retry runs again (not IN_PROGRESS).
    assert_eq!(code(&app.buy(10, c.red, 1, addresses[&10], "crowd-10").await.unwrap_err()), UserErrorCode::PurchaseLimitExceeded);
    assert_eq!(code(&app.buy(11, c.red, 3, addresses[&11], "crowd-11").await.unwrap_err()), UserErrorCode::PurchaseLimitExceeded);
    assert_eq!(placed.values().collect::<std::collections::HashSet<_>>().len(), 38, "one order each");
    // Each key answers its own order again.
    for (b, id) in &placed {
        assert_eq!(app.buy(*b, c.red, 1, addresses[b], format!("crowd-{b}")).await.unwrap().id, *id);
    }
    let red = app.sku(c.red, OWNER).await;
    assert_eq!((red.stock, red.held, red.sold), (60, 40, 0));
    // Each order has its placed entry on the timeline and its own event, naming its buyer.
    assert_eq!(app.scalar("SELECT COUNT(*) FROM commerce_order_events WHERE kind = 'PLACED'").await, 39);
    let events = app.events::<OrderPlaced>().await;
    assert_eq!(events.len(), 39);
    for (b, id) in &placed {
        let event = events.iter().find(|e| e.order_id == *id).unwrap();
        assert_eq!((event.buyer_id, event.total.minor), (UserId(*b), 4_700));
    }
    app.check_stock().await;
}

#[tokio::test]
async fn a_crowd_asking_for_more_than_is_left_gets_what_is_left_in_arrival_order() {
    let app = app().await;
    let c = app.catalog(11, None).await;
    let mut addresses = HashMap::new();
    for buyer in 10..18 {
        addresses.insert(buyer, app.address(buyer).await);
    }
    // Eight buyers of two units each, eleven units: five are placed, one unit stays on sale
    // and the other three hear exactly that.
    let attempts = futures::future::join_all((10..18).map(|b| app.buy(b, c.red, 2, addresses[&b], "two"))).await;
    assert_eq!(attempts.iter().filter(|a| a.is_ok()).count(), 5, "{attempts:?}");
    for refused in attempts.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(code(refused), UserErrorCode::InsufficientStock);
        assert!(refused.to_string().contains("Only 1 left"), "{refused}");
    }
    let red = app.sku(c.red, OWNER).await;
    assert_eq!((red.stock, red.held), (1, 10));
    // A crowd on a sold-out SKU is told so, and nothing is written.
    app.buy(10, c.red, 1, addresses[&10], "last").await.unwrap();
    let before = app.fingerprint().await;
    let attempts = futures::future::join_all((11..18).map(|b| app.buy(b, c.red, 1, addresses[&b], "late"))).await;
    for refused in &attempts {
        assert_eq!(code(refused.as_ref().unwrap_err()), UserErrorCode::SoldOut);
    }
    assert_eq!(app.fingerprint().await, before);
    // Their keys were given back: the same key runs again once there is stock.
    app.commerce.update_sku(&user(OWNER), UpdateSkuInput { sku_id: c.red, price_minor: None, stock_delta: Some(1), remove: false }).await.unwrap();
    app.buy(11, c.red, 1, addresses[&11], "late").await.unwrap();
    app.check_stock().await;
}

#[tokio::test]
async fn units_paid_read_sold_at_once_and_the_sweep_folds_them_into_the_sku_row() {
    let app = app().await;
    let c = app.catalog(10, None).await;
    let addr = app.address(10).await;
    let one = app.buy(10, c.red, 2, addr, "one").await.unwrap();
    let two = app.buy(10, c.red, 3, addr, "two").await.unwrap();
    app.commerce.mark_paid(one.id).await.unwrap().unwrap();
    app.commerce.mark_paid(two.id).await.unwrap().unwrap();
    // Readers see the units sold at once; the SKU row itself was not touched by the payments.
    let red = app.sku(c.red, OWNER).await;
    assert_eq!((red.stock, red.held, red.sold), (5, 0, 5));
    let row = format!("SELECT held * 1000 + sold FROM commerce_skus WHERE id = {}", c.red.0);
    assert_eq!(app.scalar(&row).await, 5_000);
    app.check_stock().await;
    // One sweep folds both moves into the row, in one UPDATE; the reading stays the same.
    assert_eq!(app.commerce.sweep_once().await.unwrap().folded, 5);
    assert_eq!(app.scalar(&row).await, 5);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM commerce_sku_moves").await, 0);
    let red = app.sku(c.red, OWNER).await;
    assert_eq!((red.stock, red.held, red.sold), (5, 0, 5));
    assert_eq!(app.commerce.sweep_once().await.unwrap().folded, 0);
    app.check_stock().await;
}

#[tokio::test]
async fn cancelling_and_expiry_release_stock_and_a_late_payment_changes_nothing() {
    let app = app().await;
    let c = app.catalog(5, Some(2)).await;
    let addr = app.address(10).await;
    let order = app.buy(10, c.red, 2, addr, "o-1").await.unwrap();
    // A stranger cannot cancel it, nor see it.
    assert!(matches!(
        app.commerce.cancel_order(&user(STRANGER), CancelOrderInput { order_id: order.id, idempotency_key: "x".into() }).await,
        Err(Error::NotFound(_))
    ));
    assert!(app.commerce.orders_by_ids(&user(STRANGER), &[order.id]).await.unwrap().is_empty());
    assert!(matches!(app.commerce.order_timeline(&user(STRANGER), order.id).await, Err(Error::NotFound(_))));

    let cancelled = app.commerce.cancel_order(&user(10), CancelOrderInput { order_id: order.id, idempotency_key: "c-1".into() }).await.unwrap();
    assert_eq!(cancelled.state, OrderState::Cancelled);
    assert_eq!(cancelled.cancel_reason, Some(CancelReason::Buyer));
    assert_eq!(cancelled.version, 2);
    let red = app.sku(c.red, OWNER).await;
    assert_eq!((red.stock, red.held), (5, 0));
    app.check_stock().await;
    // The same key answers again; a new key is refused: it is no longer unpaid.
    let again = app.commerce.cancel_order(&user(10), CancelOrderInput { order_id: order.id, idempotency_key: "c-1".into() }).await.unwrap();
    assert_eq!(again.id, order.id);
    let before = app.fingerprint().await;
    let refused = app.commerce.cancel_order(&user(10), CancelOrderInput { order_id: order.id, idempotency_key: "c-2".into() }).await;
    assert_eq!(code(&refused.unwrap_err()), UserErrorCode::InvalidState);
    assert_eq!(app.fingerprint().await, before);
    assert!(app.commerce.mark_paid(order.id).await.unwrap().is_none(), "a cancelled order cannot be paid");
    assert_eq!(app.fingerprint().await, before);

    // The allowance came back: the limit of 2 allows 2 again. Then the window closes.
    let order = app.buy(10, c.red, 2, addr, "o-2").await.unwrap();
    app.clock.advance(Duration::from_secs(14 * 60));
    assert_eq!(app.commerce.sweep_once().await.unwrap().expired, 0);
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(app.commerce.sweep_once().await.unwrap().expired, 1);
    assert_eq!(app.commerce.sweep_once().await.unwrap().expired, 0, "a second sweep finds nothing");
    let expired = app.commerce.orders_by_ids(&user(10), &[order.id]).await.unwrap().pop().unwrap();
    assert_eq!((expired.state, expired.cancel_reason), (OrderState::Cancelled, Some(CancelReason::PaymentExpired)));
    assert_eq!(app.sku(c.red, OWNER).await.stock, 5);
    assert!(app.commerce.mark_paid(order.id).await.unwrap().is_none(), "payment after expiry does not sell released stock");
    let cancelled = app.events::<OrderCancelled>().await;
    assert_eq!(cancelled.iter().map(|e| e.reason).collect::<Vec<_>>(), vec![CancelReason::Buyer, CancelReason::PaymentExpired]);
    app.check_stock().await;
}

#[tokio::test]
async fn paid_orders_are_shipped_by_the_shop_and_completed_by_the_buyer_or_the_clock() {
    let app = app().await;
    let c = app.catalog(5, None).await;
    let addr = app.address(10).await;
    let order = app.buy(10, c.red, 1, addr, "o-1").await.unwrap();
    assert_eq!(code(&app.ship(AGENT, order.id).await.unwrap_err()), UserErrorCode::InvalidState, "unpaid cannot ship");
    let paid = app.commerce.mark_paid(order.id).await.unwrap().unwrap();
    assert_eq!((paid.state, paid.version), (OrderState::Paid, 2));
    assert!(app.commerce.mark_paid(order.id).await.unwrap().is_none(), "paid once");
    let red = app.sku(c.red, OWNER).await;
    assert_eq!((red.stock, red.held, red.sold), (4, 0, 1));
    app.check_stock().await;

    let before = app.fingerprint().await;
    assert!(matches!(app.ship(STRANGER, order.id).await, Err(Error::NotFound(_))), "a stranger learns nothing");
    assert!(matches!(app.ship(10, order.id).await, Err(Error::Forbidden(_))), "the buyer sees it but cannot ship");
    let no_tracking = app.commerce.ship_order(&user(AGENT), ShipOrderInput { order_id: order.id, carrier: "顺丰".into(), tracking_number: " ".into() }).await;
    assert_eq!(code(&no_tracking.unwrap_err()), UserErrorCode::Required);
    assert_eq!(app.fingerprint().await, before);
    let shipped = app.ship(AGENT, order.id).await.unwrap();
    assert_eq!(shipped.shipment.as_ref().unwrap().tracking_number, "SF1234567890");
    assert_eq!(code(&app.ship(AGENT, order.id).await.unwrap_err()), UserErrorCode::InvalidState);

    // The shop's list shows it to members only.
    let page = app.commerce.shop_orders(&user(AGENT), c.shop, OrderFilter { states: vec![OrderState::Shipped] }, PageRequest::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(matches!(app.commerce.shop_orders(&user(STRANGER), c.shop, OrderFilter::default(), PageRequest::default()).await, Err(Error::Forbidden(_))));
    assert_eq!(app.commerce.orders_by_ids(&user(AGENT), &[order.id]).await.unwrap().len(), 1);

    let done = app.commerce.confirm_receipt(&user(10), order.id).await.unwrap();
    assert_eq!(done.state, OrderState::Completed);
    let kinds: Vec<OrderEventKind> = app.commerce.order_timeline(&user(10), order.id).await.unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![OrderEventKind::Placed, OrderEventKind::Paid, OrderEventKind::Shipped, OrderEventKind::Completed]);

    // Another order completes by itself 10 days after shipping.
    let second = app.buy(10, c.red, 1, addr, "o-2").await.unwrap();
    app.commerce.mark_paid(second.id).await.unwrap();
    app.ship(OWNER, second.id).await.unwrap();
    app.clock.advance(Duration::from_secs(10 * 24 * 3600 - 60));
    assert_eq!(app.commerce.sweep_once().await.unwrap().completed, 0);
    app.clock.advance(Duration::from_secs(120));
    assert_eq!(app.commerce.sweep_once().await.unwrap().completed, 1);
    let mine = app.commerce.my_orders(&user(10), OrderFilter { states: vec![OrderState::Completed] }, PageRequest::default()).await.unwrap();
    assert_eq!(mine.items.len(), 2);
    let versions: Vec<i64> = app.events::<OrderCompleted>().await.iter().map(|e| e.version).collect();
    assert_eq!(versions, vec![4, 4]);
    app.check_stock().await;
}

#[tokio::test]
async fn restocking_moves_stock_by_a_delta_that_never_goes_below_zero() {
    let app = app().await;
    let c = app.catalog(3, None).await;
    let addr = app.address(10).await;
    app.buy(10, c.red, 2, addr, "o").await.unwrap();
    let before = app.fingerprint().await;
    let change = |delta: i64| UpdateSkuInput { sku_id: c.red, price_minor: None, stock_delta: Some(delta), remove: false };
    // 1 on sale, 2 held: taking 2 away is refused, held units are not the merchant's to take.
    assert_eq!(code(&app.commerce.update_sku(&user(OWNER), change(-2)).await.unwrap_err()), UserErrorCode::InsufficientStock);
    assert!(matches!(app.commerce.update_sku(&user(AGENT), change(5)).await, Err(Error::Forbidden(_))));
    assert_eq!(app.fingerprint().await, before);
    let product = app.commerce.update_sku(&user(OWNER), UpdateSkuInput { price_minor: Some(3_500), ..change(10) }).await.unwrap();
    let red = product.skus.iter().find(|s| s.id == c.red).unwrap();
    assert_eq!((red.stock, red.held, red.price.minor), (11, 2, 3_500));
    let changed = app.events::<SkuChanged>().await;
    assert_eq!(changed.len(), 1);
    assert_eq!((changed[0].stock, changed[0].price.minor), (11, 3_500));
    app.check_stock().await;
}

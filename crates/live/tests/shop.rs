//! Products in a live room (讲解中) against a real database, with the fakes of `support` for
//! commerce's showcase: who may pin what and when (every refusal writes nothing and tells no
//! viewer), and what viewers get from commerce's events — the card's price and stock, "just
//! bought" — coalesced however many orders come, each once however often an event is delivered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kanjian_contracts::commerce::{
    AttributionDto, CancelReason, OrderCancelled, OrderLineFact, OrderPaid, OrderPlaced, SaleSource, SkuChanged,
};
use kanjian_contracts::live::*;
use kanjian_contracts::{EventEnvelope, IntegrationEvent};
use kanjian_kernel::ids::{LiveRoomId, OrderId, ProductId, ShopId, SkuId, UserId};
use kanjian_kernel::{Actor, Currency, Error, Money, Timestamp, UserErrorCode};
use kanjian_live::LiveConfig;
use sea_orm::{ConnectionTrait, Statement};

mod support;

use support::*;

type Events = BoxStream<'static, RoomEvent>;

/// Fast batches, so tests wait little. The shop's flushes are called by the tests themselves.
fn quick() -> LiveConfig {
    LiveConfig { comment_batch_ms: 50, comments_per_viewer_per_second: 100, counts_interval_ms: 50, ..LiveConfig::default() }
}

/// A LIVE room of `owner`'s channel, with a publisher on air.
async fn live_room(app: &TestApp, owner: i64) -> LiveRoomId {
    let room = app
        .live
        .schedule_live(&user(owner), ScheduleLiveInput { title: "今晚带货".into(), ..Default::default() })
        .await
        .unwrap();
    app.live.go_on_air(room.id, &format!("s{owner}"), false).await.unwrap().unwrap();
    room.id
}

/// Events until `done` says it has what it waited for (or 10 s pass, which fails the test).
async fn until(events: &mut Events, mut done: impl FnMut(&LiveRoomEventDto) -> bool) -> Vec<LiveRoomEventDto> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            let event = event.into_event();
            let finished = done(&event);
            seen.push(event);
            if finished {
                return;
            }
        }
        panic!("the stream ended: {seen:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; saw {seen:?}"));
    seen
}

/// The shop's events a viewer got before `marker`, a comment the creator sends now: what
/// reached them so far, and nothing else in between.
async fn shop_events_before_marker(app: &TestApp, room: LiveRoomId, events: &mut Events, marker: &str) -> Vec<LiveRoomEventDto> {
    app.live.send_comment(&user_owner(app, room).await, room, marker).await.unwrap();
    let seen = until(events, |e| matches!(e, LiveRoomEventDto::Comments { comments, .. } if comments.iter().any(|c| c.text == marker))).await;
    seen.into_iter()
        .filter(|e| matches!(e, LiveRoomEventDto::ProductPinned(_) | LiveRoomEventDto::ProductUpdated(_) | LiveRoomEventDto::JustBought { .. }))
        .collect()
}

async fn user_owner(app: &TestApp, room: LiveRoomId) -> Actor {
    user(app.live.rooms_by_ids(&Actor::Anonymous, &[room]).await.unwrap()[0].owner_id.0)
}

fn code(e: &Error) -> UserErrorCode {
    user_error(e).1
}

/// The pinned product columns of every room, as stored.
async fn stored_pins(app: &TestApp) -> Vec<(i64, Option<i64>, bool)> {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT id, pinned_product_id, pinned_product_at IS NOT NULL AS has_at FROM live_rooms ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let has_at = r.try_get::<bool>("", "has_at").or_else(|_| r.try_get::<i32>("", "has_at").map(|n| n != 0)).unwrap();
            (r.try_get("", "id").unwrap(), r.try_get("", "pinned_product_id").unwrap(), has_at)
        })
        .collect()
}

fn line(room: Option<LiveRoomId>, product: i64, quantity: i64) -> OrderLineFact {
    OrderLineFact {
        product_id: ProductId(product),
        sku_id: SkuId(product * 10),
        quantity,
        amount: Money::new(1990 * quantity, Currency::CNY),
        attribution: AttributionDto {
            source: if room.is_some() { SaleSource::LiveRoom } else { SaleSource::Shop },
            live_room_id: room,
            video_id: None,
            creator_channel_id: None,
            commission_bps: None,
        },
    }
}

fn placed(order: i64, lines: Vec<OrderLineFact>) -> OrderPlaced {
    OrderPlaced {
        order_id: OrderId(order),
        buyer_id: UserId(15),
        shop_id: ShopId(1),
        total: Money::new(lines.iter().map(|l| l.amount.minor).sum(), Currency::CNY),
        lines,
        version: 1,
        pay_by: kanjian_kernel::now(),
    }
}

fn paid(order: i64, lines: Vec<OrderLineFact>, at: Timestamp) -> OrderPaid {
    OrderPaid {
        order_id: OrderId(order),
        buyer_id: UserId(15),
        shop_id: ShopId(1),
        total: Money::new(lines.iter().map(|l| l.amount.minor).sum(), Currency::CNY),
        lines,
        version: 2,
        paid_at: at,
    }
}

/// Hands `event` to live's handlers, as the dispatcher would.
async fn deliver<E: IntegrationEvent>(app: &TestApp, event: &E) {
    let envelope = EventEnvelope {
        id: uuid::Uuid::now_v7(),
        kind: E::KIND.into(),
        occurred_at: kanjian_kernel::now(),
        payload: serde_json::to_value(event).unwrap(),
    };
    let handlers = app.live.event_handlers();
    let mine: Vec<_> = handlers.iter().filter(|h| h.handles(E::KIND)).collect();
    assert_eq!(mine.len(), 1, "one handler of {}", E::KIND);
    mine[0].handle(&envelope).await.unwrap();
}

fn stock_of(product: &kanjian_contracts::commerce::ProductDto) -> (i64, i64) {
    (product.skus[0].stock, product.skus[0].price.minor)
}

#[tokio::test]
async fn only_the_creator_and_moderators_pin_a_carried_product_while_live_and_a_refusal_writes_nothing() {
    let app = app_with(quick()).await;
    app.fakes.carry(1, 100, 10);
    app.fakes.carry(2, 200, 10); // another channel's showcase
    app.fakes.products.lock().unwrap().insert(300, product(300, 10)); // listed, on nobody's showcase
    let upcoming = app
        .live
        .schedule_live(&user(1), ScheduleLiveInput { title: "明晚".into(), planned_start_at: Some(app.clock.now() + chrono::Duration::hours(24)), ..Default::default() })
        .await
        .unwrap()
        .id;
    let room = live_room(&app, 1).await;
    let mut watcher = app.live.watch_room(&user(7), room).await.unwrap();
    until(&mut watcher, |e| matches!(e, LiveRoomEventDto::Changed(_))).await;
    app.live.add_moderator(&user(1), UserId(5)).await.unwrap();
    app.fakes.blocks.lock().unwrap().insert((1, 9));

    let p = Some(ProductId(100));
    assert!(matches!(app.live.pin_product(&Actor::Anonymous, room, p).await.unwrap_err(), Error::Unauthenticated));
    assert!(matches!(app.live.pin_product(&user(3), room, p).await.unwrap_err(), Error::Forbidden(_)), "a viewer");
    assert!(matches!(app.live.pin_product(&user(2), room, Some(ProductId(200))).await.unwrap_err(), Error::Forbidden(_)), "another creator");
    assert!(matches!(app.live.pin_product(&user(9), room, p).await.unwrap_err(), Error::NotFound(_)), "in a block: as if missing");
    assert!(matches!(app.live.pin_product(&user(1), LiveRoomId(999_999), p).await.unwrap_err(), Error::NotFound(_)));
    let e = app.live.pin_product(&user(1), upcoming, p).await.unwrap_err();
    assert_eq!(user_error(&e), (String::new(), UserErrorCode::InvalidState));
    assert!(format!("{e:?}").contains("while the room is live"), "{e:?}");
    for not_carried in [200, 300, 404] {
        let e = app.live.pin_product(&user(1), room, Some(ProductId(not_carried))).await.unwrap_err();
        assert_eq!(user_error(&e), ("input.productId".to_owned(), UserErrorCode::InvalidState), "product {not_carried}");
        assert!(format!("{e:?}").contains("add it to your showcase first"), "{e:?}");
    }
    // A product taken off the shelf is not carried either.
    app.fakes.carry(1, 101, 10);
    app.fakes.products.lock().unwrap().get_mut(&101).unwrap().status = kanjian_contracts::commerce::ProductStatus::OffShelf;
    assert_eq!(code(&app.live.pin_product(&user(1), room, Some(ProductId(101))).await.unwrap_err()), UserErrorCode::InvalidState);
    assert!(stored_pins(&app).await.iter().all(|(_, id, at)| id.is_none() && !at), "refusals write nothing");

    // A moderator (房管) helps: the channel's showcase, not theirs.
    let pinned = app.live.pin_product(&user(5), room, p).await.unwrap();
    assert_eq!((pinned.pinned_product_id, pinned.pinned_product_at), (p, Some(app.clock.now())));
    // The first the viewer hears of products is that pin: no refusal told them anything.
    let seen = shop_events_before_marker(&app, room, &mut watcher, "一").await;
    let [LiveRoomEventDto::ProductPinned(Some(card))] = &seen[..] else { panic!("{seen:?}") };
    assert_eq!((card.product.id, stock_of(&card.product), card.pinned_at), (ProductId(100), (10, 1990), app.clock.now()));
    let first_at = app.clock.now();

    // Pinning it again keeps when it was pinned; another product is pinned from now.
    app.clock.advance(Duration::from_secs(30));
    let again = app.live.pin_product(&user(1), room, p).await.unwrap();
    assert_eq!(again.pinned_product_at, Some(first_at));
    app.fakes.carry(1, 102, 3);
    let other = app.live.pin_product(&user(1), room, Some(ProductId(102))).await.unwrap();
    assert_eq!((other.pinned_product_id, other.pinned_product_at), (Some(ProductId(102)), Some(app.clock.now())));
    assert_eq!(app.live.rooms_by_ids(&Actor::Anonymous, &[room]).await.unwrap()[0].pinned_product_id, Some(ProductId(102)));
    let unpinned = app.live.pin_product(&user(1), room, None).await.unwrap();
    assert_eq!((unpinned.pinned_product_id, unpinned.pinned_product_at), (None, None));
    let seen = shop_events_before_marker(&app, room, &mut watcher, "二").await;
    assert_eq!(seen.last(), Some(&LiveRoomEventDto::ProductPinned(None)), "{seen:?}");

    // The end of the live clears the pin; nothing is pinned in a room that is over.
    app.live.pin_product(&user(1), room, p).await.unwrap();
    let ended = app.live.end_live(&user(1), room).await.unwrap();
    assert_eq!((ended.pinned_product_id, ended.pinned_product_at), (None, None));
    let e = app.live.pin_product(&user(1), room, p).await.unwrap_err();
    assert_eq!(user_error(&e), (String::new(), UserErrorCode::InvalidState));
    assert!(format!("{e:?}").contains("this room is ENDED"), "{e:?}");
    assert!(stored_pins(&app).await.iter().all(|(_, id, at)| id.is_none() && !at));
}

#[tokio::test]
async fn viewers_see_the_pinned_products_stock_and_price_change_and_who_less_just_bought_once() {
    let app = app_with(quick()).await;
    app.fakes.carry(1, 100, 10);
    let room = live_room(&app, 1).await;
    let mut watcher = app.live.watch_room(&Actor::Anonymous, room).await.unwrap();
    app.live.pin_product(&user(1), room, Some(ProductId(100))).await.unwrap();
    until(&mut watcher, |e| matches!(e, LiveRoomEventDto::ProductPinned(Some(_)))).await;

    // Someone orders 2 in the room: the stock held shows on the card.
    app.fakes.set_sku(100, 8, 1990);
    deliver(&app, &placed(1, vec![line(Some(room), 100, 2)])).await;
    assert_eq!(app.live.refresh_pinned_products().await.unwrap(), 1);
    let seen = until(&mut watcher, |e| matches!(e, LiveRoomEventDto::ProductUpdated(_))).await;
    let Some(LiveRoomEventDto::ProductUpdated(card)) = seen.last() else { unreachable!() };
    assert_eq!(stock_of(card), (8, 1990));

    // They pay: "just bought", and nothing says who. Delivered twice, it still comes once.
    let paid_at = app.clock.now();
    let event = paid(1, vec![line(Some(room), 100, 2), line(None, 100, 1)], paid_at);
    deliver(&app, &event).await;
    deliver(&app, &event).await;
    assert_eq!(app.live.flush_just_bought().await, 1);
    deliver(&app, &event).await;
    assert_eq!(app.live.flush_just_bought().await, 0, "a repeat after the flush is dropped too");
    let seen = until(&mut watcher, |e| matches!(e, LiveRoomEventDto::JustBought { .. })).await;
    assert_eq!(seen.last(), Some(&LiveRoomEventDto::JustBought { product_id: ProductId(100), quantity: 2, at: paid_at }));
    // Paying changed no stock on sale: the card is the one shown, and does not come again.
    app.live.refresh_pinned_products().await.unwrap();
    let seen = shop_events_before_marker(&app, room, &mut watcher, "付款后").await;
    assert!(seen.is_empty(), "{seen:?}");

    // The shop reprices; another order is cancelled: each change reaches the card.
    app.fakes.set_sku(100, 8, 1590);
    deliver(&app, &SkuChanged { sku_id: SkuId(1000), product_id: ProductId(100), shop_id: ShopId(1), price: Money::new(1590, Currency::CNY), stock: 8, version: 3 }).await;
    assert_eq!(app.live.refresh_pinned_products().await.unwrap(), 1);
    let seen = until(&mut watcher, |e| matches!(e, LiveRoomEventDto::ProductUpdated(_))).await;
    let Some(LiveRoomEventDto::ProductUpdated(card)) = seen.last() else { unreachable!() };
    assert_eq!(stock_of(card), (8, 1590));
    app.fakes.set_sku(100, 9, 1590);
    deliver(&app, &OrderCancelled {
        order_id: OrderId(2),
        buyer_id: UserId(16),
        shop_id: ShopId(1),
        lines: vec![line(Some(room), 100, 1)],
        total: Money::new(1590, Currency::CNY),
        version: 2,
        reason: CancelReason::PaymentExpired,
    })
    .await;
    assert_eq!(app.live.refresh_pinned_products().await.unwrap(), 1);
    let seen = until(&mut watcher, |e| matches!(e, LiveRoomEventDto::ProductUpdated(_))).await;
    let Some(LiveRoomEventDto::ProductUpdated(card)) = seen.last() else { unreachable!() };
    assert_eq!(stock_of(card), (9, 1590));

    // Orders of products nobody pinned read nothing.
    let reads = app.fakes.product_reads();
    deliver(&app, &placed(3, vec![line(None, 555, 1)])).await;
    assert_eq!(app.live.refresh_pinned_products().await.unwrap(), 0);
    assert_eq!(app.fakes.product_reads(), reads);
}

/// A flash sale: 2,000 orders on a product pinned in two rooms. Each refresh reads the product
/// once and sends each room one card; each viewer gets one.
#[tokio::test]
async fn a_flash_sale_reads_the_pinned_product_once_per_refresh_and_sends_each_room_one_card() {
    let app = app_with(quick()).await;
    app.fakes.carry(1, 100, 5_000);
    app.fakes.carry(2, 100, 5_000);
    app.fakes.carry(3, 300, 10);
    let rooms = [live_room(&app, 1).await, live_room(&app, 2).await];
    let quiet = live_room(&app, 3).await;
    let mut watchers = Vec::new();
    for room in rooms {
        let mut watcher = app.live.watch_room(&Actor::Anonymous, room).await.unwrap();
        app.live.pin_product(&user_owner(&app, room).await, room, Some(ProductId(100))).await.unwrap();
        until(&mut watcher, |e| matches!(e, LiveRoomEventDto::ProductPinned(Some(_)))).await;
        watchers.push(watcher);
    }
    app.live.pin_product(&user(3), quiet, Some(ProductId(300))).await.unwrap();
    let mut quiet_watcher = app.live.watch_room(&Actor::Anonymous, quiet).await.unwrap();

    let reads = app.fakes.product_reads();
    for order in 0..2_000 {
        let room = rooms[order as usize % 2];
        deliver(&app, &placed(order, vec![line(Some(room), 100, 1)])).await;
        if order % 500 == 499 {
            // The shop's counts move on as orders come; a refresh may fall anywhere.
            app.fakes.set_sku(100, 5_000 - order - 1, 1990);
        }
    }
    for order in 0..2_000 {
        deliver(&app, &paid(order, vec![line(Some(rooms[order as usize % 2]), 100, 1)], app.clock.now())).await;
    }
    assert_eq!(app.live.refresh_pinned_products().await.unwrap(), 2, "one card per room");
    assert_eq!(app.fakes.product_reads() - reads, 1, "one read of the product for both rooms");
    assert_eq!(app.live.flush_just_bought().await, 2, "one message per room");
    assert_eq!(app.live.refresh_pinned_products().await.unwrap(), 0, "nothing touched since");
    for (room, watcher) in rooms.into_iter().zip(&mut watchers) {
        let seen = shop_events_before_marker(&app, room, watcher, "抢购").await;
        let cards: Vec<_> = seen.iter().filter_map(|e| match e { LiveRoomEventDto::ProductUpdated(p) => Some(stock_of(p)), _ => None }).collect();
        assert_eq!(cards, vec![(3_000, 1990)], "one card, as it is now");
        let bought = seen.iter().filter(|e| matches!(e, LiveRoomEventDto::JustBought { .. })).count();
        assert!((1..=3).contains(&bought), "the newest few purchases, not a thousand: {bought}");
    }
    // The room pinning another product heard nothing of it.
    let seen = shop_events_before_marker(&app, quiet, &mut quiet_watcher, "安静").await;
    assert!(seen.iter().all(|e| !matches!(e, LiveRoomEventDto::ProductUpdated(_) | LiveRoomEventDto::JustBought { .. })), "{seen:?}");
}

#[tokio::test]
async fn a_product_the_channel_no_longer_carries_is_unpinned_at_its_next_change() {
    let app = app_with(quick()).await;
    app.fakes.carry(1, 100, 10);
    let room = live_room(&app, 1).await;
    let mut watcher = app.live.watch_room(&Actor::Anonymous, room).await.unwrap();
    app.live.pin_product(&user(1), room, Some(ProductId(100))).await.unwrap();
    until(&mut watcher, |e| matches!(e, LiveRoomEventDto::ProductPinned(Some(_)))).await;
    app.fakes.drop_from_showcase(1, 100);
    deliver(&app, &placed(1, vec![line(None, 100, 1)])).await;
    assert_eq!(app.live.refresh_pinned_products().await.unwrap(), 0);
    until(&mut watcher, |e| matches!(e, LiveRoomEventDto::ProductPinned(None))).await;
    assert_eq!(app.live.rooms_by_ids(&Actor::Anonymous, &[room]).await.unwrap()[0].pinned_product_id, None);
    assert!(stored_pins(&app).await.iter().all(|(_, id, at)| id.is_none() && !at));
}

/// A viewer who stops reading skips batches, but then gets the pinned product as it is now:
/// the pin made in a skipped batch, with the stock of a later card folded in.
#[tokio::test]
async fn a_viewer_who_fell_behind_gets_the_latest_pinned_product() {
    let app = app_with(LiveConfig { comments_per_user: vec![], ..quick() }).await;
    app.fakes.carry(1, 100, 10);
    let room = live_room(&app, 1).await;
    let mut slow = app.live.watch_room(&user(6), room).await.unwrap();
    until(&mut slow, |e| matches!(e, LiveRoomEventDto::Changed(_))).await;
    let mut last = None;
    for i in 0..80 {
        last = Some(app.live.send_comment(&user(1), room, &format!("主播第{i}条")).await.unwrap().id);
        if i == 3 {
            app.live.pin_product(&user(1), room, Some(ProductId(100))).await.unwrap();
        }
        if i == 6 {
            app.fakes.set_sku(100, 7, 1990);
            deliver(&app, &placed(1, vec![line(Some(room), 100, 3)])).await;
            app.live.refresh_pinned_products().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let last = last.unwrap();
    let expected = Some((ProductId(100), (7, 1990)));
    let (mut card, mut caught_up) = (None, false);
    // Times out (failing) unless the card it ends with is the pin with its latest stock.
    until(&mut slow, |e| {
        match e {
            LiveRoomEventDto::ProductPinned(Some(p)) => card = Some((p.product.id, stock_of(&p.product))),
            LiveRoomEventDto::ProductUpdated(p) => card = Some((p.id, stock_of(p))),
            LiveRoomEventDto::Comments { comments, .. } => caught_up |= comments.iter().any(|c| c.id == last),
            _ => {}
        }
        caught_up && card == expected
    })
    .await;
}

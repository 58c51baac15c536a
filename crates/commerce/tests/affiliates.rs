//! Selling for others: offers, showcases, cards under videos, and the credit each order line
//! records (worked out on the server, never taken from the client).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kanjian_contracts::commerce::*;
use kanjian_contracts::live::LiveRoomScheduled;
use kanjian_kernel::ids::{ChannelId, LiveRoomId, UserId, VideoId};
use kanjian_kernel::{Error, PageRequest, UserErrorCode};
use support::*;

const CREATOR: i64 = 7;

fn via(source: SaleSource) -> AttributionInput {
    AttributionInput { source, live_room_id: None, video_id: None, channel_id: None }
}

#[tokio::test]
async fn a_creator_carries_offered_products_and_sales_through_them_are_credited_at_the_rate_in_force() {
    let app = app().await;
    let c = app.catalog(20, None).await;
    let addr = app.address(10).await;
    // Not offered yet: a creator cannot carry it.
    let refused = app.commerce.add_to_showcase(&user(CREATOR), c.product.id).await.unwrap_err();
    assert_eq!(code(&refused), UserErrorCode::InvalidState);
    // Offers are the owner's, and bounded.
    assert!(matches!(app.commerce.set_affiliate_offer(&user(AGENT), c.product.id, Some(1_000)).await, Err(Error::Forbidden(_))));
    assert_eq!(code(&app.commerce.set_affiliate_offer(&user(OWNER), c.product.id, Some(9_001)).await.unwrap_err()), UserErrorCode::Invalid);
    let offered = app.commerce.set_affiliate_offer(&user(OWNER), c.product.id, Some(1_250)).await.unwrap();
    assert_eq!(offered.affiliate_commission_bps, Some(1_250));

    let item = app.commerce.add_to_showcase(&user(CREATOR), c.product.id).await.unwrap();
    assert_eq!(item.channel_id, ChannelId(CREATOR));
    let page = app.commerce.showcase(&user(STRANGER), ChannelId(CREATOR), PageRequest::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);

    // Through the showcase: credited at 12.5 %.
    let showcase = AttributionInput { channel_id: Some(ChannelId(CREATOR)), ..via(SaleSource::Showcase) };
    let order = app
        .commerce
        .buy_now(&user(10), BuyNowInput { sku_id: c.red, quantity: 1, address_id: addr, attribution: showcase, seen_unit_price_minor: None, idempotency_key: "a".into() })
        .await
        .unwrap();
    assert_eq!(order.lines[0].attribution.creator_channel_id, Some(ChannelId(CREATOR)));
    assert_eq!(order.lines[0].attribution.commission_bps, Some(1_250));
    // The rate changes: the order keeps the one it was placed at.
    app.commerce.set_affiliate_offer(&user(OWNER), c.product.id, Some(500)).await.unwrap();
    // A showcase that does not carry it (someone claims a channel): no credit, and no refusal.
    let claimed = AttributionInput { channel_id: Some(ChannelId(8)), ..via(SaleSource::Showcase) };
    let other = app
        .commerce
        .buy_now(&user(10), BuyNowInput { sku_id: c.red, quantity: 1, address_id: addr, attribution: claimed, seen_unit_price_minor: None, idempotency_key: "b".into() })
        .await
        .unwrap();
    assert_eq!(other.lines[0].attribution.creator_channel_id, None);

    // Through the creator's live room (commerce learns its channel from live's event).
    app.deliver().await;
    let room = LiveRoomScheduled { room_id: LiveRoomId(70), version: 1, channel_id: ChannelId(CREATOR), owner_id: UserId(CREATOR), title: "带货".into(), planned_start_at: None };
    app.enqueue(&room).await;
    app.deliver().await;
    app.deliver_after(0).await; // delivered twice: the projection stays the same
    let live = AttributionInput { live_room_id: Some(LiveRoomId(70)), ..via(SaleSource::LiveRoom) };
    let from_live = app
        .commerce
        .buy_now(&user(10), BuyNowInput { sku_id: c.blue, quantity: 2, address_id: addr, attribution: live, seen_unit_price_minor: None, idempotency_key: "c".into() })
        .await
        .unwrap();
    assert_eq!(from_live.lines[0].attribution.creator_channel_id, Some(ChannelId(CREATOR)));
    assert_eq!(from_live.lines[0].attribution.commission_bps, Some(500));
    // Someone in a block with the creator cannot see the room: buying "from" it credits nobody,
    // exactly as a room id that names nothing (nothing tells them the room exists).
    let addr12 = app.address(12).await;
    app.blocks.0.lock().unwrap().push((CREATOR, 12));
    for (key, room) in [("d", LiveRoomId(70)), ("e", LiveRoomId(9_999))] {
        let hint = AttributionInput { live_room_id: Some(room), ..via(SaleSource::LiveRoom) };
        let blocked = app
            .commerce
            .buy_now(&user(12), BuyNowInput { sku_id: c.blue, quantity: 1, address_id: addr12, attribution: hint, seen_unit_price_minor: None, idempotency_key: key.into() })
            .await
            .unwrap();
        assert_eq!(blocked.lines[0].attribution.creator_channel_id, None);
    }
    let placed = app.events::<OrderPlaced>().await;
    assert_eq!(placed[placed.len() - 3].lines[0].attribution.creator_channel_id, Some(ChannelId(CREATOR)), "events carry the credit");

    // The creator sees their sales (and only theirs); commission parts add up.
    let sales = app.commerce.creator_sales(&user(CREATOR), PageRequest::default()).await.unwrap();
    let sales: Vec<CreatorSaleDto> = sales.items.into_iter().map(|(_, s)| s).collect();
    assert_eq!(sales.len(), 2);
    // ¥90.00 at 5 %: ¥4.50. ¥39.00 at 12.5 %: 487.5 → 488 (largest remainder).
    assert_eq!((sales[0].amount.minor, sales[0].commission.minor), (9_000, 450));
    assert_eq!((sales[1].amount.minor, sales[1].commission.minor), (3_900, 488));
    assert!(app.commerce.creator_sales(&user(8), PageRequest::default()).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn a_video_card_shows_a_product_the_creator_carries_under_their_own_video() {
    let app = app().await;
    let c = app.catalog(5, None).await;
    let video = VideoId(CREATOR * 100 + 1);
    // Not carried yet.
    assert_eq!(code(&app.commerce.set_video_product(&user(CREATOR), video, Some(c.product.id)).await.unwrap_err()), UserErrorCode::InvalidState);
    app.commerce.set_affiliate_offer(&user(OWNER), c.product.id, Some(1_000)).await.unwrap();
    app.commerce.add_to_showcase(&user(CREATOR), c.product.id).await.unwrap();
    // Someone else's video looks like none.
    assert!(matches!(app.commerce.set_video_product(&user(CREATOR), VideoId(801), Some(c.product.id)).await, Err(Error::NotFound(_))));
    let card = app.commerce.set_video_product(&user(CREATOR), video, Some(c.product.id)).await.unwrap();
    assert_eq!(card.unwrap().id, c.product.id);
    let cards = app.commerce.video_products(&user(STRANGER), &[VideoId(1), video]).await.unwrap();
    assert_eq!(cards.len(), 1);
    // A sale through the card is credited; delisting hides the card; removal from the
    // showcase takes it away.
    let addr = app.address(10).await;
    let from_video = AttributionInput { video_id: Some(video), ..via(SaleSource::Video) };
    let order = app
        .commerce
        .buy_now(&user(10), BuyNowInput { sku_id: c.red, quantity: 1, address_id: addr, attribution: from_video, seen_unit_price_minor: None, idempotency_key: "v".into() })
        .await
        .unwrap();
    assert_eq!(order.lines[0].attribution.creator_channel_id, Some(ChannelId(CREATOR)));
    app.commerce.set_product_status(&user(OWNER), c.product.id, ProductStatus::OffShelf).await.unwrap();
    assert!(app.commerce.video_products(&user(STRANGER), &[video]).await.unwrap().is_empty());
    app.commerce.set_product_status(&user(OWNER), c.product.id, ProductStatus::OnShelf).await.unwrap();
    app.commerce.remove_from_showcase(&user(CREATOR), c.product.id).await.unwrap();
    assert!(app.commerce.video_products(&user(STRANGER), &[video]).await.unwrap().is_empty());
    // A person without a channel has no showcase.
    assert_eq!(code(&app.commerce.add_to_showcase(&user(50), c.product.id).await.unwrap_err()), UserErrorCode::InvalidState);
}

#[tokio::test]
async fn a_merchant_may_carry_their_own_products_without_an_offer_and_live_asks_what_a_channel_carries() {
    let app = app().await;
    let c = app.catalog(5, None).await;
    // OWNER (user 1, channel 1) owns the shop: no offer needed.
    app.commerce.add_to_showcase(&user(OWNER), c.product.id).await.unwrap();
    let directory: &dyn ShowcaseDirectory = &app.commerce;
    assert_eq!(directory.carried_product(ChannelId(OWNER), c.product.id).await.unwrap().unwrap().id, c.product.id);
    assert!(directory.carried_product(ChannelId(CREATOR), c.product.id).await.unwrap().is_none());
    app.commerce.set_product_status(&user(OWNER), c.product.id, ProductStatus::OffShelf).await.unwrap();
    assert!(directory.carried_product(ChannelId(OWNER), c.product.id).await.unwrap().is_none(), "unlisted cannot be pinned");
}

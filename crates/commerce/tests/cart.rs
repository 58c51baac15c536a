//! The cart: items from several shops, priced as of now, checked out into one order per shop,
//! all placed or none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kanjian_contracts::commerce::*;
use kanjian_kernel::ids::{AddressId, ShopId, SkuId};
use kanjian_kernel::{Error, UserErrorCode};
use support::*;

fn shop_input(org: kanjian_kernel::ids::OrganizationId, name: &str, fee: i64, free_from: Option<i64>) -> OpenShopInput {
    OpenShopInput {
        organization_id: org,
        name: name.into(),
        description: None,
        currency: None,
        shipping_fee_minor: fee,
        free_shipping_threshold_minor: free_from,
    }
}

fn from_shop() -> AttributionInput {
    AttributionInput { source: SaleSource::Shop, live_room_id: None, video_id: None, channel_id: None }
}

impl TestApp {
    /// A second shop (¥10.00 shipping, never free) with a mug at ¥25.00 × `stock`.
    async fn second_shop(&self, stock: i64) -> (ShopId, SkuId) {
        let shop = self.commerce.open_shop(&user(OWNER2), shop_input(ORG2, "杯子小店", 1_000, None)).await.unwrap().id;
        let product = self
            .commerce
            .create_product(
                &user(OWNER2),
                CreateProductInput {
                    shop_id: shop,
                    title: "马克杯".into(),
                    description: None,
                    category: "家居".into(),
                    image_urls: vec![],
                    purchase_limit: None,
                    skus: vec![SkuInput { specs: vec![], price_minor: 2_500, stock }],
                    on_shelf: true,
                },
            )
            .await
            .unwrap();
        (shop, product.skus[0].id)
    }

    async fn add(&self, buyer: i64, sku: SkuId, quantity: i64) -> kanjian_kernel::Result<CartDto> {
        self.commerce.add_to_cart(&user(buyer), AddToCartInput { sku_id: sku, quantity, attribution: from_shop() }).await
    }

    async fn checkout(&self, buyer: i64, skus: &[SkuId], address: AddressId, key: &str) -> kanjian_kernel::Result<Vec<OrderDto>> {
        self.commerce.checkout(&user(buyer), CheckoutInput { sku_ids: skus.to_vec(), address_id: address, idempotency_key: key.into() }).await
    }
}

#[tokio::test]
async fn a_cart_across_shops_checks_out_into_one_order_per_shop_with_shipping_split_over_lines() {
    let app = app().await;
    let c = app.catalog(10, None).await;
    let (mug_shop, mug) = app.second_shop(10).await;
    let addr = app.address(10).await;
    let tick = || app.clock.advance(std::time::Duration::from_secs(1));
    app.add(10, c.red, 1).await.unwrap();
    tick();
    app.add(10, c.blue, 1).await.unwrap();
    tick();
    app.add(10, c.red, 1).await.unwrap();
    tick();
    let cart = app.add(10, mug, 3).await.unwrap();
    assert_eq!(cart.item_count, 3);
    assert_eq!(cart.shops.len(), 2);
    assert_eq!(cart.shops[0].shop_id, mug_shop, "the shop with the newest item first");
    let tees = &cart.shops[1];
    // 2 × ¥39.00 + ¥45.00 = ¥123.00: over ¥100, free shipping. Mugs: 3 × ¥25.00 + ¥10.00.
    assert_eq!((tees.items_total.minor, tees.shipping_fee.minor), (12_300, 0));
    assert_eq!((cart.shops[0].items_total.minor, cart.shops[0].shipping_fee.minor, cart.shops[0].total.minor), (7_500, 1_000, 8_500));

    let orders = app.checkout(10, &[c.red, c.blue, mug], addr, "co-1").await.unwrap();
    assert_eq!(orders.len(), 2);
    for order in &orders {
        let shares: i64 = order.lines.iter().map(|l| l.shipping_share.minor).sum();
        assert_eq!(shares, order.shipping_fee.minor, "the shipping shares add up to the fee");
        assert_eq!(order.total.minor, order.items_total.minor + order.shipping_fee.minor);
    }
    assert_eq!(app.commerce.cart(&user(10)).await.unwrap().item_count, 0, "bought items leave the cart");
    assert_eq!(app.sku(mug, OWNER2).await.held, 3);
    // The same key answers the same orders.
    let again = app.checkout(10, &[mug, c.blue, c.red], addr, "co-1").await.unwrap();
    assert_eq!(again.iter().map(|o| o.id).collect::<Vec<_>>(), orders.iter().map(|o| o.id).collect::<Vec<_>>());
    app.check_stock().await;
}

#[tokio::test]
async fn shipping_over_several_lines_is_split_by_largest_remainder() {
    let app = app().await;
    let c = app.catalog(10, None).await;
    let addr = app.address(10).await;
    // ¥39.00 and ¥45.00 lines under the threshold: ¥8.00 split 39:45 → 371.4 : 428.6 → 371 + 429.
    app.add(10, c.red, 1).await.unwrap();
    app.add(10, c.blue, 1).await.unwrap();
    let orders = app.checkout(10, &[c.red, c.blue], addr, "co").await.unwrap();
    let shares: Vec<i64> = orders[0].lines.iter().map(|l| l.shipping_share.minor).collect();
    assert_eq!(shares, vec![371, 429]);
}

#[tokio::test]
async fn a_checkout_with_one_sold_out_item_places_nothing_and_names_it() {
    let app = app().await;
    let c = app.catalog(1, Some(4)).await;
    let (_, mug) = app.second_shop(10).await;
    let addr = app.address(10).await;
    let addr11 = app.address(11).await;
    app.add(10, mug, 2).await.unwrap();
    app.add(10, c.red, 1).await.unwrap();
    // Someone else takes the last red one first.
    app.buy(11, c.red, 1, addr11, "b").await.unwrap();
    let cart = app.commerce.cart(&user(10)).await.unwrap();
    let red = cart.shops.iter().flat_map(|s| &s.items).find(|i| i.sku_id == c.red).unwrap();
    assert_eq!(red.problem, Some(CartProblem::SoldOut));
    let before = app.fingerprint().await;
    let refused = app.checkout(10, &[mug, c.red], addr, "co").await.unwrap_err();
    assert_eq!(code(&refused), UserErrorCode::SoldOut);
    match &refused {
        Error::User(errors) => assert!(errors[0].message.contains("纯棉T恤"), "{}", errors[0].message),
        other => panic!("{other:?}"),
    }
    assert_eq!(app.fingerprint().await, before, "no order for the mugs either");
    assert_eq!(app.commerce.cart(&user(10)).await.unwrap().item_count, 2, "the cart is as it was");

    // Two SKUs of one product count together against its limit of 4.
    app.commerce.set_cart_quantity(&user(10), c.red, 0).await.unwrap();
    app.add(10, c.blue, 5).await.unwrap();
    let refused = app.checkout(10, &[c.blue], addr, "co-2").await.unwrap_err();
    assert_eq!(code(&refused), UserErrorCode::PurchaseLimitExceeded);
    app.check_stock().await;
}

#[tokio::test]
async fn cart_edits_are_checked() {
    let app = app().await;
    let c = app.catalog(10, None).await;
    assert_eq!(code(&app.add(10, c.red, 0).await.unwrap_err()), UserErrorCode::TooShort);
    assert_eq!(code(&app.add(10, c.red, 1_000).await.unwrap_err()), UserErrorCode::TooLong);
    assert!(matches!(app.add(10, SkuId(999_999), 1).await, Err(Error::NotFound(_))));
    app.add(10, c.red, 999).await.unwrap();
    assert_eq!(code(&app.add(10, c.red, 1).await.unwrap_err()), UserErrorCode::TooLong, "999 in all");
    assert_eq!(code(&app.commerce.set_cart_quantity(&user(10), c.blue, 2).await.unwrap_err()), UserErrorCode::Invalid);
    assert_eq!(code(&app.commerce.set_cart_quantity(&user(10), c.red, -1).await.unwrap_err()), UserErrorCode::TooShort);
    let cart = app.commerce.set_cart_quantity(&user(10), c.red, 2).await.unwrap();
    assert_eq!(cart.shops[0].items[0].quantity, 2);
    // Delisted: hidden from a shopper who tries to add it.
    app.commerce.set_product_status(&user(OWNER), c.product.id, ProductStatus::OffShelf).await.unwrap();
    assert!(matches!(app.add(10, c.blue, 1).await, Err(Error::NotFound(_))));
    let cart = app.commerce.cart(&user(10)).await.unwrap();
    assert_eq!(cart.shops[0].items[0].problem, Some(CartProblem::Unavailable));
    assert_eq!(cart.shops[0].total.minor, 0, "nothing buyable");
    // Somebody else's cart is their own.
    assert_eq!(app.commerce.cart(&user(11)).await.unwrap().item_count, 0);
    let addr11 = app.address(11).await;
    assert_eq!(code(&app.checkout(11, &[c.red], addr11, "x").await.unwrap_err()), UserErrorCode::Invalid);
}

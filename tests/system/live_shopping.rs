//! Shopping in a live room through the real server: a creator who is also a merchant goes live
//! from ffmpeg and pins (讲解中) a product of their showcase; a viewer subscribed to the room sees
//! the card with its price and stock, buys it from the room with `buyNow`, pays in the sandbox,
//! and sees "just bought" (never who) and the stock change. And every refusal of `pinProduct`.

use std::time::Duration;

use kanjian_system_tests::TestApp;
use kanjian_system_tests::ws::Subscription;
use serde_json::{Value, json};

use crate::live::publisher;

const SCHEDULE: &str = "mutation($i: ScheduleLiveInput!) { scheduleLive(input: $i) { liveRoom { id streamCredentials { serverUrl streamKey } } userErrors { code } } }";
const PIN: &str = "mutation($i: PinProductInput!) { pinProduct(input: $i) { \
    liveRoom { id pinnedProductAt pinnedProduct { id title skus { stock price { minor } } } } userErrors { field message code } } }";
const ROOM_EVENTS: &str = "subscription($id: ID!) { liveRoomEvents(liveRoomId: $id) { __typename \
    ... on LiveRoomChanged { liveRoom { state } } \
    ... on LiveProductPinned { pinnedProduct { pinnedAt product { id title skus { id stock sold price { minor formatted } } } } } \
    ... on LiveProductUpdated { product { id skus { id stock sold price { minor } } } } \
    ... on LiveJustBought { productId quantity at } } }";

/// Runs a mutation with `{ i: input }` and returns its payload (no top-level errors allowed).
async fn call(app: &TestApp, token: &str, doc: &str, input: Value) -> Value {
    let data = app.data(Some(token), doc, json!({ "i": input })).await;
    data.as_object().and_then(|o| o.values().next()).cloned().unwrap()
}

async fn ok(app: &TestApp, token: &str, doc: &str, input: Value) -> Value {
    let payload = call(app, token, doc, input).await;
    assert_eq!(payload["userErrors"], json!([]), "{doc}: {payload:#}");
    payload
}

/// A creator who also runs a shop with one listed product (¥19.90, 10 in stock); returns
/// (token, product id, SKU id).
async fn creator_with_a_shop(app: &TestApp, handle: &str) -> (String, String, String) {
    let (token, _) = app.creator(handle).await;
    let org = ok(app, &token, "mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { id } userErrors { code } } }", json!({ "name": "茶园直播" })).await;
    let shop = ok(
        app,
        &token,
        "mutation($i: OpenShopInput!) { openShop(input: $i) { shop { id } userErrors { field message code } } }",
        json!({ "organizationId": org["organization"]["id"], "name": "明前茶铺", "shippingFee": 0 }),
    )
    .await;
    let product = ok(
        app,
        &token,
        "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id skus { id } } userErrors { field message code } } }",
        json!({
            "shopId": shop["shop"]["id"], "title": "明前龙井", "category": "茶叶", "imageUrls": ["https://cdn.example/longjing.jpg"],
            "skus": [{ "specs": [], "price": 1990, "stock": 10 }], "onShelf": true,
        }),
    )
    .await;
    let product_id = product["product"]["id"].as_str().unwrap().to_owned();
    let sku = product["product"]["skus"][0]["id"].as_str().unwrap().to_owned();
    (token, product_id, sku)
}

/// Opens a room and puts it on air with ffmpeg (for 120 s, or until the test ends); returns the
/// room's id and the publisher.
async fn live_room(app: &TestApp, token: &str) -> (String, tokio::process::Child) {
    let room = ok(app, token, SCHEDULE, json!({ "title": "龙井开箱" })).await;
    let id = room["liveRoom"]["id"].as_str().unwrap().to_owned();
    let credentials = &room["liveRoom"]["streamCredentials"];
    let url = format!("{}/{}", credentials["serverUrl"].as_str().unwrap(), credentials["streamKey"].as_str().unwrap());
    let ffmpeg = publisher(&url, 120);
    let room_id = id.clone();
    app.eventually(Duration::from_secs(30), || {
        let room_id = room_id.clone();
        async move {
            let data = app.data(None, "query($id: ID!) { node(id: $id) { ... on LiveRoom { state } } }", json!({ "id": room_id })).await;
            (data["node"]["state"] == "LIVE").then_some(())
        }
    })
    .await;
    (id, ffmpeg)
}

/// The next room event that is not a room change, a comment or a count.
async fn next_shop_event(watcher: &mut Subscription, waiting_for: &str) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(15), watcher.next())
            .await
            .unwrap_or_else(|_| panic!("no room event within 15 s, waiting for {waiting_for}"))
            .expect("the subscription goes on")
            .expect("a room event, not an error");
        let event = message["data"]["liveRoomEvents"].clone();
        if matches!(event["__typename"].as_str(), Some("LiveProductPinned" | "LiveProductUpdated" | "LiveJustBought")) {
            return event;
        }
    }
}

#[tokio::test]
async fn pinning_a_product_is_refused_clearly_outside_a_live_for_others_and_for_products_not_on_the_showcase() {
    let app = TestApp::spawn().await;
    let (alice, product, _) = creator_with_a_shop(&app, "alice.refusals").await;
    let (bob, _) = app.sign_up("bob.refusals@example.com").await;
    let upcoming = ok(&app, &alice, SCHEDULE, json!({ "title": "明天", "plannedStartAt": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339() })).await;
    let upcoming = upcoming["liveRoom"]["id"].as_str().unwrap().to_owned();
    let refused = call(&app, &alice, PIN, json!({ "liveRoomId": upcoming, "productId": product })).await;
    assert_eq!(refused["userErrors"][0]["code"], "INVALID_STATE", "{refused:#}");
    assert!(refused["userErrors"][0]["message"].as_str().unwrap().contains("while the room is live"), "{refused:#}");

    let (room, _ffmpeg) = live_room(&app, &alice).await;
    // Not on the channel's showcase yet.
    let refused = call(&app, &alice, PIN, json!({ "liveRoomId": room, "productId": product })).await;
    assert_eq!((&refused["userErrors"][0]["code"], &refused["userErrors"][0]["field"]), (&json!("INVALID_STATE"), &json!(["input", "productId"])), "{refused:#}");
    assert!(refused["userErrors"][0]["message"].as_str().unwrap().contains("add it to your showcase first"), "{refused:#}");
    // Leaving productId out does not unpin by accident; a wrong kind of id is invalid.
    let refused = call(&app, &alice, PIN, json!({ "liveRoomId": room })).await;
    assert_eq!(refused["userErrors"][0]["code"], "REQUIRED", "{refused:#}");
    let refused = call(&app, &alice, PIN, json!({ "liveRoomId": room, "productId": room })).await;
    assert_eq!(refused["userErrors"][0]["code"], "INVALID", "{refused:#}");
    // A viewer may not pin; signed out, nobody may.
    let body = app.graphql(Some(&bob), PIN, json!({ "i": { "liveRoomId": room, "productId": product } })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body:#}");
    let body = app.graphql(None, PIN, json!({ "i": { "liveRoomId": room, "productId": null } })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body:#}");
    // Unpinning when nothing is pinned is fine; the room still has no product.
    let unpinned = ok(&app, &alice, PIN, json!({ "liveRoomId": room, "productId": null })).await;
    assert_eq!((&unpinned["liveRoom"]["pinnedProduct"], &unpinned["liveRoom"]["pinnedProductAt"]), (&Value::Null, &Value::Null));
}

/// The whole journey: showcase, pin, buy from the room, pay on the sandbox's page.
#[tokio::test]
async fn a_viewer_sees_the_pinned_product_buys_it_from_the_room_and_sees_just_bought_and_the_stock() {
    let app = TestApp::spawn().await;
    let (alice, product, sku) = creator_with_a_shop(&app, "alice.shopping").await;
    ok(&app, &alice, "mutation($i: ShowcaseProductInput!) { addToShowcase(input: $i) { item { product { id } } userErrors { field message code } } }", json!({ "productId": product })).await;
    let (room, _ffmpeg) = live_room(&app, &alice).await;
    let (bob, _) = app.sign_up("bob.shopper@example.com").await;
    let mut watcher = Subscription::start(&app.base, Some(&bob), ROOM_EVENTS, json!({ "id": room })).await;
    // The room as it is comes first: from then on the viewer is subscribed, and misses nothing.
    let first = tokio::time::timeout(Duration::from_secs(15), watcher.next()).await.expect("the room now").unwrap().unwrap();
    assert_eq!(first["data"]["liveRoomEvents"], json!({ "__typename": "LiveRoomChanged", "liveRoom": { "state": "LIVE" } }), "{first:#}");

    // The creator pins it: the room says so, and the viewer gets the card.
    let pinned = ok(&app, &alice, PIN, json!({ "liveRoomId": room, "productId": product })).await;
    assert_eq!(pinned["liveRoom"]["pinnedProduct"]["id"], product.as_str(), "{pinned:#}");
    assert!(pinned["liveRoom"]["pinnedProductAt"].is_string());
    let event = next_shop_event(&mut watcher, "the pinned card").await;
    assert_eq!(event["__typename"], "LiveProductPinned", "{event:#}");
    let card = &event["pinnedProduct"]["product"];
    assert_eq!((&card["id"], &card["title"]), (&json!(product), &json!("明前龙井")));
    assert_eq!(card["skus"][0]["stock"], 10);
    assert_eq!(card["skus"][0]["price"], json!({ "minor": 1990, "formatted": "¥19.90" }));

    // The viewer buys 2 from the room: the card's stock follows.
    let address = ok(
        &app,
        &bob,
        "mutation($i: CreateAddressInput!) { createAddress(input: $i) { address { id } userErrors { field message code } } }",
        json!({ "recipient": "韩梅梅", "phone": "+86 138-0013-8000", "region": ["浙江省", "杭州市", "西湖区"], "detail": "龙井路 1 号" }),
    )
    .await;
    let order = ok(
        &app,
        &bob,
        "mutation($i: BuyNowInput!) { buyNow(input: $i) { order { id total { minor } } userErrors { field message code } } }",
        json!({
            "skuId": sku, "quantity": 2, "addressId": address["address"]["id"], "idempotencyKey": "live-buy-1",
            "attribution": { "source": "LIVE_ROOM", "liveRoomId": room },
        }),
    )
    .await;
    let order_id = order["order"]["id"].as_str().unwrap().to_owned();
    let event = next_shop_event(&mut watcher, "the card's stock after buyNow").await;
    assert_eq!((&event["__typename"], &event["product"]["skus"][0]["stock"]), (&json!("LiveProductUpdated"), &json!(8)), "{event:#}");

    // They pay in the sandbox: everyone in the room sees that someone just bought 2, not who.
    let payment = ok(
        &app,
        &bob,
        "mutation($i: PayOrderInput!) { payOrder(input: $i) { payment { id state payUrl qrCodeUrl amount { minor } } userErrors { field message code } } }",
        json!({ "orderId": order_id, "provider": "sandbox", "idempotencyKey": "live-pay-1" }),
    )
    .await;
    assert_eq!((&payment["payment"]["state"], &payment["payment"]["qrCodeUrl"]), (&json!("CREATED"), &Value::Null), "{payment:#}");
    assert_eq!(payment["payment"]["amount"]["minor"], order["order"]["total"]["minor"]);
    let url = payment["payment"]["payUrl"].as_str().unwrap_or_else(|| panic!("{payment:#}")).to_owned();
    // The payer opens the page (no sign-in: it is the payment provider's), then pays on it.
    let page = app.http.get(app.url(&url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("decision"), "the page has the buttons");
    let paid = app.http.post(app.url(&url)).header("content-type", "application/x-www-form-urlencoded").body("decision=pay").send().await.unwrap();
    assert!(paid.status().is_success(), "{}", paid.status());
    let mut saw = (false, false);
    while saw != (true, true) {
        let event = next_shop_event(&mut watcher, &format!("just bought and sold (seen: {saw:?})")).await;
        match event["__typename"].as_str() {
            Some("LiveJustBought") => {
                assert_eq!((&event["productId"], &event["quantity"]), (&json!(product), &json!(2)), "{event:#}");
                let mut fields: Vec<&str> = event.as_object().unwrap().keys().map(String::as_str).collect();
                fields.sort();
                assert_eq!(fields, ["__typename", "at", "productId", "quantity"], "nothing about the buyer");
                saw.0 = true;
            }
            // Paid: the 2 held are sold.
            Some("LiveProductUpdated") => saw.1 |= event["product"]["skus"][0]["sold"] == 2 && event["product"]["skus"][0]["stock"] == 8,
            _ => panic!("{event:#}"),
        }
    }

    // The end of the live takes the card down.
    let ended = app
        .data(Some(&alice), "mutation($id: ID!) { endLive(input: {liveRoomId: $id}) { liveRoom { state pinnedProduct { id } } } }", json!({ "id": room }))
        .await;
    assert_eq!(ended["endLive"]["liveRoom"], json!({ "state": "ENDED", "pinnedProduct": null }), "{ended:#}");
}

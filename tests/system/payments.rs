//! Paying through the real server: the three steps a client runs (`buyNow`, `payOrder`, then the
//! payer on the sandbox's page) with the order turning PAID on `orderUpdated`; the webhook that
//! believes only signed notifications, and the sandbox page that escapes and hides; orders that
//! can no longer be paid; the cart and its checkout; and sales credited to a creator's showcase.

use std::time::Duration;

use base64::Engine as _;
use kanjian_system_tests::TestApp;
use kanjian_system_tests::ws::Subscription;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

const PRODUCT: &str = "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id skus { id } } userErrors { field message code } } }";
const ADDRESS: &str = "mutation($i: CreateAddressInput!) { createAddress(input: $i) { address { id } userErrors { field message code } } }";
const BUY: &str = "mutation($i: BuyNowInput!) { buyNow(input: $i) { order { id state total { minor } payBy } userErrors { field message code } } }";
const PAY: &str = "mutation($i: PayOrderInput!) { payOrder(input: $i) { \
    payment { id state provider providerReference payUrl qrCodeUrl amount { minor currency } } userErrors { field message code } } }";
const CANCEL: &str = "mutation($i: CancelOrderInput!) { cancelOrder(input: $i) { order { id state } userErrors { field message code } } }";
const ORDER: &str = "query($id: ID!) { node(id: $id) { ... on Order { id state paidAt cancelReason total { minor } \
    payments { id state provider amount { minor } paidAt } timeline { kind } } } }";
const ORDER_UPDATED: &str = "subscription($id: ID!) { orderUpdated(orderId: $id) { id state paidAt payments { state } } }";
const COUNTS: &str = "query($id: ID!) { node(id: $id) { ... on Product { skus { stock held sold } } } }";
const ADD_TO_CART: &str = "mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { itemCount } userErrors { field message code } } }";
const CHECKOUT: &str = "mutation($i: CheckoutInput!) { checkout(input: $i) { \
    orders { id state shop { id } itemsTotal { minor } shippingFee { minor } total { minor } lines { skuId quantity amount { minor } } } \
    userErrors { field message code } } }";
const CART: &str = "{ viewer { cart { itemCount shops { shop { id name } itemsTotal { minor } shippingFee { minor } total { minor } \
    items { skuId title quantity unitPrice { minor } amount { minor } source problem } } } } }";

/// Runs a mutation with `{ i: input }` and returns its payload (no top-level errors allowed).
async fn call(app: &TestApp, token: &str, doc: &str, input: Value) -> Value {
    let data = app.data(Some(token), doc, json!({ "i": input })).await;
    data.as_object().and_then(|o| o.values().next()).cloned().unwrap()
}

/// As `call`, and the payload has no user errors.
async fn ok(app: &TestApp, token: &str, doc: &str, input: Value) -> Value {
    let payload = call(app, token, doc, input).await;
    assert_eq!(payload["userErrors"], json!([]), "{doc}: {payload:#}");
    payload
}

/// The first user error: (code, field, message).
fn refusal(payload: &Value) -> (&str, &Value, &str) {
    let error = &payload["userErrors"][0];
    (error["code"].as_str().unwrap_or_else(|| panic!("no user error: {payload:#}")), &error["field"], error["message"].as_str().unwrap_or_default())
}

struct Shop {
    token: String,
    id: String,
}

/// A merchant with an organization and its shop: `shipping_fee` per order, free from ¥100.
async fn shop(app: &TestApp, email: &str, name: &str, shipping_fee: i64) -> Shop {
    let (token, _) = app.sign_up(email).await;
    let org = ok(app, &token, "mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { id } userErrors { code } } }", json!({ "name": "茶商" })).await;
    let opened = ok(
        app,
        &token,
        "mutation($i: OpenShopInput!) { openShop(input: $i) { shop { id } userErrors { field message code } } }",
        json!({ "organizationId": org["organization"]["id"], "name": name, "shippingFee": shipping_fee, "freeShippingThreshold": 10_000 }),
    )
    .await;
    Shop { token, id: opened["shop"]["id"].as_str().unwrap().to_owned() }
}

/// A listed product with one SKU; returns (product id, SKU id).
async fn product(app: &TestApp, shop: &Shop, title: &str, price: i64, stock: i64) -> (String, String) {
    let created = ok(
        app,
        &shop.token,
        PRODUCT,
        json!({ "shopId": shop.id, "title": title, "category": "茶叶", "skus": [{ "price": price, "stock": stock }], "onShelf": true }),
    )
    .await;
    (created["product"]["id"].as_str().unwrap().to_owned(), created["product"]["skus"][0]["id"].as_str().unwrap().to_owned())
}

/// A shopper with one address; returns (token, address id).
async fn shopper(app: &TestApp, email: &str) -> (String, String) {
    let (token, _) = app.sign_up(email).await;
    let address = ok(
        app,
        &token,
        ADDRESS,
        json!({ "recipient": "韩梅梅", "phone": "+86 138-0013-8000", "region": ["浙江省", "杭州市", "西湖区"], "detail": "龙井路 1 号" }),
    )
    .await;
    (token, address["address"]["id"].as_str().unwrap().to_owned())
}

async fn buy(app: &TestApp, token: &str, sku: &str, quantity: i64, address: &str, attribution: Value) -> Value {
    let key = uuid::Uuid::new_v4().to_string();
    ok(app, token, BUY, json!({ "skuId": sku, "quantity": quantity, "addressId": address, "attribution": attribution, "idempotencyKey": key })).await["order"].clone()
}

async fn order(app: &TestApp, token: &str, id: &str) -> Value {
    app.data(Some(token), ORDER, json!({ "id": id })).await["node"].clone()
}

/// (stock, held, sold) of the product's first SKU, as its shop sees it.
async fn counts(app: &TestApp, shop: &Shop, product: &str) -> (i64, i64, i64) {
    let data = app.data(Some(&shop.token), COUNTS, json!({ "id": product })).await;
    let sku = &data["node"]["skus"][0];
    (sku["stock"].as_i64().unwrap(), sku["held"].as_i64().unwrap(), sku["sold"].as_i64().unwrap())
}

/// POSTs the sandbox page's form, as the payer's browser does.
async fn decide(app: &TestApp, url: &str, decision: &str) -> (u16, String) {
    let response = app
        .http
        .post(app.url(url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("decision={decision}"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get(app: &TestApp, url: &str) -> (u16, String) {
    let response = app.http.get(app.url(url)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_shopper_buys_pays_on_the_sandbox_page_and_watches_the_order_turn_paid() {
    let app = TestApp::spawn().await;
    let m = shop(&app, "boss@tea.example", "明前茶铺", 800).await;
    let (longjing, sku) = product(&app, &m, "明前龙井", 1990, 10).await;
    let (meimei, address) = shopper(&app, "meimei@example.com").await;

    // 1. buyNow: two units held until payBy.
    let placed = buy(&app, &meimei, &sku, 2, &address, json!({ "source": "SHOP" })).await;
    let order_id = placed["id"].as_str().unwrap().to_owned();
    assert_eq!((&placed["state"], &placed["total"]["minor"]), (&json!("PENDING_PAYMENT"), &json!(4780)), "{placed:#}");
    assert_eq!(counts(&app, &m, &longjing).await, (8, 2, 0));

    // The client watches the order: first as it is now.
    let mut watcher = Subscription::start(&app.base, Some(&meimei), ORDER_UPDATED, json!({ "id": order_id })).await;
    let first = tokio::time::timeout(Duration::from_secs(10), watcher.next()).await.expect("the order now").unwrap().unwrap();
    assert_eq!(first["data"]["orderUpdated"], json!({ "id": order_id, "state": "PENDING_PAYMENT", "paidAt": null, "payments": [] }), "{first:#}");

    // 2. payOrder: the sandbox's page to open. A retry with the same key, or another key while
    // the attempt is open, answers the same attempt.
    let paying = ok(&app, &meimei, PAY, json!({ "orderId": order_id, "idempotencyKey": "pay-1" })).await["payment"].clone();
    assert_eq!((&paying["state"], &paying["provider"], &paying["qrCodeUrl"]), (&json!("CREATED"), &json!("sandbox"), &Value::Null), "{paying:#}");
    assert_eq!(paying["amount"], json!({ "minor": 4780, "currency": "CNY" }));
    let url = paying["payUrl"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&app.base) && url.contains("/pay/sandbox/"), "{url}");
    for key in ["pay-1", "pay-2"] {
        let again = ok(&app, &meimei, PAY, json!({ "orderId": order_id, "idempotencyKey": key })).await;
        assert_eq!((&again["payment"]["id"], &again["payment"]["payUrl"]), (&paying["id"], &paying["payUrl"]), "{key}: {again:#}");
    }

    // 3. The payer, on the sandbox's page (no GraphQL, no sign-in): sees what they pay, pays.
    let (status, page) = get(&app, &url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("明前茶铺") && page.contains("47.80 CNY") && page.contains("value=\"pay\""), "{page}");
    let (status, page) = decide(&app, &url, "pay").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("已支付 · Paid"), "{page}");

    // The notification turns the order PAID as it arrives; the watcher is told.
    let seen = watcher.collect_until(Duration::from_secs(30), |p| p["data"]["orderUpdated"]["state"] == "PAID").await;
    let paid = &seen.last().unwrap()["data"]["orderUpdated"];
    assert!(paid["paidAt"].is_string(), "{paid:#}");
    assert_eq!(paid["payments"], json!([{ "state": "SUCCEEDED" }]));

    // The held units are sold; the order shows one payment that succeeded.
    assert_eq!(counts(&app, &m, &longjing).await, (8, 0, 2));
    let read = order(&app, &meimei, &order_id).await;
    let payments = read["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1, "{read:#}");
    assert_eq!((&payments[0]["id"], &payments[0]["state"], &payments[0]["amount"]["minor"]), (&paying["id"], &json!("SUCCEEDED"), &json!(4780)));
    assert!(payments[0]["paidAt"].is_string());
    let kinds: Vec<&str> = read["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["PLACED", "PAID"]);

    // Paying again on the page, or asking again in the API, changes nothing.
    let (status, page) = decide(&app, &url, "pay").await;
    assert!(status == 200 && page.contains("已支付 · Paid"), "{status}: {page}");
    let late = call(&app, &meimei, PAY, json!({ "orderId": order_id, "idempotencyKey": "pay-3" })).await;
    assert_eq!(refusal(&late).0, "INVALID_STATE", "{late:#}");
    let read = order(&app, &meimei, &order_id).await;
    assert_eq!((read["state"].as_str(), read["payments"].as_array().unwrap().len()), (Some("PAID"), 1));
    assert_eq!(counts(&app, &m, &longjing).await, (8, 0, 2));
    app.stop().await;
}

/// The sandbox's signing key in this test's server.
const SANDBOX_SECRET: &str = "system-test-sandbox-secret";

/// A notification's headers.
type Headers = Vec<(&'static str, String)>;

/// The headers the sandbox signs `body` with, with `key` at `timestamp`.
fn signed(key: &[u8], timestamp: i64, body: &str) -> Headers {
    let nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
    let signature = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(key, format!("{timestamp}\n{nonce}\n{body}\n").as_bytes()));
    vec![("kanjian-sandbox-timestamp", timestamp.to_string()), ("kanjian-sandbox-nonce", nonce.to_owned()), ("kanjian-sandbox-signature", signature)]
}

async fn notify(app: &TestApp, provider: &str, headers: &Headers, body: impl Into<reqwest::Body>) -> (u16, String) {
    let mut request = app.http.post(app.url(&format!("/payments/notify/{provider}"))).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.body(body).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

#[tokio::test]
async fn the_webhook_believes_only_signed_notifications_and_the_sandbox_page_escapes_and_hides() {
    let app = TestApp::spawn_with(|c| c.modules.commerce.sandbox_secret = Some(secrecy::SecretString::from(SANDBOX_SECRET.to_owned()))).await;
    let db = app.database().await;
    // A shop whose name is markup: the payment page shows it as text.
    let m = shop(&app, "boss@tea.example", "<script>alert(1)</script>", 0).await;
    let (longjing, sku) = product(&app, &m, "明前龙井", 1990, 10).await;
    let (meimei, address) = shopper(&app, "meimei@example.com").await;
    let placed = buy(&app, &meimei, &sku, 1, &address, json!({ "source": "SHOP" })).await;
    let order_id = placed["id"].as_str().unwrap().to_owned();
    let payment = ok(&app, &meimei, PAY, json!({ "orderId": order_id, "idempotencyKey": "pay" })).await["payment"].clone();

    let (status, page) = get(&app, payment["payUrl"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
    assert!(!page.contains("<script>"), "{page}");

    // What a provider's notification of this payment says, and what is true before any.
    let now = chrono::Utc::now();
    let body = json!({
        "id": "sandbox-evt-1", "event_type": "PAYMENT.SUCCEEDED", "out_trade_no": payment["providerReference"], "transaction_id": "SBX-1",
        "amount_minor": 1990, "currency": "CNY", "at": now.to_rfc3339(),
    })
    .to_string();
    let key = SANDBOX_SECRET.as_bytes();
    let before = (order(&app, &meimei, &order_id).await, counts(&app, &m, &longjing).await);
    assert_eq!((&before.0["state"], &before.0["payments"][0]["state"]), (&json!("PENDING_PAYMENT"), &json!("CREATED")));
    const STORED: &str = "SELECT COUNT(*) AS n FROM commerce_payment_notifications";
    const EVENTS: &str = "SELECT COALESCE(MAX(id), 0) AS n FROM events_outbox";
    let events = count(&db, EVENTS).await;

    let tampered = body.replace("\"amount_minor\":1990", "\"amount_minor\":1");
    assert_ne!(tampered, body);
    let mut bad_signature = signed(key, now.timestamp(), &body);
    bad_signature[2].1 = "not base64!".into();
    let refused: Vec<(&str, Headers, Vec<u8>, u16)> = vec![
        ("unsigned", vec![], body.clone().into_bytes(), 401),
        ("garbage, unsigned", vec![], b"\x00\xffnot a notification".to_vec(), 401),
        ("tampered after signing", signed(key, now.timestamp(), &body), tampered.into_bytes(), 401),
        ("signed with another key", signed(b"someone else's key", now.timestamp(), &body), body.clone().into_bytes(), 401),
        ("a signature that is not base64", bad_signature, body.clone().into_bytes(), 401),
        ("signed an hour ago", signed(key, now.timestamp() - 3600, &body), body.clone().into_bytes(), 401),
        ("signed, but not JSON", signed(key, now.timestamp(), "{\"id\": "), b"{\"id\": ".to_vec(), 400),
        ("signed, but not a notification", signed(key, now.timestamp(), "[]"), b"[]".to_vec(), 400),
        ("not UTF-8", signed(key, now.timestamp(), &body), b"\xff\xfe\xfd".to_vec(), 400),
    ];
    for (what, headers, body, expected) in refused {
        let (status, answer) = notify(&app, "sandbox", &headers, body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap_or_else(|_| panic!("{what}: a JSON answer: {answer}"));
        assert_eq!(answer["code"], "FAIL", "{what}: {answer}");
    }
    let (status, answer) = notify(&app, "paypal", &signed(key, now.timestamp(), &body), body.clone()).await;
    assert_eq!(status, 404, "an unknown provider: {answer}");
    // Nothing was stored, emitted or changed.
    assert_eq!(count(&db, STORED).await, 0);
    assert_eq!(count(&db, EVENTS).await, events, "no event");
    assert_eq!((order(&app, &meimei, &order_id).await, counts(&app, &m, &longjing).await), before);

    // The same notification, signed as the sandbox signs: believed, and the order is paid. Sent
    // again (providers retry), it is answered the same and applied once.
    for _ in 0..2 {
        let (status, answer) = notify(&app, "sandbox", &signed(key, now.timestamp(), &body), body.clone()).await;
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(count(&db, STORED).await, 1);
    let paid = app
        .eventually(Duration::from_secs(20), || async {
            let read = order(&app, &meimei, &order_id).await;
            (read["state"] == "PAID").then_some(read)
        })
        .await;
    assert_eq!(paid["payments"].as_array().unwrap().iter().map(|p| p["state"].as_str().unwrap()).collect::<Vec<_>>(), ["SUCCEEDED"]);
    assert_eq!(counts(&app, &m, &longjing).await, (9, 0, 1));

    // The page: a token that names nothing is a 404 page; one that cannot be a token is not
    // echoed; a decision is pay or fail.
    for token in ["dGhpcyBpcyBub3QgYSB0b2tlbg", "%3Cscript%3Ealert(1)%3C%2Fscript%3E"] {
        let (status, page) = get(&app, &format!("/pay/sandbox/{token}")).await;
        assert_eq!(status, 404, "{token}: {page}");
        assert!(page.contains("No such payment") && !page.contains("<script>") && !page.contains("dGhpcyBpcyBub3QgYSB0b2tlbg"), "{page}");
    }
    let (status, page) = decide(&app, "/pay/sandbox/dGhpcyBpcyBub3QgYSB0b2tlbg", "pay").await;
    assert_eq!(status, 404, "{page}");
    let (status, page) = decide(&app, payment["payUrl"].as_str().unwrap(), "steal").await;
    assert_eq!(status, 400, "{page}");
    app.stop().await;
}

#[tokio::test]
async fn an_expired_or_cancelled_order_cannot_be_paid_and_someone_elses_does_not_exist() {
    // A two-second payment window, swept every 100 ms.
    let app = TestApp::spawn_with(|c| {
        c.modules.commerce.payment_window_secs = 2;
        c.modules.commerce.sweep_interval_ms = 100;
    })
    .await;
    let m = shop(&app, "boss@tea.example", "明前茶铺", 0).await;
    let (longjing, sku) = product(&app, &m, "明前龙井", 1990, 10).await;
    let (meimei, address) = shopper(&app, "meimei@example.com").await;
    let (stranger, _) = shopper(&app, "stranger@example.com").await;

    // Cancelled by its buyer: not payable.
    let cancelled = buy(&app, &meimei, &sku, 1, &address, json!({ "source": "SHOP" })).await["id"].as_str().unwrap().to_owned();
    ok(&app, &meimei, CANCEL, json!({ "orderId": cancelled, "idempotencyKey": "cancel" })).await;
    let refused = call(&app, &meimei, PAY, json!({ "orderId": cancelled, "idempotencyKey": "pay-cancelled" })).await;
    assert_eq!((refusal(&refused).0, &refused["payment"]), ("INVALID_STATE", &Value::Null), "{refused:#}");

    // Someone else's order is not found, exactly as one that does not exist.
    let theirs = buy(&app, &meimei, &sku, 1, &address, json!({ "source": "SHOP" })).await["id"].as_str().unwrap().to_owned();
    let missing = crate::authz_matrix::world::global_id("Order", 987_654_321);
    let mut answers = Vec::new();
    for id in [&theirs, &missing] {
        let body = app.graphql(Some(&stranger), PAY, json!({ "i": { "orderId": id, "idempotencyKey": "not-mine" } })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body:#}");
        answers.push(body.to_string().replace(id.as_str(), "<id>"));
    }
    assert_eq!(answers[0], answers[1]);

    // Past its window: the sweep cancels it and releases its stock; paying it is EXPIRED. An
    // attempt started in time finds its page closed.
    let started = ok(&app, &meimei, PAY, json!({ "orderId": theirs, "idempotencyKey": "in-time" })).await["payment"].clone();
    let expired = app
        .eventually(Duration::from_secs(20), || async {
            let read = order(&app, &meimei, &theirs).await;
            (read["state"] == "CANCELLED").then_some(read)
        })
        .await;
    assert_eq!(expired["cancelReason"], "PAYMENT_EXPIRED", "{expired:#}");
    assert_eq!(counts(&app, &m, &longjing).await, (10, 0, 0), "the stock is back on sale");
    let refused = call(&app, &meimei, PAY, json!({ "orderId": theirs, "idempotencyKey": "too-late" })).await;
    assert_eq!((refusal(&refused).0, refusal(&refused).1), ("EXPIRED", &json!(["input", "orderId"])), "{refused:#}");
    let url = started["payUrl"].as_str().unwrap();
    let (status, page) = get(&app, url).await;
    assert!(status == 200 && page.contains("已关闭 · Closed") && !page.contains("value=\"pay\""), "{status}: {page}");
    let (_, page) = decide(&app, url, "pay").await;
    assert!(page.contains("已关闭 · Closed"), "{page}");
    let read = order(&app, &meimei, &theirs).await;
    assert_eq!(read["state"], "CANCELLED");
    assert!(read["payments"].as_array().unwrap().iter().all(|p| p["state"] != "SUCCEEDED"), "{read:#}");

    app.stop().await;
}

#[tokio::test]
async fn a_cart_from_two_shops_checks_out_into_two_orders_and_a_sold_out_item_refuses_the_whole_checkout() {
    let app = TestApp::spawn().await;
    let tea = shop(&app, "boss@tea.example", "明前茶铺", 800).await;
    let cups = shop(&app, "boss@cups.example", "景德镇杯子", 500).await;
    let (longjing, longjing_sku) = product(&app, &tea, "明前龙井", 1990, 10).await;
    let (_, cup_sku) = product(&app, &cups, "青花杯", 3500, 5).await;
    let (_, last_sku) = product(&app, &tea, "最后一罐", 9900, 1).await;
    let (meimei, address) = shopper(&app, "meimei@example.com").await;

    let add = |sku: &str, quantity: i64| json!({ "skuId": sku, "quantity": quantity, "attribution": { "source": "SHOP" } });
    ok(&app, &meimei, ADD_TO_CART, add(&longjing_sku, 1)).await;
    ok(&app, &meimei, ADD_TO_CART, add(&cup_sku, 1)).await;
    // Units add up.
    let added = ok(&app, &meimei, ADD_TO_CART, add(&longjing_sku, 1)).await;
    assert_eq!(added["cart"]["itemCount"], 2);

    // One group per shop, the shop with the newest item first, priced now.
    let cart = app.data(Some(&meimei), CART, json!({})).await["viewer"]["cart"].clone();
    assert_eq!(cart["itemCount"], 2);
    let shops = cart["shops"].as_array().unwrap();
    assert_eq!(shops.iter().map(|s| s["shop"]["id"].as_str().unwrap()).collect::<Vec<_>>(), [tea.id.as_str(), cups.id.as_str()], "{cart:#}");
    assert_eq!(
        (&shops[0]["itemsTotal"]["minor"], &shops[0]["shippingFee"]["minor"], &shops[0]["total"]["minor"]),
        (&json!(3980), &json!(800), &json!(4780))
    );
    assert_eq!(shops[0]["items"][0], json!({ "skuId": longjing_sku, "title": "明前龙井", "quantity": 2, "unitPrice": { "minor": 1990 }, "amount": { "minor": 3980 }, "source": "SHOP", "problem": null }));
    assert_eq!((&shops[1]["total"]["minor"], &shops[1]["items"][0]["problem"]), (&json!(4000), &Value::Null));

    // Checkout: one order per shop, at the cart's totals; the items leave the cart.
    let key = uuid::Uuid::new_v4().to_string();
    let checked_out = ok(&app, &meimei, CHECKOUT, json!({ "skuIds": [cup_sku, longjing_sku], "addressId": address, "idempotencyKey": key })).await;
    let orders = checked_out["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "{checked_out:#}");
    let of = |shop: &str| orders.iter().find(|o| o["shop"]["id"] == shop).unwrap_or_else(|| panic!("an order of {shop}: {checked_out:#}"));
    assert_eq!((&of(&tea.id)["state"], &of(&tea.id)["total"]["minor"], &of(&tea.id)["lines"][0]["quantity"]), (&json!("PENDING_PAYMENT"), &json!(4780), &json!(2)));
    assert_eq!(of(&cups.id)["total"]["minor"], 4000);
    assert_eq!(counts(&app, &tea, &longjing).await, (8, 2, 0));
    let cart = app.data(Some(&meimei), CART, json!({})).await["viewer"]["cart"].clone();
    assert_eq!(cart, json!({ "itemCount": 0, "shops": [] }));
    // The same key again answers the same orders; nothing more is held.
    let again = ok(&app, &meimei, CHECKOUT, json!({ "skuIds": [cup_sku, longjing_sku], "addressId": address, "idempotencyKey": key })).await;
    let ids = |p: &Value| {
        let mut ids: Vec<String> = p["orders"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&again), ids(&checked_out));
    assert_eq!(counts(&app, &tea, &longjing).await, (8, 2, 0));

    // The last unit of an item in her cart sells to someone else: the cart says so, and a
    // checkout with it names it and leaves everything as it was.
    ok(&app, &meimei, ADD_TO_CART, add(&longjing_sku, 1)).await;
    ok(&app, &meimei, ADD_TO_CART, add(&last_sku, 1)).await;
    let (lilei, lilei_address) = shopper(&app, "lilei@example.com").await;
    buy(&app, &lilei, &last_sku, 1, &lilei_address, json!({ "source": "SHOP" })).await;
    let before = app.data(Some(&meimei), CART, json!({})).await["viewer"]["cart"].clone();
    let items = before["shops"][0]["items"].as_array().unwrap();
    let last = items.iter().find(|i| i["skuId"] == last_sku.as_str()).unwrap();
    assert_eq!(last["problem"], "SOLD_OUT", "{before:#}");
    assert_eq!(before["shops"][0]["itemsTotal"]["minor"], 1990, "only what can be bought counts: {before:#}");
    let refused = call(&app, &meimei, CHECKOUT, json!({ "skuIds": [longjing_sku, last_sku], "addressId": address, "idempotencyKey": uuid::Uuid::new_v4().to_string() })).await;
    let (code, _, message) = refusal(&refused);
    assert_eq!((code, &refused["orders"]), ("SOLD_OUT", &Value::Null), "{refused:#}");
    assert!(message.contains("最后一罐"), "the message names the item: {refused:#}");
    assert_eq!(app.data(Some(&meimei), CART, json!({})).await["viewer"]["cart"], before, "the cart is as it was");
    assert_eq!(counts(&app, &tea, &longjing).await, (8, 2, 0), "nothing more held");
    app.stop().await;
}

#[tokio::test]
async fn a_sale_through_a_creators_showcase_is_credited_to_the_creator_with_the_commission() {
    let app = TestApp::spawn().await;
    let m = shop(&app, "boss@tea.example", "明前茶铺", 0).await;
    let (longjing, sku) = product(&app, &m, "明前龙井", 10_000, 10).await;
    const OFFER: &str = "mutation($i: SetAffiliateOfferInput!) { setAffiliateOffer(input: $i) { product { id affiliateCommissionBps } userErrors { field message code } } }";
    let offered = ok(&app, &m.token, OFFER, json!({ "productId": longjing, "commissionBps": 1500 })).await;
    assert_eq!(offered["product"]["affiliateCommissionBps"], 1500);

    // A creator (a user with a channel) puts it on their showcase; anyone sees the showcase.
    let (lin, lin_channel) = app.creator("lin.tea").await;
    let lin_user = app.data(Some(&lin), "{ viewer { id } }", json!({})).await["viewer"]["id"].as_str().unwrap().to_owned();
    let item = ok(&app, &lin, "mutation($i: ShowcaseProductInput!) { addToShowcase(input: $i) { item { product { id } addedAt } userErrors { field message code } } }", json!({ "productId": longjing })).await;
    assert_eq!(item["item"]["product"]["id"], longjing.as_str());
    let showcase = app.data(None, "query($h: String!) { channel(handle: $h) { showcase(first: 5) { nodes { product { id title } } } } }", json!({ "h": "lin.tea" })).await;
    assert_eq!(showcase["channel"]["showcase"]["nodes"], json!([{ "product": { "id": longjing, "title": "明前龙井" } }]));
    // A creator whose showcase does not carry it gets no credit for naming themselves.
    let (_, other_channel) = app.creator("other.creator").await;

    let (meimei, address) = shopper(&app, "meimei@example.com").await;
    const LINES: &str = "query($id: ID!) { node(id: $id) { ... on Order { lines { amount { minor } attribution { source creator { id } commissionBps } } } } }";
    let credited = buy(&app, &meimei, &sku, 2, &address, json!({ "source": "SHOWCASE", "channelId": lin_channel })).await["id"].as_str().unwrap().to_owned();
    let uncredited = buy(&app, &meimei, &sku, 1, &address, json!({ "source": "SHOWCASE", "channelId": other_channel })).await["id"].as_str().unwrap().to_owned();
    let line = app.data(Some(&meimei), LINES, json!({ "id": credited })).await["node"]["lines"][0].clone();
    assert_eq!(line, json!({ "amount": { "minor": 20_000 }, "attribution": { "source": "SHOWCASE", "creator": { "id": lin_channel }, "commissionBps": null } }), "the rate is the shop's business");
    let line = app.data(Some(&m.token), LINES, json!({ "id": credited })).await["node"]["lines"][0].clone();
    assert_eq!(line["attribution"], json!({ "source": "SHOWCASE", "creator": { "id": lin_channel }, "commissionBps": 1500 }));
    let line = app.data(Some(&m.token), LINES, json!({ "id": uncredited })).await["node"]["lines"][0].clone();
    assert_eq!(line["attribution"], json!({ "source": "SHOWCASE", "creator": null, "commissionBps": null }), "credited to nobody");

    // The creator sees the sale and their part of it; nobody else sees their sales.
    const SALES: &str = "{ viewer { creatorSales(first: 10) { edges { node { title quantity amount { minor } commissionBps commission { minor } source orderState } } } } }";
    let sales = app.data(Some(&lin), SALES, json!({})).await;
    assert_eq!(
        sales["viewer"]["creatorSales"]["edges"],
        json!([{ "node": { "title": "明前龙井", "quantity": 2, "amount": { "minor": 20_000 }, "commissionBps": 1500, "commission": { "minor": 3000 }, "source": "SHOWCASE", "orderState": "PENDING_PAYMENT" } }])
    );
    for token in [Some(meimei.as_str()), Some(m.token.as_str()), None] {
        let theirs = app
            .data(token, "query($u: ID!) { node(id: $u) { ... on User { id creatorSales { edges { node { commission { minor } } } } } } }", json!({ "u": lin_user }))
            .await;
        assert_eq!(theirs["node"], json!({ "id": lin_user, "creatorSales": null }), "{theirs:#}");
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA256, to sign notifications as the sandbox does (FIPS 180-4, RFC 2104). The test crate
// has no crypto dependency; the known answers below keep this honest.

fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
        0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
        0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];
    let mut h: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            (hh, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).chain(message.iter().copied()).collect();
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).chain(sha256(&inner)).collect();
    sha256(&outer)
}

#[test]
fn hmac_sha256_gives_the_known_answers() {
    let hex = |bytes: [u8; 32]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(hex(sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(hex(sha256(&[b'a'; 1000])), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
    // RFC 4231, test cases 2 and 6 (a key longer than a block).
    assert_eq!(hex(hmac_sha256(b"Jefe", b"what do ya want for nothing?")), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_eq!(
        hex(hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

//! Commerce through the real server: a merchant opens a shop and lists a product with two SKUs;
//! a shopper keeps an address book and buys with `buyNow` (totals, shipping, stock holds,
//! idempotency keys, every refusal), cancels; orders stay between their buyer and their shop.

use kanjian_system_tests::TestApp;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};


const OPEN_SHOP: &str = "mutation($i: OpenShopInput!) { openShop(input: $i) { \
    shop { id name currency viewerIsMember shippingFee { minor currency formatted } freeShippingThreshold { minor } organization { id } } \
    userErrors { field message code } } }";
const PRODUCT_FIELDS: &str = "id title status purchaseLimit shop { id } priceRange { min { minor formatted } max { minor formatted } } \
    skus { id specs { name value } price { minor currency formatted } stock held sold removed }";
const ORDER_FIELDS: &str = "id state viewerIsBuyer priceChanged payBy paidAt cancelledAt cancelReason buyer { id } shop { id } \
    itemsTotal { minor formatted } shippingFee { minor formatted } total { minor currency formatted } \
    shippingAddress { recipient phone region detail postalCode } shipment { carrier trackingNumber shippedAt } \
    lines { skuId title specs { name value } quantity unitPrice { minor } amount { minor } seenUnitPrice { minor formatted } \
      product { id } attribution { source liveRoom { id } video { id } creator { id } commissionBps } }";

fn create_product() -> String {
    format!("mutation($i: CreateProductInput!) {{ createProduct(input: $i) {{ product {{ {PRODUCT_FIELDS} }} userErrors {{ field message code }} }} }}")
}

fn buy() -> String {
    format!("mutation($i: BuyNowInput!) {{ buyNow(input: $i) {{ order {{ {ORDER_FIELDS} }} priceChanged userErrors {{ field message code }} }} }}")
}

fn cancel() -> String {
    format!("mutation($i: CancelOrderInput!) {{ cancelOrder(input: $i) {{ order {{ {ORDER_FIELDS} }} userErrors {{ field message code }} }} }}")
}

fn product_query() -> String {
    format!("query($id: ID!) {{ node(id: $id) {{ ... on Product {{ {PRODUCT_FIELDS} }} }} }}")
}

fn order_query() -> String {
    format!("query($id: ID!) {{ node(id: $id) {{ ... on Order {{ {ORDER_FIELDS} timeline {{ kind note actor {{ id }} }} }} }} }}")
}

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

/// The first user error's code.
fn refusal(payload: &Value) -> (&str, &Value) {
    let error = &payload["userErrors"][0];
    (error["code"].as_str().unwrap_or_else(|| panic!("no user error: {payload:#}")), &error["field"])
}

fn top_level_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no top-level error: {body:#}"))
}

struct Merchant {
    token: String,
    organization: String,
    shop: String,
}

/// Signs up, creates an organization and opens its shop: ¥8 shipping, free from ¥100.
async fn merchant(app: &TestApp, email: &str) -> Merchant {
    let (token, _) = app.sign_up(email).await;
    let created = ok(app, &token, "mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { id } userErrors { code } } }", json!({ "name": "Tea House" })).await;
    let organization = created["organization"]["id"].as_str().unwrap().to_owned();
    let opened = ok(
        app,
        &token,
        OPEN_SHOP,
        json!({ "organizationId": organization, "name": "明前茶铺", "description": "杭州的茶", "shippingFee": 800, "freeShippingThreshold": 10_000 }),
    )
    .await;
    let shop = &opened["shop"];
    assert_eq!(
        (shop["currency"].as_str(), shop["viewerIsMember"].as_bool(), &shop["shippingFee"]),
        (Some("CNY"), Some(true), &json!({ "minor": 800, "currency": "CNY", "formatted": "¥8.00" })),
        "{opened:#}"
    );
    assert_eq!(shop["organization"]["id"], organization.as_str());
    Merchant { token, organization, shop: shop["id"].as_str().unwrap().to_owned() }
}

/// A listed product: 龙井 100g at ¥19.90 (10 in stock) and 250g at ¥39.90 (5 in stock) unless
/// `skus` says otherwise.
async fn product(app: &TestApp, m: &Merchant, title: &str, skus: Value, extra: Value) -> Value {
    let mut input = json!({ "shopId": m.shop, "title": title, "category": "茶叶", "imageUrls": ["https://cdn.example/longjing.jpg"], "skus": skus, "onShelf": true });
    input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    ok(app, &m.token, &create_product(), input).await["product"].clone()
}

fn two_skus() -> Value {
    json!([
        { "specs": [{ "name": "规格", "value": "100g" }], "price": 1990, "stock": 10 },
        { "specs": [{ "name": "规格", "value": "250g" }], "price": 3990, "stock": 5 },
    ])
}

fn sku(product: &Value, i: usize) -> String {
    product["skus"][i]["id"].as_str().unwrap().to_owned()
}

/// A shopper with one address; returns (token, user id, address id).
async fn shopper(app: &TestApp, email: &str) -> (String, String, String) {
    let (token, user) = app.sign_up(email).await;
    let address = ok(
        app,
        &token,
        "mutation($i: CreateAddressInput!) { createAddress(input: $i) { address { id recipient phone region detail postalCode isDefault } userErrors { field message code } } }",
        json!({ "recipient": "韩梅梅", "phone": "+86 138-0013-8000", "region": ["浙江省", "杭州市", "西湖区"], "detail": "龙井路 1 号", "postalCode": "310000" }),
    )
    .await;
    // The first address is the default whatever was asked.
    assert_eq!(address["address"]["isDefault"], true, "{address:#}");
    (token, user, address["address"]["id"].as_str().unwrap().to_owned())
}

fn buy_input(sku: &str, quantity: i64, address: &str, key: &str) -> Value {
    json!({ "skuId": sku, "quantity": quantity, "addressId": address, "attribution": { "source": "SHOP" }, "idempotencyKey": key })
}

/// Stock, held and sold of each SKU as `token` sees the product.
async fn counts(app: &TestApp, token: Option<&str>, product: &str) -> Vec<(Value, Value, Value)> {
    let data = app.data(token, &product_query(), json!({ "id": product })).await;
    data["node"]["skus"].as_array().unwrap().iter().map(|s| (s["stock"].clone(), s["held"].clone(), s["sold"].clone())).collect()
}

#[tokio::test]
async fn a_merchant_lists_a_product_and_a_shopper_buys_at_the_servers_totals_then_cancels() {
    let app = TestApp::spawn().await;
    let m = merchant(&app, "boss@tea.example").await;
    let longjing = product(&app, &m, "明前龙井", two_skus(), json!({})).await;
    assert_eq!(longjing["status"], "ON_SHELF");
    assert_eq!(longjing["priceRange"], json!({ "min": { "minor": 1990, "formatted": "¥19.90" }, "max": { "minor": 3990, "formatted": "¥39.90" } }));
    assert_eq!(longjing["skus"][1]["specs"], json!([{ "name": "规格", "value": "250g" }]));
    let id = longjing["id"].as_str().unwrap().to_owned();
    // One more, not listed: the merchant's catalog shows it, the shop's page does not.
    let draft = product(&app, &m, "SECRET 新茶", json!([{ "price": 5000, "stock": 1 }]), json!({ "onShelf": false })).await;
    assert_eq!(draft["status"], "OFF_SHELF");

    // Anyone finds the shop through its organization and sees its listed products.
    const SHOP_PAGE: &str = "query($o: ID!) { organization(id: $o) { shop { id name viewerIsMember freeShippingThreshold { formatted } \
        products(first: 10) { nodes { id title } } } } }";
    let page = app.data(None, SHOP_PAGE, json!({ "o": m.organization })).await;
    let shop = &page["organization"]["shop"];
    assert_eq!((shop["id"].as_str(), shop["viewerIsMember"].as_bool()), (Some(m.shop.as_str()), Some(false)), "{page:#}");
    assert_eq!(shop["freeShippingThreshold"]["formatted"], "¥100.00");
    assert_eq!(shop["products"]["nodes"], json!([{ "id": id, "title": "明前龙井" }]), "only the listed product");
    let catalog = app
        .data(Some(&m.token), "query($s: ID!) { node(id: $s) { ... on Shop { catalog(first: 10) { nodes { title status } } } } }", json!({ "s": m.shop }))
        .await;
    assert_eq!(
        catalog["node"]["catalog"]["nodes"],
        json!([{ "title": "SECRET 新茶", "status": "OFF_SHELF" }, { "title": "明前龙井", "status": "ON_SHELF" }]),
        "newest first, listed or not"
    );

    let (meimei, meimei_id, address) = shopper(&app, "meimei@example.com").await;
    // The unlisted product does not exist for her.
    let hidden = app.data(Some(&meimei), &product_query(), json!({ "id": draft["id"] })).await;
    assert_eq!(hidden["node"], json!(null));

    // Two of the 100g: ¥39.80, under the threshold, so ¥8 shipping.
    let first = ok(&app, &meimei, &buy(), buy_input(&sku(&longjing, 0), 2, &address, "order-1")).await;
    assert_eq!(first["priceChanged"], false);
    let order = &first["order"];
    assert_eq!(order["state"], "PENDING_PAYMENT");
    assert_eq!((order["itemsTotal"]["minor"].as_i64(), order["shippingFee"]["minor"].as_i64()), (Some(3980), Some(800)), "{order:#}");
    assert_eq!(order["total"], json!({ "minor": 4780, "currency": "CNY", "formatted": "¥47.80" }));
    assert!(order["payBy"].is_string() && order["paidAt"].is_null(), "{order:#}");
    assert_eq!((order["viewerIsBuyer"].as_bool(), order["buyer"]["id"].as_str()), (Some(true), Some(meimei_id.as_str())));
    assert_eq!(order["shippingAddress"]["region"], json!(["浙江省", "杭州市", "西湖区"]));
    let line = &order["lines"][0];
    assert_eq!((line["title"].as_str(), line["quantity"].as_i64(), line["unitPrice"]["minor"].as_i64()), (Some("明前龙井"), Some(2), Some(1990)));
    assert_eq!((line["amount"]["minor"].as_i64(), &line["seenUnitPrice"]), (Some(3980), &json!(null)));
    assert_eq!(line["attribution"]["source"], "SHOP");
    let first_id = order["id"].as_str().unwrap().to_owned();

    // Three of the 250g: ¥119.70, over the threshold, so shipping is free.
    let second = ok(&app, &meimei, &buy(), buy_input(&sku(&longjing, 1), 3, &address, "order-2")).await;
    let order = &second["order"];
    assert_eq!((order["itemsTotal"]["minor"].as_i64(), order["shippingFee"]["minor"].as_i64(), order["total"]["minor"].as_i64()), (Some(11_970), Some(0), Some(11_970)));
    let second_id = order["id"].as_str().unwrap().to_owned();

    // The stock moved from on sale to held; only the shop sees the holds.
    assert_eq!(counts(&app, Some(&m.token), &id).await, [(json!(8), json!(2), json!(0)), (json!(2), json!(3), json!(0))]);
    assert_eq!(counts(&app, None, &id).await, [(json!(8), json!(null), json!(0)), (json!(2), json!(null), json!(0))]);

    // Both sides list the orders, newest first; the shop by state too.
    const MINE: &str = "{ viewer { addresses { id } orders(first: 10) { nodes { id state } } } }";
    let mine = app.data(Some(&meimei), MINE, json!({})).await;
    assert_eq!(mine["viewer"]["orders"]["nodes"], json!([{ "id": second_id, "state": "PENDING_PAYMENT" }, { "id": first_id, "state": "PENDING_PAYMENT" }]));
    assert_eq!(mine["viewer"]["addresses"], json!([{ "id": address }]));
    const SHOP_ORDERS: &str = "query($s: ID!, $states: [OrderState!]) { node(id: $s) { ... on Shop { orders(states: $states, first: 10) { nodes { id viewerIsBuyer buyer { id } } } } } }";
    let theirs = app.data(Some(&m.token), SHOP_ORDERS, json!({ "s": m.shop })).await;
    let nodes = theirs["node"]["orders"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.iter().map(|n| n["id"].as_str().unwrap()).collect::<Vec<_>>(), [second_id.as_str(), first_id.as_str()]);
    assert_eq!((nodes[0]["viewerIsBuyer"].as_bool(), nodes[0]["buyer"]["id"].as_str()), (Some(false), Some(meimei_id.as_str())));

    // She cancels the first: the stock is on sale again.
    let cancelled = ok(&app, &meimei, &cancel(), json!({ "orderId": first_id, "idempotencyKey": "cancel-1" })).await;
    let order = &cancelled["order"];
    assert_eq!((order["state"].as_str(), order["cancelReason"].as_str()), (Some("CANCELLED"), Some("BUYER")));
    assert!(order["cancelledAt"].is_string() && order["payBy"].is_null(), "{order:#}");
    assert_eq!(counts(&app, Some(&m.token), &id).await, [(json!(10), json!(0), json!(0)), (json!(2), json!(3), json!(0))]);
    // The same key again answers the same; another key finds it cancelled already.
    let again = ok(&app, &meimei, &cancel(), json!({ "orderId": first_id, "idempotencyKey": "cancel-1" })).await;
    assert_eq!((again["order"]["id"].as_str(), again["order"]["state"].as_str()), (Some(first_id.as_str()), Some("CANCELLED")));
    let late = call(&app, &meimei, &cancel(), json!({ "orderId": first_id, "idempotencyKey": "cancel-2" })).await;
    assert_eq!(refusal(&late).0, "INVALID_STATE", "{late:#}");
    assert_eq!(counts(&app, Some(&m.token), &id).await[0], (json!(10), json!(0), json!(0)), "released once");

    // The timeline tells it, with who did what.
    let read = app.data(Some(&m.token), &order_query(), json!({ "id": first_id })).await;
    let timeline = read["node"]["timeline"].as_array().unwrap();
    assert_eq!(timeline.iter().map(|e| e["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["PLACED", "CANCELLED"], "{read:#}");
    assert_eq!(timeline[1]["actor"]["id"], meimei_id.as_str());
    let states = app.data(Some(&m.token), SHOP_ORDERS, json!({ "s": m.shop, "states": ["PENDING_PAYMENT"] })).await;
    assert_eq!(states["node"]["orders"]["nodes"].as_array().unwrap().len(), 1, "{states:#}");
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_places_one_order_and_refuses_other_input() {
    let app = TestApp::spawn().await;
    let m = merchant(&app, "boss@tea.example").await;
    let longjing = product(&app, &m, "明前龙井", two_skus(), json!({})).await;
    let (meimei, _, address) = shopper(&app, "meimei@example.com").await;

    let input = buy_input(&sku(&longjing, 0), 1, &address, "8d5e1c1e-retry");
    let first = ok(&app, &meimei, &buy(), input.clone()).await;
    let again = ok(&app, &meimei, &buy(), input.clone()).await;
    assert_eq!(first["order"]["id"], again["order"]["id"], "a retry gets the first order");
    assert_eq!(counts(&app, Some(&m.token), longjing["id"].as_str().unwrap()).await[0], (json!(9), json!(1), json!(0)), "held once");
    let mine = app.data(Some(&meimei), "{ viewer { orders { nodes { id } } } }", json!({})).await;
    assert_eq!(mine["viewer"]["orders"]["nodes"].as_array().unwrap().len(), 1);

    // The same key with another quantity is another request: refused, nothing placed.
    let other = call(&app, &meimei, &buy(), buy_input(&sku(&longjing, 0), 2, &address, "8d5e1c1e-retry")).await;
    assert_eq!(refusal(&other).0, "IDEMPOTENCY_KEY_REUSED", "{other:#}");
    assert_eq!(other["order"], json!(null));
    assert_eq!(counts(&app, Some(&m.token), longjing["id"].as_str().unwrap()).await[0], (json!(9), json!(1), json!(0)));
    // A key is the caller's own: someone else may use the same one.
    let (lilei, _, lilei_address) = shopper(&app, "lilei@example.com").await;
    let theirs = ok(&app, &lilei, &buy(), buy_input(&sku(&longjing, 0), 1, &lilei_address, "8d5e1c1e-retry")).await;
    assert_ne!(theirs["order"]["id"], first["order"]["id"]);
    app.stop().await;
}

#[tokio::test]
async fn buy_now_refuses_what_cannot_be_sold_with_a_user_error_and_holds_nothing() {
    let app = TestApp::spawn().await;
    let m = merchant(&app, "boss@tea.example").await;
    let skus = json!([
        { "specs": [{ "name": "规格", "value": "单罐" }], "price": 2990, "stock": 1 },
        { "specs": [{ "name": "规格", "value": "礼盒" }], "price": 9900, "stock": 3 },
    ]);
    let limited = product(&app, &m, "限量白茶", skus, json!({ "purchaseLimit": 2 })).await;
    let (one, boxes) = (sku(&limited, 0), sku(&limited, 1));
    let (meimei, _, address) = shopper(&app, "meimei@example.com").await;
    let (lilei, _, lilei_address) = shopper(&app, "lilei@example.com").await;
    let mut key = 0;
    let mut attempt = |sku: &str, quantity: i64, address: &str| {
        key += 1;
        buy_input(sku, quantity, address, &format!("attempt-{key}"))
    };

    // Nothing to buy, or someone else's address.
    let zero = call(&app, &meimei, &buy(), attempt(&boxes, 0, &address)).await;
    assert_eq!(refusal(&zero), ("TOO_SHORT", &json!(["input", "quantity"])), "{zero:#}");
    let theirs = call(&app, &meimei, &buy(), attempt(&boxes, 1, &lilei_address)).await;
    assert_eq!(refusal(&theirs), ("INVALID", &json!(["input", "addressId"])), "{theirs:#}");
    let malformed = call(&app, &meimei, &buy(), attempt("not-an-id", 1, &address)).await;
    assert_eq!(refusal(&malformed), ("INVALID", &json!(["input", "skuId"])), "{malformed:#}");
    let showcase = call(&app, &meimei, &buy(), json!({ "skuId": boxes, "quantity": 1, "addressId": address, "attribution": { "source": "SHOWCASE" }, "idempotencyKey": "no-channel" })).await;
    assert_eq!(refusal(&showcase), ("REQUIRED", &json!(["input", "attribution", "channelId"])), "{showcase:#}");
    // A SKU id that names nothing is not found.
    let body = app.graphql(Some(&meimei), &buy(), json!({ "i": attempt(&crate::authz_matrix::world::global_id("Sku", 987_654), 1, &address) })).await;
    assert_eq!(top_level_code(&body), "NOT_FOUND", "{body:#}");

    // More than one person may buy: 3 at once, then 1 more after 2.
    let over = call(&app, &meimei, &buy(), attempt(&boxes, 3, &address)).await;
    assert_eq!(refusal(&over).0, "PURCHASE_LIMIT_EXCEEDED", "{over:#}");
    let two = ok(&app, &meimei, &buy(), attempt(&boxes, 2, &address)).await;
    let more = call(&app, &meimei, &buy(), attempt(&boxes, 1, &address)).await;
    assert_eq!(refusal(&more).0, "PURCHASE_LIMIT_EXCEEDED", "{more:#}");
    // Cancelling gives the allowance back.
    ok(&app, &meimei, &cancel(), json!({ "orderId": two["order"]["id"], "idempotencyKey": "undo" })).await;
    ok(&app, &meimei, &buy(), attempt(&boxes, 1, &address)).await;

    // Stock: the last unit goes to Lilei, then it is sold out; more than is left is refused.
    ok(&app, &lilei, &buy(), attempt(&one, 1, &lilei_address)).await;
    let sold_out = call(&app, &meimei, &buy(), attempt(&one, 1, &address)).await;
    assert_eq!(refusal(&sold_out).0, "SOLD_OUT", "{sold_out:#}");
    // The limit counts every SKU of the product: one 单罐 leaves Lilei one 礼盒.
    let limit = call(&app, &lilei, &buy(), attempt(&boxes, 2, &lilei_address)).await;
    assert_eq!(refusal(&limit).0, "PURCHASE_LIMIT_EXCEEDED", "{limit:#}");
    let (han, _, han_address) = shopper(&app, "han@example.com").await;
    ok(&app, &han, &buy(), attempt(&boxes, 2, &han_address)).await;
    let none_left = call(&app, &meimei, &buy(), attempt(&boxes, 1, &address)).await;
    assert_eq!(refusal(&none_left).0, "SOLD_OUT", "{none_left:#}");
    ok(&app, &m.token, "mutation($i: UpdateSkuInput!) { updateSku(input: $i) { sku { stock } userErrors { code } } }", json!({ "skuId": boxes, "stockDelta": 1 })).await;
    let (lucy, _, lucy_address) = shopper(&app, "lucy@example.com").await;
    let insufficient = call(&app, &lucy, &buy(), attempt(&boxes, 2, &lucy_address)).await;
    assert_eq!(refusal(&insufficient).0, "INSUFFICIENT_STOCK", "{insufficient:#}");
    assert!(insufficient["userErrors"][0]["message"].as_str().unwrap().contains('1'), "says how many are left: {insufficient:#}");
    let taking_too_much = call(&app, &m.token, "mutation($i: UpdateSkuInput!) { updateSku(input: $i) { sku { stock } userErrors { code } } }", json!({ "skuId": boxes, "stockDelta": -2 })).await;
    assert_eq!(refusal(&taking_too_much).0, "INSUFFICIENT_STOCK", "{taking_too_much:#}");

    // Off the shelf: unavailable (and the product is gone for shoppers); back on: for sale.
    const STATUS: &str = "mutation($i: SetProductStatusInput!) { setProductStatus(input: $i) { product { status } userErrors { code } } }";
    ok(&app, &m.token, STATUS, json!({ "productId": limited["id"], "status": "OFF_SHELF" })).await;
    let off = call(&app, &lucy, &buy(), attempt(&boxes, 1, &lucy_address)).await;
    assert_eq!(refusal(&off), ("UNAVAILABLE", &json!(["input", "skuId"])), "{off:#}");
    assert_eq!(app.data(Some(&lucy), &product_query(), json!({ "id": limited["id"] })).await["node"], json!(null));
    ok(&app, &m.token, STATUS, json!({ "productId": limited["id"], "status": "ON_SHELF" })).await;
    ok(&app, &lucy, &buy(), attempt(&boxes, 1, &lucy_address)).await;
    // A removed SKU is unavailable too, and the shop's members alone still see it.
    let removed = ok(&app, &m.token, "mutation($i: UpdateSkuInput!) { updateSku(input: $i) { sku { removed } product { skus { id } } userErrors { code } } }", json!({ "skuId": one, "remove": true })).await;
    assert_eq!((removed["sku"]["removed"].as_bool(), removed["product"]["skus"].as_array().unwrap().len()), (Some(true), 2));
    let gone = call(&app, &lucy, &buy(), attempt(&one, 1, &lucy_address)).await;
    assert_eq!(refusal(&gone).0, "UNAVAILABLE", "{gone:#}");
    assert_eq!(counts(&app, Some(&lucy), limited["id"].as_str().unwrap()).await.len(), 1, "shoppers see the SKUs still for sale");
    // Deleted: final.
    ok(&app, &m.token, STATUS, json!({ "productId": limited["id"], "status": "DELETED" })).await;
    let deleted = call(&app, &lucy, &buy(), attempt(&boxes, 1, &lucy_address)).await;
    assert_eq!(refusal(&deleted).0, "UNAVAILABLE", "{deleted:#}");
    let body = app.graphql(Some(&m.token), STATUS, json!({ "i": { "productId": limited["id"], "status": "ON_SHELF" } })).await;
    assert_eq!(top_level_code(&body), "NOT_FOUND", "{body:#}");

    // Of every refusal above, nothing stayed held: what is held is the orders still open.
    let db = app.database().await;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            // SUM of BIGINT is NUMERIC on PostgreSQL: back to BIGINT for both backends.
            "SELECT CAST((SELECT COALESCE(SUM(held), 0) FROM commerce_skus) - (SELECT COALESCE(SUM(l.quantity), 0) FROM commerce_order_lines l \
             JOIN commerce_orders o ON o.id = l.order_id WHERE o.state = 'PENDING_PAYMENT') AS BIGINT) AS n",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0);
    app.stop().await;
}

#[tokio::test]
async fn an_order_is_placed_at_the_servers_price_and_says_what_the_shopper_saw() {
    let app = TestApp::spawn().await;
    let m = merchant(&app, "boss@tea.example").await;
    let longjing = product(&app, &m, "明前龙井", two_skus(), json!({})).await;
    let (meimei, _, address) = shopper(&app, "meimei@example.com").await;
    let with_seen = |seen: i64, key: &str| {
        let mut input = buy_input(&sku(&longjing, 0), 2, &address, key);
        input["seenUnitPrice"] = json!(seen);
        input
    };

    // She saw ¥15.00 (a stale page); the order charges ¥19.90 and says what she saw.
    let changed = ok(&app, &meimei, &buy(), with_seen(1500, "seen-stale")).await;
    assert_eq!(changed["priceChanged"], true, "{changed:#}");
    let order = &changed["order"];
    let line = &order["lines"][0];
    assert_eq!((line["unitPrice"]["minor"].as_i64(), line["amount"]["minor"].as_i64()), (Some(1990), Some(3980)));
    assert_eq!(line["seenUnitPrice"], json!({ "minor": 1500, "formatted": "¥15.00" }));
    assert_eq!((order["priceChanged"].as_bool(), order["total"]["minor"].as_i64()), (Some(true), Some(4780)));
    let read = app.data(Some(&meimei), &order_query(), json!({ "id": order["id"] })).await;
    let placed = &read["node"]["timeline"][0];
    assert_eq!(placed["kind"], "PLACED");
    assert!(placed["note"].as_str().unwrap().contains("19.90"), "the timeline says the price changed: {read:#}");

    // The price she saw is the price: nothing to say.
    let same = ok(&app, &meimei, &buy(), with_seen(1990, "seen-right")).await;
    assert_eq!((same["priceChanged"].as_bool(), &same["order"]["lines"][0]["seenUnitPrice"]), (Some(false), &json!(null)));

    // The merchant reprices; the shopper who saw the old price pays the new one.
    const REPRICE: &str = "mutation($i: UpdateSkuInput!) { updateSku(input: $i) { sku { id price { minor } } userErrors { code } } }";
    let repriced = ok(&app, &m.token, REPRICE, json!({ "skuId": sku(&longjing, 0), "price": 2490 })).await;
    assert_eq!(repriced["sku"], json!({ "id": sku(&longjing, 0), "price": { "minor": 2490 } }));
    let after = ok(&app, &meimei, &buy(), with_seen(1990, "seen-before-reprice")).await;
    let line = &after["order"]["lines"][0];
    assert_eq!((line["unitPrice"]["minor"].as_i64(), line["seenUnitPrice"]["minor"].as_i64(), after["priceChanged"].as_bool()), (Some(2490), Some(1990), Some(true)));
    // Orders placed before keep their price.
    let first = app.data(Some(&meimei), &order_query(), json!({ "id": order["id"] })).await;
    assert_eq!(first["node"]["lines"][0]["unitPrice"]["minor"], 1990);

    // Amounts are whole minor units within what JSON clients read exactly.
    for bad in [json!(19.9), json!("1990"), json!(9_007_199_254_740_992_i64)] {
        let mut input = with_seen(0, "bad-amount");
        input["seenUnitPrice"] = bad.clone();
        let body = app.graphql(Some(&meimei), &buy(), json!({ "i": input })).await;
        assert!(body["errors"].is_array() && body["data"].is_null(), "{bad} is refused: {body:#}");
    }
    app.stop().await;
}

/// Pays `order` as its buyer does: `payOrder`, then 支付 on the sandbox's page, whose signed
/// notification turns the order PAID (its held stock becomes sold).
async fn pay(app: &TestApp, buyer: &str, order: &str) {
    const PAY: &str = "mutation($i: PayOrderInput!) { payOrder(input: $i) { payment { payUrl } userErrors { field message code } } }";
    let paying = ok(app, buyer, PAY, json!({ "orderId": order, "idempotencyKey": format!("pay-{order}") })).await;
    let url = paying["payment"]["payUrl"].as_str().unwrap_or_else(|| panic!("no page to pay on: {paying:#}"));
    let page = app
        .http
        .post(app.url(url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("decision=pay")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let state = app.data(Some(buyer), "query($id: ID!) { node(id: $id) { ... on Order { state } } }", json!({ "id": order })).await;
    assert_eq!(state["node"]["state"], "PAID", "paid as the notification arrived: {state:#}");
}

#[tokio::test]
async fn an_order_is_its_buyers_and_its_shops_only_and_the_shop_ships_it() {
    let app = TestApp::spawn().await;
    let m = merchant(&app, "boss@tea.example").await;
    let longjing = product(&app, &m, "明前龙井", two_skus(), json!({})).await;
    let (meimei, meimei_id, address) = shopper(&app, "meimei@example.com").await;
    let (stranger, _, stranger_address) = shopper(&app, "stranger@example.com").await;
    let (agent, _) = app.sign_up("agent@tea.example").await;
    ok(
        &app,
        &m.token,
        "mutation($i: AddOrganizationMemberInput!) { addOrganizationMember(input: $i) { membership { role } userErrors { code } } }",
        json!({ "organizationId": m.organization, "email": "agent@tea.example", "role": "AGENT" }),
    )
    .await;
    let placed = ok(&app, &meimei, &buy(), buy_input(&sku(&longjing, 0), 1, &address, "mine")).await;
    let order = placed["order"]["id"].as_str().unwrap().to_owned();

    // Her order, her address: nobody else reads them, not even by id.
    for (who, token) in [("a stranger", Some(stranger.as_str())), ("no one signed in", None)] {
        let read = app.data(token, "query($o: ID!, $a: ID!) { order: node(id: $o) { id } address: node(id: $a) { id } many: nodes(ids: [$o, $a]) { id } }", json!({ "o": order, "a": address })).await;
        assert_eq!(read, json!({ "order": null, "address": null, "many": [null, null] }), "{who}");
    }
    let profile = app
        .data(Some(&stranger), "query($u: ID!) { node(id: $u) { ... on User { id addresses { id } orders { nodes { id } } } } }", json!({ "u": meimei_id }))
        .await;
    assert_eq!(profile["node"], json!({ "id": meimei_id, "addresses": null, "orders": null }), "another's addresses and orders are null");
    // The shop (owner and agent) reads it and its shipping address.
    for token in [&m.token, &agent] {
        let read = app.data(Some(token), &order_query(), json!({ "id": order })).await;
        assert_eq!(read["node"]["shippingAddress"]["detail"], "龙井路 1 号", "{read:#}");
        assert_eq!(read["node"]["viewerIsBuyer"], false);
    }

    // A stranger can neither change it nor list the shop's orders or catalog.
    for (doc, input) in [
        (cancel(), json!({ "orderId": order, "idempotencyKey": "theirs" })),
        ("mutation($i: ConfirmReceiptInput!) { confirmReceipt(input: $i) { order { id } userErrors { code } } }".to_owned(), json!({ "orderId": order })),
    ] {
        let body = app.graphql(Some(&stranger), &doc, json!({ "i": input })).await;
        assert_eq!(top_level_code(&body), "NOT_FOUND", "{doc}: {body:#}");
    }
    const SHIP: &str = "mutation($i: ShipOrderInput!) { shipOrder(input: $i) { order { id state shipment { carrier trackingNumber } } userErrors { field code } } }";
    let ship = |id: &str| json!({ "i": { "orderId": id, "carrier": "顺丰", "trackingNumber": "SF1234567890" } });
    let body = app.graphql(Some(&stranger), SHIP, ship(&order)).await;
    assert_eq!(top_level_code(&body), "NOT_FOUND", "a stranger is told the order does not exist: {body:#}");
    let body = app.graphql(Some(&meimei), SHIP, ship(&order)).await;
    assert_eq!(top_level_code(&body), "FORBIDDEN", "the buyer may not ship her own order: {body:#}");
    let orders = app
        .graphql(Some(&stranger), "query($o: ID!) { organization(id: $o) { shop { name orders(first: 5) { nodes { id } } } } }", json!({ "o": m.organization }))
        .await;
    assert_eq!(top_level_code(&orders), "FORBIDDEN", "{orders:#}");
    assert_eq!(orders["errors"][0]["path"], json!(["organization", "shop", "orders"]));
    assert_eq!(orders["data"]["organization"]["shop"], json!({ "name": "明前茶铺", "orders": null }), "the rest of the shop is still there");
    let catalog = app.graphql(Some(&stranger), "query($s: ID!) { node(id: $s) { ... on Shop { catalog { nodes { id } } } } }", json!({ "s": m.shop })).await;
    assert_eq!(top_level_code(&catalog), "FORBIDDEN", "{catalog:#}");
    // A stranger's own order does not give them hers, and managing the shop is its owners'.
    ok(&app, &stranger, &buy(), buy_input(&sku(&longjing, 1), 1, &stranger_address, "theirs")).await;
    let body = app.graphql(Some(&stranger), "mutation($i: UpdateShopInput!) { updateShop(input: $i) { shop { name } userErrors { code } } }", json!({ "i": { "shopId": m.shop, "name": "Mine now" } })).await;
    assert_eq!(top_level_code(&body), "FORBIDDEN", "{body:#}");
    let body = app.graphql(Some(&agent), &create_product(), json!({ "i": { "shopId": m.shop, "title": "Agent's", "category": "茶叶", "skus": [{ "price": 100, "stock": 1 }] } })).await;
    assert_eq!(top_level_code(&body), "FORBIDDEN", "agents handle orders, not the catalog: {body:#}");

    // Unpaid, it cannot ship; paid, the agent ships it and the buyer confirms receipt.
    let early = app.data(Some(&agent), SHIP, ship(&order)).await;
    assert_eq!(early["shipOrder"]["userErrors"][0]["code"], "INVALID_STATE", "{early:#}");
    pay(&app, &meimei, &order).await;
    let shipped = app.data(Some(&agent), SHIP, ship(&order)).await["shipOrder"].clone();
    assert_eq!(shipped["order"]["state"], "SHIPPED", "{shipped:#}");
    assert_eq!(shipped["order"]["shipment"], json!({ "carrier": "顺丰", "trackingNumber": "SF1234567890" }));
    let late = call(&app, &meimei, &cancel(), json!({ "orderId": order, "idempotencyKey": "too-late" })).await;
    assert_eq!(refusal(&late).0, "INVALID_STATE", "a shipped order cannot be cancelled: {late:#}");
    let done = ok(&app, &meimei, "mutation($i: ConfirmReceiptInput!) { confirmReceipt(input: $i) { order { state completedAt } userErrors { code } } }", json!({ "orderId": order })).await;
    assert_eq!(done["order"]["state"], "COMPLETED");
    let read = app.data(Some(&meimei), &order_query(), json!({ "id": order })).await;
    let kinds: Vec<&str> = read["node"]["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["PLACED", "PAID", "SHIPPED", "COMPLETED"]);
    assert_eq!(read["node"]["timeline"][2]["note"], "顺丰 SF1234567890");
    assert_eq!(counts(&app, Some(&m.token), longjing["id"].as_str().unwrap()).await[0], (json!(9), json!(0), json!(1)));
    app.stop().await;
}

#[tokio::test]
async fn an_address_book_keeps_one_default_and_orders_keep_their_copy() {
    let app = TestApp::spawn().await;
    let m = merchant(&app, "boss@tea.example").await;
    let longjing = product(&app, &m, "明前龙井", two_skus(), json!({})).await;
    let (meimei, _, home) = shopper(&app, "meimei@example.com").await;
    const CREATE: &str = "mutation($i: CreateAddressInput!) { createAddress(input: $i) { address { id isDefault } userErrors { field code } } }";
    const UPDATE: &str = "mutation($i: UpdateAddressInput!) { updateAddress(input: $i) { address { id detail isDefault postalCode } userErrors { field code } } }";
    const DELETE: &str = "mutation($i: DeleteAddressInput!) { deleteAddress(input: $i) { deletedAddressId userErrors { field code } } }";
    const BOOK: &str = "{ viewer { addresses { id isDefault detail } } }";
    let office = ok(&app, &meimei, CREATE, json!({ "recipient": "韩梅梅", "phone": "13800138000", "region": ["上海市", "浦东新区"], "detail": "世纪大道 100 号", "isDefault": true })).await;
    let office = office["address"]["id"].as_str().unwrap().to_owned();
    let book = app.data(Some(&meimei), BOOK, json!({})).await;
    let defaults: Vec<(&str, bool)> = book["viewer"]["addresses"].as_array().unwrap().iter().map(|a| (a["id"].as_str().unwrap(), a["isDefault"].as_bool().unwrap())).collect();
    assert_eq!(defaults, [(office.as_str(), true), (home.as_str(), false)], "the default first, and only one");

    // Bad input is named field by field.
    let bad = call(&app, &meimei, CREATE, json!({ "recipient": "", "phone": "call me", "region": [], "detail": "x" })).await;
    let mut fields: Vec<String> = bad["userErrors"].as_array().unwrap().iter().map(|e| e["field"][1].as_str().unwrap().to_owned()).collect();
    fields.sort();
    assert_eq!(fields, ["detail", "phone", "recipient", "region"], "{bad:#}");

    // An order copies the address; editing the address later does not move it.
    let order = ok(&app, &meimei, &buy(), buy_input(&sku(&longjing, 0), 1, &home, "copy")).await["order"]["id"].as_str().unwrap().to_owned();
    let edited = ok(&app, &meimei, UPDATE, json!({ "addressId": home, "recipient": "韩梅梅", "phone": "13800138000", "region": ["浙江省", "杭州市", "西湖区"], "detail": "龙井路 2 号" })).await;
    assert_eq!(edited["address"], json!({ "id": home, "detail": "龙井路 2 号", "isDefault": false, "postalCode": null }));
    let read = app.data(Some(&meimei), &order_query(), json!({ "id": order })).await;
    assert_eq!(read["node"]["shippingAddress"]["detail"], "龙井路 1 号");

    // Someone else's address is not found, to change or to delete; deleting the default makes
    // the newest remaining one the default.
    let (lilei, _) = app.sign_up("lilei@example.com").await;
    let body = app.graphql(Some(&lilei), DELETE, json!({ "i": { "addressId": home } })).await;
    assert_eq!(top_level_code(&body), "NOT_FOUND", "{body:#}");
    let deleted = ok(&app, &meimei, DELETE, json!({ "addressId": office })).await;
    assert_eq!(deleted["deletedAddressId"], office.as_str());
    let book = app.data(Some(&meimei), BOOK, json!({})).await;
    assert_eq!(book["viewer"]["addresses"], json!([{ "id": home, "isDefault": true, "detail": "龙井路 2 号" }]));
    assert_eq!(app.data(Some(&meimei), "query($a: ID!) { node(id: $a) { id } }", json!({ "a": office })).await["node"], json!(null));
    app.stop().await;
}

#[tokio::test]
async fn opening_a_shop_is_for_an_organizations_owners_once() {
    let app = TestApp::spawn().await;
    let m = merchant(&app, "boss@tea.example").await;
    let again = call(&app, &m.token, OPEN_SHOP, json!({ "organizationId": m.organization, "name": "Second shop", "shippingFee": 0 })).await;
    assert_eq!(refusal(&again), ("ALREADY_EXISTS", &json!(["input", "organizationId"])), "{again:#}");
    let (agent, _) = app.sign_up("agent@tea.example").await;
    let (stranger, _) = app.sign_up("stranger@example.com").await;
    let created = ok(&app, &stranger, "mutation { createOrganization(input: {name: \"Other\"}) { organization { id } userErrors { code } } }", json!({})).await;
    ok(
        &app,
        &m.token,
        "mutation($i: AddOrganizationMemberInput!) { addOrganizationMember(input: $i) { membership { role } userErrors { code } } }",
        json!({ "organizationId": m.organization, "email": "agent@tea.example", "role": "AGENT" }),
    )
    .await;
    let body = app.graphql(Some(&agent), OPEN_SHOP, json!({ "i": { "organizationId": m.organization, "name": "Agent shop", "shippingFee": 0 } })).await;
    assert_eq!(top_level_code(&body), "FORBIDDEN", "{body:#}");
    let body = app.graphql(Some(&stranger), OPEN_SHOP, json!({ "i": { "organizationId": m.organization, "name": "Stolen", "shippingFee": 0 } })).await;
    assert_eq!(top_level_code(&body), "NOT_FOUND", "{body:#}");
    // Validation names every bad field at once; amounts are never negative.
    let bad = call(&app, &stranger, OPEN_SHOP, json!({ "organizationId": created["organization"]["id"], "name": "x", "currency": "yuan", "shippingFee": -1 })).await;
    let mut fields: Vec<&str> = bad["userErrors"].as_array().unwrap().iter().map(|e| e["field"][1].as_str().unwrap()).collect();
    fields.sort();
    assert_eq!(fields, ["currency", "name", "shippingFee"], "{bad:#}");
    // Another currency: formatted with its code.
    let usd = ok(&app, &stranger, OPEN_SHOP, json!({ "organizationId": created["organization"]["id"], "name": "Tea Corner", "currency": "USD", "shippingFee": 500 })).await;
    assert_eq!(usd["shop"]["shippingFee"], json!({ "minor": 500, "currency": "USD", "formatted": "5.00 USD" }));
    assert_eq!(usd["shop"]["freeShippingThreshold"], json!(null));
    app.stop().await;
}

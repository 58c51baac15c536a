//! The commerce service on a real, freshly migrated database (SQLite, or PostgreSQL with
//! `KANJIAN_TEST_DATABASE=postgres`), a fake organization directory, and what the tests check
//! with: `fingerprint` (nothing half-written) and `check_stock` (stock adds up).

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kanjian_commerce::{CommerceConfig, CommerceService};
use kanjian_contracts::IntegrationEvent;
use kanjian_contracts::commerce::*;
use kanjian_contracts::identity::{OrgRole, OrganizationDirectory};
use kanjian_db::testing::TestDatabase;
use kanjian_events::Outbox;
use kanjian_kernel::ids::{AddressId, LiveRoomId, OrderId, OrganizationId, SessionId, ShopId, SkuId, UserId};
use kanjian_kernel::{Actor, Clock, Error, Result, UserErrorCode};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

pub const ORG: OrganizationId = OrganizationId(100);
pub const OWNER: i64 = 1;
pub const AGENT: i64 = 2;
pub const STRANGER: i64 = 3;
/// Owner of a second organization, `ORG2`.
pub const OWNER2: i64 = 4;
pub const ORG2: OrganizationId = OrganizationId(200);

#[derive(Default)]
pub struct Orgs(pub Mutex<HashMap<(i64, i64), OrgRole>>);

#[async_trait]
impl OrganizationDirectory for Orgs {
    async fn organization_role(&self, organization: OrganizationId, user: UserId) -> Result<Option<OrgRole>> {
        Ok(self.0.lock().unwrap().get(&(organization.0, user.0)).copied())
    }
}

/// Users 1–20 each have a channel with their own id; video `n` belongs to user `n / 100`.
#[derive(Default)]
pub struct People;

fn channel(id: i64) -> kanjian_contracts::identity::ChannelDto {
    kanjian_contracts::identity::ChannelDto {
        id: kanjian_kernel::ids::ChannelId(id),
        owner_id: UserId(id),
        handle: format!("user{id}"),
        display_name: format!("频道 {id}"),
        bio: String::new(),
        avatar_url: None,
        created_at: kanjian_kernel::now(),
        updated_at: kanjian_kernel::now(),
    }
}

#[async_trait]
impl kanjian_contracts::identity::IdentityDirectory for People {
    async fn users_by_ids(&self, _: &Actor, _: &[UserId]) -> Result<Vec<kanjian_contracts::identity::UserDto>> {
        Ok(Vec::new())
    }
    async fn channels_by_ids(&self, ids: &[kanjian_kernel::ids::ChannelId]) -> Result<Vec<kanjian_contracts::identity::ChannelDto>> {
        Ok(ids.iter().filter(|c| (1..=20).contains(&c.0)).map(|c| channel(c.0)).collect())
    }
    async fn channel_of_user(&self, user: UserId) -> Result<Option<kanjian_contracts::identity::ChannelDto>> {
        Ok((1..=20).contains(&user.0).then(|| channel(user.0)))
    }
    async fn channels_of_users(&self, users: &[UserId]) -> Result<Vec<kanjian_contracts::identity::ChannelDto>> {
        Ok(users.iter().filter(|u| (1..=20).contains(&u.0)).map(|u| channel(u.0)).collect())
    }
}

#[async_trait]
impl kanjian_contracts::media::VideoDirectory for People {
    async fn videos_by_ids(&self, _: &Actor, ids: &[kanjian_kernel::ids::VideoId]) -> Result<Vec<kanjian_contracts::media::VideoDto>> {
        Ok(ids
            .iter()
            .filter(|v| (100..2100).contains(&v.0))
            .map(|v| kanjian_contracts::media::VideoDto {
                id: *v,
                channel_id: kanjian_kernel::ids::ChannelId(v.0 / 100),
                owner_id: UserId(v.0 / 100),
                title: format!("视频 {}", v.0),
                description: String::new(),
                hashtags: vec![],
                category: None,
                is_original: true,
                status: kanjian_contracts::media::VideoStatus::Ready,
                progress_percent: 100,
                failure_reason: None,
                failure_code: None,
                duration_ms: Some(1000),
                width: None,
                height: None,
                published_at: Some(kanjian_kernel::now()),
                created_at: kanjian_kernel::now(),
                updated_at: kanjian_kernel::now(),
                playlist_url: None,
                thumbnail_url: None,
                renditions: vec![],
            })
            .collect())
    }
}

/// Blocks between users, as social would answer.
#[derive(Default)]
pub struct Blocks(pub Mutex<Vec<(i64, i64)>>);

#[async_trait]
impl kanjian_contracts::social::BlockDirectory for Blocks {
    async fn blocked_among(&self, viewer: UserId, others: &[UserId]) -> Result<Vec<UserId>> {
        let blocks = self.0.lock().unwrap();
        Ok(others.iter().filter(|o| blocks.iter().any(|&(a, b)| (a, b) == (viewer.0, o.0) || (a, b) == (o.0, viewer.0))).copied().collect())
    }

    async fn blocked_with(&self, viewer: UserId, _limit: u64) -> Result<Vec<UserId>> {
        let blocks = self.0.lock().unwrap();
        Ok(blocks.iter().filter_map(|&(a, b)| if a == viewer.0 { Some(UserId(b)) } else if b == viewer.0 { Some(UserId(a)) } else { None }).collect())
    }
}

pub struct WithCommerce;

impl kanjian_migrations::MigratorTrait for WithCommerce {
    fn migrations() -> Vec<Box<dyn kanjian_migrations::MigrationTrait>> {
        let mut all = kanjian_migrations::Migrator::migrations();
        all.extend(<kanjian_commerce::Commerce as kanjian_module::Module>::migrations());
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }
}

pub struct TestApp {
    pub _database: TestDatabase,
    pub db: DatabaseConnection,
    pub clock: Clock,
    pub commerce: CommerceService,
    pub hub: Arc<kanjian_events::InProcessHub>,
    pub blocks: Arc<Blocks>,
    /// The last outbox event `deliver` handed to the handlers.
    pub delivered: Mutex<i64>,
}

pub fn user(n: i64) -> Actor {
    Actor::User { user_id: UserId(n), session_id: SessionId(n), roles: vec![] }
}

pub fn code(e: &Error) -> UserErrorCode {
    match e {
        Error::User(errors) => errors[0].code,
        other => panic!("expected a user error, got {other:?}"),
    }
}

pub fn spec(name: &str, value: &str) -> SpecValue {
    SpecValue { name: name.into(), value: value.into() }
}

pub async fn app() -> TestApp {
    let database = TestDatabase::create().await;
    let clock = Clock::manual_from_now();
    let db = kanjian_migrations::database::connect_and_migrate_with::<WithCommerce>(
        &database.url,
        &kanjian_db::DatabaseConfig::default(),
        clock.clone(),
    )
    .await
    .unwrap();
    let orgs = Arc::new(Orgs::default());
    orgs.0.lock().unwrap().insert((ORG.0, OWNER), OrgRole::Owner);
    orgs.0.lock().unwrap().insert((ORG.0, AGENT), OrgRole::Agent);
    orgs.0.lock().unwrap().insert((ORG2.0, OWNER2), OrgRole::Owner);
    let hub = Arc::new(kanjian_events::InProcessHub::new());
    let blocks = Arc::new(Blocks::default());
    let commerce = CommerceService::new(
        db.clone(),
        Outbox::new(),
        hub.clone(),
        kanjian_commerce::Directories { orgs, identity: Arc::new(People), videos: Arc::new(People), blocks: blocks.clone() },
        CommerceConfig { sandbox_secret: Some("sandbox-test-secret".to_owned().into()), ..CommerceConfig::default() },
        "https://kanjian.example".into(),
    )
    .unwrap();
    TestApp { _database: database, db: db.writer().clone(), clock, commerce, hub, blocks, delivered: Mutex::new(0) }
}

pub struct Catalog {
    pub shop: ShopId,
    pub product: ProductDto,
    pub red: SkuId,
    pub blue: SkuId,
}

impl TestApp {
    pub async fn scalar(&self, sql: &str) -> i64 {
        let row = self.db.query_one_raw(Statement::from_string(self.db.get_database_backend(), sql)).await.unwrap().unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    /// Every row count and stock count of the module, and the outbox: what a refused request
    /// must leave exactly as it was.
    pub async fn fingerprint(&self) -> Vec<i64> {
        let mut all = Vec::new();
        for table in [
            "commerce_shops",
            "commerce_products",
            "commerce_skus",
            "commerce_orders",
            "commerce_order_lines",
            "commerce_order_events",
            "commerce_addresses",
            "events_outbox",
        ] {
            all.push(self.scalar(&format!("SELECT COUNT(*) FROM {table}")).await);
        }
        for sql in [
            "SELECT CAST(COALESCE(SUM(stock), 0) AS BIGINT) FROM commerce_skus",
            "SELECT CAST(COALESCE(SUM(held), 0) AS BIGINT) FROM commerce_skus",
            "SELECT CAST(COALESCE(SUM(sold), 0) AS BIGINT) FROM commerce_skus",
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM commerce_purchases",
            "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM commerce_orders",
        ] {
            all.push(self.scalar(sql).await);
        }
        all
    }

    /// Stock adds up: per SKU, what is held equals the units of its unpaid orders and what is
    /// sold the units of its paid ones (with the moves not folded yet); per person, the purchase count equals their live units.
    pub async fn check_stock(&self) {
        let held_mismatch = self
            .scalar(
                "SELECT COUNT(*) FROM commerce_skus s WHERE s.held - (SELECT COALESCE(SUM(m.units), 0) FROM commerce_sku_moves m WHERE m.sku_id = s.id) \
                 <> (SELECT COALESCE(SUM(l.quantity), 0) FROM commerce_order_lines l \
                 JOIN commerce_orders o ON o.id = l.order_id WHERE l.sku_id = s.id AND o.state = 'PENDING_PAYMENT')",
            )
            .await;
        assert_eq!(held_mismatch, 0, "held stock is what unpaid orders hold");
        let sold_mismatch = self
            .scalar(
                "SELECT COUNT(*) FROM commerce_skus s WHERE s.sold + (SELECT COALESCE(SUM(m.units), 0) FROM commerce_sku_moves m WHERE m.sku_id = s.id) \
                 <> (SELECT COALESCE(SUM(l.quantity), 0) FROM commerce_order_lines l \
                 JOIN commerce_orders o ON o.id = l.order_id WHERE l.sku_id = s.id AND o.state IN ('PAID', 'SHIPPED', 'COMPLETED'))",
            )
            .await;
        assert_eq!(sold_mismatch, 0, "sold stock is what paid orders bought");
        let purchase_mismatch = self
            .scalar(
                "SELECT COUNT(*) FROM commerce_purchases p WHERE p.quantity <> (SELECT COALESCE(SUM(l.quantity), 0) FROM commerce_order_lines l \
                 JOIN commerce_orders o ON o.id = l.order_id WHERE l.product_id = p.product_id AND o.buyer_id = p.user_id AND o.state <> 'CANCELLED')",
            )
            .await;
        assert_eq!(purchase_mismatch, 0, "a person's purchase count is their units in live orders");
    }

    pub async fn sku(&self, id: SkuId, as_user: i64) -> SkuDto {
        let sku = self.db.query_one_raw(Statement::from_string(self.db.get_database_backend(), format!("SELECT product_id FROM commerce_skus WHERE id = {}", id.0))).await.unwrap().unwrap();
        let product: i64 = sku.try_get_by_index(0).unwrap();
        let products = self.commerce.products_by_ids(&user(as_user), &[kanjian_kernel::ids::ProductId(product)]).await.unwrap();
        products[0].skus.iter().find(|s| s.id == id).cloned().unwrap()
    }

    pub async fn events<E: IntegrationEvent>(&self) -> Vec<E> {
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                "SELECT payload FROM events_outbox WHERE kind = $1 ORDER BY id",
                [E::KIND.into()],
            ))
            .await
            .unwrap();
        rows.iter().map(|row| serde_json::from_str(&row.try_get::<String>("", "payload").unwrap()).unwrap()).collect()
    }

    pub async fn open_shop(&self) -> ShopId {
        self.commerce
            .open_shop(
                &user(OWNER),
                OpenShopInput {
                    organization_id: ORG,
                    name: "看见好物".into(),
                    description: None,
                    currency: None,
                    shipping_fee_minor: 800,
                    free_shipping_threshold_minor: Some(10_000),
                },
            )
            .await
            .unwrap()
            .id
    }

    /// A shop with one listed product in two colours: red ¥39.00 × `stock`, blue ¥45.00 × 5.
    pub async fn catalog(&self, stock: i64, limit: Option<i64>) -> Catalog {
        let shop = self.open_shop().await;
        let product = self
            .commerce
            .create_product(
                &user(OWNER),
                CreateProductInput {
                    shop_id: shop,
                    title: "纯棉T恤".into(),
                    description: Some("夏天穿".into()),
                    category: "服饰".into(),
                    image_urls: vec!["https://cdn.example.com/tee.jpg".into()],
                    purchase_limit: limit,
                    skus: vec![
                        SkuInput { specs: vec![spec("颜色", "红")], price_minor: 3_900, stock },
                        SkuInput { specs: vec![spec("颜色", "蓝")], price_minor: 4_500, stock: 5 },
                    ],
                    on_shelf: true,
                },
            )
            .await
            .unwrap();
        let red = product.skus[0].id;
        let blue = product.skus[1].id;
        Catalog { shop, product, red, blue }
    }

    pub async fn address(&self, buyer: i64) -> AddressId {
        self.commerce
            .create_address(
                &user(buyer),
                AddressInput {
                    recipient: "张三".into(),
                    phone: "13800138000".into(),
                    region: vec!["广东省".into(), "深圳市".into(), "南山区".into()],
                    detail: "科技园 1 号".into(),
                    postal_code: None,
                    is_default: true,
                },
            )
            .await
            .unwrap()
            .id
    }

    pub async fn buy(&self, buyer: i64, sku: SkuId, quantity: i64, address: AddressId, key: impl Into<String>) -> Result<OrderDto> {
        self.commerce
            .buy_now(
                &user(buyer),
                BuyNowInput {
                    sku_id: sku,
                    quantity,
                    address_id: address,
                    attribution: AttributionInput { source: SaleSource::LiveRoom, live_room_id: Some(LiveRoomId(7)), video_id: None, channel_id: None },
                    seen_unit_price_minor: None,
                    idempotency_key: key.into(),
                },
            )
            .await
    }

    pub async fn ship(&self, who: i64, id: OrderId) -> Result<OrderDto> {
        self.commerce
            .ship_order(&user(who), ShipOrderInput { order_id: id, carrier: "顺丰".into(), tracking_number: "SF1234567890".into() })
            .await
    }

    /// Hands every outbox event after `after` to the module's handlers that take it, in order,
    /// as the dispatcher would; returns the last event's id. Handlers may run again on the same
    /// events (`after` earlier): they must change nothing the second time.
    pub async fn deliver_after(&self, after: i64) -> i64 {
        let handlers = self.commerce.event_handlers();
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                "SELECT id, event_id, kind, payload FROM events_outbox WHERE id > $1 ORDER BY id",
                [after.into()],
            ))
            .await
            .unwrap();
        let mut last = after;
        for row in rows {
            last = row.try_get::<i64>("", "id").unwrap();
            let envelope = kanjian_contracts::EventEnvelope {
                id: row.try_get::<String>("", "event_id").unwrap().parse().unwrap(),
                kind: row.try_get("", "kind").unwrap(),
                occurred_at: kanjian_kernel::now(),
                payload: serde_json::from_str(&row.try_get::<String>("", "payload").unwrap()).unwrap(),
            };
            for handler in handlers.iter().filter(|h| h.handles(&envelope.kind)) {
                handler.handle(&envelope).await.unwrap();
            }
        }
        last
    }

    /// Delivers every event not delivered yet (tracked by the caller through the returned id).
    pub async fn deliver(&self) {
        let mut last = self.delivered.lock().unwrap().to_owned();
        last = self.deliver_after(last).await;
        *self.delivered.lock().unwrap() = last;
    }

    /// Writes an event into the outbox as another module would (for the module's handlers).
    pub async fn enqueue<E: kanjian_contracts::IntegrationEvent>(&self, event: &E) {
        kanjian_events::Outbox::new().enqueue(&self.db, event).await.unwrap();
    }
}

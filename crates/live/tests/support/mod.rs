//! What the live module's tests share: a freshly migrated database (a SQLite file, or
//! PostgreSQL with `KANJIAN_TEST_DATABASE=postgres`), the module on it, and small fakes of
//! identity and social. Users 1..=20 exist and are named `用户<n>`; users 1..=10 have channel
//! n, user 11 and up have none; even users have verified email addresses; blocks are set by
//! the tests. Commerce's showcase is a fake too: the tests put products on channels' showcases
//! and change their stock (`Fakes::carry`, `Fakes::set_stock`) and count its reads.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kanjian_contracts::commerce::{ProductDto, ProductStatus, ShowcaseDirectory, SkuDto};
use kanjian_contracts::identity::*;
use kanjian_contracts::social::{BlockDirectory, FriendDirectory};
use kanjian_db::testing::TestDatabase;
use kanjian_events::Outbox;
use kanjian_kernel::ids::{ChannelId, ProductId, SessionId, ShopId, SkuId, UserId};
use kanjian_kernel::{Actor, Clock, Error, Result, UserErrorCode};
use kanjian_live::{Directories, LiveConfig, LiveService};
use sea_orm::DatabaseConnection;

pub fn channel(id: i64) -> ChannelDto {
    ChannelDto {
        id: ChannelId(id),
        owner_id: UserId(id),
        handle: format!("user{id}"),
        display_name: format!("频道 {id}"),
        bio: String::new(),
        avatar_url: None,
        created_at: kanjian_kernel::now(),
        updated_at: kanjian_kernel::now(),
    }
}

#[derive(Default)]
pub struct Fakes {
    /// (user, friend), both ways; the order of insertion is closeness.
    pub friends: Mutex<Vec<(i64, i64)>>,
    /// (user, channel)
    pub follows: Mutex<HashSet<(i64, i64)>>,
    /// (blocker, blocked)
    pub blocks: Mutex<HashSet<(i64, i64)>>,
    /// Products as shoppers see them, by id (listed unless the test says otherwise).
    pub products: Mutex<HashMap<i64, ProductDto>>,
    /// (channel, product) on the channel's showcase.
    pub showcases: Mutex<HashSet<(i64, i64)>>,
    /// Calls of `carried_product`.
    pub product_reads: AtomicUsize,
}

/// A listed product of shop 1 with one SKU (id `product * 10`) at ¥19.90.
pub fn product(id: i64, stock: i64) -> ProductDto {
    let now = kanjian_kernel::now();
    ProductDto {
        id: ProductId(id),
        shop_id: ShopId(1),
        title: format!("明前龙井 {id}"),
        description: String::new(),
        category: "茶叶".into(),
        image_urls: vec!["https://cdn.example.com/tea.jpg".into()],
        status: ProductStatus::OnShelf,
        purchase_limit: None,
        skus: vec![SkuDto {
            id: SkuId(id * 10),
            product_id: ProductId(id),
            specs: vec![],
            price: kanjian_kernel::Money::new(1990, kanjian_kernel::Currency::CNY),
            stock,
            held: 0,
            sold: 0,
            removed: false,
        }],
        affiliate_commission_bps: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

impl Fakes {
    /// Puts `product` (made with `stock` if it is new) on `channel`'s showcase.
    pub fn carry(&self, channel: i64, product_id: i64, stock: i64) {
        self.products.lock().unwrap().entry(product_id).or_insert_with(|| product(product_id, stock));
        self.showcases.lock().unwrap().insert((channel, product_id));
    }

    pub fn drop_from_showcase(&self, channel: i64, product_id: i64) {
        self.showcases.lock().unwrap().remove(&(channel, product_id));
    }

    /// Changes the product's first SKU, as commerce would on an order or a repricing.
    pub fn set_sku(&self, product_id: i64, stock: i64, price_minor: i64) {
        let mut products = self.products.lock().unwrap();
        let sku = &mut products.get_mut(&product_id).unwrap().skus[0];
        sku.stock = stock;
        sku.price.minor = price_minor;
    }

    pub fn product_reads(&self) -> usize {
        self.product_reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ShowcaseDirectory for Fakes {
    async fn carried_product(&self, channel: ChannelId, product: ProductId) -> Result<Option<ProductDto>> {
        self.product_reads.fetch_add(1, Ordering::SeqCst);
        if !self.showcases.lock().unwrap().contains(&(channel.0, product.0)) {
            return Ok(None);
        }
        Ok(self.products.lock().unwrap().get(&product.0).filter(|p| p.status == ProductStatus::OnShelf).cloned())
    }
}

#[async_trait]
impl IdentityDirectory for Fakes {
    async fn users_by_ids(&self, _: &Actor, ids: &[UserId]) -> Result<Vec<UserDto>> {
        Ok(ids
            .iter()
            .filter(|id| (1..=20).contains(&id.0))
            .map(|id| UserDto { id: *id, display_name: format!("用户{}", id.0), created_at: kanjian_kernel::now(), private: None })
            .collect())
    }
    async fn channels_by_ids(&self, ids: &[ChannelId]) -> Result<Vec<ChannelDto>> {
        Ok(ids.iter().filter(|id| (1..=10).contains(&id.0)).map(|id| channel(id.0)).collect())
    }
    async fn channel_of_user(&self, user: UserId) -> Result<Option<ChannelDto>> {
        Ok((1..=10).contains(&user.0).then(|| channel(user.0)))
    }
    async fn channels_of_users(&self, users: &[UserId]) -> Result<Vec<ChannelDto>> {
        Ok(users.iter().filter(|u| (1..=10).contains(&u.0)).map(|u| channel(u.0)).collect())
    }
}

#[async_trait]
impl MailDirectory for Fakes {
    async fn mail_recipients(&self, users: &[UserId]) -> Result<Vec<MailRecipient>> {
        Ok(users
            .iter()
            .filter(|u| (1..=11).contains(&u.0))
            .map(|u| MailRecipient {
                user_id: *u,
                email: format!("user{}@example.com", u.0),
                email_verified: u.0 % 2 == 0,
                locale: "zh-CN".into(),
            })
            .collect())
    }
}

#[async_trait]
impl FriendDirectory for Fakes {
    async fn closest_friends(&self, user: UserId, limit: u64) -> Result<Vec<UserId>> {
        let friends = self.friends.lock().unwrap();
        Ok(friends.iter().filter(|(u, _)| *u == user.0).map(|(_, f)| UserId(*f)).take(limit as usize).collect())
    }

    async fn followed_among(&self, user: UserId, channels: &[ChannelId]) -> Result<Vec<ChannelId>> {
        let follows = self.follows.lock().unwrap();
        Ok(channels.iter().filter(|c| follows.contains(&(user.0, c.0))).copied().collect())
    }
}

#[async_trait]
impl BlockDirectory for Fakes {
    async fn blocked_among(&self, viewer: UserId, others: &[UserId]) -> Result<Vec<UserId>> {
        let blocks = self.blocks.lock().unwrap();
        Ok(others
            .iter()
            .filter(|o| blocks.contains(&(viewer.0, o.0)) || blocks.contains(&(o.0, viewer.0)))
            .copied()
            .collect())
    }

    async fn blocked_with(&self, viewer: UserId, _limit: u64) -> Result<Vec<UserId>> {
        let blocks = self.blocks.lock().unwrap();
        Ok(blocks
            .iter()
            .filter_map(|&(a, b)| if a == viewer.0 { Some(UserId(b)) } else if b == viewer.0 { Some(UserId(a)) } else { None })
            .collect())
    }
}

/// The shared history and live's own tables, as the server merges them.
pub struct WithLive;

impl kanjian_migrations::MigratorTrait for WithLive {
    fn migrations() -> Vec<Box<dyn kanjian_migrations::MigrationTrait>> {
        let mut all = kanjian_migrations::Migrator::migrations();
        all.extend(<kanjian_live::Live as kanjian_module::Module>::migrations());
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }
}

pub struct TestApp {
    pub _database: TestDatabase,
    pub db: DatabaseConnection,
    pub clock: Clock,
    pub live: LiveService,
    pub fakes: Arc<Fakes>,
}

pub async fn app() -> TestApp {
    app_with(LiveConfig::default()).await
}

/// The module with `config` (its public URL set for links).
pub async fn app_with(config: LiveConfig) -> TestApp {
    let database = TestDatabase::create().await;
    let clock = Clock::manual_from_now();
    let db = kanjian_migrations::database::connect_and_migrate_with::<WithLive>(
        &database.url,
        &kanjian_db::DatabaseConfig::default(),
        clock.clone(),
    )
    .await
    .unwrap();
    let fakes = Arc::new(Fakes::default());
    let live = LiveService::new(
        db.clone(),
        Outbox::new(),
        Arc::new(kanjian_events::InProcessHub::new()),
        Directories { identity: fakes.clone(), mail: fakes.clone(), blocks: fakes.clone(), friends: fakes.clone(), importer: None, showcase: fakes.clone() },
        LiveConfig { public_url: "https://kanjian.example".into(), ..config },
    );
    TestApp { _database: database, db: db.writer().clone(), clock, live, fakes }
}

pub fn user(n: i64) -> Actor {
    Actor::User { user_id: UserId(n), session_id: SessionId(n), roles: vec![] }
}

pub fn user_error(e: &Error) -> (String, UserErrorCode) {
    match e {
        Error::User(errors) if errors.len() == 1 => (errors[0].field.join("."), errors[0].code),
        other => panic!("expected one user error, got {other:?}"),
    }
}
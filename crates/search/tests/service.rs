//! The search module against real parts: a migrated database (SQLite, or PostgreSQL with
//! `KANJIAN_TEST_DATABASE=postgres`), the embedded tantivy index in a temp dir, and the event
//! handlers fed envelopes as the dispatcher delivers them. Social is a fake holding blocks,
//! follows and friends' ❤️s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kanjian_contracts::live::LiveRoomStarted;
use kanjian_contracts::media::{VideoDeleted, VideoDetailsChanged, VideoPublished, VideoUnpublished};
use kanjian_contracts::search::{SearchInput, SearchKind, SearchSort};
use kanjian_contracts::social::{BlockDirectory, FriendDirectory, FriendRecommendations};
use kanjian_contracts::{Apis, EventEnvelope, IntegrationEvent};
use kanjian_db::Db;
use kanjian_db::testing::TestDatabase;
use kanjian_kernel::ids::{ChannelId, LiveRoomId, UserId, VideoId};
use kanjian_kernel::{Actor, Clock, Error, UserErrorCode};
use kanjian_search::analysis::Analyzer;
use kanjian_search::index::tantivy::TantivyIndex;
use kanjian_search::{Assembled, assemble};

struct WithSearch;

impl kanjian_migrations::MigratorTrait for WithSearch {
    fn migrations() -> Vec<Box<dyn kanjian_migrations::MigrationTrait>> {
        let mut all = kanjian_migrations::Migrator::migrations();
        all.extend(<kanjian_search::Search as kanjian_module::Module>::migrations());
        all
    }
}

#[derive(Default)]
struct FakeSocial {
    /// (blocker, blocked)
    blocks: Mutex<Vec<(i64, i64)>>,
    /// (user, channel)
    follows: Mutex<Vec<(i64, i64)>>,
    /// (user, video) → friends who ❤️'d it
    recommended: Mutex<HashMap<(i64, i64), i64>>,
}

#[async_trait]
impl BlockDirectory for FakeSocial {
    async fn blocked_among(&self, viewer: UserId, others: &[UserId]) -> kanjian_kernel::Result<Vec<UserId>> {
        let all = self.blocked_with(viewer, 1000).await?;
        Ok(others.iter().filter(|o| all.contains(o)).copied().collect())
    }
    async fn blocked_with(&self, viewer: UserId, _limit: u64) -> kanjian_kernel::Result<Vec<UserId>> {
        let blocks = self.blocks.lock().unwrap();
        Ok(blocks
            .iter()
            .filter_map(|&(a, b)| if a == viewer.0 { Some(UserId(b)) } else if b == viewer.0 { Some(UserId(a)) } else { None })
            .collect())
    }
}

#[async_trait]
impl FriendDirectory for FakeSocial {
    async fn closest_friends(&self, _user: UserId, _limit: u64) -> kanjian_kernel::Result<Vec<UserId>> {
        Ok(Vec::new())
    }
    async fn followed_among(&self, user: UserId, channels: &[ChannelId]) -> kanjian_kernel::Result<Vec<ChannelId>> {
        let follows = self.follows.lock().unwrap();
        Ok(channels.iter().filter(|c| follows.contains(&(user.0, c.0))).copied().collect())
    }
}

#[async_trait]
impl FriendRecommendations for FakeSocial {
    async fn friends_recommended_among(&self, user: UserId, videos: &[VideoId]) -> kanjian_kernel::Result<Vec<(VideoId, i64)>> {
        let recommended = self.recommended.lock().unwrap();
        Ok(videos.iter().filter_map(|v| recommended.get(&(user.0, v.0)).map(|n| (*v, *n))).collect())
    }
}

struct World {
    _database: TestDatabase,
    _dir: tempfile::TempDir,
    clock: Clock,
    social: Arc<FakeSocial>,
    search: Assembled,
}

impl World {
    async fn new() -> Self {
        let database = TestDatabase::create().await;
        let clock = Clock::manual_from_now();
        let db: Db = kanjian_migrations::database::connect_and_migrate_with::<WithSearch>(
            &database.url,
            &kanjian_db::DatabaseConfig::default(),
            clock.clone(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let analyzer = Arc::new(Analyzer::new().unwrap());
        let index = Arc::new(Arc::new(TantivyIndex::open(dir.path(), analyzer.clone()).unwrap()));
        let social = Arc::new(FakeSocial::default());
        let mut apis = Apis::default();
        apis.insert::<dyn BlockDirectory>(social.clone());
        apis.insert::<dyn FriendDirectory>(social.clone());
        apis.insert::<dyn FriendRecommendations>(social.clone());
        let search = assemble(db, index, analyzer, &apis);
        Self { _database: database, _dir: dir, clock, social, search }
    }

    /// Delivers `event` to every handler that takes it, as the dispatcher would.
    async fn deliver<E: IntegrationEvent>(&self, event: &E) {
        let envelope = EventEnvelope {
            id: uuid::Uuid::new_v4(),
            kind: E::KIND.to_owned(),
            occurred_at: self.clock.now(),
            payload: serde_json::to_value(event).unwrap(),
        };
        for handler in self.search.handlers.iter().filter(|h| h.handles(E::KIND)) {
            handler.handle(&envelope).await.unwrap();
        }
    }

    async fn index(&self) {
        while self.search.indexer.catch_up().await.unwrap() > 0 {}
    }

    async fn titles(&self, actor: &Actor, query: &str) -> Vec<String> {
        let results = self.search.api.search(actor, SearchInput { query: query.into(), ..Default::default() }).await.unwrap();
        results.hits.into_iter().map(|h| h.title).collect()
    }
}

fn published(id: i64, owner: i64, title: &str, version: i64) -> VideoPublished {
    VideoPublished {
        video_id: VideoId(id),
        version,
        channel_id: ChannelId(owner),
        owner_id: UserId(owner),
        title: title.into(),
        description: String::new(),
        hashtags: Vec::new(),
        category: Some("美食".into()),
        duration_ms: Some(1000),
        published_at: chrono::Utc::now(),
    }
}

fn user(id: i64) -> Actor {
    Actor::User { user_id: UserId(id), session_id: kanjian_kernel::ids::SessionId(1), roles: Vec::new() }
}

fn user_error(e: Error) -> (Vec<String>, UserErrorCode) {
    match e {
        Error::User(errors) => (errors[0].field.clone(), errors[0].code),
        other => panic!("expected a user error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_is_found_while_published_and_never_after_deletion() {
    let w = World::new().await;
    w.deliver(&published(1, 10, "中國農業發展銀行的故事", 2)).await;
    w.index().await;
    // Traditional in the title, simplified in the query, a word inside a longer one.
    assert_eq!(w.titles(&Actor::Anonymous, "农业").await, ["中國農業發展銀行的故事"]);
    assert_eq!(w.titles(&Actor::Anonymous, "nongye").await, ["中國農業發展銀行的故事"]);

    w.deliver(&VideoUnpublished { video_id: VideoId(1), version: 3 }).await;
    w.index().await;
    assert!(w.titles(&Actor::Anonymous, "农业").await.is_empty());

    // An older event arriving late changes nothing.
    w.deliver(&published(1, 10, "中國農業發展銀行的故事", 2)).await;
    w.index().await;
    assert!(w.titles(&Actor::Anonymous, "农业").await.is_empty());

    w.deliver(&VideoDetailsChanged {
        video_id: VideoId(1),
        version: 4,
        channel_id: ChannelId(10),
        title: "农业新闻".into(),
        description: "田间地头".into(),
        hashtags: vec!["三农".into()],
        category: None,
        is_original: true,
        published: true,
        published_at: Some(chrono::Utc::now()),
    })
    .await;
    w.index().await;
    assert_eq!(w.titles(&Actor::Anonymous, "农业").await, ["农业新闻"]);
    // The body is searched too.
    assert_eq!(w.titles(&Actor::Anonymous, "田间").await, ["农业新闻"]);

    w.deliver(&VideoDeleted { video_id: VideoId(1), version: 5, channel_id: ChannelId(10) }).await;
    w.deliver(&published(1, 10, "农业新闻", 9)).await;
    w.index().await;
    assert!(w.titles(&Actor::Anonymous, "农业").await.is_empty(), "a tombstone outranks every later version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_in_a_block_never_see_each_others_things() {
    let w = World::new().await;
    w.deliver(&published(1, 10, "火锅教程 一", 1)).await;
    w.deliver(&published(2, 20, "火锅教程 二", 1)).await;
    w.index().await;
    w.social.blocks.lock().unwrap().push((10, 30)); // 10 blocked 30
    let mut seen = w.titles(&user(30), "火锅").await;
    seen.sort();
    assert_eq!(seen, ["火锅教程 二"]);
    // Either side of the block.
    assert_eq!(w.titles(&user(10), "火锅").await.len(), 2);
    w.social.blocks.lock().unwrap().push((30, 20));
    assert!(w.titles(&user(30), "火锅").await.is_empty());
    let suggestions = w.search.api.suggest(&user(30), "huog", &[], 5).await.unwrap();
    assert!(suggestions.is_empty(), "{suggestions:?}");
    // Signed out, everything published.
    assert_eq!(w.titles(&Actor::Anonymous, "火锅").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_hearts_and_followed_channels_rank_higher_and_say_so() {
    let w = World::new().await;
    w.deliver(&published(1, 10, "猫咪日常", 1)).await;
    w.deliver(&published(2, 20, "猫咪日常", 1)).await;
    w.deliver(&published(3, 30, "猫咪日常", 1)).await;
    w.index().await;
    w.social.recommended.lock().unwrap().insert((99, 3), 2);
    w.social.follows.lock().unwrap().push((99, 20));
    let results = w.search.api.search(&user(99), SearchInput { query: "猫咪".into(), ..Default::default() }).await.unwrap();
    let ids: Vec<i64> = results.hits.iter().map(|h| h.id).collect();
    assert_eq!(ids, [3, 2, 1]);
    assert_eq!(results.hits[0].social.friends_recommended, 2);
    assert!(results.hits[1].social.followed_channel);
    assert_eq!(results.hits[2].social, Default::default());
    // Signed out: no boosts, nothing said.
    let anonymous = w.search.api.search(&Actor::Anonymous, SearchInput { query: "猫咪".into(), ..Default::default() }).await.unwrap();
    assert!(anonymous.hits.iter().all(|h| h.social == Default::default()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_page_through_without_repeats_and_expire() {
    let w = World::new().await;
    for id in 1..=25 {
        w.deliver(&published(id, 10, &format!("旅行 vlog 第{id}集"), 1)).await;
    }
    w.index().await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = w
            .search
            .api
            .search(&user(1), SearchInput { query: "旅行".into(), first: 10, after: after.clone(), count: true, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(page.total, Some(25));
        seen.extend(page.hits.iter().map(|h| h.id));
        if !page.has_next_page {
            break;
        }
        after = page.cursors.last().cloned();
    }
    seen.sort();
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());

    let first = w.search.api.search(&user(1), SearchInput { query: "旅行".into(), first: 5, ..Default::default() }).await.unwrap();
    let cursor = first.cursors.last().cloned();
    // Another search's cursor.
    let other = w.search.api.search(&user(1), SearchInput { query: "vlog".into(), after: cursor.clone(), ..Default::default() }).await;
    assert_eq!(user_error(other.unwrap_err()), (vec!["input".into(), "after".into()], UserErrorCode::Invalid));
    // Garbage.
    let garbage = w.search.api.search(&user(1), SearchInput { query: "旅行".into(), after: Some("!!".into()), ..Default::default() }).await;
    assert_eq!(user_error(garbage.unwrap_err()).1, UserErrorCode::Invalid);
    // Too old.
    w.clock.advance(std::time::Duration::from_millis(kanjian_search::CURSOR_LIFETIME_MS as u64 + 1));
    let expired = w.search.api.search(&user(1), SearchInput { query: "旅行".into(), after: cursor, ..Default::default() }).await;
    assert_eq!(user_error(expired.unwrap_err()).1, UserErrorCode::CursorExpired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error() {
    let w = World::new().await;
    let search = |input: SearchInput| async { w.search.api.search(&Actor::Anonymous, input).await.unwrap_err() };
    let q = |query: &str| SearchInput { query: query.into(), ..Default::default() };
    assert_eq!(user_error(search(q("")).await), (vec!["input".into(), "query".into()], UserErrorCode::Required));
    assert_eq!(user_error(search(q("   ")).await).1, UserErrorCode::Required);
    assert_eq!(user_error(search(q(&"字".repeat(101))).await).1, UserErrorCode::TooLong);
    assert_eq!(user_error(search(q("\"()-")).await).1, UserErrorCode::Invalid);
    let (field, code) = user_error(search(SearchInput { min_price: Some(500), max_price: Some(100), ..q("手机") }).await);
    assert_eq!((field, code), (vec!["input".into(), "maxPrice".into()], UserErrorCode::Invalid));
    assert_eq!(user_error(search(SearchInput { min_price: Some(-1), ..q("手机") }).await).1, UserErrorCode::Invalid);
    assert_eq!(user_error(search(SearchInput { first: 51, ..q("手机") }).await).1, UserErrorCode::TooLong);
    // Syntax characters around words are not syntax: the search runs.
    w.search.api.search(&Actor::Anonymous, q("\"手机\" -(壳)")).await.unwrap();
    let suggest = w.search.api.suggest(&Actor::Anonymous, " ", &[], 5).await.unwrap_err();
    assert_eq!(user_error(suggest), (vec!["input".into(), "text".into()], UserErrorCode::Required));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_rooms_on_air_come_first_and_facets_count_kinds() {
    let w = World::new().await;
    w.deliver(&published(1, 10, "篮球集锦", 1)).await;
    w.deliver(&LiveRoomStarted {
        room_id: LiveRoomId(7),
        version: 2,
        channel_id: ChannelId(20),
        owner_id: UserId(20),
        title: "篮球直播".into(),
        planned_start_at: None,
        started_at: chrono::Utc::now(),
    })
    .await;
    w.index().await;
    let results =
        w.search.api.search(&Actor::Anonymous, SearchInput { query: "篮球".into(), facets: true, ..Default::default() }).await.unwrap();
    assert_eq!(results.hits[0].kind, SearchKind::LiveRoom);
    assert!(results.hits[0].live);
    let mut kinds = results.facets.kinds.clone();
    kinds.sort();
    assert_eq!(kinds, [(SearchKind::Video, 1), (SearchKind::LiveRoom, 1)]);
    // A kind filter narrows the hits but not the kind counts.
    let videos = w
        .search
        .api
        .search(&Actor::Anonymous, SearchInput { query: "篮球".into(), kinds: vec![SearchKind::Video], facets: true, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(videos.hits.len(), 1);
    assert_eq!(videos.facets.kinds.len(), 2);
    assert_eq!(videos.facets.categories[0].value, "美食");
    let newest = w
        .search
        .api
        .search(&Actor::Anonymous, SearchInput { query: "篮球".into(), sort: SearchSort::Newest, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(newest.hits.len(), 2);
    assert!(newest.facets.kinds.is_empty() && newest.facets.categories.is_empty(), "facets are counted only when asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_complete_pinyin_initials_and_traditional() {
    let w = World::new().await;
    w.deliver(&published(1, 10, "中国银行信用卡", 1)).await;
    w.deliver(&published(2, 10, "长城旅游攻略", 1)).await;
    w.index().await;
    let texts = |s: Vec<kanjian_contracts::search::SuggestionDto>| s.into_iter().map(|s| s.text).collect::<Vec<_>>();
    for typed in ["中国", "中國銀", "zhongguoy", "zgyh", "zhongg"] {
        assert_eq!(texts(w.search.api.suggest(&Actor::Anonymous, typed, &[], 5).await.unwrap()), ["中国银行信用卡"], "{typed}");
    }
    assert_eq!(texts(w.search.api.suggest(&Actor::Anonymous, "zhangch", &[], 5).await.unwrap()), ["长城旅游攻略"]);
    let highlighted = w.search.api.suggest(&Actor::Anonymous, "zgy", &[], 5).await.unwrap();
    assert_eq!(highlighted[0].highlights, [kanjian_contracts::search::TextRange { start: 0, end: 3 }]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reindex_rebuilds_beside_the_serving_index_and_the_lag_is_measured() {
    let w = World::new().await;
    for id in 1..=30 {
        w.deliver(&published(id, 10, &format!("咖啡拉花 {id}"), 1)).await;
    }
    w.clock.advance(std::time::Duration::from_secs(3));
    w.search.indexer.catch_up().await.unwrap();
    assert!(w.search.indexer.lag_ms() >= 3_000, "lag {}", w.search.indexer.lag_ms());
    w.index().await;
    w.search.indexer.catch_up().await.unwrap();
    assert_eq!(w.search.indexer.lag_ms(), 0);
    let progress = Mutex::new(Vec::new());
    let held = w.search.indexer.reindex(&|done, total| progress.lock().unwrap().push((done, total))).await.unwrap();
    assert_eq!(held, 30);
    assert_eq!(progress.lock().unwrap().last(), Some(&(30, 30)));
    assert_eq!(w.titles(&Actor::Anonymous, "拉花").await.len(), 20);
    // Changes after the rebuild still arrive.
    w.deliver(&VideoUnpublished { video_id: VideoId(1), version: 2 }).await;
    w.index().await;
    let all = w.search.api.search(&Actor::Anonymous, SearchInput { query: "拉花".into(), count: true, ..Default::default() }).await.unwrap();
    assert_eq!(all.total, Some(29));
}

//! The feeds benchmark: `friendsFeed` and `recommendedFeed` through the release server on a
//! seeded world (see `world.rs`), first page and a later page (page 3), each beside the bare SQL
//! that fetches the same rows, run by this process with sqlx (through sea-orm) on the same
//! database, for the same viewers, interleaved request by request.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use hdrhistogram::Histogram;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use serde_json::json;

use crate::api::Api;
use crate::load::new_histogram;
use crate::report::{Table, ms, per_sec, ratio};
use crate::servers::{self, ChildServer};
use crate::world::{self, DatabaseKind, World, WorldSpec};

/// The password `kanjian seed` gives every user.
pub const SEED_PASSWORD: &str = "kanjian-seed-password";

/// Items per page, as a feed client asks.
const PAGE_SIZE: u32 = 20;
/// The later page measured: page 3, after pages 1 and 2.
const LATER_PAGE_OFFSET: u32 = 2 * PAGE_SIZE;
/// How far back the Friends feed looks for friends' ❤️.
const FRIENDS_WINDOW_DAYS: i64 = 7;
/// The Friends feed's defaults (`social` config): closest friends read, newest ❤️s kept.
const FRIENDS_CLOSEST: u64 = 300;
const FRIENDS_MAX_REACTIONS: u64 = 5_000;
/// How old a video the Recommended feed considers.
const RECOMMENDED_WINDOW_DAYS: i64 = 30;
/// Viewers whose first page is fetched, unmeasured, before each feed is measured.
const WARMUP_VIEWERS: usize = 20;

/// What a feed card shows, as a client would ask for it.
macro_rules! feed_query {
    ($field:literal) => {
        concat!(
            "query($first: Int, $after: String) { ",
            $field,
            "(first: $first, after: $after) { pageInfo { hasNextPage endCursor } nodes { reason ",
            "video { id title duration playlistUrl thumbnailUrl channel { handle displayName } ",
            "social { recommendCount commentCount viewCount } } ",
            "friendRecommenders { totalCount friends { id } } } } }"
        )
    };
}

pub const FRIENDS_FEED_QUERY: &str = feed_query!("friendsFeed");
pub const RECOMMENDED_FEED_QUERY: &str = feed_query!("recommendedFeed");

#[derive(Debug, Clone)]
pub struct FeedsSettings {
    pub world: WorldSpec,
    pub seed_only: bool,
    pub viewers: usize,
    pub requests: usize,
    /// Concurrency of the extra first-page row; 0 or 1: none.
    pub concurrency: usize,
    pub workers: usize,
    /// Which feeds to measure, in this order.
    pub feeds: Vec<Feed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Feed {
    Friends,
    Recommended,
}

impl Feed {
    fn field(self) -> &'static str {
        match self {
            Self::Friends => "friendsFeed",
            Self::Recommended => "recommendedFeed",
        }
    }

    fn query(self) -> &'static str {
        match self {
            Self::Friends => FRIENDS_FEED_QUERY,
            Self::Recommended => RECOMMENDED_FEED_QUERY,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Friends => "Friends",
            Self::Recommended => "Recommended",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageKind {
    First,
    Third,
}

impl PageKind {
    fn label(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Third => "3rd (after 2)",
        }
    }

    fn offset(self) -> u32 {
        match self {
            Self::First => 0,
            Self::Third => LATER_PAGE_OFFSET,
        }
    }
}

#[derive(Debug, Clone)]
struct Viewer {
    id: i64,
    token: String,
}

/// The latencies of one side of one row.
struct Side {
    latency: Histogram<u64>,
    requests: u64,
    /// Items (kanjian) or rows (SQL) returned, summed.
    items: u64,
    /// The time the measured requests took, summed (concurrency 1), or the wall time of the
    /// block (concurrency > 1): what req/s divides by.
    time: Duration,
}

impl Side {
    fn new() -> Result<Self> {
        Ok(Self {
            latency: new_histogram()?,
            requests: 0,
            items: 0,
            time: Duration::ZERO,
        })
    }

    fn record(&mut self, took: Duration, items: usize) -> Result<()> {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.latency.record(nanos).context("recording a latency")?;
        self.requests += 1;
        self.items += items as u64;
        self.time += took;
        Ok(())
    }

    fn merge(&mut self, other: &Side) -> Result<()> {
        self.latency
            .add(&other.latency)
            .context("merging latencies")?;
        self.requests += other.requests;
        self.items += other.items;
        Ok(())
    }

    fn ms_at(&self, q: f64) -> f64 {
        if self.requests == 0 {
            return f64::NAN;
        }
        self.latency.value_at_quantile(q) as f64 / 1e6
    }

    fn max_ms(&self) -> f64 {
        if self.requests == 0 {
            return f64::NAN;
        }
        self.latency.max() as f64 / 1e6
    }

    fn per_sec(&self) -> f64 {
        self.requests as f64 / self.time.as_secs_f64().max(1e-9)
    }

    fn items_per_request(&self) -> f64 {
        self.items as f64 / (self.requests.max(1)) as f64
    }
}

struct Row {
    feed: Feed,
    page: PageKind,
    concurrency: usize,
    kanjian: Side,
    sql: Side,
    /// Viewers skipped because their feed had no such page.
    skipped: u64,
    /// Mean share of kanjian's videos that the SQL's page also has (first pages, first pass).
    overlap: Option<f64>,
}

/// A page as kanjian answered it.
struct SeenPage {
    videos: Vec<i64>,
    end_cursor: Option<String>,
    has_next: bool,
}

/// The GraphQL client side: one keep-alive HTTP client, requests built before the clock starts.
struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    fn body(feed: Feed, after: Option<&str>) -> Result<Bytes> {
        let body = json!({
            "query": feed.query(),
            "variables": { "first": PAGE_SIZE, "after": after },
        });
        Ok(Bytes::from(
            serde_json::to_vec(&body).context("a feed request body")?,
        ))
    }

    /// One feed request, timed from sending it until its whole body is read.
    async fn page(
        &self,
        feed: Feed,
        token: &str,
        after: Option<&str>,
    ) -> Result<(Duration, SeenPage)> {
        let request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .bearer_auth(token)
            .body(Client::body(feed, after)?)
            .build()
            .context("building a feed request")?;
        let started = Instant::now();
        let response = self
            .http
            .execute(request)
            .await
            .with_context(|| format!("POST /graphql {}", feed.field()))?;
        let status = response.status();
        let bytes = response.bytes().await.context("reading a feed response")?;
        let took = started.elapsed();
        if !status.is_success() {
            bail!(
                "{} answered {status}: {}",
                feed.field(),
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok((took, parse_page(feed, &bytes)?))
    }
}

fn video_number(global_id: &str) -> Option<i64> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(global_id).ok()?).ok()?;
    raw.strip_prefix("Video:")?.parse().ok()
}

fn parse_page(feed: Feed, bytes: &[u8]) -> Result<SeenPage> {
    let body: serde_json::Value =
        serde_json::from_slice(bytes).context("a feed response that is not JSON")?;
    if body.get("errors").is_some() {
        bail!("{} answered with errors: {body}", feed.field());
    }
    let connection = &body["data"][feed.field()];
    let nodes = connection["nodes"]
        .as_array()
        .with_context(|| format!("{} answered without nodes: {body}", feed.field()))?;
    let videos = nodes
        .iter()
        .filter_map(|n| n["video"]["id"].as_str().and_then(video_number))
        .collect();
    Ok(SeenPage {
        videos,
        end_cursor: connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned),
        has_next: connection["pageInfo"]["hasNextPage"]
            .as_bool()
            .unwrap_or(false),
    })
}

/// How the Recommended baseline scores a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Score {
    /// `engagement / power(age_hours + 2, 1.5)`.
    Power,
    /// SQLite built without its math functions: `engagement * 1000 / (whole age hours + 2)`.
    Integer,
}

/// The baseline: one SQL statement per page, the rows the feed shows, from this process.
struct Baseline {
    backend: DbBackend,
    score: Score,
}

impl Baseline {
    async fn new(db: &DatabaseConnection) -> Result<Self> {
        let backend = db.get_database_backend();
        let score = match backend {
            DbBackend::Sqlite => {
                let power = db
                    .query_one_raw(Statement::from_string(
                        backend,
                        "SELECT power(2.0, 1.5)".to_owned(),
                    ))
                    .await;
                if power.is_ok() {
                    Score::Power
                } else {
                    Score::Integer
                }
            }
            _ => Score::Power,
        };
        Ok(Self { backend, score })
    }

    fn placeholder(&self, n: usize) -> String {
        match self.backend {
            DbBackend::Postgres => format!("${n}"),
            // Numbered: the Friends statement names the viewer before the window.
            _ => format!("?{n}"),
        }
    }

    fn friends_sql(&self, offset: u32) -> String {
        let (since, viewer) = (self.placeholder(1), self.placeholder(2));
        let offset = if offset > 0 {
            format!(" OFFSET {offset}")
        } else {
            String::new()
        };
        // Pruned the way `social::feeds::friends_recommends` prunes: the viewer's closest
        // friends who do not hide their ❤️s, then only their newest ❤️s in the window.
        format!(
            "SELECT r.video_id, COUNT(*) AS friends, MAX(r.created_at) AS last_at, SUM(r.interactions) AS closeness \
             FROM (SELECT r.video_id, r.created_at, f.interactions \
                   FROM (SELECT friend_id, interactions FROM social_friendships \
                         WHERE user_id = {viewer} \
                         AND friend_id NOT IN (SELECT user_id FROM social_settings WHERE hide_recommends = TRUE) \
                         ORDER BY interactions DESC, friend_id DESC LIMIT {FRIENDS_CLOSEST}) f \
                   JOIN social_reactions r ON r.user_id = f.friend_id AND r.kind = 2 AND r.created_at >= {since} \
                   ORDER BY r.created_at DESC, r.user_id DESC LIMIT {FRIENDS_MAX_REACTIONS}) r \
             JOIN social_videos v ON v.video_id = r.video_id AND v.published_at IS NOT NULL \
             GROUP BY r.video_id ORDER BY friends DESC, last_at DESC LIMIT {PAGE_SIZE}{offset}"
        )
    }

    fn recommended_sql(&self, offset: u32) -> String {
        let (now, since, viewer) = (
            self.placeholder(1),
            self.placeholder(2),
            self.placeholder(3),
        );
        let engagement =
            "(v.likes + 4 * v.recommends + 2 * v.comments + 3 * v.shares + 2 * v.completions)";
        let score = match (self.backend, self.score) {
            (DbBackend::Postgres, _) => format!(
                "{engagement} / power(EXTRACT(EPOCH FROM ({now} - v.published_at))::float8 / 3600.0 + 2, 1.5)"
            ),
            (_, Score::Power) => format!(
                "{engagement} / power((julianday({now}) - julianday(v.published_at)) * 24.0 + 2, 1.5)"
            ),
            (_, Score::Integer) => format!(
                "{engagement} * 1000 / (CAST((julianday({now}) - julianday(v.published_at)) * 24 AS INTEGER) + 2)"
            ),
        };
        let offset = if offset > 0 {
            format!(" OFFSET {offset}")
        } else {
            String::new()
        };
        format!(
            "SELECT v.video_id, v.likes, v.recommends, v.comments, v.shares, v.views, v.completions, {score} AS score \
             FROM social_videos v \
             WHERE v.published_at >= {since} \
             AND NOT EXISTS (SELECT 1 FROM social_views w WHERE w.user_id = {viewer} AND w.video_id = v.video_id) \
             ORDER BY score DESC, v.video_id DESC LIMIT {PAGE_SIZE}{offset}"
        )
    }

    fn statement(&self, feed: Feed, viewer: i64, page: PageKind) -> Statement {
        let now = chrono::Utc::now();
        match feed {
            Feed::Friends => Statement::from_sql_and_values(
                self.backend,
                self.friends_sql(page.offset()),
                [
                    Value::from(now - chrono::Duration::days(FRIENDS_WINDOW_DAYS)),
                    Value::from(viewer),
                ],
            ),
            Feed::Recommended => Statement::from_sql_and_values(
                self.backend,
                self.recommended_sql(page.offset()),
                [
                    Value::from(now),
                    Value::from(now - chrono::Duration::days(RECOMMENDED_WINDOW_DAYS)),
                    Value::from(viewer),
                ],
            ),
        }
    }

    /// One page's statement, timed from sending it until every row is read.
    async fn page(
        &self,
        db: &DatabaseConnection,
        feed: Feed,
        viewer: i64,
        page: PageKind,
    ) -> Result<(Duration, Vec<i64>)> {
        let statement = self.statement(feed, viewer, page);
        let started = Instant::now();
        let rows = db
            .query_all_raw(statement)
            .await
            .with_context(|| format!("the {} baseline SQL", feed.label()))?;
        let took = started.elapsed();
        let videos = rows
            .iter()
            .filter_map(|r| r.try_get_by_index::<i64>(0).ok())
            .collect();
        Ok((took, videos))
    }
}

/// A deterministic shuffle (SplitMix64-driven Fisher–Yates): the same seed picks the same viewers.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// `count` users with at least one friend, picked with the world's seed.
async fn sample_viewers(db: &DatabaseConnection, count: usize, seed: u64) -> Result<Vec<i64>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT user_id FROM social_user_stats WHERE friends > 0 ORDER BY user_id".to_owned(),
        ))
        .await
        .context("listing the users with friends")?;
    let mut ids: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()
        .context("reading user ids")?;
    if ids.is_empty() {
        bail!("the world has no user with a friend (social_user_stats.friends > 0)");
    }
    shuffle(&mut ids, seed);
    ids.truncate(count);
    Ok(ids)
}

/// Logs every viewer in (argon2: slow on purpose, so before anything is measured).
async fn log_in(api: &Api, ids: &[i64]) -> Result<Vec<Viewer>> {
    futures::stream::iter(ids.iter().copied())
        .map(|id| async move {
            let token = api
                .log_in(&format!("user{id}@seed.kanjian.test"), SEED_PASSWORD)
                .await?;
            Ok::<_, anyhow::Error>(Viewer { id, token })
        })
        .buffered(2)
        .try_collect()
        .await
}

/// The share of `kanjian`'s videos that `sql` has too (1 when both are empty).
fn overlap(kanjian: &[i64], sql: &[i64]) -> f64 {
    if kanjian.is_empty() && sql.is_empty() {
        return 1.0;
    }
    let sql: HashSet<i64> = sql.iter().copied().collect();
    let shared = kanjian.iter().filter(|v| sql.contains(v)).count();
    shared as f64 / kanjian.len().max(sql.len()) as f64
}

struct Bench<'a> {
    client: Client,
    baseline: Baseline,
    db: &'a DatabaseConnection,
    viewers: &'a [Viewer],
    requests: usize,
}

impl Bench<'_> {
    /// Full passes over the viewers, at least `requests` requests in all.
    fn passes(&self) -> usize {
        self.requests.div_ceil(self.viewers.len().max(1)).max(1)
    }

    /// Kanjian's page 1 and 2 for `viewer` (unmeasured); the cursor of page 3 if there is one.
    async fn third_page_cursor(&self, feed: Feed, viewer: &Viewer) -> Result<Option<String>> {
        let mut after: Option<String> = None;
        for _ in 0..2 {
            let (_, page) = self
                .client
                .page(feed, &viewer.token, after.as_deref())
                .await?;
            if !page.has_next {
                return Ok(None);
            }
            match page.end_cursor {
                Some(cursor) => after = Some(cursor),
                None => return Ok(None),
            }
        }
        Ok(after)
    }

    async fn warm_up(&self, feed: Feed) -> Result<()> {
        for viewer in self.viewers.iter().take(WARMUP_VIEWERS) {
            self.client.page(feed, &viewer.token, None).await?;
            self.baseline
                .page(self.db, feed, viewer.id, PageKind::First)
                .await?;
        }
        Ok(())
    }

    /// Concurrency 1, kanjian and the SQL interleaved viewer by viewer, alternating which goes
    /// first so neither always finds the caches the other just warmed.
    async fn sequential(&self, feed: Feed, page: PageKind) -> Result<Row> {
        let (mut kanjian, mut sql) = (Side::new()?, Side::new()?);
        let (mut skipped, mut overlaps) = (0u64, Vec::new());
        let mut turn = 0usize;
        let mut pass = 0usize;
        loop {
            let before = kanjian.requests;
            for viewer in self.viewers {
                let after = match page {
                    PageKind::First => None,
                    PageKind::Third => {
                        if kanjian.requests as usize >= self.requests {
                            break;
                        }
                        match self.third_page_cursor(feed, viewer).await? {
                            Some(cursor) => Some(cursor),
                            None => {
                                if pass == 0 {
                                    skipped += 1;
                                }
                                continue;
                            }
                        }
                    }
                };
                turn += 1;
                let kanjian_first = turn % 2 == 1;
                let mut sql_page = None;
                if !kanjian_first {
                    sql_page = Some(self.baseline.page(self.db, feed, viewer.id, page).await?);
                }
                let (took, seen) = self
                    .client
                    .page(feed, &viewer.token, after.as_deref())
                    .await?;
                if kanjian_first {
                    sql_page = Some(self.baseline.page(self.db, feed, viewer.id, page).await?);
                }
                let (sql_took, sql_videos) = sql_page.context("the SQL page")?;
                kanjian.record(took, seen.videos.len())?;
                sql.record(sql_took, sql_videos.len())?;
                if pass == 0 && page == PageKind::First {
                    overlaps.push(overlap(&seen.videos, &sql_videos));
                }
            }
            pass += 1;
            let done = match page {
                PageKind::First => pass >= self.passes(),
                // Stop at the count, or when nobody has a third page: more passes will not help.
                PageKind::Third => {
                    kanjian.requests as usize >= self.requests || kanjian.requests == before
                }
            };
            if done {
                break;
            }
        }
        Ok(Row {
            feed,
            page,
            concurrency: 1,
            kanjian,
            sql,
            skipped,
            overlap: (!overlaps.is_empty())
                .then(|| overlaps.iter().sum::<f64>() / overlaps.len() as f64),
        })
    }

    /// First pages at `concurrency`: kanjian's block, then the SQL's on a pool of as many
    /// connections, each the same number of requests over the same viewers.
    async fn concurrent(
        &self,
        feed: Feed,
        concurrency: usize,
        pool: &DatabaseConnection,
    ) -> Result<Row> {
        let total = self.passes() * self.viewers.len();
        let next = AtomicUsize::new(0);
        let kanjian_worker = async || -> Result<Side> {
            let mut side = Side::new()?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok(side);
                }
                let viewer = &self.viewers[i % self.viewers.len()];
                let (took, seen) = self.client.page(feed, &viewer.token, None).await?;
                side.record(took, seen.videos.len())?;
            }
        };
        let started = Instant::now();
        let sides =
            futures::future::try_join_all((0..concurrency).map(|_| kanjian_worker())).await?;
        let mut kanjian = Side::new()?;
        for side in &sides {
            kanjian.merge(side)?;
        }
        kanjian.time = started.elapsed();

        // The pool's connections are new: one statement on each first, unmeasured.
        futures::future::try_join_all(
            self.viewers
                .iter()
                .cycle()
                .take(concurrency)
                .map(|viewer| self.baseline.page(pool, feed, viewer.id, PageKind::First)),
        )
        .await?;
        let next = AtomicUsize::new(0);
        let sql_worker = async || -> Result<Side> {
            let mut side = Side::new()?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok(side);
                }
                let viewer = &self.viewers[i % self.viewers.len()];
                let (took, rows) = self
                    .baseline
                    .page(pool, feed, viewer.id, PageKind::First)
                    .await?;
                side.record(took, rows.len())?;
            }
        };
        let started = Instant::now();
        let sides = futures::future::try_join_all((0..concurrency).map(|_| sql_worker())).await?;
        let mut sql = Side::new()?;
        for side in &sides {
            sql.merge(side)?;
        }
        sql.time = started.elapsed();
        Ok(Row {
            feed,
            page: PageKind::First,
            concurrency,
            kanjian,
            sql,
            skipped: 0,
            overlap: None,
        })
    }
}

fn print_row(row: &Row) {
    println!(
        "    {} {} page, concurrency {}: kanjian p50 {} ms p99 {} ms ({} req, {:.1} items/page); SQL p50 {} ms p99 {} ms ({:.1} rows/page){}",
        row.feed.label(),
        row.page.label(),
        row.concurrency,
        ms(row.kanjian.ms_at(0.5)),
        ms(row.kanjian.ms_at(0.99)),
        row.kanjian.requests,
        row.kanjian.items_per_request(),
        ms(row.sql.ms_at(0.5)),
        ms(row.sql.ms_at(0.99)),
        row.sql.items_per_request(),
        if row.skipped > 0 {
            format!("; {} viewers have no such page", row.skipped)
        } else {
            String::new()
        }
    );
}

/// Seeds the world if needed and, unless `seed_only`, measures. Returns the tables and the
/// settings lines for the results file (none when only seeding).
pub async fn run(
    settings: &FeedsSettings,
    kanjian_bin: &Path,
    kanjian_version: &str,
    work: &Path,
) -> Result<(Vec<Table>, Vec<String>)> {
    let world = world::prepare(&settings.world, kanjian_bin, kanjian_version, work).await?;
    if settings.seed_only {
        println!("==> --seed-only: the world is ready ({})", world.location);
        return Ok((Vec::new(), Vec::new()));
    }

    let mut kanjian = servers::spawn_kanjian(
        kanjian_bin,
        &work.join("feeds-kanjian-data"),
        Some(&world.url),
        &work.join("feeds-kanjian.log"),
        settings.workers,
        4,
        &[],
    )?;
    let http = reqwest::Client::new();
    kanjian
        .wait_ready(&http, "/readyz", Duration::from_secs(600))
        .await?;
    println!(
        "==> kanjian on {} (pid {}, {} workers) on the {} world",
        kanjian.addr,
        kanjian.pid(),
        settings.workers,
        world.database.label()
    );
    let result = measure(settings, &world, &kanjian).await;
    let log = kanjian.log_tail();
    kanjian.stop();
    result.with_context(|| format!("the feeds benchmark (kanjian's log ends with:\n{log})"))
}

async fn measure(
    settings: &FeedsSettings,
    world: &World,
    kanjian: &ChildServer,
) -> Result<(Vec<Table>, Vec<String>)> {
    let db = world::connect_measuring(&world.url, 1).await?;
    let (sizes, bytes) = world::describe(world, &db).await?;
    let newest_video = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT MAX(published_at) FROM social_videos".to_owned(),
        ))
        .await
        .ok()
        .flatten()
        .and_then(|r| {
            r.try_get_by_index::<Option<chrono::DateTime<chrono::Utc>>>(0)
                .ok()
                .flatten()
        });
    println!(
        "==> the world: {}; {} on disk",
        sizes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        world::size(bytes)
    );
    if let Some(newest) = newest_video {
        let age = chrono::Utc::now() - newest;
        if age > chrono::Duration::days(1) {
            println!(
                "    note: its newest video was published {} days ago; the Friends feed reads the last {FRIENDS_WINDOW_DAYS} days \
                 of ❤️, so an old world shows less (--feeds-reseed seeds it again)",
                age.num_days()
            );
        }
    }

    let ids = sample_viewers(&db, settings.viewers, world.seed).await?;
    let api = Api::new(kanjian.url(""))?;
    let login = Instant::now();
    println!(
        "==> logging in {} viewers (users with friends, picked with seed {})",
        ids.len(),
        world.seed
    );
    let viewers = log_in(&api, &ids).await?;
    println!("    done in {:.1} s", login.elapsed().as_secs_f64());

    let baseline = Baseline::new(&db).await?;
    let bench = Bench {
        client: Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .context("building the HTTP client")?,
            url: kanjian.url("/graphql"),
        },
        baseline,
        db: &db,
        viewers: &viewers,
        requests: settings.requests,
    };
    let concurrent_pool = if settings.concurrency > 1 {
        Some(world::connect_measuring(&world.url, settings.concurrency as u32).await?)
    } else {
        None
    };

    let mut rows = Vec::new();
    for &feed in &settings.feeds {
        println!(
            "==> {} feed: warm-up, then first pages and 3rd pages, {} viewers, at least {} measured requests each, kanjian and SQL interleaved",
            feed.label(),
            viewers.len(),
            settings.requests
        );
        bench.warm_up(feed).await?;
        for page in [PageKind::First, PageKind::Third] {
            let row = bench.sequential(feed, page).await?;
            print_row(&row);
            rows.push(row);
        }
        if let Some(pool) = &concurrent_pool {
            let row = bench.concurrent(feed, settings.concurrency, pool).await?;
            print_row(&row);
            rows.push(row);
        }
    }
    let tables = tables(
        viewers.len(),
        world,
        &sizes,
        bytes,
        &rows,
        bench.baseline.score,
    );
    let mut out_settings = vec![
        format!(
            "feeds: {} world of {} users, seed {} ({}{}); kanjian with {} workers, `KANJIAN_LOG__FILTER=warn`",
            world.database.label(),
            world::group(i64::try_from(world.users).unwrap_or(i64::MAX)),
            world.seed,
            world.location,
            world
                .seeded
                .as_ref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default(),
            settings.workers
        ),
        format!(
            "feeds: {} viewers (users with friends, picked with the seed), each logged in once; at least {} measured requests per row, page size {PAGE_SIZE}",
            viewers.len(),
            settings.requests
        ),
        format!("feeds query (friendsFeed; recommendedFeed alike): `{FRIENDS_FEED_QUERY}`"),
        format!(
            "feeds Friends baseline SQL: `{}`",
            bench.baseline.friends_sql(0)
        ),
        format!(
            "feeds Recommended baseline SQL: `{}`",
            bench.baseline.recommended_sql(0)
        ),
    ];
    if bench.baseline.score == Score::Integer {
        out_settings.push("feeds: this SQLite has no power(): the Recommended baseline orders by an integer score".into());
    }
    drop(bench);
    if let Some(pool) = concurrent_pool {
        pool.close().await.context("closing the SQL pool")?;
    }
    db.close().await.context("closing the database")?;
    Ok((tables, out_settings))
}

fn tables(
    viewer_count: usize,
    world: &World,
    sizes: &[(String, String)],
    bytes: u64,
    rows: &[Row],
    score: Score,
) -> Vec<Table> {
    let mut summary = Table::new(
        format!(
            "Friends and Recommended feeds on {} ({} users): friendsFeed / recommendedFeed through POST /graphql vs the bare SQL fetching the same rows",
            world.database.label(),
            world::group(i64::try_from(world.users).unwrap_or(i64::MAX)),
        ),
        &[
            "feed",
            "page",
            "conc",
            "requests",
            "kanjian req/s",
            "kanjian p50 ms",
            "kanjian p90 ms",
            "kanjian p99 ms",
            "kanjian max ms",
            "SQL p50 ms",
            "SQL p90 ms",
            "SQL p99 ms",
            "SQL max ms",
            "p50 ratio",
            "p99 ratio",
            "items / rows per page",
        ],
    );
    for row in rows {
        summary.row(vec![
            row.feed.label().to_owned(),
            row.page.label().to_owned(),
            row.concurrency.to_string(),
            row.kanjian.requests.to_string(),
            per_sec(row.kanjian.per_sec()),
            ms(row.kanjian.ms_at(0.5)),
            ms(row.kanjian.ms_at(0.9)),
            ms(row.kanjian.ms_at(0.99)),
            ms(row.kanjian.max_ms()),
            ms(row.sql.ms_at(0.5)),
            ms(row.sql.ms_at(0.9)),
            ms(row.sql.ms_at(0.99)),
            ms(row.sql.max_ms()),
            ratio(row.kanjian.ms_at(0.5), row.sql.ms_at(0.5)),
            ratio(row.kanjian.ms_at(0.99), row.sql.ms_at(0.99)),
            format!(
                "{:.1} / {:.1}",
                row.kanjian.items_per_request(),
                row.sql.items_per_request()
            ),
        ]);
    }
    summary.note(format!(
        "first page: `first: {PAGE_SIZE}` (a new ranking snapshot each time); 3rd page: pages 1 and 2 fetched unmeasured, then `after:` page 2's endCursor measured; the SQL's: the same statement with OFFSET {LATER_PAGE_OFFSET}"
    ));
    summary.note("concurrency 1: one request in flight, kanjian and the SQL interleaved viewer by viewer (alternating which goes first); req/s there is 1 / mean latency. Concurrency > 1: first pages only, kanjian's block then the SQL's on a pool of as many connections; req/s over the block's wall time");
    summary.note("kanjian: the signed-in viewer's request over keep-alive HTTP/1.1 until its whole body is read (parse, validate, execute, the video, channel and social loaders, serialising); SQL: one statement on sqlx (via sea-orm) from this process until every row is read; on PostgreSQL without parallel query (max_parallel_workers_per_gather = 0 on the measuring connection), whose worker processes otherwise ran on into kanjian's next request on this 2-core machine");
    summary.note(format!(
        "Friends SQL: friends' ❤️ of the last {FRIENDS_WINDOW_DAYS} days on published videos, grouped by video, by number of friends then newest ❤️. Recommended SQL: published videos of the last {RECOMMENDED_WINDOW_DAYS} days the viewer has not viewed, by {}",
        match score {
            Score::Power => "(likes + 4·recommends + 2·comments + 3·shares + 2·completions) / (age hours + 2)^1.5",
            Score::Integer => "(likes + 4·recommends + 2·comments + 3·shares + 2·completions) · 1000 / (whole age hours + 2) (this SQLite has no power())",
        }
    ));
    let overlaps: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.overlap
                .map(|o| format!("{} {:.0} %", r.feed.label(), o * 100.0))
        })
        .collect();
    if !overlaps.is_empty() {
        summary.note(format!(
            "videos of kanjian's first page that the SQL's first page has too, mean over the viewers: {} (the feeds rank by more than the SQL does, so under 100 % is expected)",
            overlaps.join(", ")
        ));
    }
    let skipped: Vec<String> = rows
        .iter()
        .filter(|r| r.skipped > 0)
        .map(|r| {
            format!(
                "{} {} page: {} of {viewer_count} viewers",
                r.feed.label(),
                r.page.label(),
                r.skipped,
            )
        })
        .collect();
    if !skipped.is_empty() {
        summary.note(format!(
            "viewers without a 3rd page are left out of that row on both sides: {}",
            skipped.join("; ")
        ));
    }
    if world.database == DatabaseKind::Postgres {
        let friends_p99: Vec<String> = rows
            .iter()
            .filter(|r| r.feed == Feed::Friends && r.concurrency == 1)
            .map(|r| {
                let p99 = r.kanjian.ms_at(0.99);
                format!(
                    "{} page {} ms ({})",
                    r.page.label(),
                    ms(p99),
                    if p99 <= 20.0 { "met" } else { "not met" }
                )
            })
            .collect();
        summary.note(format!(
            "target: Friends feed p99 ≤ 20 ms on PostgreSQL at 1M users{}: {}",
            if world.users == 1_000_000 {
                String::new()
            } else {
                format!(
                    " (this world has {} users)",
                    world::group(i64::try_from(world.users).unwrap_or(i64::MAX))
                )
            },
            friends_p99.join(", ")
        ));
    }

    let mut world_table = Table::new(
        format!("the feeds world: {}", world.location),
        &["what", "how many"],
    );
    for (what, n) in sizes {
        world_table.row(vec![what.clone(), n.clone()]);
    }
    world_table.row(vec!["on disk".into(), world::size(bytes)]);
    if world.database == DatabaseKind::Postgres {
        world_table.note("≈: PostgreSQL's estimate (pg_class.reltuples), as COUNT(*) of the big tables takes long");
    }
    world_table.note(format!(
        "`kanjian seed --users {} --seed {}` with its other defaults{}",
        world.users,
        world.seed,
        world
            .seeded
            .as_ref()
            .map(|s| format!("; {s}"))
            .unwrap_or_default()
    ));
    vec![world_table, summary]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shuffle_is_a_permutation_fixed_by_the_seed() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, 42);
        shuffle(&mut b, 42);
        assert_eq!(a, b);
        let mut c: Vec<u32> = (0..100).collect();
        shuffle(&mut c, 43);
        assert_ne!(a, c);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn video_ids_come_out_of_global_ids() {
        let id = URL_SAFE_NO_PAD.encode("Video:42");
        assert_eq!(video_number(&id), Some(42));
        assert_eq!(video_number(&URL_SAFE_NO_PAD.encode("User:42")), None);
    }

    #[test]
    fn placeholders_follow_the_backend() {
        let pg = Baseline {
            backend: DbBackend::Postgres,
            score: Score::Power,
        };
        let friends = pg.friends_sql(0);
        assert!(friends.contains("r.created_at >= $1") && friends.contains("WHERE user_id = $2"));
        assert!(friends.contains("LIMIT 300") && friends.contains("LIMIT 5000"), "{friends}");
        let lite_friends = Baseline { backend: DbBackend::Sqlite, score: Score::Integer }.friends_sql(0);
        assert!(lite_friends.contains("user_id = ?2") && lite_friends.contains(">= ?1"), "{lite_friends}");
        assert!(
            pg.friends_sql(LATER_PAGE_OFFSET)
                .ends_with("LIMIT 20 OFFSET 40")
        );
        let lite = Baseline {
            backend: DbBackend::Sqlite,
            score: Score::Integer,
        };
        let recommended = lite.recommended_sql(0);
        assert!(!recommended.contains('$'));
        assert_eq!(recommended.matches('?').count(), 3);
    }

    #[test]
    fn overlap_is_the_shared_share() {
        assert!((overlap(&[1, 2, 3, 4], &[3, 4, 5, 6]) - 0.5).abs() < 1e-9);
        assert!((overlap(&[], &[]) - 1.0).abs() < 1e-9);
    }
}

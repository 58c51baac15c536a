//! Kanjian's benchmarks, each beside a baseline measured in the same run on the same machine:
//!
//! 1. `node(id:)` for a published video under load, against the release `kanjian` binary, vs a
//!    no-op actix-web endpoint (`noop-server`) and vs the same query answered by the bare stack
//!    (`ceiling-server`: actix-web + async-graphql + the same SQL on the same database), loaded
//!    the same way, on SQLite or (`--node-database postgres`) PostgreSQL;
//! 2. upload → `READY` of a clip through the API, vs plain ffmpeg making the same renditions;
//! 3. (`--only feeds`) the Friends and Recommended feeds, first page and page 3, on a world seeded
//!    once by `kanjian seed` and kept (SQLite at 100k users, PostgreSQL at 1M), vs the bare SQL
//!    that fetches the same rows, run from this process on the same database;
//! 4. (`--only live`, or `scripts/bench/live-ingest`) live ingest: how many copy-mode RTMP rooms
//!    kanjian holds (a ramp of publishers), and the time from a frame sent to its segment listed
//!    in the playlist, vs nginx-rtmp and plain ffmpeg's HLS muxer with the same publisher;
//! 5. (`--only fanout`) a hot live room: comments from many people fanned out to 1k / 5k (and
//!    with `--full` 20k) WebSocket viewers, coalesced (kanjian's batches and per-viewer bound) vs
//!    uncoalesced (every comment to every viewer, batches of 10 ms), and memory per connection;
//! 6. (`--only flashsale`) a flash sale: one SKU, thousands of buyers through `buyNow` and
//!    payment until sold out, on PostgreSQL and SQLite, vs pgbench's hot-row UPDATE on the same
//!    PostgreSQL, with the invariants read from the database after it; (`--only flashsale-chaos`)
//!    the same on two nodes, one killed mid-sale, every payment notification delivered thrice.
//!
//! 7. (`--only search`) search through GraphQL at 100k seeded Chinese titles, per query type,
//!    vs a no-op endpoint, with `kanjian reindex` timed and the time from a change to its being
//!    found (the engine alone beside Meilisearch's engine: `scripts/bench/search`).
//!
//! It measures and prints; it asserts no timing. `scripts/bench/run` builds and runs it and
//! keeps the Markdown results; see `scripts/bench/README.md`.

mod api;
mod fanout;
mod feeds;
mod flashsale;
mod live;
mod load;
mod media;
mod report;
mod search;
mod servers;
mod world;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

use crate::api::{Api, NODE_QUERY, Processing};
use crate::feeds::FeedsSettings;
use crate::load::{LoadResult, LoadSettings, Target, WrkResult};
use crate::report::{Machine, Table, ms, per_sec, ratio, secs};
use crate::servers::ChildServer;
use crate::world::{DatabaseKind, ScratchDatabase, WorldSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    /// `node(id:)` under load vs the no-op endpoint and the bare-stack ceiling.
    Node,
    /// Upload → READY vs plain ffmpeg.
    Upload,
    /// The Friends and Recommended feeds vs the bare SQL, on a seeded world (not run unless named).
    Feeds,
    /// Live ingest: copy-mode rooms held, and frame-to-playlist latency vs nginx-rtmp and plain
    /// ffmpeg (not run unless named; `scripts/bench/live-ingest`).
    Live,
    /// A hot live room's comment fan-out, coalesced vs uncoalesced (not run unless named).
    Fanout,
    /// A flash sale on PostgreSQL and SQLite vs pgbench's hot-row UPDATE (not run unless named).
    Flashsale,
    /// The flash sale on two nodes, one killed mid-sale, notifications replayed (not run unless
    /// named).
    FlashsaleChaos,
    /// Search through GraphQL on a seeded corpus vs a no-op endpoint (not run unless named).
    Search,
}

#[derive(Debug, Parser)]
#[command(
    name = "kanjian-bench",
    about = "Benchmarks the release kanjian binary against baselines measured in the same run",
    long_about = "Benchmarks the release kanjian binary against baselines measured in the same run:\n\
        node(id:) under load vs a no-op actix-web endpoint, upload→READY vs plain ffmpeg, and\n\
        (--only feeds) the Friends and Recommended feeds vs the bare SQL on a seeded world.\n\
        Every flag can also be set with the environment variable shown."
)]
struct Args {
    /// Seconds each load run is measured.
    #[arg(long, env = "KANJIAN_BENCH_DURATION", default_value_t = 10)]
    duration: u64,
    /// Seconds of load before each measured window (not counted).
    #[arg(long, env = "KANJIAN_BENCH_WARMUP", default_value_t = 2)]
    warmup: u64,
    /// Concurrent connections of the load runs, comma-separated: 1 shows latency, 32 throughput.
    #[arg(
        long,
        env = "KANJIAN_BENCH_CONCURRENCY",
        value_delimiter = ',',
        default_value = "1,32"
    )]
    concurrency: Vec<usize>,
    /// HTTP worker threads of both servers [default: nproc].
    #[arg(long, env = "KANJIAN_BENCH_WORKERS")]
    workers: Option<usize>,
    /// Times each side of the upload benchmark runs.
    #[arg(long, env = "KANJIAN_BENCH_REPEATS", default_value_t = 3)]
    repeats: usize,
    /// Length of the upload benchmark's 1280x720 clip, in seconds.
    #[arg(long, env = "KANJIAN_BENCH_CLIP_SECONDS", default_value_t = 10)]
    clip_seconds: u32,
    /// HLS segment length given to kanjian (`media.segment_seconds`) and to the ffmpeg baseline.
    #[arg(long, env = "KANJIAN_BENCH_SEGMENT_SECONDS", default_value_t = 4)]
    segment_seconds: u32,
    /// The benchmarks to run, comma-separated [default: node,upload]; `feeds` runs only when named,
    /// as its world takes long to seed the first time.
    #[arg(long, env = "KANJIAN_BENCH_ONLY", value_enum, value_delimiter = ',')]
    only: Vec<Only>,
    /// Do not also run wrk, even when it is installed.
    #[arg(long, env = "KANJIAN_BENCH_NO_WRK")]
    no_wrk: bool,
    /// Write the results as Markdown to this file.
    #[arg(long)]
    output: Option<PathBuf>,
    /// The source revision measured, for the results file (scripts/bench/run passes the git sha).
    #[arg(long, env = "KANJIAN_BENCH_REVISION", default_value = "unknown")]
    revision: String,
    /// The kanjian binary [default: beside this one].
    #[arg(long, env = "KANJIAN_BENCH_KANJIAN_BIN")]
    kanjian_bin: Option<PathBuf>,
    /// The noop-server binary [default: beside this one].
    #[arg(long, env = "KANJIAN_BENCH_NOOP_BIN")]
    noop_bin: Option<PathBuf>,
    /// The ceiling-server binary [default: beside this one].
    #[arg(long, env = "KANJIAN_BENCH_CEILING_BIN")]
    ceiling_bin: Option<PathBuf>,
    /// Node: connections in the ceiling-server's pool [default: kanjian's own, 4 on SQLite
    /// (`database.sqlite_readers`) and 10 on PostgreSQL (`database.max_connections`)].
    #[arg(long, env = "KANJIAN_BENCH_CEILING_POOL")]
    ceiling_pool: Option<u32>,
    /// Node and upload: kanjian's database (the ceiling-server reads the same): SQLite in a fresh
    /// temp data dir, or a fresh database on --postgres-url, created for the run and dropped after.
    #[arg(
        long,
        env = "KANJIAN_BENCH_NODE_DATABASE",
        value_enum,
        default_value = "sqlite"
    )]
    node_database: DatabaseKind,
    /// Feeds: the database of the world.
    #[arg(
        long,
        env = "KANJIAN_BENCH_FEEDS_DATABASE",
        value_enum,
        default_value = "sqlite"
    )]
    feeds_database: DatabaseKind,
    /// Feeds: users in the world [default: 100000 on SQLite, 1000000 on PostgreSQL].
    #[arg(long, env = "KANJIAN_BENCH_FEEDS_USERS")]
    feeds_users: Option<u64>,
    /// Search: titles in the corpus.
    #[arg(long, env = "KANJIAN_BENCH_SEARCH_DOCS", default_value_t = 100_000)]
    search_docs: usize,
    /// Search: queries of each type.
    #[arg(long, env = "KANJIAN_BENCH_SEARCH_QUERIES", default_value_t = 300)]
    search_queries: usize,
    /// Search: concurrent clients.
    #[arg(long, env = "KANJIAN_BENCH_SEARCH_CONCURRENCY", default_value_t = 8)]
    search_concurrency: usize,
    /// Search: rooms scheduled to time a change until it is found.
    #[arg(long, env = "KANJIAN_BENCH_SEARCH_ROOMS", default_value_t = 200)]
    search_rooms: usize,
    /// Feeds: the seed of `kanjian seed`, also picking the viewers.
    #[arg(long, env = "KANJIAN_BENCH_FEEDS_SEED", default_value_t = 42)]
    feeds_seed: u64,
    /// Feeds: viewers (users with friends), each logged in once, whose feeds are asked in turn.
    #[arg(long, env = "KANJIAN_BENCH_FEEDS_VIEWERS", default_value_t = 200)]
    feeds_viewers: usize,
    /// Feeds: measured requests per row, at least (the viewers are repeated in whole passes).
    #[arg(long, env = "KANJIAN_BENCH_FEEDS_REQUESTS", default_value_t = 1000)]
    feeds_requests: usize,
    /// Feeds: concurrency of the extra first-page row (0 or 1: no such row).
    #[arg(long, env = "KANJIAN_BENCH_FEEDS_CONCURRENCY", default_value_t = 8)]
    feeds_concurrency: usize,
    /// Feeds: which feeds to measure, comma-separated.
    #[arg(
        long,
        env = "KANJIAN_BENCH_FEEDS_WHICH",
        value_enum,
        value_delimiter = ',',
        default_value = "friends,recommended"
    )]
    feeds_which: Vec<crate::feeds::Feed>,
    /// Feeds: where SQLite worlds are kept [default: target/bench-data beside this binary].
    #[arg(long, env = "KANJIAN_BENCH_FEEDS_DATA_DIR")]
    feeds_data_dir: Option<PathBuf>,
    /// Feeds: drop the kept world and seed it again.
    #[arg(long, env = "KANJIAN_BENCH_FEEDS_RESEED")]
    feeds_reseed: bool,
    /// PostgreSQL server, as a URL allowed to create databases: the feeds' world is the database
    /// kanjian_bench_<users>_<seed> on it; `--node-database postgres` creates a fresh database on
    /// it for the run and drops it at the end.
    #[arg(
        long,
        env = "KANJIAN_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Only seed the feeds world (if it is not kept yet) and exit; implies --only feeds.
    #[arg(long, env = "KANJIAN_BENCH_SEED_ONLY")]
    seed_only: bool,
    /// Live: publishers at once, step by step (the ramp stops after the first step that does not
    /// hold) [default: 1,2,4,8,16,32,64,128; with --live-long 1,2,4,8,16,32,48,64,80,96,112,128,160].
    #[arg(long, env = "KANJIAN_BENCH_LIVE_ROOMS", value_delimiter = ',')]
    live_rooms: Vec<usize>,
    /// Live: seconds measured per step [default: 10; with --live-long 30].
    #[arg(long, env = "KANJIAN_BENCH_LIVE_WINDOW")]
    live_window: Option<u64>,
    /// Live: seconds after a step's publishers start before it is measured [default: 6; with
    /// --live-long 10].
    #[arg(long, env = "KANJIAN_BENCH_LIVE_SETTLE")]
    live_settle: Option<u64>,
    /// Live: how often each room's playlist is asked, in ms (adds half of it to every latency,
    /// on every side alike).
    #[arg(long, env = "KANJIAN_BENCH_LIVE_POLL_MS", default_value_t = 100)]
    live_poll_ms: u64,
    /// Live: publishers on each baseline (nginx-rtmp, plain ffmpeg); 0 for no baselines.
    #[arg(long, env = "KANJIAN_BENCH_LIVE_BASELINE_ROOMS", default_value_t = 1)]
    live_baseline_rooms: usize,
    /// Live: the long mode (30 s windows, finer and longer ramp).
    #[arg(long, env = "KANJIAN_BENCH_LIVE_LONG")]
    live_long: bool,
    /// Fan-out: viewers of the hot room, comma-separated [default: 1000,5000; with --full
    /// 1000,5000,20000].
    #[arg(long, env = "KANJIAN_BENCH_FANOUT_VIEWERS", value_delimiter = ',')]
    fanout_viewers: Vec<usize>,
    /// Fan-out: the full run, with 20000 viewers too.
    #[arg(long, env = "KANJIAN_BENCH_FULL")]
    full: bool,
    /// Fan-out: total comments per second sent by the commenters, comma-separated.
    #[arg(
        long,
        env = "KANJIAN_BENCH_FANOUT_RATES",
        value_delimiter = ',',
        default_value = "200,1000"
    )]
    fanout_rates: Vec<u32>,
    /// Fan-out: signed-in accounts sending the comments (round-robin).
    #[arg(long, env = "KANJIAN_BENCH_FANOUT_COMMENTERS", default_value_t = 200)]
    fanout_commenters: usize,
    /// Fan-out: seconds each rate is measured (after --warmup).
    #[arg(long, env = "KANJIAN_BENCH_FANOUT_SECONDS", default_value_t = 20)]
    fanout_seconds: u64,
    /// Fan-out: viewers that read every comment's latency (the others only count).
    #[arg(long, env = "KANJIAN_BENCH_FANOUT_SAMPLED", default_value_t = 100)]
    fanout_sampled: usize,
    /// Flash sale: units of the SKU on sale.
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_UNITS", default_value_t = 50_000)]
    flashsale_units: i64,
    /// Flash sale: buyers buying at once (each signed in, with an address).
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_BUYERS", default_value_t = 2_000)]
    flashsale_buyers: usize,
    /// Flash sale: the product's per-person limit [default: 1.2 × units / buyers, rounded up, so
    /// the sale can sell out while the fastest buyers reach it].
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_LIMIT")]
    flashsale_limit: Option<i64>,
    /// Flash sale: each purchase is 1 to this many units (1 after INSUFFICIENT_STOCK or
    /// PURCHASE_LIMIT_EXCEEDED).
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_MAX_QUANTITY", default_value_t = 3)]
    flashsale_max_quantity: i64,
    /// Flash sale: share of orders whose buyer opens the payment and walks away (their holds
    /// expire after the payment window).
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_ABANDON", default_value_t = 0.02)]
    flashsale_abandon: f64,
    /// Flash sale: buyers never pay (no payOrder), so the sale is buyNow alone: a diagnostic of
    /// the hot path (every order expires after the window).
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_NO_PAY")]
    flashsale_no_pay: bool,
    /// Flash sale: kanjian's `commerce.payment_window_secs` for the run.
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_PAYMENT_WINDOW", default_value_t = 30)]
    flashsale_payment_window: u64,
    /// Flash sale (chaos): kanjian's `commerce.payment_window_secs` in the chaos variant, longer
    /// as retries after the crash wait for the dead node's idempotency claims to lapse (60 s).
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_CHAOS_PAYMENT_WINDOW", default_value_t = 120)]
    flashsale_chaos_payment_window: u64,
    /// Flash sale: the databases of the single-node sale, in order.
    #[arg(
        long,
        env = "KANJIAN_BENCH_FLASHSALE_DATABASES",
        value_enum,
        value_delimiter = ',',
        default_value = "postgres,sqlite"
    )]
    flashsale_databases: Vec<DatabaseKind>,
    /// Flash sale: also the chaos variant (as --only flashsale-chaos).
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_CHAOS")]
    flashsale_chaos: bool,
    /// Flash sale: pgbench clients of the baseline's sweep, comma-separated (32 is the headline's).
    #[arg(
        long,
        env = "KANJIAN_BENCH_FLASHSALE_PGBENCH_CLIENTS",
        value_delimiter = ',',
        default_value = "1,2,4,8,16,32,64"
    )]
    flashsale_pgbench_clients: Vec<usize>,
    /// Flash sale: seconds of each pgbench run.
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_PGBENCH_SECONDS", default_value_t = 10)]
    flashsale_pgbench_seconds: u64,
    /// Flash sale (chaos): deliveries of each payment notification by the WeChat Pay simulator.
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_REPLAYS", default_value_t = 3)]
    flashsale_replays: u32,
    /// Flash sale: kanjian's PostgreSQL pool (`database.max_connections`) [default: kanjian's, 10].
    #[arg(long, env = "KANJIAN_BENCH_FLASHSALE_POOL")]
    flashsale_pool: Option<u32>,
    /// The wechatpay-simulator binary [default: beside this one].
    #[arg(long, env = "KANJIAN_BENCH_WECHATPAY_SIMULATOR_BIN")]
    wechatpay_simulator_bin: Option<PathBuf>,
}

impl Args {
    fn runs(&self, which: Only) -> bool {
        if self.seed_only {
            return which == Only::Feeds;
        }
        if self.only.is_empty() {
            matches!(which, Only::Node | Only::Upload)
        } else {
            self.only.contains(&which)
        }
    }

    /// `target/bench-data`: beside the `release` folder this binary is in.
    fn feeds_data_dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.feeds_data_dir {
            return Ok(dir.clone());
        }
        let me = std::env::current_exe().context("locating this executable")?;
        let target = me
            .parent()
            .and_then(Path::parent)
            .context("this executable is not in target/<profile>/")?;
        Ok(target.join("bench-data"))
    }

    fn live(&self, workers: usize) -> Result<live::LiveSettings> {
        let rooms = if !self.live_rooms.is_empty() {
            self.live_rooms.clone()
        } else if self.live_long {
            vec![1, 2, 4, 8, 16, 32, 48, 64, 80, 96, 112, 128, 160]
        } else {
            vec![1, 2, 4, 8, 16, 32, 64, 128]
        };
        if rooms.contains(&0) || self.live_poll_ms == 0 {
            bail!("--live-rooms and --live-poll-ms need numbers of at least 1");
        }
        let (window, settle) = if self.live_long { (30, 10) } else { (10, 6) };
        Ok(live::LiveSettings {
            rooms,
            window: Duration::from_secs(self.live_window.unwrap_or(window).max(1)),
            settle: Duration::from_secs(self.live_settle.unwrap_or(settle)),
            poll: Duration::from_millis(self.live_poll_ms),
            baseline_rooms: self.live_baseline_rooms,
            workers,
            segment_seconds: 1,
            long: self.live_long,
        })
    }

    fn flashsale(&self, workers: usize) -> Result<flashsale::FlashsaleSettings> {
        if self.flashsale_units < 1 || self.flashsale_buyers == 0 || self.flashsale_max_quantity < 1 {
            bail!("--flashsale-units, --flashsale-buyers and --flashsale-max-quantity must be at least 1");
        }
        if !(0.0..1.0).contains(&self.flashsale_abandon) {
            bail!("--flashsale-abandon is a share from 0 to below 1");
        }
        if self.flashsale_pgbench_clients.contains(&0) || self.flashsale_pgbench_seconds == 0 {
            bail!("--flashsale-pgbench-clients and --flashsale-pgbench-seconds need numbers of at least 1");
        }
        let limit = self.flashsale_limit.unwrap_or_else(|| {
            flashsale::FlashsaleSettings::default_limit(self.flashsale_units, self.flashsale_buyers)
        });
        Ok(flashsale::FlashsaleSettings {
            databases: if self.runs(Only::Flashsale) {
                self.flashsale_databases.clone()
            } else {
                Vec::new()
            },
            chaos: self.runs(Only::FlashsaleChaos)
                || (self.flashsale_chaos && self.runs(Only::Flashsale)),
            units: self.flashsale_units,
            buyers: self.flashsale_buyers,
            limit: limit.max(1),
            max_quantity: self.flashsale_max_quantity,
            abandon: self.flashsale_abandon,
            no_pay: self.flashsale_no_pay,
            payment_window_secs: self.flashsale_payment_window.max(1),
            chaos_payment_window_secs: self.flashsale_chaos_payment_window.max(1),
            pgbench_clients: self.flashsale_pgbench_clients.clone(),
            pgbench_seconds: self.flashsale_pgbench_seconds,
            replays: self.flashsale_replays.max(1),
            postgres_url: self.postgres_url.clone(),
            workers,
            pool: self.flashsale_pool,
            simulator_bin: self.wechatpay_simulator_bin.clone(),
            keys_dir: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../crates/commerce/tests/support/wechatpay"
            )),
        })
    }

    fn feeds(&self, workers: usize) -> Result<FeedsSettings> {
        Ok(FeedsSettings {
            world: WorldSpec {
                database: self.feeds_database,
                users: self
                    .feeds_users
                    .unwrap_or_else(|| self.feeds_database.default_users()),
                seed: self.feeds_seed,
                data_dir: self.feeds_data_dir()?,
                postgres_url: self.postgres_url.clone(),
                reseed: self.feeds_reseed,
            },
            seed_only: self.seed_only,
            viewers: self.feeds_viewers,
            requests: self.feeds_requests,
            concurrency: self.feeds_concurrency,
            workers,
            feeds: self.feeds_which.clone(),
        })
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        bail!("--concurrency needs numbers of at least 1");
    }
    if args.duration == 0 || args.repeats == 0 || args.clip_seconds == 0 {
        bail!("--duration, --repeats and --clip-seconds must be at least 1");
    }
    if args.feeds_viewers == 0 || args.feeds_requests == 0 {
        bail!("--feeds-viewers and --feeds-requests must be at least 1");
    }
    if args.feeds_users.is_some_and(|u| u < 2) {
        bail!("--feeds-users must be at least 2");
    }
    let workers = match args.workers {
        Some(w) => w.max(1),
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
    };
    let kanjian_bin = servers::sibling_binary(args.kanjian_bin.as_deref(), "kanjian")?;
    let node_bins = if args.runs(Only::Node) {
        Some(NodeBins {
            noop: servers::sibling_binary(args.noop_bin.as_deref(), "noop-server")?,
            ceiling: servers::sibling_binary(args.ceiling_bin.as_deref(), "ceiling-server")?,
        })
    } else {
        None
    };
    let fanout_settings = args.runs(Only::Fanout).then(|| fanout::FanoutSettings {
        viewers: if !args.fanout_viewers.is_empty() {
            args.fanout_viewers.clone()
        } else if args.full {
            vec![1_000, 5_000, 20_000]
        } else {
            vec![1_000, 5_000]
        },
        rates: args.fanout_rates.clone(),
        commenters: args.fanout_commenters.max(1),
        seconds: args.fanout_seconds.max(1),
        warmup: args.warmup,
        sampled: args.fanout_sampled,
        signed_in: 5,
        workers,
    });
    let flashsale_settings = (args.runs(Only::Flashsale) || args.runs(Only::FlashsaleChaos))
        .then(|| args.flashsale(workers))
        .transpose()?;
    let feeds_settings = if args.runs(Only::Feeds) {
        Some(args.feeds(workers)?)
    } else {
        None
    };
    let live_settings = if args.runs(Only::Live) {
        Some(args.live(workers)?)
    } else {
        None
    };
    let search_settings = if args.runs(Only::Search) {
        Some(search::SearchSettings {
            docs: args.search_docs.max(1),
            queries: args.search_queries.max(1),
            concurrency: args.search_concurrency.max(1),
            rooms: args.search_rooms,
            workers,
            noop: servers::sibling_binary(args.noop_bin.as_deref(), "noop-server")?,
        })
    } else {
        None
    };
    let started = Instant::now();
    let machine = Machine::detect(media::ffmpeg_version());
    if let Some(busy) = machine.busy_at_start.filter(|b| *b > 0.25) {
        println!(
            "==> note: {:.0} % of the CPUs were busy before the run; the figures will be noisy",
            busy * 100.0
        );
    }
    let kanjian_version = std::process::Command::new(&kanjian_bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();

    let work = tempfile::Builder::new()
        .prefix("kanjian-bench-")
        .tempdir()
        .context("creating a work dir")?;
    println!("==> work dir {}", work.path().display());

    let mut tables = Vec::new();
    let mut settings = vec![format!(
        "revision: `{}`; {}",
        args.revision,
        if kanjian_version.is_empty() {
            "kanjian".into()
        } else {
            kanjian_version.clone()
        }
    )];

    if args.runs(Only::Node) || args.runs(Only::Upload) {
        let (node_upload_tables, node_upload_settings) = node_and_upload(
            &args,
            node_bins.as_ref(),
            &kanjian_bin,
            workers,
            work.path(),
        )
        .await?;
        tables.extend(node_upload_tables);
        settings.extend(node_upload_settings);
    }

    if let Some(feeds_settings) = &feeds_settings {
        let (feeds_tables, feeds_lines) =
            feeds::run(feeds_settings, &kanjian_bin, &kanjian_version, work.path()).await?;
        if feeds_settings.seed_only {
            return Ok(());
        }
        tables.extend(feeds_tables);
        settings.extend(feeds_lines);
    }

    if let Some(live_settings) = &live_settings {
        let (live_tables, live_lines) = live::run(live_settings, &kanjian_bin, work.path()).await?;
        tables.extend(live_tables);
        settings.extend(live_lines);
    }

    if let Some(fanout_settings) = &fanout_settings {
        let (fanout_tables, fanout_lines) =
            fanout::run(fanout_settings, &kanjian_bin, work.path()).await?;
        tables.extend(fanout_tables);
        settings.extend(fanout_lines);
    }

    if let Some(flashsale_settings) = &flashsale_settings {
        let (sale_tables, sale_lines) =
            flashsale::run(flashsale_settings, &kanjian_bin, work.path()).await?;
        tables.extend(sale_tables);
        settings.extend(sale_lines);
    }

    if let Some(search_settings) = &search_settings {
        let (search_tables, search_lines) = search::run(search_settings, &kanjian_bin, work.path()).await?;
        tables.extend(search_tables);
        settings.extend(search_lines);
    }

    let elapsed = started.elapsed();
    println!();
    for table in &tables {
        println!("{}", table.to_text());
    }
    println!(
        "machine: {} CPUs ({}), {}; ran in {:.0} s",
        machine.nproc,
        machine.cpu,
        machine.memory,
        elapsed.as_secs_f64()
    );

    if let Some(path) = &args.output {
        let markdown = results_markdown(&machine, &settings, &tables, elapsed);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, markdown).with_context(|| format!("writing {}", path.display()))?;
        println!("results written to {}", path.display());
    }
    Ok(())
}

/// The node benchmark's two extra servers.
struct NodeBins {
    noop: PathBuf,
    ceiling: PathBuf,
}

/// Benchmarks 1 and 2 (whichever `args` asks for), on a kanjian on a fresh database: SQLite in
/// its temp data dir, or (`--node-database postgres`) a PostgreSQL database made for the run and
/// dropped after it, whatever happened.
async fn node_and_upload(
    args: &Args,
    node_bins: Option<&NodeBins>,
    kanjian_bin: &Path,
    workers: usize,
    work: &Path,
) -> Result<(Vec<Table>, Vec<String>)> {
    let data_dir = work.join("kanjian-data");
    let (scratch, database) = match args.node_database {
        DatabaseKind::Sqlite => {
            let file = data_dir.join("kanjian.sqlite");
            (
                None,
                NodeDatabase {
                    url: format!("sqlite://{}?mode=rwc", file.display()),
                    description:
                        "SQLite in a fresh temp data dir (kanjian's default file, `kanjian.sqlite`)"
                            .into(),
                },
            )
        }
        DatabaseKind::Postgres => {
            let scratch = ScratchDatabase::create(&args.postgres_url, "node").await?;
            println!(
                "==> created the database {} on {} for this run",
                scratch.name,
                crate::world::redact(&args.postgres_url)
            );
            let database = NodeDatabase {
                url: scratch.url.clone(),
                description: format!(
                    "PostgreSQL {} in a fresh database made for the run (`{}`, dropped after it), on the same machine",
                    scratch.server_version, scratch.name
                ),
            };
            (Some(scratch), database)
        }
    };
    let outcome = node_and_upload_on(
        args,
        node_bins,
        kanjian_bin,
        workers,
        work,
        &data_dir,
        &database,
    )
    .await;
    if let Some(scratch) = scratch {
        scratch.drop_and_say().await;
    }
    outcome
}

/// Where kanjian keeps its data in the node and upload benchmarks.
struct NodeDatabase {
    url: String,
    /// For the results.
    description: String,
}

async fn node_and_upload_on(
    args: &Args,
    node_bins: Option<&NodeBins>,
    kanjian_bin: &Path,
    workers: usize,
    work: &Path,
    data_dir: &Path,
    database: &NodeDatabase,
) -> Result<(Vec<Table>, Vec<String>)> {
    println!("==> making clips with ffmpeg");
    let small_clip = work.join("small.mp4");
    let upload_clip = work.join("upload.mp4");
    if args.runs(Only::Node) {
        media::make_clip(&small_clip, "640x360", 2)?;
    }
    if args.runs(Only::Upload) {
        media::make_clip(&upload_clip, "1280x720", args.clip_seconds)?;
    }

    let http = reqwest::Client::new();
    let mut noop = match node_bins {
        Some(bins) => {
            let mut server = servers::spawn_noop(&bins.noop, &work.join("noop.log"), workers)?;
            server
                .wait_ready(&http, "/readyz", Duration::from_secs(30))
                .await?;
            println!(
                "==> noop-server on {} (pid {}, {workers} workers)",
                server.addr,
                server.pid()
            );
            Some(server)
        }
        None => None,
    };
    let mut kanjian = servers::spawn_kanjian(
        kanjian_bin,
        data_dir,
        Some(&database.url),
        &work.join("kanjian.log"),
        workers,
        args.segment_seconds,
        &[],
    )?;
    kanjian
        .wait_ready(&http, "/readyz", Duration::from_secs(120))
        .await?;
    println!(
        "==> kanjian on {} (pid {}, {workers} workers, {})",
        kanjian.addr,
        kanjian.pid(),
        args.node_database.label()
    );

    let api = Api::new(kanjian.url(""))?;
    let token = api.creator("bench").await.context("setting up a creator")?;

    let mut tables = Vec::new();
    let mut settings = vec![format!(
        "servers: {workers} actix-web workers each, on 127.0.0.1; kanjian on {}, `KANJIAN_LOG__FILTER=warn`",
        database.description
    )];

    if let (Some(noop), Some(bins)) = (noop.as_ref(), node_bins) {
        let servers = NodeServers {
            noop,
            kanjian: &kanjian,
            ceiling_bin: &bins.ceiling,
            database_url: &database.url,
            workers,
        };
        let (node_tables, node_settings) =
            node_benchmark(args, &api, &token, &servers, &small_clip, work)
                .await
                .with_context(|| {
                    format!(
                        "the node(id:) benchmark (kanjian's log ends with:\n{})",
                        kanjian.log_tail()
                    )
                })?;
        tables.extend(node_tables);
        settings.extend(node_settings);
    }
    // The baseline server is idle from here on; stop it so the machine has only kanjian.
    if let Some(mut server) = noop.take() {
        server.stop();
    }

    if args.runs(Only::Upload) {
        let (table, upload_settings) = upload_benchmark(args, &api, &token, &upload_clip, work)
            .await
            .with_context(|| {
                format!(
                    "the upload benchmark (kanjian's log ends with:\n{})",
                    kanjian.log_tail()
                )
            })?;
        tables.push(table);
        settings.extend(upload_settings);
    }
    kanjian.stop();
    Ok((tables, settings))
}

/// Uploads, processes and publishes a small clip; returns its global id.
async fn published_video(api: &Api, token: &str, clip: &Path) -> Result<String> {
    let bytes = std::fs::read(clip).context("reading the small clip")?;
    let processing = Processing::connect(&api.base, token).await?;
    let id = api
        .upload_video(token, "Bench clip", "small.mp4", bytes)
        .await?;
    processing.wait_ready(&id, Duration::from_secs(300)).await?;
    api.publish(token, &id).await?;
    // What the load will ask, asked once by an anonymous caller: it must be the published video.
    let data = api.data(None, NODE_QUERY, json!({ "id": id })).await?;
    let node = &data["node"];
    if node["status"] != "READY"
        || !node["playlistUrl"].is_string()
        || node["channel"]["handle"] != "bench"
    {
        bail!("node(id:) does not show the published video to an anonymous caller: {data}");
    }
    Ok(id)
}

/// What the node benchmark loads, and what it needs to start the ceiling.
struct NodeServers<'a> {
    noop: &'a ChildServer,
    kanjian: &'a ChildServer,
    ceiling_bin: &'a Path,
    /// kanjian's database, which the ceiling reads too.
    database_url: &'a str,
    workers: usize,
}

/// The whole answer of `server` to the node(id:) request, as JSON.
async fn node_answer(http: &reqwest::Client, url: String, body: &bytes::Bytes) -> Result<Value> {
    let text = http
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.clone())
        .send()
        .await
        .with_context(|| format!("POST {url}"))?
        .text()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    serde_json::from_str(&text).with_context(|| format!("{url} answered {text:?}, not JSON"))
}

/// A row of `a / b` for every figure of two rows of the node table.
fn node_ratio_row(label: &str, a: &LoadResult, b: &LoadResult) -> Vec<String> {
    let per_request = |r: &LoadResult| {
        r.server_cores
            .map_or(f64::NAN, |c| c * 1e6 / r.requests_per_sec().max(1e-9))
    };
    vec![
        label.into(),
        a.connections.to_string(),
        ratio(a.requests_per_sec(), b.requests_per_sec()),
        ratio(a.ms_at(0.5), b.ms_at(0.5)),
        ratio(a.ms_at(0.9), b.ms_at(0.9)),
        ratio(a.ms_at(0.99), b.ms_at(0.99)),
        ratio(a.max_ms(), b.max_ms()),
        String::new(),
        String::new(),
        ratio(per_request(a), per_request(b)),
        String::new(),
        String::new(),
    ]
}

async fn node_benchmark(
    args: &Args,
    api: &Api,
    token: &str,
    servers: &NodeServers<'_>,
    clip: &Path,
    work: &Path,
) -> Result<(Vec<Table>, Vec<String>)> {
    let NodeServers { noop, kanjian, .. } = *servers;
    println!("==> set-up: sign up, create a channel, upload a 2 s clip, wait for READY, publish");
    let setup = Instant::now();
    let id = published_video(api, token, clip).await?;
    println!(
        "    published {id} in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    // The ceiling reads what kanjian wrote, so it starts once the video is published.
    // kanjian's own pool sizes unless asked otherwise (crates/db's DatabaseConfig defaults).
    let ceiling_pool = args
        .ceiling_pool
        .unwrap_or(match args.node_database {
            DatabaseKind::Sqlite => 4,
            DatabaseKind::Postgres => 10,
        })
        .max(1);
    let mut ceiling = servers::spawn_ceiling(
        servers.ceiling_bin,
        &work.join("ceiling.log"),
        servers.workers,
        servers.database_url,
        &kanjian.url(""),
        ceiling_pool,
    )?;
    ceiling
        .wait_ready(&api.http, "/readyz", Duration::from_secs(60))
        .await?;
    println!(
        "==> ceiling-server on {} (pid {}, {} workers, kanjian's database, a pool of {ceiling_pool})",
        ceiling.addr,
        ceiling.pid(),
        servers.workers
    );

    let body = bytes::Bytes::from(
        serde_json::to_vec(&json!({ "query": NODE_QUERY, "variables": { "id": id } }))
            .context("the request body")?,
    );
    // The ceiling must give the very answer kanjian gives, or it is not the same work.
    let kanjian_answer = node_answer(&api.http, kanjian.url("/graphql"), &body).await?;
    let ceiling_answer = node_answer(&api.http, ceiling.url("/graphql"), &body).await?;
    if kanjian_answer != ceiling_answer {
        bail!(
            "the ceiling-server does not answer as kanjian does:\n  kanjian: {kanjian_answer}\n  ceiling: {ceiling_answer}"
        );
    }

    let targets = [
        Target {
            name: "noop-server".into(),
            addr: noop.addr,
            path: "/".into(),
            body: body.clone(),
            error_marker: None,
        },
        Target {
            name: "ceiling".into(),
            addr: ceiling.addr,
            path: "/graphql".into(),
            body: body.clone(),
            error_marker: Some(b"\"errors\""),
        },
        Target {
            name: "kanjian".into(),
            addr: kanjian.addr,
            path: "/graphql".into(),
            body: body.clone(),
            error_marker: Some(b"\"errors\""),
        },
    ];
    let pids = [noop.pid(), ceiling.pid(), kanjian.pid()];
    // Per concurrency: the no-op's, the ceiling's and kanjian's results, in that order.
    let mut results: Vec<[LoadResult; 3]> = Vec::new();
    for &connections in &args.concurrency {
        let settings = LoadSettings {
            connections,
            warmup: Duration::from_secs(args.warmup),
            duration: Duration::from_secs(args.duration),
            request_timeout: Duration::from_secs(30),
            server_pid: None,
        };
        let mut row = Vec::with_capacity(targets.len());
        for (target, &pid) in targets.iter().zip(&pids) {
            println!(
                "==> {} at concurrency {connections}: {} s warm-up, {} s measured",
                target.name, args.warmup, args.duration
            );
            let result = load::run(
                target,
                LoadSettings {
                    server_pid: Some(pid),
                    ..settings
                },
            )
            .await?;
            println!(
                "    {} req/s, p50 {} ms, p99 {} ms, {} errors; rest of the machine {} cores",
                per_sec(result.requests_per_sec()),
                ms(result.ms_at(0.5)),
                ms(result.ms_at(0.99)),
                result.errors,
                result
                    .other_cores()
                    .map_or_else(|| "?".into(), |c| format!("{c:.2}"))
            );
            row.push(result);
        }
        results.push(
            <[LoadResult; 3]>::try_from(row)
                .map_err(|_| anyhow::anyhow!("a load run is missing"))?,
        );
    }
    ceiling.stop();

    let headers = [
        "target", "conc", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors",
    ];
    let cores = |c: Option<f64>| c.map_or_else(|| "?".into(), |c| format!("{c:.2}"));
    let mut headers_cpu = headers.to_vec();
    headers_cpu.extend([
        "server cores",
        "server CPU µs/req",
        "client cores",
        "rest of machine cores",
    ]);
    let cpu_per_request = |r: &LoadResult| {
        r.server_cores
            .map(|c| c * 1e6 / r.requests_per_sec().max(1e-9))
    };
    let mut table = Table::new(
        format!(
            "node(id:) of a published video on {}: kanjian vs the same query on the bare stack (ceiling) vs a no-op actix-web endpoint ({} s after {} s warm-up)",
            args.node_database.label(),
            args.duration,
            args.warmup
        ),
        &headers_cpu,
    );
    for [noop_result, ceiling_result, kanjian_result] in &results {
        for r in [noop_result, ceiling_result, kanjian_result] {
            table.row(vec![
                r.target.clone(),
                r.connections.to_string(),
                per_sec(r.requests_per_sec()),
                ms(r.ms_at(0.5)),
                ms(r.ms_at(0.9)),
                ms(r.ms_at(0.99)),
                ms(r.max_ms()),
                r.errors.to_string(),
                cores(r.server_cores),
                cpu_per_request(r).map_or_else(|| "?".into(), |us| format!("{us:.0}")),
                cores(r.client_cores),
                cores(r.other_cores()),
            ]);
        }
        table.row(node_ratio_row(
            "ratio kanjian/noop",
            kanjian_result,
            noop_result,
        ));
        table.row(node_ratio_row(
            "ratio kanjian/ceiling",
            kanjian_result,
            ceiling_result,
        ));
    }
    table.note("load: Rust closed loop (hyper HTTP/1.1, one keep-alive connection per concurrent client), latencies in an HdrHistogram; the same request body to all three servers, one server at a time");
    table.note("noop-server: actix-web answering a fixed body, the most any endpoint can serve here; ceiling: actix-web + async-graphql answering the same query with the same bytes as kanjian, from the same statements kanjian runs (video and renditions side by side, then the channel) on the same database, with no limits, loaders, caller, spans or logs, the most this stack can serve for this query");
    table.note("req/s ratio below 1: kanjian serves that fraction of the other's rate; latency ratios: how many times longer kanjian takes; CPU/req ratio: how many times more CPU kanjian spends per request");
    table.note("errors: failed connections, timeouts, non-200 answers, and (ceiling, kanjian) answers carrying GraphQL `errors`");
    table.note("server/client cores: CPU seconds per second (all threads) the server and this load generator used in the measured window; server CPU µs/req: the server's CPU time per request (its cost, whatever the wall clock waits for); rest of machine: all other CPU use meanwhile (other work on the machine: a build, a test run; on PostgreSQL also the database's own processes, which serve the request)");
    if let Some([noop_result, ceiling_result, kanjian_result]) =
        results.iter().find(|[n, ..]| n.connections == 32)
    {
        let of_noop = kanjian_result.requests_per_sec() / noop_result.requests_per_sec().max(1e-9);
        let of_ceiling =
            kanjian_result.requests_per_sec() / ceiling_result.requests_per_sec().max(1e-9);
        let verdict = |met: bool| if met { "met" } else { "not met" };
        table.note(format!(
            "targets (SQLite, concurrency 32, on the 2-core machine): kanjian ≥ 0.10x the no-op's req/s: {:.3}x, {}; ≥ 0.50x the ceiling's: {:.2}x, {}{}",
            of_noop,
            verdict(of_noop >= 0.10),
            of_ceiling,
            verdict(of_ceiling >= 0.50),
            if args.node_database == DatabaseKind::Sqlite {
                ""
            } else {
                " (this run is on PostgreSQL: for reference only)"
            }
        ));
    }
    let mut tables = vec![table];

    if !args.no_wrk && load::wrk_available() {
        let mut wrk: Vec<Vec<WrkResult>> = Vec::new();
        for &connections in &args.concurrency {
            let mut row = Vec::with_capacity(targets.len());
            for target in targets.iter().filter(|t| t.name != "ceiling") {
                println!(
                    "==> wrk: {} at concurrency {connections}, {} s",
                    target.name, args.duration
                );
                row.push(
                    load::run_wrk(
                        target,
                        connections,
                        Duration::from_secs(args.duration),
                        work,
                    )
                    .await?,
                );
            }
            wrk.push(row);
        }
        let mut table = Table::new(
            format!(
                "the same with wrk -t1, no-op and kanjian ({} s each, servers already warm)",
                args.duration
            ),
            &headers,
        );
        for row in &wrk {
            for r in row {
                table.row(vec![
                    r.target.clone(),
                    r.connections.to_string(),
                    per_sec(r.requests_per_sec),
                    ms(r.p50_ms),
                    ms(r.p90_ms),
                    ms(r.p99_ms),
                    ms(r.max_ms),
                    r.errors.to_string(),
                ]);
            }
            if let [n, k] = &row[..] {
                table.row(vec![
                    "ratio kanjian/noop".into(),
                    k.connections.to_string(),
                    ratio(k.requests_per_sec, n.requests_per_sec),
                    ratio(k.p50_ms, n.p50_ms),
                    ratio(k.p90_ms, n.p90_ms),
                    ratio(k.p99_ms, n.p99_ms),
                    ratio(k.max_ms, n.max_ms),
                    String::new(),
                ]);
            }
        }
        table.note("wrk does not read bodies: its errors are connection errors and non-2xx/3xx answers only");
        tables.push(table);
    } else if !args.no_wrk {
        println!("    (wrk is not installed: only the Rust driver's figures)");
    }

    let settings = vec![
        format!(
            "node(id:): concurrency {}; {} s warm-up then {} s measured per run; noop-server, then the ceiling, then kanjian, never two at once",
            args.concurrency
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" and "),
            args.warmup,
            args.duration
        ),
        format!("node(id:) query: `{NODE_QUERY}`"),
        format!(
            "ceiling-server: a pool of {ceiling_pool} connections{}",
            if args.ceiling_pool.is_some() {
                " (--ceiling-pool)"
            } else {
                ", kanjian's default"
            }
        ),
    ];
    Ok((tables, settings))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

async fn upload_benchmark(
    args: &Args,
    api: &Api,
    token: &str,
    clip: &Path,
    work: &Path,
) -> Result<(Table, Vec<String>)> {
    let probe = media::probe(clip)?;
    let bytes = std::fs::read(clip).context("reading the upload clip")?;
    let size_mb = bytes.len() as f64 / 1_000_000.0;
    let plans = media::plan_renditions(probe.video.display_width, probe.video.display_height);
    let ready_timeout =
        Duration::from_secs(u64::from(args.clip_seconds).saturating_mul(30).max(300));
    println!(
        "==> upload→READY: {} s {}x{} clip ({size_mb:.1} MB), renditions {}, {} runs each, one after the other",
        args.clip_seconds,
        probe.video.display_width,
        probe.video.display_height,
        plans
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        args.repeats
    );
    let (mut ffmpeg, mut total, mut request) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=args.repeats {
        let out = tempfile::Builder::new()
            .prefix("ffmpeg-")
            .tempdir_in(work)
            .context("an ffmpeg output dir")?;
        let (source, probe_copy, out_dir, seg) = (
            clip.to_path_buf(),
            probe.clone(),
            out.path().to_path_buf(),
            args.segment_seconds,
        );
        let took = tokio::task::spawn_blocking(move || {
            media::plain_ffmpeg(&source, &probe_copy, &out_dir, seg)
        })
        .await
        .context("the ffmpeg run panicked")??;
        drop(out);
        ffmpeg.push(took.as_secs_f64());
        println!("    run {run}: plain ffmpeg {:.2} s", took.as_secs_f64());
        tokio::time::sleep(Duration::from_secs(1)).await;

        let processing = Processing::connect(&api.base, token).await?;
        let body = bytes.clone();
        let started = Instant::now();
        let id = api
            .upload_video(token, &format!("Upload run {run}"), "upload.mp4", body)
            .await?;
        let responded = started.elapsed();
        processing.wait_ready(&id, ready_timeout).await?;
        let ready = started.elapsed();
        total.push(ready.as_secs_f64());
        request.push(responded.as_secs_f64());
        println!(
            "    run {run}: kanjian {:.2} s to READY (upload request answered after {:.2} s)",
            ready.as_secs_f64(),
            responded.as_secs_f64()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let runs = |v: &[f64]| v.iter().map(|x| secs(*x)).collect::<Vec<_>>().join(", ");
    let mut table = Table::new(
        format!(
            "upload→READY of a {} s {}x{} H.264/AAC clip ({size_mb:.1} MB) vs plain ffmpeg making the same renditions ({} runs each)",
            args.clip_seconds, probe.video.display_width, probe.video.display_height, args.repeats
        ),
        &["measure", "min s", "median s", "runs s"],
    );
    table.row(vec![
        "plain ffmpeg: HLS renditions + thumbnail".into(),
        secs(min(&ffmpeg)),
        secs(median(&ffmpeg)),
        runs(&ffmpeg),
    ]);
    table.row(vec![
        "kanjian: upload request start → READY seen".into(),
        secs(min(&total)),
        secs(median(&total)),
        runs(&total),
    ]);
    table.row(vec![
        "  of which the upload request (until answered)".into(),
        secs(min(&request)),
        secs(median(&request)),
        runs(&request),
    ]);
    let overhead: Vec<f64> = total.iter().zip(&ffmpeg).map(|(k, f)| k - f).collect();
    table.row(vec![
        "kanjian − ffmpeg, run by run".into(),
        secs(min(&overhead)),
        secs(median(&overhead)),
        runs(&overhead),
    ]);
    table.row(vec![
        "ratio kanjian/ffmpeg".into(),
        ratio(min(&total), min(&ffmpeg)),
        ratio(median(&total), median(&ffmpeg)),
        String::new(),
    ]);
    table.note(format!(
        "ffmpeg baseline: the media crate's own command lines (x264 veryfast, fixed GOP of {} s segments, HLS {} + thumbnail), timed around the ffmpeg runs only",
        args.segment_seconds,
        plans.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(" + ")
    ));
    table.note("kanjian: the multipart uploadVideo mutation, then the videoProcessing subscription until READY; includes upload, probes, queueing, blob moves and database writes");
    let settings = vec![format!(
        "upload: {} s 1280x720 clip from lavfi testsrc + sine (x264 ultrafast, AAC), {:.1} MB; {} runs of each side, alternating, ffmpeg first; segment {} s",
        args.clip_seconds, size_mb, args.repeats, args.segment_seconds
    )];
    Ok((table, settings))
}

fn results_markdown(
    machine: &Machine,
    settings: &[String],
    tables: &[Table],
    elapsed: Duration,
) -> String {
    let mut out = format!(
        "# Kanjian benchmark, {}\n\n\
         Made by `scripts/bench/run` in {:.0} s; what each figure means is in `scripts/bench/README.md`. \
         Every figure stands beside a baseline measured in the same run on the same machine: compare \
         the ratios between machines and commits, not the absolute figures.\n\n## Machine\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        elapsed.as_secs_f64()
    );
    out.push_str(&machine.to_markdown());
    out.push_str("\n## Settings\n\n");
    for s in settings {
        out.push_str(&format!("- {s}\n"));
    }
    out.push_str("\n## Results\n\n");
    for t in tables {
        out.push_str(&t.to_markdown());
        out.push('\n');
    }
    out
}

//! Flash sale (issue 15): one SKU with `units` in stock, `buyers` signed-in people buying it at
//! once through GraphQL `buyNow` and paying each order (`payOrder`, then the provider), until
//! it is sold out; on PostgreSQL (a fresh database on `--postgres-url`) and on SQLite (a fresh
//! data dir), beside PostgreSQL's own hot-row ceiling measured by pgbench in the same run.
//!
//! Each buyer loops: `buyNow` with a new idempotency key per purchase (1 to `max_quantity`
//! units, 1 after an `INSUFFICIENT_STOCK` or `PURCHASE_LIMIT_EXCEEDED`), sent again with the
//! same key after a failed request, as a client does; on an order, `payOrder` and then pays at
//! the provider (the sandbox page's `POST /pay/sandbox/<token>`, or the WeChat Pay simulator's
//! `/_sim/orders/<out_trade_no>/pay`), or walks away from a share of them (`abandon`), whose
//! holds expire after the payment window; until `SOLD_OUT`, or until the per-person limit is
//! used up.
//!
//! After the sale it waits for the payments to be processed and for the abandoned holds to
//! expire, then reads the invariants from the database: every unit accounted for, one order per
//! idempotency key, one succeeded payment per paid order, nobody over the limit, nothing held.
//!
//! The chaos variant runs two kanjian processes on one PostgreSQL database, buyers spread over
//! both, kills one with SIGKILL once half the stock is held, and pays through the WeChat Pay
//! simulator, which delivers every payment notification `replays` times (through a small TCP
//! balancer in this process, so a dead node's notifications reach the other one, as a load
//! balancer would send them).
//!
//! Measures and prints; asserts nothing (the invariants are printed PASS or FAIL).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use futures::StreamExt as _;
use hdrhistogram::Histogram;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value as DbValue};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::api::Api;
use crate::load::{cpu_seconds, machine_busy_seconds};
use crate::report::{Table, load_average, ms, per_sec, ratio};
use crate::servers::{self, ChildServer};
use crate::world::{self, DatabaseKind, ScratchDatabase};

const BUY: &str = "mutation($i: BuyNowInput!) { buyNow(input: $i) { order { id state } userErrors { field message code } } }";
const PAY: &str = "mutation($i: PayOrderInput!) { payOrder(input: $i) { payment { id state providerReference payUrl qrCodeUrl amount { minor } } userErrors { field message code } } }";
const PRODUCT: &str = "query($id: ID!) { node(id: $id) { ... on Product { id purchaseLimit skus { id stock } } } }";
const ADDRESS: &str = "mutation($i: CreateAddressInput!) { createAddress(input: $i) { address { id } userErrors { field message code } } }";

/// The WeChat Pay simulator's merchant, as its tests configure it (the keys are the test keys in
/// `crates/commerce/tests/support/wechatpay/`).
const SIM_MCHID: &str = "1230000109";
const SIM_APPID: &str = "wxd678efh567hg6787";
const SIM_MERCHANT_SERIAL_NO: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const SIM_API_V3_KEY: &str = "kanjian-test-apiv3-key-32-bytes!";

/// The unit price, ¥9.90.
const PRICE: i64 = 990;

#[derive(Debug, Clone)]
pub struct FlashsaleSettings {
    /// The databases of the single-node sale, in order (empty: no single-node sale).
    pub databases: Vec<DatabaseKind>,
    /// Also the chaos variant (two nodes on PostgreSQL, one killed, WeChat Pay simulator).
    pub chaos: bool,
    pub units: i64,
    pub buyers: usize,
    pub limit: i64,
    pub max_quantity: i64,
    /// Share of orders whose buyer opens the payment and walks away (their holds expire).
    pub abandon: f64,
    /// Buyers never pay (no payOrder): buyNow alone, a diagnostic of the hot path.
    pub no_pay: bool,
    pub payment_window_secs: u64,
    /// The payment window of the chaos variant: longer, as retries after the crash wait for
    /// the dead node's idempotency claims to lapse (60 s).
    pub chaos_payment_window_secs: u64,
    pub pgbench_clients: Vec<usize>,
    pub pgbench_seconds: u64,
    /// Deliveries of each payment notification in the chaos variant.
    pub replays: u32,
    pub postgres_url: String,
    pub workers: usize,
    /// kanjian's PostgreSQL pool (`database.max_connections`); `None`: its default.
    pub pool: Option<u32>,
    pub simulator_bin: Option<PathBuf>,
    /// Where the simulator's test keys are.
    pub keys_dir: PathBuf,
}

impl FlashsaleSettings {
    /// The limit by default: 1.2× a fair share, so the sale can sell out while the fastest
    /// buyers reach the limit.
    pub fn default_limit(units: i64, buyers: usize) -> i64 {
        let buyers = buyers.max(1) as i64;
        ((units * 6 + buyers * 5 - 1) / (buyers * 5)).max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// A GraphQL call that did not give data.
#[derive(Debug, Clone)]
enum Fail {
    /// Not answered: refused, reset, timed out.
    Transport(String),
    /// Answered with a status other than 2xx.
    Status(u16, String),
    /// Answered 200 with top-level `errors`.
    Errors(String),
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::Status(s, body) => write!(f, "HTTP {s}: {body}"),
            Self::Errors(e) => write!(f, "GraphQL errors: {e}"),
        }
    }
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(300).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// The full chain of a reqwest error (its Display alone says little).
fn chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

async fn gql(http: &reqwest::Client, base: &str, token: &str, query: &str, variables: Value) -> std::result::Result<Value, Fail> {
    let response = http
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .map_err(|e| Fail::Transport(chain(&e)))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| Fail::Transport(chain(&e)))?;
    if !status.is_success() {
        return Err(Fail::Status(status.as_u16(), clip(&text)));
    }
    let body: Value = serde_json::from_str(&text).map_err(|_| Fail::Status(status.as_u16(), clip(&text)))?;
    if let Some(errors) = body.get("errors") {
        return Err(Fail::Errors(clip(&errors.to_string())));
    }
    Ok(body["data"].clone())
}

/// The number inside a global id (`base64("Order:12")` → 12).
fn global_number(id: &str) -> Option<i64> {
    use base64::Engine as _;
    let raw = id.trim_end_matches('=');
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw))
        .ok()?;
    String::from_utf8_lossy(&decoded).rsplit(':').next()?.parse().ok()
}

fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// xorshift64*: each buyer's quantities and walk-aways, reproducible per buyer.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// 1..=n
    fn upto(&mut self, n: i64) -> i64 {
        1 + (self.next() % n.max(1) as u64) as i64
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

fn histogram() -> Histogram<u64> {
    // µs, 1 µs to 10 min.
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

fn q_ms(h: &Histogram<u64>, q: f64) -> String {
    if h.is_empty() { "–".into() } else { ms(h.value_at_quantile(q) as f64 / 1000.0) }
}

fn p50_p99(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        "–".into()
    } else {
        format!("{} / {}", q_ms(h, 0.5), q_ms(h, 0.99))
    }
}

fn secs1(s: f64) -> String {
    if s.is_finite() { format!("{s:.1}") } else { "–".into() }
}

fn group(n: i64) -> String {
    world::group(n)
}

// ---------------------------------------------------------------------------------------------
// The database, read directly (set-up of sessions, the sampler, the invariants)

struct Db {
    conn: DatabaseConnection,
    backend: DbBackend,
}

impl Db {
    async fn open(url: &str) -> Result<Self> {
        let conn = world::connect(url, 2).await?;
        let backend = conn.get_database_backend();
        Ok(Self { conn, backend })
    }

    async fn scalar(&self, sql: &str) -> Result<i64> {
        let row = self
            .conn
            .query_one_raw(Statement::from_string(self.backend, sql.to_owned()))
            .await
            .with_context(|| sql.to_owned())?;
        Ok(row.and_then(|r| r.try_get_by_index::<Option<i64>>(0).ok().flatten()).unwrap_or(0))
    }

    /// The first column of every row, as text.
    async fn strings(&self, sql: &str) -> Result<Vec<String>> {
        let rows = self.conn.query_all_raw(Statement::from_string(self.backend, sql.to_owned())).await.with_context(|| sql.to_owned())?;
        rows.iter().map(|r| r.try_get_by_index::<String>(0).with_context(|| sql.to_owned())).collect()
    }

    /// `(text, count)` rows, as a `SELECT x, COUNT(*) … GROUP BY x` answers.
    async fn counts(&self, sql: &str) -> Result<Vec<(String, i64)>> {
        let rows = self.conn.query_all_raw(Statement::from_string(self.backend, sql.to_owned())).await.with_context(|| sql.to_owned())?;
        Ok(rows.iter().filter_map(|r| Some((r.try_get_by_index::<String>(0).ok()?, r.try_get_by_index::<i64>(1).ok()?))).collect())
    }

    async fn sku(&self) -> Result<(i64, i64, i64)> {
        let row = self
            .conn
            // With the payments' moves kanjian has not folded into the row yet, as kanjian reads it.
            .query_one_raw(Statement::from_string(
                self.backend,
                "SELECT s.stock, CAST(s.held - COALESCE(SUM(m.units), 0) AS BIGINT), CAST(s.sold + COALESCE(SUM(m.units), 0) AS BIGINT) \
                 FROM commerce_skus s LEFT JOIN commerce_sku_moves m ON m.sku_id = s.id GROUP BY s.id, s.stock, s.held, s.sold ORDER BY s.id LIMIT 1"
                    .to_owned(),
            ))
            .await
            .context("reading the SKU")?
            .context("no SKU")?;
        Ok((get(&row, 0)?, get(&row, 1)?, get(&row, 2)?))
    }

    async fn orders_in(&self, state: &str) -> Result<i64> {
        self.scalar(&format!("SELECT COUNT(*) FROM commerce_orders WHERE state = '{state}'")).await
    }

    /// Sessions for users 1..=n (seeded by `kanjian seed`), written as identity writes them: the
    /// SHA-256 hex of a `kj_` token. Returns the tokens.
    async fn sessions(&self, n: usize) -> Result<Vec<String>> {
        let random = random_bytes(24 * n)?;
        let tokens: Vec<String> = (0..n).map(|i| format!("kj_{}", hex(&random[24 * i..24 * (i + 1)]))).collect();
        let now = chrono::Utc::now();
        let expires = now + chrono::Duration::days(30);
        for (chunk_no, chunk) in tokens.chunks(500).enumerate() {
            let mut sql = String::from("INSERT INTO identity_sessions (user_id, token_hash, created_at, expires_at) VALUES ");
            let mut values: Vec<DbValue> = Vec::with_capacity(chunk.len() * 2);
            let mut param = 0;
            let mut next = |backend: DbBackend| {
                param += 1;
                match backend {
                    DbBackend::Postgres => format!("${param}"),
                    _ => "?".to_owned(),
                }
            };
            for (k, token) in chunk.iter().enumerate() {
                let user = chunk_no * 500 + k + 1;
                let hash = hex(&sha2::Sha256::digest(token.as_bytes()));
                if k > 0 {
                    sql.push(',');
                }
                let (a, b) = (next(self.backend), next(self.backend));
                sql.push_str(&format!("({user}, '{hash}', {a}, {b})"));
                values.push(now.into());
                values.push(expires.into());
            }
            self.conn
                .execute_raw(Statement::from_sql_and_values(self.backend, sql, values))
                .await
                .context("inserting sessions")?;
        }
        Ok(tokens)
    }
}

fn get<T: sea_orm::TryGetable>(row: &sea_orm::QueryResult, i: usize) -> Result<T> {
    row.try_get_by_index::<T>(i).map_err(|e| anyhow::anyhow!("reading column {i}: {e:?}"))
}

/// One look at the sale from the database.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_ms: f64,
    stock: i64,
    held: i64,
    sold: i64,
    paid: i64,
    /// Outbox work waiting: events not fanned out yet plus deliveries pending.
    backlog: i64,
}

// ---------------------------------------------------------------------------------------------
// pgbench: PostgreSQL's own hot-row ceiling

#[derive(Debug, Clone)]
struct PgbenchRow {
    clients: usize,
    decrements_per_sec: f64,
    tps: Option<f64>,
    latency_ms: Option<f64>,
    machine_cores: Option<f64>,
}

#[derive(Debug, Clone, Default)]
struct Pgbench {
    rows: Vec<PgbenchRow>,
    version: String,
    error: Option<String>,
}

impl Pgbench {
    fn at(&self, clients: usize) -> Option<&PgbenchRow> {
        self.rows.iter().find(|r| r.clients == clients)
    }
    fn best(&self) -> Option<&PgbenchRow> {
        self.rows.iter().max_by(|a, b| a.decrements_per_sec.total_cmp(&b.decrements_per_sec))
    }
}

fn pgbench_number(out: &str, prefix: &str) -> Option<f64> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

async fn pgbench(settings: &FlashsaleSettings, work: &Path) -> Pgbench {
    match pgbench_sweep(settings, work).await {
        Ok(p) => p,
        Err(e) => {
            println!("    pgbench baseline failed: {e:#}");
            Pgbench { error: Some(format!("{e:#}")), ..Pgbench::default() }
        }
    }
}

async fn pgbench_sweep(settings: &FlashsaleSettings, work: &Path) -> Result<Pgbench> {
    let version = std::process::Command::new("pgbench")
        .arg("--version")
        .output()
        .context("running pgbench (install postgresql-client; scripts/bench/run does)")?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let scratch = ScratchDatabase::create(&settings.postgres_url, "pgbench").await?;
    println!("==> pgbench baseline on {} ({version}): one row, `UPDATE bench_stock SET stock = stock - 1 WHERE id = 1 AND stock > 0`", scratch.name);
    let outcome = async {
        let db = world::connect(&scratch.url, 1).await?;
        db.execute_unprepared("CREATE TABLE bench_stock (id int PRIMARY KEY, stock bigint NOT NULL)").await?;
        db.execute_unprepared("INSERT INTO bench_stock VALUES (1, 1000000000)").await?;
        let script = work.join("flashsale-pgbench.sql");
        std::fs::write(&script, "UPDATE bench_stock SET stock = stock - 1 WHERE id = 1 AND stock > 0;\n").context("writing the pgbench script")?;
        let stock = |db: &DatabaseConnection| {
            let db = db.clone();
            async move {
                let row = db
                    .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT stock FROM bench_stock WHERE id = 1".to_owned()))
                    .await?
                    .context("no row")?;
                get::<i64>(&row, 0)
            }
        };
        let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let mut rows = Vec::new();
        for &clients in &settings.pgbench_clients {
            db.execute_unprepared("VACUUM bench_stock").await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = stock(&db).await?;
            let busy = machine_busy_seconds();
            let args = [
                "-n".to_owned(),
                "-M".into(),
                "prepared".into(),
                "-c".into(),
                clients.to_string(),
                "-j".into(),
                clients.min(nproc).to_string(),
                "-T".into(),
                settings.pgbench_seconds.to_string(),
                "-f".into(),
                script.display().to_string(),
                scratch.url.clone(),
            ];
            let started = Instant::now();
            let output = tokio::process::Command::new("pgbench").args(&args).output().await.context("running pgbench")?;
            let wall = started.elapsed().as_secs_f64();
            let machine_cores = busy.zip(machine_busy_seconds()).map(|(a, b)| (b - a) / wall);
            let out = String::from_utf8_lossy(&output.stdout).into_owned();
            if !output.status.success() {
                bail!("pgbench -c {clients} failed: {}{}", out, String::from_utf8_lossy(&output.stderr));
            }
            let after = stock(&db).await?;
            let row = PgbenchRow {
                clients,
                decrements_per_sec: (before - after) as f64 / settings.pgbench_seconds as f64,
                tps: pgbench_number(&out, "tps ="),
                latency_ms: pgbench_number(&out, "latency average ="),
                machine_cores,
            };
            println!(
                "    {clients:>3} clients: {} decrements/s (pgbench tps {}, latency {} ms)",
                per_sec(row.decrements_per_sec),
                row.tps.map_or("?".into(), per_sec),
                row.latency_ms.map_or("?".into(), ms)
            );
            rows.push(row);
        }
        db.close().await.ok();
        anyhow::Ok(rows)
    }
    .await;
    if let Err(e) = scratch.drop().await {
        println!("    could not drop the pgbench database: {e:#}");
    }
    Ok(Pgbench { rows: outcome?, version, error: None })
}

// ---------------------------------------------------------------------------------------------
// The buyers

/// How buyers pay an order at the provider.
#[derive(Debug, Clone)]
enum Provider {
    /// The sandbox page: `POST /pay/sandbox/<token>` with `decision=pay`.
    Sandbox,
    /// The WeChat Pay simulator's payer: `POST /_sim/orders/<out_trade_no>/pay`.
    Simulator { base: String },
}

#[derive(Default)]
struct Tally {
    holds: u64,
    held_units: u64,
    sold_out: u64,
    insufficient: u64,
    limit_refusals: u64,
    limit_reached: u64,
    other_refusals: BTreeMap<String, u64>,
    transport_failures: u64,
    server_errors: u64,
    graphql_errors: u64,
    in_progress: u64,
    gave_up: u64,
    /// Holds answered after at least one failed request with the same key.
    retried_holds: u64,
    paid: u64,
    abandoned: u64,
    pay_refusals: BTreeMap<String, u64>,
    pay_failures: u64,
    first_errors: Vec<String>,
    /// Idempotency key → the order it answered (every answer for it, to see they agree).
    keys: HashMap<String, HashSet<i64>>,
    first_hold_ms: f64,
    last_hold_ms: f64,
    /// When each hold was answered.
    hold_at_ms: Vec<f64>,
    /// When each buyer who got `SOLD_OUT` got it.
    sold_out_at_ms: Vec<f64>,
    /// When each buyer stopped.
    done_at_ms: Vec<f64>,
}

impl Tally {
    fn error(&mut self, e: String) {
        if self.first_errors.len() < 8 {
            self.first_errors.push(e);
        }
    }
}

struct Latencies {
    held: Histogram<u64>,
    held_end_to_end: Histogram<u64>,
    sold_out: Histogram<u64>,
    refused: Histogram<u64>,
    pay_order: Histogram<u64>,
    provider_pay: Histogram<u64>,
}

struct Sale {
    http: reqwest::Client,
    /// Calls to the WeChat Pay simulator in flight at most.
    simulator_slots: tokio::sync::Semaphore,
    nodes: Vec<String>,
    /// Nodes a request failed to reach lately: the buyer moves to the next one.
    tokens: Vec<String>,
    addresses: Vec<String>,
    product: String,
    sku: String,
    provider: Provider,
    provider_name: Option<&'static str>,
    max_quantity: i64,
    abandon: f64,
    /// Whether the schema has `payOrder`.
    can_pay: bool,
    run: String,
    start: tokio::sync::watch::Receiver<bool>,
    t0: Mutex<Option<Instant>>,
    tally: Mutex<Tally>,
    latencies: Mutex<Latencies>,
    units_held: AtomicI64,
    active: AtomicUsize,
}

impl Sale {
    fn now_ms(&self) -> f64 {
        self.t0.lock().unwrap_or_else(|e| e.into_inner()).map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0)
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, pick: impl FnOnce(&mut Latencies) -> &mut Histogram<u64>, took: Duration) {
        let mut l = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
        let _ = pick(&mut l).record((took.as_micros() as u64).max(1));
    }

    /// Sends `query` until it is answered with data, with the same variables (so the same
    /// idempotency key): on a failed request it moves to the next node and tries again, on
    /// `IN_PROGRESS` it waits a second. Gives up after two minutes or ten failed requests in a
    /// row. Returns the payload (the mutation's field), the last request's time, the whole time
    /// and whether a request failed on the way.
    async fn call(&self, node: &mut usize, token: &str, query: &str, field: &str, input: &Value) -> std::result::Result<(Value, Duration, Duration, bool), Fail> {
        let started = Instant::now();
        let mut failures = 0;
        let mut retried = false;
        loop {
            let base = &self.nodes[*node % self.nodes.len()];
            let sent = Instant::now();
            let outcome = gql(&self.http, base, token, query, json!({ "i": input })).await;
            let took = sent.elapsed();
            let fail = match outcome {
                Ok(data) => {
                    let payload = data[field].clone();
                    let in_progress = payload["userErrors"].as_array().is_some_and(|e| e.iter().any(|e| e["code"] == "IN_PROGRESS"));
                    if !in_progress {
                        return Ok((payload, took, started.elapsed(), retried));
                    }
                    self.tally().in_progress += 1;
                    retried = true;
                    if started.elapsed() > Duration::from_secs(150) {
                        return Err(Fail::Errors(format!("{field}: still IN_PROGRESS after 150 s")));
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(fail) => fail,
            };
            failures += 1;
            retried = true;
            {
                let mut t = self.tally();
                match &fail {
                    Fail::Transport(_) => t.transport_failures += 1,
                    Fail::Status(..) => t.server_errors += 1,
                    Fail::Errors(_) => t.graphql_errors += 1,
                }
                t.error(format!("{field} on {base}: {fail}"));
            }
            // Elsewhere next time: in the chaos variant the other node; alone, the same one.
            *node += 1;
            if failures >= 10 || started.elapsed() > Duration::from_secs(120) {
                return Err(fail);
            }
            tokio::time::sleep(Duration::from_millis(100 * failures.min(10))).await;
        }
    }

    async fn pay_at_provider(&self, node: &mut usize, payment: &Value) -> std::result::Result<(), String> {
        for attempt in 0..10u64 {
            let sent = Instant::now();
            let outcome = match &self.provider {
                Provider::Sandbox => {
                    let url = payment["payUrl"].as_str().ok_or("the payment has no payUrl")?;
                    let token = url.rsplit('/').next().unwrap_or_default();
                    let base = &self.nodes[*node % self.nodes.len()];
                    match self
                        .http
                        .post(format!("{base}/pay/sandbox/{token}"))
                        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body("decision=pay")
                        .send()
                        .await
                    {
                        Ok(r) => {
                            let status = r.status();
                            let text = r.text().await.unwrap_or_default();
                            if status.is_success() && text.contains("id=\"result\">已支付") {
                                Ok(())
                            } else if status.is_success() || status.is_client_error() {
                                // Closed, failed, refunded or not found: paying again will not help.
                                return Err(format!("the sandbox page answered {status}: {}", clip(&text)));
                            } else {
                                Err(format!("the sandbox page answered {status}"))
                            }
                        }
                        Err(e) => Err(chain(&e)),
                    }
                }
                Provider::Simulator { base } => {
                    let no = payment["providerReference"].as_str().ok_or("the payment has no providerReference")?;
                    // The payers' side is not what is measured: a few at a time, so the
                    // simulator (one worker) is not flooded with connections.
                    let _slot = self.simulator_slots.acquire().await;
                    match self.http.post(format!("{base}/_sim/orders/{no}/pay")).header(reqwest::header::CONTENT_TYPE, "application/json").body("{}").send().await {
                        Ok(r) if r.status().is_success() => Ok(()),
                        // Not payable: paid already (an earlier try of ours went through), or
                        // closed: the simulator's own record says which.
                        Ok(r) if r.status().as_u16() == 409 => {
                            let order = control(&self.http, base, "GET", &format!("/_sim/orders/{no}"), Value::Null).await.map(|(_, v)| v).unwrap_or(Value::Null);
                            match order["trade_state"].as_str() {
                                Some("SUCCESS" | "REFUND") => Ok(()),
                                state => return Err(format!("the simulator's order {no} is not payable ({state:?})")),
                            }
                        }
                        Ok(r) => {
                            let status = r.status();
                            return Err(format!("the simulator answered {status}: {}", clip(&r.text().await.unwrap_or_default())));
                        }
                        Err(e) => Err(chain(&e)),
                    }
                }
            };
            match outcome {
                Ok(()) => {
                    self.record(|l| &mut l.provider_pay, sent.elapsed());
                    return Ok(());
                }
                Err(e) => {
                    self.tally().error(format!("paying at the provider: {e}"));
                    *node += 1;
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                }
            }
        }
        Err("paying at the provider failed ten times".into())
    }
}

async fn buyer(sale: Arc<Sale>, i: usize) {
    let mut rng = Rng::new(i as u64 + 1);
    let mut node = i;
    let token = sale.tokens[i].clone();
    // Opens the product page before the sale starts (and so a connection, as the app has one).
    let _ = gql(&sale.http, &sale.nodes[node % sale.nodes.len()], &token, PRODUCT, json!({ "id": sale.product })).await;
    let mut start = sale.start.clone();
    if start.wait_for(|go| *go).await.is_err() {
        return;
    }
    let mut single = false;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let key = format!("fs-{}-{i}-{attempt}", sale.run);
        let quantity = if single { 1 } else { rng.upto(sale.max_quantity) };
        let input = json!({
            "skuId": sale.sku, "quantity": quantity, "addressId": sale.addresses[i],
            "attribution": { "source": "SHOP" }, "seenUnitPrice": PRICE, "idempotencyKey": key,
        });
        let (payload, took, whole, retried) = match sale.call(&mut node, &token, BUY, "buyNow", &input).await {
            Ok(answer) => answer,
            Err(fail) => {
                let mut t = sale.tally();
                t.gave_up += 1;
                t.error(format!("buyer {i} gave up on buyNow: {fail}"));
                break;
            }
        };
        let at = sale.now_ms();
        if let Some(order) = payload["order"]["id"].as_str() {
            let order_id = global_number(order).unwrap_or(-1);
            sale.units_held.fetch_add(quantity, Ordering::Relaxed);
            sale.record(|l| &mut l.held, took);
            sale.record(|l| &mut l.held_end_to_end, whole);
            {
                let mut t = sale.tally();
                t.holds += 1;
                t.held_units += quantity as u64;
                if retried {
                    t.retried_holds += 1;
                }
                if t.holds == 1 || at < t.first_hold_ms {
                    t.first_hold_ms = at;
                }
                t.last_hold_ms = t.last_hold_ms.max(at);
                t.hold_at_ms.push(at);
                t.keys.entry(key.clone()).or_default().insert(order_id);
            }
            single = false;
            pay(&sale, &mut node, &token, order, &key, &mut rng).await;
            continue;
        }
        let code = payload["userErrors"][0]["code"].as_str().unwrap_or("NONE").to_owned();
        match code.as_str() {
            "SOLD_OUT" => {
                sale.record(|l| &mut l.sold_out, took);
                let mut t = sale.tally();
                t.sold_out += 1;
                t.sold_out_at_ms.push(at);
                break;
            }
            "INSUFFICIENT_STOCK" => {
                sale.record(|l| &mut l.refused, took);
                sale.tally().insufficient += 1;
                single = true;
            }
            "PURCHASE_LIMIT_EXCEEDED" => {
                sale.record(|l| &mut l.refused, took);
                let mut t = sale.tally();
                t.limit_refusals += 1;
                if quantity == 1 {
                    t.limit_reached += 1;
                    break;
                }
                single = true;
            }
            other => {
                sale.record(|l| &mut l.refused, took);
                let mut t = sale.tally();
                *t.other_refusals.entry(other.to_owned()).or_default() += 1;
                t.error(format!("buyer {i}: buyNow refused: {payload}"));
                break;
            }
        }
    }
    let at = sale.now_ms();
    sale.tally().done_at_ms.push(at);
    sale.active.fetch_sub(1, Ordering::Relaxed);
}

async fn pay(sale: &Sale, node: &mut usize, token: &str, order: &str, key: &str, rng: &mut Rng) {
    if !sale.can_pay {
        sale.tally().abandoned += 1;
        return;
    }
    let mut input = json!({ "orderId": order, "idempotencyKey": format!("pay-{key}") });
    if let Some(provider) = sale.provider_name {
        input["provider"] = json!(provider);
    }
    // The provider may be briefly unavailable (PAYMENT_UNAVAILABLE gives the key back): again.
    for _ in 0..5 {
        let (payload, took, _, _) = match sale.call(node, token, PAY, "payOrder", &input).await {
            Ok(answer) => answer,
            Err(fail) => {
                let mut t = sale.tally();
                t.pay_failures += 1;
                t.error(format!("payOrder gave up: {fail}"));
                return;
            }
        };
        sale.record(|l| &mut l.pay_order, took);
        if payload["payment"].is_object() {
            if rng.chance(sale.abandon) {
                sale.tally().abandoned += 1;
                return;
            }
            match sale.pay_at_provider(node, &payload["payment"]).await {
                Ok(()) => sale.tally().paid += 1,
                Err(e) => {
                    let mut t = sale.tally();
                    t.pay_failures += 1;
                    t.error(e);
                }
            }
            return;
        }
        let code = payload["userErrors"][0]["code"].as_str().unwrap_or("NONE").to_owned();
        *sale.tally().pay_refusals.entry(code.clone()).or_default() += 1;
        if code != "PAYMENT_UNAVAILABLE" {
            sale.tally().error(format!("payOrder refused: {payload}"));
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sale.tally().pay_failures += 1;
}

// ---------------------------------------------------------------------------------------------
// A TCP balancer for the providers' notifications (chaos): each connection to the first node
// that accepts it, round-robin.

async fn balancer(listener: tokio::net::TcpListener, backends: Vec<SocketAddr>) {
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else { return };
        let backends = backends.clone();
        let next = next.clone();
        tokio::spawn(async move {
            let first = next.fetch_add(1, Ordering::Relaxed);
            for k in 0..backends.len() {
                let to = backends[(first + k) % backends.len()];
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    return;
                }
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// One sale

/// What kind of sale, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single(DatabaseKind),
    Chaos,
}

impl Kind {
    fn label(self) -> String {
        match self {
            Self::Single(db) => db.label().to_owned(),
            Self::Chaos => "chaos: 2 nodes on PostgreSQL, one SIGKILLed".to_owned(),
        }
    }
    fn short(self) -> &'static str {
        match self {
            Self::Single(DatabaseKind::Postgres) => "PostgreSQL",
            Self::Single(DatabaseKind::Sqlite) => "SQLite",
            Self::Chaos => "chaos (PostgreSQL, 2 nodes)",
        }
    }
}

struct Invariant {
    what: String,
    value: String,
    pass: bool,
    /// Not an invariant: something worth reading beside them.
    note: bool,
}

fn check(out: &mut Vec<Invariant>, what: impl Into<String>, value: impl Into<String>, pass: bool) {
    out.push(Invariant { what: what.into(), value: value.into(), pass, note: false });
}

fn observe(out: &mut Vec<Invariant>, what: impl Into<String>, value: impl Into<String>) {
    out.push(Invariant { what: what.into(), value: value.into(), pass: true, note: true });
}

fn verdict(i: &Invariant) -> &'static str {
    match (i.note, i.pass) {
        (true, _) => "note",
        (false, true) => "PASS",
        (false, false) => "FAIL",
    }
}

/// What the PostgreSQL sampler saw: samples, and per state or statement how many sessions.
#[derive(Default)]
struct Waits {
    samples: u64,
    states: BTreeMap<String, u64>,
    statements: BTreeMap<String, u64>,
}

/// What one sale measured.
struct Outcome {
    kind: Kind,
    holds: u64,
    held_units: u64,
    last_hold_s: f64,
    paid_orders: i64,
    paid_all_s: f64,
    /// From the database's samples: when stock first read 0, the most units held at once, and
    /// when `sold` reached its value after the sale.
    stock_zero_s: Option<f64>,
    peak_held: i64,
    /// Outbox events not fanned out plus deliveries pending: the most at once, and at the last hold.
    peak_backlog: i64,
    backlog_at_last_hold: i64,
    /// Orders PAID when the last hold was answered.
    paid_at_last_hold: i64,
    last_sold_s: Option<f64>,
    sold_out_first_after_s: Option<f64>,
    all_told_s: Option<f64>,
    latencies: Latencies,
    tally: Tally,
    server_cores: Option<f64>,
    client_cores: Option<f64>,
    rest_cores: Option<f64>,
    load: Option<f64>,
    invariants: Vec<Invariant>,
    /// PostgreSQL only: samples taken, and (what kanjian's sessions did, average sessions).
    waits: (u64, Vec<(String, f64)>),
    /// PostgreSQL only: the statements kanjian's active sessions ran, most first (average sessions).
    statements: Vec<(String, f64)>,
    chaos: Vec<(String, String)>,
    notes: Vec<String>,
}

impl Outcome {
    fn holds_per_sec(&self) -> f64 {
        self.holds as f64 / (self.last_hold_s.max(1e-3))
    }
    fn units_per_sec(&self) -> f64 {
        self.held_units as f64 / (self.last_hold_s.max(1e-3))
    }
    fn paid_per_sec(&self) -> f64 {
        self.paid_orders as f64 / self.paid_all_s.max(1e-3)
    }
    fn all_pass(&self) -> bool {
        self.invariants.iter().all(|i| i.pass)
    }
}

/// The configuration file of a chaos node: the simulator as its WeChat Pay, and the sandbox's
/// shared key.
fn chaos_config(sim: &SimInfo, keys: &Path, secret: &str) -> Result<String> {
    let private = std::fs::read_to_string(keys.join("merchant_private_key.pem")).with_context(|| format!("reading {}", keys.join("merchant_private_key.pem").display()))?;
    Ok(format!(
        "[commerce]\nsandbox_secret = \"{secret}\"\n\n[commerce.wechatpay]\nmchid = \"{SIM_MCHID}\"\nappid = \"{SIM_APPID}\"\n\
         merchant_serial_no = \"{SIM_MERCHANT_SERIAL_NO}\"\nmerchant_private_key = \"\"\"\n{}\"\"\"\napi_v3_key = \"{SIM_API_V3_KEY}\"\n\
         platform_public_key = \"\"\"\n{}\"\"\"\nplatform_public_key_id = \"{}\"\nbase_url = \"{}\"\n",
        private.trim_end(),
        sim.public_key.trim_end(),
        sim.public_key_id,
        sim.base_url
    ))
}

struct SimInfo {
    base_url: String,
    public_key: String,
    public_key_id: String,
}

async fn start_simulator(settings: &FlashsaleSettings, work: &Path, http: &reqwest::Client) -> Result<(ChildServer, SimInfo)> {
    let bin = servers::sibling_binary(settings.simulator_bin.as_deref(), "wechatpay-simulator").context(
        "the chaos variant needs the WeChat Pay simulator: cargo build --release --locked -p kanjian-commerce --features wechatpay-simulator --bin wechatpay-simulator (scripts/bench/run does)",
    )?;
    let addr = servers::free_port()?;
    let ready = work.join("wechatpay-sim-ready.json");
    let _ = std::fs::remove_file(&ready);
    let mut command = std::process::Command::new(bin);
    command
        .args(["--listen", &addr.to_string(), "--mchid", SIM_MCHID, "--appid", SIM_APPID, "--merchant-serial-no", SIM_MERCHANT_SERIAL_NO])
        .arg("--merchant-public-key")
        .arg(settings.keys_dir.join("merchant_public_key.pem"))
        .args(["--api-v3-key", SIM_API_V3_KEY, "--retry-schedule-ms", "1000,2000,5000,10000,15000,30000,60000,60000,60000,120000"])
        .arg("--ready-file")
        .arg(&ready)
        .env("RUST_LOG", "warn");
    let mut sim = servers::spawn_other("wechatpay-simulator", command, addr, &work.join("wechatpay-simulator.log"))?;
    sim.wait_ready(http, "/_sim/health", Duration::from_secs(60)).await?;
    let mut info: Option<Value> = None;
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            info = serde_json::from_str(&text).ok();
            if info.is_some() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let info = info.context("the simulator wrote no ready file")?;
    let sim_info = SimInfo {
        base_url: info["base_url"].as_str().context("no base_url")?.trim_end_matches('/').to_owned(),
        public_key: info["platform_public_key"].as_str().context("no platform_public_key")?.to_owned(),
        public_key_id: info["platform_public_key_id"].as_str().context("no platform_public_key_id")?.to_owned(),
    };
    Ok((sim, sim_info))
}

async fn sale(settings: &FlashsaleSettings, kind: Kind, kanjian_bin: &Path, work: &Path) -> Result<Outcome> {
    let tag = match kind {
        Kind::Single(DatabaseKind::Postgres) => "pg",
        Kind::Single(DatabaseKind::Sqlite) => "sqlite",
        Kind::Chaos => "chaos",
    };
    let dir = work.join(format!("flashsale-{tag}"));
    std::fs::create_dir_all(&dir).context("creating the sale's dir")?;
    let (scratch, url) = match kind {
        Kind::Single(DatabaseKind::Sqlite) => (None, format!("sqlite://{}?mode=rwc", dir.join("node-a").join("kanjian.sqlite").display())),
        _ => {
            let scratch = ScratchDatabase::create(&settings.postgres_url, "flashsale").await?;
            println!("==> created the database {} for the sale", scratch.name);
            let url = scratch.url.clone();
            (Some(scratch), url)
        }
    };
    let outcome = sale_on(settings, kind, kanjian_bin, &dir, &url).await;
    if let Some(scratch) = scratch {
        scratch.drop_and_say().await;
    }
    outcome
}

async fn sale_on(settings: &FlashsaleSettings, kind: Kind, kanjian_bin: &Path, dir: &Path, url: &str) -> Result<Outcome> {
    let chaos = kind == Kind::Chaos;
    let window = if chaos { settings.chaos_payment_window_secs } else { settings.payment_window_secs };
    println!(
        "==> flash sale on {}: {} units, {} buyers, limit {} a person, 1–{} a purchase, {:.0} % of orders left unpaid, payment window {} s",
        kind.label(),
        group(settings.units),
        settings.buyers,
        settings.limit,
        settings.max_quantity,
        settings.abandon * 100.0,
        window
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(settings.buyers + 64)
        .build()
        .context("an HTTP client")?;
    let setup = Instant::now();

    // Buyers: seeded accounts (one password hash for all) with sessions written beside them.
    let node_dirs = [dir.join("node-a"), dir.join("node-b")];
    let mut seed = servers::kanjian_command(kanjian_bin, &node_dirs[0], Some(url))?;
    seed.args(["seed", "--users", &settings.buyers.to_string()])
        .args(["--avg-friends", "0", "--channel-share", "0", "--videos", "0", "--avg-follows", "0", "--reactions", "0", "--views-per-user", "0"])
        .env("KANJIAN_LOG__FILTER", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(dir.join("seed.log"))?)
        .stderr(std::fs::File::create(dir.join("seed.err.log"))?);
    let status = tokio::task::spawn_blocking(move || seed.status()).await.context("kanjian seed")??;
    if !status.success() {
        bail!("kanjian seed failed ({status}): {}", std::fs::read_to_string(dir.join("seed.err.log")).unwrap_or_default());
    }
    let db = Db::open(url).await?;
    let tokens = db.sessions(settings.buyers).await?;
    println!("    {} buyers seeded with sessions in {:.1} s", settings.buyers, setup.elapsed().as_secs_f64());

    // The servers.
    let mut env = vec![
        ("KANJIAN_LIVE__INGEST__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("KANJIAN_IDENTITY__SIGN_UPS_PER_IP".to_owned(), "[]".to_owned()),
        ("KANJIAN_COMMERCE__PAYMENT_WINDOW_SECS".to_owned(), window.to_string()),
    ];
    if let Some(pool) = settings.pool {
        env.push(("KANJIAN_DATABASE__MAX_CONNECTIONS".to_owned(), pool.to_string()));
    }
    let mut simulator = None;
    let mut provider = Provider::Sandbox;
    let mut provider_name = None;
    let mut balancer_task = None;
    if chaos {
        let (sim, info) = start_simulator(settings, dir, &http).await?;
        let (status, _) = control(&http, &info.base_url, "PUT", "/_sim/faults/notifications", json!({ "duplicate": settings.replays })).await?;
        if status != 200 {
            bail!("the simulator refused the duplicate fault ({status})");
        }
        println!("==> WeChat Pay simulator on {} (every notification delivered {} times)", info.base_url, settings.replays);
        let secret = hex(&random_bytes(32)?);
        for d in &node_dirs {
            std::fs::create_dir_all(d)?;
            std::fs::write(d.join("kanjian.toml"), chaos_config(&info, &settings.keys_dir, &secret)?).context("writing kanjian.toml")?;
        }
        provider = Provider::Simulator { base: info.base_url.clone() };
        provider_name = Some("wechatpay");
        simulator = Some(sim);
    }
    let node_count = if chaos { 2 } else { 1 };
    // The balancer's port first: it is the nodes' public URL (notify_url), and it forwards to
    // the nodes once they run.
    let mut balancer_listener = None;
    if chaos {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("the balancer's port")?;
        let public = format!("http://{}", listener.local_addr()?);
        env.push(("KANJIAN_HTTP__PUBLIC_URL".to_owned(), public.clone()));
        println!("    notifications reach the nodes through a TCP balancer at {public}");
        balancer_listener = Some(listener);
    }
    let mut nodes: Vec<ChildServer> = Vec::new();
    for (k, d) in node_dirs.iter().take(node_count).enumerate() {
        let server = servers::spawn_kanjian(kanjian_bin, d, Some(url), &dir.join(format!("kanjian-{k}.log")), settings.workers, 4, &env)?;
        nodes.push(server);
    }
    if let Some(listener) = balancer_listener {
        balancer_task = Some(tokio::spawn(balancer(listener, nodes.iter().map(|n| n.addr).collect())));
    }
    for node in &mut nodes {
        node.wait_ready(&http, "/readyz", Duration::from_secs(120)).await?;
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.url("")).collect();
    println!(
        "==> kanjian on {} (pids {})",
        bases.join(" and "),
        nodes.iter().map(|n| n.pid().to_string()).collect::<Vec<_>>().join(", ")
    );

    // A seeded session works, or nothing below will.
    let viewer = gql(&http, &bases[0], &tokens[0], "query { viewer { id } }", json!({})).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !viewer["viewer"]["id"].is_string() {
        bail!("a session written into identity_sessions is not accepted: {viewer}");
    }

    // payOrder as the bench expects it, or buyers cannot pay.
    let mutations = gql(&http, &bases[0], &tokens[0], "query { __type(name: \"Mutation\") { fields { name } } }", json!({}))
        .await
        .map_err(|e| anyhow::anyhow!("introspection: {e}"))?;
    let has_pay_order = mutations["__type"]["fields"].as_array().is_some_and(|f| f.iter().any(|f| f["name"] == "payOrder"));
    let can_pay = has_pay_order && !settings.no_pay;
    if settings.no_pay {
        println!("    --flashsale-no-pay: buyers only hold (buyNow), every order is left unpaid and expires");
    } else if !has_pay_order {
        println!("    WARNING: this kanjian has no payOrder mutation: every order is left unpaid and expires (no paid orders/s)");
    }

    // The merchant, the shop and the product, through the API.
    let api = Api::new(bases[0].clone())?;
    let merchant = api.sign_up("merchant@flashsale.example").await?;
    let org = api
        .data(Some(&merchant), "mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { id } userErrors { code message } } }", json!({ "i": { "name": "秒杀茶铺" } }))
        .await?;
    let org = org["createOrganization"]["organization"]["id"].as_str().with_context(|| format!("createOrganization: {org}"))?.to_owned();
    let shop = api
        .data(
            Some(&merchant),
            "mutation($i: OpenShopInput!) { openShop(input: $i) { shop { id } userErrors { field code message } } }",
            json!({ "i": { "organizationId": org, "name": "秒杀茶铺", "description": "限时秒杀", "shippingFee": 800, "freeShippingThreshold": 9900 } }),
        )
        .await?;
    let shop = shop["openShop"]["shop"]["id"].as_str().with_context(|| format!("openShop: {shop}"))?.to_owned();
    let product = api
        .data(
            Some(&merchant),
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id skus { id stock } } userErrors { field code message } } }",
            json!({ "i": {
                "shopId": shop, "title": "秒杀 · 明前龙井 100g", "category": "茶叶", "imageUrls": ["https://cdn.example/longjing.jpg"],
                "purchaseLimit": settings.limit,
                "skus": [{ "specs": [{ "name": "规格", "value": "100g" }], "price": PRICE, "stock": settings.units }],
                "onShelf": true,
            } }),
        )
        .await?;
    let sku = product["createProduct"]["product"]["skus"][0]["id"].as_str().with_context(|| format!("createProduct: {product}"))?.to_owned();
    let product = product["createProduct"]["product"]["id"].as_str().with_context(|| format!("createProduct: {product}"))?.to_owned();

    // Each buyer's address, through the API.
    let addresses: Vec<String> = futures::stream::iter(tokens.iter().enumerate())
        .map(|(i, token)| {
            let http = &http;
            let base = &bases[i % bases.len()];
            async move {
                let data = gql(
                    http,
                    base,
                    token,
                    ADDRESS,
                    json!({ "i": { "recipient": format!("买家{i}"), "phone": "13800138000", "region": ["浙江省", "杭州市", "西湖区"], "detail": format!("龙井路 {i} 号"), "postalCode": "310000" } }),
                )
                .await
                .map_err(|e| anyhow::anyhow!("createAddress: {e}"))?;
                data["createAddress"]["address"]["id"].as_str().map(str::to_owned).with_context(|| format!("createAddress: {data}"))
            }
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    println!("    merchant, shop, product and {} addresses ready; set-up took {:.1} s", addresses.len(), setup.elapsed().as_secs_f64());

    // The sale.
    let (go, start) = tokio::sync::watch::channel(false);
    let sale = Arc::new(Sale {
        http: http.clone(),
        simulator_slots: tokio::sync::Semaphore::new(256),
        nodes: bases.clone(),
        tokens,
        addresses,
        product,
        sku,
        provider,
        provider_name,
        max_quantity: settings.max_quantity,
        abandon: settings.abandon,
        can_pay,
        run: hex(&random_bytes(4)?),
        start,
        t0: Mutex::new(None),
        tally: Mutex::new(Tally::default()),
        latencies: Mutex::new(Latencies {
            held: histogram(),
            held_end_to_end: histogram(),
            sold_out: histogram(),
            refused: histogram(),
            pay_order: histogram(),
            provider_pay: histogram(),
        }),
        units_held: AtomicI64::new(0),
        active: AtomicUsize::new(settings.buyers),
    });
    let mut tasks = Vec::with_capacity(settings.buyers);
    for i in 0..settings.buyers {
        tasks.push(tokio::spawn(buyer(sale.clone(), i)));
    }
    // Every buyer has the product page open (a connection each) before the start.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let samples: Arc<Mutex<Vec<Sample>>> = Arc::new(Mutex::new(Vec::new()));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let samples = samples.clone();
        let sampling = sampling.clone();
        let sale = sale.clone();
        let db = Db::open(url).await?;
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let (Ok((stock, held, sold)), Ok(paid)) = (db.sku().await, db.orders_in("PAID").await) {
                    let at_ms = sale.now_ms();
                    let backlog = db
                        .scalar("SELECT (SELECT COUNT(*) FROM events_outbox WHERE fanned_out = FALSE) + (SELECT COUNT(*) FROM events_deliveries WHERE status = 'pending')")
                        .await
                        .unwrap_or(-1);
                    samples.lock().unwrap_or_else(|e| e.into_inner()).push(Sample { at_ms, stock, held, sold, paid, backlog });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    // On PostgreSQL: what kanjian's sessions are doing, and which statements they run, sampled
    // every 100 ms while units are still on sale (the holds, not the SOLD_OUT tail).
    let waits: Arc<Mutex<Waits>> = Arc::new(Mutex::new(Waits::default()));
    let wait_sampler = if url.starts_with("postgres") {
        let waits = waits.clone();
        let sampling = sampling.clone();
        let sale = sale.clone();
        let units = settings.units;
        let conn = world::connect(url, 1).await?;
        Some(tokio::spawn(async move {
            let sql = "SELECT state, COALESCE(wait_event_type, ''), COALESCE(wait_event, ''), \
                       left(regexp_replace(query, '\\s+', ' ', 'g'), 90) FROM pg_stat_activity \
                       WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' \
                       AND state IN ('active', 'idle in transaction')";
            while sampling.load(Ordering::Relaxed) {
                if sale.units_held.load(Ordering::Relaxed) >= units {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                if let Ok(rows) = conn.query_all_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned())).await {
                    let mut w = waits.lock().unwrap_or_else(|e| e.into_inner());
                    w.samples += 1;
                    for row in rows {
                        let state: String = get(&row, 0).unwrap_or_default();
                        let kind: String = get(&row, 1).unwrap_or_default();
                        let event: String = get(&row, 2).unwrap_or_default();
                        let query: String = get(&row, 3).unwrap_or_default();
                        let label = match (state.as_str(), kind.as_str()) {
                            ("idle in transaction", _) => "idle in transaction (waiting for kanjian's next statement)".to_owned(),
                            (_, "") => "active, on CPU (no wait event)".to_owned(),
                            (_, kind) => format!("active, waiting: {kind}/{event}"),
                        };
                        *w.states.entry(label).or_default() += 1;
                        if state == "active" {
                            *w.statements.entry(query).or_default() += 1;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }))
    } else {
        None
    };

    let pids: Vec<u32> = nodes.iter().map(|n| n.pid()).collect();
    let simulator_cpu_before = simulator.as_ref().and_then(|s| cpu_seconds(s.pid()));
    let cpu_before: Vec<Option<f64>> = pids.iter().map(|&p| cpu_seconds(p)).collect();
    let me = std::process::id();
    let me_before = cpu_seconds(me);
    let busy_before = machine_busy_seconds();
    let started = Instant::now();
    *sale.t0.lock().unwrap_or_else(|e| e.into_inner()) = Some(started);
    println!("==> go: {} buyers at once", settings.buyers);
    let _ = go.send(true);

    // The chaos: node 0 is killed once half the stock is held.
    let mut killed: Option<(f64, i64)> = None;
    let mut cpu_at_kill: Option<f64> = None;
    let mut progress = Instant::now();
    while sale.active.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if chaos && killed.is_none() && sale.units_held.load(Ordering::Relaxed) * 2 >= settings.units {
            cpu_at_kill = cpu_seconds(pids[0]);
            nodes[0].kill_now();
            let at = sale.now_ms();
            let held = sale.units_held.load(Ordering::Relaxed);
            println!("    {:.1} s: SIGKILL to node 0 (pid {}) with {} units held", at / 1000.0, pids[0], group(held));
            killed = Some((at, held));
        }
        if progress.elapsed() > Duration::from_secs(5) {
            progress = Instant::now();
            let t = sale.tally();
            println!(
                "    {:.0} s: {} holds ({} units), {} paid, {} buyers still buying, {} failed requests",
                started.elapsed().as_secs_f64(),
                t.holds,
                t.held_units,
                t.paid,
                sale.active.load(Ordering::Relaxed),
                t.transport_failures + t.server_errors + t.graphql_errors
            );
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    let sale_s = started.elapsed().as_secs_f64();
    let (wait_table, statement_table) = {
        let w = waits.lock().unwrap_or_else(|e| e.into_inner());
        let samples = w.samples.max(1) as f64;
        let averages = |counts: &BTreeMap<String, u64>| {
            let mut rows: Vec<(String, f64)> = counts.iter().map(|(k, n)| (k.clone(), *n as f64 / samples)).collect();
            rows.sort_by(|a, b| b.1.total_cmp(&a.1));
            rows
        };
        let mut statements = averages(&w.statements);
        statements.truncate(12);
        ((w.samples, averages(&w.states)), statements)
    };
    if let Some(task) = wait_sampler {
        task.abort();
    }
    let server_cpu: Option<f64> = pids
        .iter()
        .zip(&cpu_before)
        .enumerate()
        .map(|(k, (&p, before))| {
            let after = if killed.is_some() && k == 0 { cpu_at_kill } else { cpu_seconds(p) };
            after.zip(*before).map(|(a, b)| a - b)
        })
        .sum();
    let client_cpu = cpu_seconds(me).zip(me_before).map(|(a, b)| a - b);
    let simulator_cpu = simulator.as_ref().and_then(|s| cpu_seconds(s.pid())).zip(simulator_cpu_before).map(|(a, b)| a - b);
    let busy = machine_busy_seconds().zip(busy_before).map(|(a, b)| a - b);
    let load = load_average();
    println!("    every buyer is done after {sale_s:.1} s");

    // Payments settle: every order paid at the provider PAID and every notification processed,
    // however long the outbox takes (it is part of the figure); it gives up after 20 minutes,
    // or after two without progress.
    println!("==> waiting for every payment to turn its order PAID (the outbox)");
    let paid_at_provider = sale.tally().paid as i64;
    let settle_deadline = Instant::now() + Duration::from_secs(20 * 60);
    let mut progress_at = Instant::now();
    let mut printed = Instant::now();
    let mut last = -1;
    let mut last_increase_ms = sale.now_ms();
    let paid_orders = loop {
        let paid = db.orders_in("PAID").await?;
        let unprocessed = db.scalar("SELECT COUNT(*) FROM commerce_payment_notifications WHERE processed_at IS NULL").await?;
        let refunded = db.scalar("SELECT COUNT(*) FROM commerce_payments WHERE state IN ('REFUNDING', 'REFUNDED', 'REFUND_FAILED')").await?;
        if paid > last {
            last = paid;
            last_increase_ms = sale.now_ms();
            progress_at = Instant::now();
        }
        if printed.elapsed() > Duration::from_secs(10) {
            printed = Instant::now();
            println!("    {:.0} s: {} of {} paid orders PAID, {} notifications not processed", sale.now_ms() / 1000.0, group(paid), group(paid_at_provider), group(unprocessed));
        }
        if (paid + refunded >= paid_at_provider && unprocessed == 0) || progress_at.elapsed() > Duration::from_secs(120) || Instant::now() > settle_deadline {
            break paid;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let paid_all_s = last_increase_ms / 1000.0;

    let (stock_now, held_now, sold_now) = db.sku().await?;
    let mut invariants = Vec::new();
    let units = settings.units;
    check(
        &mut invariants,
        "after the sale: stock + held + sold = initial",
        format!("{} + {} + {} = {} (initial {})", group(stock_now), group(held_now), group(sold_now), group(stock_now + held_now + sold_now), group(units)),
        stock_now + held_now + sold_now == units && stock_now >= 0 && held_now >= 0 && sold_now >= 0,
    );

    // Nobody over the limit, read at the end of the sale (every hold still counts) and again
    // once the abandoned ones expired.
    let (max_units, at_limit) = most_units(&db, settings.limit).await?;
    check(
        &mut invariants,
        "nobody over the limit (end of the sale): most units of one buyer in orders not cancelled ≤ limit",
        format!("{max_units} ≤ {} ({} buyers at the limit)", settings.limit, group(at_limit)),
        max_units <= settings.limit,
    );

    // Abandoned holds expire, and the sweep gives their units back.
    println!("==> waiting for unpaid holds to expire ({} s window) and the sweep", window);
    let expiry_deadline = Instant::now() + Duration::from_secs(window + 600);
    let mut printed = Instant::now();
    loop {
        let pending = db.orders_in("PENDING_PAYMENT").await?;
        let (_, held, _) = db.sku().await?;
        if (pending == 0 && held == 0) || Instant::now() > expiry_deadline {
            break;
        }
        if printed.elapsed() > Duration::from_secs(10) {
            printed = Instant::now();
            println!("    {:.0} s: {} orders PENDING_PAYMENT, {} units held", sale.now_ms() / 1000.0, group(pending), group(held));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Late notifications (the simulator's retries) and refunds settle too.
    tokio::time::sleep(Duration::from_secs(if chaos { 5 } else { 2 })).await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let series = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();

    let (stock, held, sold) = db.sku().await?;
    check(
        &mut invariants,
        "once holds expired: held = 0 and stock + sold = initial",
        format!("held {}, {} + {} = {} (initial {})", group(held), group(stock), group(sold), group(stock + sold), group(units)),
        held == 0 && stock + sold == units,
    );
    let orders = db.scalar("SELECT COUNT(*) FROM commerce_orders").await?;
    let by_state = db.counts("SELECT state, COUNT(*) FROM commerce_orders GROUP BY state ORDER BY state").await?;
    let other_states: i64 = by_state.iter().filter(|(s, _)| s != "PAID" && s != "CANCELLED").map(|(_, n)| n).sum();
    check(
        &mut invariants,
        "every order PAID or CANCELLED",
        by_state.iter().map(|(s, n)| format!("{s} {}", group(*n))).collect::<Vec<_>>().join(", "),
        other_states == 0,
    );
    let sold_units = db
        .scalar("SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM commerce_order_lines l JOIN commerce_orders o ON o.id = l.order_id WHERE o.state IN ('PAID', 'SHIPPED', 'COMPLETED')")
        .await?;
    check(&mut invariants, "sold = units in paid orders", format!("{} = {}", group(sold), group(sold_units)), sold == sold_units);

    // One order per idempotency key.
    let tally = std::mem::take(&mut *sale.tally());
    let keys_with_order = tally.keys.len() as i64;
    let keys_disagreeing = tally.keys.values().filter(|ids| ids.len() != 1).count();
    let answered: HashSet<i64> = tally.keys.values().flatten().copied().collect();
    let db_ids: HashSet<i64> = db
        .conn
        .query_all_raw(Statement::from_string(db.backend, "SELECT id FROM commerce_orders".to_owned()))
        .await?
        .iter()
        .filter_map(|r| r.try_get_by_index::<i64>(0).ok())
        .collect();
    let unanswered_in_db = db_ids.difference(&answered).count();
    check(
        &mut invariants,
        "one order per idempotency key: orders in the database = keys answered with an order",
        format!(
            "{} orders, {} keys, {} answered ids; keys with two orders {}, orders no key was answered {}",
            group(orders),
            group(keys_with_order),
            group(answered.len() as i64),
            keys_disagreeing,
            unanswered_in_db
        ),
        orders == keys_with_order && answered.len() as i64 == orders && keys_disagreeing == 0 && unanswered_in_db == 0,
    );
    let stored_keys = db
        .scalar("SELECT COUNT(*) FROM db_idempotency_keys WHERE name LIKE '%:buy_now:%' AND answer IS NOT NULL")
        .await?;
    check(&mut invariants, "buyNow keys answered in db_idempotency_keys = orders", format!("{} = {}", group(stored_keys), group(orders)), stored_keys == orders);
    // A batch's orders share their placing instant; two lone orders in one millisecond would
    // count as one, so this is an estimate (an upper bound) of orders per transaction.
    let instants = db.scalar("SELECT COUNT(DISTINCT created_at) FROM commerce_orders").await?;
    observe(
        &mut invariants,
        "orders per placing instant (≈ buyNows per transaction: kanjian batches a SKU's buyNows on each node)",
        format!("{} ÷ {} = {:.1}", group(orders), group(instants), orders as f64 / instants.max(1) as f64),
    );

    // One succeeded payment per order.
    let twice = db
        .scalar("SELECT COUNT(*) FROM (SELECT order_id FROM commerce_payments WHERE state = 'SUCCEEDED' GROUP BY order_id HAVING COUNT(*) > 1) t")
        .await?;
    let paid_without = db
        .scalar(
            "SELECT COUNT(*) FROM commerce_orders o LEFT JOIN (SELECT order_id, COUNT(*) AS n FROM commerce_payments \
             WHERE state = 'SUCCEEDED' GROUP BY order_id) p ON p.order_id = o.id WHERE o.state = 'PAID' AND COALESCE(p.n, 0) <> 1",
        )
        .await?;
    let succeeded_unpaid = db
        .scalar("SELECT COUNT(*) FROM commerce_payments p JOIN commerce_orders o ON o.id = p.order_id WHERE p.state = 'SUCCEEDED' AND o.state NOT IN ('PAID', 'SHIPPED', 'COMPLETED')")
        .await?;
    let payments_by_state = db
        .counts("SELECT state, COUNT(*) FROM commerce_payments GROUP BY state ORDER BY state")
        .await?
        .into_iter()
        .map(|(s, n)| format!("{s} {}", group(n)))
        .collect::<Vec<_>>()
        .join(", ");
    check(
        &mut invariants,
        "one succeeded payment per paid order, none on an unpaid one",
        format!("orders with two {twice}; paid orders without exactly one {paid_without}; succeeded on unpaid orders {succeeded_unpaid} (payments: {payments_by_state})"),
        twice == 0 && paid_without == 0 && succeeded_unpaid == 0,
    );
    let open_attempts = db
        .conn
        .query_all_raw(Statement::from_string(
            db.backend,
            "SELECT o.state, CASE WHEN p.action IS NULL THEN 'no answer stored' ELSE 'answered' END, COUNT(*) FROM commerce_payments p \
             JOIN commerce_orders o ON o.id = p.order_id WHERE p.state = 'CREATED' GROUP BY 1, 2 ORDER BY 1, 2"
                .to_owned(),
        ))
        .await?
        .iter()
        .filter_map(|r| Some((get::<String>(r, 0).ok()?, get::<String>(r, 1).ok()?, get::<i64>(r, 2).ok()?)))
        .map(|(order, action, n)| format!("{n} on {order} orders ({action})"))
        .collect::<Vec<_>>();
    observe(
        &mut invariants,
        "payment attempts still CREATED after the sale",
        if open_attempts.is_empty() { "none".to_owned() } else { open_attempts.join(", ") },
    );
    // Money the provider took, by its own record, against what kanjian made of it.
    let refunds = db.scalar("SELECT COUNT(*) FROM commerce_payments WHERE state IN ('REFUNDING', 'REFUNDED', 'REFUND_FAILED')").await?;
    let (taken, sim_notifications) = match &sale.provider {
        Provider::Sandbox => (db.scalar("SELECT COUNT(*) FROM commerce_sandbox_payments WHERE state IN ('PAID', 'REFUNDED')").await?, None),
        Provider::Simulator { base } => {
            let (_, made) = control(&http, base, "GET", "/_sim/notifications", Value::Null).await?;
            let made = made.as_array().cloned().unwrap_or_default();
            let taken = made.iter().filter(|n| n["event_type"] == "TRANSACTION.SUCCESS").count() as i64;
            (taken, Some(made))
        }
    };
    check(
        &mut invariants,
        "payments the provider took (its own record) = PAID orders + payments refunded",
        format!("{} taken; {} PAID + {} refunded or refunding", group(taken), group(paid_orders), group(refunds)),
        taken == paid_orders + refunds,
    );
    observe(
        &mut invariants,
        "orders the buyers paid (as the bench counted them)",
        format!("{} ({} PAID)", group(paid_at_provider), group(paid_orders)),
    );


    let (max_units, at_limit) = most_units(&db, settings.limit).await?;
    check(
        &mut invariants,
        "nobody over the limit (after expiry): most units of one buyer in orders not cancelled ≤ limit",
        format!("{max_units} ≤ {} ({} buyers at the limit)", settings.limit, group(at_limit)),
        max_units <= settings.limit,
    );
    let purchases_off = db
        .scalar(
            "SELECT COUNT(*) FROM commerce_purchases p LEFT JOIN (SELECT o.buyer_id, l.product_id, SUM(l.quantity) AS u \
             FROM commerce_orders o JOIN commerce_order_lines l ON l.order_id = o.id WHERE o.state <> 'CANCELLED' \
             GROUP BY o.buyer_id, l.product_id) t ON t.buyer_id = p.user_id AND t.product_id = p.product_id \
             WHERE p.quantity <> COALESCE(t.u, 0)",
        )
        .await?;
    check(&mut invariants, "each purchase count = that buyer's units in orders not cancelled", format!("{purchases_off} differ"), purchases_off == 0);
    let unprocessed = db.scalar("SELECT COUNT(*) FROM commerce_payment_notifications WHERE processed_at IS NULL").await?;
    let notifications = db.scalar("SELECT COUNT(*) FROM commerce_payment_notifications").await?;
    check(&mut invariants, "every stored notification processed", format!("{} stored, {unprocessed} not processed", group(notifications)), unprocessed == 0);

    // The chaos side: what the provider did.
    let mut chaos_rows = Vec::new();
    if let Some((at, held)) = killed {
        chaos_rows.push(("node 0 SIGKILLed at".to_owned(), format!("{:.1} s, {} units held by then", at / 1000.0, group(held))));
        let before = tally.hold_at_ms.iter().filter(|&&t| t < at).count();
        let after = tally.hold_at_ms.len() - before;
        let first_after = tally.hold_at_ms.iter().copied().filter(|&t| t >= at).fold(f64::INFINITY, f64::min);
        chaos_rows.push(("holds/s before the kill (2 nodes)".to_owned(), per_sec(before as f64 / (at / 1000.0).max(1e-3))));
        chaos_rows.push((
            "holds/s after the kill (1 node), to the last hold".to_owned(),
            per_sec(after as f64 / ((tally.last_hold_ms - at) / 1000.0).max(1e-3)),
        ));
        if first_after.is_finite() {
            chaos_rows.push(("first hold answered after the kill".to_owned(), format!("{:.2} s after it", (first_after - at) / 1000.0)));
        }
        let quiet_gap = {
            let mut times: Vec<f64> = tally.hold_at_ms.iter().copied().filter(|&t| t >= at).collect();
            times.sort_by(f64::total_cmp);
            times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
        };
        chaos_rows.push(("longest time without a hold after the kill".to_owned(), format!("{:.1} s", quiet_gap / 1000.0)));
    }
    if chaos {
        if let Some(cpu) = simulator_cpu {
            chaos_rows.push(("WeChat Pay simulator's CPU during the sale (cores; counted in `rest of machine`)".to_owned(), format!("{:.2}", cpu / sale_s)));
        }
        chaos_rows.push(("requests that failed and were sent again with the same key".to_owned(), group((tally.transport_failures + tally.server_errors + tally.graphql_errors) as i64)));
        chaos_rows.push(("holds answered after a failed try (same key)".to_owned(), group(tally.retried_holds as i64)));
        chaos_rows.push(("IN_PROGRESS answers waited out".to_owned(), group(tally.in_progress as i64)));
        if let (Provider::Simulator { base }, Some(made)) = (&sale.provider, &sim_notifications) {
            let (_, deliveries) = control(&http, base, "GET", "/_sim/deliveries", Value::Null).await?;
            let deliveries = deliveries.as_array().cloned().unwrap_or_default();
            let mut states: BTreeMap<String, i64> = BTreeMap::new();
            for n in made {
                *states.entry(n["state"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
            }
            let ok = deliveries.iter().filter(|d| d["status"].as_u64().is_some_and(|s| (200..300).contains(&s))).count();
            let failed = deliveries.len() - ok;
            let mut why: BTreeMap<String, i64> = BTreeMap::new();
            for d in deliveries.iter().filter(|d| !d["status"].as_u64().is_some_and(|s| (200..300).contains(&s))) {
                let reason = match (d["status"].as_u64(), d["error"].as_str()) {
                    (Some(status), _) => format!("HTTP {status}"),
                    (None, Some(e)) => clip(e).chars().take(60).collect(),
                    _ => "?".to_owned(),
                };
                *why.entry(reason).or_default() += 1;
            }
            chaos_rows.push((
                "notifications made by the simulator".to_owned(),
                format!("{} ({})", group(made.len() as i64), states.iter().map(|(s, n)| format!("{s} {}", group(*n))).collect::<Vec<_>>().join(", ")),
            ));
            chaos_rows.push((
                "deliveries (requests to kanjian)".to_owned(),
                format!("{} ({} answered 2xx, {} not: {})", group(deliveries.len() as i64), group(ok as i64), group(failed as i64), why.iter().map(|(k, n)| format!("{k} {}", group(*n))).collect::<Vec<_>>().join(", ")),
            ));
            let stored_wechat = db.scalar("SELECT COUNT(*) FROM commerce_payment_notifications WHERE provider = 'wechatpay'").await?;
            chaos_rows.push(("notifications stored by kanjian (once each)".to_owned(), group(stored_wechat)));
            // What a provider relies on: a notification answered 2xx is stored (it is not sent
            // again), however many copies came. One that was never answered 2xx may be missing;
            // its order is paid by reconciliation (the sold = paid invariants above).
            let stored_ids: std::collections::HashSet<String> = db
                .strings("SELECT event_id FROM commerce_payment_notifications WHERE provider = 'wechatpay'")
                .await?
                .into_iter()
                .collect();
            let acknowledged: std::collections::HashSet<&str> = deliveries
                .iter()
                .filter(|d| d["status"].as_u64().is_some_and(|s| (200..300).contains(&s)))
                .filter_map(|d| d["notification_id"].as_str())
                .collect();
            let lost = acknowledged.iter().filter(|id| !stored_ids.contains(**id)).count();
            check(
                &mut invariants,
                format!("every notification answered 2xx (of {}× copies and retries) is stored, once", settings.replays),
                format!(
                    "{} answered 2xx, {} of them not stored; {} stored of {} made",
                    group(acknowledged.len() as i64),
                    group(lost as i64),
                    group(stored_wechat),
                    group(made.len() as i64)
                ),
                lost == 0 && stored_wechat == stored_ids.len() as i64 && stored_wechat <= made.len() as i64,
            );
            let given_up = states.iter().filter(|(s, _)| s.as_str() != "delivered").map(|(_, n)| n).sum::<i64>();
            observe(
                &mut invariants,
                "notifications the simulator never saw answered 2xx in time (given up after its retries)",
                group(given_up),
            );
        }
    }

    let mut notes = Vec::new();
    if settings.no_pay {
        notes.push("--flashsale-no-pay: buyers only called buyNow; every order was left unpaid and expired".to_owned());
    } else if !sale.can_pay {
        notes.push("this kanjian had no payOrder mutation: every order was left unpaid and expired".to_owned());
    }
    if other_states > 0 || held > 0 {
        notes.push(format!("orders were still open {} s after the sale's payments settled; the sweep runs every second", window + 600));
    }

    // After the last hold: the first SOLD_OUT answer, and when every buyer had stopped.
    let last_hold_s = tally.last_hold_ms / 1000.0;
    let sold_out_first_after_s = tally.sold_out_at_ms.iter().copied().filter(|&t| t >= tally.last_hold_ms).fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.min(t)))).map(|t| (t - tally.last_hold_ms) / 1000.0);
    let all_told_s = tally.sold_out_at_ms.iter().copied().fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t)))).map(|t| (t - tally.last_hold_ms) / 1000.0);
    let latencies = std::mem::replace(
        &mut *sale.latencies.lock().unwrap_or_else(|e| e.into_inner()),
        Latencies { held: histogram(), held_end_to_end: histogram(), sold_out: histogram(), refused: histogram(), pay_order: histogram(), provider_pay: histogram() },
    );

    let outcome = Outcome {
        kind,
        stock_zero_s: series.iter().find(|s| s.stock == 0).map(|s| s.at_ms / 1000.0),
        peak_held: series.iter().map(|s| s.held).max().unwrap_or(0),
        peak_backlog: series.iter().map(|s| s.backlog).max().unwrap_or(0),
        backlog_at_last_hold: series.iter().rfind(|s| s.at_ms <= tally.last_hold_ms).map_or(0, |s| s.backlog),
        paid_at_last_hold: series.iter().rfind(|s| s.at_ms <= tally.last_hold_ms).map_or(0, |s| s.paid),
        last_sold_s: series.iter().find(|s| s.sold >= sold).map(|s| s.at_ms / 1000.0),
        holds: tally.holds,
        held_units: tally.held_units,
        last_hold_s,
        paid_orders,
        paid_all_s,
        sold_out_first_after_s,
        all_told_s,
        latencies,
        server_cores: server_cpu.map(|c| c / sale_s),
        client_cores: client_cpu.map(|c| c / sale_s),
        rest_cores: busy.zip(server_cpu).zip(client_cpu).map(|((b, s), c)| (b - s - c) / sale_s),
        load,
        invariants,
        waits: wait_table,
        statements: statement_table,
        chaos: chaos_rows,
        notes,
        tally,
    };
    print_outcome(&outcome);
    for node in &mut nodes {
        node.stop();
    }
    if let Some(mut sim) = simulator {
        sim.stop();
    }
    if let Some(task) = balancer_task {
        task.abort();
    }
    db.conn.close().await.ok();
    Ok(outcome)
}

/// The most units one buyer has in orders not cancelled, and how many buyers are at `limit`.
async fn most_units(db: &Db, limit: i64) -> Result<(i64, i64)> {
    let max_units = db
        .scalar(
            "SELECT CAST(COALESCE(MAX(u), 0) AS BIGINT) FROM (SELECT o.buyer_id, SUM(l.quantity) AS u FROM commerce_orders o \
             JOIN commerce_order_lines l ON l.order_id = o.id WHERE o.state <> 'CANCELLED' GROUP BY o.buyer_id) t",
        )
        .await?;
    let at_limit = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM (SELECT o.buyer_id FROM commerce_orders o JOIN commerce_order_lines l ON l.order_id = o.id \
             WHERE o.state <> 'CANCELLED' GROUP BY o.buyer_id HAVING SUM(l.quantity) >= {limit}) t"
        ))
        .await?;
    Ok((max_units, at_limit))
}

async fn control(http: &reqwest::Client, base: &str, method: &str, path: &str, body: Value) -> Result<(u16, Value)> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).context("a method")?;
    let mut request = http.request(method, format!("{base}{path}"));
    if !body.is_null() {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| format!("the simulator's {path}"))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

fn print_outcome(o: &Outcome) {
    println!(
        "    {}: {} holds ({} units) in {:.1} s = {} holds/s; {} PAID by {:.1} s = {} paid/s",
        o.kind.short(),
        group(o.holds as i64),
        group(o.held_units as i64),
        o.last_hold_s,
        per_sec(o.holds_per_sec()),
        group(o.paid_orders),
        o.paid_all_s,
        per_sec(o.paid_per_sec())
    );
    for i in &o.invariants {
        println!("    [{}] {}: {}", verdict(i), i.what, i.value);
    }
    if !o.tally.first_errors.is_empty() {
        println!("    first errors:");
        for e in &o.tally.first_errors {
            println!("      {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The run and its tables

pub async fn run(settings: &FlashsaleSettings, kanjian_bin: &Path, work: &Path) -> Result<(Vec<Table>, Vec<String>)> {
    let uses_postgres = settings.chaos || settings.databases.contains(&DatabaseKind::Postgres);
    let baseline = if uses_postgres && !settings.pgbench_clients.is_empty() {
        Some(pgbench(settings, work).await)
    } else {
        None
    };
    let mut outcomes = Vec::new();
    for &db in &settings.databases {
        outcomes.push(sale(settings, Kind::Single(db), kanjian_bin, work).await?);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    if settings.chaos {
        outcomes.push(sale(settings, Kind::Chaos, kanjian_bin, work).await?);
    }
    Ok(tables(settings, baseline.as_ref(), &outcomes))
}

fn tables(settings: &FlashsaleSettings, baseline: Option<&Pgbench>, outcomes: &[Outcome]) -> (Vec<Table>, Vec<String>) {
    let mut tables = Vec::new();
    let at32 = baseline.and_then(|b| b.at(32));
    let best = baseline.and_then(Pgbench::best);

    let mut headers = vec!["measure"];
    headers.extend(outcomes.iter().map(|o| o.kind.short()));
    let mut t = Table::new(
        format!(
            "flash sale: {} units of one SKU, {} buyers through {}, limit {} a person, 1–{} a purchase",
            group(settings.units),
            settings.buyers,
            if settings.no_pay { "buyNow alone (no payment: --flashsale-no-pay)" } else { "buyNow + payOrder + pay" },
            settings.limit,
            settings.max_quantity
        ),
        &headers,
    );
    let row = |t: &mut Table, label: &str, f: &dyn Fn(&Outcome) -> String| {
        let mut cells = vec![label.to_owned()];
        cells.extend(outcomes.iter().map(f));
        t.row(cells);
    };
    row(&mut t, "holds/s (successful buyNow, start → last hold)", &|o| per_sec(o.holds_per_sec()));
    row(&mut t, "units held/s", &|o| per_sec(o.units_per_sec()));
    row(&mut t, "paid orders/s (start → last order PAID)", &|o| per_sec(o.paid_per_sec()));
    if let Some(b) = at32 {
        row(&mut t, "ratio holds/s ÷ pgbench decrements/s at 32 clients", &|o| ratio(o.holds_per_sec(), b.decrements_per_sec));
        row(&mut t, "ratio paid orders/s ÷ pgbench decrements/s at 32 clients", &|o| ratio(o.paid_per_sec(), b.decrements_per_sec));
    }
    if let Some(b) = best {
        let label = format!("ratio holds/s ÷ pgbench's best ({} clients)", b.clients);
        row(&mut t, &label, &|o| ratio(o.holds_per_sec(), b.decrements_per_sec));
    }
    row(&mut t, "holds (orders) / units held", &|o| format!("{} / {}", group(o.holds as i64), group(o.held_units as i64)));
    row(&mut t, "last hold at s", &|o| secs1(o.last_hold_s));
    row(&mut t, "orders PAID / last PAID at s", &|o| format!("{} / {}", group(o.paid_orders), secs1(o.paid_all_s)));
    row(&mut t, "orders PAID when the last unit was held", &|o| group(o.paid_at_last_hold));
    row(&mut t, "database: stock first 0 at s / most units held at once / sold final at s", &|o| {
        format!("{} / {} / {}", o.stock_zero_s.map_or("–".into(), secs1), group(o.peak_held), o.last_sold_s.map_or("–".into(), secs1))
    });
    row(&mut t, "outbox backlog (events + deliveries pending): at the last hold / most", &|o| format!("{} / {}", group(o.backlog_at_last_hold), group(o.peak_backlog)));
    row(&mut t, "buyNow → hold p50 / p99 ms", &|o| p50_p99(&o.latencies.held));
    row(&mut t, "buyNow → SOLD_OUT p50 / p99 ms", &|o| p50_p99(&o.latencies.sold_out));
    row(&mut t, "buyNow → other refusal p50 / p99 ms", &|o| p50_p99(&o.latencies.refused));
    row(&mut t, "payOrder p50 / p99 ms", &|o| p50_p99(&o.latencies.pay_order));
    row(&mut t, "pay at the provider p50 / p99 ms", &|o| p50_p99(&o.latencies.provider_pay));
    if outcomes.iter().any(|o| o.kind == Kind::Chaos) {
        row(&mut t, "buyNow → hold with retries, p50 / p99 ms", &|o| p50_p99(&o.latencies.held_end_to_end));
    }
    row(&mut t, "first SOLD_OUT after the last hold, s", &|o| o.sold_out_first_after_s.map_or("–".into(), |s| format!("{s:.2}")));
    row(&mut t, "last buyer told SOLD_OUT after the last hold, s", &|o| o.all_told_s.map_or("–".into(), |s| format!("{s:.2}")));
    row(&mut t, "buyers told SOLD_OUT / stopped at the limit", &|o| format!("{} / {}", group(o.tally.sold_out as i64), group(o.tally.limit_reached as i64)));
    row(&mut t, "refusals: INSUFFICIENT_STOCK / PURCHASE_LIMIT_EXCEEDED / other", &|o| {
        let other: u64 = o.tally.other_refusals.values().sum();
        format!("{} / {} / {}", o.tally.insufficient, o.tally.limit_refusals, other)
    });
    row(&mut t, "orders paid / left unpaid (abandoned) / payment failures", &|o| format!("{} / {} / {}", group(o.tally.paid as i64), group(o.tally.abandoned as i64), o.tally.pay_failures));
    row(&mut t, "failed requests: transport / 5xx / GraphQL errors / buyers who gave up", &|o| {
        format!("{} / {} / {} / {}", o.tally.transport_failures, o.tally.server_errors, o.tally.graphql_errors, o.tally.gave_up)
    });
    let cores = |c: Option<f64>| c.map_or("?".into(), |c| format!("{c:.2}"));
    row(&mut t, "kanjian cores / bench cores / rest of machine cores (PostgreSQL, others)", &|o| {
        format!("{} / {} / {}", cores(o.server_cores), cores(o.client_cores), cores(o.rest_cores))
    });
    row(&mut t, "load average at the end", &|o| o.load.map_or("?".into(), |l| format!("{l:.1}")));
    row(&mut t, "invariants", &|o| if o.all_pass() { "all PASS".into() } else { format!("{} FAIL", o.invariants.iter().filter(|i| !i.pass).count()) });
    t.note("holds/s: successful buyNow answers (orders placed, each one conditional UPDATE of the SKU row) from the start until the last one was answered; paid orders/s: orders PAID in the database (read every 200 ms) over the time from the start until the last one was");
    t.note("latencies: one request each, measured by the buyer; in the chaos column `with retries` runs from the first try to the answer, failed tries and IN_PROGRESS waits included");
    t.note("first SOLD_OUT / last buyer told: from the last hold's answer; a buyer pays its last order before asking again, so the last buyer's answer includes a payment");
    if let Some(b) = at32 {
        for o in outcomes.iter().filter(|o| o.kind == Kind::Single(DatabaseKind::Postgres)) {
            let r = o.holds_per_sec() / b.decrements_per_sec.max(1e-9);
            t.note(format!(
                "target (PostgreSQL): holds/s ≥ 1× pgbench's 32-client decrements/s, stretch 2×: {r:.2}×, {}",
                if r >= 2.0 { "stretch met" } else if r >= 1.0 { "met" } else { "not met" }
            ));
        }
    }
    tables.push(t);

    if let Some(b) = baseline {
        let mut t = Table::new(
            "baseline: pgbench on one row, `UPDATE bench_stock SET stock = stock - 1 WHERE id = 1 AND stock > 0`, same PostgreSQL",
            &["clients", "decrements/s", "pgbench tps", "latency avg ms", "machine cores"],
        );
        for r in &b.rows {
            t.row(vec![
                r.clients.to_string(),
                per_sec(r.decrements_per_sec),
                r.tps.map_or("?".into(), per_sec),
                r.latency_ms.map_or("?".into(), ms),
                r.machine_cores.map_or("?".into(), |c| format!("{c:.2}")),
            ]);
        }
        t.note(format!(
            "{}; -M prepared, -j min(clients, nproc), {} s per row after a VACUUM of the table; decrements/s = (stock before − stock after) / {} s (pgbench's tps would also count updates that found no stock)",
            b.version, settings.pgbench_seconds, settings.pgbench_seconds
        ));
        if let Some(e) = &b.error {
            t.note(format!("pgbench failed: {e}"));
        }
        tables.push(t);
    }

    for o in outcomes {
        let mut t = Table::new(format!("invariants after the sale, read from the database: {}", o.kind.label()), &["invariant", "value", "verdict"]);
        for i in &o.invariants {
            t.row(vec![i.what.clone(), i.value.clone(), verdict(i).into()]);
        }
        for n in &o.notes {
            t.note(n.clone());
        }
        if !o.tally.first_errors.is_empty() {
            t.note(format!("first errors: {}", o.tally.first_errors.iter().map(|e| e.replace('|', "/")).collect::<Vec<_>>().join(" · ")));
        }
        if !o.tally.other_refusals.is_empty() || !o.tally.pay_refusals.is_empty() {
            t.note(format!("other refusals: buyNow {:?}; payOrder {:?}", o.tally.other_refusals, o.tally.pay_refusals));
        }
        tables.push(t);
        if o.waits.0 > 0 {
            let mut t = Table::new(
                format!("{}: what kanjian's PostgreSQL sessions did during the sale (pg_stat_activity every 100 ms, {} samples)", o.kind.short(), o.waits.0),
                &["state / wait event", "average sessions"],
            );
            for (what, avg) in &o.waits.1 {
                t.row(vec![what.clone(), format!("{avg:.2}")]);
            }
            t.note("sampled while units were still on sale (the buyers' holds below the stock), not in the SOLD_OUT tail; sessions in the sale's database only (kanjian's pool, the bench's sampler aside); Lock/transactionid or Lock/tuple is waiting for the SKU row held by another transaction, IO/WALSync or LWLock/WALWrite the commit's flush, `idle in transaction` a transaction open while kanjian computes or sends its next statement");
            tables.push(t);
            let mut t = Table::new(format!("{}: the statements kanjian's active sessions ran while units were on sale (top 12)", o.kind.short()), &["statement (first 90 characters)", "average sessions"]);
            for (what, avg) in &o.statements {
                t.row(vec![format!("`{}`", what.replace('|', "\\|").replace('`', "'")), format!("{avg:.2}")]);
            }
            tables.push(t);
        }
        if !o.chaos.is_empty() {
            let mut t = Table::new("chaos: what happened", &["what", "value"]);
            for (k, v) in &o.chaos {
                t.row(vec![k.clone(), v.clone()]);
            }
            tables.push(t);
        }
    }

    let lines = vec![
        format!(
            "flash sale: {} units at ¥{:.2}, {} buyers (seeded by `kanjian seed`, sessions written to identity_sessions, addresses through createAddress), limit {} a person, 1–{} units a purchase (1 after INSUFFICIENT_STOCK or PURCHASE_LIMIT_EXCEEDED), {:.0} % of orders left unpaid, `commerce.payment_window_secs` = {} ({} in the chaos variant){}",
            group(settings.units),
            PRICE as f64 / 100.0,
            settings.buyers,
            settings.limit,
            settings.max_quantity,
            settings.abandon * 100.0,
            settings.payment_window_secs,
            settings.chaos_payment_window_secs,
            if settings.no_pay { "; --flashsale-no-pay: nobody pays" } else { "" }
        ),
        format!(
            "flash sale servers: {} actix-web workers, `KANJIAN_LOG__FILTER=warn`, {}; payments through the sandbox page (single node) or the WeChat Pay simulator with every notification delivered {}× (chaos; notifications reach the nodes through a TCP balancer in the bench, the payers' calls to the simulator 256 at a time)",
            settings.workers,
            settings.pool.map_or("kanjian's default pool sizes".to_owned(), |p| format!("a PostgreSQL pool of {p} (--flashsale-pool)")),
            settings.replays
        ),
    ];
    (tables, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limit_leaves_room_to_sell_out() {
        assert_eq!(FlashsaleSettings::default_limit(50_000, 2_000), 30);
        assert_eq!(FlashsaleSettings::default_limit(5_000, 200), 30);
        assert_eq!(FlashsaleSettings::default_limit(10, 2_000), 1);
    }

    #[test]
    fn global_ids_give_their_number() {
        use base64::Engine as _;
        let id = base64::engine::general_purpose::STANDARD_NO_PAD.encode("Order:1234");
        assert_eq!(global_number(&id), Some(1234));
    }

    #[test]
    fn pgbench_output_is_read() {
        let out = "number of transactions actually processed: 20000\nlatency average = 15.732 ms\ntps = 2034.123456 (without initial connection time)\n";
        assert_eq!(pgbench_number(out, "tps ="), Some(2034.123456));
        assert_eq!(pgbench_number(out, "latency average ="), Some(15.732));
    }

    #[test]
    fn quantities_stay_in_range() {
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            let q = rng.upto(3);
            assert!((1..=3).contains(&q));
        }
    }
}

//! The feeds benchmark's world: a database seeded once by `kanjian seed` and kept, since seeding
//! a million users takes a long time.
//!
//! - SQLite: `<data dir>/feeds-sqlite-<users>-<seed>.db` (`target/bench-data/` by default),
//!   seeded into `….db.loading` and renamed into place only when the seed succeeded, so an
//!   interrupted seed is never reused.
//! - PostgreSQL: the database `kanjian_bench_<users>_<seed>` on the `--postgres-url` server,
//!   seeded as `…_loading`, vacuumed and analyzed (as autovacuum would, eventually), then renamed.
//!   A `…_loading` left behind is never dropped unless `--feeds-reseed` asks: it may be a seed
//!   still running, or one run by hand that only needs its rename.
//!
//! Either way a note of when and how long the seed took is kept beside the world (a
//! `….db.seeded` file, a `COMMENT ON DATABASE`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::ValueEnum;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

use crate::servers;

/// The database a benchmark's kanjian runs on: the feeds' world, or the node benchmark's fresh one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    pub fn default_users(self) -> u64 {
        match self {
            Self::Sqlite => 100_000,
            Self::Postgres => 1_000_000,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// Which world, and where worlds are kept.
#[derive(Debug, Clone)]
pub struct WorldSpec {
    pub database: DatabaseKind,
    pub users: u64,
    pub seed: u64,
    /// Where SQLite worlds are kept.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL with the right to create databases (its own database is only used for that).
    pub postgres_url: String,
    /// Drop the kept world and seed it again.
    pub reseed: bool,
}

/// A seeded world, ready to serve.
#[derive(Debug, Clone)]
pub struct World {
    pub database: DatabaseKind,
    pub users: u64,
    pub seed: u64,
    /// What kanjian and the baseline connect to.
    pub url: String,
    /// The file or the database, for people.
    pub location: String,
    pub sqlite_path: Option<PathBuf>,
    /// When and how the world was seeded, if known.
    pub seeded: Option<String>,
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Opens a database for the bench's own statements (`pool` connections, no statement logging).
pub async fn connect(url: &str, pool: u32) -> Result<DatabaseConnection> {
    open(pool_options(url, pool), url).await
}

/// A pool of at most `pool` connections, without sqlx's statement logging.
fn pool_options(url: &str, pool: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(pool.max(1))
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    options
}

async fn open(options: ConnectOptions, url: &str) -> Result<DatabaseConnection> {
    Database::connect(options)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))
}

/// The connection the feeds are measured through: the bare SQL baseline runs on it. On
/// PostgreSQL it plans without parallel query. With it, each baseline statement started two
/// worker processes that were still being torn down on this 2-core machine when kanjian's next
/// request ran, and the interleaved measurement charged them to kanjian (Friends first page p99
/// 54–120 ms with them, 16.5 ms without); serial, the baseline itself was no slower (p50 239 ms
/// against 256–275 ms). Kanjian's own statements never plan parallel: they are index lookups.
pub async fn connect_measuring(url: &str, pool: u32) -> Result<DatabaseConnection> {
    let mut options = pool_options(url, pool);
    options.map_sqlx_postgres_opts(|o| o.options([("max_parallel_workers_per_gather", "0")]));
    open(options, url).await
}

/// The URL without a password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn sidecar_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [with("-wal"), with("-shm"), with(".seeded")]
}

fn remove_sqlite(path: &Path) -> Result<()> {
    for file in std::iter::once(path.to_path_buf()).chain(sidecar_files(path)) {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", file.display())),
        }
    }
    Ok(())
}

fn minutes(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 120.0 {
        format!("{secs:.0} s")
    } else {
        format!("{:.1} min", secs / 60.0)
    }
}

fn seeding_notice(spec: &WorldSpec, into: &str) {
    println!(
        "==> seeding the feeds world: {} users, seed {}, on {}, into {into}",
        spec.users,
        spec.seed,
        spec.database.label()
    );
    println!(
        "    this is done once and kept; it takes a long time for a large world (a million users: a long while, \
         think tens of minutes to hours on 2 cores). `kanjian seed` prints its progress below."
    );
}

/// Runs `kanjian seed --users N --seed S` on `url`, its output going to the terminal.
async fn run_seed(bin: &Path, work: &Path, url: &str, spec: &WorldSpec) -> Result<Duration> {
    let mut command = servers::kanjian_command(bin, &work.join("seed-data"), Some(url))?;
    command
        .args([
            "seed",
            "--users",
            &spec.users.to_string(),
            "--seed",
            &spec.seed.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || command.status())
        .await
        .context("waiting for kanjian seed")?
        .with_context(|| format!("running {} seed", bin.display()))?;
    if !status.success() {
        bail!("`kanjian seed` failed ({status}); the half-seeded world is not kept");
    }
    Ok(started.elapsed())
}

fn seeded_note(took: Duration, kanjian_version: &str) -> String {
    format!(
        "seeded {} in {} by `{}`",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        minutes(took),
        if kanjian_version.is_empty() {
            "kanjian seed"
        } else {
            kanjian_version
        }
    )
}

/// The world `spec` names, seeded first if it is not kept yet.
pub async fn prepare(
    spec: &WorldSpec,
    kanjian_bin: &Path,
    kanjian_version: &str,
    work: &Path,
) -> Result<World> {
    match spec.database {
        DatabaseKind::Sqlite => prepare_sqlite(spec, kanjian_bin, kanjian_version, work).await,
        DatabaseKind::Postgres => prepare_postgres(spec, kanjian_bin, kanjian_version, work).await,
    }
}

async fn prepare_sqlite(
    spec: &WorldSpec,
    kanjian_bin: &Path,
    kanjian_version: &str,
    work: &Path,
) -> Result<World> {
    let path = spec
        .data_dir
        .join(format!("feeds-sqlite-{}-{}.db", spec.users, spec.seed));
    let [_, _, note_file] = sidecar_files(&path);
    if spec.reseed && path.exists() {
        println!("==> --feeds-reseed: removing {}", path.display());
        remove_sqlite(&path)?;
    }
    if !path.exists() {
        std::fs::create_dir_all(&spec.data_dir)
            .with_context(|| format!("creating {}", spec.data_dir.display()))?;
        let mut loading = path.as_os_str().to_owned();
        loading.push(".loading");
        let loading = PathBuf::from(loading);
        if loading.exists() {
            println!(
                "==> removing {}, left by a seed that did not finish",
                loading.display()
            );
        }
        remove_sqlite(&loading)?;
        seeding_notice(spec, &loading.display().to_string());
        let took = run_seed(kanjian_bin, work, &sqlite_url(&loading), spec).await?;
        // Fold the write-ahead log into the file so the file alone is the world.
        let db = connect(&sqlite_url(&loading), 1).await?;
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .context("checkpointing the seeded SQLite world")?;
        db.close()
            .await
            .context("closing the seeded SQLite world")?;
        let [wal, shm, _] = sidecar_files(&loading);
        let wal_left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if wal_left > 0 {
            bail!(
                "{} still has {wal_left} bytes of write-ahead log after a checkpoint; not keeping it",
                loading.display()
            );
        }
        for file in [wal, shm] {
            let _ = std::fs::remove_file(file);
        }
        std::fs::rename(&loading, &path)
            .with_context(|| format!("renaming {} to {}", loading.display(), path.display()))?;
        let note = seeded_note(took, kanjian_version);
        std::fs::write(&note_file, format!("{note}\n"))
            .with_context(|| format!("writing {}", note_file.display()))?;
        println!(
            "==> seeded in {}; kept at {}",
            minutes(took),
            path.display()
        );
    } else {
        println!(
            "==> the feeds world is kept at {} (not seeding again)",
            path.display()
        );
    }
    let seeded = std::fs::read_to_string(&note_file)
        .ok()
        .map(|s| s.trim().to_owned());
    Ok(World {
        database: DatabaseKind::Sqlite,
        users: spec.users,
        seed: spec.seed,
        url: sqlite_url(&path),
        location: path.display().to_string(),
        sqlite_path: Some(path),
        seeded,
    })
}

/// `base` with its database (the URL's path) replaced by `name`.
fn postgres_database_url(base: &str, name: &str) -> Result<String> {
    let mut url = url::Url::parse(base).with_context(|| format!("--postgres-url {base}"))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

async fn database_exists(admin: &DatabaseConnection, name: &str) -> Result<bool> {
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await
        .context("looking for the world's database")?;
    Ok(row.is_some())
}

async fn sessions_on(admin: &DatabaseConnection, name: &str) -> Result<i64> {
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1",
            [name.into()],
        ))
        .await
        .context("looking for sessions on the world's database")?;
    Ok(row
        .and_then(|r| r.try_get_by_index::<i64>(0).ok())
        .unwrap_or(0))
}

/// An empty PostgreSQL database made for one run (the node benchmark's), dropped by [`Self::drop`].
pub struct ScratchDatabase {
    pub name: String,
    pub url: String,
    /// `SHOW server_version`, for the results.
    pub server_version: String,
    admin_url: String,
}

impl ScratchDatabase {
    /// `CREATE DATABASE kanjian_bench_<what>_<unix seconds>_<pid>` on the server of `admin_url`.
    pub async fn create(admin_url: &str, what: &str) -> Result<Self> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = format!("kanjian_bench_{what}_{stamp}_{}", std::process::id());
        let admin = connect(admin_url, 1).await.with_context(|| {
            format!(
                "PostgreSQL is not reachable at {} (--postgres-url)",
                redact(admin_url)
            )
        })?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("creating the database {name}"))?;
        let server_version = admin
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SHOW server_version".to_owned(),
            ))
            .await
            .ok()
            .flatten()
            .and_then(|row| row.try_get_by_index::<String>(0).ok())
            .unwrap_or_else(|| "?".into());
        admin
            .close()
            .await
            .context("closing the admin connection")?;
        Ok(Self {
            url: postgres_database_url(admin_url, &name)?,
            name,
            server_version,
            admin_url: admin_url.to_owned(),
        })
    }

    /// `DROP DATABASE … WITH (FORCE)`: whatever is still connected is disconnected.
    pub async fn drop(self) -> Result<()> {
        let admin = connect(&self.admin_url, 1).await?;
        admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await
            .with_context(|| format!("dropping the database {}", self.name))?;
        admin.close().await.context("closing the admin connection")
    }

    /// Drops it and says so; a benchmark's figures stand whether or not this works.
    pub async fn drop_and_say(self) {
        let name = self.name.clone();
        match self.drop().await {
            Ok(()) => println!("==> dropped the database {name}"),
            Err(e) => println!("==> could not drop the database {name}: {e:#}"),
        }
    }
}

/// `VACUUM (ANALYZE)` of a freshly seeded world: the seed analyzes, but only a vacuum sets the
/// visibility map that index-only scans need (autovacuum would, in its own time: maybe during a
/// run).
async fn vacuum(url: &str, name: &str) -> Result<()> {
    println!(
        "==> VACUUM (ANALYZE) of {name}, as autovacuum would do in time (minutes for a large world)"
    );
    let started = Instant::now();
    let db = connect(url, 1).await?;
    db.execute_unprepared("VACUUM (ANALYZE)")
        .await
        .with_context(|| format!("vacuuming {name}"))?;
    db.close()
        .await
        .with_context(|| format!("closing {name}"))?;
    println!("    done in {}", minutes(started.elapsed()));
    Ok(())
}

async fn prepare_postgres(
    spec: &WorldSpec,
    kanjian_bin: &Path,
    kanjian_version: &str,
    work: &Path,
) -> Result<World> {
    let name = format!("kanjian_bench_{}_{}", spec.users, spec.seed);
    let loading = format!("{name}_loading");
    let admin = connect(&spec.postgres_url, 1).await.with_context(|| {
        format!(
            "PostgreSQL is not reachable at {} (--postgres-url)",
            redact(&spec.postgres_url)
        )
    })?;
    let mut exists = database_exists(&admin, &name).await?;
    if spec.reseed && exists {
        println!("==> --feeds-reseed: dropping the database {name}");
        admin
            .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .await
            .with_context(|| format!("dropping {name}"))?;
        exists = false;
    }
    if !exists {
        if database_exists(&admin, &loading).await? {
            let sessions = sessions_on(&admin, &loading).await?;
            if sessions > 0 {
                bail!(
                    "the database {loading} has {sessions} sessions: a seed is running into it. Wait for it \
                     (then `ALTER DATABASE \"{loading}\" RENAME TO \"{name}\"` if it was run by hand), or stop it"
                );
            }
            if !spec.reseed {
                // Seeding a million users takes long: never throw one away without being asked.
                bail!(
                    "the database {loading} is left by a seed that did not finish, or by one run by hand. If its seed \
                     finished, rename it: `ALTER DATABASE \"{loading}\" RENAME TO \"{name}\"`; to seed again, pass \
                     --feeds-reseed (which drops it)"
                );
            }
            println!("==> --feeds-reseed: dropping {loading}");
            admin
                .execute_unprepared(&format!("DROP DATABASE \"{loading}\" WITH (FORCE)"))
                .await
                .with_context(|| format!("dropping {loading}"))?;
        }
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{loading}\""))
            .await
            .with_context(|| format!("creating the database {loading}"))?;
        let loading_url = postgres_database_url(&spec.postgres_url, &loading)?;
        seeding_notice(spec, &format!("the database {loading}"));
        let took = run_seed(kanjian_bin, work, &loading_url, spec).await?;
        vacuum(&loading_url, &loading).await?;
        admin
            .execute_unprepared(&format!(
                "ALTER DATABASE \"{loading}\" RENAME TO \"{name}\""
            ))
            .await
            .with_context(|| format!("renaming {loading} to {name}"))?;
        let note = seeded_note(took, kanjian_version).replace('\'', "''");
        admin
            .execute_unprepared(&format!("COMMENT ON DATABASE \"{name}\" IS '{note}'"))
            .await
            .context("noting when the world was seeded")?;
        println!(
            "==> seeded in {}; kept as the database {name}",
            minutes(took)
        );
    } else {
        println!("==> the feeds world is kept as the database {name} (not seeding again)");
        // A world seeded by hand (or before autovacuum came round) may never have been vacuumed.
        let url = postgres_database_url(&spec.postgres_url, &name)?;
        let db = connect(&url, 1).await?;
        let unvacuumed = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT COUNT(*) FROM pg_stat_user_tables WHERE relname IN ('social_friendships', 'social_reactions') \
                 AND last_vacuum IS NULL AND last_autovacuum IS NULL"
                    .to_owned(),
            ))
            .await
            .context("asking whether the world was vacuumed")?
            .and_then(|row| row.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0);
        db.close().await.context("closing the world")?;
        if unvacuumed > 0 {
            vacuum(&url, &name).await?;
        }
    }
    let seeded = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            [name.as_str().into()],
        ))
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get_by_index::<Option<String>>(0).ok().flatten());
    admin
        .close()
        .await
        .context("closing the admin connection")?;
    Ok(World {
        database: DatabaseKind::Postgres,
        users: spec.users,
        seed: spec.seed,
        url: postgres_database_url(&spec.postgres_url, &name)?,
        location: format!("database {name}"),
        sqlite_path: None,
        seeded,
    })
}

/// The world's size, for the results: `(what, how many)`, and its size on disk in bytes.
pub async fn describe(
    world: &World,
    db: &DatabaseConnection,
) -> Result<(Vec<(String, String)>, u64)> {
    let backend = db.get_database_backend();
    let scalar = async |sql: String| -> Result<i64> {
        let row = db
            .query_one_raw(Statement::from_string(backend, sql.clone()))
            .await
            .with_context(|| format!("`{sql}`"))?
            .with_context(|| format!("`{sql}` returned no row"))?;
        // COUNT(*) is a bigint; reltuples a real; sizes a bigint.
        row.try_get_by_index::<i64>(0)
            .or_else(|_| row.try_get_by_index::<f64>(0).map(|f| f as i64))
            .or_else(|_| row.try_get_by_index::<f32>(0).map(|f| f as i64))
            .with_context(|| format!("reading the result of `{sql}`"))
    };
    let exact = |table: &str, filter: &str| format!("SELECT COUNT(*) FROM {table} {filter}");
    let mut out = Vec::new();
    let big = [
        ("friendship rows (both directions)", "social_friendships"),
        ("reactions (recommends and likes)", "social_reactions"),
        ("views", "social_views"),
        ("follows", "social_follows"),
    ];
    out.push((
        "users".to_owned(),
        group(scalar(exact("identity_users", "")).await?),
    ));
    out.push((
        "published videos".to_owned(),
        group(scalar(exact("social_videos", "WHERE published_at IS NOT NULL")).await?),
    ));
    for (label, table) in big {
        let value = match world.database {
            DatabaseKind::Sqlite => group(scalar(exact(table, "")).await?),
            // COUNT(*) of tens of millions of rows takes a while; the planner's estimate will do.
            DatabaseKind::Postgres => format!(
                "≈ {}",
                group(
                    scalar(format!(
                        "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE relname = '{table}' AND relkind = 'r'"
                    ))
                    .await?
                )
            ),
        };
        out.push((label.to_owned(), value));
    }
    let size = match world.database {
        DatabaseKind::Sqlite => world
            .sqlite_path
            .iter()
            .flat_map(|p| std::iter::once(p.clone()).chain(sidecar_files(p).into_iter().take(2)))
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum(),
        DatabaseKind::Postgres => {
            u64::try_from(scalar("SELECT pg_database_size(current_database())".into()).await?)
                .unwrap_or(0)
        }
    };
    Ok((out, size))
}

/// 1234567 → "1 234 567".
pub fn group(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Bytes as MB or GB.
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else {
        format!("{:.0} MB", b / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1 000");
        assert_eq!(group(1_234_567), "1 234 567");
        assert_eq!(group(-12_345), "-12 345");
    }

    #[test]
    fn postgres_world_urls_keep_the_server_and_change_the_database() {
        let url = postgres_database_url(
            "postgres://postgres@127.0.0.1:5432/postgres",
            "kanjian_bench_1_2",
        )
        .expect("a URL");
        assert_eq!(url, "postgres://postgres@127.0.0.1:5432/kanjian_bench_1_2");
        assert_eq!(
            redact("postgres://u:secret@host/db"),
            "postgres://u:***@host/db"
        );
    }
}

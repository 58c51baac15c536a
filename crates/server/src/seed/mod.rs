//! `kanjian seed`: builds a synthetic world (see `world.rs` for the models) into an empty,
//! migrated database, one table at a time through each module's seed writers (PostgreSQL `COPY`,
//! SQLite batched inserts). Rows are generated on a blocking thread in chunks and streamed to
//! the writer, so memory stays bounded except for the friend graph and follows held in memory.
//!
//! Counters (`social_*_stats`, and those on `social_videos`, written last) are counted by the
//! generator from the very rows it emits.

mod sample;
mod world;

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use indicatif::{HumanCount, ProgressBar, ProgressStyle};
use kanjian_identity::seed as identity;
use kanjian_media::seed as media;
use kanjian_db::bulk::{BulkRow, BulkWriter};
use kanjian_server::Config;
use kanjian_server::cli::SeedArgs;
use kanjian_search::index::{DocKind, SearchDocument};
use kanjian_search::seed as search;
use kanjian_social::seed as social;
use sea_orm::{ConnectionTrait, DbBackend};

use world::{DAY, Params, World};

/// Rows per chunk handed from the generator to the writer.
const CHUNK: usize = 16_384;

type Timestamp = kanjian_kernel::Timestamp;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_timestamp(secs, 0).unwrap_or_default()
}

/// Rows and seconds per table, seconds per phase.
#[derive(Default)]
struct Report {
    tables: Vec<(&'static str, u64, Duration)>,
    phases: Vec<(&'static str, Duration)>,
}

fn bar(name: &'static str, len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{prefix:>21} [{bar:28}] {human_pos:>11}/{human_len:<11} {per_sec:>13} {elapsed:>4} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    ProgressBar::new(len).with_style(style).with_prefix(name)
}

fn spinner(name: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{prefix:>21} {spinner} {msg} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar = ProgressBar::new_spinner()
        .with_style(style)
        .with_prefix(name);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn rate(rows: u64, took: Duration) -> u64 {
    (rows as f64 / took.as_secs_f64().max(1e-6)) as u64
}

/// Streams the rows `produce` generates (on a blocking thread) into `writer`; returns what
/// `produce` returns (counters it kept on the way).
async fn load<R, T, F>(
    report: &mut Report,
    writer: BulkWriter<R>,
    expected: u64,
    produce: F,
) -> anyhow::Result<T>
where
    R: BulkRow + 'static,
    T: Send + 'static,
    F: FnOnce(&mut dyn FnMut(Vec<R>) -> bool) -> T + Send + 'static,
{
    let started = Instant::now();
    let progress = bar(R::TABLE, expected);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<R>>(4);
    let producer =
        tokio::task::spawn_blocking(move || produce(&mut |chunk| tx.blocking_send(chunk).is_ok()));
    let mut writer = writer;
    let mut failure = None;
    while let Some(chunk) = rx.recv().await {
        if let Err(e) = writer.write(&chunk).await {
            failure = Some(e);
            break;
        }
        progress.inc(chunk.len() as u64);
    }
    drop(rx);
    let out = producer.await.context("the row generator failed")?;
    if let Some(e) = failure {
        return Err(e).with_context(|| format!("loading {}", R::TABLE));
    }
    let rows = writer
        .finish()
        .await
        .with_context(|| format!("loading {}", R::TABLE))?;
    let took = started.elapsed();
    progress.finish();
    if progress.is_hidden() {
        eprintln!(
            "{:>21}: {} rows in {:.1} s ({}/s)",
            R::TABLE,
            HumanCount(rows),
            took.as_secs_f64(),
            HumanCount(rate(rows, took))
        );
    }
    report.tables.push((R::TABLE, rows, took));
    Ok(out)
}

/// Pushes rows into chunks and hands full chunks on; false once the writer has gone.
struct Chunker<'a, R> {
    chunk: Vec<R>,
    send: &'a mut dyn FnMut(Vec<R>) -> bool,
}

impl<'a, R> Chunker<'a, R> {
    fn new(send: &'a mut dyn FnMut(Vec<R>) -> bool) -> Self {
        Self {
            chunk: Vec::with_capacity(CHUNK),
            send,
        }
    }
    fn push(&mut self, row: R) -> bool {
        self.chunk.push(row);
        if self.chunk.len() >= CHUNK {
            let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
            return (self.send)(full);
        }
        true
    }
    fn done(self) {
        if !self.chunk.is_empty() {
            (self.send)(self.chunk);
        }
    }
}

fn params(args: &SeedArgs) -> anyhow::Result<Params> {
    for (name, share) in [
        ("--channel-share", args.channel_share),
        ("--recommend-share", args.recommend_share),
    ] {
        if !(0.0..=1.0).contains(&share) {
            bail!("{name} is a share between 0 and 1");
        }
    }
    if args.users == u32::MAX {
        bail!("--users is too large");
    }
    if args.avg_friends < 0.0 || args.avg_follows < 0.0 || args.views_per_user < 0.0 {
        bail!("--avg-friends, --avg-follows and --views-per-user cannot be negative");
    }
    Ok(Params {
        users: args.users,
        avg_friends: args.avg_friends,
        max_friends: args.max_friends,
        channel_share: args.channel_share,
        videos: args.videos.unwrap_or(args.users),
        avg_follows: args.avg_follows,
        reactions: args.reactions.unwrap_or(50 * u64::from(args.users)),
        recommend_share: args.recommend_share,
        views_per_user: args.views_per_user,
        days: args.days.max(1),
        seed: args.seed,
        now: chrono::Utc::now().timestamp(),
    })
}

pub async fn run(config: &Config, args: &SeedArgs) -> anyhow::Result<()> {
    let params = params(args)?;
    let started = Instant::now();
    std::fs::create_dir_all(&config.data_dir).context("creating the data dir")?;
    // The whole history, modules' own migrations included, as `serve` and `migrate` apply it.
    let db = kanjian_migrations::database::connect_and_migrate_with::<kanjian_server::modules::AllMigrations>(
        &config.database_url(),
        &config.database,
        kanjian_kernel::Clock::system(),
    )
        .await
        .context("opening and migrating the database")?;
    let existing = identity::user_count(&db).await?;
    if existing > 0 {
        bail!("the database already has {existing} users; seed needs an empty database");
    }
    if db.backend() == DbBackend::Sqlite {
        // A bigger page cache keeps the index inserts of a large load in memory (the one writer).
        db.writer().execute_unprepared("PRAGMA cache_size = -524288").await?;
    }
    let mut report = Report::default();
    let world = plan(params, &mut report).await?;
    write_world(&db, world.clone(), &mut report).await?;

    let t = Instant::now();
    let finishing = spinner("sequences, analyze");
    identity::finish(&db).await?;
    media::finish(&db).await?;
    social::finish(&db).await?;
    search::finish(&db).await?;
    finishing.finish_and_clear();
    report.phases.push(("sequences + analyze", t.elapsed()));
    print_summary(&report, &world, started.elapsed());
    Ok(())
}

async fn plan(params: Params, report: &mut Report) -> anyhow::Result<Arc<World>> {
    let categories = kanjian_media::domain::CATEGORIES;
    let progress = spinner("planning");
    let timings = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let mut world = World::new(params, categories);
        let base = t.elapsed();
        let t = Instant::now();
        world.build_friends();
        let friends = t.elapsed();
        let t = Instant::now();
        world.build_follows();
        (
            world,
            [
                ("plan: users, channels, videos", base),
                ("plan: friend graph", friends),
                ("plan: follows", t.elapsed()),
            ],
        )
    })
    .await
    .context("planning the world")?;
    progress.finish_and_clear();
    let (world, phases) = timings;
    for (name, took) in phases {
        if !std::io::stderr().is_terminal() {
            eprintln!("{name:>30}: {:.1} s", took.as_secs_f64());
        }
        report.phases.push((name, took));
    }
    Ok(Arc::new(world))
}

async fn write_world(
    db: &kanjian_db::Db,
    world: Arc<World>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let p = world.p.clone();
    let n = u64::from(p.users);
    let hash = identity::seed_password_hash().await?;

    let t = Instant::now();
    let w = world.clone();
    load(report, identity::writer(db).await?, n, move |send| {
        let mut out = Chunker::new(send);
        for u in 0..w.p.users {
            let id = i64::from(u) + 1;
            let user = identity::User {
                id,
                email: format!("user{id}@seed.kanjian.test"),
                display_name: World::display_name(u),
                password_hash: hash.clone(),
                created_at: ts(w.user_created(u)),
            };
            if !out.push(user) {
                return;
            }
        }
        out.done();
    })
    .await?;
    let w = world.clone();
    load(
        report,
        identity::writer(db).await?,
        w.channels.len() as u64,
        move |send| {
            let mut out = Chunker::new(send);
            for (i, c) in w.channels.iter().enumerate() {
                let owner = i64::from(c.owner) + 1;
                let channel = identity::Channel {
                    id: i as i64 + 1,
                    owner_id: owner,
                    handle: seeded_handle(owner),
                    display_name: World::display_name(c.owner),
                    bio: String::new(),
                    created_at: ts(c.created),
                };
                if !out.push(channel) {
                    return;
                }
            }
            out.done();
        },
    )
    .await?;
    report.phases.push(("identity", t.elapsed()));

    let t = Instant::now();
    let v = world.videos.len() as u64;
    let w = world.clone();
    load(report, media::writer(db).await?, v, move |send| {
        let mut out = Chunker::new(send);
        for (i, video) in w.videos.iter().enumerate() {
            let channel = &w.channels[video.channel as usize];
            let row = media::Video {
                id: i as i64 + 1,
                channel_id: i64::from(video.channel) + 1,
                owner_id: i64::from(channel.owner) + 1,
                title: w.video_title(i),
                category: w.category(video.category),
                duration_ms: i64::from(video.duration_ms),
                created_at: ts(video.published - 600),
                published_at: ts(video.published),
            };
            if !out.push(row) {
                return;
            }
        }
        out.done();
    })
    .await?;
    load(report, media::writer(db).await?, 2 * v, move |send| {
        let mut out = Chunker::new(send);
        for id in 1..=v as i64 {
            for r in media::Rendition::for_video(id) {
                if !out.push(r) {
                    return;
                }
            }
        }
        out.done();
    })
    .await?;
    report.phases.push(("media", t.elapsed()));

    let t = Instant::now();
    let w = world.clone();
    load(
        report,
        social::writer(db).await?,
        world.friends.targets.len() as u64,
        move |send| {
            let mut out = Chunker::new(send);
            for u in 0..w.p.users {
                for &f in w.friends.of(u as usize) {
                    let (interactions, created) = w.friendship_details(u, f);
                    let row = social::Friendship {
                        user_id: i64::from(u) + 1,
                        friend_id: i64::from(f) + 1,
                        interactions,
                        created_at: ts(created),
                    };
                    if !out.push(row) {
                        return;
                    }
                }
            }
            out.done();
        },
    )
    .await?;
    let w = world.clone();
    let followers = load(
        report,
        social::writer(db).await?,
        world.follows.targets.len() as u64,
        move |send| {
            let mut followers = vec![0u32; w.channels.len()];
            let mut out = Chunker::new(send);
            for u in 0..w.p.users {
                for &c in w.follows.of(u as usize) {
                    followers[c as usize] += 1;
                    let row = social::Follow {
                        user_id: i64::from(u) + 1,
                        channel_id: i64::from(c) + 1,
                        channel_owner_id: i64::from(w.channels[c as usize].owner) + 1,
                        created_at: ts(w.follow_created(u, c)),
                    };
                    if !out.push(row) {
                        return followers;
                    }
                }
            }
            out.done();
            followers
        },
    )
    .await?;
    let w = world.clone();
    load(report, social::writer(db).await?, n, move |send| {
        let mut out = Chunker::new(send);
        for u in 0..w.p.users as usize {
            let (friends, following) = (w.friends.degree(u) as i64, w.follows.degree(u) as i64);
            if friends + following > 0 {
                let row = social::UserStats {
                    user_id: u as i64 + 1,
                    friends,
                    following,
                };
                if !out.push(row) {
                    return;
                }
            }
        }
        out.done();
    })
    .await?;
    let c = world.channels.len() as u64;
    let followers = Arc::new(followers);
    let f = followers.clone();
    load(report, social::writer(db).await?, c, move |send| {
        let mut out = Chunker::new(send);
        for (i, &f) in f.iter().enumerate() {
            if f > 0
                && !out.push(social::ChannelStats {
                    channel_id: i as i64 + 1,
                    followers: i64::from(f),
                })
            {
                return;
            }
        }
        out.done();
    })
    .await?;
    report.phases.push(("social: graph", t.elapsed()));

    let t = Instant::now();
    let w = world.clone();
    let reactions = load(
        report,
        social::writer(db).await?,
        p.reactions,
        move |send| {
            let mut counts = vec![[0u32; 2]; w.videos.len()];
            let mut rng = w.reaction_rng();
            let mut mine = Vec::new();
            let mut out = Chunker::new(send);
            for u in 0..w.p.users {
                w.reactions_of(&mut rng, u, &mut mine);
                for &(video, kind, at) in &mine {
                    counts[video as usize][usize::from(kind == social::RECOMMEND)] += 1;
                    let row = social::Reaction {
                        user_id: i64::from(u) + 1,
                        video_id: i64::from(video) + 1,
                        kind,
                        created_at: ts(at),
                    };
                    if !out.push(row) {
                        return counts;
                    }
                }
            }
            out.done();
            counts
        },
    )
    .await?;
    report.phases.push(("social: reactions", t.elapsed()));

    let t = Instant::now();
    let w = world.clone();
    let expected_views = (p.views_per_user * f64::from(p.users)) as u64;
    let views = load(
        report,
        social::writer(db).await?,
        expected_views,
        move |send| {
            // Per video: views, watch ms, completions.
            let mut counts = vec![(0u32, 0u64, 0u32); w.videos.len()];
            let mut rng = w.view_rng();
            let mut mine = Vec::new();
            let mut id = 0i64;
            let mut out = Chunker::new(send);
            for u in 0..w.p.users {
                w.views_of(&mut rng, u, &mut mine);
                for &(video, day, watch, completed, at) in &mine {
                    let c = &mut counts[video as usize];
                    c.0 += 1;
                    c.1 += watch as u64;
                    c.2 += u32::from(completed);
                    id += 1;
                    let updated = (at + watch / 1000)
                        .min(w.p.now)
                        .max(at)
                        .min((day + 1) * DAY - 1);
                    let row = social::View {
                        id,
                        user_id: i64::from(u) + 1,
                        video_id: i64::from(video) + 1,
                        day,
                        watch_ms: watch,
                        completed,
                        created_at: ts(at),
                        updated_at: ts(updated),
                    };
                    if !out.push(row) {
                        return counts;
                    }
                }
            }
            out.done();
            counts
        },
    )
    .await?;
    // The projection of every video, with the counters of the rows just written.
    let (reactions, views) = (Arc::new(reactions), Arc::new(views));
    let (w, r, s) = (world.clone(), reactions.clone(), views.clone());
    load(report, social::writer(db).await?, v, move |send| {
        let mut out = Chunker::new(send);
        for (i, ((video, r), s)) in w.videos.iter().zip(r.iter()).zip(s.iter()).enumerate() {
            let row = social::Video {
                video_id: i as i64 + 1,
                channel_id: i64::from(video.channel) + 1,
                owner_id: i64::from(w.channels[video.channel as usize].owner) + 1,
                category: w.category(video.category),
                duration_ms: i64::from(video.duration_ms),
                published_at: ts(video.published),
                likes: i64::from(r[0]),
                recommends: i64::from(r[1]),
                views: i64::from(s.0),
                watch_ms: s.1 as i64,
                completions: i64::from(s.2),
            };
            if !out.push(row) {
                return;
            }
        }
        out.done();
    })
    .await?;
    report
        .phases
        .push(("social: views + videos", t.elapsed()));

    // What search finds: every video and channel, as its event handlers would record them.
    let t = Instant::now();
    let w = world.clone();
    load(report, search::writer(db).await?, v + c, move |send| {
        let mut out = Chunker::new(send);
        let changed_at_ms = w.p.now * 1000;
        let mut seq = 0;
        let mut next = |doc: SearchDocument| {
            seq += 1;
            search::Document { doc, seq, changed_at_ms }
        };
        for (i, ((video, r), s)) in w.videos.iter().zip(reactions.iter()).zip(views.iter()).enumerate() {
            let owner = w.channels[video.channel as usize].owner;
            let doc = SearchDocument {
                kind: DocKind::Video,
                id: i as i64 + 1,
                title: w.video_title(i),
                body: String::new(),
                owner_id: i64::from(owner) + 1,
                channel_id: Some(i64::from(video.channel) + 1),
                category: Some(w.category(video.category).to_owned()),
                price: None,
                popularity: kanjian_search::video_popularity(i64::from(r[1]), 0, 0, i64::from(s.0)),
                published_at: video.published * 1000,
                live: false,
            };
            if !out.push(next(doc)) {
                return;
            }
        }
        for (i, channel) in w.channels.iter().enumerate() {
            let owner = i64::from(channel.owner) + 1;
            let doc = SearchDocument {
                kind: DocKind::Channel,
                id: i as i64 + 1,
                title: World::display_name(channel.owner),
                body: seeded_handle(owner),
                owner_id: owner,
                channel_id: Some(i as i64 + 1),
                category: None,
                price: None,
                popularity: i64::from(followers[i]),
                published_at: channel.created * 1000,
                live: false,
            };
            if !out.push(next(doc)) {
                return;
            }
        }
        out.done();
    })
    .await?;
    report.phases.push(("search: documents", t.elapsed()));
    Ok(())
}

/// The handle of the seeded channel owned by user `owner` (an id).
fn seeded_handle(owner: i64) -> String {
    format!("u{owner:02}")
}

fn print_summary(report: &Report, world: &World, total: Duration) {
    let d = world.degree_stats();
    println!(
        "Seeded a world in {:.1} s (seed {}):",
        total.as_secs_f64(),
        world.p.seed
    );
    println!(
        "  {:<22} {:>13} {:>9} {:>11}",
        "table", "rows", "seconds", "rows/s"
    );
    for (table, rows, took) in &report.tables {
        println!(
            "  {table:<22} {rows:>13} {:>9.1} {:>11}",
            took.as_secs_f64(),
            rate(*rows, *took)
        );
    }
    println!(
        "  friends per user: average {:.1}, median {}, p99 {}, max {}, none {}",
        d.average, d.median, d.p99, d.max, d.isolated
    );
    let phases: Vec<String> = report
        .phases
        .iter()
        .map(|(n, t)| format!("{n} {:.1} s", t.as_secs_f64()))
        .collect();
    println!("  phases: {}", phases.join(", "));
    println!("  total: {:.1} s", total.as_secs_f64());
    println!(
        "Every seeded account (user1@seed.kanjian.test … user{}@seed.kanjian.test) has the password `{}`. \
         Seeded videos have no playable files. Videos and channels are searchable once `kanjian serve`'s \
         indexer has read them (or after `kanjian reindex`).",
        world.p.users,
        identity::SEED_PASSWORD
    );
}

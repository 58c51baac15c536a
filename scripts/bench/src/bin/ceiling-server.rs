//! The ceiling for `node(id:)` on this stack: actix-web + async-graphql answering
//!
//! ```graphql
//! query($id: ID!) { node(id: $id) { ... on Video { id title status duration playlistUrl channel { handle } } } }
//! ```
//!
//! with the same response shape as `kanjian`, running the statements `kanjian` runs for it (the
//! video and its renditions side by side, then its channel) through sea-orm's connection (sqlx
//! underneath), on the same database, with the same pool settings. Nothing else: no limits, no
//! DataLoaders, no caller, no visibility check, no request spans, no logging. Whatever `kanjian`
//! costs above it is what Kanjian adds to the bare stack; it is the most this stack can serve.
//!
//!     CEILING_DATABASE_URL='sqlite:///tmp/x/kanjian.sqlite?mode=rwc' \
//!         ceiling-server --bind 127.0.0.1:8082 --workers 2 --public-url http://127.0.0.1:8080

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Enum, ID, Interface, Object, Schema, SimpleObject,
};
use async_graphql_actix_web::{GraphQLRequest, GraphQLResponse};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult,
    Statement,
};

/// The same allocator as the `kanjian` binary: it is part of the stack being measured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "ceiling-server",
    about = "node(id:) of a Video on bare actix-web + async-graphql + sea-orm (benchmark ceiling)"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8082")]
    bind: SocketAddr,
    /// actix-web workers (threads); defaults to actix-web's own default, the number of CPUs.
    #[arg(long)]
    workers: Option<usize>,
    /// The database kanjian serves from: `sqlite://…` or `postgres://…`.
    #[arg(long, env = "CEILING_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Prefixes `playlistUrl`, as kanjian's `http.public_url` does (give kanjian's, so the
    /// answers are byte for byte the same).
    #[arg(long)]
    public_url: String,
    /// Connections in the pool [default: 4 on SQLite, kanjian's `sqlite_readers`; 10 on
    /// PostgreSQL, kanjian's `max_connections`].
    #[arg(long)]
    pool: Option<u32>,
}

/// The statements kanjian runs for this query, as sea-orm writes them (`videos_by_ids` and its
/// renditions in the media module, `channels_by_ids` in identity): the same text, so the same
/// plans and the same prepared-statement cache behaviour.
struct Sql {
    backend: DbBackend,
    video: String,
    renditions: String,
    channel: String,
}

impl Sql {
    fn new(backend: DbBackend) -> Self {
        let p = if backend == DbBackend::Postgres {
            "$1"
        } else {
            "?"
        };
        let columns = |table: &str, names: &[&str]| {
            names
                .iter()
                .map(|c| format!("\"{table}\".\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let video = columns(
            "media_videos",
            &[
                "id",
                "channel_id",
                "owner_id",
                "title",
                "description",
                "hashtags",
                "category",
                "is_original",
                "status",
                "progress_percent",
                "failure_reason",
                "failure_code",
                "duration_ms",
                "width",
                "height",
                "published_at",
                "created_at",
                "updated_at",
            ],
        );
        let renditions = columns(
            "media_renditions",
            &["id", "video_id", "name", "width", "height", "bandwidth"],
        );
        let channel = columns(
            "identity_channels",
            &[
                "id",
                "owner_id",
                "handle",
                "display_name",
                "bio",
                "avatar_url",
                "created_at",
                "updated_at",
            ],
        );
        Self {
            backend,
            video: format!(
                "SELECT {video} FROM \"media_videos\" WHERE \"media_videos\".\"id\" IN ({p})"
            ),
            renditions: format!(
                "SELECT {renditions} FROM \"media_renditions\" WHERE \"media_renditions\".\"video_id\" IN ({p})"
            ),
            channel: format!(
                "SELECT {channel} FROM \"identity_channels\" WHERE \"identity_channels\".\"id\" IN ({p})"
            ),
        }
    }

    fn with_id(&self, sql: &str, id: i64) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, [id.into()])
    }
}

struct State {
    db: DatabaseConnection,
    sql: Sql,
    public_url: String,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
enum VideoStatus {
    Uploading,
    Processing,
    Ready,
    Failed,
}

struct Video {
    id: i64,
    channel_id: i64,
    title: String,
    status: VideoStatus,
    duration_ms: Option<i64>,
}

#[Object]
impl Video {
    async fn id(&self) -> ID {
        ID(URL_SAFE_NO_PAD.encode(format!("Video:{}", self.id)))
    }

    async fn title(&self) -> &str {
        &self.title
    }

    async fn status(&self) -> VideoStatus {
        self.status
    }

    async fn duration(&self) -> Option<f64> {
        self.duration_ms.map(|ms| ms as f64 / 1000.0)
    }

    async fn playlist_url(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let state = ctx.data::<State>()?;
        Ok((self.status == VideoStatus::Ready).then(|| {
            format!(
                "{}/media/videos/{}/master.m3u8",
                state.public_url.trim_end_matches('/'),
                self.id
            )
        }))
    }

    async fn channel(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Channel>> {
        let state = ctx.data::<State>()?;
        let rows = state
            .db
            .query_all_raw(state.sql.with_id(&state.sql.channel, self.channel_id))
            .await?;
        rows.first()
            .map(|row| -> async_graphql::Result<Channel> {
                Ok(Channel {
                    handle: row.try_get("", "handle")?,
                })
            })
            .transpose()
    }
}

#[derive(SimpleObject)]
struct Channel {
    handle: String,
}

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
enum Node {
    Video(Video),
}

fn video(row: &QueryResult) -> async_graphql::Result<Video> {
    let status: String = row.try_get("", "status")?;
    Ok(Video {
        id: row.try_get("", "id")?,
        channel_id: row.try_get("", "channel_id")?,
        title: row.try_get("", "title")?,
        status: match status.as_str() {
            "UPLOADING" => VideoStatus::Uploading,
            "PROCESSING" => VideoStatus::Processing,
            "READY" => VideoStatus::Ready,
            _ => VideoStatus::Failed,
        },
        duration_ms: row.try_get("", "duration_ms")?,
    })
}

struct Query;

#[Object]
impl Query {
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let Some(id) = URL_SAFE_NO_PAD
            .decode(id.as_str())
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|raw| raw.strip_prefix("Video:")?.parse::<i64>().ok())
        else {
            return Ok(None);
        };
        let state = ctx.data::<State>()?;
        // As kanjian's media module does: the renditions are read beside the video. This query
        // shows none of them, but the real path reads them, so the ceiling does too.
        let (videos, renditions) = futures::try_join!(
            state
                .db
                .query_all_raw(state.sql.with_id(&state.sql.video, id)),
            state
                .db
                .query_all_raw(state.sql.with_id(&state.sql.renditions, id)),
        )?;
        std::hint::black_box(renditions.len());
        videos
            .first()
            .map(|row| video(row).map(Node::Video))
            .transpose()
    }
}

type CeilingSchema = Schema<Query, EmptyMutation, EmptySubscription>;

async fn graphql(schema: web::Data<CeilingSchema>, request: GraphQLRequest) -> GraphQLResponse {
    schema.execute(request.into_inner()).await.into()
}

async fn readyz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ready")
}

async fn connect(url: &str, pool: Option<u32>) -> anyhow::Result<DatabaseConnection> {
    let sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(pool.unwrap_or(if sqlite { 4 } else { 10 }).max(1))
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        .sqlx_logging(false);
    if sqlite {
        // kanjian's readers: WAL, query_only (the writer is kanjian's; this server only reads).
        options.map_sqlx_sqlite_opts(|opts: SqliteConnectOptions| {
            opts.busy_timeout(Duration::from_secs(10))
                .pragma("query_only", "ON")
        });
    }
    Database::connect(options)
        .await
        .context("connecting to the database")
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = connect(&args.database_url, args.pool).await?;
    let sql = Sql::new(db.get_database_backend());
    // Fail at start, not under load, if the tables are not there (kanjian migrates them).
    for statement in [&sql.video, &sql.renditions, &sql.channel] {
        db.query_all_raw(sql.with_id(statement, 0))
            .await
            .with_context(|| format!("trying `{statement}`"))?;
    }
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(State {
            db,
            sql,
            public_url: args.public_url.clone(),
        })
        .finish();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(schema.clone()))
            .route("/graphql", web::post().to(graphql))
            .route("/readyz", web::get().to(readyz))
    })
    .bind(args.bind)
    .with_context(|| format!("binding {}", args.bind))?;
    if let Some(workers) = args.workers {
        server = server.workers(workers);
    }
    println!("ceiling-server listening on http://{}", args.bind);
    server.run().await.context("serving")
}

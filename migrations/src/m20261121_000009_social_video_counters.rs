//! social: a video's counters move into its projection row (`social_videos`), and
//! `social_video_stats` goes.
//!
//! Every feed page looks up each of its candidates (up to 600) for its channel, creator, views
//! and completions. With the counters in a table of their own that was two primary-key probes
//! and two heap fetches per candidate, and the second half was about half of the whole lookup
//! (measured with pgbench at 1M users: 2.8 ms with the join, 1.4 ms without); now it is one.
//!
//! A reaction, comment, share or view can be counted before media's `VideoPublished` event has
//! reached the projection, so a row may exist with counters only: `channel_id` and `owner_id`
//! become nullable, and such a row's `updated_at` is the Unix epoch, older than any event, so
//! the event still applies (and fills them in) when it arrives.
//!
//! The table is rebuilt rather than altered: SQLite cannot drop a NOT NULL, and on PostgreSQL a
//! fresh copy is compact where an `UPDATE … FROM` of every row would leave half the table dead.
//! On PostgreSQL the new table keeps 10 % of each page free (`fillfactor = 90`): the counters
//! change all the time, and an update that fits in its page touches none of the indexes (HOT).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::prelude::ChronoDateTimeUtc;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000009_social_video_counters"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SocialVideos {
    Table,
    VideoId,
    ChannelId,
    OwnerId,
    Category,
    DurationMs,
    PublishedAt,
    UpdatedAt,
    Likes,
    Recommends,
    Comments,
    Shares,
    Views,
    WatchMs,
    Completions,
}

#[derive(DeriveIden, Clone, Copy)]
enum SocialVideosNext {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum SocialVideoStats {
    Table,
    VideoId,
    Likes,
    Recommends,
    Comments,
    Shares,
    Views,
    WatchMs,
    Completions,
    UpdatedAt,
}

/// The projection's own columns, then its counters, in the order both tables share.
const DETAILS: [SocialVideos; 7] = [
    SocialVideos::VideoId,
    SocialVideos::ChannelId,
    SocialVideos::OwnerId,
    SocialVideos::Category,
    SocialVideos::DurationMs,
    SocialVideos::PublishedAt,
    SocialVideos::UpdatedAt,
];
const COUNTERS: [SocialVideos; 7] = [
    SocialVideos::Likes,
    SocialVideos::Recommends,
    SocialVideos::Comments,
    SocialVideos::Shares,
    SocialVideos::Views,
    SocialVideos::WatchMs,
    SocialVideos::Completions,
];
const STATS_COUNTERS: [SocialVideoStats; 7] = [
    SocialVideoStats::Likes,
    SocialVideoStats::Recommends,
    SocialVideoStats::Comments,
    SocialVideoStats::Shares,
    SocialVideoStats::Views,
    SocialVideoStats::WatchMs,
    SocialVideoStats::Completions,
];

fn counter_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

/// `social_videos` as this migration leaves it, created under `name`; `with_counters = false`
/// is the table as it was before (for `down`).
fn videos_table(name: impl IntoIden, with_counters: bool) -> TableCreateStatement {
    let mut table = Table::create();
    table
        .table(name)
        .col(
            ColumnDef::new(SocialVideos::VideoId)
                .big_integer()
                .not_null()
                .primary_key(),
        );
    let mut channel = ColumnDef::new(SocialVideos::ChannelId);
    let mut owner = ColumnDef::new(SocialVideos::OwnerId);
    channel.big_integer();
    owner.big_integer();
    if with_counters {
        // NULL until media's event reaches a row its counters created.
        channel.null();
        owner.null();
    } else {
        channel.not_null();
        owner.not_null();
    }
    table
        .col(channel)
        .col(owner)
        .col(ColumnDef::new(SocialVideos::Category).string_len(32).null())
        .col(ColumnDef::new(SocialVideos::DurationMs).big_integer().null())
        .col(
            ColumnDef::new(SocialVideos::PublishedAt)
                .timestamp_with_time_zone()
                .null(),
        )
        .col(
            ColumnDef::new(SocialVideos::UpdatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        );
    if with_counters {
        for col in COUNTERS {
            table.col(counter_col(col));
        }
    }
    table.to_owned()
}

fn stats_table() -> TableCreateStatement {
    let mut table = Table::create();
    table.table(SocialVideoStats::Table).col(
        ColumnDef::new(SocialVideoStats::VideoId)
            .big_integer()
            .not_null()
            .primary_key(),
    );
    for col in STATS_COUNTERS {
        table.col(counter_col(col));
    }
    table
        .col(
            ColumnDef::new(SocialVideoStats::UpdatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .to_owned()
}

/// The two indexes of `social_videos`, as `m20261121_000004_social` made them.
async fn create_indexes(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_index(
            Index::create()
                .name("idx_social_videos_published")
                .table(SocialVideos::Table)
                .col(SocialVideos::PublishedAt)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_social_videos_channel_published")
                .table(SocialVideos::Table)
                .col(SocialVideos::ChannelId)
                .col(SocialVideos::PublishedAt)
                .to_owned(),
        )
        .await
}

/// Renames the freshly filled `social_videos_next` into place (PostgreSQL also renames its
/// primary key's index, which kept the old name) and indexes it.
async fn swap_in(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .rename_table(
            Table::rename()
                .table(SocialVideosNext::Table, SocialVideos::Table)
                .to_owned(),
        )
        .await?;
    if manager.get_database_backend() == DbBackend::Postgres {
        manager
            .get_connection()
            .execute_unprepared("ALTER INDEX social_videos_next_pkey RENAME TO social_videos_pkey")
            .await?;
    }
    create_indexes(manager).await?;
    if manager.get_database_backend() == DbBackend::Postgres {
        // A new table has no planner statistics until autovacuum gets to it: the feeds'
        // queries would be planned blind in the meantime.
        manager
            .get_connection()
            .execute_unprepared("ANALYZE social_videos")
            .await?;
    }
    Ok(())
}

/// `INSERT INTO table (columns) SELECT …`.
async fn insert_select<C: IntoIden>(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    columns: impl IntoIterator<Item = C>,
    select: SelectStatement,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(table)
        .columns(columns)
        .select_from(select)
        .map_err(|e| DbErr::Migration(e.to_string()))?
        .to_owned();
    manager.exec_stmt(insert).await
}

fn stats_col(col: SocialVideoStats) -> Expr {
    Expr::col((SocialVideoStats::Table, col))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        manager
            .create_table(videos_table(SocialVideosNext::Table, true))
            .await?;
        if postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE social_videos_next SET (fillfactor = 90)")
                .await?;
        }

        // Every projected video with its counters (zeros where nothing was counted yet), in
        // id order like a fresh load.
        let mut projected = Query::select();
        for col in DETAILS {
            projected.column((SocialVideos::Table, col));
        }
        for col in STATS_COUNTERS {
            projected.expr(stats_col(col).if_null(0));
        }
        projected
            .from(SocialVideos::Table)
            .left_join(
                SocialVideoStats::Table,
                Expr::col((SocialVideoStats::Table, SocialVideoStats::VideoId))
                    .equals((SocialVideos::Table, SocialVideos::VideoId)),
            )
            .order_by((SocialVideos::Table, SocialVideos::VideoId), Order::Asc);
        let columns = DETAILS.into_iter().chain(COUNTERS);
        insert_select(manager, SocialVideosNext::Table, columns, projected).await?;

        // Counters of videos whose `VideoPublished` had not reached the projection yet: kept,
        // as rows that event will complete.
        let epoch = ChronoDateTimeUtc::UNIX_EPOCH;
        let mut orphans = Query::select();
        orphans
            .column((SocialVideoStats::Table, SocialVideoStats::VideoId))
            .expr(Expr::val(epoch));
        for col in STATS_COUNTERS {
            orphans.expr(stats_col(col));
        }
        orphans
            .from(SocialVideoStats::Table)
            .and_where(
                Expr::exists(
                    Query::select()
                        .expr(Expr::val(1))
                        .from(SocialVideos::Table)
                        .and_where(
                            Expr::col((SocialVideos::Table, SocialVideos::VideoId))
                                .equals((SocialVideoStats::Table, SocialVideoStats::VideoId)),
                        )
                        .to_owned(),
                )
                .not(),
            );
        let columns = [SocialVideos::VideoId, SocialVideos::UpdatedAt]
            .into_iter()
            .chain(COUNTERS);
        insert_select(manager, SocialVideosNext::Table, columns, orphans).await?;

        manager
            .drop_table(Table::drop().table(SocialVideoStats::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SocialVideos::Table).to_owned())
            .await?;
        swap_in(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(stats_table()).await?;
        let mut counted = Query::select();
        counted.column(SocialVideos::VideoId);
        for col in COUNTERS {
            counted.column(col);
        }
        counted
            .expr(Expr::val(ChronoDateTimeUtc::UNIX_EPOCH))
            .from(SocialVideos::Table);
        let columns = [SocialVideoStats::VideoId]
            .into_iter()
            .chain(STATS_COUNTERS)
            .chain([SocialVideoStats::UpdatedAt]);
        insert_select(manager, SocialVideoStats::Table, columns, counted).await?;

        // Rows the media event has not completed cannot go back under NOT NULL: their
        // counters stay in `social_video_stats` alone, as before this migration.
        manager
            .create_table(videos_table(SocialVideosNext::Table, false))
            .await?;
        let mut projected = Query::select();
        for col in DETAILS {
            projected.column(col);
        }
        projected
            .from(SocialVideos::Table)
            .and_where(Expr::col(SocialVideos::ChannelId).is_not_null())
            .and_where(Expr::col(SocialVideos::OwnerId).is_not_null())
            .order_by(SocialVideos::VideoId, Order::Asc);
        insert_select(manager, SocialVideosNext::Table, DETAILS, projected).await?;
        manager
            .drop_table(Table::drop().table(SocialVideos::Table).to_owned())
            .await?;
        swap_in(manager).await
    }
}

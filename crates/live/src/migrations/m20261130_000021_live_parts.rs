//! live: the LL-HLS parts of each room's latest segments (`live_parts`), so that any node can
//! list them in the playlist. Rows of older segments are pruned as the room goes on.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000021_live_parts"
    }
}

#[derive(DeriveIden)]
enum LiveParts {
    Table,
    RoomId,
    Sequence,
    Part,
    DurationMs,
    Independent,
    ProgramDateTime,
    Discontinuity,
    InitName,
    CreatedAt,
}

fn timestamp_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LiveParts::Table)
                    .col(ColumnDef::new(LiveParts::RoomId).big_integer().not_null())
                    // The room's media sequence number of the segment the part belongs to.
                    .col(ColumnDef::new(LiveParts::Sequence).big_integer().not_null())
                    .col(ColumnDef::new(LiveParts::Part).integer().not_null())
                    .col(ColumnDef::new(LiveParts::DurationMs).integer().not_null())
                    .col(ColumnDef::new(LiveParts::Independent).boolean().not_null())
                    .col(timestamp_col(LiveParts::ProgramDateTime))
                    // Of the segment: its first part starts a new run (EXT-X-DISCONTINUITY).
                    .col(ColumnDef::new(LiveParts::Discontinuity).boolean().not_null())
                    .col(ColumnDef::new(LiveParts::InitName).string_len(64).not_null())
                    .col(timestamp_col(LiveParts::CreatedAt))
                    .primary_key(
                        Index::create()
                            .name("pk_live_parts")
                            .col(LiveParts::RoomId)
                            .col(LiveParts::Sequence)
                            .col(LiveParts::Part),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LiveParts::Table).to_owned()).await
    }
}

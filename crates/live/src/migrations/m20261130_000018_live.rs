//! live: a row per channel that has rooms (the lock that keeps its room limits, and later its
//! moderation settings), the rooms themselves with their stream keys, their HLS segments, and
//! reservations.
//!
//! No foreign keys: `channel_id` and `user_id` are identity's.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000018_live"
    }
}

#[derive(DeriveIden)]
enum LiveChannels {
    Table,
    ChannelId,
    OwnerId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LiveRooms {
    Table,
    Id,
    ChannelId,
    OwnerId,
    Title,
    Description,
    CoverUrl,
    State,
    PlannedStartAt,
    StartedAt,
    EndedAt,
    CancelledAt,
    StreamKey,
    KeyRotatedAt,
    ReservationCount,
    PublisherSession,
    PublisherSeenAt,
    GraceUntil,
    ReplayVideoId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LiveSegments {
    Table,
    RoomId,
    Sequence,
    Session,
    DurationMs,
    ProgramDateTime,
    Discontinuity,
    InitName,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LiveReservations {
    Table,
    RoomId,
    UserId,
    State,
    CreatedAt,
    UpdatedAt,
}

fn timestamp_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}

fn nullable_timestamp_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LiveChannels::Table)
                    .col(ColumnDef::new(LiveChannels::ChannelId).big_integer().not_null().primary_key())
                    .col(ColumnDef::new(LiveChannels::OwnerId).big_integer().not_null())
                    .col(timestamp_col(LiveChannels::CreatedAt))
                    .col(timestamp_col(LiveChannels::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LiveRooms::Table)
                    .col(ColumnDef::new(LiveRooms::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(LiveRooms::ChannelId).big_integer().not_null())
                    .col(ColumnDef::new(LiveRooms::OwnerId).big_integer().not_null())
                    .col(ColumnDef::new(LiveRooms::Title).string_len(255).not_null())
                    .col(ColumnDef::new(LiveRooms::Description).text().not_null())
                    .col(ColumnDef::new(LiveRooms::CoverUrl).string_len(2048).null())
                    // SCHEDULED | LIVE | ENDED | CANCELLED
                    .col(ColumnDef::new(LiveRooms::State).string_len(16).not_null())
                    .col(nullable_timestamp_col(LiveRooms::PlannedStartAt))
                    .col(nullable_timestamp_col(LiveRooms::StartedAt))
                    .col(nullable_timestamp_col(LiveRooms::EndedAt))
                    .col(nullable_timestamp_col(LiveRooms::CancelledAt))
                    // Kept as is: creators copy it into OBS more than once (see crate README).
                    .col(ColumnDef::new(LiveRooms::StreamKey).string_len(64).not_null())
                    .col(timestamp_col(LiveRooms::KeyRotatedAt))
                    // Reservations still waiting for their reminder.
                    .col(ColumnDef::new(LiveRooms::ReservationCount).big_integer().not_null().default(0))
                    // The publish session on air (any node's), while one is.
                    .col(ColumnDef::new(LiveRooms::PublisherSession).string_len(64).null())
                    // When that session last delivered a segment: a publisher silent far longer
                    // (its node died) may be taken over, and the room's grace starts.
                    .col(nullable_timestamp_col(LiveRooms::PublisherSeenAt))
                    // LIVE without a publisher: the room ends at this time unless one returns.
                    .col(nullable_timestamp_col(LiveRooms::GraceUntil))
                    // media's video of the whole broadcast, once ENDED and imported.
                    .col(ColumnDef::new(LiveRooms::ReplayVideoId).big_integer().null())
                    // 1 when scheduled, one more with every change; events carry it.
                    .col(ColumnDef::new(LiveRooms::Version).big_integer().not_null())
                    .col(timestamp_col(LiveRooms::CreatedAt))
                    .col(timestamp_col(LiveRooms::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // A channel's upcoming rooms, soonest first; its live room.
        manager
            .create_index(
                Index::create()
                    .name("idx_live_rooms_channel_state_start")
                    .table(LiveRooms::Table)
                    .col(LiveRooms::ChannelId)
                    .col(LiveRooms::State)
                    .col(LiveRooms::PlannedStartAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_live_rooms_stream_key")
                    .table(LiveRooms::Table)
                    .col(LiveRooms::StreamKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // One LIVE room per channel, kept by the database itself: two rooms of a channel going
        // live at once on two nodes cannot both win. A partial index reads the same on SQLite
        // and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_live_rooms_one_live_per_channel ON live_rooms (channel_id) WHERE state = 'LIVE'",
            )
            .await?;
        // The grace worker finds rooms whose publisher did not come back.
        manager
            .create_index(
                Index::create()
                    .name("idx_live_rooms_grace_until")
                    .table(LiveRooms::Table)
                    .col(LiveRooms::GraceUntil)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LiveSegments::Table)
                    .col(ColumnDef::new(LiveSegments::RoomId).big_integer().not_null())
                    // Across the room's publish sessions, from 0: the playlist's media sequence.
                    .col(ColumnDef::new(LiveSegments::Sequence).big_integer().not_null())
                    .col(ColumnDef::new(LiveSegments::Session).string_len(64).not_null())
                    .col(ColumnDef::new(LiveSegments::DurationMs).big_integer().not_null())
                    .col(timestamp_col(LiveSegments::ProgramDateTime))
                    // The first of a new packaging run (a reconnect, a switch to transcoding).
                    .col(ColumnDef::new(LiveSegments::Discontinuity).boolean().not_null())
                    // The init segment (EXT-X-MAP) this segment is decoded with.
                    .col(ColumnDef::new(LiveSegments::InitName).string_len(64).not_null())
                    .col(timestamp_col(LiveSegments::CreatedAt))
                    .primary_key(
                        Index::create()
                            .name("pk_live_segments")
                            .col(LiveSegments::RoomId)
                            .col(LiveSegments::Sequence),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LiveReservations::Table)
                    .col(ColumnDef::new(LiveReservations::RoomId).big_integer().not_null())
                    .col(ColumnDef::new(LiveReservations::UserId).big_integer().not_null())
                    // WAITING | REMINDED | LAPSED (went live over an hour late) | CANCELLED (the room was)
                    .col(ColumnDef::new(LiveReservations::State).string_len(16).not_null())
                    .col(timestamp_col(LiveReservations::CreatedAt))
                    .col(timestamp_col(LiveReservations::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .name("pk_live_reservations")
                            .col(LiveReservations::RoomId)
                            .col(LiveReservations::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        // The reminder handler pages through a room's waiting reservations.
        manager
            .create_index(
                Index::create()
                    .name("idx_live_reservations_room_state_user")
                    .table(LiveReservations::Table)
                    .col(LiveReservations::RoomId)
                    .col(LiveReservations::State)
                    .col(LiveReservations::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LiveReservations::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(LiveSegments::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(LiveRooms::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(LiveChannels::Table).to_owned()).await
    }
}

//! live: what happens inside a room — its comments, pinned message and counters — and the
//! channel's moderation (moderators, muted and banned viewers, blocked keywords).
//!
//! No foreign keys: `channel_id` and `user_id` are identity's.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000020_live_chat"
    }
}

#[derive(DeriveIden)]
enum LiveRooms {
    Table,
    State,
    PinnedText,
    PinnedAt,
    LikeCount,
    ViewersNow,
    ViewersPeak,
    ViewersTotal,
}

#[derive(DeriveIden)]
enum LiveChannels {
    Table,
    KeywordsVersion,
}

#[derive(DeriveIden)]
enum LiveComments {
    Table,
    Id,
    RoomId,
    ChannelId,
    AuthorId,
    AuthorName,
    Role,
    Text,
    CreatedAt,
    DeletedAt,
    DeletedBy,
}

#[derive(DeriveIden)]
enum LiveMembers {
    Table,
    ChannelId,
    UserId,
    IsModerator,
    MutedUntil,
    MutedIndefinitely,
    Banned,
    RestrictedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LiveBlockedKeywords {
    Table,
    ChannelId,
    Keyword,
}

#[derive(DeriveIden)]
enum LiveViewers {
    Table,
    RoomId,
    ViewerKey,
    UserId,
    FirstSeenAt,
    LastSeenAt,
}

fn timestamp_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}

fn nullable_timestamp_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().to_owned()
}

fn counter_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().default(0).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            ColumnDef::new(LiveRooms::PinnedText).string_len(1024).null().to_owned(),
            nullable_timestamp_col(LiveRooms::PinnedAt),
            counter_col(LiveRooms::LikeCount),
            // Written by the nodes that have viewers, at most once a second.
            counter_col(LiveRooms::ViewersNow),
            counter_col(LiveRooms::ViewersPeak),
            counter_col(LiveRooms::ViewersTotal),
        ] {
            manager.alter_table(Table::alter().table(LiveRooms::Table).add_column(column).to_owned()).await?;
        }
        // The rooms on air, most watched first (the feeds' live items).
        manager
            .create_index(
                Index::create()
                    .name("idx_live_rooms_state_viewers")
                    .table(LiveRooms::Table)
                    .col(LiveRooms::State)
                    .col(LiveRooms::ViewersNow)
                    .to_owned(),
            )
            .await?;
        // One more whenever the channel's blocked keywords change: nodes rebuild their cached
        // filter when it moves.
        manager
            .alter_table(
                Table::alter().table(LiveChannels::Table).add_column(counter_col(LiveChannels::KeywordsVersion)).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LiveComments::Table)
                    .col(ColumnDef::new(LiveComments::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(LiveComments::RoomId).big_integer().not_null())
                    .col(ColumnDef::new(LiveComments::ChannelId).big_integer().not_null())
                    .col(ColumnDef::new(LiveComments::AuthorId).big_integer().not_null())
                    // The name the author had when sending it, as viewers saw it.
                    .col(ColumnDef::new(LiveComments::AuthorName).string_len(128).not_null())
                    // CREATOR | MODERATOR | VIEWER
                    .col(ColumnDef::new(LiveComments::Role).string_len(16).not_null())
                    .col(ColumnDef::new(LiveComments::Text).string_len(1024).not_null())
                    .col(timestamp_col(LiveComments::CreatedAt))
                    // Removed comments are kept (for the record and for moderation) but never shown.
                    .col(nullable_timestamp_col(LiveComments::DeletedAt))
                    .col(ColumnDef::new(LiveComments::DeletedBy).big_integer().null())
                    .to_owned(),
            )
            .await?;
        // A room's comments, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_live_comments_room_id")
                    .table(LiveComments::Table)
                    .col(LiveComments::RoomId)
                    .col(LiveComments::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LiveMembers::Table)
                    .col(ColumnDef::new(LiveMembers::ChannelId).big_integer().not_null())
                    .col(ColumnDef::new(LiveMembers::UserId).big_integer().not_null())
                    // A moderator (房管) of the channel's lives.
                    .col(ColumnDef::new(LiveMembers::IsModerator).boolean().not_null().default(false))
                    .col(nullable_timestamp_col(LiveMembers::MutedUntil))
                    .col(ColumnDef::new(LiveMembers::MutedIndefinitely).boolean().not_null().default(false))
                    .col(ColumnDef::new(LiveMembers::Banned).boolean().not_null().default(false))
                    // When the current restriction began; null when there is none.
                    .col(nullable_timestamp_col(LiveMembers::RestrictedAt))
                    .col(timestamp_col(LiveMembers::CreatedAt))
                    .col(timestamp_col(LiveMembers::UpdatedAt))
                    .primary_key(
                        Index::create().name("pk_live_members").col(LiveMembers::ChannelId).col(LiveMembers::UserId),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LiveBlockedKeywords::Table)
                    .col(ColumnDef::new(LiveBlockedKeywords::ChannelId).big_integer().not_null())
                    // Folded (NFKC, lower case) as comments are before matching.
                    .col(ColumnDef::new(LiveBlockedKeywords::Keyword).string_len(128).not_null())
                    .primary_key(
                        Index::create()
                            .name("pk_live_blocked_keywords")
                            .col(LiveBlockedKeywords::ChannelId)
                            .col(LiveBlockedKeywords::Keyword),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LiveViewers::Table)
                    .col(ColumnDef::new(LiveViewers::RoomId).big_integer().not_null())
                    // `u:<user id>` for a signed-in viewer, `a:<connection>` for a signed-out one.
                    .col(ColumnDef::new(LiveViewers::ViewerKey).string_len(64).not_null())
                    .col(ColumnDef::new(LiveViewers::UserId).big_integer().null())
                    .col(timestamp_col(LiveViewers::FirstSeenAt))
                    // Moved on by the viewer's node while they watch: who is watching now.
                    .col(timestamp_col(LiveViewers::LastSeenAt))
                    .primary_key(
                        Index::create().name("pk_live_viewers").col(LiveViewers::RoomId).col(LiveViewers::ViewerKey),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LiveViewers::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(LiveBlockedKeywords::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(LiveMembers::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(LiveComments::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(LiveChannels::Table).drop_column(LiveChannels::KeywordsVersion).to_owned()).await?;
        manager.drop_index(Index::drop().name("idx_live_rooms_state_viewers").table(LiveRooms::Table).to_owned()).await?;
        for column in [
            LiveRooms::ViewersTotal,
            LiveRooms::ViewersPeak,
            LiveRooms::ViewersNow,
            LiveRooms::LikeCount,
            LiveRooms::PinnedAt,
            LiveRooms::PinnedText,
        ] {
            manager.alter_table(Table::alter().table(LiveRooms::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

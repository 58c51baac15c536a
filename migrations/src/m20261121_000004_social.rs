//! social: the graph (friend requests, friendships, blocks, follows), engagement (reactions,
//! comments and their likes, shares, views), privacy settings, counters, and `social_videos`,
//! the module's projection of media's published videos.
//!
//! No foreign keys: every id here belongs to another module (users, channels, videos) or is
//! cleaned up by the service in the transaction that removes its parent. Counters live in the
//! `*_stats` tables and change in the transaction of the write they count, so no hot path ever
//! runs `COUNT(*)`. Indexes are chosen for the feeds: reactions by (video, kind, time) and by
//! (user, kind, time), each carrying the other id so PostgreSQL can answer from the index alone;
//! friendships stored in both directions keyed by (user, friend).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000004_social"
    }
}

#[derive(DeriveIden)]
enum SocialVideos {
    Table,
    VideoId,
    ChannelId,
    OwnerId,
    Category,
    DurationMs,
    PublishedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
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

#[derive(DeriveIden)]
enum SocialFriendRequests {
    Table,
    Id,
    FromUserId,
    ToUserId,
    Message,
    Status,
    PendingPair,
    CreatedAt,
    RespondedAt,
}

#[derive(DeriveIden)]
enum SocialFriendships {
    Table,
    UserId,
    FriendId,
    Interactions,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SocialBlocks {
    Table,
    BlockerId,
    BlockedId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SocialFollows {
    Table,
    UserId,
    ChannelId,
    ChannelOwnerId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SocialChannelStats {
    Table,
    ChannelId,
    Followers,
}

#[derive(DeriveIden)]
enum SocialUserStats {
    Table,
    UserId,
    Friends,
    Following,
}

#[derive(DeriveIden)]
enum SocialSettings {
    Table,
    UserId,
    HideRecommends,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SocialReactions {
    Table,
    UserId,
    VideoId,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SocialComments {
    Table,
    Id,
    VideoId,
    VideoOwnerId,
    AuthorId,
    ParentId,
    Body,
    Likes,
    Replies,
    Pinned,
    CreatedAt,
    EditedAt,
}

#[derive(DeriveIden)]
enum SocialCommentLikes {
    Table,
    CommentId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SocialShares {
    Table,
    Id,
    UserId,
    VideoId,
    Target,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SocialViews {
    Table,
    Id,
    UserId,
    VideoId,
    Day,
    WatchMs,
    Completed,
    CreatedAt,
    UpdatedAt,
}

fn id_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn ref_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

fn counter_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

fn timestamp_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn nullable_timestamp_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

async fn index<T, C>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: impl IntoIterator<Item = C>,
    unique: bool,
) -> Result<(), DbErr>
where
    T: IntoIden + 'static,
    C: IntoIden + 'static,
{
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The projection of media's published videos that the feeds read.
        manager
            .create_table(
                Table::create()
                    .table(SocialVideos::Table)
                    .col(
                        ColumnDef::new(SocialVideos::VideoId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ref_col(SocialVideos::ChannelId))
                    .col(ref_col(SocialVideos::OwnerId))
                    .col(ColumnDef::new(SocialVideos::Category).string_len(32).null())
                    .col(
                        ColumnDef::new(SocialVideos::DurationMs)
                            .big_integer()
                            .null(),
                    )
                    // NULL while unpublished: the row and the video's social data stay.
                    .col(nullable_timestamp_col(SocialVideos::PublishedAt))
                    // When the last applied media event occurred: older events are skipped.
                    .col(timestamp_col(SocialVideos::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_social_videos_published",
            SocialVideos::Table,
            [SocialVideos::PublishedAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_social_videos_channel_published",
            SocialVideos::Table,
            [SocialVideos::ChannelId, SocialVideos::PublishedAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SocialVideoStats::Table)
                    .col(
                        ColumnDef::new(SocialVideoStats::VideoId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(counter_col(SocialVideoStats::Likes))
                    .col(counter_col(SocialVideoStats::Recommends))
                    // Top-level comments and replies.
                    .col(counter_col(SocialVideoStats::Comments))
                    .col(counter_col(SocialVideoStats::Shares))
                    // Distinct (viewer, UTC day) views.
                    .col(counter_col(SocialVideoStats::Views))
                    // Sum of each view's longest watch, and views watched to ≥ 90 %.
                    .col(counter_col(SocialVideoStats::WatchMs))
                    .col(counter_col(SocialVideoStats::Completions))
                    .col(timestamp_col(SocialVideoStats::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SocialFriendRequests::Table)
                    .col(id_col(SocialFriendRequests::Id))
                    .col(ref_col(SocialFriendRequests::FromUserId))
                    .col(ref_col(SocialFriendRequests::ToUserId))
                    .col(ColumnDef::new(SocialFriendRequests::Message).text().null())
                    // PENDING | ACCEPTED | DECLINED | CANCELLED
                    .col(
                        ColumnDef::new(SocialFriendRequests::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    // "low:high" user ids while pending, NULL after: the unique index allows one
                    // pending request per pair of people, whichever way it goes.
                    .col(
                        ColumnDef::new(SocialFriendRequests::PendingPair)
                            .string_len(48)
                            .null(),
                    )
                    .col(timestamp_col(SocialFriendRequests::CreatedAt))
                    .col(nullable_timestamp_col(SocialFriendRequests::RespondedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "uq_social_friend_requests_pending_pair",
            SocialFriendRequests::Table,
            [SocialFriendRequests::PendingPair],
            true,
        )
        .await?;
        index(
            manager,
            "idx_social_friend_requests_to",
            SocialFriendRequests::Table,
            [
                SocialFriendRequests::ToUserId,
                SocialFriendRequests::Status,
                SocialFriendRequests::CreatedAt,
            ],
            false,
        )
        .await?;
        index(
            manager,
            "idx_social_friend_requests_from",
            SocialFriendRequests::Table,
            [
                SocialFriendRequests::FromUserId,
                SocialFriendRequests::Status,
                SocialFriendRequests::CreatedAt,
            ],
            false,
        )
        .await?;

        // Both directions of a friendship are stored: (a, b) and (b, a).
        manager
            .create_table(
                Table::create()
                    .table(SocialFriendships::Table)
                    .col(ref_col(SocialFriendships::UserId))
                    .col(ref_col(SocialFriendships::FriendId))
                    // How often the two interacted (reactions, comments, shares on each other's
                    // videos): the closeness the Friends feed ranks by. Same on both rows.
                    .col(counter_col(SocialFriendships::Interactions))
                    .col(timestamp_col(SocialFriendships::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(SocialFriendships::UserId)
                            .col(SocialFriendships::FriendId),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_social_friendships_user_created",
            SocialFriendships::Table,
            [SocialFriendships::UserId, SocialFriendships::CreatedAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SocialBlocks::Table)
                    .col(ref_col(SocialBlocks::BlockerId))
                    .col(ref_col(SocialBlocks::BlockedId))
                    .col(timestamp_col(SocialBlocks::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(SocialBlocks::BlockerId)
                            .col(SocialBlocks::BlockedId),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_social_blocks_blocked",
            SocialBlocks::Table,
            [SocialBlocks::BlockedId, SocialBlocks::BlockerId],
            false,
        )
        .await?;
        index(
            manager,
            "idx_social_blocks_blocker_created",
            SocialBlocks::Table,
            [SocialBlocks::BlockerId, SocialBlocks::CreatedAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SocialFollows::Table)
                    .col(ref_col(SocialFollows::UserId))
                    .col(ref_col(SocialFollows::ChannelId))
                    // A channel's owner never changes: kept so blocks can end follows and lists
                    // can leave blocked people out without asking identity.
                    .col(ref_col(SocialFollows::ChannelOwnerId))
                    .col(timestamp_col(SocialFollows::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(SocialFollows::UserId)
                            .col(SocialFollows::ChannelId),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_social_follows_channel_created",
            SocialFollows::Table,
            [SocialFollows::ChannelId, SocialFollows::CreatedAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_social_follows_user_created",
            SocialFollows::Table,
            [SocialFollows::UserId, SocialFollows::CreatedAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_social_follows_owner_user",
            SocialFollows::Table,
            [SocialFollows::ChannelOwnerId, SocialFollows::UserId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SocialChannelStats::Table)
                    .col(
                        ColumnDef::new(SocialChannelStats::ChannelId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(counter_col(SocialChannelStats::Followers))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SocialUserStats::Table)
                    .col(
                        ColumnDef::new(SocialUserStats::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(counter_col(SocialUserStats::Friends))
                    .col(counter_col(SocialUserStats::Following))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SocialSettings::Table)
                    .col(
                        ColumnDef::new(SocialSettings::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SocialSettings::HideRecommends)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(timestamp_col(SocialSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SocialReactions::Table)
                    .col(ref_col(SocialReactions::UserId))
                    .col(ref_col(SocialReactions::VideoId))
                    // 1 = LIKE, 2 = RECOMMEND
                    .col(
                        ColumnDef::new(SocialReactions::Kind)
                            .small_integer()
                            .not_null(),
                    )
                    .col(timestamp_col(SocialReactions::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(SocialReactions::UserId)
                            .col(SocialReactions::VideoId)
                            .col(SocialReactions::Kind),
                    )
                    .to_owned(),
            )
            .await?;
        // Who ❤️'d / 👍'd a video, newest first (likers, friend recommenders, video deletion).
        index(
            manager,
            "idx_social_reactions_video_kind_created",
            SocialReactions::Table,
            [
                SocialReactions::VideoId,
                SocialReactions::Kind,
                SocialReactions::CreatedAt,
                SocialReactions::UserId,
            ],
            false,
        )
        .await?;
        // What a user ❤️'d recently (the Friends feed fans in over the viewer's friends).
        index(
            manager,
            "idx_social_reactions_user_kind_created",
            SocialReactions::Table,
            [
                SocialReactions::UserId,
                SocialReactions::Kind,
                SocialReactions::CreatedAt,
                SocialReactions::VideoId,
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SocialComments::Table)
                    .col(id_col(SocialComments::Id))
                    .col(ref_col(SocialComments::VideoId))
                    // The video's creator (who may pin and delete any comment); never changes.
                    .col(ref_col(SocialComments::VideoOwnerId))
                    .col(ref_col(SocialComments::AuthorId))
                    // Set on replies; one level of threading.
                    .col(
                        ColumnDef::new(SocialComments::ParentId)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(SocialComments::Body).text().not_null())
                    .col(counter_col(SocialComments::Likes))
                    .col(counter_col(SocialComments::Replies))
                    .col(
                        ColumnDef::new(SocialComments::Pinned)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(timestamp_col(SocialComments::CreatedAt))
                    .col(nullable_timestamp_col(SocialComments::EditedAt))
                    .to_owned(),
            )
            .await?;
        // Top-level comments of a video, pinned first then newest, straight from the index.
        manager
            .create_index(
                Index::create()
                    .name("idx_social_comments_video_top")
                    .table(SocialComments::Table)
                    .col(SocialComments::VideoId)
                    .col(SocialComments::Pinned)
                    .col(SocialComments::CreatedAt)
                    .col(SocialComments::Id)
                    .and_where(Expr::col(SocialComments::ParentId).is_null())
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_social_comments_parent_created",
            SocialComments::Table,
            [
                SocialComments::ParentId,
                SocialComments::CreatedAt,
                SocialComments::Id,
            ],
            false,
        )
        .await?;
        index(
            manager,
            "idx_social_comments_video",
            SocialComments::Table,
            [SocialComments::VideoId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SocialCommentLikes::Table)
                    .col(ref_col(SocialCommentLikes::CommentId))
                    .col(ref_col(SocialCommentLikes::UserId))
                    .col(timestamp_col(SocialCommentLikes::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(SocialCommentLikes::CommentId)
                            .col(SocialCommentLikes::UserId),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SocialShares::Table)
                    .col(id_col(SocialShares::Id))
                    .col(ref_col(SocialShares::UserId))
                    .col(ref_col(SocialShares::VideoId))
                    // LINK | CHAT | MOMENTS
                    .col(
                        ColumnDef::new(SocialShares::Target)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(timestamp_col(SocialShares::CreatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_social_shares_video_created",
            SocialShares::Table,
            [SocialShares::VideoId, SocialShares::CreatedAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_social_shares_user_created",
            SocialShares::Table,
            [SocialShares::UserId, SocialShares::CreatedAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SocialViews::Table)
                    .col(id_col(SocialViews::Id))
                    .col(ref_col(SocialViews::UserId))
                    .col(ref_col(SocialViews::VideoId))
                    // Days since 1970-01-01, UTC.
                    .col(ColumnDef::new(SocialViews::Day).integer().not_null())
                    // The longest watch reported that day.
                    .col(
                        ColumnDef::new(SocialViews::WatchMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SocialViews::Completed)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(timestamp_col(SocialViews::CreatedAt))
                    .col(timestamp_col(SocialViews::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // One view per viewer, video and day; its prefix answers "has the viewer seen it".
        index(
            manager,
            "uq_social_views_user_video_day",
            SocialViews::Table,
            [SocialViews::UserId, SocialViews::VideoId, SocialViews::Day],
            true,
        )
        .await?;
        index(
            manager,
            "idx_social_views_user_updated",
            SocialViews::Table,
            [SocialViews::UserId, SocialViews::UpdatedAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_social_views_video",
            SocialViews::Table,
            [SocialViews::VideoId],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SocialViews::Table.into_iden(),
            SocialShares::Table.into_iden(),
            SocialCommentLikes::Table.into_iden(),
            SocialComments::Table.into_iden(),
            SocialReactions::Table.into_iden(),
            SocialSettings::Table.into_iden(),
            SocialUserStats::Table.into_iden(),
            SocialChannelStats::Table.into_iden(),
            SocialFollows::Table.into_iden(),
            SocialBlocks::Table.into_iden(),
            SocialFriendships::Table.into_iden(),
            SocialFriendRequests::Table.into_iden(),
            SocialVideoStats::Table.into_iden(),
            SocialVideos::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

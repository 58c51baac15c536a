//! social: ranking snapshots of the Friends and Recommended feeds.
//!
//! The first page of a ranked feed ranks a few hundred items once and stores the order here;
//! later pages read it by offset. That keeps paging exact while reactions keep arriving (an item
//! never repeats nor is skipped) and works across nodes, since any node can read the snapshot.
//! Rows expire after `social.feed_snapshot_ttl_secs` and are pruned as new ones are written.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000005_social_feeds"
    }
}

#[derive(DeriveIden)]
enum SocialFeedSnapshots {
    Table,
    Id,
    ViewerId,
    Feed,
    Items,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SocialFeedSnapshots::Table)
                    .col(
                        ColumnDef::new(SocialFeedSnapshots::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // NULL for anonymous viewers of Recommended.
                    .col(
                        ColumnDef::new(SocialFeedSnapshots::ViewerId)
                            .big_integer()
                            .null(),
                    )
                    // 1 = Friends, 2 = Recommended
                    .col(
                        ColumnDef::new(SocialFeedSnapshots::Feed)
                            .small_integer()
                            .not_null(),
                    )
                    // The ranked items, JSON.
                    .col(ColumnDef::new(SocialFeedSnapshots::Items).text().not_null())
                    .col(
                        ColumnDef::new(SocialFeedSnapshots::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_social_feed_snapshots_created")
                    .table(SocialFeedSnapshots::Table)
                    .col(SocialFeedSnapshots::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(SocialFeedSnapshots::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}

//! social: the projection of media's videos remembers the version of the last event it applied,
//! and a deleted video stays as a tombstone (`deleted`, no details, no counts), so an older
//! event delivered late (a `VideoPublished` after `VideoDeleted`) cannot bring it back.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000013_social_video_tombstones"
    }
}

#[derive(DeriveIden)]
enum SocialVideos {
    Table,
    Version,
    Deleted,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(SocialVideos::Table)
                    .add_column(ColumnDef::new(SocialVideos::Version).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SocialVideos::Table)
                    .add_column(ColumnDef::new(SocialVideos::Deleted).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Tombstones were not rows before.
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM social_videos WHERE deleted")
            .await?;
        for column in [SocialVideos::Deleted, SocialVideos::Version] {
            manager
                .alter_table(Table::alter().table(SocialVideos::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

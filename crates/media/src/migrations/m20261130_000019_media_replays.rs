//! media: videos imported from other modules (a live room's replay).
//!
//! - `media_videos.import_key`: what the importing module calls the video (`live.replay:<room>`);
//!   unique, so an import delivered twice makes one video.
//! - `media_videos.copy_package`: package the source as it is (`-c copy`) when it is H.264/AAC
//!   with regular keyframes, as a live broadcast is, instead of transcoding the ladder: an
//!   hour-long replay is READY in seconds.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000019_media_replays"
    }
}

#[derive(DeriveIden)]
enum MediaVideos {
    Table,
    ImportKey,
    CopyPackage,
}

const IMPORT_KEY_INDEX: &str = "uq_media_videos_import_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(MediaVideos::Table)
                    .add_column(ColumnDef::new(MediaVideos::ImportKey).string_len(128).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MediaVideos::Table)
                    .add_column(ColumnDef::new(MediaVideos::CopyPackage).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IMPORT_KEY_INDEX)
                    .table(MediaVideos::Table)
                    .col(MediaVideos::ImportKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(IMPORT_KEY_INDEX).table(MediaVideos::Table).to_owned()).await?;
        for column in [MediaVideos::CopyPackage, MediaVideos::ImportKey] {
            manager
                .alter_table(Table::alter().table(MediaVideos::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

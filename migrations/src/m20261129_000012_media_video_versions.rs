//! media: every video counts its versions, one per change that emits an event, so consumers can
//! tell a newer event from an older one whatever order they arrive in. Existing videos start at 0.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000012_media_video_versions"
    }
}

#[derive(DeriveIden)]
enum MediaVideos {
    Table,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(MediaVideos::Table)
                    .add_column(ColumnDef::new(MediaVideos::Version).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(MediaVideos::Table).drop_column(MediaVideos::Version).to_owned())
            .await
    }
}

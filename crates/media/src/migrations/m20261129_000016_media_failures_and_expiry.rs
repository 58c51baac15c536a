//! media: why a video failed, as a code, and when an unfinished upload expires.
//!
//! - `media_videos.failure_code`: beside `failure_reason` (words for people), one of
//!   `domain::failure` (`NOT_A_VIDEO`, `UNSUPPORTED_FORMAT`, `TRUNCATED`, …) for clients to act
//!   on. Videos that failed before have none.
//! - `media_uploads.expires_at`: when an unfinished resumable upload is abandoned (tus
//!   `Upload-Expires`); pushed back each time bytes arrive. Uploads made before have none and
//!   expire `upload_expiry_hours` after `created_at`.
//! - `media_uploads.expired_at`: when the sweeper removed an abandoned upload's bytes.
//! - An index on `media_uploads (completed_at, expired_at)`: the sweeper looks only at unfinished
//!   uploads (both `NULL`), a few among many finished ones.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000016_media_failures_and_expiry"
    }
}

#[derive(DeriveIden)]
enum MediaVideos {
    Table,
    FailureCode,
}

#[derive(DeriveIden)]
enum MediaUploads {
    Table,
    CompletedAt,
    ExpiresAt,
    ExpiredAt,
}

const UNFINISHED_INDEX: &str = "idx_media_uploads_unfinished";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(MediaVideos::Table)
                    .add_column(ColumnDef::new(MediaVideos::FailureCode).string().null())
                    .to_owned(),
            )
            .await?;
        // SQLite alters one column per statement.
        for column in [MediaUploads::ExpiresAt, MediaUploads::ExpiredAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(MediaUploads::Table)
                        .add_column(ColumnDef::new(column).timestamp_with_time_zone().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(UNFINISHED_INDEX)
                    .table(MediaUploads::Table)
                    .col(MediaUploads::CompletedAt)
                    .col(MediaUploads::ExpiredAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(UNFINISHED_INDEX).table(MediaUploads::Table).to_owned())
            .await?;
        for column in [MediaUploads::ExpiredAt, MediaUploads::ExpiresAt] {
            manager
                .alter_table(Table::alter().table(MediaUploads::Table).drop_column(column).to_owned())
                .await?;
        }
        manager
            .alter_table(Table::alter().table(MediaVideos::Table).drop_column(MediaVideos::FailureCode).to_owned())
            .await
    }
}

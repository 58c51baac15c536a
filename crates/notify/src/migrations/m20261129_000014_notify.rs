//! notify: the mails asked for (one row per dedupe key and recipient, which keeps a redelivered
//! request from sending twice), the unsubscribe tokens those mails carry, each person's email
//! opt-outs, and in-app notifications.
//!
//! No foreign keys: `user_id` is identity's, and the module's rows point at nothing outside it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000014_notify"
    }
}

#[derive(DeriveIden)]
enum NotifyEmails {
    Table,
    Id,
    DedupeKey,
    Recipient,
    UserId,
    Template,
    Category,
    Locale,
    Status,
    Attempts,
    LockedUntil,
    MessageId,
    LastError,
    CreatedAt,
    UpdatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum NotifyUnsubscribeTokens {
    Table,
    TokenHash,
    UserId,
    Category,
    EmailId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum NotifyPreferences {
    Table,
    UserId,
    Category,
    OptedOut,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NotifyNotifications {
    Table,
    Id,
    UserId,
    Kind,
    Payload,
    DedupeKey,
    CreatedAt,
    ReadAt,
}

fn id_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().auto_increment().primary_key().to_owned()
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
                    .table(NotifyEmails::Table)
                    .col(id_col(NotifyEmails::Id))
                    // The sender's key, or the event id when it gave none.
                    .col(ColumnDef::new(NotifyEmails::DedupeKey).string_len(255).not_null())
                    // The address, trimmed and lowercased.
                    .col(ColumnDef::new(NotifyEmails::Recipient).string_len(254).not_null())
                    .col(ColumnDef::new(NotifyEmails::UserId).big_integer().null())
                    .col(ColumnDef::new(NotifyEmails::Template).string_len(32).not_null())
                    .col(ColumnDef::new(NotifyEmails::Category).string_len(32).not_null())
                    .col(ColumnDef::new(NotifyEmails::Locale).string_len(16).not_null())
                    // queued | sent | suppressed (opted out) | failed (refused for good)
                    .col(ColumnDef::new(NotifyEmails::Status).string_len(16).not_null())
                    .col(ColumnDef::new(NotifyEmails::Attempts).integer().not_null().default(0))
                    // Milliseconds since the epoch: while in the future, one delivery is sending it.
                    .col(ColumnDef::new(NotifyEmails::LockedUntil).big_integer().null())
                    // Derived from (dedupe key, recipient): a resend after a crash has the same one.
                    .col(ColumnDef::new(NotifyEmails::MessageId).string_len(255).not_null())
                    .col(ColumnDef::new(NotifyEmails::LastError).text().null())
                    .col(timestamp_col(NotifyEmails::CreatedAt))
                    .col(timestamp_col(NotifyEmails::UpdatedAt))
                    .col(ColumnDef::new(NotifyEmails::SentAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_notify_emails_dedupe_recipient")
                    .table(NotifyEmails::Table)
                    .col(NotifyEmails::DedupeKey)
                    .col(NotifyEmails::Recipient)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotifyUnsubscribeTokens::Table)
                    // SHA-256 hex of the token in the link; the token itself is never stored.
                    .col(ColumnDef::new(NotifyUnsubscribeTokens::TokenHash).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(NotifyUnsubscribeTokens::UserId).big_integer().not_null())
                    .col(ColumnDef::new(NotifyUnsubscribeTokens::Category).string_len(32).not_null())
                    .col(ColumnDef::new(NotifyUnsubscribeTokens::EmailId).big_integer().not_null())
                    .col(timestamp_col(NotifyUnsubscribeTokens::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotifyPreferences::Table)
                    .col(ColumnDef::new(NotifyPreferences::UserId).big_integer().not_null())
                    .col(ColumnDef::new(NotifyPreferences::Category).string_len(32).not_null())
                    .col(ColumnDef::new(NotifyPreferences::OptedOut).boolean().not_null())
                    .col(timestamp_col(NotifyPreferences::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .name("pk_notify_preferences")
                            .col(NotifyPreferences::UserId)
                            .col(NotifyPreferences::Category),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotifyNotifications::Table)
                    .col(id_col(NotifyNotifications::Id))
                    .col(ColumnDef::new(NotifyNotifications::UserId).big_integer().not_null())
                    .col(ColumnDef::new(NotifyNotifications::Kind).string_len(64).not_null())
                    // A JSON object, as text on both databases.
                    .col(ColumnDef::new(NotifyNotifications::Payload).text().not_null())
                    .col(ColumnDef::new(NotifyNotifications::DedupeKey).string_len(255).not_null())
                    .col(timestamp_col(NotifyNotifications::CreatedAt))
                    .col(ColumnDef::new(NotifyNotifications::ReadAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_notify_notifications_user_dedupe")
                    .table(NotifyNotifications::Table)
                    .col(NotifyNotifications::UserId)
                    .col(NotifyNotifications::DedupeKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A person's list, newest first, paged by (created_at, id).
        manager
            .create_index(
                Index::create()
                    .name("idx_notify_notifications_user_created")
                    .table(NotifyNotifications::Table)
                    .col(NotifyNotifications::UserId)
                    .col(NotifyNotifications::CreatedAt)
                    .col(NotifyNotifications::Id)
                    .to_owned(),
            )
            .await?;
        // The unread count and "mark all read".
        manager
            .create_index(
                Index::create()
                    .name("idx_notify_notifications_user_read")
                    .table(NotifyNotifications::Table)
                    .col(NotifyNotifications::UserId)
                    .col(NotifyNotifications::ReadAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            NotifyNotifications::Table.into_iden(),
            NotifyPreferences::Table.into_iden(),
            NotifyUnsubscribeTokens::Table.into_iden(),
            NotifyEmails::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}

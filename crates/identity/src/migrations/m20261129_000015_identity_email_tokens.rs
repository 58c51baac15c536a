//! identity: email verification and password reset.
//!
//! - `identity_users.email_verified_at`: when the user proved they receive mail at their
//!   address; accounts made before stay unverified until they do.
//! - `identity_email_tokens`: single-use tokens mailed as links (verification, password reset).
//!   Only the SHA-256 of a token is stored; a token is used once (`used_at`) and not after
//!   `expires_at`.
//! - `identity_mail_requests`: every request for such a mail (email as typed, IP, the account it
//!   matched if any, time): the rate limits count these rows, so they hold across nodes and
//!   restarts.
//!
//! Foreign keys stay inside the module (users ← email tokens).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000015_identity_email_tokens"
    }
}

#[derive(DeriveIden)]
enum IdentityUsers {
    Table,
    Id,
    EmailVerifiedAt,
}

#[derive(DeriveIden)]
enum IdentityEmailTokens {
    Table,
    Id,
    TokenHash,
    Purpose,
    UserId,
    Email,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum IdentityMailRequests {
    Table,
    Id,
    Purpose,
    Email,
    Ip,
    UserId,
    At,
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
            .alter_table(
                Table::alter()
                    .table(IdentityUsers::Table)
                    .add_column(ColumnDef::new(IdentityUsers::EmailVerifiedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdentityEmailTokens::Table)
                    .col(id_col(IdentityEmailTokens::Id))
                    // SHA-256 hex of the token in the link; the token itself is never stored here.
                    .col(ColumnDef::new(IdentityEmailTokens::TokenHash).string_len(64).not_null())
                    // verify_email | password_reset
                    .col(ColumnDef::new(IdentityEmailTokens::Purpose).string_len(16).not_null())
                    .col(ColumnDef::new(IdentityEmailTokens::UserId).big_integer().not_null())
                    // The address the link was sent to: verification proves this one.
                    .col(ColumnDef::new(IdentityEmailTokens::Email).string_len(254).not_null())
                    .col(timestamp_col(IdentityEmailTokens::CreatedAt))
                    .col(timestamp_col(IdentityEmailTokens::ExpiresAt))
                    .col(ColumnDef::new(IdentityEmailTokens::UsedAt).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_identity_email_tokens_user")
                            .from(IdentityEmailTokens::Table, IdentityEmailTokens::UserId)
                            .to(IdentityUsers::Table, IdentityUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_identity_email_tokens_token_hash")
                    .table(IdentityEmailTokens::Table)
                    .col(IdentityEmailTokens::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_identity_email_tokens_user")
                    .table(IdentityEmailTokens::Table)
                    .col(IdentityEmailTokens::UserId)
                    .col(IdentityEmailTokens::Purpose)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_identity_email_tokens_expires_at")
                    .table(IdentityEmailTokens::Table)
                    .col(IdentityEmailTokens::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdentityMailRequests::Table)
                    .col(id_col(IdentityMailRequests::Id))
                    .col(ColumnDef::new(IdentityMailRequests::Purpose).string_len(16).not_null())
                    // As typed, trimmed and lowercased (it may belong to no account).
                    .col(ColumnDef::new(IdentityMailRequests::Email).string_len(254).not_null())
                    .col(ColumnDef::new(IdentityMailRequests::Ip).string_len(64).null())
                    // The account the request matched, if any (set in the transaction that
                    // issues the token). No foreign key: rows outlive nothing and name no one
                    // for unknown emails.
                    .col(ColumnDef::new(IdentityMailRequests::UserId).big_integer().null())
                    .col(timestamp_col(IdentityMailRequests::At))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_identity_mail_requests_email", IdentityMailRequests::Email),
            ("idx_identity_mail_requests_ip", IdentityMailRequests::Ip),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(IdentityMailRequests::Table)
                        .col(IdentityMailRequests::Purpose)
                        .col(col)
                        .col(IdentityMailRequests::At)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_identity_mail_requests_at")
                    .table(IdentityMailRequests::Table)
                    .col(IdentityMailRequests::At)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(IdentityMailRequests::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(IdentityEmailTokens::Table).to_owned()).await?;
        manager
            .alter_table(
                Table::alter().table(IdentityUsers::Table).drop_column(IdentityUsers::EmailVerifiedAt).to_owned(),
            )
            .await
    }
}

//! identity: accounts, sessions, log-in attempts, channels, organizations and their members.
//!
//! Foreign keys stay inside the module (users ← sessions, channels, memberships; organizations ←
//! memberships). Unique indexes carry the rules that must hold under races: one account per
//! email, one channel per user, one handle per channel, one membership per (organization, user).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000002_identity"
    }
}

#[derive(DeriveIden)]
enum IdentityUsers {
    Table,
    Id,
    Email,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdentitySessions {
    Table,
    Id,
    UserId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    Ip,
    UserAgent,
}

#[derive(DeriveIden)]
enum IdentityLoginAttempts {
    Table,
    Id,
    Email,
    Ip,
    Succeeded,
    At,
}

#[derive(DeriveIden)]
enum IdentityChannels {
    Table,
    Id,
    OwnerId,
    Handle,
    DisplayName,
    Bio,
    AvatarUrl,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IdentityOrganizations {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdentityMemberships {
    Table,
    Id,
    OrganizationId,
    UserId,
    Role,
    AddedAt,
}

fn id_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn timestamp_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdentityUsers::Table)
                    .col(id_col(IdentityUsers::Id))
                    // Stored trimmed and lowercased, so the unique index is case-insensitive.
                    .col(
                        ColumnDef::new(IdentityUsers::Email)
                            .string_len(254)
                            .not_null(),
                    )
                    // Argon2id PHC string.
                    .col(
                        ColumnDef::new(IdentityUsers::PasswordHash)
                            .text()
                            .not_null(),
                    )
                    .col(timestamp_col(IdentityUsers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_identity_users_email")
                    .table(IdentityUsers::Table)
                    .col(IdentityUsers::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdentitySessions::Table)
                    .col(id_col(IdentitySessions::Id))
                    .col(
                        ColumnDef::new(IdentitySessions::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    // SHA-256 hex of the bearer token; the token itself is never stored.
                    .col(
                        ColumnDef::new(IdentitySessions::TokenHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(timestamp_col(IdentitySessions::CreatedAt))
                    .col(timestamp_col(IdentitySessions::ExpiresAt))
                    .col(
                        ColumnDef::new(IdentitySessions::RevokedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(IdentitySessions::Ip).string_len(64).null())
                    .col(
                        ColumnDef::new(IdentitySessions::UserAgent)
                            .string_len(512)
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_identity_sessions_user")
                            .from(IdentitySessions::Table, IdentitySessions::UserId)
                            .to(IdentityUsers::Table, IdentityUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_identity_sessions_token_hash")
                    .table(IdentitySessions::Table)
                    .col(IdentitySessions::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_identity_sessions_user")
                    .table(IdentitySessions::Table)
                    .col(IdentitySessions::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdentityLoginAttempts::Table)
                    .col(id_col(IdentityLoginAttempts::Id))
                    .col(
                        ColumnDef::new(IdentityLoginAttempts::Email)
                            .string_len(254)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdentityLoginAttempts::Ip)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(IdentityLoginAttempts::Succeeded)
                            .boolean()
                            .not_null(),
                    )
                    .col(timestamp_col(IdentityLoginAttempts::At))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            (
                "idx_identity_login_attempts_email",
                IdentityLoginAttempts::Email,
            ),
            ("idx_identity_login_attempts_ip", IdentityLoginAttempts::Ip),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(IdentityLoginAttempts::Table)
                        .col(col)
                        .col(IdentityLoginAttempts::At)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_identity_login_attempts_at")
                    .table(IdentityLoginAttempts::Table)
                    .col(IdentityLoginAttempts::At)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdentityChannels::Table)
                    .col(id_col(IdentityChannels::Id))
                    .col(
                        ColumnDef::new(IdentityChannels::OwnerId)
                            .big_integer()
                            .not_null(),
                    )
                    // Lowercase, so the unique index is case-insensitive.
                    .col(
                        ColumnDef::new(IdentityChannels::Handle)
                            .string_len(30)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdentityChannels::DisplayName)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(IdentityChannels::Bio).text().not_null())
                    .col(
                        ColumnDef::new(IdentityChannels::AvatarUrl)
                            .string_len(2048)
                            .null(),
                    )
                    .col(timestamp_col(IdentityChannels::CreatedAt))
                    .col(timestamp_col(IdentityChannels::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_identity_channels_owner")
                            .from(IdentityChannels::Table, IdentityChannels::OwnerId)
                            .to(IdentityUsers::Table, IdentityUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The service recognises a violated index by these names ("owner" / "handle").
        manager
            .create_index(
                Index::create()
                    .name("uq_identity_channels_owner")
                    .table(IdentityChannels::Table)
                    .col(IdentityChannels::OwnerId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_identity_channels_handle")
                    .table(IdentityChannels::Table)
                    .col(IdentityChannels::Handle)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdentityOrganizations::Table)
                    .col(id_col(IdentityOrganizations::Id))
                    .col(
                        ColumnDef::new(IdentityOrganizations::Name)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(timestamp_col(IdentityOrganizations::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdentityMemberships::Table)
                    .col(id_col(IdentityMemberships::Id))
                    .col(
                        ColumnDef::new(IdentityMemberships::OrganizationId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdentityMemberships::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    // OWNER | AGENT
                    .col(
                        ColumnDef::new(IdentityMemberships::Role)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(timestamp_col(IdentityMemberships::AddedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_identity_memberships_organization")
                            .from(
                                IdentityMemberships::Table,
                                IdentityMemberships::OrganizationId,
                            )
                            .to(IdentityOrganizations::Table, IdentityOrganizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_identity_memberships_user")
                            .from(IdentityMemberships::Table, IdentityMemberships::UserId)
                            .to(IdentityUsers::Table, IdentityUsers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_identity_memberships_organization_user")
                    .table(IdentityMemberships::Table)
                    .col(IdentityMemberships::OrganizationId)
                    .col(IdentityMemberships::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_identity_memberships_user")
                    .table(IdentityMemberships::Table)
                    .col(IdentityMemberships::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdentityMemberships::Table.into_iden(),
            IdentityOrganizations::Table.into_iden(),
            IdentityChannels::Table.into_iden(),
            IdentityLoginAttempts::Table.into_iden(),
            IdentitySessions::Table.into_iden(),
            IdentityUsers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

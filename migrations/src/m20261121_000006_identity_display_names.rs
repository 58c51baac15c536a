//! identity: users get a public display name (昵称).
//!
//! Existing accounts are named after their email's local part (the part before `@`), cut to 32
//! characters; an account whose email has none is named `user{id}`. New accounts get theirs at
//! sign-up (the same default when they give none).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000006_identity_display_names"
    }
}

#[derive(DeriveIden)]
enum IdentityUsers {
    Table,
    DisplayName,
}

/// The backfill, per backend: SQLite has no `split_part`, PostgreSQL no `INSTR`. Both count
/// characters, not bytes.
fn backfill(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => {
            "UPDATE identity_users SET display_name = CASE \
                WHEN split_part(email, '@', 1) <> '' THEN left(split_part(email, '@', 1), 32) \
                ELSE 'user' || id END \
             WHERE display_name = ''"
        }
        _ => {
            "UPDATE identity_users SET display_name = CASE \
                WHEN instr(email, '@') > 1 THEN substr(email, 1, min(instr(email, '@') - 1, 32)) \
                ELSE 'user' || id END \
             WHERE display_name = ''"
        }
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IdentityUsers::Table)
                    .add_column(
                        ColumnDef::new(IdentityUsers::DisplayName)
                            .string_len(64)
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(backfill(manager.get_database_backend()))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IdentityUsers::Table)
                    .drop_column(IdentityUsers::DisplayName)
                    .to_owned(),
            )
            .await
    }
}

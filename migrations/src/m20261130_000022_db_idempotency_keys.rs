//! db: idempotency keys for money-moving mutations (`kanjian_db::idempotency`). One row per key
//! (`<module>:<operation>:<caller>:<key>`): the request's fingerprint, the claim's token and how
//! long it holds, the stored answer once the call committed, and when the key expires (24 h).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000022_db_idempotency_keys"
    }
}

#[derive(DeriveIden)]
enum DbIdempotencyKeys {
    Table,
    Name,
    Fingerprint,
    Token,
    Answer,
    ClaimedUntilMs,
    ExpiresMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DbIdempotencyKeys::Table)
                    .col(ColumnDef::new(DbIdempotencyKeys::Name).string().not_null().primary_key())
                    .col(ColumnDef::new(DbIdempotencyKeys::Fingerprint).string().not_null())
                    .col(ColumnDef::new(DbIdempotencyKeys::Token).big_integer().not_null())
                    .col(ColumnDef::new(DbIdempotencyKeys::Answer).text().null())
                    .col(ColumnDef::new(DbIdempotencyKeys::ClaimedUntilMs).big_integer().not_null())
                    .col(ColumnDef::new(DbIdempotencyKeys::ExpiresMs).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // Pruning deletes by expiry.
        manager
            .create_index(
                Index::create()
                    .name("db_idempotency_keys_expires_ms")
                    .table(DbIdempotencyKeys::Table)
                    .col(DbIdempotencyKeys::ExpiresMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(DbIdempotencyKeys::Table).to_owned()).await
    }
}

//! events: the transactional outbox and the per-handler deliveries.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000001_events"
    }
}

#[derive(DeriveIden)]
enum EventsOutbox {
    Table,
    Id,
    EventId,
    Kind,
    Payload,
    OccurredAt,
    FannedOut,
}

#[derive(DeriveIden)]
enum EventsDeliveries {
    Table,
    Id,
    EventId,
    Handler,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LockedBy,
    LastError,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventsOutbox::Table)
                    .col(ColumnDef::new(EventsOutbox::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(EventsOutbox::EventId).string_len(36).not_null().unique_key())
                    .col(ColumnDef::new(EventsOutbox::Kind).string().not_null())
                    .col(ColumnDef::new(EventsOutbox::Payload).text().not_null())
                    // Milliseconds since the epoch: compared and added to in SQL on both backends.
                    .col(ColumnDef::new(EventsOutbox::OccurredAt).big_integer().not_null())
                    .col(ColumnDef::new(EventsOutbox::FannedOut).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_outbox_unfanned")
                    .table(EventsOutbox::Table)
                    .col(EventsOutbox::FannedOut)
                    .col(EventsOutbox::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EventsDeliveries::Table)
                    .col(ColumnDef::new(EventsDeliveries::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(EventsDeliveries::EventId).string_len(36).not_null())
                    .col(ColumnDef::new(EventsDeliveries::Handler).string().not_null())
                    // pending | done | dead
                    .col(ColumnDef::new(EventsDeliveries::Status).string_len(16).not_null())
                    .col(ColumnDef::new(EventsDeliveries::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(EventsDeliveries::NextAttemptAt).big_integer().not_null())
                    .col(ColumnDef::new(EventsDeliveries::LockedUntil).big_integer().null())
                    .col(ColumnDef::new(EventsDeliveries::LockedBy).string_len(36).null())
                    .col(ColumnDef::new(EventsDeliveries::LastError).text().null())
                    .col(ColumnDef::new(EventsDeliveries::FinishedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_events_deliveries_event_handler")
                    .table(EventsDeliveries::Table)
                    .col(EventsDeliveries::EventId)
                    .col(EventsDeliveries::Handler)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_deliveries_due")
                    .table(EventsDeliveries::Table)
                    .col(EventsDeliveries::Handler)
                    .col(EventsDeliveries::Status)
                    .col(EventsDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(EventsDeliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(EventsOutbox::Table).to_owned()).await
    }
}

//! events: handlers are registered in the database (`events_handlers`), so fan-out on any node
//! creates deliveries for every handler the deployment has, not only for the handlers of the
//! node that happens to fan an event out. A handler receives the events that occurred from its
//! first registration on (`registered_at`).
//!
//! Events not yet fanned out when this runs must still reach the handlers that existed before:
//! every handler that has a delivery is registered here from the kinds it was delivered, since
//! the Unix epoch. Each dispatcher then writes its own handlers' kinds when it starts.
//!
//! Also an index for pruning finished deliveries by age (`status`, `finished_at`).

use std::collections::BTreeMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000011_events_handlers"
    }
}

#[derive(DeriveIden)]
enum EventsHandlers {
    Table,
    Name,
    /// A JSON array of the event kinds the handler takes.
    Kinds,
    /// Milliseconds since the epoch of the handler's first registration.
    RegisteredAt,
}

#[derive(DeriveIden)]
enum EventsDeliveries {
    Table,
    Status,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventsHandlers::Table)
                    .col(ColumnDef::new(EventsHandlers::Name).string().not_null().primary_key())
                    .col(ColumnDef::new(EventsHandlers::Kinds).text().not_null())
                    .col(ColumnDef::new(EventsHandlers::RegisteredAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let delivered = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT d.handler, o.kind FROM events_deliveries d \
                 JOIN events_outbox o ON o.event_id = d.event_id \
                 GROUP BY d.handler, o.kind ORDER BY d.handler, o.kind",
            ))
            .await?;
        let mut kinds: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in delivered {
            let handler: String = row.try_get("", "handler")?;
            let kind: String = row.try_get("", "kind")?;
            kinds.entry(handler).or_default().push(kind);
        }
        for (handler, kinds) in kinds {
            let kinds = serde_json::to_string(&kinds).map_err(|e| DbErr::Custom(e.to_string()))?;
            let mut insert = Query::insert();
            insert
                .into_table(EventsHandlers::Table)
                .columns([EventsHandlers::Name, EventsHandlers::Kinds, EventsHandlers::RegisteredAt])
                .values([handler.into(), kinds.into(), 0i64.into()])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
            manager.exec_stmt(insert).await?;
        }

        manager
            .create_index(
                Index::create()
                    .name("idx_events_deliveries_finished")
                    .table(EventsDeliveries::Table)
                    .col(EventsDeliveries::Status)
                    .col(EventsDeliveries::FinishedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_events_deliveries_finished").table(EventsDeliveries::Table).to_owned())
            .await?;
        manager.drop_table(Table::drop().table(EventsHandlers::Table).to_owned()).await
    }
}

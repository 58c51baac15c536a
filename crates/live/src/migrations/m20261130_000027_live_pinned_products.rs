//! live: the product pinned in a room (讲解中) while it is LIVE, and when it was pinned.
//!
//! No foreign key: `pinned_product_id` is commerce's.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000027_live_pinned_products"
    }
}

#[derive(DeriveIden)]
enum LiveRooms {
    Table,
    PinnedProductId,
    PinnedProductAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            ColumnDef::new(LiveRooms::PinnedProductId).big_integer().null().to_owned(),
            ColumnDef::new(LiveRooms::PinnedProductAt).timestamp_with_time_zone().null().to_owned(),
        ] {
            manager.alter_table(Table::alter().table(LiveRooms::Table).add_column(column).to_owned()).await?;
        }
        // The rooms a product is pinned in: an order or a price change of it updates their cards.
        manager
            .create_index(
                Index::create()
                    .name("idx_live_rooms_pinned_product")
                    .table(LiveRooms::Table)
                    .col(LiveRooms::PinnedProductId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_live_rooms_pinned_product").table(LiveRooms::Table).to_owned()).await?;
        for column in [LiveRooms::PinnedProductAt, LiveRooms::PinnedProductId] {
            manager.alter_table(Table::alter().table(LiveRooms::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

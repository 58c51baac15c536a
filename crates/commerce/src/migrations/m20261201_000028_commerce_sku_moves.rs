//! commerce: payments' moves of units from held to sold, waiting to be folded into their SKU
//! rows. A payment writes one here instead of updating its SKU row, which a flash sale's holds
//! keep busy (see `src/stock.rs`).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000028_commerce_sku_moves"
    }
}

#[derive(DeriveIden)]
enum CommerceSkuMoves {
    Table,
    Id,
    SkuId,
    Units,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CommerceSkuMoves::Table)
                    .col(ColumnDef::new(CommerceSkuMoves::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(CommerceSkuMoves::SkuId).big_integer().not_null())
                    .col(ColumnDef::new(CommerceSkuMoves::Units).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("commerce_sku_moves_sku").table(CommerceSkuMoves::Table).col(CommerceSkuMoves::SkuId).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CommerceSkuMoves::Table).to_owned()).await
    }
}

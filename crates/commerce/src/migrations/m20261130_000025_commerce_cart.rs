//! commerce: the cart, and each order line's share of its order's shipping.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000025_commerce_cart"
    }
}

#[derive(DeriveIden)]
enum CommerceCartItems {
    Table,
    UserId,
    SkuId,
    Quantity,
    Attribution,
    AddedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CommerceOrderLines {
    Table,
    ShippingShareMinor,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CommerceCartItems::Table)
                    .col(ColumnDef::new(CommerceCartItems::UserId).big_integer().not_null())
                    .col(ColumnDef::new(CommerceCartItems::SkuId).big_integer().not_null())
                    .col(ColumnDef::new(CommerceCartItems::Quantity).big_integer().not_null())
                    // Where the shopper found it (JSON of `AttributionInput`).
                    .col(ColumnDef::new(CommerceCartItems::Attribution).string_len(512).not_null())
                    .col(ColumnDef::new(CommerceCartItems::AddedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(CommerceCartItems::UpdatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().name("pk_commerce_cart_items").col(CommerceCartItems::UserId).col(CommerceCartItems::SkuId))
                    .to_owned(),
            )
            .await?;
        // Lines placed before this migration had one line per order: their share is the fee,
        // filled in below.
        manager
            .alter_table(
                Table::alter()
                    .table(CommerceOrderLines::Table)
                    .add_column(ColumnDef::new(CommerceOrderLines::ShippingShareMinor).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE commerce_order_lines SET shipping_share_minor = \
                 (SELECT o.shipping_fee_minor FROM commerce_orders o WHERE o.id = commerce_order_lines.order_id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CommerceCartItems::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(CommerceOrderLines::Table).drop_column(CommerceOrderLines::ShippingShareMinor).to_owned())
            .await?;
        Ok(())
    }
}

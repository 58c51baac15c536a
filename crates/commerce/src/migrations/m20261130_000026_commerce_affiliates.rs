//! commerce: products offered to creators (带货) at a commission, creators' showcases (橱窗),
//! product cards under videos, and the live rooms' channels (a projection of live's events, to
//! credit a room's sales to its creator).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000026_commerce_affiliates"
    }
}

#[derive(DeriveIden)]
enum CommerceAffiliateOffers {
    Table,
    ProductId,
    ShopId,
    CommissionBps,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CommerceShowcaseItems {
    Table,
    ChannelId,
    ProductId,
    AddedAt,
}

#[derive(DeriveIden)]
enum CommerceVideoProducts {
    Table,
    VideoId,
    ChannelId,
    ProductId,
    AttachedAt,
}

#[derive(DeriveIden)]
enum CommerceLiveRooms {
    Table,
    RoomId,
    ChannelId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CommerceAffiliateOffers::Table)
                    .col(ColumnDef::new(CommerceAffiliateOffers::ProductId).big_integer().not_null().primary_key())
                    .col(ColumnDef::new(CommerceAffiliateOffers::ShopId).big_integer().not_null())
                    .col(ColumnDef::new(CommerceAffiliateOffers::CommissionBps).big_integer().not_null())
                    .col(ColumnDef::new(CommerceAffiliateOffers::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CommerceShowcaseItems::Table)
                    .col(ColumnDef::new(CommerceShowcaseItems::ChannelId).big_integer().not_null())
                    .col(ColumnDef::new(CommerceShowcaseItems::ProductId).big_integer().not_null())
                    .col(ColumnDef::new(CommerceShowcaseItems::AddedAt).timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create().name("pk_commerce_showcase_items").col(CommerceShowcaseItems::ChannelId).col(CommerceShowcaseItems::ProductId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CommerceVideoProducts::Table)
                    .col(ColumnDef::new(CommerceVideoProducts::VideoId).big_integer().not_null().primary_key())
                    .col(ColumnDef::new(CommerceVideoProducts::ChannelId).big_integer().not_null())
                    .col(ColumnDef::new(CommerceVideoProducts::ProductId).big_integer().not_null())
                    .col(ColumnDef::new(CommerceVideoProducts::AttachedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CommerceLiveRooms::Table)
                    .col(ColumnDef::new(CommerceLiveRooms::RoomId).big_integer().not_null().primary_key())
                    .col(ColumnDef::new(CommerceLiveRooms::ChannelId).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        // A creator's sales, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_commerce_order_lines_creator")
                    .table(Alias::new("commerce_order_lines"))
                    .col(Alias::new("creator_channel_id"))
                    .col(Alias::new("id"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_commerce_order_lines_creator").table(Alias::new("commerce_order_lines")).to_owned()).await?;
        for table in [
            CommerceLiveRooms::Table.into_iden(),
            CommerceVideoProducts::Table.into_iden(),
            CommerceShowcaseItems::Table.into_iden(),
            CommerceAffiliateOffers::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

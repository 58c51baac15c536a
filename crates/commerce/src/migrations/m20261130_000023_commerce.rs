//! commerce: shops, products and their SKUs, address books, purchases per person, and orders
//! with their lines and timelines.
//!
//! No foreign keys across modules: `organization_id` and `user_id` are identity's,
//! `live_room_id` live's, `video_id` media's, `creator_channel_id` identity's. Within the module
//! the rows refer to each other by id too, so a table can later move (orders by buyer, SKUs into
//! buckets) without a constraint in the way.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000023_commerce"
    }
}

#[derive(DeriveIden)]
enum CommerceShops {
    Table,
    Id,
    OrganizationId,
    Name,
    Description,
    Currency,
    ShippingFeeMinor,
    FreeShippingThresholdMinor,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CommerceProducts {
    Table,
    Id,
    ShopId,
    Title,
    Description,
    Category,
    ImageUrls,
    Status,
    PurchaseLimit,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
enum CommerceSkus {
    Table,
    Id,
    ProductId,
    ShopId,
    Specs,
    Currency,
    PriceMinor,
    Stock,
    Held,
    Sold,
    Removed,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CommercePurchases {
    Table,
    UserId,
    ProductId,
    Quantity,
}

#[derive(DeriveIden)]
enum CommerceAddresses {
    Table,
    Id,
    UserId,
    Recipient,
    Phone,
    Region,
    Detail,
    PostalCode,
    IsDefault,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CommerceOrders {
    Table,
    Id,
    BuyerId,
    ShopId,
    State,
    Currency,
    ItemsTotalMinor,
    ShippingFeeMinor,
    TotalMinor,
    Address,
    PayBy,
    PaidAt,
    ShippedAt,
    Carrier,
    TrackingNumber,
    CompletedAt,
    CancelledAt,
    CancelReason,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
enum CommerceOrderLines {
    Table,
    Id,
    OrderId,
    ProductId,
    SkuId,
    Title,
    Specs,
    ImageUrl,
    UnitPriceMinor,
    Quantity,
    AmountMinor,
    SeenUnitPriceMinor,
    Source,
    LiveRoomId,
    VideoId,
    CreatorChannelId,
    CommissionBps,
}

#[derive(DeriveIden)]
enum CommerceOrderEvents {
    Table,
    Id,
    OrderId,
    Kind,
    At,
    ActorId,
    Note,
}

fn id_col<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().auto_increment().primary_key().to_owned()
}

fn big<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

fn big_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().to_owned()
}

fn text<T: IntoIden>(col: T, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).not_null().to_owned()
}

fn at<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}

fn at_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().to_owned()
}

async fn index(manager: &SchemaManager<'_>, name: &str, table: impl IntoIden + 'static, cols: Vec<DynIden>, unique: bool) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CommerceShops::Table)
                    .col(id_col(CommerceShops::Id))
                    .col(big(CommerceShops::OrganizationId))
                    .col(text(CommerceShops::Name, 128))
                    .col(text(CommerceShops::Description, 2048))
                    .col(text(CommerceShops::Currency, 3))
                    .col(big(CommerceShops::ShippingFeeMinor))
                    .col(big_null(CommerceShops::FreeShippingThresholdMinor))
                    .col(at(CommerceShops::CreatedAt))
                    .col(at(CommerceShops::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // One shop per organization: two owners opening at once cannot both win.
        index(manager, "uq_commerce_shops_organization", CommerceShops::Table, vec![CommerceShops::OrganizationId.into_iden()], true).await?;

        manager
            .create_table(
                Table::create()
                    .table(CommerceProducts::Table)
                    .col(id_col(CommerceProducts::Id))
                    .col(big(CommerceProducts::ShopId))
                    .col(text(CommerceProducts::Title, 256))
                    .col(text(CommerceProducts::Description, 8192))
                    .col(text(CommerceProducts::Category, 64))
                    // A JSON array of http(s) URLs.
                    .col(text(CommerceProducts::ImageUrls, 8192))
                    // ON_SHELF | OFF_SHELF | DELETED
                    .col(text(CommerceProducts::Status, 16))
                    .col(big_null(CommerceProducts::PurchaseLimit))
                    .col(at(CommerceProducts::CreatedAt))
                    .col(at(CommerceProducts::UpdatedAt))
                    .col(big(CommerceProducts::Version))
                    .to_owned(),
            )
            .await?;
        // A shop's products, newest first.
        index(
            manager,
            "idx_commerce_products_shop",
            CommerceProducts::Table,
            vec![CommerceProducts::ShopId.into_iden(), CommerceProducts::Status.into_iden(), CommerceProducts::Id.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CommerceSkus::Table)
                    .col(id_col(CommerceSkus::Id))
                    .col(big(CommerceSkus::ProductId))
                    .col(big(CommerceSkus::ShopId))
                    // A JSON array of {name, value}.
                    .col(text(CommerceSkus::Specs, 2048))
                    .col(text(CommerceSkus::Currency, 3))
                    .col(big(CommerceSkus::PriceMinor))
                    // Units on sale now, held by unpaid orders, and paid for: stock moves to held
                    // by a conditional write (`WHERE stock >= n`), never read then written.
                    .col(big(CommerceSkus::Stock))
                    .col(big(CommerceSkus::Held))
                    .col(big(CommerceSkus::Sold))
                    .col(ColumnDef::new(CommerceSkus::Removed).boolean().not_null().default(false))
                    .col(big(CommerceSkus::Version))
                    .col(at(CommerceSkus::UpdatedAt))
                    // The last line of defence: whatever a bug writes, no count goes below zero.
                    .check(Expr::col(CommerceSkus::Stock).gte(0))
                    .check(Expr::col(CommerceSkus::Held).gte(0))
                    .check(Expr::col(CommerceSkus::Sold).gte(0))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_commerce_skus_product", CommerceSkus::Table, vec![CommerceSkus::ProductId.into_iden(), CommerceSkus::Id.into_iden()], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(CommercePurchases::Table)
                    .col(big(CommercePurchases::UserId))
                    .col(big(CommercePurchases::ProductId))
                    // Units of the product in the person's unpaid and paid orders: raised by a
                    // conditional upsert that refuses to pass the product's limit.
                    .col(big(CommercePurchases::Quantity))
                    .primary_key(
                        Index::create().name("pk_commerce_purchases").col(CommercePurchases::UserId).col(CommercePurchases::ProductId),
                    )
                    .check(Expr::col(CommercePurchases::Quantity).gte(0))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CommerceAddresses::Table)
                    .col(id_col(CommerceAddresses::Id))
                    .col(big(CommerceAddresses::UserId))
                    .col(text(CommerceAddresses::Recipient, 64))
                    .col(text(CommerceAddresses::Phone, 32))
                    // A JSON array: 省, 市, 区.
                    .col(text(CommerceAddresses::Region, 512))
                    .col(text(CommerceAddresses::Detail, 512))
                    .col(ColumnDef::new(CommerceAddresses::PostalCode).string_len(16).null())
                    .col(ColumnDef::new(CommerceAddresses::IsDefault).boolean().not_null().default(false))
                    .col(at(CommerceAddresses::CreatedAt))
                    .col(at(CommerceAddresses::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_commerce_addresses_user", CommerceAddresses::Table, vec![CommerceAddresses::UserId.into_iden(), CommerceAddresses::Id.into_iden()], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(CommerceOrders::Table)
                    .col(id_col(CommerceOrders::Id))
                    .col(big(CommerceOrders::BuyerId))
                    .col(big(CommerceOrders::ShopId))
                    // PENDING_PAYMENT | PAID | SHIPPED | COMPLETED | CANCELLED
                    .col(text(CommerceOrders::State, 16))
                    .col(text(CommerceOrders::Currency, 3))
                    .col(big(CommerceOrders::ItemsTotalMinor))
                    .col(big(CommerceOrders::ShippingFeeMinor))
                    .col(big(CommerceOrders::TotalMinor))
                    // The shipping address as it was when the order was placed (JSON).
                    .col(text(CommerceOrders::Address, 2048))
                    .col(at(CommerceOrders::PayBy))
                    .col(at_null(CommerceOrders::PaidAt))
                    .col(at_null(CommerceOrders::ShippedAt))
                    .col(ColumnDef::new(CommerceOrders::Carrier).string_len(64).null())
                    .col(ColumnDef::new(CommerceOrders::TrackingNumber).string_len(64).null())
                    .col(at_null(CommerceOrders::CompletedAt))
                    .col(at_null(CommerceOrders::CancelledAt))
                    .col(ColumnDef::new(CommerceOrders::CancelReason).string_len(32).null())
                    .col(at(CommerceOrders::CreatedAt))
                    .col(at(CommerceOrders::UpdatedAt))
                    .col(big(CommerceOrders::Version))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_commerce_orders_buyer", CommerceOrders::Table, vec![CommerceOrders::BuyerId.into_iden(), CommerceOrders::Id.into_iden()], false).await?;
        index(manager, "idx_commerce_orders_shop", CommerceOrders::Table, vec![CommerceOrders::ShopId.into_iden(), CommerceOrders::Id.into_iden()], false).await?;
        // The expiry worker's scan (unpaid past their window) and the auto-confirm's (shipped
        // long enough ago).
        index(manager, "idx_commerce_orders_state_pay_by", CommerceOrders::Table, vec![CommerceOrders::State.into_iden(), CommerceOrders::PayBy.into_iden()], false).await?;
        index(manager, "idx_commerce_orders_state_shipped", CommerceOrders::Table, vec![CommerceOrders::State.into_iden(), CommerceOrders::ShippedAt.into_iden()], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(CommerceOrderLines::Table)
                    .col(id_col(CommerceOrderLines::Id))
                    .col(big(CommerceOrderLines::OrderId))
                    .col(big(CommerceOrderLines::ProductId))
                    .col(big(CommerceOrderLines::SkuId))
                    .col(text(CommerceOrderLines::Title, 256))
                    .col(text(CommerceOrderLines::Specs, 2048))
                    .col(ColumnDef::new(CommerceOrderLines::ImageUrl).string_len(2048).null())
                    .col(big(CommerceOrderLines::UnitPriceMinor))
                    .col(big(CommerceOrderLines::Quantity))
                    .col(big(CommerceOrderLines::AmountMinor))
                    .col(big_null(CommerceOrderLines::SeenUnitPriceMinor))
                    // LIVE_ROOM | VIDEO | SHOWCASE | SEARCH | SHOP
                    .col(text(CommerceOrderLines::Source, 16))
                    .col(big_null(CommerceOrderLines::LiveRoomId))
                    .col(big_null(CommerceOrderLines::VideoId))
                    .col(big_null(CommerceOrderLines::CreatorChannelId))
                    .col(big_null(CommerceOrderLines::CommissionBps))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_commerce_order_lines_order", CommerceOrderLines::Table, vec![CommerceOrderLines::OrderId.into_iden()], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(CommerceOrderEvents::Table)
                    .col(id_col(CommerceOrderEvents::Id))
                    .col(big(CommerceOrderEvents::OrderId))
                    // PLACED | PAID | SHIPPED | COMPLETED | CANCELLED
                    .col(text(CommerceOrderEvents::Kind, 16))
                    .col(at(CommerceOrderEvents::At))
                    .col(big_null(CommerceOrderEvents::ActorId))
                    .col(text(CommerceOrderEvents::Note, 512))
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_commerce_order_events_order", CommerceOrderEvents::Table, vec![CommerceOrderEvents::OrderId.into_iden(), CommerceOrderEvents::Id.into_iden()], false).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CommerceOrderEvents::Table.into_iden(),
            CommerceOrderLines::Table.into_iden(),
            CommerceOrders::Table.into_iden(),
            CommerceAddresses::Table.into_iden(),
            CommercePurchases::Table.into_iden(),
            CommerceSkus::Table.into_iden(),
            CommerceProducts::Table.into_iden(),
            CommerceShops::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

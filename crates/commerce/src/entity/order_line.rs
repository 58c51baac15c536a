use sea_orm::entity::prelude::*;

/// What was bought, copied when the order was placed, with where the sale came from.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commerce_order_lines")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub sku_id: i64,
    pub title: String,
    pub specs: String,
    pub image_url: Option<String>,
    pub unit_price_minor: i64,
    pub quantity: i64,
    pub amount_minor: i64,
    pub seen_unit_price_minor: Option<i64>,
    /// This line's part of the order's shipping fee (largest remainder over the amounts).
    pub shipping_share_minor: i64,
    pub source: String,
    pub live_room_id: Option<i64>,
    pub video_id: Option<i64>,
    pub creator_channel_id: Option<i64>,
    pub commission_bps: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// A SKU with its stock in three counts: on sale, held by unpaid orders, sold.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commerce_skus")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub product_id: i64,
    pub shop_id: i64,
    /// A JSON array of `{name, value}`.
    pub specs: String,
    pub currency: String,
    pub price_minor: i64,
    pub stock: i64,
    pub held: i64,
    pub sold: i64,
    pub removed: bool,
    pub version: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

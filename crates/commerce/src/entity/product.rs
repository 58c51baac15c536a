use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commerce_products")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub shop_id: i64,
    pub title: String,
    pub description: String,
    pub category: String,
    /// A JSON array of URLs.
    pub image_urls: String,
    /// `ON_SHELF`, `OFF_SHELF` or `DELETED` (`ProductStatus`).
    pub status: String,
    pub purchase_limit: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commerce_orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub buyer_id: i64,
    pub shop_id: i64,
    /// `OrderState` as text.
    pub state: String,
    pub currency: String,
    pub items_total_minor: i64,
    pub shipping_fee_minor: i64,
    pub total_minor: i64,
    /// The shipping address when placed (JSON of `ShippingAddressDto`).
    pub address: String,
    pub pay_by: DateTimeUtc,
    pub paid_at: Option<DateTimeUtc>,
    pub shipped_at: Option<DateTimeUtc>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

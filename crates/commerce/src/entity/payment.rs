use sea_orm::entity::prelude::*;

/// One attempt to pay an order through a provider.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commerce_payments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub provider: String,
    pub out_trade_no: String,
    pub currency: String,
    pub amount_minor: i64,
    /// `PaymentState` as text.
    pub state: String,
    /// JSON of `PayAction`.
    pub action: Option<String>,
    pub transaction_id: Option<String>,
    pub paid_at: Option<DateTimeUtc>,
    pub refund_reason: Option<String>,
    pub refunded_at: Option<DateTimeUtc>,
    pub checked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// The sandbox provider's side of a payment: what it was asked to charge, and whether the
/// person on its page paid.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commerce_sandbox_payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub out_trade_no: String,
    pub token: String,
    pub currency: String,
    pub amount_minor: i64,
    pub description: String,
    pub state: String,
    pub transaction_id: Option<String>,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_mail_requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `verify_email` or `password_reset` (see `mail::Purpose`).
    pub purpose: String,
    /// The email as typed, trimmed and lowercased (it may belong to no account).
    pub email: String,
    pub ip: Option<String>,
    /// The account the request matched, if any.
    pub user_id: Option<i64>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_login_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The email as typed, trimmed and lowercased (it may belong to no account).
    pub email: String,
    pub ip: Option<String>,
    pub succeeded: bool,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

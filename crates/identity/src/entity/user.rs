use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Trimmed and lowercased.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Public (昵称): 1 to 32 characters, one line (see `domain::DisplayName`).
    pub display_name: String,
    /// When the user proved they receive mail at `email`; `None` until then.
    pub email_verified_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

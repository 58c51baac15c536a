use sea_orm::entity::prelude::*;

/// One HLS segment of a room, stored in the blob store under `live/rooms/<room_id>/`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "live_segments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub room_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sequence: i64,
    pub session: String,
    pub duration_ms: i64,
    pub program_date_time: DateTimeUtc,
    pub discontinuity: bool,
    pub init_name: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// One LL-HLS part of a room's recent segment (or the segment in progress), stored in the
/// blob store as `live/rooms/<room_id>/part-<sequence>.<part>.m4s`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "live_parts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub room_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sequence: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub part: i32,
    pub duration_ms: i32,
    pub independent: bool,
    pub program_date_time: DateTimeUtc,
    pub discontinuity: bool,
    pub init_name: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

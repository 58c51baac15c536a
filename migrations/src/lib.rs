#![doc = include_str!("../README.md")]

pub use sea_orm_migration::prelude::*;

pub mod database;
mod m20261121_000001_events;
mod m20261121_000002_identity;
mod m20261121_000003_media;
mod m20261121_000004_social;
mod m20261121_000005_social_feeds;
mod m20261121_000006_identity_display_names;
mod m20261121_000007_social_closest_friends;
mod m20261121_000008_social_feed_snapshots_unlogged;
mod m20261121_000009_social_video_counters;
mod m20261121_000010_social_snapshot_lz4;
mod m20261129_000011_events_handlers;
mod m20261129_000012_media_video_versions;
mod m20261129_000013_social_video_tombstones;
mod m20261130_000017_db_rate_limits;
mod m20261130_000022_db_idempotency_keys;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_events::Migration),
            Box::new(m20261121_000002_identity::Migration),
            Box::new(m20261121_000003_media::Migration),
            Box::new(m20261121_000004_social::Migration),
            Box::new(m20261121_000005_social_feeds::Migration),
            Box::new(m20261121_000006_identity_display_names::Migration),
            Box::new(m20261121_000007_social_closest_friends::Migration),
            Box::new(m20261121_000008_social_feed_snapshots_unlogged::Migration),
            Box::new(m20261121_000009_social_video_counters::Migration),
            Box::new(m20261121_000010_social_snapshot_lz4::Migration),
            Box::new(m20261129_000011_events_handlers::Migration),
            Box::new(m20261129_000012_media_video_versions::Migration),
            Box::new(m20261129_000013_social_video_tombstones::Migration),
            Box::new(m20261130_000017_db_rate_limits::Migration),
            Box::new(m20261130_000022_db_idempotency_keys::Migration),
        ]
    }
}

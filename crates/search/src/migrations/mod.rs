//! The module's own tables, merged by name into the one ordered history by `server`.

use sea_orm_migration::MigrationTrait;

mod m20261201_000029_search;

pub fn all() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(m20261201_000029_search::Migration)]
}

//! The modules of this Kanjian, in build order (a module may use the APIs of those above it): the
//! one place that names them. Adding a module is one line here (see docs/adding-a-module.md).

use kanjian_migrations::{MigrationTrait, MigratorTrait};

kanjian_module::modules! {
    identity: kanjian_identity::Identity,
    media: kanjian_media::Media,
    social: kanjian_social::Social,
    notify: kanjian_notify::Notify,
    commerce: kanjian_commerce::Commerce,
    live: kanjian_live::Live,
    search: kanjian_search::Search,
}

/// The one ordered history: the migrations crate's and every module's own, ordered by name (each
/// name starts with its date).
#[derive(Debug)]
pub struct AllMigrations;

impl MigratorTrait for AllMigrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = kanjian_migrations::Migrator::migrations();
        all.extend(module_migrations());
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_is_in_name_order_without_duplicates() {
        let names: Vec<String> = AllMigrations::migrations().iter().map(|m| m.name().to_owned()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        // The central history is in name order itself, so merging keeps its order (it is no
        // longer all first: `db_rate_limits` came after the modules' own first migrations).
        let central: Vec<String> =
            kanjian_migrations::Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
        let mut central_sorted = central.clone();
        central_sorted.sort();
        assert_eq!(central, central_sorted);
        let merged_central: Vec<&String> = names.iter().filter(|n| central.contains(n)).collect();
        assert_eq!(merged_central, central.iter().collect::<Vec<_>>());
    }
}

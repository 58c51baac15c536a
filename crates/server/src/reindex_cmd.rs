//! `kanjian reindex`: rebuilds the search index from the database (the documents search keeps
//! from the other modules' events) beside the serving copy, with a progress bar, then swaps it
//! in. A running server keeps answering from the old copy until the swap and follows it after.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use kanjian_server::Config;

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let db = kanjian_server::app::open_database(config).await?;
    let search = &config.modules.search;
    let style = ProgressStyle::with_template("reindexing [{bar:32}] {human_pos:>9}/{human_len:<9} {per_sec:>12} eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::new(0).with_style(style);
    let started = Instant::now();
    let held = kanjian_search::reindex(search, &config.data_dir, db.for_module("search"), &|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish_and_clear();
    println!(
        "Reindexed {held} documents into {:?} in {:.1} s; the old index answered until the swap.",
        search.engine,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

//! `kanjian events dead-letters | requeue`: the dispatcher's dead letters, on the database the
//! configuration names (opened and migrated as `kanjian migrate` does).

use anyhow::Context as _;
use kanjian_events::{Requeue, dead_letters, requeue_dead_letters};
use kanjian_server::Config;
use kanjian_server::cli::EventsCommand;

pub async fn run(config: &Config, command: &EventsCommand) -> anyhow::Result<()> {
    let db = kanjian_server::app::open_database(config).await?;
    match command {
        EventsCommand::DeadLetters { handler, after, limit } => {
            let letters = dead_letters(db.reader(), handler.as_deref(), *after, *limit)
                .await
                .context("listing dead letters")?;
            if letters.is_empty() {
                println!("No dead letters.");
                return Ok(());
            }
            println!("{:>8}  {:<28}  {:<28}  {:>8}  {:<24}  LAST ERROR", "ID", "HANDLER", "EVENT KIND", "ATTEMPTS", "FINISHED AT");
            for letter in &letters {
                let finished = letter.finished_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
                // One line per letter: the error's first line.
                let error = letter.last_error.as_deref().and_then(|e| e.lines().next()).unwrap_or("-");
                let kind = letter.kind.as_deref().unwrap_or("(event gone)");
                println!(
                    "{:>8}  {:<28}  {:<28}  {:>8}  {:<24}  {error}",
                    letter.id, letter.handler, kind, letter.attempts, finished
                );
            }
            if letters.len() as u64 == *limit
                && let Some(last) = letters.last()
            {
                println!("(more may follow: --after {})", last.id);
            }
        }
        EventsCommand::Requeue(args) => {
            let which = args.requeue();
            let requeued = requeue_dead_letters(db.writer(), db.clock(), &which)
                .await
                .context("requeueing dead letters")?;
            println!("Requeued {requeued} dead letter(s).");
            if let Requeue::Ids(ids) = &which
                && (requeued as usize) < ids.len()
            {
                println!("{} of the ids given were not dead letters.", ids.len() - requeued as usize);
            }
        }
    }
    Ok(())
}

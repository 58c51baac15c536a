//! The `kanjian` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kanjian",
    version,
    about = "Kanjian: video channels, live streams and commerce behind one GraphQL API"
)]
pub struct Cli {
    /// Configuration file (TOML); defaults to ./kanjian.toml when it exists.
    #[arg(long, global = true, env = "KANJIAN_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve HTTP (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Migrate, then fill an empty database with a synthetic world (repeatable with --seed).
    Seed(SeedArgs),
    /// The event dispatcher's dead letters: list them, requeue them.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Rebuild the search index from the database beside the serving one, then swap it in.
    Reindex,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum EventsCommand {
    /// List dead letters: deliveries that failed for good or too often.
    DeadLetters {
        /// Only this handler's.
        #[arg(long)]
        handler: Option<String>,
        /// Those with a larger id than this (the last id of the previous page).
        #[arg(long)]
        after: Option<i64>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Put dead letters back in the queue: attempts start over and they are due at once.
    Requeue(RequeueArgs),
}

/// Exactly one of: ids, `--handler NAME`, `--all`.
#[derive(Debug, Clone, clap::Args, PartialEq, Eq)]
#[group(required = true, multiple = false)]
pub struct RequeueArgs {
    /// Dead letter ids, as `kanjian events dead-letters` lists them.
    pub ids: Vec<i64>,
    /// Every dead letter of this handler.
    #[arg(long)]
    pub handler: Option<String>,
    /// Every dead letter.
    #[arg(long)]
    pub all: bool,
}

impl RequeueArgs {
    pub fn requeue(&self) -> kanjian_events::Requeue {
        use kanjian_events::Requeue;
        match (&self.handler, self.all) {
            (Some(handler), _) => Requeue::Handler(handler.clone()),
            (None, true) => Requeue::All,
            (None, false) => Requeue::Ids(self.ids.clone()),
        }
    }
}

/// Sizes and shape of the world `kanjian seed` builds. Every seeded account has the password
/// `kanjian-seed-password`; seeded videos have no playable files.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// Accounts: user1@seed.kanjian.test … userN@seed.kanjian.test, ids 1..=N.
    #[arg(long, default_value_t = 10_000)]
    pub users: u32,
    /// Average friends per user (a heavy-tailed friend graph).
    #[arg(long, default_value_t = 200.0)]
    pub avg_friends: f64,
    /// Most friends one user may have (WeChat's cap).
    #[arg(long, default_value_t = 5_000)]
    pub max_friends: u32,
    /// Share of users who own a channel.
    #[arg(long, default_value_t = 0.05)]
    pub channel_share: f64,
    /// Published videos [default: as many as users].
    #[arg(long)]
    pub videos: Option<u32>,
    /// Average channels followed per user.
    #[arg(long, default_value_t = 20.0)]
    pub avg_follows: f64,
    /// Reactions in all [default: 50 × users].
    #[arg(long)]
    pub reactions: Option<u64>,
    /// Share of reactions that are ❤️ recommends (the rest are 👍 likes).
    #[arg(long, default_value_t = 0.2)]
    pub recommend_share: f64,
    /// Average views per user.
    #[arg(long, default_value_t = 10.0)]
    pub views_per_user: f64,
    /// Reactions and views happen within the last N days; videos are published within 3 × N.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Random seed: the same seed and sizes build the same world.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use kanjian_events::Requeue;

    use super::*;

    fn parse(args: &[&str]) -> Result<EventsCommand, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("kanjian").chain(args.iter().copied()))?;
        match cli.command {
            Some(Command::Events(events)) => Ok(events),
            other => panic!("parsed as {other:?}"),
        }
    }

    fn requeue(args: &[&str]) -> Result<Requeue, clap::Error> {
        match parse(args)? {
            EventsCommand::Requeue(args) => Ok(args.requeue()),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn events_subcommands_parse() {
        assert_eq!(
            parse(&["events", "dead-letters"]).unwrap(),
            EventsCommand::DeadLetters { handler: None, after: None, limit: 100 }
        );
        assert_eq!(
            parse(&["events", "dead-letters", "--handler", "media.process_video", "--after", "7", "--limit", "5"]).unwrap(),
            EventsCommand::DeadLetters { handler: Some("media.process_video".into()), after: Some(7), limit: 5 }
        );
        assert_eq!(requeue(&["events", "requeue", "3", "14"]).unwrap(), Requeue::Ids(vec![3, 14]));
        assert_eq!(requeue(&["events", "requeue", "--handler", "social.video_projection"]).unwrap(), Requeue::Handler("social.video_projection".into()));
        assert_eq!(requeue(&["events", "requeue", "--all"]).unwrap(), Requeue::All);
        // Exactly one way of choosing.
        for bad in [&["events", "requeue"][..], &["events", "requeue", "3", "--all"], &["events", "requeue", "--all", "--handler", "x"], &["events", "requeue", "x"]] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}

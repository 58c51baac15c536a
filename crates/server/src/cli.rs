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

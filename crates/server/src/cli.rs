//! The `kanjian` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "kanjian", version, about = "Kanjian: video channels, live streams and commerce behind one GraphQL API")]
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
}

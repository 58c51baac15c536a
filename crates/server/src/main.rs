//! `kanjian serve | migrate | schema | seed | events | reindex`.

mod events_cmd;
mod reindex_cmd;
mod seed;

use std::net::TcpListener;

use anyhow::Context as _;
use clap::Parser;
use kanjian_server::cli::{Cli, Command};
use kanjian_server::{Config, Kanjian, telemetry};

/// mimalloc instead of glibc's malloc: a request allocates and frees many small objects (rows,
/// JSON, GraphQL values) on the worker threads, where glibc's malloc and free took about 12 % of
/// the server's CPU on a feed page. The A/B figures are in crates/server/README.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Schema = command {
        print!("{}", kanjian_graphql::sdl());
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    telemetry::init(&config.log);
    match command {
        Command::Schema => Ok(()),
        Command::Migrate => {
            kanjian_server::app::migrate(&config).await?;
            tracing::info!("database is up to date");
            Ok(())
        }
        Command::Seed(args) => seed::run(&config, &args).await,
        Command::Events(events) => events_cmd::run(&config, &events).await,
        Command::Reindex => reindex_cmd::run(&config).await,
        Command::Serve => serve(config).await,
    }
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.http.bind)
        .with_context(|| format!("binding {}", config.http.bind))?;
    // Port 0 becomes a real port now, before modules make links with it.
    config.http.bind = listener.local_addr().context("reading the listener address")?;
    let app = Kanjian::build(config).await?;
    let server = app.serve(listener)?;
    let url = format!("http://{}/graphql", server.addr);
    tracing::info!(graphiql = %url, "open GraphiQL in a browser");
    println!("Kanjian is up. GraphiQL: {url}");
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests and releasing background work");
    server.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

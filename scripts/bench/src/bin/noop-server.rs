//! The baseline for `node(id:)` under load: an actix-web server that does no work. `POST /`
//! reads the whole request body and answers a small fixed JSON body; `GET /readyz` answers
//! `ready`. Same framework and worker count as `kanjian`, so what it costs per request is what
//! actix-web, the kernel's TCP stack and the load generator cost; whatever `kanjian` costs above
//! it is Kanjian's own work.
//!
//!     noop-server --bind 127.0.0.1:8081 --workers 2

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "noop-server",
    about = "An actix-web endpoint that does no work (benchmark baseline)"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    bind: SocketAddr,
    /// actix-web workers (threads); defaults to actix-web's own default, the number of CPUs.
    #[arg(long)]
    workers: Option<usize>,
}

/// About the size of a small GraphQL response.
const BODY: &str = r#"{"data":{"node":{"id":"VmlkZW86MQ","title":"noop","status":"READY"}}}"#;

async fn noop(body: web::Bytes) -> HttpResponse {
    // The body is read in full by the extractor, as a GraphQL server must read its request.
    std::hint::black_box(body.len());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(BODY)
}

async fn readyz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ready")
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut server = HttpServer::new(|| {
        App::new()
            .route("/", web::post().to(noop))
            .route("/readyz", web::get().to(readyz))
    })
    .bind(args.bind)
    .with_context(|| format!("binding {}", args.bind))?;
    if let Some(workers) = args.workers {
        server = server.workers(workers);
    }
    println!("noop-server listening on http://{}", args.bind);
    server.run().await.context("serving")
}

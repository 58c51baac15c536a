//! HTTP routes. GraphQL is the API; the rest is what GraphQL cannot carry well: resumable
//! uploads (tus), media files for players, mail's unsubscribe links, payment providers'
//! notifications and the sandbox payment page, and operations endpoints.

pub(crate) mod auth;
mod graphiql;
mod graphql;
mod graphql_http;
mod health;
mod html;
mod live_files;
mod media_files;
mod payments;
pub(crate) mod subscriptions;
mod unsubscribe;
mod uploads;

use actix_web::web;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/graphql")
            // Multipart first: it is checked before async-graphql spools the file.
            .route(web::post().guard(actix_web::guard::fn_guard(uploads::is_multipart)).to(uploads::graphql_multipart))
            .route(web::post().to(graphql::post))
            .route(web::get().to(graphql::get)),
    )
    .service(
        // GraphiQL's files (3.5 MB of JavaScript uncompressed): compressed when the client accepts it.
        web::resource("/graphiql/{file}")
            .wrap(actix_web::middleware::Compress::default())
            .route(web::get().to(graphiql::asset)),
    )
    .service(
        web::resource("/uploads")
            .route(web::method(actix_web::http::Method::OPTIONS).to(uploads::options)),
    )
    .service(
        web::resource("/uploads/{upload_id}")
            .route(web::head().to(uploads::head))
            .route(web::patch().to(uploads::patch))
            .route(web::method(actix_web::http::Method::OPTIONS).to(uploads::options)),
    )
    .route("/media/videos/{video_id}/{path:.+}", web::get().to(media_files::get))
    .route("/live/rooms/{room_id}", web::get().to(live_files::page))
    .route("/live/rooms/{room_id}/{file}", web::get().to(live_files::get))
    .service(
        web::resource("/unsubscribe")
            .route(web::get().to(unsubscribe::confirm))
            .route(web::post().to(unsubscribe::unsubscribe)),
    )
    .service(
        web::resource("/payments/notify/{provider}")
            .app_data(web::PayloadConfig::new(payments::MAX_NOTIFICATION_BYTES))
            .route(web::post().to(payments::notify)),
    )
    .service(
        web::resource("/pay/sandbox/{token}")
            .route(web::get().to(payments::sandbox_page))
            .route(web::post().to(payments::sandbox_decide)),
    )
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route("/metrics", web::get().to(health::metrics))
    .route("/", web::get().to(health::index));
}

//! The HTTP layer of `/graphql` and GraphiQL: the GraphQL over HTTP spec's own audits, a stock
//! graphql-ws client, GraphiQL in a real browser with no internet, the WebSocket limits,
//! security headers and CORS.

use std::time::Duration;

use kanjian_system_tests::TestApp;
use kanjian_system_tests::node::{chromium, node_project, run_node};
use kanjian_system_tests::ws::Connection;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// Signs up, opens a channel and creates a resumable upload (no bytes sent); returns the token
/// and the video's id.
async fn creator_with_upload(app: &TestApp, handle: &str) -> (String, String) {
    let (token, _) = app.creator(handle).await;
    let data = app
        .data(
            Some(&token),
            "mutation($input: CreateVideoUploadInput!) { createVideoUpload(input: $input) { video { id } userErrors { code } } }",
            json!({ "input": { "title": "Waiting for bytes", "sizeBytes": 1000, "filename": "clip.mp4" } }),
        )
        .await;
    assert_eq!(data["createVideoUpload"]["userErrors"], json!([]), "{data:#}");
    (token, data["createVideoUpload"]["video"]["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn every_graphql_over_http_audit_passes() {
    let test = "every_graphql_over_http_audit_passes";
    let Some(dir) = node_project(test, "http-audit") else { return };
    let app = TestApp::spawn().await;
    let run = run_node(&dir, "audit.mjs", &[&app.url("/graphql")], &[], Duration::from_secs(60)).await;
    run.assert_success("the GraphQL over HTTP audits");
    let summary = run.stdout.lines().last().unwrap_or_default();
    eprintln!("{test}: {summary} in {:?}", run.elapsed);
    assert!(run.stdout.lines().all(|l| l.is_empty() || l.starts_with("ok ") || l.starts_with("audits:")), "{}", run.stdout);
    app.stop().await;
}

#[tokio::test]
async fn a_stock_graphql_ws_client_receives_the_processing_state() {
    let test = "a_stock_graphql_ws_client_receives_the_processing_state";
    let Some(dir) = node_project(test, "http-audit") else { return };
    let app = TestApp::spawn().await;
    let (token, video_id) = creator_with_upload(&app, "wsclient").await;
    let ws_url = app.url("/graphql").replacen("http", "ws", 1);
    let run = run_node(&dir, "subscribe.mjs", &[&ws_url, &token, &video_id], &[], Duration::from_secs(30)).await;
    run.assert_success("the graphql-ws client");
    let first: Value = serde_json::from_str(run.stdout.lines().next().unwrap_or_default()).expect("one JSON line");
    let update = &first["data"]["videoProcessing"];
    assert_eq!(update["videoId"], video_id.as_str(), "{first:#}");
    assert!(update["status"].is_string(), "{first:#}");
    eprintln!("{test}: node ran in {:?}", run.elapsed);
    app.stop().await;
}

#[tokio::test]
async fn graphiql_works_in_a_browser_with_nothing_from_the_internet() {
    let test = "graphiql_works_in_a_browser_with_nothing_from_the_internet";
    let Some(dir) = node_project(test, "browser") else { return };
    let Some(chromium) = chromium(test) else { return };
    let app = TestApp::spawn().await;
    let (token, video_id) = creator_with_upload(&app, "inbrowser").await;
    let screenshot = app.data_dir().join("graphiql.png");
    let run = run_node(
        &dir,
        "graphiql.mjs",
        &[&app.base, &token, &video_id, screenshot.to_str().unwrap()],
        &[("KANJIAN_CHROMIUM", chromium.to_str().unwrap())],
        Duration::from_secs(90),
    )
    .await;
    run.assert_success("GraphiQL in chromium");
    eprintln!("{test}: {} in {:?}", run.stdout.trim().replace('\n', "; "), run.elapsed);
    app.stop().await;
}

async fn post(app: &TestApp, accept: Option<&str>, content_type: Option<&str>, body: &str) -> reqwest::Response {
    let mut req = app.http.post(app.url("/graphql")).body(body.to_owned());
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    if let Some(content_type) = content_type {
        req = req.header("content-type", content_type);
    }
    req.send().await.unwrap()
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

const JSON: Option<&str> = Some("application/json");
const GQL: Option<&str> = Some("application/graphql-response+json");

#[tokio::test]
async fn statuses_and_media_types_follow_the_spec() {
    let app = TestApp::spawn().await;
    let query = r#"{"query":"{ __typename }"}"#;

    // The media type the client asks for; JSON when it does not say.
    for (accept, expected) in [(None, "application/json"), (JSON, "application/json"), (Some("*/*"), "application/json"), (GQL, "application/graphql-response+json")] {
        let response = post(&app, accept, JSON, query).await;
        assert_eq!(response.status(), 200);
        assert!(content_type(&response).starts_with(expected), "Accept {accept:?}: {}", content_type(&response));
        assert_eq!(response.json::<Value>().await.unwrap(), json!({ "data": { "__typename": "Query" } }));
    }
    let refused = post(&app, Some("text/plain"), JSON, query).await;
    assert_eq!(refused.status(), 406);
    assert_eq!(refused.json::<Value>().await.unwrap()["errors"][0]["extensions"]["code"], "NOT_ACCEPTABLE");

    // Requests that are not GraphQL requests: 4xx, JSON, no data.
    for (content, body, status, code) in [
        (None, query, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (Some("text/plain"), query, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (JSON, r#"{ "not a JSON"#, 400, "BAD_REQUEST"),
        (JSON, "", 400, "BAD_REQUEST"),
        (JSON, r#"{"qeury":"{ __typename }"}"#, 400, "BAD_REQUEST"),
        (JSON, r#"{"query":"{ __typename }","variables":"string"}"#, 400, "BAD_REQUEST"),
        (JSON, r#"[{"query":"{ __typename }"}]"#, 400, "BAD_REQUEST"),
    ] {
        let response = post(&app, None, content, body).await;
        assert_eq!(response.status(), status, "{content:?} {body}");
        assert!(content_type(&response).starts_with("application/json"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body:#}");
        assert!(body.get("data").is_none(), "{body:#}");
    }
    let huge = format!(r#"{{"query":"{{ __typename }}","variables":{{"x":"{}"}}}}"#, "x".repeat(1024 * 1024));
    assert_eq!(post(&app, None, JSON, &huge).await.status(), 413);

    // Documents that do not parse or validate, and variables that do not fit: 400 without data
    // under application/graphql-response+json, 200 (still without data) under application/json.
    for (body, code) in [
        (r#"{"query":"{"}"#, "GRAPHQL_PARSE_FAILED"),
        (r#"{"query":"{ nope }"}"#, "GRAPHQL_VALIDATION_FAILED"),
        (r#"{"query":"query Q($id: ID!) { __typename }","variables":{"id":null}}"#, "GRAPHQL_VALIDATION_FAILED"),
    ] {
        for (accept, status) in [(GQL, 400), (JSON, 200)] {
            let response = post(&app, accept, JSON, body).await;
            assert_eq!(response.status(), status, "{accept:?} {body}");
            let body: Value = response.json().await.unwrap();
            assert!(body.get("data").is_none(), "{body:#}");
            assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body:#}");
        }
    }
    // Fragments that multiply (3^20 selections in 1.3 KB) are refused at once, not walked.
    let started = std::time::Instant::now();
    let response = post(&app, GQL, JSON, &json!({ "query": fragment_bomb() }).to_string()).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{body:#}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());

    // An error while executing is not a request error: 200 with data, whatever the type.
    let response = post(&app, GQL, JSON, r#"{"query":"{ video(id: \"bm9wZQ\") { id } }"}"#).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body.as_object().unwrap().contains_key("data"), "{body:#}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");

    // GET: queries only; a mutation is 405 with Allow: POST.
    let get = |query: &'static str, accept: Option<&'static str>| {
        let mut req = app.http.get(app.url("/graphql")).query(&[("query", query)]);
        if let Some(accept) = accept {
            req = req.header("accept", accept);
        }
        req.send()
    };
    let ok = get("{ __typename }", None).await.unwrap();
    assert_eq!(ok.status(), 200);
    for accept in [JSON, GQL] {
        let refused = get("mutation { __typename }", accept).await.unwrap();
        assert_eq!(refused.status(), 405);
        assert_eq!(refused.headers()["allow"], "POST");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "METHOD_NOT_ALLOWED", "{body:#}");
        assert!(body.get("data").is_none());
    }
    let missing = app.http.get(app.url("/graphql")).header("accept", "application/json").send().await.unwrap();
    assert_eq!(missing.status(), 400);

    // A token that does not authenticate: 401, whatever the media type.
    for accept in [JSON, GQL] {
        let mut req = app.http.post(app.url("/graphql")).bearer_auth("not-a-token").json(&json!({ "query": "{ viewer { id } }" }));
        if let Some(accept) = accept {
            req = req.header("accept", accept);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body:#}");
    }
    app.stop().await;
}

/// Twenty fragments, each spreading the next three times.
fn fragment_bomb() -> String {
    let mut query = String::from("subscription { ...F0 } ");
    for i in 0..20 {
        query.push_str(&format!("fragment F{i} on Subscription {{ ...F{n} ...F{n} ...F{n} }} ", n = i + 1));
    }
    query + "fragment F20 on Subscription { notificationAdded { id } }"
}

const WAITING: &str = "subscription { notificationAdded { id } }";

/// An `error` message for `id` with the code, within a few seconds.
async fn expect_error(connection: &mut Connection, id: &str, code: &str) {
    let message = connection.next_for(id, Duration::from_secs(5)).await.expect("an error message");
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], id, "{message}");
    assert_eq!(message["payload"][0]["extensions"]["code"], code, "{message}");
}

#[tokio::test]
async fn websocket_connections_and_subscriptions_are_limited() {
    let app = TestApp::spawn_with(|c| {
        c.http.max_subscriptions_per_connection = 2;
        c.http.max_connections_per_user = 2;
    })
    .await;
    let (token, video_id) = creator_with_upload(&app, "limited").await;

    // Two subscriptions run; a third is refused with its own error, and the connection lives on.
    let mut first = Connection::open(&app.base, Some(&token)).await.expect("first connection");
    first.subscribe("1", WAITING, json!({})).await;
    first.subscribe("2", WAITING, json!({})).await;
    first.subscribe("3", WAITING, json!({})).await;
    expect_error(&mut first, "3", "TOO_MANY_SUBSCRIPTIONS").await;
    // Completing one frees its place: the next one runs and answers.
    first.complete("1").await;
    first
        .subscribe("4", "subscription($id: ID!) { videoProcessing(videoId: $id) { videoId status } }", json!({ "id": video_id }))
        .await;
    let next = first.next_for("4", Duration::from_secs(5)).await.expect("the current state");
    assert_eq!((next["type"].as_str(), next["id"].as_str()), (Some("next"), Some("4")), "{next}");
    assert_eq!(next["payload"]["data"]["videoProcessing"]["videoId"], video_id.as_str());
    first.subscribe("5", WAITING, json!({})).await;
    expect_error(&mut first, "5", "TOO_MANY_SUBSCRIPTIONS").await;
    first.complete("4").await;
    first.subscribe("6", &fragment_bomb(), json!({})).await;
    expect_error(&mut first, "6", "QUERY_TOO_COMPLEX").await;

    // Two connections per user; the third is closed with 4429 and says why.
    let second = Connection::open(&app.base, Some(&token)).await.expect("second connection");
    let (code, reason) = Connection::open(&app.base, Some(&token)).await.err().expect("the third is refused");
    assert_eq!(code, 4429, "{reason}");
    assert!(reason.contains("too many WebSocket connections") && reason.contains("limit is 2"), "{reason}");
    // Another user is not affected.
    let (other, _) = app.sign_up("other@example.com").await;
    Connection::open(&app.base, Some(&other)).await.expect("another user connects").close().await;
    // A closed connection frees its place.
    second.close().await;
    let third = app
        .eventually(Duration::from_secs(10), || async { Connection::open(&app.base, Some(&token)).await.ok() })
        .await;
    third.close().await;

    // A token that does not authenticate: 4403, the protocol's Forbidden.
    let (code, reason) = Connection::open(&app.base, Some("not-a-token")).await.err().expect("refused");
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("token"), "{reason}");
    first.close().await;
    app.stop().await;
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} in {headers:#?}"))
}

#[tokio::test]
async fn graphiql_and_media_carry_security_headers() {
    let app = TestApp::spawn().await;
    let page = app.http.get(app.url("/graphql")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    let csp = header(&h, "content-security-policy");
    for directive in ["default-src 'none'", "script-src 'self';", "connect-src 'self' ws://127.0.0.1:", "frame-ancestors 'none'", "base-uri 'none'"] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert_eq!(header(&h, "x-frame-options"), "DENY");
    assert_eq!(header(&h, "referrer-policy"), "no-referrer");
    let html = page.text().await.unwrap();
    // Every script and stylesheet is this server's own.
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"), "{html}");
    for asset in ["/graphiql/graphiql.min.js", "/graphiql/react.production.min.js", "/graphiql/react-dom.production.min.js", "/graphiql/graphiql.min.css", "/graphiql/kanjian-graphiql.js"] {
        assert!(html.contains(asset), "{asset} not in the page");
    }

    // The assets: typed, compressed when asked, revalidated by entity tag.
    let js = app.http.get(app.url("/graphiql/graphiql.min.js")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(js.status(), 200);
    let h = js.headers().clone();
    assert!(header(&h, "content-type").starts_with("text/javascript"));
    assert_eq!(header(&h, "content-encoding"), "gzip");
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    let compressed = js.bytes().await.unwrap().len();
    assert!(compressed < 1_500_000, "{compressed} bytes compressed");
    let again = app.http.get(app.url("/graphiql/graphiql.min.js")).header("if-none-match", header(&h, "etag")).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(app.http.get(app.url("/graphiql/nope.js")).send().await.unwrap().status(), 404);
    assert_eq!(app.http.get(app.url("/graphiql/..%2FCargo.toml")).send().await.unwrap().status(), 404);

    // Media: nothing runs if a file is opened as a page; same-origin only while CORS is off.
    let media = app.http.get(app.url("/media/videos/999999/master.m3u8")).send().await.unwrap();
    assert_eq!(media.status(), 404);
    let h = media.headers();
    assert_eq!(header(h, "content-security-policy"), "default-src 'none'; frame-ancestors 'none'; sandbox");
    assert_eq!(header(h, "cross-origin-resource-policy"), "same-origin");
    assert_eq!(header(h, "x-content-type-options"), "nosniff");
    app.stop().await;

    // GraphiQL switched off: no page, no assets.
    let off = TestApp::spawn_with(|c| c.http.graphiql = false).await;
    let page = off.http.get(off.url("/graphql")).header("accept", "text/html").send().await.unwrap();
    assert_ne!(page.status(), 200);
    assert_eq!(off.http.get(off.url("/graphiql/graphiql.min.js")).send().await.unwrap().status(), 404);
    off.stop().await;
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    const APP: &str = "https://app.example.com";
    const EVIL: &str = "https://evil.example.com";

    // Default: same origin only. No CORS headers, preflights refused.
    let app = TestApp::spawn().await;
    let refused = preflight(&app, "/graphql", APP, "POST").await;
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    let response = app.http.post(app.url("/graphql")).header("origin", APP).json(&json!({ "query": "{ __typename }" })).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("access-control-allow-origin").is_none());
    app.stop().await;

    let app = TestApp::spawn_with(|c| c.http.cors.allowed_origins = vec![APP.to_owned()]).await;
    for (path, method) in [("/graphql", "POST"), ("/uploads/1", "PATCH"), ("/uploads/1", "HEAD"), ("/media/videos/1/master.m3u8", "GET")] {
        let allowed = preflight(&app, path, APP, method).await;
        assert_eq!(allowed.status(), 204, "{method} {path}");
        let h = allowed.headers();
        assert_eq!(header(h, "access-control-allow-origin"), APP);
        assert!(header(h, "access-control-allow-methods").contains(method), "{method} {path}");
        let allow_headers = header(h, "access-control-allow-headers").to_ascii_lowercase();
        for name in ["authorization", "content-type", "tus-resumable", "upload-offset", "upload-length"] {
            assert!(allow_headers.contains(name), "{name} not allowed: {allow_headers}");
        }
        assert_eq!(header(h, "access-control-max-age"), "3600");
        assert!(h.get("access-control-allow-credentials").is_none());
        assert_eq!(preflight(&app, path, EVIL, method).await.status(), 403);
    }
    let response = app.http.post(app.url("/graphql")).header("origin", APP).json(&json!({ "query": "{ __typename }" })).send().await.unwrap();
    let h = response.headers();
    assert_eq!(header(h, "access-control-allow-origin"), APP);
    assert!(header(h, "vary").contains("Origin"));
    // tus discovery (an OPTIONS without Access-Control-Request-Method) still reaches tus, and
    // its headers are readable cross-origin.
    let tus = app.http.request(reqwest::Method::OPTIONS, app.url("/uploads")).header("origin", APP).send().await.unwrap();
    assert_eq!(tus.status(), 204);
    let h = tus.headers();
    assert_eq!(header(h, "tus-version"), "1.0.0");
    let exposed = header(h, "access-control-expose-headers");
    for name in ["Tus-Resumable", "Upload-Offset", "Upload-Length", "Upload-Expires", "Location", "Retry-After"] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    let other = app.http.post(app.url("/graphql")).header("origin", EVIL).json(&json!({ "query": "{ __typename }" })).send().await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Media may now be embedded by the allowed origin's pages.
    let media = app.http.get(app.url("/media/videos/999999/master.m3u8")).header("origin", APP).send().await.unwrap();
    assert_eq!(header(media.headers(), "cross-origin-resource-policy"), "cross-origin");
    assert_eq!(header(media.headers(), "access-control-allow-origin"), APP);
    app.stop().await;
}

//! Operations endpoints and request ids.

use kanjian_system_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn health_readiness_metrics_and_request_ids() {
    let app = TestApp::spawn().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(app.http.get(app.url("/readyz")).send().await.unwrap().status(), 200);

    app.data(None, "{ viewer { id } }", json!({})).await;
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("kanjian_http_requests_total{method=\"POST\",route=\"/graphql\",status=\"200\"}"),
        "{metrics}"
    );

    // GraphiQL for browsers.
    let page = app.http.get(app.url("/graphql")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));

    // GraphQL over HTTP answers with the media type the client accepts: its own when asked,
    // application/json for clients that do not say (tests/system/http.rs has the rest).
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({"query": "{ viewer { id } }"}))
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/graphql-response+json"));
    let response = app.http.post(app.url("/graphql")).json(&json!({"query": "{ viewer { id } }"})).send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    app.stop().await;
}

//! Query limits and GET semantics.

use kanjian_system_tests::TestApp;
use serde_json::{Value, json};

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn queries_over_the_limits_are_refused_with_a_code() {
    let app = TestApp::spawn().await;

    // Depth: channel -> owner -> channel -> owner ... past 10 levels.
    let mut deep = String::from("id");
    for _ in 0..6 {
        deep = format!("owner {{ channel {{ {deep} }} }}");
    }
    let body = app.graphql(None, &format!("{{ channel(handle: \"x\") {{ {deep} }} }}"), json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_DEEP", "{body:#}");
    assert!(body.get("data").is_none_or(Value::is_null));

    // Aliases: 16 > 15.
    let aliases: Vec<String> = (0..16).map(|i| format!("a{i}: viewer {{ id }}")).collect();
    let body = app.graphql(None, &format!("{{ {} }}", aliases.join(" ")), json!({})).await;
    assert_eq!(code(&body), "TOO_MANY_ALIASES", "{body:#}");
    let ok: Vec<String> = (0..15).map(|i| format!("a{i}: viewer {{ id }}")).collect();
    let body = app.graphql(None, &format!("{{ {} }}", ok.join(" ")), json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");

    // Document size: over 15,000 characters.
    let padding = " ".repeat(15_001);
    let body = app.graphql(None, &format!("{{ viewer {{ id }} }}{padding}"), json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body:#}");
    // Complexity: 1000 by default; a lower budget shows the code without a huge query.
    app.stop().await;
    let strict = TestApp::spawn_with(|c| c.graphql.max_complexity = 3).await;
    let body = strict.graphql(None, "{ viewer { id email createdAt channel { id } } }", json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body:#}");
    // Unknown fields are validation failures, with their own code.
    let body = strict.graphql(None, "{ nope }", json!({})).await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body:#}");
    strict.stop().await;
}

#[tokio::test]
async fn get_runs_queries_but_never_mutations() {
    let app = TestApp::spawn().await;
    let ok: Value = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", "{ viewer { id } }")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok, json!({ "data": { "viewer": null } }));

    let refused: Value = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { signUp(input: {email: \"get@example.com\", password: \"correct horse battery staple\"}) { token } }")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(code(&refused), "METHOD_NOT_ALLOWED", "{refused:#}");
    // And nothing was written: the account does not exist.
    let login = app
        .data(None, "mutation { logIn(input: {email: \"get@example.com\", password: \"correct horse battery staple\"}) { token userErrors { code } } }", json!({}))
        .await;
    assert_eq!(login["logIn"]["userErrors"][0]["code"], "INVALID_CREDENTIALS");
    app.stop().await;
}

#[tokio::test]
async fn malformed_ids_are_not_found_not_internal() {
    let app = TestApp::spawn().await;
    let body = app.graphql(None, "{ node(id: \"not-an-id\") { id } }", json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    assert_eq!(body["data"]["node"], Value::Null);
    let body = app.graphql(None, "{ video(id: \"bm9wZQ\") { id } }", json!({})).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body:#}");
    app.stop().await;
}

/// Issue 13: a connection counted as 1 in the complexity budget whatever its `first`. Now its
/// items count once per item it may return, through every level of nesting.
#[tokio::test]
async fn connections_cost_their_page_size_through_nesting() {
    let app = TestApp::spawn().await;
    let nested = |outer: u32, inner: u32| {
        format!("{{ recommendedFeed(first: {outer}) {{ nodes {{ video {{ social {{ comments(first: {inner}) {{ nodes {{ id body replies(first: {inner}) {{ nodes {{ id }} }} }} }} }} }} }} }} }}")
    };
    // 100 videos × 100 comments × 100 replies: refused before anything runs.
    let body = app.graphql(None, &nested(100, 100), json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body:#}");
    // 5 × 5 × 5 fits the budget of 1000.
    let body = app.graphql(None, &nested(5, 5), json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    // `first` from a variable counts the same; without it, the default page of 20 counts.
    let body = app
        .graphql(None, "query($n: Int) { recommendedFeed(first: $n) { nodes { video { social { comments(first: $n) { nodes { id body } } } } } } }", json!({ "n": 100 }))
        .await;
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body:#}");
    let body = app.graphql(None, "{ recommendedFeed { nodes { video { social { comments { nodes { id body createdAt } } } } } } }", json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body:#}");
    // `nodes(ids:)` costs each id.
    let ids: Vec<String> = (0..100).map(|_| "\"VXNlcjox\"".to_owned()).collect();
    let body = app.graphql(None, &format!("{{ nodes(ids: [{}]) {{ id ... on User {{ displayName email emailVerified createdAt channel {{ id displayName bio handle }} }} }} }}", ids.join(",")), json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body:#}");
    app.stop().await;
}

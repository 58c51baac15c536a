//! DataLoaders keep the cost of a list bounded: listing five videos with their channel and
//! social counts sends as many SQL statements as listing one. Counted for real, from the
//! server's own `kanjian_db_statements_total`.

use kanjian_system_tests::TestApp;
use kanjian_system_tests::fixtures::fixtures;
use serde_json::json;

use crate::journey::follow_processing;

async fn statements(app: &TestApp) -> u64 {
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    metrics
        .lines()
        .filter(|l| l.starts_with("kanjian_db_statements_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Waits until no statement has been sent for a while: the event handlers that publishing set off
/// (the social projection) have finished.
async fn quiet(app: &TestApp) {
    let mut last = statements(app).await;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let now = statements(app).await;
        if now == last {
            return;
        }
        last = now;
    }
    panic!("the database never went quiet");
}

/// Statements one query costs. Background work can only add to a measurement, so after waiting
/// for quiet, the least of five is the query's own cost.
async fn cost(app: &TestApp, token: &str, first: usize) -> u64 {
    const LIST: &str = "query($h: String!, $n: Int!) { channel(handle: $h) { videos(first: $n) { edges { node { id title channel { handle social { followerCount } } social { recommendCount commentCount viewerHasLiked } } } } } }";
    quiet(app).await;
    let mut least = u64::MAX;
    for _ in 0..5 {
        let before = statements(app).await;
        let data = app.data(Some(token), LIST, json!({ "h": "batched", "n": first })).await;
        let after = statements(app).await;
        assert_eq!(data["channel"]["videos"]["edges"].as_array().unwrap().len(), first);
        least = least.min(after - before);
    }
    least
}

#[tokio::test]
async fn a_longer_list_costs_no_more_statements() {
    // A slow poll keeps the dispatcher quiet between wake-ups.
    let app = TestApp::spawn_with(|c| c.events.poll_interval_ms = 60_000).await;
    let (token, _) = app.creator("batched").await;
    for i in 0..5 {
        let uploaded = app.upload_video(&token, &format!("Video {i}"), &fixtures().small_clip).await;
        let id = uploaded["data"]["uploadVideo"]["video"]["id"].as_str().unwrap().to_owned();
        follow_processing(&app, &token, &id).await;
        app.data(Some(&token), "mutation($id: ID!) { publishVideo(input: {videoId: $id}) { userErrors { code } } }", json!({ "id": id })).await;
    }

    let one = cost(&app, &token, 1).await;
    let five = cost(&app, &token, 5).await;
    assert!(one > 0, "the statement counter does not count");
    assert_eq!(five, one, "5 videos cost {five} statements, 1 video {one}: some field is not batched");
    app.stop().await;
}

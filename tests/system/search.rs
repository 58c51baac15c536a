//! Search (搜一搜) over GraphQL, as a client uses it: one box over videos and live rooms, found
//! through substrings, traditional characters, pinyin and initials; suggestions while typing;
//! filters, facets and cursors; friends' ❤️s said and ranked; blocks hiding both ways; and bad
//! input answered with its reason.

use std::time::Duration;

use kanjian_system_tests::TestApp;
use kanjian_system_tests::fixtures::fixtures;
use serde_json::{Value, json};

use crate::journey::follow_processing;
use crate::social::{befriend, top_code};

const SEARCH: &str = "query($q: String!, $kinds: [SearchKind!], $sort: SearchSort, $first: Int, $after: String, $min: MinorUnits, $max: MinorUnits) { \
    search(query: $q, kinds: $kinds, sort: $sort, first: $first, after: $after, minPrice: $min, maxPrice: $max) { \
      totalCount facets { kinds { kind count } categories { category count } } \
      edges { cursor node { kind title titleHtml highlights { start end } live socialProof { friendsRecommended followedChannel label } \
        node { __typename ... on Video { id title } ... on LiveRoom { id state } } } } \
      pageInfo { hasNextPage endCursor } } }";

async fn search(app: &TestApp, token: Option<&str>, vars: Value) -> Value {
    app.graphql(token, SEARCH, vars).await
}

fn titles(body: &Value) -> Vec<String> {
    body["data"]["search"]["edges"].as_array().map_or_else(Vec::new, |edges| {
        edges.iter().map(|e| e["node"]["title"].as_str().unwrap().to_owned()).collect()
    })
}

/// A published video of `token`'s channel with this title; returns its id.
async fn publish(app: &TestApp, token: &str, title: &str) -> String {
    let uploaded = app.upload_video(token, title, &fixtures().small_clip).await;
    let video = uploaded["data"]["uploadVideo"]["video"]["id"].as_str().unwrap().to_owned();
    follow_processing(app, token, &video).await;
    let published = app
        .data(Some(token), "mutation($id: ID!) { publishVideo(input: {videoId: $id}) { userErrors { code } } }", json!({ "id": video }))
        .await;
    assert_eq!(published["publishVideo"]["userErrors"], json!([]));
    video
}

/// Waits until the index holds `count` results for `query` (events reach it in the background).
async fn until_indexed(app: &TestApp, query: &str, count: usize) {
    for _ in 0..200 {
        let body = search(app, None, json!({ "q": query })).await;
        assert!(body["errors"].is_null(), "{body:#}");
        if titles(&body).len() == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{query:?} never found {count} results: {:#}", search(app, None, json!({ "q": query })).await);
}

#[tokio::test]
async fn one_box_finds_chinese_the_way_people_type_it() {
    let app = TestApp::spawn().await;
    let (tea, _) = app.creator("tea").await;
    publish(&app, &tea, "西湖龍井 沖泡教程").await;
    let room = app
        .data(Some(&tea), "mutation { scheduleLive(input: {title: \"中国茶文化直播\"}) { liveRoom { id } userErrors { code } } }", json!({}))
        .await;
    assert_eq!(room["scheduleLive"]["userErrors"], json!([]));
    until_indexed(&app, "茶", 1).await;
    until_indexed(&app, "龙井", 1).await;

    // Simplified finds traditional, and the match is highlighted in the original.
    let found = search(&app, None, json!({ "q": "龙井" })).await;
    let hit = &found["data"]["search"]["edges"][0]["node"];
    assert_eq!(hit["title"], "西湖龍井 沖泡教程");
    assert_eq!(hit["titleHtml"], "西湖<em>龍井</em> 沖泡教程");
    assert_eq!(hit["highlights"], json!([{ "start": 2, "end": 4 }]));
    assert_eq!(hit["node"]["__typename"], "Video");
    // Pinyin, initials, a single character, a word inside a longer one.
    for query in ["longjing", "xhlj", "湖", "茶文化", "chongpao"] {
        assert_eq!(titles(&search(&app, None, json!({ "q": query })).await).len(), 1, "{query}");
    }
    // Both kinds: a filter narrows hits, the facets still count both.
    let tea_all = search(&app, None, json!({ "q": "cha" })).await;
    assert_eq!(tea_all["data"]["search"]["totalCount"], 1, "{tea_all:#}");
    let rooms = search(&app, None, json!({ "q": "茶", "kinds": ["LIVE_ROOM"] })).await;
    assert_eq!(titles(&rooms), ["中国茶文化直播"]);
    assert_eq!(rooms["data"]["search"]["edges"][0]["node"]["node"]["state"], "SCHEDULED");

    // Suggestions while typing: a pinyin prefix, traditional characters.
    for typed in ["zhongguoc", "中國茶", "xihul"] {
        let suggestions = app
            .data(None, "query($t: String!) { searchSuggestions(text: $t) { kind text textHtml } }", json!({ "t": typed }))
            .await;
        assert_eq!(suggestions["searchSuggestions"].as_array().unwrap().len(), 1, "{typed}: {suggestions:#}");
    }
}

#[tokio::test]
async fn friends_hearts_rank_and_blocks_hide_both_ways() {
    let app = TestApp::spawn().await;
    let (a, _) = app.creator("noodle_a").await;
    let (b, _) = app.creator("noodle_b").await;
    publish(&app, &a, "兰州拉面").await;
    let hearted = publish(&app, &b, "兰州拉面").await;
    until_indexed(&app, "拉面", 2).await;
    let (lilei, _) = app.sign_up("lilei@example.com").await;
    let (meimei, meimei_id) = app.sign_up("meimei@example.com").await;
    befriend(&app, &lilei, &meimei, &meimei_id).await;
    app.data(Some(&meimei), "mutation($v: ID!) { reactToVideo(input: {videoId: $v, kind: RECOMMEND}) { userErrors { code } } }", json!({ "v": hearted }))
        .await;
    let mine = search(&app, Some(&lilei), json!({ "q": "拉面" })).await;
    let first = &mine["data"]["search"]["edges"][0]["node"];
    assert_eq!(first["node"]["id"], hearted, "{mine:#}");
    assert_eq!(first["socialProof"], json!({ "friendsRecommended": 1, "followedChannel": false, "label": "1 friend ❤️" }));
    assert_eq!(mine["data"]["search"]["edges"][1]["node"]["socialProof"], Value::Null);

    // B blocks Lilei: neither finds the other's things; nothing says who blocked whom.
    let lilei_id = app.data(Some(&lilei), "query { viewer { id } }", json!({})).await["viewer"]["id"].clone();
    app.data(Some(&b), "mutation($u: ID!) { blockUser(input: {userId: $u}) { userErrors { code } } }", json!({ "u": lilei_id }))
        .await;
    let blocked = search(&app, Some(&lilei), json!({ "q": "拉面" })).await;
    assert_eq!(blocked["data"]["search"]["totalCount"], 1);
    assert_ne!(blocked["data"]["search"]["edges"][0]["node"]["node"]["id"], hearted);
    let suggestions = app.data(Some(&lilei), "query { searchSuggestions(text: \"lanzhou\") { text } }", json!({})).await;
    assert_eq!(suggestions["searchSuggestions"].as_array().unwrap().len(), 1);
    // Signed out, both.
    assert_eq!(search(&app, None, json!({ "q": "拉面" })).await["data"]["search"]["totalCount"], 2);
}

#[tokio::test]
async fn pages_follow_cursors_and_bad_input_gets_its_reason() {
    let app = TestApp::spawn().await;
    let (token, _) = app.creator("vlog").await;
    for n in 1..=3 {
        publish(&app, &token, &format!("旅行日记 第{n}集")).await;
    }
    until_indexed(&app, "旅行", 3).await;
    let first = search(&app, None, json!({ "q": "旅行", "first": 2 })).await;
    assert_eq!(first["data"]["search"]["pageInfo"]["hasNextPage"], true);
    let after = first["data"]["search"]["pageInfo"]["endCursor"].clone();
    let second = search(&app, None, json!({ "q": "旅行", "first": 2, "after": after })).await;
    assert_eq!(titles(&second).len(), 1);
    assert_eq!(second["data"]["search"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(second["data"]["search"]["facets"], Value::Null, "facets come with the first page");
    let mut all = titles(&first);
    all.extend(titles(&second));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 3);

    let reason = |body: &Value| body["errors"][0]["extensions"]["reason"].as_str().unwrap_or("<none>").to_owned();
    let cases = [
        (json!({ "q": "" }), "REQUIRED"),
        (json!({ "q": "字".repeat(101) }), "TOO_LONG"),
        (json!({ "q": "\"()-" }), "INVALID"),
        (json!({ "q": "旅行", "min": 500, "max": 100 }), "INVALID"),
        (json!({ "q": "travel", "after": first["data"]["search"]["pageInfo"]["endCursor"] }), "INVALID"),
    ];
    for (vars, expected) in cases {
        let body = search(&app, None, vars.clone()).await;
        assert_eq!(top_code(&body), "BAD_USER_INPUT", "{vars}: {body:#}");
        assert_eq!(reason(&body), expected, "{vars}: {body:#}");
    }
    // Over the page size (asked with a selection small enough for the cost limit).
    let big = app.graphql(None, "{ search(query: \"旅行\", first: 51) { totalCount } }", json!({})).await;
    assert_eq!((top_code(&big), reason(&big).as_str()), ("BAD_USER_INPUT", "TOO_LONG"), "{big:#}");
    // Query syntax is not syntax: it searches.
    let quoted = search(&app, None, json!({ "q": "\"旅行\" -(日记)" })).await;
    assert_eq!(quoted["data"]["search"]["totalCount"], 3, "{quoted:#}");
    // An unknown sort or kind is refused by the schema itself.
    let unknown = app.graphql(None, "{ search(query: \"旅行\", sort: CHEAPEST) { totalCount } }", json!({})).await;
    assert!(unknown["errors"][0]["message"].as_str().unwrap().contains("CHEAPEST"), "{unknown:#}");
}

/// `kanjian reindex` while the server runs: the new copy is built beside the serving one, the
/// server keeps answering, then follows the swap and keeps indexing into the new copy.
#[tokio::test]
async fn reindex_rebuilds_while_the_server_answers() {
    let app = TestApp::spawn().await;
    let (token, _) = app.creator("rooms").await;
    const SCHEDULE: &str = "mutation($t: String!) { scheduleLive(input: {title: $t}) { userErrors { code } } }";
    for title in ["周末露营直播", "露营装备开箱"] {
        app.data(Some(&token), SCHEDULE, json!({ "t": title })).await;
    }
    until_indexed(&app, "露营", 2).await;

    let run = tokio::process::Command::new(kanjian_system_tests::app::kanjian_binary())
        .arg("reindex")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KANJIAN_DATA_DIR", app.data_dir())
        .env("DATABASE_URL", app.database_url())
        .env("KANJIAN_LOG__FILTER", "warn")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run).await.expect("reindex finishes").expect("run kanjian reindex");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // Two rooms and the creator's channel.
    assert!(stdout.contains("Reindexed 3 documents"), "{stdout}");
    assert_eq!(titles(&search(&app, None, json!({ "q": "露营" })).await).len(), 2);
    // What happens after the swap reaches the rebuilt copy.
    app.data(Some(&token), SCHEDULE, json!({ "t": "露营美食" })).await;
    until_indexed(&app, "露营", 3).await;

    // The indexing lag is a gauge at /metrics: caught up, it reads 0.
    let lag = app
        .eventually(Duration::from_secs(10), || async {
            let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
            metrics.lines().find(|l| l.starts_with("kanjian_search_index_lag_seconds ")).map(str::to_owned)
        })
        .await;
    assert_eq!(lag, "kanjian_search_index_lag_seconds 0");
}

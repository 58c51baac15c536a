//! The three feeds over GraphQL, as a client scrolls them: Friends ❤️ with "❤️ by …",
//! Following, and Recommended for signed-in and anonymous viewers, with cursors and errors.

use kanjian_system_tests::TestApp;
use serde_json::{Value, json};

use crate::social::{befriend, published_video, top_code};

const CARD: &str = "edges { cursor node { reason video { id title channel { handle } social { recommendCount } } friendRecommenders { totalCount friends { id } } } } pageInfo { hasNextPage endCursor }";

fn feed_query(feed: &str) -> String {
    format!("query($n: Int, $after: String) {{ {feed}(first: $n, after: $after) {{ {CARD} }} }}")
}

async fn feed(app: &TestApp, token: Option<&str>, feed: &str, after: Option<&str>) -> Value {
    app.data(token, &feed_query(feed), json!({ "n": 10, "after": after })).await[feed].clone()
}

/// Waits until media's `video_published` has reached social's projection (the dispatcher
/// delivers it in the background): the anonymous Recommended feed lists the video.
async fn until_projected(app: &TestApp, video: &str) {
    for _ in 0..100 {
        let page = feed(app, None, "recommendedFeed", None).await;
        if page["edges"].as_array().unwrap().iter().any(|e| e["node"]["video"]["id"] == video) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the video never reached the feeds");
}

#[tokio::test]
async fn a_friends_recommend_reaches_the_friends_feed_and_everyone_gets_recommended() {
    let app = TestApp::spawn_with(|c| c.modules.social.recommended_pool_refresh_secs = 0).await;
    let (_creator, channel, video) = published_video(&app, "noodles").await;
    until_projected(&app, &video).await;
    let (lilei, lilei_id) = app.sign_up("lilei@example.com").await;
    let (meimei, meimei_id) = app.sign_up("meimei@example.com").await;
    befriend(&app, &lilei, &meimei, &meimei_id).await;

    // Nothing yet: nobody ❤️'d it.
    assert_eq!(feed(&app, Some(&lilei), "friendsFeed", None).await["edges"], json!([]));

    app.data(Some(&meimei), "mutation($v: ID!) { reactToVideo(input: {videoId: $v, kind: RECOMMEND}) { userErrors { code } } }", json!({ "v": video })).await;
    let friends = feed(&app, Some(&lilei), "friendsFeed", None).await;
    let card = &friends["edges"][0]["node"];
    assert_eq!(card["reason"], "FRIENDS_RECOMMENDED");
    assert_eq!(card["video"]["id"], video);
    assert_eq!(card["video"]["channel"]["handle"], "noodles");
    assert_eq!(card["friendRecommenders"], json!({ "totalCount": 1, "friends": [{ "id": meimei_id }] }));
    assert_eq!(friends["pageInfo"]["hasNextPage"], false);
    // Meimei's own ❤️ is not in her Friends feed; Lilei is her friend but ❤️'d nothing.
    assert_eq!(feed(&app, Some(&meimei), "friendsFeed", None).await["edges"], json!([]));

    // Recommended: anonymous viewers get it plainly, Lilei with Meimei's ❤️ as social proof.
    let anon = feed(&app, None, "recommendedFeed", None).await;
    assert_eq!(anon["edges"][0]["node"]["reason"], "POPULAR");
    assert_eq!(anon["edges"][0]["node"]["friendRecommenders"], Value::Null);
    let mine = feed(&app, Some(&lilei), "recommendedFeed", None).await;
    assert_eq!(mine["edges"][0]["node"]["friendRecommenders"]["totalCount"], 1);

    // Following: after following the channel.
    assert_eq!(feed(&app, Some(&lilei), "followingFeed", None).await["edges"], json!([]));
    app.data(Some(&lilei), "mutation($c: ID!) { followChannel(input: {channelId: $c}) { userErrors { code } } }", json!({ "c": channel })).await;
    let following = feed(&app, Some(&lilei), "followingFeed", None).await;
    assert_eq!(following["edges"][0]["node"]["reason"], "FOLLOWING");
    assert_eq!(following["edges"][0]["node"]["video"]["id"], video);

    // Once watched through, it leaves both ranked feeds.
    app.data(Some(&lilei), "mutation($v: ID!) { reportView(input: {videoId: $v, watchMs: 60000}) { userErrors { code } } }", json!({ "v": video })).await;
    assert_eq!(feed(&app, Some(&lilei), "friendsFeed", None).await["edges"], json!([]));
    assert_eq!(feed(&app, Some(&lilei), "recommendedFeed", None).await["edges"], json!([]));
    let _ = lilei_id;
    app.stop().await;
}

/// Live rooms on air join the first pages: above the videos of Following for a followed
/// channel, mixed into Recommended with the friends watching.
#[tokio::test]
async fn rooms_on_air_join_following_and_recommended_with_the_friends_watching() {
    let app = TestApp::spawn_with(|c| c.modules.social.recommended_pool_refresh_secs = 0).await;
    let (creator, channel, video) = published_video(&app, "noodles").await;
    until_projected(&app, &video).await;
    let room = app
        .data(Some(&creator), "mutation { scheduleLive(input: {title: \"煮面直播\"}) { liveRoom { id } userErrors { code } } }", json!({}))
        .await["scheduleLive"]["liveRoom"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // On air without a publisher (the live tests push real RTMP): the feeds only read the state.
    let db = app.database().await;
    sea_orm::ConnectionTrait::execute_raw(
        &db,
        sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE live_rooms SET state = 'LIVE', started_at = $1, version = version + 1",
            [chrono::Utc::now().into()],
        ),
    )
    .await
    .unwrap();
    let (lilei, _) = app.sign_up("lilei@example.com").await;
    let (meimei, meimei_id) = app.sign_up("meimei@example.com").await;
    befriend(&app, &lilei, &meimei, &meimei_id).await;
    const LIVE_CARD: &str = "edges { cursor node { reason video { id } liveRoom { id state } friendsWatching { totalCount friends { id } } } }";
    let page = |feed: &str, after: Option<&str>| {
        let (app, token) = (&app, lilei.clone());
        let query = format!("query($after: String) {{ {feed}(first: 10, after: $after) {{ {LIVE_CARD} }} }}");
        let feed = feed.to_owned();
        let after = after.map(str::to_owned);
        async move { app.data(Some(&token), &query, json!({ "after": after })).await[&feed]["edges"].clone() }
    };

    // Following: nothing before following; then the room above the video.
    assert_eq!(page("followingFeed", None).await, json!([]));
    app.data(Some(&lilei), "mutation($c: ID!) { followChannel(input: {channelId: $c}) { userErrors { code } } }", json!({ "c": channel })).await;
    let following = page("followingFeed", None).await;
    assert_eq!(following[0]["node"]["reason"], "LIVE_NOW", "{following:#}");
    assert_eq!(following[0]["node"]["liveRoom"], json!({ "id": room, "state": "LIVE" }));
    assert_eq!(following[0]["node"]["video"], Value::Null);
    assert_eq!(following[1]["node"]["video"]["id"], video);
    // Paging on from the room gives the videos from the top, without it.
    let cursor = following[0]["cursor"].as_str().unwrap().to_owned();
    let after_room = page("followingFeed", Some(&cursor)).await;
    assert_eq!(after_room[0]["node"]["video"]["id"], video, "{after_room:#}");
    assert_eq!(after_room.as_array().unwrap().len(), 1);

    // Recommended: the room after the video, with Meimei watching it.
    let recommended = page("recommendedFeed", None).await;
    assert_eq!(recommended[1]["node"]["liveRoom"]["id"], room, "{recommended:#}");
    assert_eq!(recommended[1]["node"]["friendsWatching"], Value::Null);
    let watching = kanjian_system_tests::ws::Subscription::start(
        &app.base,
        Some(&meimei),
        "subscription($id: ID!) { liveRoomEvents(liveRoomId: $id) { __typename } }",
        json!({ "id": room }),
    )
    .await;
    let recommended = app
        .eventually(std::time::Duration::from_secs(10), || async {
            let edges = page("recommendedFeed", None).await;
            (edges[1]["node"]["friendsWatching"]["totalCount"] == 1).then_some(edges)
        })
        .await;
    assert_eq!(recommended[1]["node"]["friendsWatching"]["friends"], json!([{ "id": meimei_id }]));
    assert_eq!(recommended[1]["cursor"], recommended[0]["cursor"], "the room pages on as the video before it");
    drop(watching);
    app.stop().await;
}

#[tokio::test]
async fn feeds_refuse_anonymous_viewers_and_bad_cursors() {
    let app = TestApp::spawn().await;
    for name in ["friendsFeed", "followingFeed"] {
        let body = app.graphql(None, &feed_query(name), json!({ "n": 5 })).await;
        assert_eq!(top_code(&body), "UNAUTHENTICATED", "{name}: {body:#}");
    }
    let (token, _) = app.sign_up("reader@example.com").await;
    for name in ["friendsFeed", "followingFeed", "recommendedFeed"] {
        let body = app.graphql(Some(&token), &feed_query(name), json!({ "n": 5, "after": "not-a-cursor" })).await;
        assert_eq!(top_code(&body), "BAD_USER_INPUT", "{name}: {body:#}");
        assert_eq!(body["errors"][0]["extensions"]["reason"], "INVALID", "{name}: {body:#}");
    }
    // A well-formed cursor of a ranking that does not exist (expired and pruned).
    let gone = base64_url(&json!([987654, 10]).to_string());
    let body = app.graphql(Some(&token), &feed_query("friendsFeed"), json!({ "n": 5, "after": gone })).await;
    assert_eq!(body["errors"][0]["extensions"]["reason"], "CURSOR_EXPIRED", "{body:#}");
    app.stop().await;
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

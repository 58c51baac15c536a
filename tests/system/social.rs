//! The social graph and engagement over GraphQL: friends, ❤️ and 👍 with their privacy rules,
//! comments, follows, blocks, shares and views, and the bad inputs of issue 3.

use kanjian_system_tests::TestApp;
use kanjian_system_tests::fixtures::fixtures;
use serde_json::{Value, json};

use crate::journey::follow_processing;

fn user_error(payload: &Value) -> (String, String) {
    let e = &payload["userErrors"][0];
    let field = e["field"].as_array().map(|f| f.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(".")).unwrap_or_default();
    (field, e["code"].as_str().unwrap_or("<none>").to_owned())
}

pub(crate) fn top_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("<none>")
}

/// A creator with one published video; returns (token, channel id, video id).
pub(crate) async fn published_video(app: &TestApp, handle: &str) -> (String, String, String) {
    let (token, channel) = app.creator(handle).await;
    let uploaded = app.upload_video(&token, "Dumplings", &fixtures().small_clip).await;
    let video = uploaded["data"]["uploadVideo"]["video"]["id"].as_str().unwrap().to_owned();
    follow_processing(app, &token, &video).await;
    let published = app
        .data(Some(&token), "mutation($id: ID!) { publishVideo(input: {videoId: $id}) { userErrors { code } } }", json!({ "id": video }))
        .await;
    assert_eq!(published["publishVideo"]["userErrors"], json!([]));
    (token, channel, video)
}

const SOCIAL: &str = "query($id: ID!) { node(id: $id) { ... on Video { social { likeCount recommendCount commentCount shareCount viewCount viewerHasLiked viewerHasRecommended friendRecommenders { totalCount friends { id } } } } } }";

async fn video_social(app: &TestApp, token: &str, video: &str) -> Value {
    app.data(Some(token), SOCIAL, json!({ "id": video })).await["node"]["social"].clone()
}

pub(crate) async fn befriend(app: &TestApp, a: &str, b: &str, b_id: &str) {
    let sent = app
        .data(Some(a), "mutation($u: ID!) { sendFriendRequest(input: {userId: $u, message: \"你好\"}) { friendRequest { id status } userErrors { code } } }", json!({ "u": b_id }))
        .await;
    let request = sent["sendFriendRequest"]["friendRequest"]["id"].as_str().unwrap().to_owned();
    let accepted = app
        .data(Some(b), "mutation($r: ID!) { acceptFriendRequest(input: {requestId: $r}) { friendRequest { status } userErrors { code } } }", json!({ "r": request }))
        .await;
    assert_eq!(accepted["acceptFriendRequest"]["friendRequest"]["status"], "ACCEPTED", "{accepted:#}");
}

#[tokio::test]
async fn friends_see_recommends_and_only_the_creator_sees_likes() {
    let app = TestApp::spawn().await;
    let (creator, _channel, video) = published_video(&app, "chef").await;
    let (lilei, lilei_id) = app.sign_up("lilei@example.com").await;
    let (meimei, meimei_id) = app.sign_up("meimei@example.com").await;

    // Friend requests: the bad ones first.
    let me = app.data(Some(&lilei), "mutation($u: ID!) { sendFriendRequest(input: {userId: $u}) { userErrors { field code } } }", json!({ "u": lilei_id })).await;
    assert_eq!(user_error(&me["sendFriendRequest"]).1, "SELF_TARGET");
    let sent = app.data(Some(&lilei), "mutation($u: ID!) { sendFriendRequest(input: {userId: $u}) { friendRequest { id } userErrors { code } } }", json!({ "u": meimei_id })).await;
    let request = sent["sendFriendRequest"]["friendRequest"]["id"].as_str().unwrap().to_owned();
    let dup = app.data(Some(&lilei), "mutation($u: ID!) { sendFriendRequest(input: {userId: $u}) { userErrors { code } } }", json!({ "u": meimei_id })).await;
    assert_eq!(user_error(&dup["sendFriendRequest"]).1, "ALREADY_EXISTS");
    // Only Meimei may accept it: Li Lei is forbidden, and to anyone else it does not exist.
    let accept = "mutation($r: ID!) { acceptFriendRequest(input: {requestId: $r}) { userErrors { code } } }";
    let body = app.graphql(Some(&lilei), accept, json!({ "r": request })).await;
    assert_eq!(top_code(&body), "FORBIDDEN", "{body:#}");
    let body = app.graphql(Some(&creator), accept, json!({ "r": request })).await;
    assert_eq!(top_code(&body), "NOT_FOUND", "{body:#}");
    let incoming = app
        .data(Some(&meimei), "{ viewer { social { friendRequests(direction: INCOMING) { edges { node { id message from { id } } } } } } }", json!({}))
        .await;
    assert_eq!(incoming["viewer"]["social"]["friendRequests"]["edges"][0]["node"]["from"]["id"], lilei_id);
    app.data(Some(&meimei), "mutation($r: ID!) { acceptFriendRequest(input: {requestId: $r}) { userErrors { code } } }", json!({ "r": request })).await;
    let friends = app.data(Some(&lilei), "{ viewer { social { friendCount friends { edges { node { id } } } } } }", json!({})).await;
    assert_eq!(friends["viewer"]["social"]["friendCount"], 1);
    assert_eq!(friends["viewer"]["social"]["friends"]["edges"][0]["node"]["id"], meimei_id);

    // Meimei ❤️s the video; Li Lei, her friend, sees it.
    app.data(Some(&meimei), "mutation($v: ID!) { reactToVideo(input: {videoId: $v, kind: RECOMMEND}) { userErrors { code } } }", json!({ "v": video })).await;
    let seen = video_social(&app, &lilei, &video).await;
    assert_eq!(seen["friendRecommenders"], json!({ "totalCount": 1, "friends": [{ "id": meimei_id }] }));
    assert_eq!(seen["recommendCount"], 1);

    // Li Lei 👍s it, twice: counted once, and the count is the creator's alone.
    for _ in 0..2 {
        app.data(Some(&lilei), "mutation($v: ID!) { reactToVideo(input: {videoId: $v, kind: LIKE}) { userErrors { code } } }", json!({ "v": video })).await;
    }
    let as_liker = video_social(&app, &lilei, &video).await;
    assert_eq!((as_liker["likeCount"].clone(), as_liker["viewerHasLiked"].clone()), (Value::Null, json!(true)));
    assert_eq!(video_social(&app, &creator, &video).await["likeCount"], 1);
    let who = app.data(Some(&creator), "query($id: ID!) { node(id: $id) { ... on Video { social { reactions { edges { node { kind user { id } } } } } } } }", json!({ "id": video })).await;
    let kinds: Vec<&str> = who["node"]["social"]["reactions"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"LIKE"), "{who:#}");
    let body = app.graphql(Some(&meimei), "query($id: ID!) { node(id: $id) { ... on Video { social { reactions { edges { node { kind } } } } } } }", json!({ "id": video })).await;
    assert_eq!(top_code(&body), "FORBIDDEN", "{body:#}");

    // Meimei hides her ❤️s: Li Lei no longer sees them.
    app.data(Some(&meimei), "mutation { setPrivacySettings(input: {hideRecommends: true}) { hideRecommends userErrors { code } } }", json!({})).await;
    assert_eq!(video_social(&app, &lilei, &video).await["friendRecommenders"]["totalCount"], 0);

    // Unpublished videos cannot be reacted to.
    app.data(Some(&creator), "mutation($id: ID!) { unpublishVideo(input: {videoId: $id}) { userErrors { code } } }", json!({ "id": video })).await;
    let body = app.graphql(Some(&lilei), "mutation($v: ID!) { reactToVideo(input: {videoId: $v, kind: RECOMMEND}) { userErrors { code } } }", json!({ "v": video })).await;
    assert_eq!(top_code(&body), "NOT_FOUND", "{body:#}");
    app.stop().await;
}

#[tokio::test]
async fn comments_thread_one_level_and_the_creator_pins() {
    let app = TestApp::spawn().await;
    let (creator, _channel, video) = published_video(&app, "talker").await;
    let (fan, _) = app.sign_up("fan@example.com").await;
    let (other, _) = app.creator("othercreator").await;
    const ADD: &str = "mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id body replyToId } userErrors { field code } } }";

    let empty = app.data(Some(&fan), ADD, json!({ "input": { "videoId": video, "body": "   " } })).await;
    assert_eq!(user_error(&empty["addComment"]), ("input.body".into(), "REQUIRED".into()));
    let long = app.data(Some(&fan), ADD, json!({ "input": { "videoId": video, "body": "好".repeat(501) } })).await;
    assert_eq!(user_error(&long["addComment"]), ("input.body".into(), "TOO_LONG".into()));

    let top = app.data(Some(&fan), ADD, json!({ "input": { "videoId": video, "body": "看起来很好吃" } })).await;
    let top_id = top["addComment"]["comment"]["id"].as_str().unwrap().to_owned();
    let reply = app.data(Some(&creator), ADD, json!({ "input": { "videoId": video, "body": "谢谢!", "replyTo": top_id } })).await;
    let reply_id = reply["addComment"]["comment"]["id"].as_str().unwrap().to_owned();
    assert_eq!(reply["addComment"]["comment"]["replyToId"], top_id);
    let nested = app.data(Some(&fan), ADD, json!({ "input": { "videoId": video, "body": "too deep", "replyTo": reply_id } })).await;
    assert_eq!(user_error(&nested["addComment"]), ("input.replyTo".into(), "INVALID".into()));

    // Pinning is the creator's: someone else is refused.
    let body = app.graphql(Some(&other), "mutation($c: ID!) { pinComment(input: {commentId: $c}) { userErrors { code } } }", json!({ "c": top_id })).await;
    assert_eq!(top_code(&body), "FORBIDDEN", "{body:#}");
    let pinned = app.data(Some(&creator), "mutation($c: ID!) { pinComment(input: {commentId: $c}) { comment { isPinned } userErrors { code } } }", json!({ "c": top_id })).await;
    assert_eq!(pinned["pinComment"]["comment"]["isPinned"], true);

    let listed = app
        .data(None, "query($id: ID!) { node(id: $id) { ... on Video { social { commentCount comments(first: 10) { edges { node { id isPinned replyCount replies { edges { node { id } } } } } } } } } }", json!({ "id": video }))
        .await;
    let social = &listed["node"]["social"];
    assert_eq!(social["commentCount"], 2);
    assert_eq!(social["comments"]["edges"][0]["node"]["replyCount"], 1);
    assert_eq!(social["comments"]["edges"][0]["node"]["replies"]["edges"][0]["node"]["id"], reply_id);

    // Deleting the top comment takes its reply along; the counts follow.
    app.data(Some(&fan), "mutation($c: ID!) { deleteComment(input: {commentId: $c}) { userErrors { code } } }", json!({ "c": top_id })).await;
    let after = app.data(None, "query($id: ID!) { node(id: $id) { ... on Video { social { commentCount } } } }", json!({ "id": video })).await;
    assert_eq!(after["node"]["social"]["commentCount"], 0);
    app.stop().await;
}

#[tokio::test]
async fn follows_blocks_shares_and_views() {
    let app = TestApp::spawn().await;
    let (creator, channel, video) = published_video(&app, "popular").await;
    let (viewer, viewer_id) = app.sign_up("viewer@example.com").await;
    const FOLLOW: &str = "mutation($c: ID!) { followChannel(input: {channelId: $c}) { channel { followerCount viewerFollows } userErrors { code } } }";

    let followed = app.data(Some(&viewer), FOLLOW, json!({ "c": channel })).await;
    assert_eq!(followed["followChannel"]["channel"], json!({ "followerCount": 1, "viewerFollows": true }));
    let own = app.data(Some(&creator), FOLLOW, json!({ "c": channel })).await;
    assert_eq!(user_error(&own["followChannel"]).1, "SELF_TARGET");
    let missing = app.graphql(Some(&viewer), FOLLOW, json!({ "c": "Q2hhbm5lbDo5OTk5" })).await;
    assert_eq!(top_code(&missing), "NOT_FOUND", "{missing:#}");

    // Views count once per viewer per day; shares each time.
    for watch in [1000, 1500] {
        app.data(Some(&viewer), "mutation($v: ID!, $w: Int!) { reportView(input: {videoId: $v, watchMs: $w}) { userErrors { code } } }", json!({ "v": video, "w": watch })).await;
    }
    let bad = app.data(Some(&viewer), "mutation($v: ID!) { reportView(input: {videoId: $v, watchMs: -5}) { userErrors { field code } } }", json!({ "v": video })).await;
    assert_eq!(user_error(&bad["reportView"]), ("input.watchMs".into(), "INVALID".into()));
    app.data(Some(&viewer), "mutation($v: ID!) { shareVideo(input: {videoId: $v, target: LINK}) { userErrors { code } } }", json!({ "v": video })).await;
    let stats = video_social(&app, &viewer, &video).await;
    assert_eq!((stats["viewCount"].as_i64(), stats["shareCount"].as_i64()), (Some(1), Some(1)));

    // The creator blocks the viewer: the follow ends and the viewer can no longer interact.
    let blocked = app.data(Some(&creator), "mutation($u: ID!) { blockUser(input: {userId: $u}) { user { blockedByViewer } userErrors { code } } }", json!({ "u": viewer_id })).await;
    assert_eq!(blocked["blockUser"]["user"]["blockedByViewer"], true);
    let count = app.data(None, "query($h: String!) { channel(handle: $h) { social { followerCount } } }", json!({ "h": "popular" })).await;
    assert_eq!(count["channel"]["social"]["followerCount"], 0);
    let react = app.data(Some(&viewer), "mutation($v: ID!) { reactToVideo(input: {videoId: $v, kind: LIKE}) { userErrors { code } } }", json!({ "v": video })).await;
    assert_eq!(user_error(&react["reactToVideo"]).1, "BLOCKED");
    let refollow = app.data(Some(&viewer), FOLLOW, json!({ "c": channel })).await;
    assert_eq!(user_error(&refollow["followChannel"]).1, "BLOCKED");
    let comment = app.data(Some(&viewer), "mutation($v: ID!) { addComment(input: {videoId: $v, body: \"hi\"}) { userErrors { code } } }", json!({ "v": video })).await;
    assert_eq!(user_error(&comment["addComment"]).1, "BLOCKED");
    // Nothing was half-written: counts are as before the refused attempts.
    let stats = video_social(&app, &creator, &video).await;
    assert_eq!((stats["likeCount"].as_i64(), stats["commentCount"].as_i64()), (Some(0), Some(0)));

    // Friend lists are their owner's business.
    let body = app.graphql(Some(&viewer), "query($h: String!) { channel(handle: $h) { owner { social { friends { edges { node { id } } } } } } }", json!({ "h": "popular" })).await;
    assert_eq!(top_code(&body), "FORBIDDEN", "{body:#}");
    app.stop().await;
}

#[tokio::test]
async fn declined_cancelled_and_removed_friendships_leave_nothing_behind() {
    let app = TestApp::spawn().await;
    let (a, a_id) = app.sign_up("a@example.com").await;
    let (b, b_id) = app.sign_up("b@example.com").await;
    const SEND: &str = "mutation($u: ID!) { sendFriendRequest(input: {userId: $u}) { friendRequest { id } userErrors { code } } }";

    let r1 = app.data(Some(&a), SEND, json!({ "u": b_id })).await["sendFriendRequest"]["friendRequest"]["id"].as_str().unwrap().to_owned();
    let declined = app.data(Some(&b), "mutation($r: ID!) { declineFriendRequest(input: {requestId: $r}) { friendRequest { status } userErrors { code } } }", json!({ "r": r1 })).await;
    assert_eq!(declined["declineFriendRequest"]["friendRequest"]["status"], "DECLINED");
    let again = app.data(Some(&b), "mutation($r: ID!) { acceptFriendRequest(input: {requestId: $r}) { userErrors { code } } }", json!({ "r": r1 })).await;
    assert_eq!(user_error(&again["acceptFriendRequest"]).1, "INVALID_STATE");

    let r2 = app.data(Some(&a), SEND, json!({ "u": b_id })).await["sendFriendRequest"]["friendRequest"]["id"].as_str().unwrap().to_owned();
    let cancelled = app.data(Some(&a), "mutation($r: ID!) { cancelFriendRequest(input: {requestId: $r}) { friendRequest { status } userErrors { code } } }", json!({ "r": r2 })).await;
    assert_eq!(cancelled["cancelFriendRequest"]["friendRequest"]["status"], "CANCELLED");

    befriend(&app, &a, &b, &b_id).await;
    let rel = app.data(Some(&b), "query($id: ID!) { node(id: $id) { ... on User { social { isFriend } } } }", json!({ "id": a_id })).await;
    assert_eq!(rel["node"]["social"]["isFriend"], true);
    app.data(Some(&b), "mutation($u: ID!) { removeFriend(input: {userId: $u}) { userErrors { code } } }", json!({ "u": a_id })).await;
    let rel = app.data(Some(&b), "query($id: ID!) { node(id: $id) { ... on User { social { isFriend } } } }", json!({ "id": a_id })).await;
    assert_eq!(rel["node"]["social"]["isFriend"], false);
    app.stop().await;
}

//! The first journey end to end: sign up, open a channel, upload, watch processing live,
//! publish, watch over HLS as anyone, edit, unpublish, delete.

use std::time::Duration;

use kanjian_system_tests::fixtures::fixtures;
use kanjian_system_tests::ws::Subscription;
use kanjian_system_tests::TestApp;
use serde_json::{Value, json};

pub const PROCESSING: &str = "subscription($id: ID!) { videoProcessing(videoId: $id) { videoId status progressPercent failureReason } }";

pub const VIDEO_FIELDS: &str = "id title description hashtags category isOriginal status progressPercent failureReason duration width height playlistUrl thumbnailUrl isPublished publishedAt renditions { name width height bandwidth playlistUrl } channel { id handle }";

/// Follows processing over the WebSocket until READY or FAILED; returns every update.
pub async fn follow_processing(app: &TestApp, token: &str, video_id: &str) -> Vec<Value> {
    let mut sub = Subscription::start(&app.base, Some(token), PROCESSING, json!({ "id": video_id })).await;
    sub.collect_until(Duration::from_secs(120), |p| {
        matches!(p["data"]["videoProcessing"]["status"].as_str(), Some("READY" | "FAILED"))
    })
    .await
}

pub async fn video(app: &TestApp, token: Option<&str>, id: &str) -> Value {
    let query = format!("query($id: ID!) {{ node(id: $id) {{ ... on Video {{ {VIDEO_FIELDS} }} }} }}");
    app.data(token, &query, json!({ "id": id })).await["node"].clone()
}

#[tokio::test]
async fn a_creator_uploads_a_video_and_anyone_watches_it() {
    let app = TestApp::spawn().await;

    // Sign up, log in again, see yourself.
    let (first_token, user_id) = app.sign_up("lilei@example.com").await;
    let login = app
        .data(
            None,
            "mutation { logIn(input: {email: \"LiLei@Example.com\", password: \"correct horse battery staple\"}) { token expiresAt user { id email } userErrors { code } } }",
            json!({}),
        )
        .await;
    let token = login["logIn"]["token"].as_str().unwrap().to_owned();
    assert_ne!(token, first_token);
    assert_eq!(login["logIn"]["user"]["id"], user_id);
    let me = app.data(Some(&token), "{ viewer { id email channel { id } } }", json!({})).await;
    assert_eq!(me["viewer"], json!({ "id": user_id, "email": "lilei@example.com", "channel": null }));

    // Open a channel.
    let channel = app
        .data(
            Some(&token),
            "mutation($input: CreateChannelInput!) { createChannel(input: $input) { channel { id handle displayName bio avatarUrl owner { id } } userErrors { code } } }",
            json!({ "input": { "handle": "LiLei.Cooks", "displayName": "李雷做饭", "bio": "家常菜", "avatarUrl": "https://example.com/a.png" } }),
        )
        .await["createChannel"]
        .clone();
    assert_eq!(channel["userErrors"], json!([]));
    assert_eq!(channel["channel"]["handle"], "lilei.cooks");
    assert_eq!(channel["channel"]["displayName"], "李雷做饭");
    assert_eq!(channel["channel"]["owner"]["id"], user_id);
    let channel_id = channel["channel"]["id"].as_str().unwrap().to_owned();

    // Upload a real 720p clip through the multipart request spec.
    let uploaded = app.upload_video(&token, "First dish", &fixtures().hd_clip).await;
    let payload = &uploaded["data"]["uploadVideo"];
    assert_eq!(payload["userErrors"], json!([]), "{uploaded:#}");
    let video_id = payload["video"]["id"].as_str().unwrap().to_owned();
    assert!(matches!(payload["video"]["status"].as_str(), Some("PROCESSING" | "READY")));

    // Follow processing live to READY.
    let updates = follow_processing(&app, &token, &video_id).await;
    let last = &updates.last().unwrap()["data"]["videoProcessing"];
    assert_eq!(last["status"], "READY", "{updates:#?}");
    assert_eq!(last["progressPercent"], 100);
    let percents: Vec<i64> = updates
        .iter()
        .filter_map(|u| u["data"]["videoProcessing"]["progressPercent"].as_i64())
        .collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "progress went backwards: {percents:?}");

    // The video as its owner sees it before publishing.
    let v = video(&app, Some(&token), &video_id).await;
    assert_eq!(v["status"], "READY");
    assert_eq!(v["isPublished"], false);
    assert_eq!((v["width"].as_i64(), v["height"].as_i64()), (Some(1280), Some(720)));
    let duration = v["duration"].as_f64().unwrap();
    assert!((1.8..=2.3).contains(&duration), "duration {duration}");
    let names: Vec<&str> = v["renditions"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["360p", "720p"]);
    assert_eq!(v["channel"]["id"], channel_id);
    assert_eq!(v["hashtags"], json!(["demo"]));
    assert_eq!(v["category"], "tech");

    // Not published: strangers see nothing, not even the files.
    assert_eq!(video(&app, None, &video_id).await, Value::Null);
    let playlist_url = v["playlistUrl"].as_str().unwrap().to_owned();
    assert_eq!(app.http.get(&playlist_url).send().await.unwrap().status(), 404);

    // Publish; now anyone can watch.
    let published = app
        .data(Some(&token), "mutation($id: ID!) { publishVideo(input: {videoId: $id}) { video { isPublished publishedAt } userErrors { code } } }", json!({ "id": video_id }))
        .await;
    assert_eq!(published["publishVideo"]["video"]["isPublished"], true);
    let public = video(&app, None, &video_id).await;
    assert_eq!(public["status"], "READY");

    let master = app.http.get(&playlist_url).send().await.unwrap();
    assert_eq!(master.status(), 200);
    assert_eq!(master.headers()["content-type"], "application/vnd.apple.mpegurl");
    let master = master.text().await.unwrap();
    assert!(master.starts_with("#EXTM3U"), "{master}");
    assert!(master.contains("RESOLUTION=1280x720") && master.contains("RESOLUTION=640x360"), "{master}");

    let rendition_url = public["renditions"][1]["playlistUrl"].as_str().unwrap();
    let media_playlist = app.http.get(rendition_url).send().await.unwrap().text().await.unwrap();
    let segment = media_playlist.lines().find(|l| !l.starts_with('#') && !l.is_empty()).expect("a segment");
    let segment_url = format!("{}/{}", rendition_url.rsplit_once('/').unwrap().0, segment);
    let segment = app.http.get(&segment_url).send().await.unwrap();
    assert_eq!(segment.status(), 200);
    assert_eq!(segment.headers()["content-type"], "video/mp2t");
    // Security headers on media: never sniffed, never run as a page, same-origin by default.
    assert_eq!(segment.headers()["x-content-type-options"], "nosniff");
    assert_eq!(segment.headers()["content-security-policy"], "default-src 'none'; frame-ancestors 'none'; sandbox");
    assert_eq!(segment.headers()["cross-origin-resource-policy"], "same-origin");
    let bytes = segment.bytes().await.unwrap();
    assert!(bytes.len() > 1000 && bytes[0] == 0x47, "not an MPEG-TS segment");

    let thumbnail = app.http.get(public["thumbnailUrl"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(thumbnail.status(), 200);
    assert_eq!(&thumbnail.bytes().await.unwrap()[..3], &[0xFF, 0xD8, 0xFF], "not a JPEG");

    // The channel lists it for everyone.
    let listed = app
        .data(None, "query($h: String!) { channel(handle: $h) { videos(first: 10) { edges { cursor node { id } } pageInfo { hasNextPage } } } }", json!({ "h": "lilei.cooks" }))
        .await;
    assert_eq!(listed["channel"]["videos"]["edges"][0]["node"]["id"], video_id);

    // Edit, unpublish, delete.
    let edited = app
        .data(
            Some(&token),
            "mutation($input: UpdateVideoInput!) { updateVideo(input: $input) { video { title description hashtags category isOriginal } userErrors { code } } }",
            json!({ "input": { "videoId": video_id, "title": "第一道菜", "description": "番茄炒蛋", "hashtags": ["家常菜", "#tomato"], "category": null, "isOriginal": true } }),
        )
        .await;
    assert_eq!(
        edited["updateVideo"]["video"],
        json!({ "title": "第一道菜", "description": "番茄炒蛋", "hashtags": ["家常菜", "tomato"], "category": null, "isOriginal": true })
    );
    app.data(Some(&token), "mutation($id: ID!) { unpublishVideo(input: {videoId: $id}) { userErrors { code } } }", json!({ "id": video_id })).await;
    assert_eq!(video(&app, None, &video_id).await, Value::Null);

    let deleted = app
        .data(Some(&token), "mutation($id: ID!) { deleteVideo(input: {videoId: $id}) { deletedVideoId userErrors { code } } }", json!({ "id": video_id }))
        .await;
    assert_eq!(deleted["deleteVideo"]["deletedVideoId"], video_id);
    assert_eq!(video(&app, Some(&token), &video_id).await, Value::Null);
    // Its files go too (a background handler removes them).
    let blobs = app.data_dir().join("blobs");
    app.eventually(Duration::from_secs(10), || {
        let blobs = blobs.clone();
        async move {
            let left = walk_files(&blobs);
            left.is_empty().then_some(())
        }
    })
    .await;
    app.stop().await;
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() { walk_files(&path) } else { vec![path] }
        })
        .collect()
}

#[tokio::test]
async fn a_small_source_is_never_upscaled() {
    let app = TestApp::spawn().await;
    let (token, _) = app.creator("tiny").await;
    let uploaded = app.upload_video(&token, "Tiny", &fixtures().small_clip).await;
    let id = uploaded["data"]["uploadVideo"]["video"]["id"].as_str().unwrap().to_owned();
    let updates = follow_processing(&app, &token, &id).await;
    assert_eq!(updates.last().unwrap()["data"]["videoProcessing"]["status"], "READY");
    let v = video(&app, Some(&token), &id).await;
    let renditions = v["renditions"].as_array().unwrap();
    assert_eq!(renditions.len(), 1, "{v:#}");
    assert_eq!((renditions[0]["width"].as_i64(), renditions[0]["height"].as_i64()), (Some(480), Some(270)));
    app.stop().await;
}

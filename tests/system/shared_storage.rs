//! Shared blob storage (`[storage] kind = "s3"`) through the real server, on a real
//! S3-compatible server (moto, `KANJIAN_TEST_S3_URL`, a bucket per test): a video uploaded and
//! packaged into the bucket, and two `kanjian` processes serving one live room — node A takes
//! the publisher, node B serves the room's playlist, segments and replay, and comments and
//! viewer counts travel between the two. Without moto (or NATS
//! for two nodes) a test prints SKIPPED, or fails under `CI=true`.

use std::time::{Duration, Instant};

use kanjian_blob::StorageKind;
use kanjian_system_tests::TestApp;
use kanjian_system_tests::fixtures::fixtures;
use kanjian_system_tests::nodes::TwoNodes;
use kanjian_system_tests::ws::Subscription;
use serde_json::{Value, json};

use crate::authz_matrix::world::number;
use crate::journey::{follow_processing, video};
use crate::live::publisher;

const SCHEDULE: &str = "mutation($i: ScheduleLiveInput!) { scheduleLive(input: $i) { liveRoom { id state streamCredentials { serverUrl streamKey } } userErrors { field code message } } }";
const EVENTS: &str = "subscription($id: ID!) { liveRoomEvents(liveRoomId: $id) { __typename ... on LiveRoomChanged { liveRoom { id state playlistUrl } } } }";
const ROOM: &str = "subscription($id: ID!) { liveRoomEvents(liveRoomId: $id) { __typename \
    ... on LiveCommentsAdded { comments { text } } ... on LiveCountsChanged { counts { viewersNow } } } }";
const SEND_COMMENT: &str = "mutation($id: ID!, $t: String!) { sendLiveComment(input: {liveRoomId: $id, text: $t}) { comment { id } userErrors { code } } }";
const PUBLISH: &str = "mutation($id: ID!) { publishVideo(input: {videoId: $id}) { video { isPublished } userErrors { code message } } }";

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http.get(app.url(path)).send().await.unwrap()
}

async fn text(app: &TestApp, path: &str) -> String {
    let response = get(app, path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.unwrap()
}

/// The codecs ffprobe reads in `bytes` (written to a file first).
fn codecs(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe");
    std::fs::write(&file, bytes).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(probe.status.success(), "ffprobe: {}", String::from_utf8_lossy(&probe.stderr));
    String::from_utf8_lossy(&probe.stdout).into_owned()
}

/// A published video's first segment of its first rendition, through `app`.
async fn first_segment(app: &TestApp, v: &Value) -> bytes::Bytes {
    let rendition_url = v["renditions"][0]["playlistUrl"].as_str().unwrap();
    let playlist = app.http.get(rendition_url).send().await.unwrap().text().await.unwrap();
    let segment = playlist.lines().find(|l| !l.starts_with('#') && !l.is_empty()).expect("a segment");
    let url = format!("{}/{}", rendition_url.rsplit_once('/').unwrap().0, segment);
    let response = app.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.bytes().await.unwrap()
}

#[tokio::test]
async fn a_video_is_packaged_into_the_bucket_and_served_from_it() {
    let test = "a_video_is_packaged_into_the_bucket_and_served_from_it";
    let Some(s3) = kanjian_blob::testing::s3_config(test).await else { return };
    let app = TestApp::spawn_with(|c| {
        c.storage.kind = StorageKind::S3;
        c.storage.s3 = s3.clone();
    })
    .await;
    let (token, _) = app.creator("s3.creator").await;
    let started = Instant::now();
    let uploaded = app.upload_video(&token, "In the bucket", &fixtures().hd_clip).await;
    let id = uploaded["data"]["uploadVideo"]["video"]["id"].as_str().unwrap().to_owned();
    let updates = follow_processing(&app, &token, &id).await;
    assert_eq!(updates.last().unwrap()["data"]["videoProcessing"]["status"], "READY", "{updates:#?}");
    println!("upload → READY on S3 (moto): {:?}", started.elapsed());

    // Everything is in the bucket, nothing under the data dir's blobs.
    let store = kanjian_blob::S3BlobStore::new(&s3, std::env::temp_dir()).unwrap();
    let n = number(&id);
    for key in ["source", "hls/master.m3u8", "hls/thumbnail.jpg", "hls/720p/index.m3u8", "hls/360p/seg_00000.ts"] {
        assert!(kanjian_blob::BlobStore::exists(&store, &format!("videos/{n}/{key}")).await.unwrap(), "videos/{n}/{key}");
    }
    assert!(!app.data_dir().join("blobs").exists(), "no local blobs with S3");

    // Players get the files from the bucket through the server.
    let published = app.data(Some(&token), PUBLISH, json!({ "id": id })).await;
    assert_eq!(published["publishVideo"]["video"]["isPublished"], true, "{published:#}");
    let v = video(&app, None, &id).await;
    let master = app.http.get(v["playlistUrl"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(master.contains("RESOLUTION=1280x720"), "{master}");
    let segment = first_segment(&app, &v).await;
    assert!(codecs(&segment).contains("h264"));

    // Deleting the video empties its folder in the bucket.
    let deleted = app
        .data(Some(&token), "mutation($id: ID!) { deleteVideo(input: {videoId: $id}) { userErrors { code } } }", json!({ "id": id }))
        .await;
    assert_eq!(deleted["deleteVideo"]["userErrors"], json!([]), "{deleted:#}");
    app.eventually(Duration::from_secs(20), || {
        let store = store.clone();
        async move { (!kanjian_blob::BlobStore::exists(&store, &format!("videos/{n}/hls/master.m3u8")).await.unwrap()).then_some(()) }
    })
    .await;
}

/// The next state `liveRoomEvents` reports.
/// The room's next state (counts and comments pass by).
async fn next_state(watcher: &mut Subscription) -> String {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), watcher.next()).await.expect("an event within 30 s").expect("the stream goes on");
        let payload = message.expect("an event, not an error");
        if let Some(state) = payload["data"]["liveRoomEvents"]["liveRoom"]["state"].as_str() {
            return state.to_owned();
        }
    }
}

/// The segments a playlist lists, in order.
fn segment_names(playlist: &str) -> Vec<String> {
    playlist.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(str::to_owned).collect()
}

/// The part a playlist's preload hint names.
fn hinted_part(playlist: &str) -> String {
    let hint = playlist.lines().find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI="));
    hint.unwrap_or_else(|| panic!("no preload hint: {playlist}")).trim_matches('"').to_owned()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

#[tokio::test]
async fn node_b_serves_a_room_that_node_a_ingests_and_its_replay() {
    let test = "node_b_serves_a_room_that_node_a_ingests_and_its_replay";
    let Some(nodes) = TwoNodes::start(test, |_| {}).await else { return };
    let (a, b) = (&nodes.a, &nodes.b);
    let (alice, _) = a.creator("alice.twonodes").await;
    let room = a.data(Some(&alice), SCHEDULE, json!({ "i": { "title": "两个节点" } })).await["scheduleLive"].clone();
    assert_eq!(room["userErrors"], json!([]), "{room:#}");
    let id = room["liveRoom"]["id"].as_str().unwrap().to_owned();
    let n = number(&id);
    let credentials = &room["liveRoom"]["streamCredentials"];
    let url = format!("{}/{}", credentials["serverUrl"].as_str().unwrap(), credentials["streamKey"].as_str().unwrap());

    // A watcher on B; the publisher on A.
    let mut watcher = Subscription::start(&b.base, None, EVENTS, json!({ "id": id })).await;
    assert_eq!(next_state(&mut watcher).await, "SCHEDULED");
    // Long enough for everything below under load; endLive disconnects it.
    let mut ffmpeg = publisher(&url, 120);
    assert_eq!(next_state(&mut watcher).await, "LIVE", "A's change reaches B's subscriber through NATS");

    // B lists the segments A cuts and uploads.
    let playlist_path = format!("/live/rooms/{n}/index.m3u8");
    let playlist = b
        .eventually(Duration::from_secs(30), || async {
            let text = text(b, &playlist_path).await;
            (text.matches("#EXTINF").count() >= 5).then_some(text)
        })
        .await;
    assert!(!playlist.contains("#EXT-X-ENDLIST") && playlist.contains("#EXT-X-MAP:URI=\"init-0.mp4\""), "{playlist}");

    // A player on B reads init + segment; they are in the bucket, not on B's disk.
    let init = get(b, &format!("/live/rooms/{n}/init-0.mp4")).await;
    assert_eq!(init.status(), 200);
    let init = init.bytes().await.unwrap();
    let last = segment_names(&playlist).last().unwrap().clone();
    let segment = get(b, &format!("/live/rooms/{n}/{last}")).await;
    assert_eq!(segment.status(), 200, "{last}");
    let segment = segment.bytes().await.unwrap();
    let found = codecs(&[init.as_ref(), segment.as_ref()].concat());
    assert!(found.contains("h264") && found.contains("aac"), "{found}");
    assert!(nodes.stored(&format!("live/rooms/{n}/{last}")).await);
    assert!(!b.data_dir().join("blobs").exists() && !a.data_dir().join("blobs").exists(), "no node keeps blobs locally");
    assert_eq!(get(b, &format!("/live/rooms/{n}/seg-999999.m4s")).await.status(), 404);

    // Blocking reloads on B for the part A packages next: A's announcement through NATS wakes
    // them as soon as the part is listed (a part comes every 0.32 s; without the wake-up, B
    // would only look again after half a second).
    let mut waits = Vec::new();
    let mut hint = hinted_part(&text(b, &playlist_path).await);
    for _ in 0..5 {
        let (msn, part) = hint.trim_start_matches("part-").trim_end_matches(".m4s").split_once('.').unwrap();
        let started = Instant::now();
        let held = get(b, &format!("{playlist_path}?_HLS_msn={msn}&_HLS_part={part}")).await;
        waits.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(held.status(), 200);
        hint = hinted_part(&held.text().await.unwrap());
    }
    waits.sort_by(f64::total_cmp);
    println!("blocking reloads on B for A's next part: {waits:.0?} ms");
    assert!(percentile(&waits, 0.5) < 420.0, "B is not woken by A's parts: {waits:?} ms");

    // Inside the room across the nodes: a comment sent through A reaches a viewer on B and one
    // sent through B a viewer on A; the viewer counts add up the three viewers on both nodes
    // (the watcher above and Bob on B, one on A).
    let (bob, _) = a.sign_up("bob.twonodes@example.com").await;
    let mut on_b = Subscription::start(&b.base, Some(&bob), ROOM, json!({ "id": id })).await;
    let mut on_a = Subscription::start(&a.base, None, ROOM, json!({ "id": id })).await;
    for (node, token, text) in [(a, &alice, "来自 A 的评论"), (b, &bob, "来自 B 的评论")] {
        let sent = node.data(Some(token), SEND_COMMENT, json!({ "id": id, "t": text })).await;
        assert_eq!(sent["sendLiveComment"]["userErrors"], json!([]), "{sent:#}");
    }
    for (watcher, from_other_node) in [(&mut on_b, "来自 A 的评论"), (&mut on_a, "来自 B 的评论")] {
        let (mut heard, mut counted) = (false, false);
        while !(heard && counted) {
            let message = tokio::time::timeout(Duration::from_secs(15), watcher.next()).await.expect("room events in time").unwrap().unwrap();
            let event = &message["data"]["liveRoomEvents"];
            heard |= event["comments"].as_array().is_some_and(|c| c.iter().any(|c| c["text"] == from_other_node));
            counted |= event["counts"]["viewersNow"] == 3;
        }
    }
    drop((on_a, on_b));

    // The creator ends the live through B; A's publisher is told, B's watcher sees ENDED.
    let ended = b
        .data(Some(&alice), "mutation($id: ID!) { endLive(input: {liveRoomId: $id}) { liveRoom { state } userErrors { code } } }", json!({ "id": id }))
        .await;
    assert_eq!(ended["endLive"]["liveRoom"]["state"], "ENDED", "{ended:#}");
    let ended_at = Instant::now();
    assert_eq!(next_state(&mut watcher).await, "ENDED");
    let stopped = tokio::time::timeout(Duration::from_secs(20), ffmpeg.wait()).await;
    assert!(stopped.is_ok(), "A disconnected its publisher after the end");

    // B serves the whole broadcast as a closed playlist, every segment readable.
    let closed = text(b, &playlist_path).await;
    assert!(closed.ends_with("#EXT-X-ENDLIST\n") && closed.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{closed}");
    let all = segment_names(&closed);
    assert!(all.len() >= 5, "{closed}");
    for name in [all.first().unwrap(), all.last().unwrap()] {
        assert_eq!(get(b, &format!("/live/rooms/{n}/{name}")).await.status(), 200, "{name}");
    }

    // The replay (made on whichever node's dispatcher took the event) is READY, and B plays it.
    let replay = b
        .eventually(Duration::from_secs(60), || async {
            let data = b.data(Some(&alice), "query($id: ID!) { node(id: $id) { ... on LiveRoom { replay { id status duration } } } }", json!({ "id": id })).await;
            let replay = data["node"]["replay"].clone();
            (replay["status"] == "READY").then_some(replay)
        })
        .await;
    println!("replay READY {:?} after endLive", ended_at.elapsed());
    let duration = replay["duration"].as_f64().unwrap();
    assert!(duration >= 5.0, "the whole broadcast: {duration} s");
    let replay_id = replay["id"].as_str().unwrap().to_owned();
    let published = b.data(Some(&alice), PUBLISH, json!({ "id": replay_id })).await;
    assert_eq!(published["publishVideo"]["userErrors"], json!([]), "{published:#}");
    let v = video(b, None, &replay_id).await;
    assert!(v["playlistUrl"].as_str().unwrap().starts_with(&b.base), "B's own URL: {v:#}");
    let master = b.http.get(v["playlistUrl"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(master.status(), 200);
    let found = codecs(&first_segment(b, &v).await);
    assert!(found.contains("h264"), "{found}");

    // How long each segment took from packaged to uploaded, and to listed, on A (its log).
    let (mut uploads, mut listed): (Vec<f64>, Vec<f64>) = nodes.segment_store_ms().into_iter().unzip();
    assert!(!uploads.is_empty(), "A logs each segment's upload");
    uploads.sort_by(f64::total_cmp);
    listed.sort_by(f64::total_cmp);
    println!(
        "live segment upload to S3 (moto) on A: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms; listed (upload + row) p50 {:.1} ms, max {:.1} ms ({} segments)",
        percentile(&uploads, 0.5),
        percentile(&uploads, 0.9),
        percentile(&uploads, 1.0),
        percentile(&listed, 0.5),
        percentile(&listed, 1.0),
        uploads.len()
    );
    nodes.stop().await;
}

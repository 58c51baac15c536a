//! Resumable uploads over tus 1.0: chunks, wrong offsets, dropped connections; requests refused
//! before their body is read; files that point elsewhere or are cut short; abandoned uploads.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use kanjian_kernel::Clock;
use kanjian_system_tests::TestApp;
use kanjian_system_tests::fixtures::fixtures;
use kanjian_system_tests::ws::Subscription;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::journey::{follow_processing, video};

async fn create_upload(app: &TestApp, token: &str, size: usize) -> (String, String) {
    let data = app
        .data(
            Some(token),
            "mutation($input: CreateVideoUploadInput!) { createVideoUpload(input: $input) { video { id status } uploadUrl userErrors { code } } }",
            json!({ "input": { "title": "Resumable", "sizeBytes": size, "filename": "hd.mp4" } }),
        )
        .await;
    let p = &data["createVideoUpload"];
    assert_eq!(p["userErrors"], json!([]), "{data:#}");
    (p["video"]["id"].as_str().unwrap().to_owned(), p["uploadUrl"].as_str().unwrap().to_owned())
}

async fn patch(app: &TestApp, token: &str, url: &str, offset: usize, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.http
        .patch(url)
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset.to_string())
        .body(body)
        .send()
        .await
        .expect("PATCH")
}

async fn head_offset(app: &TestApp, token: &str, url: &str) -> usize {
    let response = app.http.head(url).bearer_auth(token).header("Tus-Resumable", "1.0.0").send().await.expect("HEAD");
    assert_eq!(response.status(), 200);
    response.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_large_file_arrives_in_chunks_and_a_wrong_offset_changes_nothing() {
    let app = TestApp::spawn().await;
    let (token, _) = app.creator("chunks").await;
    let bytes = std::fs::read(&fixtures().hd_clip).unwrap();
    let (video_id, url) = create_upload(&app, &token, bytes.len()).await;

    let options = app.http.request(reqwest::Method::OPTIONS, app.url("/uploads")).send().await.unwrap();
    assert_eq!(options.headers()["tus-version"], "1.0.0");
    assert_eq!(options.headers()["tus-extension"], "expiration");

    let third = bytes.len() / 3;
    let first = patch(&app, &token, &url, 0, bytes[..third].to_vec()).await;
    assert_eq!(first.status(), 204);
    assert_eq!(first.headers()["upload-offset"].to_str().unwrap(), third.to_string());
    // An HTTP date a day ahead, e.g. `Mon, 30 Nov 2026 10:00:00 GMT`.
    let expires = first.headers()["upload-expires"].to_str().unwrap().to_owned();
    assert!(expires.ends_with(" GMT") && expires.len() == 29, "{expires}");

    // Resuming at the wrong offset: 409, and the server keeps what it had.
    let wrong = patch(&app, &token, &url, third + 10, bytes[third + 10..].to_vec()).await;
    assert_eq!(wrong.status(), 409);
    let error: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(error["error"]["code"], "UPLOAD_OFFSET_MISMATCH");
    assert_eq!(head_offset(&app, &token, &url).await, third);

    // Someone else cannot see or continue it: to them it does not exist.
    let (other, _) = app.creator("snoop").await;
    assert_eq!(patch(&app, &other, &url, third, bytes[third..].to_vec()).await.status(), 404);

    // Bytes past the declared length are refused and not kept.
    let mut too_much = bytes[third..].to_vec();
    too_much.extend_from_slice(b"extra");
    assert_eq!(patch(&app, &token, &url, third, too_much).await.status(), 413);
    assert_eq!(head_offset(&app, &token, &url).await, third);

    let last = patch(&app, &token, &url, third, bytes[third..].to_vec()).await;
    assert_eq!(last.status(), 204);
    let updates = follow_processing(&app, &token, &video_id).await;
    assert_eq!(updates.last().unwrap()["data"]["videoProcessing"]["status"], "READY", "{updates:#?}");
    app.stop().await;
}

#[tokio::test]
async fn an_upload_survives_a_dropped_connection() {
    let app = TestApp::spawn().await;
    let (token, _) = app.creator("flaky").await;
    let bytes = std::fs::read(&fixtures().hd_clip).unwrap();
    let (video_id, url) = create_upload(&app, &token, bytes.len()).await;

    // Send half the file, then fail the body stream as a dropped connection would.
    let half = bytes.len() / 2;
    let sent = Bytes::copy_from_slice(&bytes[..half]);
    let stream = futures::stream::iter(vec![
        Ok::<Bytes, std::io::Error>(sent),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "network gone")),
    ]);
    let _ = app
        .http
        .patch(&url)
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;

    // The server kept what reached it, at most what was sent; resume from there.
    let offset = app
        .eventually(Duration::from_secs(10), || async {
            let o = head_offset(&app, &token, &url).await;
            Some(o)
        })
        .await;
    assert!(offset <= half, "offset {offset} beyond what was sent ({half})");
    let resumed = patch(&app, &token, &url, offset, bytes[offset..].to_vec()).await;
    assert_eq!(resumed.status(), 204);
    let updates = follow_processing(&app, &token, &video_id).await;
    assert_eq!(updates.last().unwrap()["data"]["videoProcessing"]["status"], "READY", "{updates:#?}");
    let v = video(&app, Some(&token), &video_id).await;
    assert_eq!(v["height"], 720);
    app.stop().await;
}

#[tokio::test]
async fn a_truncated_upload_ends_failed_with_a_reason() {
    let app = TestApp::spawn().await;
    let (token, _) = app.creator("truncated").await;
    let bytes = std::fs::read(&fixtures().truncated_clip).unwrap();
    let (video_id, url) = create_upload(&app, &token, bytes.len()).await;
    assert_eq!(patch(&app, &token, &url, 0, bytes).await.status(), 204);
    let updates = follow_processing(&app, &token, &video_id).await;
    let last = &updates.last().unwrap()["data"]["videoProcessing"];
    assert_eq!(last["status"], "FAILED");
    let reason = last["failureReason"].as_str().unwrap();
    assert!(reason.to_lowercase().contains("moov") || reason.to_lowercase().contains("invalid"), "{reason}");
    app.stop().await;
}

/// Sends a request head (no body follows, whatever its `Content-Length` says) and reads the
/// response head and body. The server must answer without waiting for the body.
async fn answer_without_body(app: &TestApp, head: String) -> (u16, Value) {
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send the head");
    let read = async {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.expect("read the answer");
            assert!(n > 0, "the connection closed without an answer: {}", String::from_utf8_lossy(&buffer));
            buffer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buffer).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                    .unwrap_or(0);
                if body.len() >= length {
                    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                    return (status, serde_json::from_str(&body[..length]).unwrap_or(Value::Null));
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server waited for a body that never came: it did not answer from the headers")
}

const BIG: u64 = 200 * 1024 * 1024;

fn patch_head(app: &TestApp, url: &str, token: Option<&str>, offset: u64, length: u64) -> String {
    let path = url.trim_start_matches(&app.base);
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!(
        "PATCH {path} HTTP/1.1\r\nHost: test\r\n{auth}Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {length}\r\n\r\n"
    )
}

fn multipart_head(token: Option<&str>, length: u64) -> String {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!(
        "POST /graphql HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// Files on disk under the data dir's upload staging, and anything under its temporary folder.
fn staged_files(app: &TestApp) -> Vec<String> {
    let dir = app.data_dir().join("uploads");
    std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn refused_uploads_are_answered_from_their_headers_before_any_body_byte() {
    let app = TestApp::spawn().await;
    let (token, _) = app.creator("gated").await;
    let (stranger, _) = app.creator("stranger").await;
    let bytes = std::fs::read(&fixtures().hd_clip).unwrap();
    let (_, url) = create_upload(&app, &token, bytes.len()).await;
    let missing = format!("{}/uploads/987654", app.base);

    // 200 MiB announced, not one byte sent: each is answered at once.
    let cases = [
        ("no token", patch_head(&app, &url, None, 0, BIG), 401, "UNAUTHENTICATED"),
        ("a bad token", patch_head(&app, &url, Some("nonsense"), 0, BIG), 401, "UNAUTHENTICATED"),
        ("a stranger", patch_head(&app, &url, Some(&stranger), 0, 10), 404, "NOT_FOUND"),
        ("a missing upload", patch_head(&app, &missing, Some(&token), 0, 10), 404, "NOT_FOUND"),
        ("a wrong offset", patch_head(&app, &url, Some(&token), 5, 10), 409, "UPLOAD_OFFSET_MISMATCH"),
        ("more than it lacks", patch_head(&app, &url, Some(&token), 0, BIG), 413, "TOO_LARGE"),
        ("one byte more", patch_head(&app, &url, Some(&token), 0, bytes.len() as u64 + 1), 413, "TOO_LARGE"),
    ];
    let mut answers = Vec::new();
    for (what, head, _, _) in &cases {
        let (status, body) = answer_without_body(&app, head.clone()).await;
        answers.push((*what, status, body["error"]["code"].as_str().unwrap_or_default().to_owned()));
    }
    let expected: Vec<(&str, u16, String)> = cases.iter().map(|(w, _, s, c)| (*w, *s, (*c).to_owned())).collect();
    assert_eq!(answers, expected);

    // One-request uploads (multipart POST /graphql) are gated the same way, before async-graphql
    // would spool the file.
    let limit = app.config.http.max_multipart_bytes;
    let gates = [
        ("no token", multipart_head(None, BIG), 401, "UNAUTHENTICATED"),
        ("a bad token", multipart_head(Some("nonsense"), BIG), 401, "UNAUTHENTICATED"),
        ("over the limit", multipart_head(Some(&token), limit + 2 * 1024 * 1024), 413, "TOO_LARGE"),
    ];
    for (what, head, status, code) in gates {
        let (got, body) = answer_without_body(&app, head).await;
        assert_eq!((got, body["errors"][0]["extensions"]["code"].as_str()), (status, Some(code)), "{what}: {body}");
    }

    assert!(staged_files(&app).is_empty(), "nothing reached the disk: {:?}", staged_files(&app));
    assert_eq!(head_offset(&app, &token, &url).await, 0);

    // An unauthenticated PATCH that really sends 200 MiB is refused too, and none of it is kept.
    let chunk = Bytes::from(vec![0u8; 1024 * 1024]);
    let stream = futures::stream::iter((0..200).map(move |_| Ok::<Bytes, std::io::Error>(chunk.clone())));
    let sent = app
        .http
        .patch(&url)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .header("Content-Length", BIG.to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    // The server answers 401 and closes; the client may see the answer or a reset while it sends.
    if let Ok(response) = sent {
        assert_eq!(response.status(), 401);
    }
    assert!(staged_files(&app).is_empty());
    assert_eq!(head_offset(&app, &token, &url).await, 0);

    // The owner, within bounds, goes through.
    assert_eq!(patch(&app, &token, &url, 0, bytes.clone()).await.status(), 204);
    app.stop().await;
}

/// The number in a global id (`base64url("Video:7")` → 7).
fn number(global_id: &str) -> i64 {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(global_id).unwrap();
    String::from_utf8(raw).unwrap().rsplit(':').next().unwrap().parse().unwrap()
}

async fn upload_whole(app: &TestApp, token: &str, bytes: Vec<u8>) -> String {
    let (video_id, url) = create_upload(app, token, bytes.len()).await;
    assert_eq!(patch(app, token, &url, 0, bytes).await.status(), 204);
    video_id
}

async fn final_update(app: &TestApp, token: &str, video_id: &str) -> Value {
    let mut sub = Subscription::start(&app.base, Some(token), PROCESSING_WITH_CODE, json!({ "id": video_id })).await;
    let updates = sub
        .collect_until(Duration::from_secs(60), |p| {
            matches!(p["data"]["videoProcessing"]["status"].as_str(), Some("READY" | "FAILED"))
        })
        .await;
    updates.last().unwrap()["data"]["videoProcessing"].clone()
}

const PROCESSING_WITH_CODE: &str =
    "subscription($id: ID!) { videoProcessing(videoId: $id) { videoId status progressPercent failureReason failureCode } }";

#[tokio::test]
async fn a_playlist_pointing_at_another_video_or_a_cut_file_fails_with_a_typed_reason() {
    let app = TestApp::spawn().await;
    let (victim, _) = app.creator("victim").await;
    let private = app.upload_video(&victim, "Private", &fixtures().small_clip).await;
    let private_id = private["data"]["uploadVideo"]["video"]["id"].as_str().unwrap().to_owned();
    let ready = follow_processing(&app, &victim, &private_id).await;
    assert_eq!(ready.last().unwrap()["data"]["videoProcessing"]["status"], "READY");
    let n = number(&private_id);

    let (thief, _) = app.creator("thief").await;
    // From the staged upload (uploads/N.part) and from the stored source (blobs/videos/N/source)
    // to the victim's segments; then a system file and a URL.
    let playlist = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1,\n../blobs/videos/{n}/hls/270p/seg_00000.ts\n#EXTINF:1,\n../{n}/hls/270p/seg_00000.ts\n#EXT-X-ENDLIST\n"
    );
    for (text, words) in [
        (playlist, "HLS playlist"),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n#EXTINF:1,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n".to_owned(),
            "HLS playlist",
        ),
        (format!("ffconcat version 1.0\nfile ../blobs/videos/{n}/source\n"), "concat list"),
    ] {
        let video_id = upload_whole(&app, &thief, text.into_bytes()).await;
        let last = final_update(&app, &thief, &video_id).await;
        assert_eq!((last["status"].as_str(), last["failureCode"].as_str()), (Some("FAILED"), Some("UNSUPPORTED_FORMAT")), "{last}");
        let reason = last["failureReason"].as_str().unwrap();
        assert!(reason.contains(words) && reason.contains("upload the video file itself"), "{reason}");
    }

    // An MP4 with its index first, cut in half: it claims two seconds it does not hold.
    let bytes = std::fs::read(&fixtures().truncated_faststart_clip).unwrap();
    let video_id = upload_whole(&app, &thief, bytes).await;
    let last = final_update(&app, &thief, &video_id).await;
    assert_eq!((last["status"].as_str(), last["failureCode"].as_str()), (Some("FAILED"), Some("TRUNCATED")), "{last}");
    assert!(last["failureReason"].as_str().unwrap().contains("the file is truncated"), "{last}");
    // And through the one-request upload: refused, nothing made.
    let refused = app.upload_video(&thief, "Cut", &fixtures().truncated_faststart_clip).await;
    assert_eq!(refused["data"]["uploadVideo"]["userErrors"][0]["code"], "UNSUPPORTED_MEDIA", "{refused:#}");
    let v = app
        .data(Some(&thief), "query($id: ID!) { node(id: $id) { ... on Video { status failureCode } } }", json!({ "id": video_id }))
        .await;
    assert_eq!(v["node"], json!({ "status": "FAILED", "failureCode": "TRUNCATED" }));
    app.stop().await;
}

#[tokio::test]
async fn only_the_owner_follows_processing_and_a_strangers_video_looks_missing() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.creator("owner").await;
    let (stranger, _) = app.creator("other").await;
    let (video_id, _) = create_upload(&app, &owner, 1000).await;
    let missing = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("Video:{}", number(&video_id) + 1000));
    let mut answers = Vec::new();
    for id in [&video_id, &missing] {
        let mut sub = Subscription::start(&app.base, Some(&stranger), PROCESSING_WITH_CODE, json!({ "id": id })).await;
        // async-graphql answers a stream that could not start with a `next` carrying errors.
        let answer = sub.next().await.expect("an answer");
        let errors = match answer {
            Ok(payload) => payload["errors"].clone(),
            Err(errors) => errors,
        };
        answers.push(errors);
    }
    assert_eq!(answers[0][0]["extensions"]["code"], "NOT_FOUND", "{:#}", answers[0]);
    assert_eq!(answers[0], answers[1], "a stranger's video and a missing one answer alike");
    app.stop().await;
}

#[tokio::test]
async fn an_abandoned_upload_expires_and_its_watcher_sees_the_end() {
    let clock = Clock::manual_from_now();
    let app = TestApp::spawn_with_clock(|c| c.modules.media.upload_sweep_interval_secs = 1, clock.clone()).await;
    let (token, _) = app.creator("gone").await;
    let bytes = std::fs::read(&fixtures().hd_clip).unwrap();
    let data = app
        .data(
            Some(&token),
            "mutation($input: CreateVideoUploadInput!) { createVideoUpload(input: $input) { video { id } uploadUrl uploadExpiresAt userErrors { code } } }",
            json!({ "input": { "title": "Abandoned", "sizeBytes": bytes.len(), "filename": "a.mp4" } }),
        )
        .await;
    let payload = &data["createVideoUpload"];
    let video_id = payload["video"]["id"].as_str().unwrap().to_owned();
    let url = payload["uploadUrl"].as_str().unwrap().to_owned();
    let expires = chrono::DateTime::parse_from_rfc3339(payload["uploadExpiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires.timestamp(), (clock.now() + chrono::Duration::hours(24)).timestamp());

    let half = bytes.len() / 2;
    assert_eq!(patch(&app, &token, &url, 0, bytes[..half].to_vec()).await.status(), 204);
    assert_eq!(staged_files(&app).len(), 1);

    let mut sub = Subscription::start(&app.base, Some(&token), PROCESSING_WITH_CODE, json!({ "id": video_id })).await;
    let first = sub.next().await.unwrap().unwrap();
    assert_eq!(first["data"]["videoProcessing"]["status"], "UPLOADING");

    clock.advance(Duration::from_secs(25 * 3600));
    let updates = sub
        .collect_until(Duration::from_secs(30), |p| p["data"]["videoProcessing"]["status"] == "FAILED")
        .await;
    let last = &updates.last().unwrap()["data"]["videoProcessing"];
    assert_eq!(last["failureCode"], "UPLOAD_EXPIRED", "{last}");
    assert!(last["failureReason"].as_str().unwrap().contains("no bytes arrived for 24 hours"), "{last}");
    // The stream completes after the final update.
    assert!(tokio::time::timeout(Duration::from_secs(10), sub.next()).await.expect("completes").is_none());

    assert!(staged_files(&app).is_empty(), "its bytes were removed");
    let head = app.http.head(&url).bearer_auth(&token).header("Tus-Resumable", "1.0.0").send().await.unwrap();
    assert_eq!(head.status(), 410);
    assert_eq!(patch(&app, &token, &url, half, bytes[half..].to_vec()).await.status(), 410);
    app.stop().await;
}

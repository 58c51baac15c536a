//! Resumable uploads over tus 1.0: chunks, wrong offsets, dropped connections.

use std::time::Duration;

use bytes::Bytes;
use kanjian_system_tests::TestApp;
use kanjian_system_tests::fixtures::fixtures;
use serde_json::json;

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

    let third = bytes.len() / 3;
    let first = patch(&app, &token, &url, 0, bytes[..third].to_vec()).await;
    assert_eq!(first.status(), 204);
    assert_eq!(first.headers()["upload-offset"].to_str().unwrap(), third.to_string());

    // Resuming at the wrong offset: 409, and the server keeps what it had.
    let wrong = patch(&app, &token, &url, third + 10, bytes[third + 10..].to_vec()).await;
    assert_eq!(wrong.status(), 409);
    let error: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(error["error"]["code"], "UPLOAD_OFFSET_MISMATCH");
    assert_eq!(head_offset(&app, &token, &url).await, third);

    // Someone else cannot see or continue it.
    let (other, _) = app.creator("snoop").await;
    assert_eq!(patch(&app, &other, &url, third, bytes[third..].to_vec()).await.status(), 403);

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

//! A crash mid-processing loses nothing: after a restart the video still ends READY.

use std::time::Duration;

use kanjian_system_tests::TestApp;
use kanjian_system_tests::fixtures::fixtures;
use kanjian_system_tests::procs::{self, Process};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::journey::{follow_processing, video};

#[tokio::test]
async fn processing_resumes_after_a_crash_in_process() {
    let app = TestApp::spawn_with(|c| c.events.lease_secs = 2).await;
    crash_mid_processing_then_finish(app).await;
}

/// The real binary, killed with SIGKILL mid-transcode: nothing runs on the way down, yet its
/// ffmpeg does not outlive it.
#[tokio::test]
async fn processing_resumes_after_the_process_is_killed() {
    let app = TestApp::spawn_process_with(|c| c.events.lease_secs = 2).await;
    crash_mid_processing_then_finish(app).await;
}

async fn crash_mid_processing_then_finish(mut app: TestApp) {
    let (token, _) = app.creator("phoenix").await;
    let uploaded = app.upload_video(&token, "Survivor", &fixtures().long_clip).await;
    let id = uploaded["data"]["uploadVideo"]["video"]["id"].as_str().unwrap().to_owned();

    // Crash once ffmpeg has reported progress, i.e. mid-transcode.
    let mut sub = kanjian_system_tests::ws::Subscription::start(&app.base, Some(&token), crate::journey::PROCESSING, json!({ "id": id })).await;
    let seen = sub
        .collect_until(Duration::from_secs(60), |p| {
            let u = &p["data"]["videoProcessing"];
            u["status"] != "PROCESSING" || u["progressPercent"].as_i64().unwrap_or(0) > 0
        })
        .await;
    let at_crash = &seen.last().unwrap()["data"]["videoProcessing"];
    assert_eq!(at_crash["status"], "PROCESSING", "processing finished before the crash: {seen:#?}");
    drop(sub);
    if app.is_process() {
        kill_and_check_no_tool_outlives_the_server(&mut app).await;
        app.restart().await;
    } else {
        app.crash_and_restart().await;
    }

    // The dead process's lease expires and the new one does the job again, to the end.
    let updates = follow_processing(&app, &token, &id).await;
    assert_eq!(updates.last().unwrap()["data"]["videoProcessing"]["status"], "READY", "{updates:#?}");
    let v = video(&app, Some(&token), &id).await;
    assert_eq!(v["renditions"].as_array().unwrap().len(), 2);

    // The video is READY once the handler committed; the delivery is recorded done just after.
    let db = app.database().await;
    let (attempts, status) = app
        .eventually(Duration::from_secs(20), || {
            let db = db.clone();
            async move {
                let row = db
                    .query_one_raw(Statement::from_string(
                        db.get_database_backend(),
                        "SELECT attempts, status FROM events_deliveries WHERE handler = 'media.process_video'",
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                let attempts: i32 = row.try_get("", "attempts").unwrap();
                let status: String = row.try_get("", "status").unwrap();
                (status != "pending").then_some((attempts, status))
            }
        })
        .await;
    assert_eq!(status, "done");
    assert!(attempts >= 2, "processing ran {attempts} time(s); the crash should have forced a second run");
    app.stop().await;
}

/// SIGKILLs the server mid-transcode, then waits (10 s at most) for every ffmpeg and ffprobe it
/// had started to be gone from the process table.
async fn kill_and_check_no_tool_outlives_the_server(app: &mut TestApp) {
    let server = app.server_pid().expect("the server runs as a process");
    let tools = procs::children_of(server, &["ffmpeg", "ffprobe"]);
    assert!(!tools.is_empty(), "the server runs no ffmpeg or ffprobe mid-transcode");
    // Stopped, a tool cannot finish its work and leave on its own while we look: if it goes, it
    // was killed. (SIGKILL ends a stopped process too.)
    for tool in &tools {
        tool.signal("STOP");
    }
    app.crash().await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let survivors: Vec<Process> = loop {
        let survivors: Vec<Process> = tools.iter().filter(|t| t.is_running()).cloned().collect();
        if survivors.is_empty() || tokio::time::Instant::now() >= deadline {
            break survivors;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for orphan in &survivors {
        orphan.signal("KILL");
    }
    assert!(survivors.is_empty(), "still running 10 s after the server (pid {server}) was killed: {survivors:?}");
}

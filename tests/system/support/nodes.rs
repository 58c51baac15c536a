//! Two `kanjian` processes as one deployment: one PostgreSQL database (the test's; in the
//! suite's SQLite pass these tests leave it to the PostgreSQL pass),
//! one NATS namespace of their own on the local NATS server (`KANJIAN_TEST_NATS_URL`, default
//! `nats://127.0.0.1:4222`), and one S3 bucket of their own on the test S3 server (moto,
//! `KANJIAN_TEST_S3_URL`). Node A takes RTMP publishers; node B does not (its ingest is off), so
//! anything B serves of a live room came through the shared database, hub and store.
//!
//! Without NATS or S3 [`TwoNodes::start`] prints SKIPPED and returns `None`, or panics under
//! `CI=true`, where nothing may be skipped.

use std::time::Duration;

use kanjian_blob::{BlobStore, S3BlobStore, S3Config, StorageKind};
use kanjian_server::Config;

use crate::TestApp;

pub struct TwoNodes {
    /// Takes publishers (its RTMP port is in `streamCredentials.serverUrl` of rooms scheduled
    /// through it). Logs `kanjian_live` at debug as JSON lines in [`TestApp::process_log`].
    pub a: TestApp,
    /// Serves only: no RTMP ingest.
    pub b: TestApp,
    /// The bucket both store in, for checks no API exposes.
    pub s3: S3Config,
    pub namespace: String,
}

fn nats_url() -> String {
    std::env::var("KANJIAN_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

async fn nats_answers(url: &str) -> bool {
    let hostport = url.trim_start_matches("nats://").rsplit('@').next().unwrap_or_default().split(',').next().unwrap_or_default().to_owned();
    matches!(tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(hostport)).await, Ok(Ok(_)))
}

impl TwoNodes {
    /// Starts A, then B beside it, both adjusted by `adjust` (A's config is B's, but for the
    /// data dir, the ports and B's ingest). Live rooms get a 2 s reconnect grace.
    pub async fn start(test: &str, adjust: impl FnOnce(&mut Config)) -> Option<Self> {
        // Nodes share PostgreSQL: SQLite is the one-machine default, and two processes writing
        // one SQLite file fail each other's transactions (a reader turned writer gets BUSY at
        // once). The PostgreSQL pass of the suite runs these tests.
        if std::env::var("KANJIAN_TEST_DATABASE").as_deref() != Ok("postgres") {
            eprintln!("{test}: two nodes share PostgreSQL; this SQLite pass leaves it to the PostgreSQL pass");
            return None;
        }
        let url = nats_url();
        if !nats_answers(&url).await {
            kanjian_blob::testing::skip(test, &format!("no NATS server answers at {url} (scripts/test starts one: ensure_nats)"));
            return None;
        }
        let s3 = kanjian_blob::testing::s3_config(test).await?;
        let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
        let a = TestApp::spawn_process_with(|c| {
            c.realtime.nats_url = Some(url.clone().into());
            c.realtime.namespace = namespace.clone();
            c.storage.kind = StorageKind::S3;
            c.storage.s3 = s3.clone();
            c.modules.live.reconnect_grace_secs = 2;
            c.log.filter = "warn,kanjian_live=debug".into();
            adjust(c);
        })
        .await;
        let b = TestApp::spawn_process_beside(&a, |c| c.modules.live.ingest_enabled = false).await;
        Some(Self { a, b, s3, namespace })
    }

    /// The shared bucket, as the nodes see it.
    pub fn store(&self) -> S3BlobStore {
        S3BlobStore::new(&self.s3, std::env::temp_dir()).expect("the test bucket's store")
    }

    /// Whether the shared bucket holds `key`.
    pub async fn stored(&self, key: &str) -> bool {
        self.store().exists(key).await.expect("ask the test bucket")
    }

    /// For every segment node A stored, from its log, in order: milliseconds from packaged to
    /// uploaded (`upload_ms`) and to listed in `live_segments` (`listed_ms`).
    pub fn segment_store_ms(&self) -> Vec<(f64, f64)> {
        let log = std::fs::read_to_string(self.a.process_log()).unwrap_or_default();
        log.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|v| v["fields"]["message"] == "live segment stored")
            .filter_map(|v| Some((v["fields"]["upload_ms"].as_f64()?, v["fields"]["listed_ms"].as_f64()?)))
            .collect()
    }

    pub async fn stop(self) {
        self.b.stop().await;
        self.a.stop().await;
    }
}

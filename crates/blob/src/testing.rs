//! For test suites (feature `testing`): a fresh bucket on the S3-compatible test server.
//!
//! The server is `KANJIAN_TEST_S3_URL` (`http://127.0.0.1:<port>`; `scripts/test` starts moto
//! there with `ensure_moto`). Without it, [`s3_config`] returns `None` after printing
//! `SKIPPED <test>`, or panics under `CI=true`, where nothing may be skipped.

use kanjian_kernel::{Context, Error, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::S3Config;

/// The test server's URL, if there is one.
pub fn s3_url() -> Option<String> {
    std::env::var("KANJIAN_TEST_S3_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// A failure under `CI=true`; otherwise a clear SKIPPED line.
pub fn skip(test: &str, why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: needs an S3-compatible server, and CI=true allows no skip: {why} (scripts/test starts moto: ensure_moto)"
    );
    eprintln!("SKIPPED {test}: {why}");
}

/// An [`S3Config`] on a bucket of its own on the test server (moto takes any credentials), or
/// `None` (skipped, see the module docs).
pub async fn s3_config(test: &str) -> Option<S3Config> {
    let Some(url) = s3_url() else {
        skip(test, "KANJIAN_TEST_S3_URL is not set");
        return None;
    };
    let bucket = format!("kanjian-test-{}", uuid::Uuid::new_v4().simple());
    if let Err(e) = create_bucket(&url, &bucket).await {
        skip(test, &format!("could not create a bucket at {url}: {e}"));
        return None;
    }
    Some(S3Config {
        bucket,
        endpoint: Some(url),
        region: "us-east-1".into(),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".to_owned().into()),
        allow_http: true,
        ..S3Config::default()
    })
}

/// `PUT /<bucket>` with plain HTTP/1.1 (moto creates buckets without signed requests).
pub async fn create_bucket(url: &str, bucket: &str) -> Result<()> {
    let host = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::internal("the test S3 URL must be http://host:port"))?
        .trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .context("connecting to the test S3 server")?;
    let request = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .context("asking for a bucket")?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .context("reading the bucket answer")?;
    let answer = String::from_utf8_lossy(&answer);
    if answer.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "creating bucket {bucket}: {}",
            answer.lines().next().unwrap_or("no answer")
        )))
    }
}

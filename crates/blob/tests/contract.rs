//! One contract, two stores: every test runs against `LocalBlobStore` (a temporary folder) and
//! against `S3BlobStore` on a real S3-compatible server (moto at `KANJIAN_TEST_S3_URL`, a bucket
//! per test; see `kanjian_blob::testing`). Without that server the S3 half prints SKIPPED, or
//! fails under `CI=true`.

// Test helpers: a failed step fails the test at once, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kanjian_blob::{BlobStore, LocalBlobStore, S3BlobStore, S3Config, testing};

struct Store {
    name: &'static str,
    store: Arc<dyn BlobStore>,
    /// Holds the local root and the download folder.
    dir: tempfile::TempDir,
}

async fn stores(test: &str) -> Vec<Store> {
    let local_dir = tempfile::tempdir().unwrap();
    let mut out = vec![Store {
        name: "local",
        store: Arc::new(LocalBlobStore::new(local_dir.path().join("blobs"))),
        dir: local_dir,
    }];
    if let Some(config) = testing::s3_config(test).await {
        let dir = tempfile::tempdir().unwrap();
        out.push(Store {
            name: "s3",
            store: Arc::new(S3BlobStore::new(&config, dir.path().join("tmp")).unwrap()),
            dir,
        });
    }
    out
}

fn local_file(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

async fn read(store: &dyn BlobStore, key: &str) -> Option<Vec<u8>> {
    let object = store.open(key).await.unwrap()?;
    let length = object.length;
    let bytes = object.bytes().await.unwrap();
    assert_eq!(
        bytes.len() as u64,
        length,
        "{key}: the length is the body's"
    );
    Some(bytes.to_vec())
}

#[tokio::test]
async fn files_go_in_come_out_and_folders_go_away() {
    for Store { name, store, dir } in stores("files_go_in_come_out_and_folders_go_away").await {
        let store = store.as_ref();
        let local = local_file(dir.path(), "local.txt", b"hello");
        store
            .put_file("videos/1/hls/master.m3u8", &local)
            .await
            .unwrap();
        assert!(
            !local.exists(),
            "{name}: the local file is gone once stored"
        );
        assert!(
            store.exists("videos/1/hls/master.m3u8").await.unwrap(),
            "{name}"
        );
        assert_eq!(
            read(store, "videos/1/hls/master.m3u8").await.unwrap(),
            b"hello",
            "{name}"
        );

        // Replacing keeps one file, the new one.
        for body in [&b"segment"[..], b"again"] {
            let key = "videos/1/hls/720p/seg_00001.ts";
            store
                .put_bytes(key, Bytes::from_static(body))
                .await
                .unwrap();
            assert_eq!(read(store, key).await.unwrap(), body, "{name}");
        }

        let copy = store
            .local_copy("videos/1/hls/master.m3u8")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(std::fs::read(copy.path()).unwrap(), b"hello", "{name}");
        let copied = copy.path().to_path_buf();
        drop(copy);
        if name == "s3" {
            assert!(
                !copied.exists(),
                "the downloaded copy is removed when dropped"
            );
        }

        let dest = dir.path().join("streamed");
        assert!(
            kanjian_blob::copy_to_file(store, "videos/1/hls/master.m3u8", &dest)
                .await
                .unwrap()
        );
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello", "{name}");

        let other = local_file(dir.path(), "other.txt", b"other");
        store.put_file("videos/12/source", &other).await.unwrap();
        store.delete_prefix("videos/1/").await.unwrap();
        store.delete_prefix("videos/1/").await.unwrap();
        assert!(
            !store.exists("videos/1/hls/master.m3u8").await.unwrap(),
            "{name}"
        );
        assert!(
            !store
                .exists("videos/1/hls/720p/seg_00001.ts")
                .await
                .unwrap(),
            "{name}"
        );
        assert!(
            store.exists("videos/12/source").await.unwrap(),
            "{name}: only that folder went away"
        );

        // A prefix that is part of a name.
        store
            .put_bytes("videos/12/sources-not", Bytes::from_static(b"x"))
            .await
            .unwrap();
        store
            .put_bytes("videos/12/thumbnail", Bytes::from_static(b"x"))
            .await
            .unwrap();
        store.delete_prefix("videos/12/sou").await.unwrap();
        assert!(!store.exists("videos/12/source").await.unwrap(), "{name}");
        assert!(
            !store.exists("videos/12/sources-not").await.unwrap(),
            "{name}"
        );
        assert!(store.exists("videos/12/thumbnail").await.unwrap(), "{name}");
    }
}

#[tokio::test]
async fn missing_keys_are_none_not_errors() {
    for Store { name, store, dir } in stores("missing_keys_are_none_not_errors").await {
        assert!(
            store.open("videos/9/nothing").await.unwrap().is_none(),
            "{name}"
        );
        assert!(!store.exists("videos/9/nothing").await.unwrap(), "{name}");
        assert!(
            store
                .local_copy("videos/9/nothing")
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        assert!(
            !kanjian_blob::copy_to_file(store.as_ref(), "videos/9/nothing", &dir.path().join("x"))
                .await
                .unwrap()
        );
        store.delete_prefix("videos/9/").await.unwrap();
        store.delete_prefix("nothing-at-all").await.unwrap();
        // A folder is not a file.
        store
            .put_bytes("videos/9/hls/a", Bytes::from_static(b"a"))
            .await
            .unwrap();
        assert!(!store.exists("videos/9/hls").await.unwrap(), "{name}");
        assert!(
            store.open("videos/9/hls").await.unwrap().is_none(),
            "{name}"
        );
        // A missing local file is an error, and stores nothing.
        assert!(
            store
                .put_file("videos/9/gone", &dir.path().join("missing"))
                .await
                .is_err(),
            "{name}"
        );
        assert!(!store.exists("videos/9/gone").await.unwrap(), "{name}");
    }
}

#[tokio::test]
async fn hostile_keys_are_refused_before_any_io() {
    for Store { name, store, dir } in stores("hostile_keys_are_refused_before_any_io").await {
        let hostile = [
            "../outside",
            "/etc/passwd",
            "videos/../../x",
            "videos//x",
            "videos\\..\\x",
            "./x",
            "",
            "a/\0b",
        ];
        for key in hostile {
            let local = local_file(dir.path(), "h.txt", b"h");
            assert!(
                store.put_file(key, &local).await.is_err(),
                "{name}: put_file {key:?}"
            );
            assert!(
                local.exists(),
                "{name}: a refused put_file leaves the local file"
            );
            assert!(
                store
                    .put_bytes(key, Bytes::from_static(b"h"))
                    .await
                    .is_err(),
                "{name}: put_bytes {key:?}"
            );
            assert!(store.open(key).await.is_err(), "{name}: open {key:?}");
            assert!(store.exists(key).await.is_err(), "{name}: exists {key:?}");
            assert!(
                store.local_copy(key).await.is_err(),
                "{name}: local_copy {key:?}"
            );
        }
        for prefix in ["", "/", "../", "videos/../", "/etc/"] {
            assert!(
                store.delete_prefix(prefix).await.is_err(),
                "{name}: delete_prefix {prefix:?}"
            );
        }
        assert!(!dir.path().join("outside").exists());
    }
}

#[tokio::test]
async fn a_large_file_goes_up_in_parts_and_comes_back_whole() {
    let size = 13 * 1024 * 1024 + 12_345;
    let bytes: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    let mut ran = Vec::new();
    // Local, and S3 with a 5 MiB threshold and parts: three parts, the last one short.
    let local_dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(&str, Arc<dyn BlobStore>, tempfile::TempDir)> = vec![(
        "local",
        Arc::new(LocalBlobStore::new(local_dir.path().join("blobs"))),
        local_dir,
    )];
    if let Some(config) =
        testing::s3_config("a_large_file_goes_up_in_parts_and_comes_back_whole").await
    {
        let config = S3Config {
            multipart_threshold_bytes: 5 * 1024 * 1024,
            part_size_bytes: 5 * 1024 * 1024,
            ..config
        };
        let dir = tempfile::tempdir().unwrap();
        cases.push((
            "s3",
            Arc::new(S3BlobStore::new(&config, dir.path().join("tmp")).unwrap()),
            dir,
        ));
    }
    for (name, store, dir) in cases {
        let local = local_file(dir.path(), "big.bin", &bytes);
        let started = Instant::now();
        store.put_file("videos/3/source", &local).await.unwrap();
        let took = started.elapsed();
        eprintln!("{name}: put_file of {size} bytes took {took:?}");
        assert_eq!(
            read(store.as_ref(), "videos/3/source").await.unwrap(),
            bytes,
            "{name}"
        );
        let copy = store.local_copy("videos/3/source").await.unwrap().unwrap();
        assert_eq!(
            std::fs::metadata(copy.path()).unwrap().len(),
            size as u64,
            "{name}"
        );
        ran.push(name);
    }
    eprintln!("ran on {ran:?}");
}

#[tokio::test]
async fn prefixes_keep_deployments_apart_in_one_bucket() {
    let Some(config) = testing::s3_config("prefixes_keep_deployments_apart_in_one_bucket").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let with_prefix = |prefix: Option<&str>| {
        let config = S3Config {
            prefix: prefix.map(str::to_owned),
            ..config.clone()
        };
        S3BlobStore::new(&config, dir.path().join("tmp"))
    };
    let a = with_prefix(Some("prod")).unwrap();
    let b = with_prefix(Some("/staging/")).unwrap();
    let bare = with_prefix(None).unwrap();
    a.put_bytes("videos/1/source", Bytes::from_static(b"prod"))
        .await
        .unwrap();
    b.put_bytes("videos/1/source", Bytes::from_static(b"staging"))
        .await
        .unwrap();
    assert_eq!(read(&a, "videos/1/source").await.unwrap(), b"prod");
    assert_eq!(read(&b, "videos/1/source").await.unwrap(), b"staging");
    // Without a prefix, the keys are the prefixed names.
    assert!(!bare.exists("videos/1/source").await.unwrap());
    assert_eq!(read(&bare, "prod/videos/1/source").await.unwrap(), b"prod");
    // Deleting in one deployment leaves the other's files.
    a.delete_prefix("videos/").await.unwrap();
    assert!(!a.exists("videos/1/source").await.unwrap());
    assert!(b.exists("videos/1/source").await.unwrap());
    // A partial name at the top of a prefixed store stays inside it.
    b.put_bytes("vid", Bytes::from_static(b"x")).await.unwrap();
    a.put_bytes("vid", Bytes::from_static(b"x")).await.unwrap();
    a.delete_prefix("vi").await.unwrap();
    assert!(!a.exists("vid").await.unwrap());
    assert!(b.exists("vid").await.unwrap() && b.exists("videos/1/source").await.unwrap());
    // A prefix that climbs is refused.
    assert!(with_prefix(Some("../x")).is_err());
    let no_bucket = S3Config {
        bucket: String::new(),
        ..config.clone()
    };
    assert!(S3BlobStore::new(&no_bucket, dir.path().join("tmp")).is_err());
}

#[tokio::test]
async fn small_segment_uploads_are_quick() {
    // The live path: ~1 s fMP4 segments (~150 KB at 1.2 Mbit/s) stored with put_bytes. Prints
    // the time per segment, which bounds how soon a segment can be listed after it is cut.
    for Store { name, store, .. } in stores("small_segment_uploads_are_quick").await {
        let segment = Bytes::from(vec![7u8; 150 * 1024]);
        let mut times = Vec::new();
        for n in 0..20 {
            let started = Instant::now();
            store
                .put_bytes(&format!("live/rooms/1/seg-{n}.m4s"), segment.clone())
                .await
                .unwrap();
            times.push(started.elapsed());
        }
        times.sort();
        eprintln!(
            "{name}: put_bytes of a 150 KiB segment: p50 {:?}, p90 {:?}, max {:?}",
            times[times.len() / 2],
            times[times.len() * 9 / 10],
            times[times.len() - 1]
        );
    }
}

#![doc = include_str!("../README.md")]

mod config;
mod http;
mod local;
mod s3;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use kanjian_kernel::{Context, Error, Result};
use tokio::io::AsyncWriteExt;

pub use config::{S3Config, StorageConfig, StorageKind};
pub use local::LocalBlobStore;
pub use s3::S3BlobStore;

/// A stored file, opened for reading.
pub struct BlobObject {
    pub length: u64,
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

impl std::fmt::Debug for BlobObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobObject")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl BlobObject {
    /// The whole body in memory (for small files such as live segments).
    pub async fn bytes(self) -> Result<Bytes> {
        let mut body = self.body;
        let mut out = Vec::with_capacity(usize::try_from(self.length).unwrap_or(0));
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk.context("reading a blob")?);
        }
        Ok(out.into())
    }
}

/// A stored file as a path on the local disk, for child processes such as ffmpeg. A store that
/// had to download it removes the temporary copy when this is dropped.
#[derive(Debug)]
pub struct LocalCopy {
    path: PathBuf,
    _temporary: Option<tempfile::TempPath>,
}

impl LocalCopy {
    /// The stored file itself (a local store).
    pub fn in_place(path: PathBuf) -> Self {
        Self {
            path,
            _temporary: None,
        }
    }

    /// A downloaded copy, deleted on drop (a remote store).
    pub fn temporary(path: tempfile::TempPath) -> Self {
        Self {
            path: path.to_path_buf(),
            _temporary: Some(path),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Files under relative keys (`videos/42/source`, `live/rooms/7/seg-3.m4s`). Writes are whole:
/// a reader sees the old file, the new one, or none, never half of one.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Moves the finished local file at `local` to `key`, replacing what was there. On success
    /// the local file is gone (renamed, or copied and removed).
    async fn put_file(&self, key: &str, local: &Path) -> Result<()>;
    /// Stores `bytes` at `key`, replacing what was there.
    async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<()>;
    /// The file at `key`, or `None` when there is none.
    async fn open(&self, key: &str) -> Result<Option<BlobObject>>;
    async fn exists(&self, key: &str) -> Result<bool>;
    /// Removes every file whose key starts with `prefix` (`videos/42/` removes that folder).
    /// Removing nothing is fine, so this is idempotent.
    async fn delete_prefix(&self, prefix: &str) -> Result<()>;
    /// A local path holding the file at `key`, or `None` when there is none.
    async fn local_copy(&self, key: &str) -> Result<Option<LocalCopy>>;
}

/// Checks a key: relative, `/`-separated, no empty, `.` or `..` segments, no backslashes.
/// `prefix` allows one trailing `/`.
pub fn check_key(key: &str, prefix: bool) -> Result<()> {
    let body = if prefix {
        key.strip_suffix('/').unwrap_or(key)
    } else {
        key
    };
    let ok = !body.is_empty()
        && !body.contains('\\')
        && !body.contains('\0')
        && !body.starts_with('/')
        && body
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if ok {
        Ok(())
    } else {
        Err(Error::internal(format!("invalid blob key {key:?}")))
    }
}

/// Writes the file at `key` to `dest` (created or replaced); `false` when there is none.
/// Works with any store, streaming, so a large file never sits in memory.
pub async fn copy_to_file(store: &dyn BlobStore, key: &str, dest: &Path) -> Result<bool> {
    let Some(object) = store.open(key).await? else {
        return Ok(false);
    };
    let mut file = tokio::fs::File::create(dest)
        .await
        .context("creating a local copy of a blob")?;
    let mut body = object.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("downloading a blob")?;
        file.write_all(&chunk)
            .await
            .context("writing a local copy of a blob")?;
    }
    file.flush()
        .await
        .context("flushing a local copy of a blob")?;
    Ok(true)
}

/// The store `config` asks for: files under `<data_dir>/blobs` (`kind = "local"`), or a bucket
/// of S3-compatible object storage (`kind = "s3"`), whose downloads for ffmpeg go to
/// `<data_dir>/tmp`.
pub fn open_store(config: &StorageConfig, data_dir: &Path) -> Result<Arc<dyn BlobStore>> {
    match config.kind {
        StorageKind::Local => {
            let root = config
                .local_root
                .clone()
                .unwrap_or_else(|| data_dir.join("blobs"));
            Ok(Arc::new(LocalBlobStore::new(root)))
        }
        StorageKind::S3 => Ok(Arc::new(S3BlobStore::new(
            &config.s3,
            data_dir.join("tmp"),
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_paths_without_tricks() {
        for good in ["videos/42/source", "videos/42/hls/720p/seg_00001.ts", "a"] {
            assert!(check_key(good, false).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "videos/../secret",
            "..",
            "videos//x",
            "videos\\x",
            "./x",
            "videos/42/",
        ] {
            assert!(check_key(bad, false).is_err(), "{bad}");
        }
        assert!(check_key("videos/42/", true).is_ok());
        assert!(check_key("/", true).is_err());
        assert!(check_key("../", true).is_err());
    }
}

//! Where finished media files live: a key/value store of files. Keys are relative paths such as
//! `videos/42/source` or `videos/42/hls/720p/seg_00001.ts`.
//!
//! [`LocalBlobStore`] keeps them under a folder of the data dir. The trait is shaped so an
//! S3-compatible store (object_store) can implement it later: whole files go in, streams come out,
//! folders are key prefixes, and processing asks for a local copy it may have to download.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use kanjian_kernel::{Context, Error, Result};

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

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Moves the finished local file at `local` to `key`, replacing what was there. On success
    /// the local file is gone (renamed, or copied and removed).
    async fn put_file(&self, key: &str, local: &Path) -> Result<()>;
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

/// Files under a root folder on the local disk.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf> {
        check_key(key, false)?;
        Ok(self.root.join(key))
    }
}

fn not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put_file(&self, key: &str, local: &Path) -> Result<()> {
        let dest = self.path_of(key)?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .context("creating a blob folder")?;
        }
        match tokio::fs::rename(local, &dest).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Err(e).context("moving a file into the blob store"),
            Err(_) => {
                // Another file system: copy under a temporary name, then rename into place so a
                // reader never sees half a file.
                let partial = dest.with_extension(format!("partial-{}", uuid::Uuid::new_v4()));
                tokio::fs::copy(local, &partial)
                    .await
                    .context("copying a file into the blob store")?;
                let file = tokio::fs::File::open(&partial)
                    .await
                    .context("opening a copied blob")?;
                file.sync_all().await.context("flushing a copied blob")?;
                tokio::fs::rename(&partial, &dest)
                    .await
                    .context("renaming a copied blob")?;
                tokio::fs::remove_file(local)
                    .await
                    .context("removing a file copied into the blob store")
            }
        }
    }

    async fn open(&self, key: &str) -> Result<Option<BlobObject>> {
        let path = self.path_of(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e).context("opening a blob"),
        };
        let meta = file.metadata().await.context("reading a blob's size")?;
        if !meta.is_file() {
            return Ok(None);
        }
        Ok(Some(BlobObject {
            length: meta.len(),
            body: tokio_util::io::ReaderStream::new(file).boxed(),
        }))
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(e).context("looking for a blob"),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        check_key(prefix, true)?;
        if let Some(folder) = prefix.strip_suffix('/') {
            return match tokio::fs::remove_dir_all(self.root.join(folder)).await {
                Err(e) if !not_found(&e) => Err(e).context("removing a blob folder"),
                _ => Ok(()),
            };
        }
        let path = self.root.join(prefix);
        let (Some(parent), Some(start)) = (path.parent(), path.file_name()) else {
            return Ok(());
        };
        let start = start.to_string_lossy().into_owned();
        let mut entries = match tokio::fs::read_dir(parent).await {
            Ok(entries) => entries,
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(e).context("listing blobs"),
        };
        while let Some(entry) = entries.next_entry().await.context("listing blobs")? {
            if !entry.file_name().to_string_lossy().starts_with(&start) {
                continue;
            }
            let kind = entry.file_type().await.context("reading a blob's type")?;
            let removed = if kind.is_dir() {
                tokio::fs::remove_dir_all(entry.path()).await
            } else {
                tokio::fs::remove_file(entry.path()).await
            };
            match removed {
                Err(e) if !not_found(&e) => return Err(e).context("removing a blob"),
                _ => {}
            }
        }
        Ok(())
    }

    async fn local_copy(&self, key: &str) -> Result<Option<LocalCopy>> {
        let path = self.path_of(key)?;
        Ok(self.exists(key).await?.then(|| LocalCopy::in_place(path)))
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

    async fn collect(object: BlobObject) -> Vec<u8> {
        let mut body = object.body;
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn files_go_in_come_out_and_folders_go_away() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::new(dir.path().join("blobs"));
        let local = dir.path().join("local.txt");
        std::fs::write(&local, b"hello").unwrap();

        store
            .put_file("videos/1/hls/master.m3u8", &local)
            .await
            .unwrap();
        assert!(!local.exists(), "the local file was moved");
        assert!(store.exists("videos/1/hls/master.m3u8").await.unwrap());
        let object = store
            .open("videos/1/hls/master.m3u8")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(object.length, 5);
        assert_eq!(collect(object).await, b"hello");
        let copy = store
            .local_copy("videos/1/hls/master.m3u8")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(std::fs::read(copy.path()).unwrap(), b"hello");

        assert!(store.open("videos/1/nothing").await.unwrap().is_none());
        assert!(
            store
                .local_copy("videos/1/nothing")
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.open("../outside").await.is_err());

        std::fs::write(&local, b"other").unwrap();
        store.put_file("videos/12/source", &local).await.unwrap();
        store.delete_prefix("videos/1/").await.unwrap();
        store.delete_prefix("videos/1/").await.unwrap();
        assert!(!store.exists("videos/1/hls/master.m3u8").await.unwrap());
        assert!(
            store.exists("videos/12/source").await.unwrap(),
            "only that folder went away"
        );

        store.delete_prefix("videos/12/sou").await.unwrap();
        assert!(!store.exists("videos/12/source").await.unwrap());
        assert!(store.delete_prefix("").await.is_err());
    }
}

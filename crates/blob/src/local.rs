//! [`LocalBlobStore`]: the files under a folder of the data dir (`<data_dir>/blobs`), the
//! default of one machine.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use kanjian_kernel::{Context, Result};

use crate::{BlobObject, BlobStore, LocalCopy, check_key};

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

    async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<()> {
        let dest = self.path_of(key)?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .context("creating a blob folder")?;
        }
        // Written whole under a temporary name, then renamed: a reader never sees half a file.
        let partial = dest.with_extension(format!("partial-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&partial, &bytes)
            .await
            .context("writing a blob")?;
        tokio::fs::rename(&partial, &dest)
            .await
            .context("renaming a written blob")
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

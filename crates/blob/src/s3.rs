//! [`S3BlobStore`]: a bucket of S3-compatible object storage through `object_store`, shared by
//! every node of a deployment.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use kanjian_kernel::{Context, Error, Result};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use secrecy::ExposeSecret;
use tokio::io::AsyncReadExt;

use crate::{BlobObject, BlobStore, LocalCopy, S3Config, check_key, copy_to_file};

/// S3's smallest part (all but the last).
const MIN_PART: u64 = 5 * 1024 * 1024;

/// A bucket of S3-compatible object storage. Keys are the same relative paths as on disk,
/// under the deployment's `prefix` when it has one.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    prefix: Option<String>,
    multipart_threshold: u64,
    part_size: usize,
    upload_concurrency: usize,
    /// Where `local_copy` downloads to.
    temp_dir: PathBuf,
}

impl S3BlobStore {
    /// A store on `config`'s bucket; nothing is sent until it is used. Downloads for
    /// `local_copy` go to `temp_dir` (created when needed).
    pub fn new(config: &S3Config, temp_dir: PathBuf) -> Result<Self> {
        if config.bucket.trim().is_empty() {
            return Err(Error::internal(
                "[storage] kind = \"s3\" needs a bucket ([storage.s3] bucket, KANJIAN_STORAGE__S3__BUCKET)",
            ));
        }
        let prefix = match config.prefix.as_deref().map(|p| p.trim_matches('/')) {
            None | Some("") => None,
            Some(p) => {
                check_key(p, false).map_err(|_| {
                    Error::internal(format!("[storage.s3] prefix {p:?} is not a relative path"))
                })?;
                Some(p.to_owned())
            }
        };
        let mut builder = AmazonS3Builder::new()
            .with_http_connector(crate::http::HyperConnector)
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_allow_http(config.allow_http)
            .with_virtual_hosted_style_request(config.virtual_hosted_style);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(id) = &config.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose_secret());
        }
        let store = builder
            .build()
            .context("configuring the S3 blob store ([storage.s3])")?;
        Ok(Self {
            store: Arc::new(store),
            prefix,
            multipart_threshold: config.multipart_threshold_bytes,
            part_size: usize::try_from(config.part_size_bytes.max(MIN_PART)).unwrap_or(usize::MAX),
            upload_concurrency: config.upload_concurrency.max(1),
            temp_dir,
        })
    }

    /// The object's location: the deployment's prefix, then the key.
    fn location(&self, key: &str) -> Result<ObjectPath> {
        let full = match &self.prefix {
            Some(prefix) => format!("{prefix}/{key}"),
            None => key.to_owned(),
        };
        ObjectPath::parse(&full)
            .map_err(|e| Error::internal(format!("invalid blob key {key:?}: {e}")))
    }

    async fn put_multipart(&self, location: &ObjectPath, local: &Path) -> Result<()> {
        let upload = self
            .store
            .put_multipart(location)
            .await
            .context("starting a multipart upload")?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let mut file = tokio::fs::File::open(local)
            .await
            .context("opening a file to upload")?;
        let mut buffer = vec![0u8; 1024 * 1024];
        loop {
            let n = match file.read(&mut buffer).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(e).context("reading a file to upload");
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = writer.wait_for_capacity(self.upload_concurrency).await {
                let _ = writer.abort().await;
                return Err(e).context("uploading a part");
            }
            writer.write(&buffer[..n]);
        }
        writer
            .finish()
            .await
            .context("finishing a multipart upload")?;
        Ok(())
    }
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

#[async_trait]
impl BlobStore for S3BlobStore {
    #[tracing::instrument(skip_all, fields(key))]
    async fn put_file(&self, key: &str, local: &Path) -> Result<()> {
        check_key(key, false)?;
        let location = self.location(key)?;
        let size = tokio::fs::metadata(local)
            .await
            .context("reading the size of a file to upload")?
            .len();
        if size > self.multipart_threshold {
            self.put_multipart(&location, local).await?;
        } else {
            let bytes = tokio::fs::read(local)
                .await
                .context("reading a file to upload")?;
            self.store
                .put(&location, PutPayload::from(bytes))
                .await
                .context("uploading a blob")?;
        }
        tokio::fs::remove_file(local)
            .await
            .context("removing a file uploaded to the blob store")
    }

    async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<()> {
        check_key(key, false)?;
        self.store
            .put(&self.location(key)?, PutPayload::from_bytes(bytes))
            .await
            .context("uploading a blob")?;
        Ok(())
    }

    async fn open(&self, key: &str) -> Result<Option<BlobObject>> {
        check_key(key, false)?;
        let result = match self.store.get(&self.location(key)?).await {
            Ok(result) => result,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e).context("opening a blob"),
        };
        let length = result.meta.size;
        let body = result.into_stream().map_err(std::io::Error::other).boxed();
        Ok(Some(BlobObject { length, body }))
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        check_key(key, false)?;
        match self.store.head(&self.location(key)?).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(e).context("looking for a blob"),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        check_key(prefix, true)?;
        // object_store lists whole path segments: `videos/42/` is listed as the folder
        // `videos/42`; a partial name (`videos/12/sou`) lists its folder and keeps the names
        // that start with it.
        let (folder, start) = match prefix.strip_suffix('/') {
            Some(folder) => (Some(folder), None),
            None => match prefix.rsplit_once('/') {
                Some((folder, _)) => (Some(folder), Some(prefix)),
                None => (None, Some(prefix)),
            },
        };
        let list_at = match (folder, &self.prefix) {
            (Some(folder), _) => Some(self.location(folder)?),
            (None, Some(p)) => {
                Some(ObjectPath::parse(p).map_err(|e| Error::internal(e.to_string()))?)
            }
            (None, None) => None,
        };
        let full_start = start.map(|s| match &self.prefix {
            Some(p) => format!("{p}/{s}"),
            None => s.to_owned(),
        });
        let locations = self
            .store
            .list(list_at.as_ref())
            .map_ok(|meta| meta.location)
            .try_filter(move |location| {
                let keep = full_start
                    .as_deref()
                    .is_none_or(|s| location.as_ref().starts_with(s));
                futures::future::ready(keep)
            })
            .boxed();
        let mut deleted = self.store.delete_stream(locations);
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e).context("removing blobs"),
            }
        }
        Ok(())
    }

    async fn local_copy(&self, key: &str) -> Result<Option<LocalCopy>> {
        check_key(key, false)?;
        tokio::fs::create_dir_all(&self.temp_dir)
            .await
            .context("creating the blob download folder")?;
        let temp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&self.temp_dir)
            .context("creating a blob download file")?
            .into_temp_path();
        if copy_to_file(self, key, &temp).await? {
            Ok(Some(LocalCopy::temporary(temp)))
        } else {
            Ok(None)
        }
    }
}

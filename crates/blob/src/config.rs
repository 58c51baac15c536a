//! The `[storage]` section of the server's config.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

/// Where media and live files go: `kind = "local"` (default) or `kind = "s3"` with `[storage.s3]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    pub kind: StorageKind,
    /// The local store's folder; default `<data_dir>/blobs`, where files always were.
    pub local_root: Option<PathBuf>,
    pub s3: S3Config,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Files under a folder of this machine: one node.
    #[default]
    Local,
    /// A bucket of S3-compatible object storage, shared by every node.
    S3,
}

/// An S3-compatible bucket (AWS S3, MinIO, Ceph, moto in tests).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct S3Config {
    pub bucket: String,
    /// `https://s3.example.com` for a store that is not AWS; unset for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    /// Static credentials; unset, the AWS credential chain of the machine (instance or task
    /// role, web identity) is used.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    /// Allow `http://` endpoints (a local MinIO or moto); refused otherwise.
    pub allow_http: bool,
    /// `bucket.host/key` rather than `host/bucket/key` requests.
    pub virtual_hosted_style: bool,
    /// Put every key of this deployment under `<prefix>/`, so deployments can share a bucket.
    pub prefix: Option<String>,
    /// Files larger than this go up as a multipart upload, in parts of `part_size_bytes`
    /// (at least 5 MiB, S3's smallest part), `upload_concurrency` parts at a time.
    pub multipart_threshold_bytes: u64,
    pub part_size_bytes: u64,
    pub upload_concurrency: usize,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            bucket: String::new(),
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
            virtual_hosted_style: false,
            prefix: None,
            multipart_threshold_bytes: 16 * 1024 * 1024,
            part_size_bytes: 8 * 1024 * 1024,
            upload_concurrency: 4,
        }
    }
}
